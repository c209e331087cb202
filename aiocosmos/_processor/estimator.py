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
from .stats import change_lsn, session_lsn
from .store import LeaseStore

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["ChangeFeedEstimator", "LeaseLag", "session_lsn"]


@attrs.frozen
class LeaseLag:
    """How far one lease of a processor is behind the container's change feed."""

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
            first = change_lsn(page.items[0])
            lag = latest - first + 1 if first is not None else 1
            result.append(LeaseLag(lease.token, lease.owner, max(lag, 1)))
        return result
