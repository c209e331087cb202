"""``FakeClock``: a clock whose sleeps are instant and recorded, for deterministic retries."""

from __future__ import annotations

import asyncio
import time

__all__ = ["FakeClock"]


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
        """The fake monotonic time."""
        return self._monotonic

    def time(self) -> float:
        """The fake wall-clock time."""
        return self._time

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        self._monotonic += seconds
        self._time += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, advance by it and yield to the loop once, without waiting."""
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)  # still yield to the loop, as a real sleep would
