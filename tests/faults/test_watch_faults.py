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
    # Each failed pass is counted, logged and waited for once. How many passes an outage fails depends
    # on the connection a reset hits: a reset on a reused pooled connection is a stale connection,
    # resent at once outside the retry budget. Without that, requests 1-2 and 3-4 fail two passes, 5-6
    # succeeds; 10-11 and 12-13 fail two more.
    stats = watcher.stats
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and "watch_changes" in r.getMessage()]
    backoffs = [s for s in clock.sleeps if s > 0.5]  # the pipeline's retries wait at most 0.1 s, polls 0.5 s
    assert 2 <= stats.transient_failures == len(warnings) == len(backoffs) <= 4
    assert (stats.consecutive_failures, stats.pages) == (0, 1)
    assert stats.passes >= 2 and isinstance(stats.last_error, aiocosmos.CosmosError)
    assert all("resuming from the last position" in message for message in warnings)
    in_a_row = [int(message.split("(")[1].split(" in a row")[0]) for message in warnings]
    assert in_a_row.count(1) == 2  # one run of failures per outage: the count restarts after a success
    for row, wait in zip(in_a_row, backoffs, strict=True):
        assert (1.0 <= wait <= 2.0) if row == 1 else (2.0 <= wait <= 4.0), (in_a_row, backoffs)
    assert stats.waited == pytest.approx(sum(backoffs))


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
