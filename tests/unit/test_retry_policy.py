"""The retry policy is pure: table-driven tests, no event loop, no clock."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos._wire.retry import FailureKind, RetryPolicy, RetryState, classify_status


def run(policy: RetryPolicy, kind: FailureKind, *, idempotent: bool = True, retry_after: float | None = None,
        jitter: float = 0.5, limit: int = 100) -> list[float]:
    """Delays the policy grants for the same failure repeated until it gives up."""
    state = RetryState()
    delays: list[float] = []
    for _ in range(limit):
        delay = policy.next_delay(state, kind, idempotent=idempotent, retry_after=retry_after, jitter=jitter)
        if delay is None:
            return delays
        delays.append(delay)
    raise AssertionError("the policy never gave up")


@pytest.mark.parametrize(
    ("status", "sub", "kind"),
    [(429, 3200, FailureKind.THROTTLED), (449, 0, FailureKind.NOT_APPLIED), (503, 0, FailureKind.AMBIGUOUS),
     (408, 0, FailureKind.AMBIGUOUS), (500, 0, FailureKind.AMBIGUOUS), (404, 1002, FailureKind.SESSION_LAG),
     (404, 0, FailureKind.FATAL), (409, 0, FailureKind.FATAL), (412, 0, FailureKind.FATAL),
     (400, 1004, FailureKind.FATAL), (401, 0, FailureKind.FATAL), (413, 0, FailureKind.FATAL)],
)
def test_classification(status: int, sub: int, kind: FailureKind) -> None:
    assert classify_status(status, sub) is kind


def test_429_honours_retry_after_and_stops_after_nine_retries() -> None:
    assert run(RetryPolicy(), FailureKind.THROTTLED, retry_after=0.25) == [0.25] * 9


def test_429_cumulative_wait_cap() -> None:
    # 8 s each: 8, 16, 24 fit in 30 s; a 4th would make 32 s.
    assert run(RetryPolicy(), FailureKind.THROTTLED, retry_after=8.0) == [8.0, 8.0, 8.0]
    assert run(RetryPolicy(max_throttle_wait=16.0), FailureKind.THROTTLED, retry_after=8.0) == [8.0, 8.0]


def test_429_limits_are_configurable() -> None:
    assert run(RetryPolicy(max_throttle_retries=2), FailureKind.THROTTLED, retry_after=0.01) == [0.01, 0.01]
    assert run(RetryPolicy(max_throttle_retries=0), FailureKind.THROTTLED, retry_after=0.01) == []


def test_429_without_retry_after_backs_off() -> None:
    delays = run(RetryPolicy(), FailureKind.THROTTLED)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8] and max(delays) == 2.0 and len(delays) == 9


def test_throttles_are_counted_apart_from_transient_failures() -> None:
    policy, state = RetryPolicy(), RetryState()
    for _ in range(3):
        assert policy.next_delay(state, FailureKind.AMBIGUOUS, idempotent=True, retry_after=None, jitter=0) is not None
    assert policy.next_delay(state, FailureKind.AMBIGUOUS, idempotent=True, retry_after=None, jitter=0) is None
    assert policy.next_delay(state, FailureKind.THROTTLED, idempotent=True, retry_after=1.0, jitter=0) == 1.0


def test_ambiguous_failures_retry_reads_but_not_writes() -> None:
    assert len(run(RetryPolicy(), FailureKind.AMBIGUOUS, idempotent=True)) == 3
    assert run(RetryPolicy(), FailureKind.AMBIGUOUS, idempotent=False) == []


def test_not_applied_failures_retry_writes_too() -> None:
    assert len(run(RetryPolicy(), FailureKind.NOT_APPLIED, idempotent=False)) == 3


def test_backoff_is_exponential_with_equal_jitter() -> None:
    assert run(RetryPolicy(), FailureKind.NOT_APPLIED, jitter=0.0) == [0.05, 0.1, 0.2]
    assert run(RetryPolicy(), FailureKind.NOT_APPLIED, jitter=0.999999) == pytest.approx([0.1, 0.2, 0.4], rel=1e-5)
    capped = run(RetryPolicy(max_transient_retries=8, backoff_cap=0.5), FailureKind.NOT_APPLIED, jitter=0.0)
    assert max(capped) == 0.25


def test_session_lag_retries_reads_once_without_waiting() -> None:
    assert run(RetryPolicy(), FailureKind.SESSION_LAG, idempotent=True) == [0.0]
    assert run(RetryPolicy(), FailureKind.SESSION_LAG, idempotent=False) == []


def test_fatal_is_never_retried() -> None:
    assert run(RetryPolicy(), FailureKind.FATAL) == []


def test_policy_validates_its_fields() -> None:
    with pytest.raises(aiocosmos.ConfigurationError, match="max_throttle_wait"):
        RetryPolicy(max_throttle_wait=-1)
