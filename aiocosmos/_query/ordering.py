"""Cosmos's type order (undefined < null < false/true < numbers < strings), the ORDER BY sort key, the
resume filter of one range, and the canonical hash DISTINCT and GROUP BY compare values by."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .._wire import codec

__all__ = ["compare_order_by_values", "SortKey", "after", "canonical_hash"]


def _type_rank(value: object, present: bool) -> int:
    if not present:
        return 0  # undefined
    if value is None:
        return 1
    if isinstance(value, bool):
        return 2
    if isinstance(value, int | float):
        return 4
    if isinstance(value, str):
        return 5
    return 6  # arrays and objects: after strings (only equality is meaningful)


def compare_order_by_values(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    """Compare two ``{"item": v}`` entries (``{}`` is undefined) in Cosmos's order."""
    present_a, present_b = "item" in a, "item" in b
    va, vb = a.get("item"), b.get("item")
    rank_a, rank_b = _type_rank(va, present_a), _type_rank(vb, present_b)
    if rank_a != rank_b:
        return -1 if rank_a < rank_b else 1
    if rank_a in (0, 1, 6):
        return 0
    if va == vb:
        return 0
    return -1 if va < vb else 1  # type: ignore[operator]


class SortKey:
    """The ORDER BY key of one row: its ``orderByItems``, the directions, the range and ``_rid``."""

    __slots__ = ("directions", "items", "range_index", "rid")

    def __init__(self, items: Sequence[Mapping[str, Any]], directions: Sequence[bool], range_index: int,
                 rid: str) -> None:
        self.items = items
        self.directions = directions
        self.range_index = range_index
        self.rid = rid

    def compare_values(self, other: SortKey) -> int:
        for a, b, descending in zip(self.items, other.items, self.directions, strict=False):
            result = compare_order_by_values(a, b)
            if result:
                return -result if descending else result
        return 0

    def __lt__(self, other: SortKey) -> bool:
        result = self.compare_values(other)
        if result:
            return result < 0
        return (self.rid, self.range_index) < (other.rid, other.range_index)


def after(items: Sequence[Mapping[str, Any]], rid: str, last: tuple[list[Any], str],
           directions: Sequence[bool]) -> bool:
    """Whether a row of one range comes after that range's last consumed row (``last``)."""
    key = SortKey(items, directions, 0, rid)
    result = key.compare_values(SortKey(last[0], directions, 0, last[1]))
    return result > 0 or (result == 0 and rid > last[1])


def canonical_hash(value: Any) -> str:
    return hashlib.blake2b(codec.dumps(_canonical(value), what="query result"), digest_size=8).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return [[k, _canonical(value[k])] for k in sorted(value)]
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value
