"""What a failed operation raises: the last error stamped with the attempts, the total wait, the
activity ids, the regions contacted and whether a write was replayed; or the deadline's error."""

from __future__ import annotations

from typing import TypeVar

from ..exceptions import HttpResponseError, OperationTimeout, TransportError
from .retry import RetryState

__all__ = ["deadline_error", "describe", "finish", "with_regions"]

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
    if replayed:
        error.replayed = True
    return error


def deadline_error(
    attempts: int, state: RetryState | None, activity_ids: list[str], replayed: bool = False
) -> OperationTimeout:
    error = OperationTimeout(
        "the operation's deadline passed before it could succeed",
        attempts=attempts,
        total_wait=state.total_wait if state else 0.0,
        activity_ids=tuple(activity_ids),
    )
    if replayed:
        error.replayed = True
    return error
