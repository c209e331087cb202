"""The request-unit budget: a token bucket that throttles like a provisioned container."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Final

from .rules import ProxyRequest

__all__ = ["DEFAULT_CHARGES", "RequestUnitBudget"]

DEFAULT_CHARGES: Final[Mapping[str, float]] = {
    "read": 1.0, "feed": 2.0, "query": 3.0, "write": 6.0, "batch": 10.0, "account": 0.0, "pkranges": 0.0,
}


class RequestUnitBudget:
    """A token bucket of request units: ``ru_per_second`` refill, ``burst`` capacity (default one
    second's worth), and a charge per request (by kind, or a function of the request)."""

    def __init__(
        self,
        ru_per_second: float,
        *,
        burst: float | None = None,
        charges: Mapping[str, float] | Callable[[ProxyRequest], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ru_per_second > 0:
            raise ValueError(f"ru_per_second must be > 0, got {ru_per_second!r}")
        self.ru_per_second = float(ru_per_second)
        self.burst = float(burst) if burst is not None else self.ru_per_second
        if not self.burst > 0:
            raise ValueError(f"burst must be > 0, got {burst!r}")
        self._charges = charges if charges is not None else DEFAULT_CHARGES
        self._clock = clock
        self.tokens = self.burst
        self._last = clock()
        self.admitted = 0
        self.throttled = 0
        self.charged = 0.0

    def charge_of(self, request: ProxyRequest) -> float:
        """The RU this request costs, by its kind or the charges function."""
        if callable(self._charges):
            return float(self._charges(request))
        return float(self._charges.get(request.kind, 0.0))

    def take(self, charge: float) -> int | None:
        """Charge ``charge`` RU and return None, or return the wait in ms before it would fit."""
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._last) * self.ru_per_second)
        self._last = now
        if charge <= 0:
            return None
        if self.tokens >= min(charge, self.burst):
            self.tokens -= charge  # a request dearer than the burst is admitted into debt, as the service does
            self.admitted += 1
            self.charged += charge
            return None
        self.throttled += 1
        return max(1, math.ceil((min(charge, self.burst) - self.tokens) / self.ru_per_second * 1000))
