"""Transactional batch and delete-by-partition-key: the multi-item writes of a container.

* ``execute_item_batch`` sends up to 100 operations of one logical partition in one request (spec
  §6.6). The service applies all or none of them. Operations are azure-cosmos tuples such as
  ``("create", (item,))`` or ``("replace", (id, item), {"if_match_etag": etag})``; every one is
  checked, and the whole body serialised and measured, before any I/O (the operation format is in
  ``_bulk/operations.py``, which bulk shares).
* ``delete_all_items_by_partition_key`` asks the service to delete one logical partition in the
  background (spec §1, §6.4).

The ContainerProxy methods of the same names are thin wrappers around the functions here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, overload

from .._bulk.operations import MAX_BATCH_BYTES, MAX_BATCH_OPERATIONS, BatchOperation, build_batch
from .._telemetry.tracing import BATCH_SIZE
from .._wire import codec
from .._wire.documents import write_options
from .._wire.paths import loose_partition_header
from .._wire.regions import end_exclusion, exclude_for_call
from .._wire.request_options import ResponseHook, call_hook, check_hook, with_call_headers
from .._wire.results import ResourceResponse, ResponseMetadata
from ..exceptions import BatchOperationError, HttpResponseError, ValidationError

if TYPE_CHECKING:
    from .container import ContainerProxy

__all__ = [
    "BatchCall",
    "BatchOperation",
    "BatchOperationResult",
    "BatchResponse",
    "MAX_BATCH_OPERATIONS",
    "MAX_BATCH_BYTES",
    "BATCH_HEADERS",
    "build_batch",
    "execute_item_batch",
    "delete_all_items_by_partition_key",
]

BATCH_HEADERS: Final[Mapping[str, str]] = {
    "x-ms-cosmos-is-batch-request": "True",
    "x-ms-cosmos-batch-atomic": "True",
    "x-ms-cosmos-batch-continue-on-error": "False",
    "Content-Type": "application/json",
}

_PK: Final = "x-ms-documentdb-partitionkey"
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

# ---------------------------------------------------------------------------------------------------
# Results


class BatchOperationResult(dict[str, Any]):
    """The result of one operation of a batch: the service's JSON for it, as a dict (``result["statusCode"]``,
    as azure-cosmos returns it), plus typed accessors.

    ``index``, ``operation_type`` (``"Create"``, ``"Read"``, ...) and ``item_id`` describe the operation
    that was sent; ``status_code``, ``sub_status``, ``request_charge``, ``etag`` and ``resource_body``
    (the item, for creates, upserts, replaces, patches and reads) what the service answered.
    """

    __slots__ = ("index", "item_id", "operation_type")

    def __init__(self, raw: dict[str, Any], index: int, operation_type: str, item_id: str) -> None:
        super().__init__(raw)
        self.index = index
        self.operation_type = operation_type
        self.item_id = item_id

    @property
    def raw(self) -> dict[str, Any]:
        """The service's JSON for this operation (the result itself)."""
        return self

    @property
    def status_code(self) -> int:
        """The operation's HTTP status (e.g. 201 for a create, 424 for one not run because another failed)."""
        return int(self.get("statusCode") or 0)

    @property
    def sub_status(self) -> int:
        """The operation's substatus code, 0 when the service gave none."""
        value = self.get("substatusCode", self.get("subStatusCode"))
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return int(value) if isinstance(value, str) and value.isdigit() else 0

    @property
    def request_charge(self) -> float:
        """The request units this operation used."""
        value = self.get("requestCharge")
        return float(value) if isinstance(value, int | float) else 0.0

    @property
    def resource_body(self) -> dict[str, Any] | None:
        """The resource the operation returned (created, read, replaced...), or None."""
        body = self.get("resourceBody")
        return body if isinstance(body, dict) else None

    @property
    def etag(self) -> str | None:
        """The resource's new etag (from the result, else from its body), or None."""
        etag = self.get("eTag")
        if isinstance(etag, str) and etag:
            return etag
        body = self.resource_body
        return body.get("_etag") if body is not None else None

    @property
    def retry_after(self) -> float | None:
        """Seconds the service asked to wait before retrying this operation, if it said."""
        value = self.get("retryAfterMilliseconds")
        return value / 1000.0 if isinstance(value, int | float) and value > 0 else None

    @property
    def succeeded(self) -> bool:
        """Whether the operation succeeded (status below 400)."""
        return self.status_code < 400


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


# ---------------------------------------------------------------------------------------------------
# Transactional batch


class BatchCall:
    """azure-cosmos's per-call keywords of a batch (or a delete by partition key), checked before any I/O."""

    __slots__ = ("excluded", "headers", "hook")

    def __init__(self, pre_trigger_include: str | Sequence[str] | None,
                 post_trigger_include: str | Sequence[str] | None,
                 session_token: str | None, priority: str | None, throughput_bucket: int | None,
                 excluded_locations: Sequence[str] | None, response_hook: ResponseHook | None) -> None:
        check_hook(response_hook)
        if excluded_locations is not None and (isinstance(excluded_locations, str)
                                               or not isinstance(excluded_locations, Sequence)):
            raise ValidationError(f"excluded_locations must be a list of region names, got {excluded_locations!r}")
        self.headers = with_call_headers(write_options(None, pre_trigger_include, post_trigger_include),
                                         session_token=session_token, initial_headers=None, priority=priority,
                                         throughput_bucket=throughput_bucket)
        self.excluded = excluded_locations or None
        self.hook = response_hook

    async def run(self, operation: Any, *, hook_result: bool = True) -> Any:
        """``operation`` (the request) for these regions only, then ``hook(headers, result)`` (``None`` in
        place of the result for a delete, as azure-cosmos calls it)."""
        excluded = None if self.excluded is None else exclude_for_call(self.excluded)
        try:
            result = await operation
        finally:
            if excluded is not None:
                end_exclusion(excluded)
        call_hook(self.hook, result.headers, result if hook_result else None)
        return result


async def execute_item_batch(
    container: ContainerProxy, batch_operations: object, partition_key: Any, *, timeout: float | None,
    call: BatchCall | None = None,
) -> BatchResponse:
    data, wire, described = build_batch(batch_operations)
    loose_partition_header(partition_key)  # the value itself, before any I/O
    pk_header, timeout = await container._partition_header(partition_key, timeout)
    _check_documents_partition(container, wire, described, pk_header)
    core = container._core
    headers = dict(BATCH_HEADERS)
    headers[_PK] = pk_header
    session = core.session_tokens.get(container._link)
    if session is not None:
        headers["x-ms-session-token"] = session
    if call is not None:
        headers.update(call.headers)  # a given session_token replaces the tracked one
    # A batch that only reads may be replayed after an ambiguous failure; any write may not.
    read_only = all(operation_type == "Read" for operation_type, _ in described)
    if core.telemetry is not None:
        BATCH_SIZE.set(len(described))  # the span's db.operation.batch.size (tracing.py)
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
        error = _batch_error(BatchResponse(results, exc.headers, exc.status_code), exc.body)
        error.attempts, error.total_wait, error.activity_ids = exc.attempts, exc.total_wait, exc.activity_ids
        raise error from exc
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
    wanted = codec.loads(pk_header)
    for index, operation in enumerate(wire):
        if operation["operationType"] not in ("Create", "Upsert", "Replace"):
            continue
        header = definition.header_from_document(operation["resourceBody"])
        if not _same_partition(codec.loads(header), wanted):
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
        parsed = codec.loads(body)
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
# Delete by partition key


async def delete_all_items_by_partition_key(
    container: ContainerProxy, partition_key: Any, *, timeout: float | None, call: BatchCall | None = None,
) -> ResourceResponse:
    loose_partition_header(partition_key)  # the value itself, before any I/O
    pk_header, timeout = await container._partition_header(partition_key, timeout)
    core = container._core
    request_headers = {_PK: pk_header, "Content-Type": "application/json"}
    if call is not None:
        request_headers.update(call.headers)
    status, headers, body = await core.request(
        "POST", container._path + "/operations/partitionkeydelete", "colls", container._link,
        headers=request_headers, idempotent=False, timeout=timeout,
    )
    core.session_tokens.capture(container._link, headers.get("x-ms-session-token"))
    parsed = codec.loads(body) if body else {}
    return ResourceResponse(parsed if isinstance(parsed, dict) else {}, headers, status)
