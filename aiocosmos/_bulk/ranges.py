"""Per-range queues of the bulk executor: operations waiting for a request, and each range's
congestion window (slow start, additive increase, halve on a throttle)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from .._telemetry.gauges import BULK_QUEUE_DEPTH, BULK_WINDOW, RANGE_ID, Points, target_attributes
from .._telemetry.tracing import Telemetry
from .results import BulkOperationResult

__all__ = ["MAX_BULK_OPERATIONS", "MAX_BULK_BYTES", "PendingOperation", "RangeQueue", "RangeGauges", "watch_ranges"]

MAX_BULK_OPERATIONS: Final = 100
MAX_BULK_BYTES: Final = 220_201
"""Bytes of operations per bulk request, as the .NET, Java and JS executors use."""


class PendingOperation:
    __slots__ = ("epk", "result", "retries", "safe_to_replay", "wire")

    def __init__(self, result: BulkOperationResult, wire: bytes, epk: str, safe_to_replay: bool) -> None:
        self.result = result
        self.wire = wire
        self.epk = epk
        self.safe_to_replay = safe_to_replay
        self.retries = 0


class RangeQueue:
    __slots__ = ("buffer", "buffered_bytes", "cap", "dead", "epoch", "first_at", "id", "in_flight", "limit",
                 "paused_until", "slow_start", "task", "wake", "window_done")

    def __init__(self, range_id: str) -> None:
        self.id = range_id
        self.buffer: deque[PendingOperation] = deque()
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
        self.cap = MAX_BULK_OPERATIONS
        """Operations per request: halved after a 413/3402, then one more per answered full request."""

    def full(self) -> bool:
        return len(self.buffer) >= self.cap or self.buffered_bytes >= MAX_BULK_BYTES

    def take(self) -> list[PendingOperation]:
        batch: list[PendingOperation] = []
        size = 2
        while self.buffer and len(batch) < self.cap:
            op = self.buffer[0]
            if batch and size + len(op.wire) + 1 > MAX_BULK_BYTES:
                break
            self.buffer.popleft()
            self.buffered_bytes -= len(op.wire)
            size += len(op.wire) + 1
            batch.append(op)
        return batch

    def shrink(self, sent: int) -> None:
        """A request of ``sent`` operations got 413/3402 (its answer would be too large): send half."""
        self.cap = max(1, min(self.cap, sent // 2))

    def on_success(self, max_limit: int, sent: int = MAX_BULK_OPERATIONS) -> None:
        """A request of ``sent`` operations came back without a throttle: grow the window, once per
        window, and (when the request was as large as allowed) the operations per request by one."""
        if sent >= self.cap:
            self.cap = min(MAX_BULK_OPERATIONS, self.cap + 1)
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


class RangeGauges:
    """What a bulk execution's ranges report to the observable instruments (``_telemetry/gauges.py``):
    the operations waiting in each range's queue and each range's window. Lives as long as the
    execution holds it (it drops it when it closes)."""

    __slots__ = ("__weakref__", "_attributes", "_ranges")

    def __init__(self, ranges: Mapping[str, RangeQueue], attributes: dict[str, Any]) -> None:
        self._ranges = ranges
        self._attributes = attributes

    def queue_depth(self) -> Points:
        return [(len(r.buffer), {**self._attributes, RANGE_ID: r.id}) for r in self._ranges.values() if not r.dead]

    def window(self) -> Points:
        return [(r.limit, {**self._attributes, RANGE_ID: r.id}) for r in self._ranges.values() if not r.dead]


def watch_ranges(telemetry: Telemetry | None, ranges: Mapping[str, RangeQueue], link: str) -> RangeGauges | None:
    """With telemetry on: the ranges, observed until the returned object is dropped (else None)."""
    if telemetry is None:
        return None
    gauges = RangeGauges(ranges, target_attributes(telemetry.common, link))
    telemetry.gauges.watch(BULK_QUEUE_DEPTH, gauges.queue_depth)
    telemetry.gauges.watch(BULK_WINDOW, gauges.window)
    return gauges
