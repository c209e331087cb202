"""Users and their permissions: the resource tokens that let an untrusted client reach one resource.

::

    user = await database.create_user({"id": "alice"})
    permission = await user.create_permission(
        {"id": "orders-rw", "permissionMode": "All", "resource": orders},   # a ContainerProxy or a link
        resource_token_expiry_seconds=3600,
    )
    alice = CosmosClient(url, credential={permission.resource_link: permission.token})

Wire: ``/dbs/{db}/users[/{id}]`` (resource type ``users``, feed key ``Users``) and
``/dbs/{db}/users/{user}/permissions[/{id}]`` (``permissions``, feed key ``Permissions``). Feed requests
(list, create, upsert, query) sign the parent link; the others sign the resource's own link.

A permission's ``_token`` is the payload the caller asked for, so it is readable (``permission.token``,
``permission["_token"]``), but no repr or str of a permission shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._feeds.paging import AsyncItemPaged
from .._wire import codec
from .._wire.paths import quote_id, validate_id
from .._wire.request_options import ResponseHook, call_hook, check_hook
from .._wire.results import ResourceResponse
from ..exceptions import ValidationError
from .container import ContainerProxy

if TYPE_CHECKING:
    from .._feeds.core import ClientCore
    from .database import DatabaseProxy

__all__ = [
    "UserProxy",
    "Permission",
    "PermissionProperties",
    "PERMISSION_MODES",
    "MAX_RESOURCE_TOKEN_EXPIRY_SECONDS",
]

PERMISSION_MODES: Final = ("All", "Read")
"""The service's spelling; matched case-insensitively (azure-cosmos sends ``"all"``/``"read"``)."""
MAX_RESOURCE_TOKEN_EXPIRY_SECONDS: Final = 18000
"""Five hours: the longest a resource token may live (the service default is one hour)."""

_MODES: Final = frozenset(mode.lower() for mode in PERMISSION_MODES)
_JSON: Final = {"Content-Type": "application/json"}
_UPSERT: Final = {"Content-Type": "application/json", "x-ms-documentdb-is-upsert": "True"}
_EXPIRY: Final = "x-ms-documentdb-expiry-seconds"
_REDACTED: Final = "<redacted>"


# -- results -------------------------------------------------------------------------------------


def _redacted(body: Mapping[str, Any]) -> dict[str, Any]:
    return {key: (_REDACTED if key == "_token" else value) for key, value in body.items()}


class _PermissionView:
    """Accessors shared by point results and feed items (both read-only views of a permission body)."""

    __slots__ = ()

    def _fields(self) -> Mapping[str, Any]:
        raise NotImplementedError

    @property
    def id(self) -> str | None:
        value = self._fields().get("id")
        return value if isinstance(value, str) else None

    @property
    def permission_mode(self) -> str | None:
        """``"All"`` or ``"Read"`` (as the service spells it)."""
        value = self._fields().get("permissionMode")
        return value if isinstance(value, str) else None

    @property
    def resource_link(self) -> str | None:
        """The link of the resource the permission grants access to (``resource``)."""
        value = self._fields().get("resource")
        return value if isinstance(value, str) else None

    @property
    def token(self) -> str | None:
        """The resource token (``_token``): pass it to ``CosmosClient(url, credential=...)``.

        Every read, replace, upsert, list or query of a permission issues a new token.
        """
        value = self._fields().get("_token")
        return value if isinstance(value, str) else None


class Permission(_PermissionView, ResourceResponse):
    """The result of a permission operation: a ``ResourceResponse`` with permission accessors.

    ``permission.token`` (or ``permission["_token"]``) is the resource token; ``repr()`` and ``str()``
    show ``<redacted>`` in its place.
    """

    __slots__ = ("user_link",)

    def __init__(self, body: dict[str, Any], headers: Mapping[str, str], status_code: int, user_link: str) -> None:
        super().__init__(body, headers, status_code)
        self.user_link = user_link
        """The link of the user the permission belongs to (``dbs/{db}/users/{user}``)."""

    def _fields(self) -> Mapping[str, Any]:
        return self.body

    @property
    def permission_link(self) -> str:
        """The permission's link (``dbs/{db}/users/{user}/permissions/{id}``)."""
        return f"{self.user_link}/permissions/{self.id}"

    def __repr__(self) -> str:
        return f"Permission(status_code={self.status_code}, request_charge={self.request_charge}, " \
               f"body={_redacted(self.body)!r})"


class PermissionProperties(_PermissionView, dict[str, Any]):
    """A permission from ``list_permissions``/``query_permissions``: a plain dict whose repr hides
    ``_token`` (read it with ``item["_token"]`` or ``item.token``)."""

    __slots__ = ()

    def _fields(self) -> Mapping[str, Any]:
        return self

    def __repr__(self) -> str:
        return f"PermissionProperties({_redacted(self)!r})"

    __str__ = __repr__


# -- validation (all before any I/O) -------------------------------------------------------------


def _body_of(body: object, what: str) -> dict[str, Any]:
    if isinstance(body, ResourceResponse):
        body = body.body
    if not isinstance(body, Mapping):
        raise ValidationError(f"a {what} body must be a dict, got {type(body).__name__}")
    validate_id(body.get("id"), f"{what} id")
    return dict(body)


def _resource_id(value: object, what: str) -> str:
    """The id of ``value``: an id string, a dict with ``id``, or a proxy/result with ``id``."""
    if isinstance(value, str):
        return validate_id(value, what)
    if isinstance(value, Mapping):
        return validate_id(value.get("id"), what)
    return validate_id(getattr(value, "id", value), what)


def expiry_headers(seconds: int | None, headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus ``x-ms-documentdb-expiry-seconds`` when ``seconds`` is given (1..18000)."""
    result = dict(headers or {})
    if seconds is None:
        return result
    limit = MAX_RESOURCE_TOKEN_EXPIRY_SECONDS
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= limit:
        raise ValidationError(
            f"resource_token_expiry_seconds must be an int from 1 to {MAX_RESOURCE_TOKEN_EXPIRY_SECONDS} "
            f"(5 hours), got {seconds!r}"
        )
    result[_EXPIRY] = str(seconds)
    return result


def _permission_body(body: object) -> dict[str, Any]:
    document = _body_of(body, "permission")
    mode = document.get("permissionMode")
    if not isinstance(mode, str) or mode.lower() not in _MODES:
        raise ValidationError(f"permissionMode must be 'All' or 'Read', got {mode!r}")
    resource = document.get("resource")
    if isinstance(resource, ContainerProxy):
        resource = document["resource"] = resource._link
    if not isinstance(resource, str):
        raise ValidationError(
            "resource must be the link of the resource the permission grants (e.g. 'dbs/shop/colls/orders') "
            f"or a ContainerProxy, got {type(resource).__name__}: {resource!r}"
        )
    segments = resource.strip("/").split("/")
    if segments[0] != "dbs" or len(segments) < 4 or len(segments) % 2 or not all(segments):
        raise ValidationError(
            "resource must name a container or a resource inside one, like 'dbs/shop/colls/orders' "
            f"(or its _self link), got {resource!r}"
        )
    if "resourcePartitionKey" in document:
        key = document["resourcePartitionKey"]
        if isinstance(key, tuple):
            key = document["resourcePartitionKey"] = list(key)
        if not isinstance(key, list) or not 1 <= len(key) <= 3:
            raise ValidationError(
                "resourcePartitionKey must be a list of the partition key's values (e.g. ['c1']), "
                f"got {key!r}"
            )
    return document


# -- proxies -------------------------------------------------------------------------------------


class UserProxy:
    """A database user. Cheap to create (no I/O); get one with ``database.get_user_client(id)``."""

    __slots__ = ("_core", "_link", "_path", "database", "id", "properties")

    def __init__(
        self, core: ClientCore, database: DatabaseProxy, id: str, *, properties: ResourceResponse | None = None
    ) -> None:
        self._core = core
        self.database = database
        self.id = id
        self._link = f"{database._link}/users/{id}"
        self._path = f"{database._path}/users/{quote_id(id)}"
        self.properties = properties
        """The last user definition this proxy read, created, upserted or replaced, if any."""

    @property
    def user_link(self) -> str:
        """``dbs/{db}/users/{id}`` (as azure-cosmos names it)."""
        return self._link

    def __repr__(self) -> str:
        return f"UserProxy(database={self.database.id!r}, id={self.id!r})"

    async def read(self, *, timeout: float | None = None, response_hook: ResponseHook | None = None
                   ) -> ResourceResponse:
        """Read the user's properties."""
        check_hook(response_hook)
        response = await self._core.resource("GET", self._path, "users", self._link, idempotent=True,
                                             timeout=timeout)
        self.properties = response
        call_hook(response_hook, response.headers, response)
        return response

    # -- permissions ------------------------------------------------------------------------------

    def _permission(self, permission: object) -> tuple[str, str]:
        permission_id = _resource_id(permission, "permission id")
        return f"{self._path}/permissions/{quote_id(permission_id)}", f"{self._link}/permissions/{permission_id}"

    async def _send(
        self, method: str, path: str, link: str, headers: dict[str, str], body: bytes | None,
        *, idempotent: bool, timeout: float | None, hook: ResponseHook | None,
    ) -> Permission:
        check_hook(hook)
        status, response_headers, data = await self._core.request(
            method, path, "permissions", link, headers=headers, body=body, idempotent=idempotent, timeout=timeout
        )
        permission = Permission(codec.loads(data) if data else {}, response_headers, status, self._link)
        call_hook(hook, response_headers, permission)
        return permission

    async def create_permission(
        self,
        body: Mapping[str, Any],
        *,
        resource_token_expiry_seconds: int | None = None,
        timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> Permission:
        """Grant this user ``permissionMode`` ("All" or "Read") on ``resource``; 409 if the user already
        has a permission with that id or for that resource.

        ``body``: ``{"id", "permissionMode", "resource": link or ContainerProxy, "resourcePartitionKey":
        [...] (optional)}``. ``resource_token_expiry_seconds`` (1..18000) sets the token's lifetime.
        """
        data = codec.dumps(_permission_body(body), what="permission")
        headers = expiry_headers(resource_token_expiry_seconds, _JSON)
        return await self._send("POST", self._path + "/permissions", self._link, headers, data,
                                idempotent=False, timeout=timeout, hook=response_hook)

    async def upsert_permission(
        self,
        body: Mapping[str, Any],
        *,
        resource_token_expiry_seconds: int | None = None,
        timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> Permission:
        """Create the permission, or replace it if its id exists."""
        data = codec.dumps(_permission_body(body), what="permission")
        headers = expiry_headers(resource_token_expiry_seconds, _UPSERT)
        return await self._send("POST", self._path + "/permissions", self._link, headers, data,
                                idempotent=False, timeout=timeout, hook=response_hook)

    async def replace_permission(
        self,
        permission: str | Mapping[str, Any],
        body: Mapping[str, Any],
        *,
        resource_token_expiry_seconds: int | None = None,
        timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> Permission:
        """Replace an existing permission (404 if missing)."""
        path, link = self._permission(permission)
        data = codec.dumps(_permission_body(body), what="permission")
        headers = expiry_headers(resource_token_expiry_seconds, _JSON)
        return await self._send("PUT", path, link, headers, data, idempotent=False, timeout=timeout,
                                hook=response_hook)

    async def get_permission(
        self,
        permission: str | Mapping[str, Any],
        *,
        resource_token_expiry_seconds: int | None = None,
        timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> Permission:
        """Read one permission; the answer carries a freshly issued token."""
        path, link = self._permission(permission)
        headers = expiry_headers(resource_token_expiry_seconds)
        return await self._send("GET", path, link, headers, None, idempotent=True, timeout=timeout,
                                hook=response_hook)

    async def delete_permission(
        self, permission: str | Mapping[str, Any], *, timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> ResourceResponse:
        """Delete a permission (404 if missing). Tokens it issued stay valid until they expire.
        ``response_hook(headers, None)`` as azure-cosmos calls it."""
        path, link = self._permission(permission)
        check_hook(response_hook)
        response = await self._core.resource("DELETE", path, "permissions", link, idempotent=False, timeout=timeout)
        call_hook(response_hook, response.headers, None)
        return response

    def list_permissions(
        self,
        *,
        max_item_count: int | None = None,
        resource_token_expiry_seconds: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[PermissionProperties]:
        """All permissions of the user, page by page (tokens valid for ``resource_token_expiry_seconds``)."""
        headers = expiry_headers(resource_token_expiry_seconds)
        return _permission_items(self._core.feed(
            self._path + "/permissions", "permissions", self._link, "Permissions",
            max_item_count=max_item_count, headers=headers, timeout=timeout,
        ))

    def query_permissions(
        self,
        query: str,
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        resource_token_expiry_seconds: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[PermissionProperties]:
        """The permissions a SQL query over the user's permissions selects."""
        headers = expiry_headers(resource_token_expiry_seconds)
        return _permission_items(self._core.feed(
            self._path + "/permissions", "permissions", self._link, "Permissions", query=query,
            parameters=parameters, max_item_count=max_item_count, headers=headers, timeout=timeout,
        ))


def _permission_items(inner: AsyncItemPaged[Any]) -> AsyncItemPaged[PermissionProperties]:
    """The same pager (and continuation tokens), with each item wrapped so its repr hides the token."""
    fetch = inner._fetch

    async def wrapped(token: str | None) -> tuple[list[PermissionProperties], Mapping[str, str], int]:
        items, headers, status = await fetch(token)
        return [PermissionProperties(item) for item in items if isinstance(item, dict)], headers, status

    return AsyncItemPaged(wrapped, inner._fingerprint)


# -- database-level operations (DatabaseProxy delegates here) ------------------------------------


def get_user_client(database: DatabaseProxy, user: str | UserProxy | Mapping[str, Any]) -> UserProxy:
    if isinstance(user, UserProxy):
        return user
    return UserProxy(database._core, database, _resource_id(user, "user id"))


async def create_user(
    database: DatabaseProxy, body: Mapping[str, Any], *, upsert: bool, timeout: float | None,
    hook: ResponseHook | None = None,
) -> UserProxy:
    check_hook(hook)
    document = _body_of(body, "user")
    data = codec.dumps(document, what="user")
    response = await database._core.resource(
        "POST", database._path + "/users", "users", database._link, headers=_UPSERT if upsert else _JSON,
        body=data, idempotent=False, timeout=timeout,
    )
    call_hook(hook, response.headers, response)
    return UserProxy(database._core, database, response.get("id") or document["id"], properties=response)


async def replace_user(
    database: DatabaseProxy, user: str | UserProxy | Mapping[str, Any], body: Mapping[str, Any],
    *, timeout: float | None, hook: ResponseHook | None = None,
) -> UserProxy:
    check_hook(hook)
    proxy = get_user_client(database, user)
    document = _body_of(body, "user")
    data = codec.dumps(document, what="user")
    response = await database._core.resource(
        "PUT", proxy._path, "users", proxy._link, headers=_JSON, body=data, idempotent=False, timeout=timeout,
    )
    call_hook(hook, response.headers, response)
    return UserProxy(database._core, database, response.get("id") or document["id"], properties=response)


async def delete_user(
    database: DatabaseProxy, user: str | UserProxy | Mapping[str, Any], *, timeout: float | None,
    hook: ResponseHook | None = None,
) -> ResourceResponse:
    check_hook(hook)
    proxy = get_user_client(database, user)
    response = await database._core.resource("DELETE", proxy._path, "users", proxy._link, idempotent=False,
                                             timeout=timeout)
    call_hook(hook, response.headers, None)
    return response


def list_users(
    database: DatabaseProxy,
    *,
    query: str | None = None,
    parameters: Sequence[Mapping[str, Any]] | None = None,
    max_item_count: int | None,
    timeout: float | None,
) -> AsyncItemPaged[dict[str, Any]]:
    return database._core.feed(database._path + "/users", "users", database._link, "Users", query=query,
                               parameters=parameters, max_item_count=max_item_count, timeout=timeout)
