"""One owned lease at work: read its change feed, hand the changes to the handler, checkpoint, renew.

Per lease, pages are handled one at a time and in feed order, so the changes of one partition key
reach the handler in the order they were made. A page is checkpointed (its etag written to the
lease) after the handler returns (automatic mode) or when the handler calls ``ctx.checkpoint()``
(manual mode). A handler that raises gets the same page again after a backoff (1 s, 2 s, 4 s, … up
to the maximum), nothing is checkpointed meanwhile, and every failure goes to the error callback.

When the lease's range is split or merged, the worker replaces its lease (``PartitionSynchronizerCore``):
a v0 lease by one v0 lease per child range, or (merge) by an EPK lease over its old range; an EPK
lease by EPK leases over its parts, in the parent's layout (.NET or Java). Each new lease starts from
the parent's last safe position (every change before it handled and checkpointed); the parent is
deleted after its children exist.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from .._feeds.routing import FeedRange, PartitionKeyRange
from .._wire.clock import Clock
from .balancing import LeaseTimings
from .feed import FeedRangeGone, LeaseFeed
from .leases import DOTNET, Lease
from .stats import ProcessorStats
from .store import LeaseLost, LeaseStore

__all__ = ["ChangeFeedContext", "ErrorHandler", "Handler", "Worker"]

log = logging.getLogger("aiocosmos.processor")


class ChangeFeedContext:
    """What the handler gets with each batch: the lease it came from and ``checkpoint()``."""

    __slots__ = ("_worker", "etag", "feed_range", "headers", "lease_token")

    def __init__(self, worker: Worker, etag: str | None, headers: Mapping[str, str]) -> None:
        self._worker = worker
        self.lease_token = worker.lease.token
        self.feed_range: FeedRange | None = worker.lease.feed_range
        self.etag = etag
        """The change feed position right after this batch."""
        self.headers = headers

    @property
    def request_charge(self) -> float:
        """The request units of the read that returned these changes."""
        raw = self.headers.get("x-ms-request-charge")
        return float(raw) if raw else 0.0

    async def checkpoint(self) -> None:
        """Record this batch as handled now (in manual mode the only way the lease moves on).
        Raises LeaseLost if this host no longer owns the lease."""
        if self.etag is not None:
            await self._worker.checkpoint(self.etag)


class Handler(Protocol):
    def __call__(self, changes: list[dict[str, Any]], context: ChangeFeedContext) -> Awaitable[None]: ...


ErrorHandler = Callable[[str, BaseException], "Awaitable[None] | None"]


class Worker:
    """The work on one lease, owned by this host, until it is lost, replaced, or the host stops."""

    def __init__(
        self,
        lease: Lease,
        *,
        owner: str,
        store: LeaseStore,
        feed: LeaseFeed,
        handler: Handler,
        error_handler: ErrorHandler | None,
        timings: LeaseTimings,
        manual_checkpoint: bool,
        retry_delays: tuple[float, float],
        clock: Clock,
        stats: ProcessorStats,
        adopt: Callable[[list[Lease]], None],
    ) -> None:
        self.lease = lease
        self._owner = owner
        self._store = store
        self._feed = feed
        self._handler = handler
        self._error_handler = error_handler
        self._timings = timings
        self._manual = manual_checkpoint
        self._retry_delays = retry_delays
        self._clock = clock
        self._stats = stats
        self._adopt = adopt
        self._write = asyncio.Lock()
        self.safe_etag = lease.etag_continuation
        """A position every change before which has been handled and checkpointed (or there were none)."""
        self.replaced = False
        self._pending = False
        """Manual mode: a batch was delivered and not checkpointed yet."""

    async def checkpoint(self, etag: str) -> None:
        async with self._write:
            self.lease = await self._store.checkpoint(self.lease, etag)
        self.safe_etag = etag
        self._pending = False
        self._stats.checkpoints += 1

    async def run(self) -> None:
        """Work until the lease is lost or replaced (returns) or the task is cancelled."""
        renewer = asyncio.ensure_future(self._renew_forever())
        reader: asyncio.Future[None] | None = None
        try:
            reader = asyncio.ensure_future(self._read_forever())
            done, _ = await asyncio.wait({renewer, reader}, return_when=asyncio.FIRST_COMPLETED)
            for task in (reader, renewer):
                if task not in done:
                    task.cancel()
            await asyncio.gather(reader, renewer, return_exceptions=True)
            for task in done:
                error = task.exception()
                if isinstance(error, LeaseLost):
                    log.info("%s: %s", self._owner, error)
                elif error is not None:
                    # A checkpoint or renewal that failed after the client's retries: the worker stops
                    # (the lease, still ours, is taken up again from its last checkpoint), and the
                    # error callback hears of it like any other failure.
                    await self._report(error)
                    raise error
        finally:
            # Also when run() itself is cancelled (stop()): neither task may outlive it.
            left: list[asyncio.Future[None]] = [t for t in (reader, renewer) if t is not None and not t.done()]
            for pending in left:
                pending.cancel()
            if left:
                await asyncio.gather(*left, return_exceptions=True)

    async def _renew_forever(self) -> None:
        while True:
            await self._clock.sleep(self._timings.renew_interval)
            async with self._write:
                self.lease = await self._store.renew(self.lease)

    async def _report(self, error: BaseException) -> None:
        if self._error_handler is None:
            log.warning("lease %s: %s", self.lease.token, error, exc_info=error)
            return
        try:
            outcome = self._error_handler(self.lease.token, error)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # the error callback must not stop the processor
            log.exception("the change feed processor's error callback raised")

    def _delay(self, attempt: int) -> float:
        first, most = self._retry_delays
        return float(min(most, first * 2 ** min(attempt, 30)))

    async def _read_forever(self) -> None:
        etag = self.safe_etag
        failures = 0
        while True:
            try:
                page = await self._feed.read(self.lease, etag)
            except FeedRangeGone as gone:
                await self._replace(gone.ranges)
                return
            except LeaseLost:
                raise
            except Exception as error:  # noqa: BLE001 - a read that failed after the client's own retries
                self._stats.read_errors += 1
                await self._report(error)
                await self._clock.sleep(self._delay(failures))
                failures += 1
                continue
            failures = 0
            self._stats.observe(self.lease.token, page.items, page.headers)
            if not page.items:
                if page.etag is not None and page.etag != etag:
                    etag = page.etag
                    if not self._pending:
                        if self.lease.etag_continuation is None:
                            await self.checkpoint(etag)  # pin "Now" (or a start time) on the lease
                        self.safe_etag = etag
                    if not page.not_modified:
                        continue  # an empty page that moved the position: read on from there
                await self._clock.sleep(self._timings.poll_interval)
                continue
            await self._deliver(page.items, page.etag, page.headers)
            if page.etag is not None:
                etag = page.etag
                if not self._manual:
                    await self.checkpoint(etag)

    async def _deliver(self, items: list[dict[str, Any]], etag: str | None, headers: Mapping[str, str]) -> None:
        attempt = 0
        while True:
            context = ChangeFeedContext(self, etag, headers)
            try:
                await self._handler(items, context)
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                raise
            except Exception as error:  # noqa: BLE001 - any handler failure is retried
                self._stats.handler_errors += 1
                await self._report(error)
                await self._clock.sleep(self._delay(attempt))
                attempt += 1
                continue
            self._stats.changes += len(items)
            if self._manual and context.etag != self.safe_etag:
                self._pending = True
            return

    async def _replace(self, ranges: list[PartitionKeyRange]) -> None:
        """Replace this lease by leases over ``ranges`` (its range was split or merged)."""
        lease = self.lease
        interval = lease.feed_range.normalized() if lease.feed_range is not None else None
        if interval is None:
            # A v0 lease without FeedRange (written by an old SDK): it covered what its children cover.
            interval = FeedRange(min(r.min_inclusive for r in ranges), max(r.max_exclusive for r in ranges))
        position = self.safe_etag
        mode = lease.mode or "Incremental Feed"
        if lease.is_epk and len(ranges) == 1:  # pragma: no cover - read() redirects such a lease itself
            return
        created: list[Lease] = []
        for part in ranges:
            if not lease.is_epk and len(ranges) > 1:
                token, child_range, epk = part.id, part.feed_range, False
            else:  # a merge of a v0 lease, or a split of an EPK lease: EPK leases over the old interval
                low, high = max(interval.min, part.min_inclusive), min(interval.max, part.max_exclusive)
                token, child_range, epk = f"{low}-{high}", FeedRange(low, high), True
            # A child keeps its parent's layout (a Java EPK lease set stays readable by Java hosts).
            child = await self._store.create_if_absent(
                token, child_range, lease.child_continuation(child_range, position), mode, epk=epk,
                form=lease.form if epk else DOTNET)
            if child is None:  # created by an earlier attempt (this host or another crashed midway)
                child = await self._store.get(token)
            if child is not None:
                created.append(child)
        await self._store.delete(lease)
        self.replaced = True
        self._stats.splits += 1
        log.info("lease %s replaced by %s", lease.token, [c.token for c in created])
        self._adopt(created)
