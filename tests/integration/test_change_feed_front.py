"""The change feed front (change_feed_front.py) checked against azure-cosmos, the oracle of a correct
change feed client: both clients read the same changes from it, per range, per partition key, from
the beginning, from now, across a split and a merge, and in the all versions and deletes mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
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


async def azure_continuation(front: ChangeFeedFront, key: str, **kwargs: Any) -> tuple[list[dict[str, Any]], str]:
    """azure-cosmos's changes and the continuation after them (the composite token in the last etag)."""
    async with AzureClient(front.url, credential=key) as azure:
        container = azure.get_database_client(front.database).get_container_client(FRONT)
        items = [item async for item in container.query_items_change_feed(**kwargs)]
        return items, container.client_connection.last_response_headers["etag"]


async def test_a_merge_serves_each_parents_rest_through_epk_bounds(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, cosmos_server: CosmosTestServer,
) -> None:
    for n in range(40):
        await feed.upsert_item({"id": f"old{n}", "pk": f"p{n}", "n": n})
    pages = feed.query_items_change_feed(start_time="Now").by_page()
    assert [page async for page in pages] == []
    mine_token = pages.continuation
    _, theirs_token = await azure_continuation(front, cosmos_server.key, start_time="Now")
    at_now = {r.id: r.lsn for r in front.live_ranges()}
    for n in range(40):
        await feed.upsert_item({"id": f"new{n}", "pk": f"p{n}", "n": 100 + n})
    before = {r.id: r.lsn for r in front.live_ranges()}
    merged = front.merge("0", "1")
    assert front.ranges[merged].lsn == max(before["0"], before["1"])
    assert {r.id for r in front.live_ranges()} == {merged, "2", "3", "4", "5", "6", "7"}
    for n in range(40):
        await feed.upsert_item({"id": f"late{n}", "pk": f"p{n}", "n": 200 + n})
    expected = sorted([f"new{n}" for n in range(40)] + [f"late{n}" for n in range(40)])
    pages = feed.query_items_change_feed(continuation=mine_token).by_page()
    mine = [item async for page in pages for item in page]
    theirs, _ = await azure_continuation(front, cosmos_server.key, continuation=theirs_token)
    assert sorted(item["id"] for item in mine) == expected  # every change once: nothing of the old, none twice
    assert sorted(item["id"] for item in theirs) == expected
    # The merged range was read with EPK bounds: each parent's interval from that parent's etag, by both clients.
    for parent in ("0", "1"):
        bounds = (merged, front.ranges[parent].low, front.ranges[parent].high, f'"{at_now[parent]}"')
        assert front.epk_reads.count(bounds) >= 2, (bounds, front.epk_reads)
    assert [item async for item in feed.query_items_change_feed(continuation=pages.continuation)] == []
    everything = await azure_changes(front, cosmos_server.key, start_time="Beginning")
    assert len(everything) == 120 and versions(everything) == versions(
        [item async for item in feed.query_items_change_feed(start_time="Beginning")])


def fidelity(items: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(c["metadata"]["operationType"], (c.get("current") or c.get("previous") or {})["id"],
             c["metadata"]["lsn"]) for c in items]


async def test_all_versions_and_deletes_match_azure_cosmos(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, cosmos_server: CosmosTestServer,
) -> None:
    await feed.upsert_item({"id": "before", "pk": "p0", "n": -1})
    pages = feed.query_items_change_feed(mode="AllVersionsAndDeletes", start_time="Now").by_page()
    assert [page async for page in pages] == []
    mine_token = pages.continuation
    _, theirs_token = await azure_continuation(front, cosmos_server.key, mode="AllVersionsAndDeletes",
                                               start_time="Now")
    for n in range(30):
        await feed.upsert_item({"id": f"d{n % 10}", "pk": f"p{n % 10}", "n": n})  # 10 creates, 20 replaces
    for n in range(0, 10, 3):
        await feed.delete_item(f"d{n}", partition_key=f"p{n}")  # 4 deletes
    await feed.delete_item("before", partition_key="p0")
    mine = [item async for item in feed.query_items_change_feed(mode="AllVersionsAndDeletes",
                                                                continuation=mine_token)]
    theirs, _ = await azure_continuation(front, cosmos_server.key, mode="AllVersionsAndDeletes",
                                         continuation=theirs_token)
    assert sorted(fidelity(mine)) == sorted(fidelity(theirs))
    kinds = [kind for kind, _, _ in fidelity(mine)]
    assert (kinds.count("create"), kinds.count("replace"), kinds.count("delete")) == (10, 20, 5)
    by_key: dict[str, list[int]] = {}
    for change in mine:
        metadata = change["metadata"]
        if metadata["operationType"] == "delete":
            assert "current" not in change and change["previous"]["id"] == metadata["id"]
            assert metadata["previousImageLSN"] == change["previous"]["_lsn"] < metadata["lsn"]
        else:
            assert change["current"]["_lsn"] == metadata["lsn"]
            assert ("previous" in change) == (metadata["operationType"] == "replace")
            by_key.setdefault(change["current"]["pk"], []).append(change["current"]["n"])
    assert all(values == sorted(values) for values in by_key.values()) and len(by_key) == 10
    # The front requires the wire format header, so a client that leaves it out fails here.
    headers = {"A-IM": "Full-Fidelity Feed", "If-None-Match": "*", "x-ms-documentdb-partitionkeyrangeid": "0"}
    async with aiohttp.ClientSession() as session, \
            session.get(f"{front.url}/dbs/{front.database}/colls/{FRONT}/docs", headers=headers) as response:
        assert response.status == 400
