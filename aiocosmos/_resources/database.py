"""DatabaseProxy: one database and its containers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from .._feeds.paging import AsyncItemPaged
from .._wire import codec
from .._wire.last_response import CLIENT_CONNECTION, ClientConnection
from .._wire.paths import PartitionKey, quote_id, validate_id
from .._wire.request_options import ResponseHook, call_hook, check_hook, initial
from .._wire.results import ResourceResponse
from ..exceptions import Conflict, NotFound, ValidationError
from .container import ContainerProxy
from .offers import ThroughputProperties, get_throughput, replace_throughput, throughput_headers
from .users import create_user, delete_user, get_user_client, list_users, replace_user

if TYPE_CHECKING:
    from .._feeds.core import ClientCore
    from .offers import ThroughputResponse
    from .users import UserProxy

__all__ = ["DatabaseProxy"]


def _container_id(container: object) -> str:
    if isinstance(container, ContainerProxy):
        return container.id
    if isinstance(container, Mapping):
        container = container.get("id")
    return validate_id(container, "container id")


class DatabaseProxy:
    """A database. Cheap to create (no I/O); get one with ``client.get_database_client(id)``."""

    __slots__ = ("_core", "_link", "_path", "id", "properties")

    def __init__(self, core: ClientCore, id: str, *, properties: ResourceResponse | None = None) -> None:
        self._core = core
        self.id = id
        self._link = f"dbs/{id}"
        self._path = f"/dbs/{quote_id(id)}"
        self.properties = properties
        """The response of the create call that made this proxy, if any."""

    def __repr__(self) -> str:
        return f"<DatabaseProxy [{self._link}]>"  # azure-cosmos's form

    @property
    def database_link(self) -> str:
        """The database's name-based link, ``dbs/<id>`` (as azure-cosmos's ``database_link``)."""
        return self._link

    @property
    def client_connection(self) -> ClientConnection:
        """Porting aid: ``client_connection.last_response_headers`` is task-local (README, porting)."""
        return CLIENT_CONNECTION

    async def read(self, *, timeout: float | None = None, initial_headers: Mapping[str, str] | None = None,
                   response_hook: ResponseHook | None = None) -> ResourceResponse:
        """Read the database's properties."""
        check_hook(response_hook)
        response = await self._core.resource("GET", self._path, "dbs", self._link, idempotent=True,
                                             headers=initial(None, initial_headers), timeout=timeout)
        call_hook(response_hook, response.headers, response)
        return response

    def get_container_client(self, container: str | ContainerProxy | Mapping[str, Any]) -> ContainerProxy:
        """A client for one container (no I/O)."""
        if isinstance(container, ContainerProxy):
            return container
        return ContainerProxy(self._core, self, _container_id(container))

    @overload
    async def create_container(
        self,
        id: str,
        partition_key: PartitionKey,
        *,
        indexing_policy: Mapping[str, Any] | None = None,
        default_ttl: int | None = None,
        offer_throughput: int | ThroughputProperties | None = None,
        unique_key_policy: Mapping[str, Any] | None = None,
        conflict_resolution_policy: Mapping[str, Any] | None = None,
        analytical_storage_ttl: int | None = None,
        computed_properties: Sequence[Mapping[str, Any]] | None = None,
        vector_embedding_policy: Mapping[str, Any] | None = None,
        full_text_policy: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None, response_hook: ResponseHook | None = None,
        return_properties: Literal[False] = False,
    ) -> ContainerProxy: ...
    @overload
    async def create_container(
        self,
        id: str,
        partition_key: PartitionKey,
        *,
        indexing_policy: Mapping[str, Any] | None = None,
        default_ttl: int | None = None,
        offer_throughput: int | ThroughputProperties | None = None,
        unique_key_policy: Mapping[str, Any] | None = None,
        conflict_resolution_policy: Mapping[str, Any] | None = None,
        analytical_storage_ttl: int | None = None,
        computed_properties: Sequence[Mapping[str, Any]] | None = None,
        vector_embedding_policy: Mapping[str, Any] | None = None,
        full_text_policy: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None, response_hook: ResponseHook | None = None,
        return_properties: Literal[True],
    ) -> tuple[ContainerProxy, ResourceResponse]: ...

    async def create_container(
        self,
        id: str,
        partition_key: PartitionKey,
        *,
        indexing_policy: Mapping[str, Any] | None = None,
        default_ttl: int | None = None,
        offer_throughput: int | ThroughputProperties | None = None,
        unique_key_policy: Mapping[str, Any] | None = None,
        conflict_resolution_policy: Mapping[str, Any] | None = None,
        analytical_storage_ttl: int | None = None,
        computed_properties: Sequence[Mapping[str, Any]] | None = None,
        vector_embedding_policy: Mapping[str, Any] | None = None,
        full_text_policy: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None, response_hook: ResponseHook | None = None,
        return_properties: bool = False,
    ) -> ContainerProxy | tuple[ContainerProxy, ResourceResponse]:
        """Create a container (409 Conflict if it exists); ``return_properties=True`` returns ``(proxy, properties)``.

        ``default_ttl``: None = no expiry, -1 = items expire only with their own ``ttl``, N > 0 =
        items expire N seconds after their last write.
        """
        body = _container_body(id, partition_key, indexing_policy, default_ttl, unique_key_policy,
                               conflict_resolution_policy, analytical_storage_ttl, computed_properties,
                               vector_embedding_policy, full_text_policy)
        check_hook(response_hook)
        headers = throughput_headers(offer_throughput)
        headers["Content-Type"] = "application/json"
        response = await self._core.resource(
            "POST", self._path + "/colls", "colls", self._link, headers=initial(headers, initial_headers),
            body=codec.dumps(body, what="container definition"), idempotent=False, timeout=timeout,
        )
        call_hook(response_hook, response.headers, response)
        container = self.get_container_client(id)
        self._core.partition_keys[container._link] = partition_key
        self._core.session_tokens.bind(container._link, response.get("_rid"))
        container.properties = response
        return (container, response) if return_properties else container

    @overload
    async def create_container_if_not_exists(
        self,
        id: str,
        partition_key: PartitionKey,
        *,
        indexing_policy: Mapping[str, Any] | None = None,
        default_ttl: int | None = None,
        offer_throughput: int | ThroughputProperties | None = None,
        unique_key_policy: Mapping[str, Any] | None = None,
        conflict_resolution_policy: Mapping[str, Any] | None = None,
        analytical_storage_ttl: int | None = None,
        computed_properties: Sequence[Mapping[str, Any]] | None = None,
        vector_embedding_policy: Mapping[str, Any] | None = None,
        full_text_policy: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None, response_hook: ResponseHook | None = None,
        return_properties: Literal[False] = False,
    ) -> ContainerProxy: ...
    @overload
    async def create_container_if_not_exists(
        self,
        id: str,
        partition_key: PartitionKey,
        *,
        indexing_policy: Mapping[str, Any] | None = None,
        default_ttl: int | None = None,
        offer_throughput: int | ThroughputProperties | None = None,
        unique_key_policy: Mapping[str, Any] | None = None,
        conflict_resolution_policy: Mapping[str, Any] | None = None,
        analytical_storage_ttl: int | None = None,
        computed_properties: Sequence[Mapping[str, Any]] | None = None,
        vector_embedding_policy: Mapping[str, Any] | None = None,
        full_text_policy: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None, response_hook: ResponseHook | None = None,
        return_properties: Literal[True],
    ) -> tuple[ContainerProxy, ResourceResponse]: ...

    async def create_container_if_not_exists(
        self,
        id: str,
        partition_key: PartitionKey,
        *,
        indexing_policy: Mapping[str, Any] | None = None,
        default_ttl: int | None = None,
        offer_throughput: int | ThroughputProperties | None = None,
        unique_key_policy: Mapping[str, Any] | None = None,
        conflict_resolution_policy: Mapping[str, Any] | None = None,
        analytical_storage_ttl: int | None = None,
        computed_properties: Sequence[Mapping[str, Any]] | None = None,
        vector_embedding_policy: Mapping[str, Any] | None = None,
        full_text_policy: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None, response_hook: ResponseHook | None = None,
        return_properties: bool = False,
    ) -> ContainerProxy | tuple[ContainerProxy, ResourceResponse]:
        """Read the container, or create it if missing. An existing container whose partition key
        differs from ``partition_key`` is an error (it would route every item wrongly)."""
        _container_body(id, partition_key, indexing_policy, default_ttl, unique_key_policy,
                        conflict_resolution_policy, analytical_storage_ttl, computed_properties,
                        vector_embedding_policy, full_text_policy)
        throughput_headers(offer_throughput)  # validate everything before any I/O
        check_hook(response_hook)
        initial(None, initial_headers)
        container = self.get_container_client(id)
        try:
            existing = await container.read(timeout=timeout, initial_headers=initial_headers)
        except NotFound:
            try:
                created = await self.create_container(
                    id, partition_key, indexing_policy=indexing_policy, default_ttl=default_ttl,
                    offer_throughput=offer_throughput, unique_key_policy=unique_key_policy,
                    conflict_resolution_policy=conflict_resolution_policy,
                    analytical_storage_ttl=analytical_storage_ttl, computed_properties=computed_properties,
                    vector_embedding_policy=vector_embedding_policy, full_text_policy=full_text_policy,
                    timeout=timeout, initial_headers=initial_headers, response_hook=response_hook,
                )
                assert created.properties is not None
                return (created, created.properties) if return_properties else created
            except Conflict:
                existing = await container.read(timeout=timeout, initial_headers=initial_headers)
        actual = PartitionKey.from_json(existing.get("partitionKey"))
        if actual.paths != partition_key.paths or actual.kind != partition_key.kind:
            raise ValidationError(
                f"container {id!r} exists with partition key {list(actual.paths)} ({actual.kind}), "
                f"not {list(partition_key.paths)} ({partition_key.kind})"
            )
        container.properties = existing
        call_hook(response_hook, existing.headers, existing)
        return (container, existing) if return_properties else container

    @overload
    async def replace_container(
        self, container: str | ContainerProxy | Mapping[str, Any], partition_key: PartitionKey, *,
        indexing_policy: Mapping[str, Any] | None = None, default_ttl: int | None = None,
        conflict_resolution_policy: Mapping[str, Any] | None = None, analytical_storage_ttl: int | None = None,
        computed_properties: Sequence[Mapping[str, Any]] | None = None,
        vector_embedding_policy: Mapping[str, Any] | None = None, full_text_policy: Mapping[str, Any] | None = None,
        timeout: float | None = None, initial_headers: Mapping[str, str] | None = None,
        response_hook: ResponseHook | None = None, return_properties: Literal[False] = False,
    ) -> ContainerProxy: ...
    @overload
    async def replace_container(
        self, container: str | ContainerProxy | Mapping[str, Any], partition_key: PartitionKey, *,
        indexing_policy: Mapping[str, Any] | None = None, default_ttl: int | None = None,
        conflict_resolution_policy: Mapping[str, Any] | None = None, analytical_storage_ttl: int | None = None,
        computed_properties: Sequence[Mapping[str, Any]] | None = None,
        vector_embedding_policy: Mapping[str, Any] | None = None, full_text_policy: Mapping[str, Any] | None = None,
        timeout: float | None = None, initial_headers: Mapping[str, str] | None = None,
        response_hook: ResponseHook | None = None, return_properties: Literal[True],
    ) -> tuple[ContainerProxy, ResourceResponse]: ...

    async def replace_container(
        self,
        container: str | ContainerProxy | Mapping[str, Any],
        partition_key: PartitionKey,
        *,
        indexing_policy: Mapping[str, Any] | None = None,
        default_ttl: int | None = None,
        conflict_resolution_policy: Mapping[str, Any] | None = None,
        analytical_storage_ttl: int | None = None,
        computed_properties: Sequence[Mapping[str, Any]] | None = None,
        vector_embedding_policy: Mapping[str, Any] | None = None,
        full_text_policy: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None,
        response_hook: ResponseHook | None = None,
        return_properties: bool = False,
    ) -> ContainerProxy | tuple[ContainerProxy, ResourceResponse]:
        """Replace a container's definition (indexing policy, TTL, ...). The id and partition key
        cannot change; settings you leave out return to the service defaults."""
        check_hook(response_hook)
        proxy = self.get_container_client(container)
        body = _container_body(proxy.id, partition_key, indexing_policy, default_ttl, None,
                               conflict_resolution_policy, analytical_storage_ttl, computed_properties,
                               vector_embedding_policy, full_text_policy)
        response = await self._core.resource(
            "PUT", proxy._path, "colls", proxy._link, headers=initial({"Content-Type": "application/json"},
                                                                      initial_headers),
            body=codec.dumps(body, what="container definition"), idempotent=False, timeout=timeout,
        )
        call_hook(response_hook, response.headers, response)
        self._core.partition_keys[proxy._link] = PartitionKey.from_json(response.get("partitionKey"))
        self._core.session_tokens.bind(proxy._link, response.get("_rid"))
        proxy.properties = response
        return (proxy, response) if return_properties else proxy

    async def delete_container(
        self, container: str | ContainerProxy | Mapping[str, Any], *, timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None, response_hook: ResponseHook | None = None,
    ) -> ResourceResponse:
        """Delete a container (404 if missing); ``response_hook(headers, None)`` as azure-cosmos calls it."""
        proxy = self.get_container_client(container)
        check_hook(response_hook)
        response = await self._core.resource(
            "DELETE", proxy._path, "colls", proxy._link, idempotent=False, timeout=timeout,
            headers=initial(None, initial_headers),
        )
        call_hook(response_hook, response.headers, None)
        self._core.partition_keys.pop(proxy._link, None)
        self._core.session_tokens.forget(proxy._link)
        return response

    def list_containers(
        self, *, max_item_count: int | None = None, timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """All containers of the database, page by page."""
        return self._core.feed(self._path + "/colls", "colls", self._link, "DocumentCollections",
                               max_item_count=max_item_count, timeout=timeout, headers=initial(None, initial_headers))

    def query_containers(
        self,
        query: str | Mapping[str, Any],
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """The containers a SQL query over the database's containers selects."""
        return self._core.feed(self._path + "/colls", "colls", self._link, "DocumentCollections",
                               query=query, parameters=parameters, max_item_count=max_item_count,
                               timeout=timeout, headers=initial(None, initial_headers))

    def _forget_containers(self) -> None:
        prefix = self._link + "/colls/"
        for link in [link for link in self._core.partition_keys if link.startswith(prefix)]:
            del self._core.partition_keys[link]
            self._core.session_tokens.forget(link)

    # -- users (users.py) ----------------------------------------------------------------------

    def get_user_client(self, user: str | UserProxy | Mapping[str, Any]) -> UserProxy:
        """A client for one user (no I/O)."""
        return get_user_client(self, user)

    async def create_user(self, body: Mapping[str, Any], *, timeout: float | None = None,
                          response_hook: ResponseHook | None = None) -> UserProxy:
        """Create a user, e.g. ``{"id": "alice"}`` (409 Conflict if it exists)."""
        return await create_user(self, body, upsert=False, timeout=timeout, hook=response_hook)

    async def upsert_user(self, body: Mapping[str, Any], *, timeout: float | None = None,
                          response_hook: ResponseHook | None = None) -> UserProxy:
        """Create the user, or replace it if its id exists."""
        return await create_user(self, body, upsert=True, timeout=timeout, hook=response_hook)

    async def replace_user(
        self, user: str | UserProxy | Mapping[str, Any], body: Mapping[str, Any], *, timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> UserProxy:
        """Replace an existing user's definition (404 if missing)."""
        return await replace_user(self, user, body, timeout=timeout, hook=response_hook)

    async def delete_user(
        self, user: str | UserProxy | Mapping[str, Any], *, timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> ResourceResponse:
        """Delete a user and its permissions (404 if missing)."""
        return await delete_user(self, user, timeout=timeout, hook=response_hook)

    def list_users(
        self, *, max_item_count: int | None = None, timeout: float | None = None
    ) -> AsyncItemPaged[dict[str, Any]]:

        """All users of the database, page by page."""
        return list_users(self, max_item_count=max_item_count, timeout=timeout)

    def query_users(
        self,
        query: str,
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:

        """The users a SQL query over the database's users selects."""
        return list_users(self, query=query, parameters=parameters, max_item_count=max_item_count, timeout=timeout)

    # -- throughput (offers.py) ----------------------------------------------------------------

    async def get_throughput(
        self, *, timeout: float | None = None, response_hook: ResponseHook | None = None
    ) -> ThroughputResponse:
        """The database's shared throughput (NotFound, sub-status 10004, if it has none)."""
        check_hook(response_hook)
        result = await get_throughput(self, timeout=timeout)
        call_hook(response_hook, result.headers, result)
        return result

    async def replace_throughput(
        self, throughput: int | ThroughputProperties, *, timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> ThroughputResponse:
        """Set the database's shared throughput: an int (manual RU/s, >= 400 in steps of 100) or
        ``ThroughputProperties(auto_scale_max_throughput=...)`` for an autoscale database."""
        check_hook(response_hook)
        result = await replace_throughput(self, throughput, timeout=timeout)
        call_hook(response_hook, result.headers, result)
        return result


def _container_body(
    id: str,
    partition_key: PartitionKey,
    indexing_policy: Mapping[str, Any] | None,
    default_ttl: int | None,
    unique_key_policy: Mapping[str, Any] | None,
    conflict_resolution_policy: Mapping[str, Any] | None,
    analytical_storage_ttl: int | None,
    computed_properties: Sequence[Mapping[str, Any]] | None,
    vector_embedding_policy: Mapping[str, Any] | None = None,
    full_text_policy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    validate_id(id, "container id")
    if not isinstance(partition_key, PartitionKey):
        raise ValidationError(
            f"partition_key must be aiocosmos.PartitionKey('/path'), got {type(partition_key).__name__}"
        )
    body: dict[str, Any] = {"id": id, "partitionKey": partition_key.to_json()}
    if default_ttl is not None:
        if not isinstance(default_ttl, int) or isinstance(default_ttl, bool) or default_ttl == 0 or default_ttl < -1:
            raise ValidationError(f"default_ttl must be -1 or a positive number of seconds, got {default_ttl!r}")
        body["defaultTtl"] = default_ttl
    # Vector and full-text policies as azure-cosmos sends them (vectorEmbeddingPolicy, fullTextPolicy);
    # their indexes go in the indexing policy (vectorIndexes: flat, quantizedFlat, diskANN; fullTextIndexes).
    for key, value in (("indexingPolicy", indexing_policy), ("uniqueKeyPolicy", unique_key_policy),
                       ("conflictResolutionPolicy", conflict_resolution_policy),
                       ("vectorEmbeddingPolicy", vector_embedding_policy), ("fullTextPolicy", full_text_policy)):
        if value is not None:
            if not isinstance(value, Mapping):
                raise ValidationError(f"{key} must be a mapping, got {type(value).__name__}")
            body[key] = dict(value)
    if analytical_storage_ttl is not None:
        body["analyticalStorageTtl"] = analytical_storage_ttl
    if computed_properties is not None:
        body["computedProperties"] = [dict(p) for p in computed_properties]
    return body
