"""Server-side scripts of a container: stored procedures, triggers and user-defined functions.

``container.scripts`` is a :class:`ScriptsProxy` with the ``azure.cosmos.aio`` method names. Scripts
are addressed by name (``dbs/{db}/colls/{coll}/sprocs/{id}``), like everything else in aiocosmos.
Executing a stored procedure returns a :class:`ScriptResult`, because a script may answer with any
JSON value (a string, a number, null), not only an object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from .._feeds.paging import AsyncItemPaged
from .._wire import codec
from .._wire.paths import NonePartitionKeyValue, partition_key_header, quote_id, validate_id
from .._wire.results import ResourceResponse, ResponseMetadata
from ..exceptions import ValidationError

if TYPE_CHECKING:
    from .container import ContainerProxy

__all__ = ["ScriptsProxy", "ScriptResult", "TRIGGER_TYPES", "TRIGGER_OPERATIONS"]

TRIGGER_TYPES: Final = frozenset({"pre", "post"})
"""``triggerType`` values (any letter case; sent as given, as azure-cosmos does)."""
TRIGGER_OPERATIONS: Final = frozenset({"all", "create", "replace", "delete", "update"})
"""``triggerOperation`` values (any letter case; sent as given)."""

_JSON: Final = "application/json"
_PK: Final = "x-ms-documentdb-partitionkey"
_ENABLE_LOGGING: Final = "x-ms-documentdb-script-enable-logging"
_LOG_RESULTS: Final = "x-ms-documentdb-script-log-results"


class _Kind:
    """One script family: its URL segment (also the signing type), feed key and name in messages."""

    __slots__ = ("feed_key", "segment", "what")

    def __init__(self, segment: str, feed_key: str, what: str) -> None:
        self.segment = segment
        self.feed_key = feed_key
        self.what = what


_SPROC: Final = _Kind("sprocs", "StoredProcedures", "stored procedure")
_TRIGGER: Final = _Kind("triggers", "Triggers", "trigger")
_UDF: Final = _Kind("udfs", "UserDefinedFunctions", "user-defined function")


class ScriptResult(ResponseMetadata):
    """What a stored procedure answered.

    ``value`` is the script's response body, parsed: any JSON value (dict, list, str, number, bool),
    or None when the script set no body (or set it to null). ``log`` is the script's
    ``console.log`` output (the URL-decoded ``x-ms-documentdb-script-log-results`` header) when the
    call passed ``enable_script_logging=True``, else None. ``request_charge``, ``activity_id``,
    ``session_token``, ``status_code`` and ``headers`` describe the response.
    """

    __slots__ = ("headers", "log", "status_code", "value")

    def __init__(self, value: Any, headers: Mapping[str, str], status_code: int) -> None:
        self.value = value
        self.headers = headers
        self.status_code = status_code
        raw_log = headers.get(_LOG_RESULTS)
        self.log: str | None = None if raw_log is None else unquote(raw_log)

    def __repr__(self) -> str:
        return f"ScriptResult(status_code={self.status_code}, request_charge={self.request_charge}, " \
               f"value={self.value!r:.200})"


def _script_id(script: object, kind: _Kind) -> str:
    if isinstance(script, Mapping):
        return validate_id(script.get("id"), f"{kind.what} id")
    return validate_id(script, f"{kind.what} id")


def _script_body(body: object, kind: _Kind) -> dict[str, Any]:
    """A copy of the caller's definition, ready to send: ``serverScript`` becomes ``body`` (as in
    azure-cosmos), the id and the script text are checked, triggers need their type and operation."""
    if isinstance(body, ResourceResponse):
        body = body.body
    if not isinstance(body, Mapping):
        raise ValidationError(f"a {kind.what} definition must be a dict, got {type(body).__name__}")
    definition = dict(body)  # the caller's dict is left untouched
    if "serverScript" in definition:
        script = definition.pop("serverScript")
        if script:  # azure-cosmos: a non-empty serverScript wins over body
            definition["body"] = script
    validate_id(definition.get("id"), f"{kind.what} id")
    text = definition.get("body")
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(
            f"a {kind.what} definition needs 'body' (or 'serverScript'): the script's JavaScript source as "
            f"a non-empty string, got {text!r:.80}"
        )
    if kind is _TRIGGER:
        for key, allowed in (("triggerType", TRIGGER_TYPES), ("triggerOperation", TRIGGER_OPERATIONS)):
            value = definition.get(key)
            if not isinstance(value, str) or value.lower() not in allowed:
                names = ", ".join(sorted(name.capitalize() for name in allowed))
                raise ValidationError(f"a trigger needs '{key}', one of {names}; got {value!r}")
    return definition


def _parameters_body(parameters: object) -> bytes | None:
    """The JSON array of a stored procedure's positional arguments (None: no body)."""
    if parameters is None:
        return None
    # A list (or tuple) is the argument array; any other value is the single argument. azure-cosmos
    # does the same for truthy values (it sends no body at all for 0, False or "").
    arguments = list(parameters) if isinstance(parameters, list | tuple) else [parameters]
    data = codec.dumps(arguments, what="stored procedure parameters")
    if len(data) > codec.MAX_DOCUMENT_BYTES:
        raise ValidationError(
            f"stored procedure parameters are {len(data)} bytes as JSON; the service's request limit is "
            f"{codec.MAX_DOCUMENT_BYTES} bytes"
        )
    return data


class ScriptsProxy:
    """Stored procedures, triggers and user-defined functions of one container (``container.scripts``).

    Cheap to create (no I/O). Every method takes ``timeout=`` (seconds), the operation's deadline.
    Scripts given as a dict are addressed by their ``id`` (azure-cosmos uses their ``_self``).
    """

    __slots__ = ("_container", "_core", "_link", "_path")

    def __init__(self, container: ContainerProxy) -> None:
        self._container = container
        self._core = container._core
        self._link = container._link
        self._path = container._path

    def __repr__(self) -> str:
        return f"ScriptsProxy(database={self._container.database.id!r}, container={self._container.id!r})"

    # -- shared plumbing -------------------------------------------------------------------------

    def _item(self, kind: _Kind, script_id: str) -> tuple[str, str]:
        """(URL path, signing link) of one script."""
        return (f"{self._path}/{kind.segment}/{quote_id(script_id)}",
                f"{self._link}/{kind.segment}/{script_id}")

    async def _create(self, kind: _Kind, body: object, timeout: float | None) -> ResourceResponse:
        data = codec.dumps(_script_body(body, kind), what=f"{kind.what} definition")
        return await self._core.resource(
            "POST", f"{self._path}/{kind.segment}", kind.segment, self._link,
            headers={"Content-Type": _JSON}, body=data, idempotent=False, timeout=timeout,
        )

    async def _upsert(self, kind: _Kind, body: object, timeout: float | None) -> ResourceResponse:
        """Create, or replace when the id exists: a create POST plus ``x-ms-documentdb-is-upsert: True``.
        Unconditional, so replayed after an ambiguous failure (``RetryPolicy.replay_idempotent_writes``)."""
        data = codec.dumps(_script_body(body, kind), what=f"{kind.what} definition")
        return await self._core.resource(
            "POST", f"{self._path}/{kind.segment}", kind.segment, self._link,
            headers={"Content-Type": _JSON, "x-ms-documentdb-is-upsert": "True"}, body=data, idempotent=False,
            replayable=True, timeout=timeout,
        )

    async def _read(self, kind: _Kind, script: object, timeout: float | None) -> ResourceResponse:
        path, link = self._item(kind, _script_id(script, kind))
        return await self._core.resource("GET", path, kind.segment, link, idempotent=True, timeout=timeout)

    async def _replace(self, kind: _Kind, script: object, body: object, timeout: float | None) -> ResourceResponse:
        script_id = _script_id(script, kind)
        definition = _script_body(body, kind)
        if definition["id"] != script_id:
            raise ValidationError(
                f"replace: the {kind.what} body's id {definition['id']!r} differs from {script_id!r}"
            )
        data = codec.dumps(definition, what=f"{kind.what} definition")
        path, link = self._item(kind, script_id)
        return await self._core.resource(
            "PUT", path, kind.segment, link, headers={"Content-Type": _JSON}, body=data, idempotent=False,
            timeout=timeout,
        )

    async def _delete(self, kind: _Kind, script: object, timeout: float | None) -> ResourceResponse:
        path, link = self._item(kind, _script_id(script, kind))
        return await self._core.resource("DELETE", path, kind.segment, link, idempotent=False, timeout=timeout)

    def _list(self, kind: _Kind, max_item_count: int | None, timeout: float | None) -> AsyncItemPaged[dict[str, Any]]:
        return self._core.feed(f"{self._path}/{kind.segment}", kind.segment, self._link, kind.feed_key,
                               max_item_count=max_item_count, timeout=timeout)

    def _query(
        self,
        kind: _Kind,
        query: str,
        parameters: Sequence[Mapping[str, Any]] | None,
        max_item_count: int | None,
        timeout: float | None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        return self._core.feed(f"{self._path}/{kind.segment}", kind.segment, self._link, kind.feed_key,
                               query=query, parameters=parameters, max_item_count=max_item_count,
                               timeout=timeout)

    # -- stored procedures -----------------------------------------------------------------------

    def list_stored_procedures(
        self, *, max_item_count: int | None = None, timeout: float | None = None
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Every stored procedure of the container, page by page."""
        return self._list(_SPROC, max_item_count, timeout)

    def query_stored_procedures(
        self,
        query: str,
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Stored procedures matching a SQL query, e.g. ``SELECT * FROM s WHERE s.id = @id``."""
        return self._query(_SPROC, query, parameters, max_item_count, timeout)

    async def get_stored_procedure(
        self, sproc: str | Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Read one stored procedure by id (404 NotFound if missing). ``read_stored_procedure`` is an alias."""
        return await self._read(_SPROC, sproc, timeout)

    read_stored_procedure = get_stored_procedure

    async def create_stored_procedure(
        self, body: Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Create a stored procedure from ``{"id": ..., "body": "function (...) {...}"}`` (409 if it exists)."""
        return await self._create(_SPROC, body, timeout)

    async def upsert_stored_procedure(
        self, body: Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Create the stored procedure, or replace it if its id exists (no azure.cosmos.aio counterpart)."""
        return await self._upsert(_SPROC, body, timeout)

    async def replace_stored_procedure(
        self, sproc: str | Mapping[str, Any], body: Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Replace an existing stored procedure (404 if missing); ``body`` keeps the same id."""
        return await self._replace(_SPROC, sproc, body, timeout)

    async def delete_stored_procedure(
        self, sproc: str | Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Delete a stored procedure (404 if missing); returns an empty mapping with the metadata."""
        return await self._delete(_SPROC, sproc, timeout)

    async def execute_stored_procedure(
        self,
        sproc: str | Mapping[str, Any],
        *,
        partition_key: Any = None,
        parameters: Any = None,
        enable_script_logging: bool | None = None,
        timeout: float | None = None,
    ) -> ScriptResult:
        """Run a stored procedure in one logical partition and return what it answered.

        ``parameters`` is the list of the script's positional arguments; a single value that is not a
        list is passed as the only argument. ``partition_key`` names the logical partition the script
        runs in; the service requires it on partitioned containers. As in azure-cosmos, ``None`` sends
        no partition key (use ``NonePartitionKeyValue`` for items without the key property, or
        ``[None]`` for a JSON-null key). ``enable_script_logging=True`` returns the script's
        ``console.log`` output in ``ScriptResult.log``.

        Never retried after an ambiguous failure (a dropped connection or a 408/5xx): the script may
        have run, and its writes would run twice.
        """
        sproc_id = _script_id(sproc, _SPROC)
        data = _parameters_body(parameters)
        if enable_script_logging is not None and not isinstance(enable_script_logging, bool):
            raise ValidationError(f"enable_script_logging must be a bool, got {enable_script_logging!r}")
        headers = {"Content-Type": _JSON}
        if enable_script_logging:
            headers[_ENABLE_LOGGING] = "True"
        if partition_key is NonePartitionKeyValue:
            headers[_PK] = partition_key_header([partition_key])
        elif partition_key is not None:
            # The values' types are checked before any I/O; their number against the container's key
            # definition (read once per client, then cached).
            partition_key_header(list(partition_key) if isinstance(partition_key, list | tuple) else [partition_key])
            headers[_PK], timeout = await self._container._partition_header(partition_key, timeout)
        path, link = self._item(_SPROC, sproc_id)
        status, response_headers, body = await self._core.request(
            "POST", path, _SPROC.segment, link, headers=headers, body=data, idempotent=False, timeout=timeout,
        )
        # The script may have written items: later reads of this container must see them.
        self._core.session_tokens.capture(self._link, response_headers.get("x-ms-session-token"))
        return ScriptResult(codec.loads(body) if body else None, response_headers, status)

    # -- triggers --------------------------------------------------------------------------------

    def list_triggers(
        self, *, max_item_count: int | None = None, timeout: float | None = None
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Every trigger of the container, page by page."""
        return self._list(_TRIGGER, max_item_count, timeout)

    def query_triggers(
        self,
        query: str,
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Triggers matching a SQL query."""
        return self._query(_TRIGGER, query, parameters, max_item_count, timeout)

    async def get_trigger(self, trigger: str | Mapping[str, Any], *, timeout: float | None = None) -> ResourceResponse:
        """Read one trigger by id (404 NotFound if missing). ``read_trigger`` is an alias."""
        return await self._read(_TRIGGER, trigger, timeout)

    read_trigger = get_trigger

    async def create_trigger(self, body: Mapping[str, Any], *, timeout: float | None = None) -> ResourceResponse:
        """Create a trigger: ``{"id", "body", "triggerType": "Pre"|"Post", "triggerOperation":
        "All"|"Create"|"Replace"|"Delete"|"Update"}``. It runs only on writes that name it in
        ``pre_trigger_include=`` / ``post_trigger_include=``."""
        return await self._create(_TRIGGER, body, timeout)

    async def upsert_trigger(self, body: Mapping[str, Any], *, timeout: float | None = None) -> ResourceResponse:
        """Create the trigger, or replace it if its id exists (no azure.cosmos.aio counterpart)."""
        return await self._upsert(_TRIGGER, body, timeout)

    async def replace_trigger(
        self, trigger: str | Mapping[str, Any], body: Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Replace an existing trigger (404 if missing); ``body`` keeps the same id."""
        return await self._replace(_TRIGGER, trigger, body, timeout)

    async def delete_trigger(
        self, trigger: str | Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Delete a trigger (404 if missing)."""
        return await self._delete(_TRIGGER, trigger, timeout)

    # -- user-defined functions ------------------------------------------------------------------

    def list_user_defined_functions(
        self, *, max_item_count: int | None = None, timeout: float | None = None
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Every user-defined function of the container, page by page."""
        return self._list(_UDF, max_item_count, timeout)

    def query_user_defined_functions(
        self,
        query: str,
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """User-defined functions matching a SQL query."""
        return self._query(_UDF, query, parameters, max_item_count, timeout)

    async def get_user_defined_function(
        self, udf: str | Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Read one user-defined function by id (404 if missing). ``read_user_defined_function`` is an alias."""
        return await self._read(_UDF, udf, timeout)

    read_user_defined_function = get_user_defined_function

    async def create_user_defined_function(
        self, body: Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Create a UDF from ``{"id": "tax", "body": "function (x) {...}"}``; call it in SQL as ``udf.tax(...)``."""
        return await self._create(_UDF, body, timeout)

    async def upsert_user_defined_function(
        self, body: Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Create the user-defined function, or replace it if its id exists (no azure.cosmos.aio counterpart)."""
        return await self._upsert(_UDF, body, timeout)

    async def replace_user_defined_function(
        self, udf: str | Mapping[str, Any], body: Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Replace an existing user-defined function (404 if missing); ``body`` keeps the same id."""
        return await self._replace(_UDF, udf, body, timeout)

    async def delete_user_defined_function(
        self, udf: str | Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Delete a user-defined function (404 if missing)."""
        return await self._delete(_UDF, udf, timeout)
