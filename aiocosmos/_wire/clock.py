"""Time, injected: a Clock protocol, the real clock, and the per-second ``x-ms-date`` cache."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from typing import Protocol

__all__ = ["Clock", "SystemClock", "DateCache"]


class Clock(Protocol):
    """What the retry loop, the AAD token cache and the date cache need from time.

    ``monotonic`` measures deadlines and waits; ``time`` is wall-clock epoch seconds (for ``x-ms-date``
    and token expiry); ``sleep`` waits. Tests pass a fake that records sleeps and advances instantly.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for timeouts and backoffs)."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for request dates and lease times)."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock may advance instead)."""


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``."""
        await asyncio.sleep(seconds)


class DateCache:
    """RFC 1123 ``x-ms-date`` and its lowercase form, formatted at most once per wall-clock second."""

    __slots__ = ("_clock", "_lower", "_second", "_value")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._second = -1
        self._value = ""
        self._lower = ""

    def get(self) -> tuple[str, str]:
        """``(header value, lowercased value for the string-to-sign)``."""
        second = int(self._clock.time())
        if second != self._second:
            self._value = formatdate(second, usegmt=True)
            self._lower = self._value.lower()
            self._second = second
        return self._value, self._lower
