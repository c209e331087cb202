"""The retry policy: a pure, frozen object. The loop that applies it lives in ``_pipeline``.

Which failures are retried (the rule the README documents):

=======================  ===================  =======================================================
failure                  kind                 retried for
=======================  ===================  =======================================================
429 Too Many Requests    THROTTLED            every operation: the service did not apply the request.
                                              Waits ``x-ms-retry-after-ms``; stops after
                                              ``max_throttle_retries`` retries or when the next wait
                                              would take the total throttle wait past
                                              ``max_throttle_wait``.
449 Retry With           NOT_APPLIED          every operation: the service refused to apply it.
connection failed        NOT_APPLIED          every operation: the request never left the client.
408, 500, 502, 503, 504  AMBIGUOUS            reads and queries; and, with ``replay_idempotent_writes``
read error / timeout                          (the default), the writes that are safe to replay:
                                              unconditional upserts, creates (a 409 on the replay is
                                              resolved by reading the item back) and unconditional
                                              deletes (a 404 on the replay means the first attempt
                                              deleted it). Conditional writes (``etag=``), replace,
                                              patch, stored procedures and batches with writes are
                                              never replayed: the error says the write may have been
                                              applied.
404/1002 session n/a     SESSION_LAG          reads only, once, without waiting.
anything else            FATAL                never (400, 401, 403, 404, 409, 412, 413, ...).
=======================  ===================  =======================================================

A request that may be replayed and failed on a reused pooled connection before any byte of an
answer came back (``StaleConnectionError``: the server most likely closed the connection while it
sat idle) is sent again once at once, without waiting and without counting against
``max_transient_retries``.

NOT_APPLIED and AMBIGUOUS retries share ``max_transient_retries`` and back off exponentially from
``backoff_base`` up to ``backoff_cap`` with "equal jitter" (half fixed, half random). Every retry is
re-signed by the loop, and no retry may go past the operation's deadline.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ..exceptions import ConfigurationError

__all__ = ["FailureKind", "RetryPolicy", "RetryState", "classify_status"]


class FailureKind(enum.Enum):
    THROTTLED = "throttled"
    NOT_APPLIED = "not applied"
    AMBIGUOUS = "ambiguous"
    SESSION_LAG = "session not available"
    FATAL = "fatal"


_AMBIGUOUS_STATUSES = frozenset({408, 500, 502, 503, 504})


def classify_status(status: int, sub_status: int) -> FailureKind:
    if status == 429:
        return FailureKind.THROTTLED
    if status == 449:
        return FailureKind.NOT_APPLIED
    if status in _AMBIGUOUS_STATUSES:
        return FailureKind.AMBIGUOUS
    if status == 404 and sub_status == 1002:
        return FailureKind.SESSION_LAG
    return FailureKind.FATAL


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ConfigurationError(f"RetryPolicy.{attribute.name} must be >= 0, got {value!r}")


def _boolean(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"RetryPolicy.{attribute.name} must be True or False, got {value!r}")


class RetryState:
    """Counters of one operation's retries; created on its first failure only."""

    __slots__ = ("failed", "session_retries", "throttle_retries", "throttle_wait", "total_wait", "transient_retries")

    def __init__(self) -> None:
        self.failed: list[dict[str, Any]] = []
        """The failed attempts, for ``.diagnostics`` (``aiocosmos.diagnostics.failure_record``)."""
        self.throttle_retries = 0
        self.transient_retries = 0
        self.session_retries = 0
        self.throttle_wait = 0.0
        self.total_wait = 0.0


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When to retry and how long to wait; one instance per client, shared by every operation.

    The defaults follow every official Cosmos SDK for 429 (9 retries within 30 s of total waiting).
    """

    max_throttle_retries: int = attrs.field(default=9, validator=_non_negative)
    max_throttle_wait: float = attrs.field(default=30.0, validator=_non_negative)
    max_transient_retries: int = attrs.field(default=3, validator=_non_negative)
    backoff_base: float = attrs.field(default=0.1, validator=_non_negative)
    backoff_cap: float = attrs.field(default=2.0, validator=_non_negative)
    throttle_fallback_wait: float = attrs.field(default=0.1, validator=_non_negative)
    """Wait after a 429 that carries no ``x-ms-retry-after-ms`` (doubled per retry, capped)."""
    replay_idempotent_writes: bool = attrs.field(default=True, validator=_boolean)
    """Replay the writes that are safe to replay after an ambiguous failure (408, 500, 502, 503, 504,
    a connection lost after sending, a truncated answer, a read timeout): unconditional upserts,
    creates and unconditional deletes, under the same ``max_transient_retries`` and deadline as reads.
    ``False`` restores the strict rule: no write is sent again after an ambiguous failure.
    (azure-cosmos's ``retry_write`` goes further, replaying even non-idempotent writes; aiocosmos
    never does that.)"""

    def next_delay(
        self,
        state: RetryState,
        kind: FailureKind,
        *,
        idempotent: bool,
        retry_after: float | None,
        jitter: float,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up. Pure but for ``state``,
        which it advances when it allows a retry. ``jitter`` is a number in [0, 1)."""
        if kind is FailureKind.THROTTLED:
            if state.throttle_retries >= self.max_throttle_retries:
                return None
            if retry_after is None:
                retry_after = min(self.backoff_cap, self.throttle_fallback_wait * float(1 << state.throttle_retries))
            if state.throttle_wait + retry_after > self.max_throttle_wait:
                return None
            state.throttle_retries += 1
            state.throttle_wait += retry_after
            return retry_after
        if kind is FailureKind.SESSION_LAG:
            if not idempotent or state.session_retries >= 1:
                return None
            state.session_retries += 1
            return 0.0
        if kind is FailureKind.FATAL or (kind is FailureKind.AMBIGUOUS and not idempotent):
            return None
        if state.transient_retries >= self.max_transient_retries:
            return None
        ceiling = min(self.backoff_cap, self.backoff_base * float(1 << state.transient_retries))
        state.transient_retries += 1
        return ceiling / 2 + ceiling / 2 * jitter
