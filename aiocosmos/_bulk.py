"""The bulk executor: many independent operations, grouped by partition key range, sent as non-atomic batches.

``container.bulk(operations)`` takes any number of operations from a sync or async iterable and yields
exactly one :class:`BulkOperationResult` per operation, in completion order (``result.index`` is the
operation's position in the input). How it works (the design of the .NET, Java and JS executors):

* **Routing.** Each operation's partition-key value is hashed to its effective partition key (EPK,
  ``aiocosmos._murmurhash``: V2, V1 and hierarchical keys) and looked up in the container's cached
  routing map, so operations are grouped by *physical* partition (partition key range).
* **Batching.** Per range, operations are packed into requests of at most ``MAX_BULK_OPERATIONS`` (100)
  operations and ``MAX_BULK_BYTES`` (220,201) bytes, sent as a non-atomic batch
  (``x-ms-cosmos-batch-atomic: False``, ``x-ms-cosmos-batch-continue-on-error: True``) addressed with
  ``x-ms-documentdb-partitionkeyrangeid``, each operation carrying its own ``partitionKey``. A partial
  batch is sent once its oldest operation has waited ``flush_interval`` (0.1 s).
* **Congestion control per range.** Each range has a window of concurrent requests. It starts at 1 and
  doubles per round trip until the first throttle (slow start), then grows by one per round trip
  without throttles (additive increase), up to ``max_concurrency_per_range``; any 429 (of the request,
  or of an operation inside it) halves it, at most once per round trip, and pauses the range for the
  ``retry-after`` the service asked for. (.NET and JS adjust once a second by +1 / -min(5, dop/2);
  clocking on round trips reacts in milliseconds instead.)
* **Retries.** Throttled operations (429 inside a batch response, or the whole request throttled) and
  operations that were not applied (424, 449, connection refused) are sent again. After a 410 with
  sub-status 1002/1007/1008 (split or merge) the routing map is re-read once and the operations are
  re-routed to the new ranges.
* **Guarantees.** Every operation gets exactly one result. An operation is only sent again when the
  service did not apply it, except after an *ambiguous* failure (connection dropped after sending,
  408/5xx): then reads and unconditional upserts are sent again (an upsert of the same body leaves the
  same document), and the result says so (``result.replayed``). Every other write gets an error result
  with ``may_have_been_applied`` True, never a silent second attempt.
* **Backpressure.** At most ``max_pending`` operations are held at once (read but not yet yielded);
  the source is read only as fast as results are consumed.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import attrs

from . import _codec
from ._batch import _operation
from ._murmurhash import effective_partition_key
from ._pipeline import Pipeline
from ._routing import SPLIT_SUB_STATUSES, RoutingMap
from .exceptions import (
    ConnectError,
    CosmosError,
    Gone,
    HttpResponseError,
    TooManyRequests,
    TransportError,
    ValidationError,
    error_class_for,
)

if TYPE_CHECKING:
    from ._container import ContainerProxy

__all__ = [
    "BulkExecution",
    "BulkOperationResult",
    "BulkStats",
    "BulkSummary",
    "MAX_BULK_OPERATIONS",
    "MAX_BULK_BYTES",
    "BULK_HEADERS",
]

_log = logging.getLogger("aiocosmos")

MAX_BULK_OPERATIONS: Final = 100
MAX_BULK_BYTES: Final = 220_201
"""Bytes of operations per bulk request, as the .NET, Java and JS executors use."""
FLUSH_INTERVAL: Final = 0.1
MAX_CONCURRENCY_PER_RANGE: Final = 50
MAX_PENDING: Final = 10_000
MAX_OPERATION_RETRIES: Final = 100
"""Times one operation is sent again after throttles or not-applied failures before it fails."""

BULK_HEADERS: Final[Mapping[str, str]] = {
    "x-ms-cosmos-is-batch-request": "True",
    "x-ms-cosmos-batch-atomic": "False",
    "x-ms-cosmos-batch-continue-on-error": "True",
    "Content-Type": "application/json",
}
_PKRANGE: Final = "x-ms-documentdb-partitionkeyrangeid"
_NOT_APPLIED_STATUSES: Final = frozenset({424, 449})


class BulkOperationResult:
    """The result of one bulk operation: success with its metadata, or an error.

    ``index`` is the operation's position in the input and ``operation`` the operation as given;
    ``operation_type``, ``item_id`` and ``partition_key`` (the header JSON) describe it. ``status_code``,
    ``sub_status``, ``request_charge``, ``etag`` and ``resource_body`` are what the service answered
    (``status_code`` 0 when no answer: see ``error``). ``error`` is None on success, else a
    :class:`~aiocosmos.CosmosError` (``may_have_been_applied`` says whether a write may have happened).
    ``attempts`` counts the times it was sent; ``replayed`` is True when it was sent again after an
    ambiguous failure (only reads and unconditional upserts are).
    """

    __slots__ = ("attempts", "error", "etag", "index", "item_id", "operation", "operation_type", "partition_key",
                 "replayed", "request_charge", "resource_body", "status_code", "sub_status")

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

    @property
    def succeeded(self) -> bool:
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
        return self.succeeded + self.failed

    @property
    def elapsed(self) -> float:
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
        return self.failed == 0


class _Op:
    __slots__ = ("epk", "result", "retries", "safe_to_replay", "wire")

    def __init__(self, result: BulkOperationResult, wire: bytes, epk: str, safe_to_replay: bool) -> None:
        self.result = result
        self.wire = wire
        self.epk = epk
        self.safe_to_replay = safe_to_replay
        self.retries = 0


class _Range:
    __slots__ = ("buffer", "buffered_bytes", "dead", "epoch", "first_at", "id", "in_flight", "limit",
                 "paused_until", "slow_start", "task", "wake", "window_done")

    def __init__(self, range_id: str) -> None:
        self.id = range_id
        self.buffer: deque[_Op] = deque()
        self.buffered_bytes = 0
        self.first_at = 0.0
        self.in_flight = 0
        self.limit = 1
        self.slow_start = True
        self.window_done = 0
        self.epoch = 0
        self.paused_until = 0.0
        self.wake = asyncio.Event()
        self.dead = False
        self.task: asyncio.Task[None] | None = None

    def full(self) -> bool:
        return len(self.buffer) >= MAX_BULK_OPERATIONS or self.buffered_bytes >= MAX_BULK_BYTES

    def take(self) -> list[_Op]:
        batch: list[_Op] = []
        size = 2
        while self.buffer and len(batch) < MAX_BULK_OPERATIONS:
            op = self.buffer[0]
            if batch and size + len(op.wire) + 1 > MAX_BULK_BYTES:
                break
            self.buffer.popleft()
            self.buffered_bytes -= len(op.wire)
            size += len(op.wire) + 1
            batch.append(op)
        return batch

    def on_success(self, max_limit: int) -> None:
        """A request of this range came back without a throttle: grow the window, once per window."""
        self.window_done += 1
        if self.window_done >= self.limit:
            self.window_done = 0
            self.limit = min(max_limit, self.limit * 2 if self.slow_start else self.limit + 1)

    def on_throttle(self, epoch: int, retry_after: float, now: float) -> None:
        """A 429: halve the window (once per window: requests sent before the last cut don't count)."""
        self.slow_start = False
        if epoch == self.epoch:
            self.epoch += 1
            self.limit = max(1, self.limit // 2)
            self.window_done = 0
        self.paused_until = max(self.paused_until, now + retry_after)


def _bulk_pipeline(pipeline: Pipeline) -> Pipeline:
    """The client's pipeline without its own 429 retries: the executor sees every throttle (its
    congestion signal) and retries the operations itself. Same transport, signer and connections."""
    return pipeline.with_policy(attrs.evolve(pipeline.policy, max_throttle_retries=0))


def _split_options(entry: object) -> tuple[object, Any, bool]:
    """The operation without its ``partition_key`` option, that value, and whether one was given."""
    if isinstance(entry, tuple | list) and len(entry) == 3 and isinstance(entry[2], Mapping) \
            and "partition_key" in entry[2]:
        options = {k: v for k, v in entry[2].items() if k != "partition_key"}
        return (entry[0], entry[1], options), entry[2]["partition_key"], True
    return entry, None, False


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
        self._ranges: dict[str, _Range] = {}
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
            self._pipeline = _bulk_pipeline(pipeline)
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
            if isinstance(self._source, AsyncIterable):
                iterator = aiter(self._source)
                while True:
                    await self._capacity.acquire()
                    try:
                        entry = await anext(iterator)
                    except StopAsyncIteration:
                        break
                    self._admit(index, entry, definition)
                    index += 1
            else:
                sync_iterator = iter(self._source)
                while True:
                    await self._capacity.acquire()
                    try:
                        entry = next(sync_iterator)
                    except StopIteration:
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
        operation, partition_key, has_key = _split_options(entry)
        kind = str(entry[0]).capitalize() if isinstance(entry, tuple | list) and entry else "?"
        result = BulkOperationResult(index, entry, kind, None, None)
        try:
            wire = _operation(operation)
            result.operation_type = wire["operationType"]
            result.item_id = str(wire["id"]) if "id" in wire else str(wire["resourceBody"]["id"])
            if has_key:
                header = definition.header_for(partition_key)
            elif wire["operationType"] in ("Create", "Upsert", "Replace"):
                header = definition.header_from_document(wire["resourceBody"])
            else:
                raise ValidationError(f"{kind.lower()!r} in bulk needs the option {{'partition_key': ...}}")
            result.partition_key = header
            components = _codec.loads(header)
            wire["partitionKey"] = header
            data = _codec.dumps(wire, what="operation")
            if len(data) > _codec.MAX_DOCUMENT_BYTES + 1024:
                raise ValidationError(f"the operation is {len(data)} bytes as JSON; an item is at most 2 MB")
            epk = effective_partition_key(components, definition.kind, definition.version)
        except ValidationError as exc:
            result.error = ValidationError(f"bulk operation {index}: {exc}")
            result.status_code = 400
            self._finish(result)
            return
        safe = wire["operationType"] == "Read" or (
            wire["operationType"] == "Upsert" and "ifMatch" not in wire and "ifNoneMatch" not in wire)
        self._route(_Op(result, data, epk, safe))

    # -- routing -------------------------------------------------------------------------------

    def _set_map(self, routing_map: RoutingMap) -> None:
        self._map = routing_map
        self._mins = [r.min_inclusive for r in routing_map.ranges]

    def _route(self, op: _Op) -> None:
        if self._closed:
            return
        assert self._map is not None
        position = max(0, bisect.bisect_right(self._mins, op.epk) - 1)
        pkrange = self._map.ranges[position]
        r = self._ranges.get(pkrange.id)
        if r is None or r.dead:
            r = self._ranges[pkrange.id] = _Range(pkrange.id)
            r.task = self._spawn(self._dispatch(r))
        if not r.buffer:
            r.first_at = asyncio.get_running_loop().time()
        r.buffer.append(op)
        r.buffered_bytes += len(op.wire)
        if len(r.buffer) == 1 or r.full():
            r.wake.set()

    def _later(self, delay: float, op: _Op) -> None:
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

    async def _reroute(self, stale: RoutingMap | None) -> None:
        """After a split or merge: read the ranges again (once for everyone) and move the operations
        buffered for ranges that are gone."""
        assert self._reroute_lock is not None
        async with self._reroute_lock:
            if stale is not self._map:
                return  # someone already refreshed
            container = self._container
            self.stats.splits += 1
            fresh = await container._core.routing_maps.get(container._link, container._path + "/pkranges",
                                                           stale=stale, timeout=self._timeout)
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

    # -- per range -----------------------------------------------------------------------------

    async def _dispatch(self, r: _Range) -> None:
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

    async def _send(self, r: _Range, batch: list[_Op], epoch: int) -> None:
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
        try:
            try:
                status, response_headers, data = await self._pipeline.request(
                    "POST", container._docs_path, "docs", container._link,
                    headers=headers, body=body, idempotent=False, timeout=self._timeout,
                )
            except TooManyRequests as exc:
                self.stats.throttles += 1
                throttled_after = exc.retry_after if exc.retry_after is not None else 0.1
                for op in batch:
                    self._retry(op, exc, 0.0)  # the range is paused; the ops wait in its buffer
                return
            except Gone as exc:
                if exc.sub_status in SPLIT_SUB_STATUSES:
                    await self._reroute(stale)
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
            parsed = _codec.loads(data) if data else None
            if not isinstance(parsed, list) or len(parsed) != len(batch) or \
                    not all(isinstance(raw, dict) for raw in parsed):
                self._fail_all(batch, HttpResponseError(
                    f"the service answered a bulk request of {len(batch)} operations with status {status} and a "
                    f"body that is not one result per operation: {data[:200]!r}",
                    status_code=status, headers=response_headers, body=data))
                return
            for op, raw in zip(batch, parsed, strict=True):
                code = raw.get("statusCode")
                code = code if isinstance(code, int) else 0
                sub = raw.get("substatusCode", raw.get("subStatusCode", 0))
                sub = int(sub) if isinstance(sub, int | str) and str(sub).isdigit() else 0
                charge = raw.get("requestCharge")
                if isinstance(charge, int | float):
                    op.result.request_charge += float(charge)
                    self.stats.request_charge += float(charge)
                if code == 429:
                    self.stats.throttles += 1
                    wait = raw.get("retryAfterMilliseconds")
                    delay = wait / 1000.0 if isinstance(wait, int | float) and wait > 0 else 0.1
                    throttled_after = max(throttled_after or 0.0, delay)
                    self._retry(op, _op_error(raw, code, sub), delay)
                elif code == 410 and sub in SPLIT_SUB_STATUSES:
                    await self._reroute(stale)
                    self._retry(op, _op_error(raw, code, sub), 0.0)
                elif code in _NOT_APPLIED_STATUSES:
                    self._retry(op, _op_error(raw, code, sub), 0.05)
                else:
                    result = op.result
                    result.status_code, result.sub_status = code, sub
                    body_value = raw.get("resourceBody")
                    if code < 400:
                        result.resource_body = body_value if isinstance(body_value, dict) else None
                        etag = raw.get("eTag")
                        result.etag = etag if isinstance(etag, str) and etag else (
                            result.resource_body.get("_etag") if result.resource_body else None)
                    else:
                        result.error = _op_error(raw, code, sub)
                    self._finish(result)
            charge_header = response_headers.get("x-ms-request-charge")
            if charge_header and not any(isinstance(raw.get("requestCharge"), int | float) for raw in parsed):
                self.stats.request_charge += float(charge_header)
        finally:
            r.in_flight -= 1
            if throttled_after is not None:
                r.on_throttle(epoch, throttled_after, loop.time())
            elif not r.dead:
                r.on_success(self._max_limit)
            r.wake.set()

    # -- outcomes ------------------------------------------------------------------------------

    def _retry(self, op: _Op, error: CosmosError, delay: float) -> None:
        if op.retries >= self._max_retries:
            self._fail(op, error)
            return
        op.retries += 1
        self.stats.retries += 1
        self._later(delay, op)

    def _fail(self, op: _Op, error: CosmosError) -> None:
        result = op.result
        result.error = error
        if isinstance(error, HttpResponseError):
            result.status_code, result.sub_status = error.status_code, error.sub_status
        self._finish(result)

    def _fail_all(self, batch: list[_Op], error: CosmosError) -> None:
        for op in batch:
            self._fail(op, error)

    def _finish(self, result: BulkOperationResult) -> None:
        if result.error is None:
            self.stats.succeeded += 1
        else:
            self.stats.failed += 1
        self._results.put_nowait(result)


def _op_error(raw: Mapping[str, Any], status: int, sub_status: int) -> HttpResponseError:
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


async def bulk_upsert(
    container: ContainerProxy, items: Iterable[Any] | AsyncIterable[Any], **options: Any
) -> BulkSummary:
    async def operations() -> AsyncIterator[tuple[str, tuple[Any]]]:
        if isinstance(items, AsyncIterable):
            async for item in items:
                yield ("upsert", (item,))
        else:
            for item in items:
                yield ("upsert", (item,))

    execution = BulkExecution(container, operations(), **options)
    failures: list[BulkOperationResult] = []
    total = 0
    async with execution:
        async for result in execution:
            total += 1
            if result.error is not None:
                failures.append(result)
    stats = execution.stats
    return BulkSummary(total, total - len(failures), len(failures), stats.request_charge, stats.throttles,
                       stats.retries, stats.elapsed, tuple(failures))
