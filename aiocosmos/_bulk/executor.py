"""The bulk executor (how it works: the package docstring, ``aiocosmos/_bulk/__init__.py``)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from .._feeds.epk import effective_partition_key
from .._feeds.routing import SPLIT_SUB_STATUSES, RoutingMap
from .._wire import codec
from .._wire.pipeline import Pipeline
from ..exceptions import (
    ConnectError,
    CosmosError,
    Gone,
    HttpResponseError,
    RequestEntityTooLarge,
    TooManyRequests,
    TransportError,
    ValidationError,
)
from .operations import BULK_HEADERS, encode_operation, source_entries, split_partition_key_option
from .ranges import MAX_BULK_BYTES, MAX_BULK_OPERATIONS, PendingOperation, RangeGauges, RangeQueue, watch_ranges
from .replay import needs_settling, safe_to_replay, settle_replay
from .results import (
    NAME_CACHE_STALE,
    NOT_APPLIED_STATUSES,
    RESPONSE_SIZE_EXCEEDED,
    SEND_AGAIN_AT_ONCE,
    BulkOperationResult,
    BulkStats,
    BulkSummary,
    moved_error,
    operation_error,
    operation_results,
    operation_status,
    record_answer,
)
from .sends import bulk_pipeline, send_batch

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["BulkExecution", "BulkOperationResult", "BulkStats", "BulkSummary", "MAX_BULK_OPERATIONS", "MAX_BULK_BYTES",
           "BULK_HEADERS"]

_log = logging.getLogger("aiocosmos.bulk")

FLUSH_INTERVAL: Final = 0.1
MAX_CONCURRENCY_PER_RANGE: Final = 50
MAX_PENDING: Final = 10_000
MAX_OPERATION_RETRIES: Final = 100
"""Times one operation is sent again after throttles or not-applied failures before it fails."""

_PKRANGE: Final = "x-ms-documentdb-partitionkeyrangeid"


class BulkExecution:
    """``async for result in container.bulk(operations)``: one result per operation, in completion
    order. ``stats`` has live counters. Leaving the loop early: use ``async with`` (or ``aclose()``),
    which cancels what is still in flight (those operations may or may not have been applied)."""

    def __init__(
        self,
        container: ContainerProxy,
        operations: Iterable[Any] | AsyncIterable[Any],
        *,
        max_concurrency_per_range: int = MAX_CONCURRENCY_PER_RANGE,
        max_pending: int = MAX_PENDING,
        flush_interval: float = FLUSH_INTERVAL,
        max_operation_retries: int = MAX_OPERATION_RETRIES,
        timeout: float | None = None,
    ) -> None:
        for name, value in (("max_concurrency_per_range", max_concurrency_per_range), ("max_pending", max_pending),
                            ("max_operation_retries", max_operation_retries)):
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if "retries" in name else 1):
                raise ValidationError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(flush_interval, int | float) or not flush_interval >= 0:
            raise ValidationError(f"flush_interval must be >= 0 seconds, got {flush_interval!r}")
        if isinstance(operations, str | bytes | Mapping) or not isinstance(operations, Iterable | AsyncIterable):
            raise ValidationError(
                f"operations must be an iterable of operation tuples, got {type(operations).__name__}")
        self._container = container
        self._source = operations
        self._max_limit = max_concurrency_per_range
        self._max_pending = max_pending
        self._flush_interval = float(flush_interval)
        self._max_retries = max_operation_retries
        self._timeout = timeout
        self.stats = BulkStats()
        self._results: asyncio.Queue[BulkOperationResult | None] = asyncio.Queue()
        self._crash: BaseException | None = None
        self._ranges: dict[str, RangeQueue] = {}
        self._map: RoutingMap | None = None
        self._mins: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._source_done = False
        self._source_error: BaseException | None = None
        self._outstanding = 0
        self._capacity: asyncio.Semaphore | None = None
        self._started = False
        self._closed = False
        self._reroute_lock: asyncio.Lock | None = None
        self._rereads = 0  # re-reads of the ranges finished (after splits)
        self._reread_error: CosmosError | None = None  # how the last one failed (None: it succeeded)
        self._pipeline: Pipeline | None = None

    async def __aenter__(self) -> BulkExecution:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[BulkOperationResult]:
        if self._started:
            raise RuntimeError("a BulkExecution can be iterated once")
        self._started = True
        return self._run()

    async def aclose(self) -> None:
        """Stop: cancel the reader, the dispatchers and every request in flight."""
        self._closed = True
        self._gauges: RangeGauges | None = None  # no longer observed (telemetry's queue and window gauges)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    # -- the driver ----------------------------------------------------------------------------

    async def _run(self) -> AsyncIterator[BulkOperationResult]:
        container = self._container
        core = container._core
        self._capacity = asyncio.Semaphore(self._max_pending)
        self._reroute_lock = asyncio.Lock()
        try:
            definition = core.partition_keys.get(container._link)
            if definition is None:
                definition, _ = await container._load_definition(self._timeout)
            pipeline = core.pipeline
            if pipeline is None:
                pipeline = await core._open()  # raises ClientClosedError once closed
            self._pipeline = bulk_pipeline(pipeline)
            self._gauges = watch_ranges(core.telemetry, self._ranges, container._link)
            self._set_map(await core.routing_maps.get(container._link, container._path + "/pkranges",
                                                      timeout=self._timeout))
            self._spawn(self._read_source(definition))
            while True:
                if self._crash is not None:
                    raise self._crash
                if self._source_done and self._outstanding == 0:
                    break
                result = await self._results.get()
                if result is None:  # a wake-up
                    continue
                self._outstanding -= 1
                self._capacity.release()
                yield result
            if self._source_error is not None:
                raise self._source_error
        finally:
            await self.aclose()

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # a bug: never leave results missing silently
            _log.error("bulk: internal task failed", exc_info=task.exception())
            self._crash = task.exception()
            self._results.put_nowait(None)  # wakes the driver

    async def _read_source(self, definition: Any) -> None:
        assert self._capacity is not None
        index = 0
        try:
            # Capacity is taken before the next operation is pulled: at most max_pending are held.
            iterator = aiter(source_entries(self._source))
            while True:
                await self._capacity.acquire()
                try:
                    entry = await anext(iterator)
                except StopAsyncIteration:
                    break
                self._admit(index, entry, definition)
                index += 1
        except Exception as exc:  # noqa: BLE001 - the caller's iterable failed: finish what was read, then raise it
            self._source_error = exc
        finally:
            self._source_done = True
            for r in self._ranges.values():
                r.wake.set()
            self._results.put_nowait(None)  # wakes the driver

    def _admit(self, index: int, entry: object, definition: Any) -> None:
        self._outstanding += 1
        self.stats.read += 1
        operation, partition_key, has_key = split_partition_key_option(entry)
        kind = str(entry[0]).capitalize() if isinstance(entry, tuple | list) and entry else "?"
        result = BulkOperationResult(index, entry, kind, None, None)
        try:
            wire = encode_operation(operation)
            result.operation_type = wire["operationType"]
            result.item_id = str(wire["id"]) if "id" in wire else str(wire["resourceBody"]["id"])
            if has_key:
                header = definition.header_for(partition_key)
            elif wire["operationType"] in ("Create", "Upsert", "Replace"):
                header = definition.header_from_document(wire["resourceBody"])
            else:
                raise ValidationError(f"{kind.lower()!r} in bulk needs the option {{'partition_key': ...}}")
            result.partition_key = header
            components = codec.loads(header)
            wire["partitionKey"] = header
            data = codec.dumps(wire, what="operation")
            if len(data) > codec.MAX_DOCUMENT_BYTES + 1024:
                raise ValidationError(f"the operation is {len(data)} bytes as JSON; an item is at most 2 MB")
            epk = effective_partition_key(components, definition.kind, definition.version)
        except ValidationError as exc:
            result.error = ValidationError(f"bulk operation {index}: {exc}")
            result.status_code = 400
            self._finish(result)
            return
        assert self._pipeline is not None
        safe = safe_to_replay(wire, self._pipeline.policy.replay_idempotent_writes)
        self._route(PendingOperation(result, data, epk, safe))

    # -- routing -------------------------------------------------------------------------------

    def _set_map(self, routing_map: RoutingMap) -> None:
        self._map = routing_map
        self._mins = [r.min_inclusive for r in routing_map.ranges]

    def _route(self, op: PendingOperation) -> None:
        if self._closed:
            return
        assert self._map is not None
        position = max(0, bisect.bisect_right(self._mins, op.epk) - 1)
        pkrange = self._map.ranges[position]
        r = self._ranges.get(pkrange.id)
        if r is None or r.dead:
            r = self._ranges[pkrange.id] = RangeQueue(pkrange.id)
            r.task = self._spawn(self._dispatch(r))
        if not r.buffer:
            r.first_at = asyncio.get_running_loop().time()
        r.buffer.append(op)
        r.buffered_bytes += len(op.wire)
        if len(r.buffer) == 1 or r.full():
            r.wake.set()

    def _later(self, delay: float, op: PendingOperation) -> None:
        if delay <= 0:
            self._route(op)
            return
        loop = asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            self._timers.discard(holder[0])
            self._route(op)

        handle = loop.call_later(delay, fire)
        holder.append(handle)
        self._timers.add(handle)

    async def _reroute(self, stale: RoutingMap | None) -> CosmosError | None:
        """After a split or merge: read the ranges again (once for everyone; the pipeline retries it
        under the client's policy) and move the operations buffered for ranges that are gone. If the
        read fails, its error is returned, also to those who waited for it: they fail their operations."""
        assert self._reroute_lock is not None
        ticket = self._rereads
        async with self._reroute_lock:
            if stale is not self._map:
                return None  # someone already refreshed
            if self._rereads != ticket and self._reread_error is not None:
                return self._reread_error  # the read finished while we waited failed: do not repeat it at once
            container = self._container
            self.stats.splits += 1
            try:
                fresh = await container._core.routing_maps.get(container._link, container._path + "/pkranges",
                                                               stale=stale, timeout=self._timeout)
            except CosmosError as exc:
                _log.warning("bulk: re-reading the partition key ranges after a split failed: %s", exc,
                             extra={"cosmos_event": "bulk_reroute_failed", "cosmos_error": type(exc).__name__})
                self._rereads += 1
                self._reread_error = exc
                return exc
            self._rereads += 1
            self._reread_error = None
            self._set_map(fresh)
            live = {r.id for r in fresh.ranges}
            for range_id, r in list(self._ranges.items()):
                if range_id in live:
                    continue
                r.dead = True
                del self._ranges[range_id]
                moved = list(r.buffer)
                r.buffer.clear()
                r.buffered_bytes = 0
                r.wake.set()
                for op in moved:
                    self._route(op)
            return None

    # -- per range -----------------------------------------------------------------------------

    async def _dispatch(self, r: RangeQueue) -> None:
        loop = asyncio.get_running_loop()
        while not r.dead:
            if not r.buffer:
                r.wake.clear()
                await r.wake.wait()
                continue
            now = loop.time()
            if not r.full() and not self._source_done:
                remaining = r.first_at + self._flush_interval - now
                if remaining > 0:
                    r.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(r.wake.wait(), remaining)
                    continue
            if now < r.paused_until:
                await asyncio.sleep(r.paused_until - now)
                continue
            if r.in_flight >= r.limit:
                r.wake.clear()
                await r.wake.wait()
                continue
            batch = r.take()
            r.in_flight += 1
            self._spawn(self._send(r, batch, r.epoch))

    async def _send(self, r: RangeQueue, batch: list[PendingOperation], epoch: int) -> None:
        container = self._container
        core = container._core
        stale = self._map
        loop = asyncio.get_running_loop()
        assert self._pipeline is not None
        headers = dict(BULK_HEADERS)
        headers[_PKRANGE] = r.id
        session = core.session_tokens.get(container._link)
        if session is not None:
            headers["x-ms-session-token"] = session
        body = b"[" + b",".join(op.wire for op in batch) + b"]"
        for op in batch:
            op.result.attempts += 1
        self.stats.requests += 1
        throttled_after: float | None = None
        refused = False  # 413/3402: not an answered request, for the window and the cap
        try:
            try:
                (status, response_headers, data), sent = await send_batch(
                    self._pipeline, core, batch, container._docs_path, container._link, headers, body, self._timeout)
            except TooManyRequests as exc:
                self.stats.throttles += 1
                throttled_after = exc.retry_after if exc.retry_after is not None else 0.1
                for op in batch:
                    self._retry(op, exc, 0.0)  # the range is paused; the ops wait in its buffer
                return
            except Gone as exc:
                failure = await self._reroute(stale) if exc.sub_status in SPLIT_SUB_STATUSES else None
                if failure is not None:
                    self._fail_all(batch, moved_error(exc, failure))
                    return
                if exc.sub_status in SPLIT_SUB_STATUSES or exc.sub_status == NAME_CACHE_STALE:
                    for op in batch:
                        self._retry(op, exc, 0.0)
                    return
                self._fail_all(batch, exc)
                return
            except RequestEntityTooLarge as exc:
                # 413/3402: the answer would exceed the service's 4 MB response limit; nothing was
                # applied. Send the operations again at once, in requests half this size.
                if exc.sub_status == RESPONSE_SIZE_EXCEEDED and len(batch) > 1:
                    refused = True
                    r.shrink(len(batch))
                    for op in batch:
                        self._retry(op, exc, 0.0)
                    return
                self._fail_all(batch, exc)
                return
            except ConnectError as exc:  # never sent
                for op in batch:
                    self._retry(op, exc, 0.1)
                return
            except (TransportError, HttpResponseError) as exc:
                if exc.may_have_been_applied:
                    for op in batch:
                        if op.safe_to_replay:
                            op.result.replayed = True
                            self._retry(op, exc, 0.05)
                        else:
                            self._fail(op, exc)
                    return
                self._fail_all(batch, exc)
                return
            except CosmosError as exc:  # e.g. the operation's deadline
                self._fail_all(batch, exc)
                return
            core.session_tokens.capture(container._link, response_headers.get("x-ms-session-token"))
            parsed = operation_results(codec.loads(data) if data else None, len(batch), status, response_headers, data)
            if isinstance(parsed, HttpResponseError):
                for op in batch:
                    op.result.note(sent, None)
                self._fail_all(batch, parsed)
                return
            reread: CosmosError | None = None
            rerouted = False
            for op, raw in zip(batch, parsed, strict=True):
                op.result.note(sent, raw)
                code, sub = operation_status(raw)
                charge = raw.get("requestCharge")
                if isinstance(charge, int | float):
                    op.result.request_charge += float(charge)
                    self.stats.request_charge += float(charge)
                if code == 429:
                    self.stats.throttles += 1
                    wait = raw.get("retryAfterMilliseconds")
                    delay = wait / 1000.0 if isinstance(wait, int | float) and wait > 0 else 0.1
                    throttled_after = max(throttled_after or 0.0, delay)
                    self._retry(op, operation_error(raw, code, sub), delay)
                elif code == 410 and sub in SPLIT_SUB_STATUSES:
                    if not rerouted:  # one re-read per response, however many of its operations moved
                        reread, rerouted = await self._reroute(stale), True
                    error = operation_error(raw, code, sub)
                    if reread is not None:
                        self._fail(op, moved_error(error, reread))
                    else:
                        self._retry(op, error, 0.0)
                elif code in NOT_APPLIED_STATUSES or (code, sub) in SEND_AGAIN_AT_ONCE:
                    self._retry(op, operation_error(raw, code, sub), 0.05 if code in NOT_APPLIED_STATUSES else 0.0)
                elif needs_settling(op, code, sub):  # a replayed create answered 409, delete 404
                    self._spawn(self._settle(op, operation_error(raw, code, sub)))
                else:
                    record_answer(op.result, raw, code, sub)
                    self._finish(op.result)
            charge_header = response_headers.get("x-ms-request-charge")
            if charge_header and not any(isinstance(raw.get("requestCharge"), int | float) for raw in parsed):
                self.stats.request_charge += float(charge_header)
        finally:
            r.in_flight -= 1
            if throttled_after is not None:
                r.on_throttle(epoch, throttled_after, loop.time())
            elif not r.dead and not refused:
                r.on_success(self._max_limit, len(batch))
            r.wake.set()

    # -- outcomes ------------------------------------------------------------------------------

    def _retry(self, op: PendingOperation, error: CosmosError, delay: float) -> None:
        if op.retries >= self._max_retries:
            self._fail(op, error)
            return
        op.retries += 1
        self.stats.retries += 1
        self._later(delay, op)

    async def _settle(self, op: PendingOperation, error: HttpResponseError) -> None:
        await settle_replay(self._container, op, error, self._timeout)
        self._finish(op.result)

    def _fail(self, op: PendingOperation, error: CosmosError) -> None:
        result = op.result
        result.error = error
        if isinstance(error, HttpResponseError):
            result.status_code, result.sub_status = error.status_code, error.sub_status
        self._finish(result)

    def _fail_all(self, batch: list[PendingOperation], error: CosmosError) -> None:
        for op in batch:
            self._fail(op, error)

    def _finish(self, result: BulkOperationResult) -> None:
        if result.error is None:
            self.stats.succeeded += 1
        else:
            self.stats.failed += 1
        self._results.put_nowait(result)
