"""The change feed estimator: how far each lease is behind (``ChangeFeedEstimatorIterator``).

For each lease, one change is read from its checkpoint; the lag is the partition's latest LSN (the
global LSN of the response's session token, after ``#``) minus the LSN just before that change.
A lease that is caught up (304) has lag 0. Nothing is written: any host, or a monitor, can run it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .._feeds.change_feed_state import BEGINNING, StartPoint
from .._wire.clock import SystemClock
from .feed import FeedRangeGone, LeaseFeed
from .leases import lease_prefix
from .store import LeaseStore

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["ChangeFeedEstimator", "LeaseLag", "session_lsn"]


def session_lsn(token: str | None) -> int | None:
    """The global LSN of a session token such as ``0:-1#123`` or ``1:2#123#1=120`` (None if absent)."""
    if not token:
        return None
    part = token.split(",")[0].split(":", 1)[-1]
    segments = part.split("#")
    if len(segments) < 2:
        return None
    try:
        return int(segments[1])
    except ValueError:
        return None


@attrs.frozen
class LeaseLag:
    lease_token: str
    owner: str | None
    lag: int
    """Changes not yet processed (an estimate: deleted and overwritten versions count until compacted)."""


class ChangeFeedEstimator:
    """``await aiocosmos.ChangeFeedEstimator(container, "name", lease_container=leases).estimate()``."""

    def __init__(self, container: ContainerProxy, processor_name: str, *, lease_container: ContainerProxy,
                 mode: str = "LatestVersion") -> None:
        self.container = container
        self.processor_name = processor_name
        self._lease_container = lease_container
        self._feed = LeaseFeed(container, mode=mode, start=StartPoint(BEGINNING), max_items=1)

    async def estimate(self) -> list[LeaseLag]:
        """The lag of every lease of the processor, by lease token."""
        container = await self.container.read()
        database = await self.container.database.read()
        prefix = lease_prefix(self.processor_name, self.container._core.account_host,
                              str(database.get("_rid", "")), str(container.get("_rid", "")))
        store = LeaseStore(self._lease_container, prefix, SystemClock())
        await store.open()
        result = []
        for lease in await store.list_all():
            try:
                page = await self._feed.read(lease, lease.etag_continuation)
            except FeedRangeGone:
                result.append(LeaseLag(lease.token, lease.owner, 1))  # being split: not caught up
                continue
            latest = session_lsn(page.headers.get("x-ms-session-token"))
            if page.not_modified or not page.items or latest is None:
                result.append(LeaseLag(lease.token, lease.owner, 0))
                continue
            first = page.items[0].get("_lsn")
            lag = latest - int(first) + 1 if isinstance(first, int) else 1
            result.append(LeaseLag(lease.token, lease.owner, max(lag, 1)))
        return result
