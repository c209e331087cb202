"""The partitions of a read: one per feed range of the container, each split further by EPK on request."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._feeds.routing import FeedRange
from .._resources.container import ContainerProxy
from ..exceptions import ValidationError

__all__ = ["ReadPartition", "split_feed_range", "plan_partitions", "resume_partitions", "MAX_SPLIT"]

MAX_SPLIT = 256
"""The most pieces one feed range is split into."""

_WIDTH = 32  # hex digits of a boundary made by a split (a version-2 EPK has 32)


def _as_int(epk: str) -> int:
    return int(epk.ljust(_WIDTH, "0")[:_WIDTH] or "0", 16)


def split_feed_range(feed_range: FeedRange, pieces: int) -> list[FeedRange]:
    """``feed_range`` cut into ``pieces`` contiguous ``[min, max)`` ranges of (about) equal EPK width,
    in key order; together they cover exactly the same EPKs. A range too narrow to cut is returned whole.

    New boundaries are 32 hex digits wide; every one of them lies strictly between the range's ends
    in the service's (string) order of EPKs, whatever the widths of the ends."""
    if not isinstance(pieces, int) or isinstance(pieces, bool) or not 1 <= pieces <= MAX_SPLIT:
        raise ValidationError(f"a feed range is split into 1 to {MAX_SPLIT} pieces, not {pieces!r}")
    whole = feed_range.normalized()
    low, high = _as_int(whole.min), _as_int(whole.max)
    if pieces == 1 or high - low < pieces:
        return [whole]
    inner = [format(low + (high - low) * k // pieces, f"0{_WIDTH}X") for k in range(1, pieces)]
    bounds = [whole.min, *inner, whole.max]
    return [FeedRange(a, b) for a, b in itertools.pairwise(bounds)]


@attrs.frozen
class ReadPartition:
    """One partition of a read: its position, its EPK range, and where to resume (for the change feed)."""

    index: int
    feed_range: FeedRange
    continuation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what an incremental export saves and gives back to resume."""
        return {"index": self.index, "feed_range": self.feed_range.to_dict(), "continuation": self.continuation}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> ReadPartition:
        """The partition a ``to_dict()`` saved (to resume a read from its continuation)."""
        if not isinstance(value, Mapping) or not isinstance(value.get("index"), int):
            raise ValidationError(f"not a saved read partition (a ReadPartition.to_dict()): {value!r:.200}")
        continuation = value.get("continuation")
        if continuation is not None and not isinstance(continuation, str):
            raise ValidationError(f"a saved continuation is a string, got {continuation!r:.80}")
        return cls(value["index"], FeedRange.from_json(value.get("feed_range")), continuation)


def resume_partitions(saved: Sequence[Mapping[str, Any] | ReadPartition]) -> list[ReadPartition]:
    """The partitions an earlier read saved (``ReadPartition`` or its ``to_dict()``), in their order.
    Each keeps its range; its continuation carries the change feed's position (splits since then are
    followed by the change feed itself)."""
    if isinstance(saved, str | bytes | Mapping) or not isinstance(saved, Sequence) or not saved:
        raise ValidationError("resume from the list of partitions an earlier read saved (ReadPartition.to_dict())")
    partitions = [p if isinstance(p, ReadPartition) else ReadPartition.from_dict(p) for p in saved]
    if sorted(p.index for p in partitions) != list(range(len(partitions))):
        raise ValidationError("the saved partitions' indexes must be 0..n-1, each once")
    return sorted(partitions, key=lambda p: p.index)


async def plan_partitions(container: ContainerProxy, *, split: int = 1) -> list[ReadPartition]:
    """The container's feed ranges (``read_feed_ranges``, re-read now), each cut in ``split`` pieces."""
    ranges = [piece for feed_range in await container.read_feed_ranges(force_refresh=True)
              for piece in split_feed_range(feed_range, split)]
    return [ReadPartition(i, feed_range) for i, feed_range in enumerate(ranges)]
