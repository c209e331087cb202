"""The change feed front (change_feed_front.py) checked against azure-cosmos, the oracle of a correct
change feed client: both clients read the same changes from it, per range, per partition key, from
the beginning, from now and across a split."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.integration.change_feed_front import FRONT, ChangeFeedFront
from tests.server import CosmosTestServer


@pytest.fixture
async def front(database: aiocosmos.DatabaseProxy, cosmos_server: CosmosTestServer) -> AsyncIterator[ChangeFeedFront]:
    server = await ChangeFeedFront(cosmos_server.url, database.id, ranges=8).start()
    yield server
    await server.close()


@pytest.fixture
async def feed(front: ChangeFeedFront, cosmos_server: CosmosTestServer) -> AsyncIterator[aiocosmos.ContainerProxy]:
    async with aiocosmos.CosmosClient(front.url, credential=cosmos_server.key) as client:
        yield client.get_database_client(front.database).get_container_client(FRONT)


async def azure_changes(front: ChangeFeedFront, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    async with AzureClient(front.url, credential=key) as azure:
        container = azure.get_database_client(front.database).get_container_client(FRONT)
        return [item async for item in container.query_items_change_feed(**kwargs)]


def versions(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return sorted((item["id"], item["n"]) for item in items)


async def test_both_clients_read_the_same_changes(front: ChangeFeedFront, feed: aiocosmos.ContainerProxy,
                                                  cosmos_server: CosmosTestServer) -> None:
    for n in range(60):
        await feed.upsert_item({"id": f"d{n % 40}", "pk": f"p{n % 40 % 13}", "n": n})
    assert len({r.id for r in front.live_ranges()}) == 8
    assert sum(1 for r in front.live_ranges() if r.lsn) >= 6  # the writes spread over the ranges
    mine = [item async for item in feed.query_items_change_feed(start_time="Beginning")]
    theirs = await azure_changes(front, cosmos_server.key, start_time="Beginning")
    assert versions(mine) == versions(theirs)
    assert len(mine) == 40 and {item["n"] for item in mine} == set(range(20, 60))  # latest versions only
    # Per partition key, and in LSN order within it.
    mine_p3 = [item async for item in feed.query_items_change_feed(start_time="Beginning", partition_key="p3")]
    theirs_p3 = await azure_changes(front, cosmos_server.key, start_time="Beginning", partition_key="p3")
    assert [i["id"] for i in mine_p3] == [i["id"] for i in theirs_p3] and mine_p3
    assert [i["_lsn"] for i in mine_p3] == sorted(i["_lsn"] for i in mine_p3)


async def test_now_then_new_writes_and_a_split_in_between(front: ChangeFeedFront, feed: aiocosmos.ContainerProxy,
                                                          cosmos_server: CosmosTestServer) -> None:
    for n in range(20):
        await feed.upsert_item({"id": f"old{n}", "pk": f"p{n}", "n": n})
    pages = feed.query_items_change_feed(start_time="Now").by_page()
    assert [page async for page in pages] == []
    token = pages.continuation
    for n in range(20):
        await feed.upsert_item({"id": f"new{n}", "pk": f"p{n}", "n": 100 + n})
    front.split("0")
    pages = feed.query_items_change_feed(continuation=token).by_page()
    after = [item async for page in pages for item in page]
    assert sorted(item["id"] for item in after) == sorted(f"new{n}" for n in range(20))
    assert front.gone_answers >= 1  # the old token still named range 0; the children took over from its etag
    assert [item async for item in feed.query_items_change_feed(continuation=pages.continuation)] == []
    # azure-cosmos reads the split container the same way: everything once, from the beginning.
    everything = await azure_changes(front, cosmos_server.key, start_time="Beginning")
    assert sorted(item["id"] for item in everything) == sorted([f"old{n}" for n in range(20)]
                                                               + [f"new{n}" for n in range(20)])
