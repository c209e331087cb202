"""The gate of a throughput control group: 1-second cycles of ``budget`` RU, checked before each send.

* A request passes while the cycle has RU left; it reserves the mean charge seen so far, and the real
  charge (``x-ms-request-charge``, 429 answers included) replaces the reservation when it answers. So a
  burst of concurrent requests stops at the budget instead of all going out before the first answers.
* Overuse is debt: the next cycle starts with ``budget - debt``. Unused budget is not saved up.
* Within a cycle the budget is paced: at a fraction ``f`` of the cycle, at most ``burst_fraction + f``
  of it may be spent; a service that refills its RU continuously would throttle a whole budget spent
  at once. Each gate's cycles start at a random phase of the second, so that the clients of a group
  (on hosts sharing a clock) do not all send at the same instants (a bulk batch dearer than a client's
  whole cycle goes when its cycle ends).
* A request that finds the cycle spent waits for the next cycle instead of going out (no 429 from the
  service, no retry). Low-priority requests (``x-ms-cosmos-priority-level: Low``, or a Low group) pass
  only while no high-priority request is waiting, so they yield first when the budget is short.
* Each finished cycle's use (used / budget) goes to ``LoadTracker``: the load factor a global group
  shares by.
"""

from __future__ import annotations

import collections
import math
import random
from collections.abc import Mapping
from typing import Final, Protocol

from .._wire.clock import Clock
from .._wire.session_tokens import container_of as container_key

__all__ = ["CYCLE", "LoadTracker", "RequestThrottler", "ThroughputGates", "container_key"]

CYCLE: Final = 1.0
BURST_FRACTION: Final = 0.2
"""Of a cycle's budget, what may go at the cycle's start (the rest follows in step with the clock)."""
MIN_WAIT: Final = 0.005
PROBE_WAIT: Final = 0.01
PROBE_TIMEOUT: Final = 2.0
"""A first request of its kind that has not answered by then (cancelled, timed out) no longer holds
the others back."""
_BATCH_HEADER: Final = "x-ms-cosmos-is-batch-request"
INITIAL_ESTIMATE: Final = 10.0
"""RU reserved per request before any answered: a write of a small item costs 5-10 RU."""
MIN_LOAD_FACTOR: Final = 0.1
_PRIORITY_HEADER: Final = "x-ms-cosmos-priority-level"
_CHARGE_HEADER: Final = "x-ms-request-charge"
_EPSILON: Final = 1e-6  # RU; float sums of charges that should leave exactly 0 leave 1e-14


class LoadTracker:
    """The mean of the last ``window`` cycles' use ratios (used RU / budget), at least ``MIN_LOAD_FACTOR``.

    Java weights 300 one-second samples (and, by its weight function, the older ones more); a shorter,
    evenly weighted window follows a client's demand within seconds, which is what lets a group hand a
    departed or idle client's share to the busy ones quickly. A client without history counts as fully
    loaded (1.0): a newcomer starts by asking for an equal share.
    """

    __slots__ = ("_samples", "window")

    def __init__(self, window: int = 10) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window!r}")
        self.window = window
        self._samples: collections.deque[float] = collections.deque(maxlen=window)

    def record(self, used: float, budget: float, idle_cycles: int = 0) -> None:
        for _ in range(min(idle_cycles, self.window)):
            self._samples.append(0.0)
        self._samples.append(used / budget if budget > 0 else 0.0)

    @property
    def load_factor(self) -> float:
        if not self._samples:
            return 1.0
        return max(MIN_LOAD_FACTOR, sum(self._samples) / len(self._samples))


class RequestThrottler:
    """The gate for one container's group in one client (see the module docstring).

    ``ru_per_second``: this client's budget (the group's target x this client's share; the global
    controller changes it with ``set_budget``). ``low_priority``: the group's default priority.
    """

    __slots__ = (
        "_available",
        "_budget",
        "_clock",
        "_cycle",
        "_estimates",
        "_high_waiting",
        "_history",
        "_known",
        "_pace",
        "_phase",
        "_probe_started",
        "_probes",
        "_used",
        "_used_total",
        "delayed",
        "group",
        "load",
        "low_priority",
        "requests",
    )

    def __init__(self, group: str, ru_per_second: float, *, clock: Clock, low_priority: bool = False,
                 load: LoadTracker | None = None, burst_fraction: float = BURST_FRACTION,
                 phase: float | None = None) -> None:
        if not ru_per_second > 0:
            raise ValueError(f"ru_per_second must be > 0, got {ru_per_second!r}")
        if not 0 < burst_fraction <= 1:
            raise ValueError(f"burst_fraction must be in (0, 1], got {burst_fraction!r}")
        self._pace = burst_fraction
        self._phase = random.random() * CYCLE if phase is None else phase
        self.group = group
        self._clock = clock
        self._budget = float(ru_per_second) * CYCLE
        self._available = self._budget
        self._cycle = math.floor((clock.monotonic() - self._phase) / CYCLE)
        self._used = 0.0
        self._used_total = 0.0
        # RU reserved per request, for single operations [0] and bulk batches [1]: the mean of recent
        # charges, once the first answer of the kind said what one costs.
        self._estimates = [INITIAL_ESTIMATE, INITIAL_ESTIMATE]
        self._known = [False, False]
        self._probes = [0, 0]
        self._probe_started = [0.0, 0.0]
        self._high_waiting = 0
        self._history: collections.deque[float] = collections.deque(maxlen=5)  # RU of recent cycles
        self.low_priority = low_priority
        self.load = load or LoadTracker()
        self.requests = 0
        self.delayed = 0

    @property
    def budget(self) -> float:
        """RU per second this client may use now."""
        return self._budget / CYCLE

    @property
    def available(self) -> float:
        self._roll(self._clock.monotonic())
        return self._available

    def set_budget(self, ru_per_second: float) -> None:
        if not ru_per_second > 0:
            raise ValueError(f"ru_per_second must be > 0, got {ru_per_second!r}")
        new = float(ru_per_second) * CYCLE
        self._available = min(new, self._available + (new - self._budget))
        self._budget = new

    def ru_per_second(self) -> float:
        """RU/s used over the last finished cycles (up to 5)."""
        self._roll(self._clock.monotonic())
        return sum(self._history) / (len(self._history) * CYCLE) if self._history else 0.0

    def _roll(self, now: float) -> None:
        cycle = math.floor((now - self._phase) / CYCLE)
        if cycle <= self._cycle:
            return
        elapsed = cycle - self._cycle
        self.load.record(self._used, self._budget, idle_cycles=elapsed - 1)
        self._history.append(self._used)
        for _ in range(min(elapsed - 1, 5)):
            self._history.append(0.0)
        self._available = min(self._budget, self._available + elapsed * self._budget)
        self._used = 0.0
        self._cycle = cycle

    async def acquire(self, headers: Mapping[str, str] | None) -> float:
        """Wait until this request may go; returns the RU it reserved (pass it to ``settle``)."""
        low = self.low_priority
        kind = 0
        if headers:
            level = headers.get(_PRIORITY_HEADER)
            if level is not None:
                low = level == "Low"
            if _BATCH_HEADER in headers:
                kind = 1
        self.requests += 1
        waited = False
        while True:
            if self._probes[kind] and not self._known[kind] and \
                    self._clock.monotonic() - self._probe_started[kind] < PROBE_TIMEOUT:
                # The first request of its kind is out: wait to learn what one costs (a bulk batch
                # may cost hundreds of RU; a guess would let many go at once).
                if not waited:
                    waited = True
                    self.delayed += 1
                await self._clock.sleep(PROBE_WAIT)
                continue
            estimate = self._estimates[kind]
            now = self._clock.monotonic()
            self._roll(now)
            start = self._cycle * CYCLE + self._phase
            allowed = min(1.0, self._pace + (now - start) / CYCLE)  # the paced part of the budget
            # RU to wait for (<= 0: none). Any room will do: a request may overshoot the paced part by
            # its own charge, as the cycle's budget (a bulk batch dearer than the whole cycle still goes,
            # at a cycle's start, and its debt holds the next ones back).
            short = (1.0 - allowed) * self._budget - self._available
            if short < -_EPSILON and not (low and self._high_waiting):
                if not self._known[kind]:
                    self._probes[kind] += 1
                    self._probe_started[kind] = now
                self._available -= estimate
                return estimate
            if not waited:
                waited = True
                self.delayed += 1
            end = start + CYCLE
            pause = end - now
            if allowed < 1.0 and self._available > _EPSILON:
                pause = min(pause, max(MIN_WAIT, (short + _EPSILON) / self._budget * CYCLE))
            if low:
                await self._clock.sleep(pause)
                continue
            self._high_waiting += 1
            try:
                await self._clock.sleep(pause)
            finally:
                self._high_waiting -= 1

    def settle(self, reserved: float, headers: Mapping[str, str] | None,
               request_headers: Mapping[str, str] | None = None) -> None:
        """The answer came: its ``x-ms-request-charge`` (none: 0, as on a 429) replaces the reservation.
        No answer (``headers`` None: the request failed on the way): the reservation stands.
        ``request_headers``: the request's, which tell a bulk batch from a single operation."""
        kind = 1 if request_headers and _BATCH_HEADER in request_headers else 0
        if not self._known[kind] and self._probes[kind]:
            self._probes[kind] -= 1
        charge = reserved
        if headers is not None:
            charge = 0.0
            value = headers.get(_CHARGE_HEADER)
            if value:
                try:
                    charge = float(value)
                except ValueError:
                    pass
                else:
                    if charge > 0 and self._known[kind]:
                        self._estimates[kind] += (charge - self._estimates[kind]) * 0.3
                    elif charge > 0:
                        self._estimates[kind], self._known[kind] = charge, True
        self._roll(self._clock.monotonic())
        self._available -= charge - reserved
        self._used += charge
        self._used_total += charge

    @property
    def used_total(self) -> float:
        """RU charged to this gate since it was made."""
        return self._used_total


class ThroughputGates:
    """A client's groups: container link -> gate (the dict the pipeline reads; empty when none), and
    the controllers to stop when the client closes."""

    __slots__ = ("controllers", "gates")

    def __init__(self) -> None:
        self.gates: dict[str, RequestThrottler] = {}
        self.controllers: dict[str, _Closable] = {}

    async def close(self) -> None:
        controllers, self.controllers = list(self.controllers.values()), {}
        for controller in controllers:
            await controller.close()
        self.gates.clear()


class _Closable(Protocol):
    async def close(self) -> None: ...
