"""What a failed operation raises: the last error stamped with the attempts, the total wait, the
activity ids, the regions contacted and whether a write was replayed; or the deadline's error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from multidict import CIMultiDict, CIMultiDictProxy

from ..diagnostics import ATTEMPTS_HEADER, encode_failures, failure_record
from ..exceptions import HttpResponseError, OperationTimeout, TransportError
from .clock import Clock
from .results import REPLAYED_HEADER
from .retry import RetryState

__all__ = ["annotated", "deadline_error", "describe", "finish", "note", "with_regions"]

_E = TypeVar("_E", bound=HttpResponseError | TransportError | OperationTimeout)


def with_regions(error: _E, contacted: list[str]) -> _E:
    error.regions = tuple(contacted)
    return error


def describe(error: HttpResponseError | TransportError) -> str:
    if isinstance(error, HttpResponseError):
        return f"{error.status_code}/{error.sub_status}"
    return type(error).__name__


def finish(
    error: HttpResponseError | TransportError, attempts: int, state: RetryState, activity_ids: list[str],
    replayed: bool = False,
) -> HttpResponseError | TransportError:
    error.attempts = attempts
    error.total_wait = state.total_wait
    error.activity_ids = tuple(activity_ids)
    error.failed_attempts = tuple(state.failed)
    if replayed:
        error.replayed = True
    return error


def note(state: RetryState | None, region: str | None, error: HttpResponseError | TransportError, wait: float,
         clock: Clock) -> RetryState:
    """Record a failed attempt that is followed by another one (``wait``: before it; -1.0: a failover)."""
    if state is None:
        state = RetryState()
    state.failed.append(failure_record(region, error, wait, clock.monotonic()))
    return state


def annotated(headers: Mapping[str, str], state: RetryState | None, replayed: bool) -> CIMultiDictProxy[str]:
    """A success after failed attempts: a copy of its headers saying so (failure paths only)."""
    copy = CIMultiDict(headers)
    if replayed:
        copy[REPLAYED_HEADER] = "true"
    if state is not None and state.failed:
        copy[ATTEMPTS_HEADER] = encode_failures(state.failed)
    return CIMultiDictProxy(copy)


def deadline_error(
    attempts: int, state: RetryState | None, activity_ids: list[str], replayed: bool = False
) -> OperationTimeout:
    error = OperationTimeout(
        "the operation's deadline passed before it could succeed",
        attempts=attempts,
        total_wait=state.total_wait if state else 0.0,
        activity_ids=tuple(activity_ids),
    )
    if state is not None:
        error.failed_attempts = tuple(state.failed)
    if replayed:
        error.replayed = True
    return error
