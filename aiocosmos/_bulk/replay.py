"""Which bulk operations are sent again after an ambiguous failure, and what the answer to a replay means.

The rule is the point operations' (``aiocosmos/_resources/replay.py``): after a failure of the whole
request that may have applied it (408/500/502/503/504, a connection lost after sending), a read is
always sent again; with ``RetryPolicy.replay_idempotent_writes`` (the default) so are unconditional
upserts, creates and unconditional deletes (``result.replayed``). Conditional writes, replaces and
patches fail with ``may_have_been_applied``.

* A replayed create answered 409 is read back: if the stored item equals the one sent (system
  properties aside) the create succeeded (``status_code`` 201, ``applied_earlier``); otherwise the
  409 stands, and says an earlier attempt may have been applied.
* A replayed delete answered 404 succeeded the first time (``status_code`` 204, ``applied_earlier``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .._wire import codec
from .._wire.documents import same_item
from .._wire.paths import quote_id
from ..exceptions import CosmosError, HttpResponseError

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy
    from .ranges import PendingOperation

__all__ = ["needs_settling", "safe_to_replay", "settle_replay"]

_REPLAYABLE_WRITES: Final = frozenset({"Upsert", "Create", "Delete"})
_SETTLED: Final = frozenset({("Create", 409), ("Delete", 404)})


def safe_to_replay(wire: dict[str, Any], replay_writes: bool) -> bool:
    """Whether an operation may be sent again after an ambiguous failure of its request."""
    kind = wire["operationType"]
    if kind == "Read":
        return True
    return replay_writes and kind in _REPLAYABLE_WRITES and "ifMatch" not in wire and "ifNoneMatch" not in wire


def needs_settling(op: PendingOperation, status: int, sub_status: int) -> bool:
    """A replayed create answered 409, or a replayed delete answered 404 (not 404/1002)."""
    return op.result.replayed and (op.result.operation_type, status) in _SETTLED and sub_status != 1002


async def settle_replay(
    container: ContainerProxy, op: PendingOperation, error: HttpResponseError, timeout: float | None
) -> None:
    """Fill in the result of a replayed create answered 409 or delete answered 404."""
    result = op.result
    error.replayed = True
    if result.operation_type == "Delete":
        result.status_code, result.sub_status, result.applied_earlier = 204, 0, True
        return
    sent = codec.loads(op.wire)["resourceBody"]
    item_id = str(sent["id"])
    try:
        _, headers, data = await container._core.request(
            "GET", container._docs_path + "/" + quote_id(item_id), "docs", container._docs_link + item_id,
            headers={"x-ms-documentdb-partitionkey": result.partition_key or "[]"}, idempotent=True,
            timeout=timeout,
        )
    except CosmosError as exc:
        error.message += f" (replayed create: reading the item back failed: {type(exc).__name__})"
        result.error, result.status_code, result.sub_status = error, error.status_code, error.sub_status
        return
    charge = headers.get("x-ms-request-charge")
    result.request_charge += float(charge) if charge else 0.0
    stored = codec.loads(data)
    if not isinstance(stored, dict) or not same_item(stored, sent):
        error.message += " (replayed create: the stored item differs from the one sent)"
        result.error, result.status_code, result.sub_status = error, error.status_code, error.sub_status
        return
    result.status_code, result.sub_status, result.applied_earlier = 201, 0, True
    result.resource_body = stored
    etag = stored.get("_etag")
    result.etag = etag if isinstance(etag, str) else None
