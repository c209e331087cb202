"""Test helpers that aiocosmos users may use too.

* ``FakeClock``: a clock whose sleeps are instant and recorded, for deterministic retries.
* ``FaultProxy`` (with ``Fault``, ``ProxyRule``, ``RequestUnitBudget``, ``Injection``): a
  fault-injecting reverse proxy to put in front of a Cosmos endpoint (429, 449, 408, 5xx, 410 with
  partition splits, connection resets, truncated and slow responses, stale keep-alive connections,
  and a request-unit budget), scripted per test and deterministic under a seed. See
  ``aiocosmos._fault_proxy`` for the details, or run ``python -m aiocosmos.testing --help``.
"""

from __future__ import annotations

import asyncio
import time

from ._fault_proxy import Fault, FaultProxy, Injection, ProxyRequest, ProxyRule, RequestUnitBudget, request_kind

__all__ = [
    "FakeClock",
    "Fault",
    "FaultProxy",
    "Injection",
    "ProxyRequest",
    "ProxyRule",
    "RequestUnitBudget",
    "request_kind",
]


class FakeClock:
    """A Clock whose sleeps return at once and advance its time; it records every sleep.

    ``CosmosClient(url, key, clock=FakeClock())`` makes retry waits instant and observable:
    ``clock.sleeps`` lists the waits in seconds, in order.
    """

    def __init__(self, *, start_monotonic: float = 1000.0, start_time: float | None = None) -> None:
        # Wall time starts at the real time, so x-ms-date stays acceptable to a real server.
        self._monotonic = start_monotonic
        self._time = time.time() if start_time is None else start_time
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._monotonic

    def time(self) -> float:
        return self._time

    def advance(self, seconds: float) -> None:
        self._monotonic += seconds
        self._time += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)  # still yield to the loop, as a real sleep would


if __name__ == "__main__":
    from ._fault_proxy import main

    raise SystemExit(main())
