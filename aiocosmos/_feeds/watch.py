"""``watch_changes``: the change feed followed for ever, riding out transient failures.

A watcher runs passes over the feed (``_Feed.pass_pages``), sleeping ``poll_interval`` on the
client's clock between them. Each request is retried by the pipeline under the client's retry policy
as usual; when a pass still fails with a *transient* error (a connection failure or timeout, 408,
429, 449, 5xx, a 410 split that did not settle, the operation's deadline), the watcher logs it at
WARNING, counts it in ``watcher.stats``, waits as its :class:`WatchBackoff` says (on the client's
clock) and starts a new pass from its last position: the position moves only when a page is handed
out, so no change is lost or delivered twice. Any other error (400, 401, 403, 404, a broken paging
protocol, a closed client) ends the watcher with that error; so do cancellation and ``aclose()``.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from .._wire.results import Page
from .._wire.retry import FailureKind, classify_status
from ..exceptions import (
    ConfigurationError,
    CosmosError,
    Gone,
    HttpResponseError,
    OperationTimeout,
    TransportError,
    ValidationError,
)
from .change_feed import _Feed, _resolve
from .change_feed_state import FeedState
from .routing import SPLIT_SUB_STATUSES

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["ChangeFeedWatch", "ChangeFeedWatcher", "WatchBackoff", "WatchStats", "is_transient", "watch_changes"]

_log = logging.getLogger("aiocosmos.changefeed")

_TRANSIENT_KINDS = frozenset({FailureKind.THROTTLED, FailureKind.NOT_APPLIED, FailureKind.AMBIGUOUS,
                              FailureKind.SESSION_LAG})


def is_transient(error: BaseException) -> bool:
    """Whether a failed read of the feed is worth trying again later (the service or the network
    was briefly unable), as opposed to an error that trying again cannot fix."""
    if isinstance(error, TransportError | OperationTimeout):
        return True
    if isinstance(error, Gone):
        return error.sub_status in SPLIT_SUB_STATUSES
    if isinstance(error, HttpResponseError):
        return classify_status(error.status_code, error.sub_status) in _TRANSIENT_KINDS
    return False


def _delay_field(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"WatchBackoff.{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class WatchBackoff:
    """How long a watcher waits after a pass failed transiently: exponential from ``base_delay``
    (doubled per failure in a row) up to ``max_delay`` seconds, with "equal jitter" (half fixed, half
    random), as the retry policy backs off. Pure: ``delay`` has no side effect."""

    base_delay: float = attrs.field(default=1.0, validator=_delay_field)
    max_delay: float = attrs.field(default=60.0, validator=_delay_field)

    def __attrs_post_init__(self) -> None:
        if self.max_delay < self.base_delay:
            raise ConfigurationError(
                f"WatchBackoff.max_delay ({self.max_delay!r}) must be >= base_delay ({self.base_delay!r})")

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` (>= 1) failed passes in a row."""
        return min(self.max_delay, self.base_delay * 2.0 ** min(max(failures, 1) - 1, 64))

    def delay(self, failures: int, jitter: float) -> float:
        """The wait after ``failures`` failed passes in a row; ``jitter`` is a number in [0, 1)."""
        ceiling = self.ceiling(failures)
        return ceiling / 2 + ceiling / 2 * jitter


@attrs.define
class WatchStats:
    """Live counters of one watcher (``watcher.stats``)."""

    pages: int = 0
    """Non-empty pages handed out."""
    passes: int = 0
    """Passes over every partition that ended caught up."""
    transient_failures: int = 0
    """Passes that failed transiently and were started again after a backoff."""
    consecutive_failures: int = 0
    """Transient failures since the last page or completed pass (0 when healthy)."""
    last_error: CosmosError | None = None
    """The last transient failure (kept after recovery)."""
    waited: float = 0.0
    """Seconds spent backing off, in total."""


class ChangeFeedWatcher(AsyncGenerator[Page[dict[str, Any]], None]):
    """What ``watch_changes`` returns: an async generator of the non-empty pages of changes, for ever.
    ``stats`` counts pages, passes and the transient failures it rode out; ``aclose()`` (or cancelling
    the consuming task) stops it without leaving a request behind."""

    __slots__ = ("_generator", "backoff", "stats")

    def __init__(self, feed: _Feed, state: FeedState, poll_interval: float, backoff: WatchBackoff,
                 jitter: Callable[[], float] = random.random) -> None:
        self.backoff = backoff
        self.stats = WatchStats()
        self._generator = _watch(feed, state, poll_interval, backoff, self.stats, jitter)

    def __aiter__(self) -> ChangeFeedWatcher:
        return self

    async def __anext__(self) -> Page[dict[str, Any]]:
        return await self._generator.__anext__()

    async def asend(self, value: None) -> Page[dict[str, Any]]:
        """Send ``None`` into the watcher and return its next page (the async generator protocol)."""
        return await self._generator.asend(value)

    async def athrow(self, typ: Any, value: Any = None, traceback: TracebackType | None = None
                     ) -> Page[dict[str, Any]]:
        """Raise an exception inside the watcher at its current wait (the async generator protocol)."""
        if value is None and traceback is None:
            return await self._generator.athrow(typ)
        return await self._generator.athrow(typ, value, traceback)  # pragma: no cover - deprecated form

    async def aclose(self) -> None:
        """Stop watching; no request is left open."""
        await self._generator.aclose()

    def __repr__(self) -> str:
        return f"ChangeFeedWatcher(stats={self.stats!r})"


ChangeFeedWatch: TypeAlias = ChangeFeedWatcher


def watch_changes(
    container: ContainerProxy,
    *,
    poll_interval: float,
    start_time: object,
    partition_key: Any,
    feed_range: Any,
    continuation: str | None,
    max_item_count: int | None,
    mode: str | None,
    timeout: float | None,
    backoff: WatchBackoff | None,
) -> ChangeFeedWatcher:
    if (not isinstance(poll_interval, int | float) or isinstance(poll_interval, bool)
            or not math.isfinite(poll_interval) or poll_interval <= 0):
        raise ValidationError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
    if backoff is not None and not isinstance(backoff, WatchBackoff):
        raise ValidationError(f"backoff must be a WatchBackoff, got {type(backoff).__name__}")
    feed, resolved_mode, scope, start, state = _resolve(
        container, start_time=start_time, partition_key=partition_key, feed_range=feed_range,
        continuation=continuation, max_item_count=max_item_count, mode=mode, timeout=timeout,
    )
    if state is None:
        state = FeedState.initial(resolved_mode, scope, start)
    return ChangeFeedWatcher(feed, state, float(poll_interval), backoff or WatchBackoff())


async def _watch(feed: _Feed, state: FeedState, poll_interval: float, backoff: WatchBackoff, stats: WatchStats,
                 jitter: Callable[[], float]) -> AsyncGenerator[Page[dict[str, Any]], None]:
    clock = feed._container._core.clock
    while True:
        pages = feed.pass_pages(state)
        failure: CosmosError | None = None
        try:
            while True:
                try:
                    page = await pages.__anext__()
                except StopAsyncIteration:
                    break
                except CosmosError as exc:
                    if not is_transient(exc):
                        raise
                    failure = exc
                    break
                stats.pages += 1
                stats.consecutive_failures = 0
                yield page  # outside the try above: what the consumer throws in is never taken for a failure
        finally:
            await pages.aclose()
        if failure is None:
            stats.passes += 1
            stats.consecutive_failures = 0
            await clock.sleep(poll_interval)
            continue
        stats.transient_failures += 1
        stats.consecutive_failures += 1
        stats.last_error = failure
        delay = backoff.delay(stats.consecutive_failures, jitter())
        stats.waited += delay
        _log.warning("watch_changes: reading the change feed failed (%d in a row, %d in all); resuming from "
                     "the last position in %.2fs: %s", stats.consecutive_failures, stats.transient_failures,
                     delay, failure, extra={"cosmos_event": "changefeed_retry", "cosmos_wait": delay,
                                            "cosmos_failures": stats.consecutive_failures,
                                            "cosmos_error": type(failure).__name__})
        await clock.sleep(delay)
