"""The change feed processor across a merge, and in the all versions and deletes mode, against the
change feed front (whose merges and full-fidelity feed are checked against azure-cosmos in
test_change_feed_front.py). Waits are on observable events, bounded generously."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

import aiocosmos
from tests.integration.change_feed_front import FRONT, ChangeFeedFront
from tests.integration.test_change_feed_front import azure_continuation, fidelity
from tests.integration.test_change_feed_processor import FAST, Recorder, _all_checkpointed, lease_docs, wait_for, write
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


@pytest.fixture
async def leases(database: aiocosmos.DatabaseProxy) -> aiocosmos.ContainerProxy:
    return await database.create_container("leases", partition_key=aiocosmos.PartitionKey("/id"))


class Counting(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.deliveries: Counter[tuple[str, int]] = Counter()

    async def __call__(self, changes: list[dict[str, Any]], ctx: aiocosmos.ChangeFeedContext) -> None:
        await super().__call__(changes, ctx)
        self.deliveries.update((c["id"], c["n"]) for c in changes)


async def test_a_merge_turns_the_v0_leases_into_epk_leases_and_loses_nothing(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
) -> None:
    final = await write(feed, 200)
    recorder = Counting()
    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", recorder, lease_container=leases,
                                              start_time="Beginning", max_item_count=3, **FAST)
    low0, high0, low1, high1 = front.ranges["0"].low, front.ranges["0"].high, front.ranges["1"].low, \
        front.ranges["1"].high
    async with processor:
        front.merge_after(2, "0", "1")  # while leases 0 and 1 are mid-way through their backlog
        await wait_for(lambda: recorder.has(final))
        assert {r.id for r in front.live_ranges()} == {"2", "3", "4", "5", "6", "7", "8"}
        more = await write(feed, 100, start=200)
        await wait_for(lambda: recorder.has(more))
        assert processor.stats.splits == 2  # leases 0 and 1, each replaced once
        assert sorted(processor.owned_leases) == sorted(["2", "3", "4", "5", "6", "7", f"{low0}-{high0}",
                                                         f"{low1}-{high1}"])
    assert max(recorder.deliveries.values()) == 1  # none twice (one host, no crash)
    for values in recorder.by_pk.values():
        assert values == sorted(values)  # in order per partition key
    docs = {doc["LeaseToken"]: doc for doc in await lease_docs(leases) if ".." in doc["id"]}
    assert sorted(docs) == sorted(["2", "3", "4", "5", "6", "7", f"{low0}-{high0}", f"{low1}-{high1}"])
    for token, (low, high) in {f"{low0}-{high0}": (low0, high0), f"{low1}-{high1}": (low1, high1)}.items():
        epk = docs[token]
        assert epk["version"] == 1 and epk["FeedRange"] == {"Range": {"min": low, "max": high}}
        last = max(doc["_lsn"] for key, doc in front.docs.items() if low <= front.epks[key] < high)
        assert epk["ContinuationToken"] == f'"{last}"'  # the last change of its interval, on the merged range
    bounded = {(low, high) for range_id, low, high, _ in front.epk_reads if range_id == "8"}
    assert bounded == {(low0, high0), (low1, high1)}
    estimator = aiocosmos.ChangeFeedEstimator(feed, "cfp", lease_container=leases)
    assert all(lag.lag == 0 for lag in await estimator.estimate())


async def test_all_versions_and_deletes_delivers_every_version_and_delete(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
    cosmos_server: CosmosTestServer,
) -> None:
    await write(feed, 20, docs=20)  # before "now": not delivered
    delivered: list[dict[str, Any]] = []

    async def handle(changes: list[dict[str, Any]], ctx: aiocosmos.ChangeFeedContext) -> None:
        delivered.extend(changes)

    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", handle, lease_container=leases,
                                              mode="AllVersionsAndDeletes", max_item_count=7, **FAST)
    async with processor:
        await wait_for(lambda: _all_checkpointed(leases, 8))  # every lease has pinned "now"
        _, token = await azure_continuation(front, cosmos_server.key, mode="AllVersionsAndDeletes", start_time="Now")
        await write(feed, 60, start=100, docs=30)  # ids d10..d29 (d20..d29 new), d0..d9, d10..d29 again
        for n in range(0, 30, 4):
            await feed.delete_item(f"d{n}", partition_key=f"p{n % 17}")
        expected, _ = await azure_continuation(front, cosmos_server.key, mode="AllVersionsAndDeletes",
                                               continuation=token)
        assert len(expected) == 68
        await wait_for(lambda: len(delivered) >= len(expected))
        await wait_for(lambda: processor.stats.lag == 0 and len(processor.stats.lags) == 8)
        assert processor.stats.changes == 68
    assert sorted(fidelity(delivered)) == sorted(fidelity(expected))  # azure-cosmos reads the same, none twice
    kinds = Counter(kind for kind, _, _ in fidelity(delivered))
    assert kinds == {"create": 10, "replace": 50, "delete": 8}
    per_key: dict[str, list[int]] = {}
    for change in delivered:
        per_key.setdefault(change["metadata"].get("id") or change["current"]["id"], []).append(
            change["metadata"]["lsn"])
    assert all(lsns == sorted(lsns) for lsns in per_key.values())  # in order per document
    docs = [doc for doc in await lease_docs(leases) if ".." in doc["id"]]
    assert len(docs) == 8 and all(doc["Mode"] == "Full-Fidelity Feed" for doc in docs)
    estimator = aiocosmos.ChangeFeedEstimator(feed, "cfp", lease_container=leases, mode="AllVersionsAndDeletes")
    assert sum(lag.lag for lag in await estimator.estimate()) == 0
    for n in range(5):
        await feed.upsert_item({"id": f"late{n}", "pk": "p1", "n": 500 + n})
    await feed.delete_item("late0", partition_key="p1")
    assert sum(lag.lag for lag in await estimator.estimate()) == 6  # 5 creates and a delete, not processed
