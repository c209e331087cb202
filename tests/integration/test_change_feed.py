"""Feed ranges and the change feed against the local server, for what it really does.

The server has one partition key range (``["", "FF")``, id ``0``); its change feed is a stub
(tests/cosmos-server/README.md): without ``If-None-Match`` it answers with the read feed and etag
``"1"``, with ``If-None-Match`` (any value, ``*`` included) it answers 304. A partition-key header
scopes the read feed to that logical partition. It ignores ``If-Modified-Since`` and EPK bounds, so
they are tested at the recording server only. Every request's signature is checked by the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos import FeedRange
from tests.server import CosmosTestServer

IDS = [f"item-{n}" for n in range(6)]


@pytest.fixture
async def filled(container: aiocosmos.ContainerProxy) -> AsyncIterator[aiocosmos.ContainerProxy]:
    for n, item_id in enumerate(IDS):
        await container.create_item({"id": item_id, "pk": f"p{n % 2}", "n": n})
    yield container


async def test_read_feed_ranges_returns_the_single_range(
    container: aiocosmos.ContainerProxy, cosmos_server: CosmosTestServer
) -> None:
    assert await container.read_feed_ranges() == [FeedRange.full()]
    assert [r async for r in container.read_feed_ranges(force_refresh=True)] == [FeedRange.full()]
    # azure-cosmos reads the same ranges from the same server.
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure_container = azure_client.get_database_client(container.database.id).get_container_client(container.id)
        assert [r async for r in azure_container.read_feed_ranges()] == [FeedRange.full().to_dict()]


async def test_the_change_feed_from_the_beginning_returns_the_documents(filled: aiocosmos.ContainerProxy) -> None:
    pages = filled.query_items_change_feed(start_time="Beginning").by_page()
    got = [page async for page in pages]
    items = [item for page in got for item in page]
    assert sorted(item["id"] for item in items) == IDS
    assert all(page.continuation for page in got)
    # Resuming sends the etag the stub gave ("1"), which it answers with 304: caught up, nothing new.
    assert [item async for item in filled.query_items_change_feed(continuation=pages.continuation)] == []


async def test_the_change_feed_from_now_is_empty(filled: aiocosmos.ContainerProxy) -> None:
    pages = filled.query_items_change_feed(start_time="Now").by_page()
    assert [page async for page in pages] == []
    assert pages.continuation.startswith("acf1.")


async def test_a_partition_key_change_feed_sees_only_that_partition(filled: aiocosmos.ContainerProxy) -> None:
    items = [item async for item in filled.query_items_change_feed(start_time="Beginning", partition_key="p1")]
    assert sorted(item["id"] for item in items) == [i for n, i in enumerate(IDS) if n % 2 == 1]


async def test_watch_changes_yields_the_documents_then_can_be_closed(filled: aiocosmos.ContainerProxy) -> None:
    watch = filled.watch_changes(start_time="Beginning", poll_interval=0.01)
    batch = await watch.__anext__()
    assert sorted(item["id"] for item in batch.items) == IDS
    assert batch.continuation is not None
    await watch.aclose()


async def test_a_partition_keys_feed_range_lies_in_the_container_range(filled: aiocosmos.ContainerProxy) -> None:
    feed_range = await filled.feed_range_from_partition_key("p1")
    assert feed_range.min == feed_range.max and feed_range.is_max_inclusive
    [container_range] = await filled.read_feed_ranges()
    assert await filled.is_feed_range_subset(container_range, feed_range)
    assert not await filled.is_feed_range_subset(feed_range, container_range)
