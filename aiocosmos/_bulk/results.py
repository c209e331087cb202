"""What the bulk executor yields and sums up: one result per operation, live counters, a summary."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ..diagnostics import Diagnostics
from ..exceptions import CosmosError, Gone, HttpResponseError, error_class_for
from .sends import Sent, operation_diagnostics

__all__ = ["BulkOperationResult", "BulkStats", "BulkSummary", "NAME_CACHE_STALE", "NOT_APPLIED_STATUSES",
           "RESPONSE_SIZE_EXCEEDED", "SEND_AGAIN_AT_ONCE", "moved_error", "operation_error", "operation_results",
           "operation_status", "record_answer"]

NOT_APPLIED_STATUSES: Final = frozenset({424, 449})
"""An operation with one of these statuses was not applied (failed dependency, retry with)."""
NAME_CACHE_STALE: Final = 1000
RESPONSE_SIZE_EXCEEDED: Final = 3402
# Operations the service left unapplied inside a bulk response, to be sent again without waiting: 413/3402
# (the response reached its size limit before this operation: .NET's BulkExecutionRetryPolicy retries
# these at once) and 410/1000 (name cache stale).
SEND_AGAIN_AT_ONCE: Final = frozenset({(413, RESPONSE_SIZE_EXCEEDED), (410, NAME_CACHE_STALE)})



class BulkOperationResult:
    """The result of one bulk operation: success with its metadata, or an error.

    ``index`` is the operation's position in the input and ``operation`` the operation as given;
    ``operation_type``, ``item_id`` and ``partition_key`` (the header JSON) describe it. ``status_code``,
    ``sub_status``, ``request_charge``, ``etag`` and ``resource_body`` are what the service answered
    (``status_code`` 0 when no answer: see ``error``). ``error`` is None on success, else a
    :class:`~aiocosmos.CosmosError` (``may_have_been_applied`` says whether a write may have happened).
    ``attempts`` counts the times it was sent; ``replayed`` is True when it was sent again after an
    ambiguous failure (reads; and, with ``RetryPolicy.replay_idempotent_writes``, unconditional upserts,
    creates and deletes). ``applied_earlier``: the replay found an earlier attempt's effect (a create
    answered 409 whose stored item is the one sent, or a delete answered 404); see ``_bulk/replay.py``.
    ``diagnostics``: every bulk request that carried it, and its own answer in each.
    """

    __slots__ = ("_sends", "applied_earlier", "attempts", "error", "etag", "index", "item_id", "operation",
                 "operation_type", "partition_key", "replayed", "request_charge", "resource_body", "status_code",
                 "sub_status")

    def __init__(self, index: int, operation: Any, operation_type: str, item_id: str | None,
                 partition_key: str | None) -> None:
        self.index = index
        self.operation = operation
        self.operation_type = operation_type
        self.item_id = item_id
        self.partition_key = partition_key
        self.status_code = 0
        self.sub_status = 0
        self.request_charge = 0.0
        self.etag: str | None = None
        self.resource_body: dict[str, Any] | None = None
        self.error: CosmosError | None = None
        self.attempts = 0
        self.replayed = False
        self.applied_earlier = False
        self._sends: list[tuple[Sent, Mapping[str, Any] | None]] = []

    def note(self, sent: Sent, answer: Mapping[str, Any] | None) -> None:
        """It went in the bulk request ``sent`` (``_bulk/sends.py``); ``answer``: its own result in the
        response (None when the request failed as a whole)."""
        self._sends.append((sent, answer))

    @property
    def diagnostics(self) -> Diagnostics:
        """Each bulk request that carried this operation, in order: that request's attempts (status,
        substatus, activity id, charge, retry-after, waits), timings and size, and this operation's own
        status, substatus, charge and retry-after in its response; ``request_charge`` is the operation's.
        Built when read."""
        return operation_diagnostics(self._sends, status=self.status_code, sub_status=self.sub_status,
                                     request_charge=self.request_charge, replayed=self.replayed)

    @property
    def succeeded(self) -> bool:
        """Whether the operation succeeded (no ``error``)."""
        return self.error is None

    @property
    def may_have_been_applied(self) -> bool:
        """True on success, and on errors after which the write may have happened."""
        return self.error is None or self.error.may_have_been_applied

    def __repr__(self) -> str:
        what = "ok" if self.error is None else f"error={type(self.error).__name__}"
        return (f"BulkOperationResult(index={self.index}, operation_type={self.operation_type!r}, "
                f"item_id={self.item_id!r}, status_code={self.status_code}, {what})")


@attrs.define
class BulkStats:
    """Live counters of a bulk execution (read them while it runs, e.g. for a progress bar)."""

    read: int = 0
    """Operations taken from the source."""
    succeeded: int = 0
    failed: int = 0
    request_charge: float = 0.0
    requests: int = 0
    throttles: int = 0
    """429s taken: whole requests and operations inside responses."""
    retries: int = 0
    """Operations sent again (after throttles, splits and not-applied failures)."""
    splits: int = 0
    started: float = attrs.field(factory=time.monotonic)

    @property
    def done(self) -> int:
        """Operations finished so far, succeeded or failed."""
        return self.succeeded + self.failed

    @property
    def elapsed(self) -> float:
        """Seconds since the bulk run started."""
        return time.monotonic() - self.started


@attrs.frozen
class BulkSummary:
    """What ``bulk_upsert`` did: counts, total RU, and the failed operations' results."""

    total: int
    succeeded: int
    failed: int
    request_charge: float
    throttles: int
    retries: int
    elapsed: float
    failures: tuple[BulkOperationResult, ...]

    @property
    def ok(self) -> bool:
        """Whether every operation succeeded."""
        return self.failed == 0


def operation_error(raw: Mapping[str, Any], status: int, sub_status: int) -> HttpResponseError:
    body = raw.get("resourceBody")
    message = ""
    code = ""
    if isinstance(body, dict):
        message = str(body.get("message") or "")
        code = str(body.get("code") or "")
    cls = error_class_for(status, sub_status)
    error = cls(message or f"the operation failed with status {status}/{sub_status}", status_code=status,
                sub_status=sub_status, code=code)
    return error


def operation_status(raw: Mapping[str, Any]) -> tuple[int, int]:
    """(status, sub-status) of one operation's result in a bulk response (0 where absent)."""
    code = raw.get("statusCode")
    sub = raw.get("substatusCode", raw.get("subStatusCode", 0))
    return (code if isinstance(code, int) else 0,
            int(sub) if isinstance(sub, int | str) and str(sub).isdigit() else 0)


def operation_results(
    parsed: object, operations: int, status: int, headers: Mapping[str, str], data: bytes
) -> list[dict[str, Any]] | HttpResponseError:
    """A bulk response's results, one object per operation; or the error that says it is not that."""
    if isinstance(parsed, list) and len(parsed) == operations and all(isinstance(raw, dict) for raw in parsed):
        return parsed
    return HttpResponseError(
        f"the service answered a bulk request of {operations} operations with status {status} and a "
        f"body that is not one result per operation: {data[:200]!r}",
        status_code=status, headers=headers, body=data)


def moved_error(gone: HttpResponseError, reread: CosmosError) -> Gone:
    """The result error of an operation whose partition moved (410, not applied) when the ranges
    could not be read again: the 410 with what the re-read ended with as its cause."""
    error = Gone(
        f"{gone.message or 'the partition key range is gone'}; re-reading the partition key ranges "
        f"failed ({reread}); the operation was not applied",
        sub_status=gone.sub_status, code=gone.code, headers=gone.headers, body=gone.body,
    )
    error.attempts, error.total_wait, error.activity_ids = gone.attempts, gone.total_wait, gone.activity_ids
    error.__cause__ = reread
    return error


def record_answer(result: BulkOperationResult, raw: Mapping[str, Any], code: int, sub: int) -> None:
    """Fill ``result`` from its operation's answer in a bulk response: a success, or an error that stands."""
    result.status_code, result.sub_status = code, sub
    if code < 400:
        body = raw.get("resourceBody")
        result.resource_body = body if isinstance(body, dict) else None
        etag = raw.get("eTag")
        result.etag = etag if isinstance(etag, str) and etag else (
            result.resource_body.get("_etag") if result.resource_body else None)
    else:
        result.error = operation_error(raw, code, sub)
