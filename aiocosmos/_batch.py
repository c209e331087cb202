"""Transactional batch, read-many and delete-by-partition-key: the multi-item operations of a container.

* ``execute_item_batch`` sends up to 100 operations of one logical partition in one request (spec
  §6.6). The service applies all or none of them. Operations are azure-cosmos tuples such as
  ``("create", (item,))`` or ``("replace", (id, item), {"if_match_etag": etag})``; every one is
  checked, and the whole body serialised and measured, before any I/O.
* ``read_items`` (alias ``read_many``) reads many ``(id, partition_key)`` pairs: one query per
  logical partition (a point read when a partition has a single id), a few at a time.
* ``delete_all_items_by_partition_key`` asks the service to delete one logical partition in the
  background (spec §1, §6.4).

The ContainerProxy methods of the same names are thin wrappers around the functions here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, overload

from . import _codec
from ._container import _check_etag, _check_patch, _document, _item_id, _loose_partition_header
from ._core import QUERY_HEADERS, query_body
from ._models import ResourceResponse, ResponseMetadata
from ._paths import quote_id, validate_id
from .exceptions import BatchOperationError, HttpResponseError, NotFound, PagingError, ValidationError

if TYPE_CHECKING:
    from ._container import ContainerProxy

__all__ = [
    "BatchOperation",
    "BatchOperationResult",
    "BatchResponse",
    "ReadManyResult",
    "MAX_BATCH_OPERATIONS",
    "MAX_BATCH_BYTES",
    "BATCH_HEADERS",
    "build_batch",
    "execute_item_batch",
    "read_items",
    "delete_all_items_by_partition_key",
]

BatchOperation = tuple[str, Sequence[Any]] | tuple[str, Sequence[Any], Mapping[str, Any]]
"""``(kind, args)`` or ``(kind, args, options)``, as azure-cosmos takes them:

``("create", (item,))``, ``("upsert", (item,))``, ``("read", (id,))``, ``("delete", (id,))``,
``("replace", (id, item))``, ``("patch", (id, patch_operations), {"filter_predicate": "FROM c WHERE ..."})``.
Every kind takes the options ``if_match_etag`` or ``if_none_match_etag``. (``execute_item_batch`` is typed
to take any sequences, so that a list of mixed tuples type-checks as written; each one is checked at run time.)
"""

MAX_BATCH_OPERATIONS: Final = 100
"""The service's limit on operations per transactional batch (spec §6.6, §13)."""
MAX_BATCH_BYTES: Final = 2 * 1024 * 1024
"""The service's limit on a transactional batch request body: 2 MB = 2,097,152 bytes (spec §6.6, §13)."""

BATCH_HEADERS: Final[Mapping[str, str]] = {
    "x-ms-cosmos-is-batch-request": "True",
    "x-ms-cosmos-batch-atomic": "True",
    "x-ms-cosmos-batch-continue-on-error": "False",
    "Content-Type": "application/json",
}

_PK: Final = "x-ms-documentdb-partitionkey"
_KINDS: Final[Mapping[str, str]] = {
    "create": "Create", "upsert": "Upsert", "read": "Read", "delete": "Delete", "replace": "Replace", "patch": "Patch",
}
_SIGNATURES: Final[Mapping[str, str]] = {
    "create": "(item,)", "upsert": "(item,)", "read": "(id,)", "delete": "(id,)",
    "replace": "(id, item)", "patch": "(id, patch_operations)",
}
_ETAG_OPTIONS: Final = frozenset({"if_match_etag", "if_none_match_etag"})
_PATCH_OPTIONS: Final = _ETAG_OPTIONS | {"filter_predicate"}

# What a failed operation's status means, when its result carries no message of its own.
_OPERATION_FAILURES: Final[Mapping[int, tuple[str, str]]] = {
    400: ("BadRequest", "the operation is invalid"),
    404: ("NotFound", "no item with this id exists in the partition"),
    409: ("Conflict", "an item with this id already exists in the partition"),
    412: ("PreconditionFailed", "the etag or filter predicate did not match"),
    413: ("RequestEntityTooLarge", "the item is too large"),
    424: ("FailedDependency", "another operation of the batch failed"),
    429: ("TooManyRequests", "the request rate is too large"),
}

READ_ITEMS_CONCURRENCY: Final = 5
"""Default number of read_items requests in flight at once (as azure-cosmos)."""
_IDS_PER_QUERY: Final = 1000
"""Ids per read_items query (as azure-cosmos); more ids in one partition make more queries."""


# ---------------------------------------------------------------------------------------------------
# Results


class BatchOperationResult(Mapping[str, Any]):
    """The result of one operation of a batch: a read-only mapping over the service's JSON for it
    (``result["statusCode"]``, as azure-cosmos returns it) plus typed accessors.

    ``index``, ``operation_type`` (``"Create"``, ``"Read"``, ...) and ``item_id`` describe the operation
    that was sent; ``status_code``, ``sub_status``, ``request_charge``, ``etag`` and ``resource_body``
    (the item, for creates, upserts, replaces, patches and reads) what the service answered.
    """

    __slots__ = ("index", "item_id", "operation_type", "raw")

    def __init__(self, raw: dict[str, Any], index: int, operation_type: str, item_id: str) -> None:
        self.raw = raw
        self.index = index
        self.operation_type = operation_type
        self.item_id = item_id

    @property
    def status_code(self) -> int:
        return int(self.raw.get("statusCode") or 0)

    @property
    def sub_status(self) -> int:
        value = self.raw.get("substatusCode", self.raw.get("subStatusCode"))
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return int(value) if isinstance(value, str) and value.isdigit() else 0

    @property
    def request_charge(self) -> float:
        value = self.raw.get("requestCharge")
        return float(value) if isinstance(value, int | float) else 0.0

    @property
    def resource_body(self) -> dict[str, Any] | None:
        body = self.raw.get("resourceBody")
        return body if isinstance(body, dict) else None

    @property
    def etag(self) -> str | None:
        etag = self.raw.get("eTag")
        if isinstance(etag, str) and etag:
            return etag
        body = self.resource_body
        return body.get("_etag") if body is not None else None

    @property
    def retry_after(self) -> float | None:
        """Seconds the service asked to wait before retrying this operation, if it said."""
        value = self.raw.get("retryAfterMilliseconds")
        return value / 1000.0 if isinstance(value, int | float) and value > 0 else None

    @property
    def succeeded(self) -> bool:
        return self.status_code < 400

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        return f"BatchOperationResult(index={self.index}, operation_type={self.operation_type!r}, " \
               f"item_id={self.item_id!r}, status_code={self.status_code})"


class BatchResponse(ResponseMetadata, Sequence[BatchOperationResult]):
    """The results of a committed transactional batch, one per operation, in order.

    ``response[i]`` is a :class:`BatchOperationResult`; ``request_charge``, ``activity_id``,
    ``session_token``, ``status_code`` and ``headers`` describe the whole response.
    """

    __slots__ = ("_results", "headers", "status_code")

    def __init__(self, results: list[BatchOperationResult], headers: Mapping[str, str], status_code: int) -> None:
        self._results = results
        self.headers = headers
        self.status_code = status_code

    @overload
    def __getitem__(self, index: int) -> BatchOperationResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[BatchOperationResult]: ...

    def __getitem__(self, index: int | slice) -> BatchOperationResult | list[BatchOperationResult]:
        return self._results[index]

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[BatchOperationResult]:
        return iter(self._results)

    @property
    def failed_index(self) -> int | None:
        """The operation that made the batch fail: the first with a status >= 400 other than 424
        (failed dependency), else the first failed one; None when every operation succeeded."""
        first = None
        for result in self._results:
            status = result.status_code
            if status >= 400:
                if status != 424:
                    return result.index
                if first is None:
                    first = result.index
        return first

    def __repr__(self) -> str:
        return f"BatchResponse(operations={len(self._results)}, status_code={self.status_code}, " \
               f"request_charge={self.request_charge})"


class ReadManyResult(list[dict[str, Any]]):
    """The items ``read_items`` found, in the order they were asked for (missing ones are left out).

    A plain list of item dicts, plus ``request_charge`` (the total of every request made) and
    ``activity_ids`` (one per request).
    """

    __slots__ = ("activity_ids", "request_charge")

    def __init__(self, items: list[dict[str, Any]], request_charge: float, activity_ids: tuple[str, ...]) -> None:
        super().__init__(items)
        self.request_charge = request_charge
        self.activity_ids = activity_ids

    def __repr__(self) -> str:
        return f"ReadManyResult(items={len(self)}, request_charge={self.request_charge})"


# ---------------------------------------------------------------------------------------------------
# Transactional batch


def build_batch(operations: object) -> tuple[bytes, list[dict[str, Any]], list[tuple[str, str]]]:
    """The JSON body of a batch, its operations as JSON objects, and ``(operationType, id)`` per
    operation; raises ValidationError
    (naming the operation and the value) for anything the service would refuse. No I/O."""
    if isinstance(operations, str | bytes | Mapping) or not isinstance(operations, Sequence):
        raise ValidationError(
            f"batch_operations must be a list of operation tuples, got {type(operations).__name__}"
        )
    if not 1 <= len(operations) <= MAX_BATCH_OPERATIONS:
        raise ValidationError(
            f"a transactional batch takes 1 to {MAX_BATCH_OPERATIONS} operations, got {len(operations)}"
        )
    wire: list[dict[str, Any]] = []
    described: list[tuple[str, str]] = []
    for index, entry in enumerate(operations):
        try:
            operation = _operation(entry)
        except ValidationError as exc:
            raise ValidationError(f"batch operation {index}{_label(entry)}: {exc}") from None
        wire.append(operation)
        described.append((operation["operationType"], _operation_id(operation)))
    try:
        data = _codec.dumps(wire, what="batch")
    except ValidationError:
        _raise_first_unserialisable(wire, described)
        raise
    if len(data) > MAX_BATCH_BYTES:
        raise ValidationError(
            f"the batch is {len(data)} bytes as JSON; the service limit for a transactional batch "
            f"request is {MAX_BATCH_BYTES} bytes (2 MB)"
        )
    return data, wire, described


def _label(entry: object) -> str:
    if isinstance(entry, tuple | list) and entry and isinstance(entry[0], str):
        return f" ({entry[0]!r})"
    return ""


def _operation_id(operation: Mapping[str, Any]) -> str:
    if "id" in operation:
        return str(operation["id"])
    return str(operation["resourceBody"]["id"])


def _operation(entry: object) -> dict[str, Any]:
    """One operation tuple as the wire JSON (key order as azure-cosmos writes it)."""
    if not isinstance(entry, tuple | list) or not 2 <= len(entry) <= 3:
        raise ValidationError(
            "an operation is a tuple (kind, args) or (kind, args, options), e.g. ('read', ('id1',)); "
            f"got {entry!r:.200}"
        )
    kind = entry[0]
    lowered = kind.lower() if isinstance(kind, str) else ""
    operation_type = _KINDS.get(lowered)
    if operation_type is None:
        raise ValidationError(f"unknown operation {kind!r}; the kinds are {', '.join(_KINDS)}")
    args = entry[1]
    arity = 2 if lowered in ("replace", "patch") else 1
    if isinstance(args, str | bytes | Mapping) or not isinstance(args, Sequence) or len(args) != arity:
        hint = " (a string, not a tuple: write ('x',) with the comma)" if isinstance(args, str) else ""
        raise ValidationError(f"{lowered!r} takes the arguments {_SIGNATURES[lowered]}, got {args!r:.200}{hint}")
    options = entry[2] if len(entry) == 3 else {}
    if not isinstance(options, Mapping):
        raise ValidationError(f"the options of an operation must be a dict, got {options!r:.200}")
    allowed = _PATCH_OPTIONS if lowered == "patch" else _ETAG_OPTIONS
    unknown = [name for name in options if name not in allowed]
    if unknown:
        raise ValidationError(f"unknown option(s) {unknown!r} for {lowered!r}; it takes {sorted(allowed)}")

    operation: dict[str, Any] = {"operationType": operation_type}
    if lowered in ("create", "upsert"):
        operation["resourceBody"] = _document(args[0])
    elif lowered in ("read", "delete"):
        operation["id"] = _item_id(args[0])
    elif lowered == "replace":
        item_id = _item_id(args[0])
        document = _document(args[1])
        if document["id"] != item_id:
            raise ValidationError(f"the item's id {document['id']!r} differs from the id {item_id!r} to replace")
        operation["id"] = item_id
        operation["resourceBody"] = document
    else:  # patch
        operation["id"] = _item_id(args[0])
        patch: dict[str, Any] = {"operations": _check_patch(args[1])}
        predicate = options.get("filter_predicate")
        if predicate is not None:
            if not isinstance(predicate, str) or not predicate.strip():
                raise ValidationError(f"filter_predicate must be a SQL filter string, got {predicate!r}")
            patch["condition"] = predicate
        operation["resourceBody"] = patch
    if_match, if_none_match = options.get("if_match_etag"), options.get("if_none_match_etag")
    if if_match is not None and if_none_match is not None:
        raise ValidationError("give if_match_etag or if_none_match_etag, not both")
    if if_match is not None:
        operation["ifMatch"] = _check_etag(if_match)
    elif if_none_match is not None:
        operation["ifNoneMatch"] = _check_etag(if_none_match)
    return operation


def _raise_first_unserialisable(wire: list[dict[str, Any]], described: list[tuple[str, str]]) -> None:
    """Error path only: say which operation holds the value JSON cannot carry."""
    for index, operation in enumerate(wire):
        try:
            _codec.dumps(operation.get("resourceBody"), what="its body")
        except ValidationError as exc:
            operation_type, item_id = described[index]
            raise ValidationError(f"batch operation {index} ({operation_type} {item_id!r}): {exc}") from None


async def execute_item_batch(
    container: ContainerProxy, batch_operations: object, partition_key: Any, *, timeout: float | None
) -> BatchResponse:
    data, wire, described = build_batch(batch_operations)
    _loose_partition_header(partition_key)  # the value itself, before any I/O
    pk_header, timeout = await container._partition_header(partition_key, timeout)
    _check_documents_partition(container, wire, described, pk_header)
    core = container._core
    headers = dict(BATCH_HEADERS)
    headers[_PK] = pk_header
    session = core.session_tokens.get(container._link)
    if session is not None:
        headers["x-ms-session-token"] = session
    # A batch that only reads may be replayed after an ambiguous failure; any write may not.
    read_only = all(operation_type == "Read" for operation_type, _ in described)
    try:
        status, response_headers, body = await core.request(
            "POST", container._docs_path, "docs", container._link,
            headers=headers, body=data, idempotent=read_only, timeout=timeout,
        )
    except HttpResponseError as exc:
        # Should the service ever answer a failed batch with the failed operation's status (>= 400)
        # and the per-operation array, it is still the batch's failure: say which operation failed.
        results = _results_or_none(exc.body, described)
        if results is None:
            raise
        core.session_tokens.capture(container._link, exc.headers.get("x-ms-session-token"))
        error = _batch_error(BatchResponse(results, exc.headers, exc.status_code), exc.body)
        error.attempts, error.total_wait, error.activity_ids = exc.attempts, exc.total_wait, exc.activity_ids
        raise error from exc
    core.session_tokens.capture(container._link, response_headers.get("x-ms-session-token"))
    results = _results_or_none(body, described)
    if results is None:
        raise HttpResponseError(
            f"the service answered a batch of {len(described)} operations with status {status} and a body that "
            f"is not one result per operation: {body[:200]!r}",
            status_code=status, headers=response_headers, body=body,
        )
    response = BatchResponse(results, response_headers, status)
    if response.failed_index is not None:  # 207 Multi-Status (or any status < 400) with a failed operation
        raise _batch_error(response, body)
    return response


def _check_documents_partition(
    container: ContainerProxy, wire: list[dict[str, Any]], described: list[tuple[str, str]], pk_header: str
) -> None:
    """Every document written must belong to the batch's logical partition (else the service
    refuses the batch with 400): check it before sending."""
    definition = container._core.partition_keys.get(container._link)
    if definition is None or not any(t in ("Create", "Upsert", "Replace") for t, _ in described):
        return
    wanted = _codec.loads(pk_header)
    for index, operation in enumerate(wire):
        if operation["operationType"] not in ("Create", "Upsert", "Replace"):
            continue
        header = definition.header_from_document(operation["resourceBody"])
        if not _same_partition(_codec.loads(header), wanted):
            operation_type, item_id = described[index]
            raise ValidationError(
                f"batch operation {index} ({operation_type} {item_id!r}): the item's partition key {header} "
                f"differs from the batch's partition key {pk_header}; all operations of a batch share one "
                "logical partition"
            )


def _same_partition(left: list[Any], right: list[Any]) -> bool:
    """Partition-key values compared as the service does: by JSON type and value (1 == 1.0, True != 1)."""
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        if _json_kind(a) != _json_kind(b):
            return False
        if not isinstance(a, dict) and a != b:
            return False
    return True


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _results_or_none(body: bytes, described: list[tuple[str, str]]) -> list[BatchOperationResult] | None:
    """Per-operation results, if the body is one result object per operation; else None."""
    if not body:
        return None
    try:
        parsed = _codec.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, list) or len(parsed) != len(described):
        return None
    if not all(isinstance(raw, dict) and isinstance(raw.get("statusCode"), int) for raw in parsed):
        return None
    return [BatchOperationResult(raw, index, *described[index]) for index, raw in enumerate(parsed)]


def _batch_error(response: BatchResponse, body: bytes) -> BatchOperationError:
    index = response.failed_index
    assert index is not None
    failed = response[index]
    code, meaning = _OPERATION_FAILURES.get(failed.status_code, ("", "the operation failed"))
    resource = failed.resource_body
    if resource is not None and isinstance(resource.get("message"), str) and resource["message"]:
        meaning = resource["message"]
        code = str(resource.get("code") or code)
    message = (
        f"transactional batch failed at batch_operations[{index}] ({failed.operation_type} {failed.item_id!r}): "
        f"{code + ': ' if code else ''}{meaning}; none of its {len(response)} operations was committed"
    )
    return BatchOperationError(
        message,
        error_index=index,
        operation_type=failed.operation_type,
        item_id=failed.item_id,
        operation_responses=response,
        status_code=failed.status_code,
        sub_status=failed.sub_status,
        code=code,
        headers=response.headers,
        body=body,
    )


# ---------------------------------------------------------------------------------------------------
# Read many


def _check_read_items(items: object) -> list[tuple[str, Any]]:
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise ValidationError(f"items must be a list of (id, partition_key) tuples, got {type(items).__name__}")
    checked = []
    for index, entry in enumerate(items):
        if not isinstance(entry, tuple | list) or len(entry) != 2:
            raise ValidationError(f"items[{index}] must be an (id, partition_key) tuple, got {entry!r:.200}")
        item_id = validate_id(entry[0], f"items[{index}] id")
        try:
            _loose_partition_header(entry[1])
        except ValidationError as exc:
            raise ValidationError(f"items[{index}] ({item_id!r}): {exc}") from None
        checked.append((item_id, entry[1]))
    return checked


async def read_items(
    container: ContainerProxy, items: object, *, max_concurrency: int | None, timeout: float | None
) -> ReadManyResult:
    requested = _check_read_items(items)
    if max_concurrency is None:
        max_concurrency = READ_ITEMS_CONCURRENCY
    elif not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
        raise ValidationError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
    if not requested:
        return ReadManyResult([], 0.0, ())
    core = container._core
    if timeout is None:
        timeout = core.default_timeout
    deadline = None if timeout is None else core.clock.monotonic() + timeout
    definition = core.partition_keys.get(container._link)
    if definition is None:
        definition, _ = await container._load_definition(timeout)

    # Group by logical partition (its header), each id once, remembering where it was asked for.
    groups: dict[str, dict[str, int]] = {}
    for index, (item_id, partition_key) in enumerate(requested):
        try:
            header = definition.header_for(partition_key)
        except ValidationError as exc:
            raise ValidationError(f"items[{index}] ({item_id!r}): {exc}") from None
        groups.setdefault(header, {}).setdefault(item_id, index)
    jobs = [
        (header, dict(list(ids.items())[start : start + _IDS_PER_QUERY]))
        for header, ids in groups.items()
        for start in range(0, len(ids), _IDS_PER_QUERY)
    ]

    found: dict[int, dict[str, Any]] = {}
    charges: list[float] = []
    activity_ids: list[str] = []
    limit = asyncio.Semaphore(max_concurrency)

    def remaining() -> float | None:
        return None if deadline is None else max(0.0, deadline - core.clock.monotonic())

    def account(headers: Mapping[str, str]) -> None:
        raw = headers.get("x-ms-request-charge")
        charges.append(float(raw) if raw else 0.0)
        activity_id = headers.get("x-ms-activity-id")
        if activity_id:
            activity_ids.append(activity_id)

    async def point_read(header: str, item_id: str, index: int) -> None:
        headers = {_PK: header}
        session = core.session_tokens.get(container._link)
        if session is not None:
            headers["x-ms-session-token"] = session
        try:
            _, response_headers, body = await core.request(
                "GET", container._docs_path + "/" + quote_id(item_id), "docs", container._docs_link + item_id,
                headers=headers, idempotent=True, timeout=remaining(),
            )
        except NotFound as exc:
            if exc.sub_status != 0:  # e.g. 404/1002 (session not available) or 404/1003 (no container)
                raise
            account(exc.headers)
            return
        account(response_headers)
        document = _codec.loads(body) if body else None
        if isinstance(document, dict):
            found[index] = document

    async def query(header: str, ids: dict[str, int]) -> None:
        names = [f"@id{n}" for n in range(len(ids))]
        body = query_body(
            f"SELECT * FROM c WHERE c.id IN ({', '.join(names)})",
            [{"name": name, "value": item_id} for name, item_id in zip(names, ids, strict=True)],
        )
        static = {**QUERY_HEADERS, _PK: header, "x-ms-max-item-count": str(len(ids))}
        continuation: str | None = None
        while True:
            headers = dict(static)
            if continuation is not None:
                headers["x-ms-continuation"] = continuation
            session = core.session_tokens.get(container._link)
            if session is not None:
                headers["x-ms-session-token"] = session
            _, response_headers, data = await core.request(
                "POST", container._docs_path, "docs", container._link,
                headers=headers, body=body, idempotent=True, timeout=remaining(),
            )
            account(response_headers)
            parsed = _codec.loads(data) if data else {}
            documents = parsed.get("Documents", []) if isinstance(parsed, dict) else []
            for document in documents:
                found_id = document.get("id") if isinstance(document, dict) else None
                index = ids.get(found_id) if isinstance(found_id, str) else None
                if index is not None:
                    found[index] = document
            next_token = response_headers.get("x-ms-continuation") or None
            if next_token is None:
                return
            if next_token == continuation:
                raise PagingError("the service answered a continuation token with the same token")
            continuation = next_token

    async def run(header: str, ids: dict[str, int]) -> None:
        async with limit:
            if len(ids) == 1:
                [(item_id, index)] = ids.items()
                await point_read(header, item_id, index)  # 1 RU, cheaper than a query
            else:
                await query(header, ids)

    if len(jobs) == 1:
        await run(*jobs[0])
    else:
        tasks = [asyncio.create_task(run(header, ids)) for header, ids in jobs]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    return ReadManyResult([found[index] for index in sorted(found)], sum(charges), tuple(activity_ids))


# ---------------------------------------------------------------------------------------------------
# Delete by partition key


async def delete_all_items_by_partition_key(
    container: ContainerProxy, partition_key: Any, *, timeout: float | None
) -> ResourceResponse:
    _loose_partition_header(partition_key)  # the value itself, before any I/O
    pk_header, timeout = await container._partition_header(partition_key, timeout)
    core = container._core
    status, headers, body = await core.request(
        "POST", container._path + "/operations/partitionkeydelete", "colls", container._link,
        headers={_PK: pk_header, "Content-Type": "application/json"}, idempotent=False, timeout=timeout,
    )
    core.session_tokens.capture(container._link, headers.get("x-ms-session-token"))
    parsed = _codec.loads(body) if body else {}
    return ResourceResponse(parsed if isinstance(parsed, dict) else {}, headers, status)
