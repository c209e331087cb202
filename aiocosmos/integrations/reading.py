"""Read one partition (an EPK range) of a container: a query bounded by EPK, or the change feed.

* **A query** (``SELECT * FROM c`` when none is given; ``query_items`` has no ``feed_range=`` yet): it
  is sent to each physical partition the range overlaps, with ``x-ms-documentdb-partitionkeyrangeid``
  and, for part of one, ``x-ms-start-epk``/``x-ms-end-epk`` with ``x-ms-read-key-type:
  EffectivePartitionKeyRange``, as azure-cosmos does for ``query_items(feed_range=...)``. The query
  runs in each partition on its own: ORDER BY, TOP and aggregates are per partition. After a split
  (410/1002) the routing map is re-read and that piece read again from its start.
* **The change feed** (``change_feed=True``: incremental export): the range's LatestVersion change
  feed from ``start`` ("Beginning" by default) or from the partition's saved continuation: every
  document changed since, once, at its latest version (a later version replaces an earlier one seen in
  the same pass), plus the continuation that resumes after it.

Either way each document whose partition key is present is checked against the range (one hash per
document): a gateway that ignores EPK bounds (the local test server does) would otherwise give the
same document to every piece of a split range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from .._feeds.epk import effective_partition_key
from .._feeds.routing import FeedRange, RoutingMap, is_split_or_merge
from .._resources.container import ContainerProxy
from .._wire import codec
from .._wire.paths import PartitionKey
from ..exceptions import Gone, PagingError
from .plan import ReadPartition

__all__ = ["PartitionData", "read_partition", "SYSTEM_PROPERTIES", "DEFAULT_QUERY", "clean_document"]

SYSTEM_PROPERTIES: Final = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"})
_SPLIT_RESTARTS: Final = 3
DEFAULT_QUERY: Final = "SELECT * FROM c"


@attrs.frozen
class PartitionData:
    """What one partition read gave: its rows and the partition to resume from (change feed only)."""

    rows: list[Any]
    resume: ReadPartition | None
    request_charge: float = 0.0


def clean_document(row: Any, system_properties: bool) -> Any:
    if system_properties or not isinstance(row, dict):
        return row
    return {k: v for k, v in row.items() if k not in SYSTEM_PROPERTIES}


class _RangeFilter:
    """Whether a document's EPK lies in ``[low, high)``; documents without their key are kept."""

    def __init__(self, definition: PartitionKey, feed_range: FeedRange, *, full_documents: bool) -> None:
        self.definition = definition
        self.range = feed_range.normalized()
        self.everything = self.range == FeedRange.full()
        self.full_documents = full_documents

    def keep(self, row: Any) -> bool:
        if self.everything or not isinstance(row, dict):
            return True
        try:
            header = self.definition.header_from_document(row)
        except ValueError:  # a key value of a type that cannot be hashed: leave it to the service
            return True
        components = codec.loads(header)
        if not self.full_documents and any(c == {} for c in components):
            return True  # a projection without the key: nothing to check
        epk = effective_partition_key(components, self.definition.kind, self.definition.version)
        return self.range.min <= epk < self.range.max


async def _change_feed(
    container: ContainerProxy, partition: ReadPartition, start: Any, page_size: int | None
) -> tuple[list[Any], str, float]:
    if partition.continuation is not None:
        feed = container.query_items_change_feed(continuation=partition.continuation, max_item_count=page_size)
    else:
        feed = container.query_items_change_feed(feed_range=partition.feed_range, start_time=start,
                                                 max_item_count=page_size)
    pages = feed.by_page()
    latest: dict[tuple[Any, str], Any] = {}
    charge = 0.0
    definition = await container.partition_key_definition()
    async for page in pages:
        charge += page.request_charge
        for row in page:
            # One entry per document (id and partition key): a later version replaces an earlier one.
            key = (row.get("id"), definition.header_from_document(row)) if isinstance(row, dict) else (id(row), "")
            latest.pop(key, None)
            latest[key] = row
    return list(latest.values()), pages.continuation, charge


async def _query_piece(
    container: ContainerProxy, pkrange_id: str, low: str, high: str, whole: bool, query: str,
    parameters: Sequence[Mapping[str, Any]] | None, page_size: int | None,
) -> tuple[list[Any], float]:
    headers = {"x-ms-documentdb-partitionkeyrangeid": pkrange_id,
               "x-ms-documentdb-query-enablecrosspartition": "True"}
    if not whole:
        headers.update({"x-ms-start-epk": low, "x-ms-end-epk": high,
                        "x-ms-read-key-type": "EffectivePartitionKeyRange"})
    pager = container._core.feed(container._docs_path, "docs", container._link, "Documents", query=query,
                                 parameters=parameters, max_item_count=page_size, headers=headers,
                                 session_container=container._link)
    rows: list[Any] = []
    charge = 0.0
    async for page in pager.by_page():
        charge += page.request_charge
        rows.extend(page)
    return rows, charge


async def _query(
    container: ContainerProxy, feed_range: FeedRange, query: str,
    parameters: Sequence[Mapping[str, Any]] | None, page_size: int | None,
) -> tuple[list[Any], float]:
    core, wanted = container._core, feed_range.normalized()
    pkranges_path = container._path + "/pkranges"
    routing: RoutingMap = await core.routing_maps.get(container._link, pkranges_path)
    rows: list[Any] = []
    charge = 0.0
    restarts = 0
    position = wanted.min
    while position < wanted.max:  # EPKs compare as strings
        overlapping = routing.overlapping(position, wanted.max)
        if not overlapping:
            raise PagingError(f"no partition key range of {container._link!r} covers [{position!r}, {wanted.max!r})")
        pkrange = overlapping[0]
        high = min(wanted.max, pkrange.max_exclusive)
        whole = (position, high) == (pkrange.min_inclusive, pkrange.max_exclusive)
        try:
            got, cost = await _query_piece(container, pkrange.id, position, high, whole, query, parameters, page_size)
        except Gone as exc:
            if not is_split_or_merge(exc) or restarts >= _SPLIT_RESTARTS:
                raise
            restarts += 1  # the range split or merged: read this piece again, over the new ranges
            routing = await core.routing_maps.get(container._link, pkranges_path, stale=routing)
            continue
        rows.extend(got)
        charge += cost
        position = high
    return rows, charge


async def read_partition(
    container: ContainerProxy,
    partition: ReadPartition,
    *,
    query: str | None = None,
    parameters: Sequence[Mapping[str, Any]] | None = None,
    change_feed: bool = False,
    start: Any = "Beginning",
    page_size: int | None = -1,
    system_properties: bool = False,
) -> PartitionData:
    """The rows of one partition (see the module docstring), system properties dropped unless asked."""
    definition = await container.partition_key_definition()
    resume: ReadPartition | None = None
    if change_feed:
        if query is not None:
            raise ValueError("the change feed takes no query")
        rows, continuation, charge = await _change_feed(container, partition, start, page_size)
        resume = attrs.evolve(partition, continuation=continuation)
        check = _RangeFilter(definition, partition.feed_range, full_documents=True)
    else:
        rows, charge = await _query(container, partition.feed_range, query or DEFAULT_QUERY, parameters, page_size)
        check = _RangeFilter(definition, partition.feed_range, full_documents=False)
    kept = [clean_document(row, system_properties) for row in rows if check.keep(row)]
    return PartitionData(kept, resume, charge)
