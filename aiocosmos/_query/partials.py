"""Combining the per-range partial aggregates the service returns, as the official SDKs do.

A partial is the ``{"item": ...}`` object the rewritten query projects for one aggregate (in a
``SELECT VALUE`` query the row is a one-element array of it). MIN and MAX come in two forms: the
older ``{"item": MIN(x)}`` and ``{"item": MIN(x), "item2": {"min": MIN(x), "count": COUNT(x)}}``,
where ``item2`` wins: a count of 0 means "no value in this range" (skipped) and a count above 0
without ``min`` means the range's minimum is undefined (e.g. an object among the values). An
``item`` form without ``item`` cannot tell those apart and is read as "no value", as the service's
older plans meant. AVG partials are ``{"sum": SUM(x), "count": COUNT(x)}``: the sums and counts are
added (integers stay exact) and divided once.

Undefined is contagious, as on the service: a SUM partial that is undefined (the range's values
include a string, say), an AVG partial without ``sum``, or an undefined MIN/MAX makes the combined
value undefined, and an undefined value is no row (``SELECT VALUE``) or a missing property."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .ordering import compare_order_by_values

__all__ = ["UNDEFINED", "AGGREGATES", "Accumulator", "accumulator", "partial_item"]


class _Undefined:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final[Any] = _Undefined()
AGGREGATES: Final = frozenset({"Count", "Sum", "Min", "Max", "Average"})
"""The aggregate operators combined here (the plan's names)."""


def partial_item(entry: Any) -> Any:
    """The value of one partial: ``item2`` if present, else ``item``, else UNDEFINED; a one-element
    array (a ``SELECT VALUE`` row or GROUP BY payload) is read as its element."""
    if isinstance(entry, list):
        entry = entry[0] if len(entry) == 1 else None
    if isinstance(entry, Mapping):
        if "item2" in entry:
            return entry["item2"]
        return entry.get("item", UNDEFINED)
    return UNDEFINED


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Accumulator:
    """One aggregate being combined: ``add`` each range's partial value, then ``result``."""

    __slots__ = ("count", "kind", "value")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.count = 0
        self.value: Any = 0 if kind in ("Count", "Sum", "Average") else None
        """The total; for MIN/MAX None (no value yet) or the best value so far (boxed: null is a value)."""

    def add(self, partial: Any) -> None:
        kind = self.kind
        if self.value is UNDEFINED:
            return
        if kind == "Count":
            if _is_number(partial):
                self.value += partial
        elif kind == "Sum":
            self.value = self.value + partial if _is_number(partial) else UNDEFINED
        elif kind == "Average":
            if not isinstance(partial, Mapping):
                return  # a range with no partial at all contributes nothing
            count: Any = partial.get("count")
            if _is_number(count):
                self.count += count
            total: Any = partial.get("sum", UNDEFINED)
            self.value = self.value + total if _is_number(total) else UNDEFINED
        else:
            self._add_min_max(partial)

    def _add_min_max(self, partial: Any) -> None:
        if partial is UNDEFINED:
            return  # the `item` form without a value: nothing in that range
        if isinstance(partial, Mapping) and "count" in partial:  # the `item2` form
            if not partial["count"]:
                return
            partial = partial.get("min" if self.kind == "Min" else "max", UNDEFINED)
            if partial is UNDEFINED:
                self.value = UNDEFINED
                return
        if isinstance(partial, Mapping | list):
            self.value = UNDEFINED  # only primitives have a minimum or maximum
            return
        best = self.value
        if best is None:
            self.value = _Box(partial)
            return
        result = compare_order_by_values({"item": partial}, {"item": best.value})
        if (result < 0) if self.kind == "Min" else (result > 0):
            best.value = partial

    def result(self) -> Any:
        value = self.value
        if value is UNDEFINED:
            return UNDEFINED
        if self.kind == "Average":
            return value / self.count if self.count > 0 else UNDEFINED
        if self.kind in ("Min", "Max"):
            return UNDEFINED if value is None else value.value
        return value


class _Box:
    """A MIN/MAX so far (boxed, since null is a value)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def accumulator(kind: str) -> Accumulator:
    return Accumulator(kind)
