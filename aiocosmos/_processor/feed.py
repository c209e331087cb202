"""One lease's change feed: one page at a time, from a raw etag, on the wire as the SDKs read it.

A v0 lease reads its partition key range by id (``x-ms-documentdb-partitionkeyrangeid``). An EPK
lease reads the one range that holds its EPK interval, with ``x-ms-start-epk``/``x-ms-end-epk`` when
the interval is only part of it. The position is the response ``etag``, sent back as
``If-None-Match``; a lease with no position starts at the processor's start point (nothing: the
beginning; ``*``: now; ``If-Modified-Since``: a time). 304 means caught up.

When the range is gone (410 with sub-status 1002/1007/1008: split or merge), or an EPK lease now
spans several ranges, :class:`FeedRangeGone` tells the caller to replace the lease.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._feeds.change_feed_state import NOW, StartPoint
from .._feeds.routing import FeedRange, PartitionKeyRange, RoutingMap, is_split_or_merge
from .._wire import codec
from ..exceptions import Gone, PagingError
from .leases import Lease

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["FeedPage", "FeedRangeGone", "LeaseFeed"]

_AIM: Final = {"LatestVersion": "Incremental Feed", "AllVersionsAndDeletes": "Full-Fidelity Feed"}
_RANGE_ID: Final = "x-ms-documentdb-partitionkeyrangeid"


class FeedRangeGone(Exception):
    """The lease's range was split or merged: replace the lease by ``ranges`` (the live ranges that
    overlap it), each continuing from the lease's position."""

    def __init__(self, lease: Lease, ranges: list[PartitionKeyRange]) -> None:
        super().__init__(f"the range of lease {lease.token!r} is gone; it now spans {[r.id for r in ranges]}")
        self.ranges = ranges


@attrs.frozen
class FeedPage:
    items: list[dict[str, Any]]
    etag: str | None
    """The position after this page (None: the service sent none)."""
    headers: Mapping[str, str]
    not_modified: bool

    @property
    def request_charge(self) -> float:
        raw = self.headers.get("x-ms-request-charge")
        return float(raw) if raw else 0.0


class LeaseFeed:
    """Reads the change feed of a monitored container for one lease at a time."""

    def __init__(self, container: ContainerProxy, *, mode: str, start: StartPoint, max_items: int | None) -> None:
        self._container = container
        self._mode = mode
        self._start = start
        self._max_items = max_items

    async def routing_map(self, *, stale: RoutingMap | None = None, refresh: bool = False) -> RoutingMap:
        c = self._container
        return await c._core.routing_maps.get(c._link, c._path + "/pkranges", stale=stale, refresh=refresh)

    def lease_range(self, lease: Lease, routing: RoutingMap) -> FeedRange | None:
        if lease.feed_range is not None:
            return lease.feed_range.normalized()
        pkrange = routing.by_id(lease.token)
        return pkrange.feed_range if pkrange is not None else None

    async def read(self, lease: Lease, etag: str | None) -> FeedPage:
        container = self._container
        headers: dict[str, str] = {"A-IM": _AIM[self._mode]}
        if self._mode == "AllVersionsAndDeletes":
            headers["x-ms-cosmos-changefeed-wire-format-version"] = "2021-09-15"
        if self._max_items is not None:
            headers["x-ms-max-item-count"] = str(self._max_items)
        if etag is not None:
            headers["If-None-Match"] = etag
        elif self._start.kind == NOW:
            headers["If-None-Match"] = "*"
        else:
            since = self._start.if_modified_since()
            if since is not None:
                headers["If-Modified-Since"] = since
        routing = await self.routing_map()
        stale: RoutingMap | None = None
        for _ in range(2):
            if lease.is_epk:
                assert lease.feed_range is not None
                wanted = lease.feed_range.normalized()
                parts = routing.overlapping(wanted.min, wanted.max)
                if len(parts) != 1:
                    raise FeedRangeGone(lease, parts)
                [pkrange] = parts
                headers[_RANGE_ID] = pkrange.id
                if (wanted.min, wanted.max) != (pkrange.min_inclusive, pkrange.max_exclusive):
                    headers["x-ms-read-key-type"] = "EffectivePartitionKeyRange"
                    headers["x-ms-start-epk"] = wanted.min
                    headers["x-ms-end-epk"] = wanted.max
            else:
                headers[_RANGE_ID] = lease.token
            try:
                status, response_headers, body = await container._core.request(
                    "GET", container._docs_path, "docs", container._link, headers=headers, idempotent=True)
            except Gone as exc:
                if not is_split_or_merge(exc):
                    raise
                stale, routing = routing, await self.routing_map(stale=routing)
                if routing is stale:  # pragma: no cover - the refresh always makes a new map
                    routing = await self.routing_map(refresh=True)
                if lease.is_epk:
                    continue  # the EPK interval may now sit in (part of) one new range: read it there
                interval = self.lease_range(lease, stale)
                if interval is None:
                    raise
                raise FeedRangeGone(lease, routing.overlapping(interval.min, interval.max)) from exc
            new_etag = response_headers.get("etag") or None
            if status == 304:
                return FeedPage([], new_etag or etag, response_headers, True)
            parsed = codec.loads(body) if body else {}
            items = parsed.get("Documents", []) if isinstance(parsed, dict) else []
            if not isinstance(items, list):
                raise PagingError("a change feed page has no 'Documents' list")
            return FeedPage(items, new_etag, response_headers, False)
        raise PagingError(f"the range of lease {lease.token!r} kept moving while it was read")  # pragma: no cover
