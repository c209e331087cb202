"""``watch_changes`` through the fault proxy, in front of the local server: outages of 503s, 408s and
connection resets on the change feed are ridden out with backoff, every change is delivered exactly
once across them, and errors that trying again cannot fix (401, 404) end the watcher.

The local server's change feed is a stub (tests/cosmos-server/README.md): without ``If-None-Match``
it answers every document with etag ``"1"``, with it 304. So a watcher that lost its position after
an outage (and read from the beginning again) would deliver every document a second time."""

from __future__ import annotations

import asyncio
import logging

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock, Fault, FaultProxy, ProxyRequest
from tests.faults.conftest import ClientFactory, through

OUTAGES = (range(1, 6), range(10, 14))
"""The numbers of the change-feed requests that fail: five in a row at the first read, then four."""
STOP_AFTER = 20


async def test_a_watcher_rides_out_outages_and_delivers_every_change_once(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="aiocosmos")
    for n in range(5):
        await fresh_container.create_item({"id": f"d{n}", "pk": f"p{n % 2}", "n": n})
    feed_requests = 0
    enough = asyncio.Event()

    def count(request: ProxyRequest) -> None:
        nonlocal feed_requests
        if request.kind == "feed":
            feed_requests += 1
            if feed_requests >= STOP_AFTER:
                enough.set()

    proxy.observers.append(count)
    proxy.add_rule(Fault.unavailable(), Fault.timeout(), Fault.reset_before(), Fault.reset_after(), kinds="feed",
                   where=lambda request: any(feed_requests in outage for outage in OUTAGES))
    clock = FakeClock()
    # One retry per request (two attempts): a pass fails on the second failed request in a row.
    client = make_client(clock=clock, retry=aiocosmos.RetryPolicy(max_transient_retries=1))
    container = through(client, fresh_container)
    watcher = container.watch_changes(start_time="Beginning", poll_interval=0.5,
                                      backoff=aiocosmos.WatchBackoff(base_delay=2.0, max_delay=4.0))
    delivered: list[str] = []

    async def consume() -> None:
        async for page in watcher:
            delivered.extend(item["id"] for item in page.items)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(enough.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(delivered) == [f"d{n}" for n in range(5)]  # every change, exactly once
    faulted = sum(proxy.counts().values())
    assert faulted == 9
    # Requests 1-2, 3-4 (two failed passes), 5 then 6 succeeds; later 10-11, 12-13, then 14 succeeds.
    stats = watcher.stats
    assert (stats.transient_failures, stats.consecutive_failures, stats.pages) == (4, 0, 1)
    assert stats.passes >= 2 and isinstance(stats.last_error, aiocosmos.CosmosError)
    backoffs = [s for s in clock.sleeps if s > 0.5]  # the pipeline's retries wait at most 0.1 s, polls 0.5 s
    assert len(backoffs) == 4 and 1.0 <= backoffs[0] <= 2.0 and 2.0 <= backoffs[1] <= 4.0
    assert 1.0 <= backoffs[2] <= 2.0 and 2.0 <= backoffs[3] <= 4.0  # the count restarts after a success
    assert stats.waited == pytest.approx(sum(backoffs))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "watch_changes" in r.getMessage()]
    assert len(warnings) == 4 and all("resuming from the last position" in r.getMessage() for r in warnings)


async def test_a_watcher_ends_with_401(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    await fresh_container.create_item({"id": "d0", "pk": "p0"})
    proxy.add_rule(Fault.status_code(401, message="the key was rotated"), kinds="feed", skip=1, times=1)
    container = through(make_client(clock=FakeClock()), fresh_container)
    watcher = container.watch_changes(start_time="Beginning", poll_interval=0.5)
    seen: list[str] = []
    with pytest.raises(aiocosmos.Unauthorized):
        async for page in watcher:
            seen.extend(item["id"] for item in page.items)
    assert seen == ["d0"]
    assert watcher.stats.transient_failures == 0
    assert proxy.counts() == {"401/0": 1}


async def test_a_watcher_ends_with_404_when_its_container_is_deleted(
    make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    await fresh_container.create_item({"id": "d0", "pk": "p0"})
    container = through(make_client(clock=FakeClock()), fresh_container)
    watcher = container.watch_changes(start_time="Beginning", poll_interval=0.5)
    with pytest.raises(aiocosmos.NotFound):
        async for page in watcher:
            assert [item["id"] for item in page.items] == ["d0"]
            await fresh_container.database.delete_container(fresh_container)
    assert watcher.stats.transient_failures == 0 and watcher.stats.pages == 1
