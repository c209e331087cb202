"""The change feed processor: hosts share a container's change feed through a lease container.

``start()`` names the lease set (``{processor}{account host}_{database rid}_{container rid}``),
creates the leases once per lease set (one v0 lease per partition key range, under the
``.lock``/``.info`` protocol), then every acquire interval lists the leases and takes its share
(:mod:`.balancing`); each lease it takes gets a :class:`~.worker.Worker`. ``stop()`` cancels the
workers and releases their leases (``Owner`` = null), so another host can take them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._feeds.change_feed_state import CHANGE_FEED_MODES, StartPoint, parse_start_time
from .._telemetry.gauges import LEASE_TOKEN, PROCESSOR_LAG, PROCESSOR_LEASES, PROCESSOR_NAME, Points, target_attributes
from .._wire.clock import Clock, SystemClock
from ..exceptions import ValidationError
from .balancing import LeaseTimings, leases_to_take
from .feed import LeaseFeed
from .leases import MODES, Lease, lease_prefix, mode_of
from .stats import ProcessorStats, report_line
from .store import LeaseLost, LeaseStore
from .worker import ErrorHandler, Handler, Worker

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["ChangeFeedProcessor"]

log = logging.getLogger("aiocosmos.processor")


class ChangeFeedProcessor:
    """Deliver a container's changes to ``handler`` from several hosts at once, at least once.

    ::

        async def handle(changes: list[dict], ctx: aiocosmos.ChangeFeedContext) -> None: ...

        processor = aiocosmos.ChangeFeedProcessor(orders, "projections", handle, lease_container=leases,
                                                  start_time="Beginning")
        async with processor:          # start(): take a share of the leases; stop(): release them
            await stop_event.wait()

    Hosts that use the same ``processor_name``, monitored container and lease container share the
    work; each needs its own ``instance_name`` (default: host name, process id and a random suffix).
    ``start_time`` (``"Beginning"``, ``"Now"`` (default) or an aware datetime) applies to leases
    that have no checkpoint yet; saved leases resume from their checkpoint. With
    ``checkpoint="manual"`` the lease moves on only when the handler calls ``ctx.checkpoint()``.
    ``processor.stats`` holds its counters; with ``stats_interval`` (seconds) they are also logged at
    INFO on the ``aiocosmos.processor`` logger that often. ``await processor.run_until_signal()`` runs
    it until SIGTERM or SIGINT, then stops it (leases released).
    """

    def __init__(
        self,
        container: ContainerProxy,
        processor_name: str,
        handler: Handler,
        *,
        lease_container: ContainerProxy,
        instance_name: str | None = None,
        start_time: object = None,
        mode: str = "LatestVersion",
        max_item_count: int | None = None,
        checkpoint: str = "auto",
        error_handler: ErrorHandler | None = None,
        acquire_interval: float = 13.0,
        renew_interval: float = 17.0,
        expiration_interval: float = 60.0,
        poll_interval: float = 5.0,
        min_leases: int = 0,
        max_leases: int = 0,
        handler_retry: tuple[float, float] = (1.0, 30.0),
        stats_interval: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(processor_name, str) or not processor_name:
            raise ValidationError(f"processor_name must be a non-empty string, got {processor_name!r}")
        if mode not in CHANGE_FEED_MODES:
            raise ValidationError(f"mode must be one of {list(CHANGE_FEED_MODES)}, got {mode!r}")
        if checkpoint not in ("auto", "manual"):
            raise ValidationError(f"checkpoint must be 'auto' or 'manual', got {checkpoint!r}")
        if not callable(handler):
            raise ValidationError("handler must be an async function (changes, context) -> None")
        if max_item_count is not None and (not isinstance(max_item_count, int) or max_item_count < 1):
            raise ValidationError(f"max_item_count must be a positive int, got {max_item_count!r}")
        if stats_interval is not None and not stats_interval > 0:
            raise ValidationError(f"stats_interval must be a positive number of seconds, got {stats_interval!r}")
        self.start_point: StartPoint = parse_start_time(start_time)
        if mode == "AllVersionsAndDeletes" and self.start_point.kind != "Now":
            raise ValidationError("mode 'AllVersionsAndDeletes' starts from 'Now' (or the saved leases)")
        self.container = container
        self.processor_name = processor_name
        self.instance_name = instance_name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.mode = mode
        self.timings = LeaseTimings(acquire_interval, renew_interval, expiration_interval, poll_interval,
                                    min_leases, max_leases)
        self._lease_container = lease_container
        self._handler = handler
        self._error_handler = error_handler
        self._manual = checkpoint == "manual"
        self._retry = handler_retry
        self._clock: Clock = clock or SystemClock()
        self._feed = LeaseFeed(container, mode=mode, start=self.start_point, max_items=max_item_count)
        self._store: LeaseStore | None = None
        self._workers: dict[str, tuple[Worker, asyncio.Task[None]]] = {}
        self._balancer: asyncio.Task[None] | None = None
        self._adopting: set[asyncio.Task[None]] = set()
        self._stats = ProcessorStats()
        self._stats_interval = stats_interval
        self._reporter: asyncio.Task[None] | None = None
        self._gauge_attributes: dict[str, Any] = {}

    # -- public ----------------------------------------------------------------------------------

    @property
    def owned_leases(self) -> list[str]:
        """The tokens of the leases this host is working on now."""
        return sorted(self._workers)

    @property
    def lease_request_charge(self) -> float:
        """Request units spent on the lease container since the processor started."""
        return self._store.request_charge if self._store is not None else 0.0

    @property
    def stats(self) -> ProcessorStats:
        """The counters (changes delivered, errors, leases owned, lag, lease RU), as of now."""
        self._stats.leases_owned = len(self._workers)
        self._stats.lease_request_charge = self.lease_request_charge
        return self._stats

    async def start(self) -> None:
        """Open the lease store, create the missing leases, take this host's share and start processing.

        Returns once the first leases are acquired; delivery and balancing then run in the background
        until :meth:`stop`. Raises ``RuntimeError`` if the processor is already started."""
        if self._balancer is not None:
            raise RuntimeError("the change feed processor is already started")
        store = LeaseStore(self._lease_container, await self._prefix(), self._clock)
        await store.open()
        self._store = store
        await self._bootstrap(store)
        await self._balance(store)
        self._balancer = asyncio.ensure_future(self._balance_forever(store))
        telemetry = self.container._core.telemetry
        if telemetry is not None and not self._gauge_attributes:  # observed while this processor lives
            self._gauge_attributes = {**target_attributes(telemetry.common, self.container._link),
                                      PROCESSOR_NAME: self.processor_name}
            telemetry.gauges.watch(PROCESSOR_LEASES, self._lease_points)
            telemetry.gauges.watch(PROCESSOR_LAG, self._lag_points)
        if self._stats_interval is not None:
            self._reporter = asyncio.ensure_future(self._report_forever(self._stats_interval))

    def _lease_points(self) -> Points:
        return ((len(self._workers), self._gauge_attributes),)

    def _lag_points(self) -> Points:
        return [(lag, {**self._gauge_attributes, LEASE_TOKEN: token}) for token, lag in self._stats.lags.items()]

    async def stop(self) -> None:
        """Stop every worker and release its lease; returns when nothing is left running."""
        balancer, self._balancer = self._balancer, None
        reporter, self._reporter = self._reporter, None
        for background in (balancer, reporter):
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
        adopting = list(self._adopting)
        for pending in adopting:
            pending.cancel()
        await asyncio.gather(*adopting, return_exceptions=True)
        workers = list(self._workers.values())
        for _, task in workers:
            task.cancel()
        await asyncio.gather(*(task for _, task in workers), return_exceptions=True)
        self._workers.clear()
        if self._store is not None:
            for worker, _ in workers:
                if not worker.replaced:
                    with contextlib.suppress(LeaseLost, Exception):
                        await self._store.release(worker.lease)
        self._stats.lags.clear()

    async def run_until_signal(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> int:
        """Start, run until one of ``signals`` arrives, then stop (the leases are released).

        Returns the signal's number (a CLI may exit with 0, or 128 + it). The handlers are set with
        ``loop.add_signal_handler`` (Unix only) for the duration and removed afterwards; a second signal
        during the stop is ignored, so the leases are still released.
        """
        loop = asyncio.get_running_loop()
        received: asyncio.Future[int] = loop.create_future()

        def on_signal(number: int) -> None:
            if not received.done():
                log.info("%s: signal %d, stopping", self.instance_name, number)
                received.set_result(number)

        for number in signals:
            loop.add_signal_handler(number, on_signal, number)
        try:
            await self.start()
            try:
                return await received
            finally:
                await self.stop()
        finally:
            for number in signals:
                loop.remove_signal_handler(number)

    async def __aenter__(self) -> ChangeFeedProcessor:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return (f"ChangeFeedProcessor({self.processor_name!r}, instance={self.instance_name!r}, "
                f"leases={self.owned_leases})")

    async def _report_forever(self, interval: float) -> None:
        before: dict[str, object] | None = None
        last = self._clock.monotonic()
        while True:
            await self._clock.sleep(interval)
            now, current = self._clock.monotonic(), self.stats.as_dict()
            log.info("%s", report_line(f"{self.processor_name}/{self.instance_name}", current, before, now - last))
            before, last = current, now

    # -- set-up ----------------------------------------------------------------------------------

    async def _prefix(self) -> str:
        container = await self.container.read()
        database = await self.container.database.read()
        host = self.container._core.account_host
        return lease_prefix(self.processor_name, host, str(database.get("_rid", "")), str(container.get("_rid", "")))

    async def _bootstrap(self, store: LeaseStore) -> None:
        """Create the leases once per lease set (``BootstrapperCore``): the host that gets the lock
        creates a lease for every range that has none, then writes the ``.info`` marker."""
        wait = min(15.0, self.timings.acquire_interval)
        while not await store.is_initialized():
            if not await store.acquire_lock():
                await self._clock.sleep(wait)
                continue
            try:
                await self._create_missing_leases(store)
                await store.mark_initialized()
            finally:
                await store.release_lock()
        leases = await store.list_all()
        wanted = MODES[self.mode]
        for lease in leases:
            if lease.mode is not None and mode_of(lease.mode) != self.mode:
                raise ValidationError(
                    f"the lease set {store.prefix!r} was written for mode {lease.mode!r}, not {wanted!r}; "
                    "use another processor name (or lease container) to switch modes"
                )

    async def _create_missing_leases(self, store: LeaseStore) -> None:
        routing = await self._feed.routing_map(refresh=True)
        existing = await store.list_all()
        by_token = {lease.token for lease in existing if not lease.is_epk}
        epk_ranges = [lease.feed_range.normalized() for lease in existing if lease.is_epk and lease.feed_range]
        for pkrange in routing.ranges:
            if pkrange.id in by_token or any(pkrange.feed_range.overlaps(r) for r in epk_ranges):
                continue
            await store.create_if_absent(pkrange.id, pkrange.feed_range, None, MODES[self.mode])

    # -- balancing -------------------------------------------------------------------------------

    async def _balance_forever(self, store: LeaseStore) -> None:
        while True:
            await self._clock.sleep(self.timings.acquire_interval)
            try:
                await self._balance(store)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the next cycle tries again
                log.warning("%s: balancing failed: %s", self.instance_name, error)

    async def _balance(self, store: LeaseStore) -> None:
        leases = await store.list_all()
        now = self._clock.time()
        expiration = self.timings.expiration_interval
        me = self.instance_name
        for lease in leases:
            # Ours in the store but not running here (a restart under the same name): take it up again.
            if lease.owner == me and lease.token not in self._workers and not lease.is_expired(now, expiration):
                await self._take(store, lease)
        running = [lease for lease in leases if lease.token in self._workers]
        others = [lease for lease in leases if lease.token not in self._workers]
        # What this host runs counts as its own, whatever the listing (taken a moment ago) says.
        view = [*others, *(_as_owned(lease, me, now) for lease in running)]
        for lease in leases_to_take(view, me, now=now, expiration=expiration,
                                    min_leases=self.timings.min_leases, max_leases=self.timings.max_leases):
            await self._take(store, lease)

    async def _take(self, store: LeaseStore, lease: Lease) -> None:
        try:
            acquired = await store.acquire(lease, self.instance_name)
        except LeaseLost as lost:
            log.info("%s: could not take lease %s: %s", self.instance_name, lease.token, lost)
            return
        log.info("%s: took lease %s (from %r)", self.instance_name, lease.token, lease.owner)
        self._run(store, acquired)

    def _run(self, store: LeaseStore, lease: Lease) -> None:
        if lease.token in self._workers:
            return
        worker = Worker(
            lease, owner=self.instance_name, store=store, feed=self._feed, handler=self._handler,
            error_handler=self._error_handler, timings=self.timings, manual_checkpoint=self._manual,
            retry_delays=self._retry, clock=self._clock, stats=self._stats,
            adopt=functools.partial(self._adopt, store),
        )
        task = asyncio.ensure_future(worker.run())
        self._workers[lease.token] = (worker, task)
        task.add_done_callback(functools.partial(self._finished, lease.token))

    def _finished(self, token: str, task: asyncio.Task[None]) -> None:
        current = self._workers.get(token)
        if current is not None and current[1] is task:
            del self._workers[token]
            self._stats.lags.pop(token, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: lease %s stopped: %r", self.instance_name, token, task.exception())

    def _adopt(self, store: LeaseStore, children: list[Lease]) -> None:
        """Take the leases that replaced a split one at once (balancing spreads them later)."""
        for child in children:
            task = asyncio.ensure_future(self._take(store, child))
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)


def _as_owned(lease: Lease, me: str, now: float) -> Lease:
    return Lease(id=lease.id, token=lease.token, version=lease.version, feed_range=lease.feed_range,
                 owner=me, timestamp=now)
