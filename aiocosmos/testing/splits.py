"""Partition key range splits as the fault proxy presents them: the ``pkranges`` list after one or
more splits, and the ids of the ranges that are gone."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import unquote

__all__ = ["CONTAINER_PATH", "container_of", "split_ranges", "split_epk"]

CONTAINER_PATH: Final = re.compile(r"^/dbs/([^/]+)/colls/([^/]+)(?:/|$)")


def container_of(raw_path: str) -> str | None:
    match = CONTAINER_PATH.match(raw_path)
    if match is None:
        return None
    return f"dbs/{unquote(match.group(1))}/colls/{unquote(match.group(2))}"


def split_ranges(ranges: list[Any], splits: Sequence[int]) -> tuple[list[Any], set[str]]:
    """Apply ``splits`` (each splits every current range into n children) to a pkranges list.
    Returns the new leaf ranges (children carry ``parents``) and the ids of the ranges that are gone."""
    current = [dict(r, id=str(r.get("id")), parents=list(r.get("parents") or []))
               for r in ranges if isinstance(r, dict)]
    next_id = max((int(r["id"]) for r in current if r["id"].isdigit()), default=-1) + 1
    gone: set[str] = set()
    for into in splits:
        children = []
        for parent in current:
            gone.add(parent["id"])
            low_high = split_epk(str(parent.get("minInclusive", "")), str(parent.get("maxExclusive", "FF")), into)
            for low, high in low_high:
                child = {k: v for k, v in parent.items() if not k.startswith("_")}
                child.update(id=str(next_id), minInclusive=low, maxExclusive=high,
                             parents=[*parent["parents"], parent["id"]], status="online", ridPrefix=next_id)
                if isinstance(parent.get("throughputFraction"), int | float):
                    child["throughputFraction"] = parent["throughputFraction"] / into
                children.append(child)
                next_id += 1
        current = children
    return current, gone


def split_epk(low: str, high: str, into: int) -> list[tuple[str, str]]:
    """Cut the hex effective-partition-key interval [low, high) into ``into`` contiguous parts."""
    width = max(len(low), len(high), 2)
    width += width % 2
    while True:
        start = int(low.ljust(width, "0") or "0", 16)
        end = int(high.ljust(width, "0"), 16)
        if end - start >= into:
            break
        width += 2
    cuts = [start + (end - start) * k // into for k in range(into + 1)]
    bounds = [f"{value:0{width}X}" for value in cuts]
    bounds[0], bounds[-1] = low, high
    return list(itertools.pairwise(bounds))
