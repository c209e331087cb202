"""Cosmos's type order (undefined < null < false/true < numbers < strings), the ORDER BY sort key, the
resume filter of one range, and the canonical hash DISTINCT and GROUP BY compare values by.

Within one range the service returns ORDER BY rows sorted by their ``orderByItems``, ties in the
order of the document part of ``_rid`` (a number: ascending when the first ORDER BY column is
ascending, descending when it is descending), and the rows of one document (JOIN) one after the
other. The k-way merge and the resume filter both compare rows that way."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .._wire import codec
from ..exceptions import PagingError

__all__ = ["compare_order_by_values", "compare_items", "document_number", "SortKey", "resume_index", "canonical_hash"]


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


def document_number(rid: str) -> int:
    """The document part of a document ``_rid``: base64 (``-`` for ``/``) of database (4 bytes),
    collection (4) and document (8, little-endian; its top nibble 0 marks a document)."""
    try:
        raw = base64.b64decode(rid.replace("-", "/"), validate=True)
    except (binascii.Error, ValueError, AttributeError):
        raw = b""
    if len(raw) not in (16, 20) or raw[15] >> 4 != 0 or not raw[4] & 0x80:
        raise PagingError(f"{rid!r} is not the _rid of a document")
    return int.from_bytes(raw[8:16], "little")


class SortKey:
    """The ORDER BY key of one row: its ``orderByItems``, the directions, its document number (negated
    when ties run descending), and the low EPK of its range as the last tie-breaker (document numbers
    need not be unique across partitions), so that a resumed query orders ties as a straight one."""

    __slots__ = ("directions", "document", "items", "range_low", "tie")

    def __init__(self, items: Sequence[Mapping[str, Any]], directions: Sequence[bool], range_low: str,
                 document: int) -> None:
        self.items = items
        self.directions = directions
        self.range_low = range_low
        self.document = document
        self.tie = -document if directions and directions[0] else document

    def compare_values(self, other: SortKey) -> int:
        return compare_items(self.items, other.items, self.directions)

    def __lt__(self, other: SortKey) -> bool:
        result = self.compare_values(other)
        if result:
            return result < 0
        return (self.tie, self.range_low) < (other.tie, other.range_low)


def compare_items(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], directions: Sequence[bool]) -> int:
    """Compare two rows' ``orderByItems`` in the query's directions."""
    for x, y, descending in zip(a, b, directions, strict=False):
        result = compare_order_by_values(x, y)
        if result:
            return -result if descending else result
    return 0


def resume_index(rows: Sequence[Any], items: Sequence[Mapping[str, Any]], document: int, skip: int,
                 directions: Sequence[bool]) -> tuple[int | None, int]:
    """Where a resumed range continues in a page it re-read: the index of the first row after the last
    consumed one (sort values ``items``, document number ``document``, and ``skip`` rows of that document
    with those values already consumed), or None when every row of the page comes before it; and how
    many rows of that document with those values the page held before the index."""
    descending_ties = bool(directions) and directions[0]
    skipped = 0
    for index, row in enumerate(rows):
        result = compare_items(row.get("orderByItems") or [], items, directions)
        if result > 0:
            return index, skipped
        if result < 0:
            continue
        number = document_number(row.get("_rid", ""))
        if number != document:
            if (number > document) != descending_ties:
                return index, skipped
            continue
        if skipped == skip:
            return index, skipped
        skipped += 1
    return None, skipped


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
