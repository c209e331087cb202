"""What the two test fronts (sharded_front.py, change_feed_front.py) share: the ``/pk`` hash-v2
partition key of their container, the EPK of a partition key value, and a partition key range as
they store it and list it in ``/pkranges``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiocosmos import PartitionKey
from aiocosmos._feeds.routing import feed_range_for_partition_key

__all__ = ["DEFINITION", "Range", "epk_of"]

DEFINITION = PartitionKey("/pk")


def epk_of(pk: Any) -> str:
    return feed_range_for_partition_key(DEFINITION, pk).min


@dataclass
class Range:
    id: str
    low: str
    high: str
    parents: list[str] = field(default_factory=list)
    version: int = 1
    lsn: int = 0
    """The change feed front's last LSN in this range (the sharded front keeps none)."""

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "minInclusive": self.low, "maxExclusive": self.high, "parents": self.parents,
                "status": "online", "_rid": f"rid{self.id}", "_etag": f'"e{self.id}"'}

    def holds(self, epk: str) -> bool:
        return self.low <= epk < self.high
