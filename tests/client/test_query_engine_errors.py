"""A cross-partition query that fails, is cancelled or is closed stops at once (issue 21, defect 8):
no request reaches the gateway afterwards and no task of the pipeline is left behind.

The gateway is the partitioned fake (tests/client/fake_query_partitions.py); every range answers
after a delay except the refused request, which is answered at once, so the other ranges' pages are
in flight (and their next pages would be prefetched) when the error reaches the pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import aiocosmos
from tests.client.conftest import COLL, DB, KEY
from tests.client.fake_query_partitions import (
    FakeQuery,
    FakeQueryServer,
    aggregate_query,
    order_by_query,
    streaming_query,
)
from tests.client.test_query_engine import make_documents

SETTLE = 0.4
"""Long enough for every page in flight (range_delay 0.05) and any page sent after it to arrive."""
DRAIN = 0.02
"""Lets the server read requests whose bytes were written before the query ended (client and server
share the loop). Shorter than range_delay: a request sent after a page in flight came back (the
escaped prefetch of defect 8) cannot be hidden by it."""


@pytest.fixture
async def gateway() -> AsyncIterator[FakeQueryServer]:
    async with FakeQueryServer() as server:
        server.add_documents(make_documents(120, seed=5))
        server.range_delay = 0.05
        yield server


@pytest.fixture
async def container(gateway: FakeQueryServer) -> AsyncIterator[aiocosmos.ContainerProxy]:
    async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
        yield client.get_database_client(DB).get_container_client(COLL)


def pipeline_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
            and "_query" in repr(t.get_coro())]


async def assert_quiet(gateway: FakeQueryServer) -> None:
    """No pipeline task is left, and no range request arrives from now on."""
    assert pipeline_tasks() == []
    await asyncio.sleep(DRAIN)
    sent = len(gateway.range_requests())
    await asyncio.sleep(SETTLE)
    assert len(gateway.range_requests()) == sent, "requests were sent after the query ended"
    assert pipeline_tasks() == []


SHAPES = [order_by_query([("n", False)]), streaming_query(top=500), aggregate_query("SUM", "n")]
FAILURES = [(order_by_query([("n", False)]), 1), (order_by_query([("n", False)]), 2), (streaming_query(top=500), 1),
            (streaming_query(top=500), 2), (aggregate_query("SUM", "n"), 1)]
"""(query, which request of range 2 is refused): an aggregate reads one page per range."""


@pytest.mark.parametrize(("query", "nth"), FAILURES, ids=lambda v: v.text if isinstance(v, FakeQuery) else str(v))
async def test_an_error_on_one_range_stops_every_range(gateway: FakeQueryServer, container: aiocosmos.ContainerProxy,
                                                       query: FakeQuery, nth: int) -> None:
    gateway.register(query)
    gateway.fail_range = {"2": nth}
    with pytest.raises(aiocosmos.BadRequest, match="refused"):
        _ = [i async for i in container.query_items(query.text, max_item_count=3, max_concurrency=4)]
    assert [r for r in gateway.range_requests() if r.reply is not None and r.reply.status == 400]
    await assert_quiet(gateway)


@pytest.mark.parametrize("query", SHAPES, ids=lambda q: q.text)
async def test_cancelling_the_consumer_stops_every_range(gateway: FakeQueryServer,
                                                         container: aiocosmos.ContainerProxy, query: FakeQuery) -> None:
    gateway.register(query)

    async def consume() -> None:
        async for _ in container.query_items(query.text, max_item_count=3, max_concurrency=4):
            pass

    in_flight = asyncio.Event()

    async def hook(request: Any, record: Any) -> None:
        if len(gateway.range_requests()) >= 3:
            in_flight.set()

    gateway.before_reply.append(hook)
    task = asyncio.ensure_future(consume())
    await in_flight.wait()  # cancel while range pages are in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_quiet(gateway)


async def test_aclose_after_the_first_page_stops_every_range(gateway: FakeQueryServer,
                                                             container: aiocosmos.ContainerProxy) -> None:
    query = gateway.register(order_by_query([("n", True)]))
    pages = container.query_items(query.text, max_item_count=3, max_concurrency=4).by_page()
    await pages.__anext__()
    await pages.aclose()
    await assert_quiet(gateway)
