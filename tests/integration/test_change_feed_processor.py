"""The change feed processor on one host: the monitored container behind the change feed front
(8 ranges, a faithful change feed), the lease container on the plain local server (another client).

Timing: short intervals on the real clock; every wait is on an observable event (the changes seen,
a lease document's state) with a generous bound, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy, ProxyRequest
from tests.integration.change_feed_front import FRONT, ChangeFeedFront, epk_of
from tests.server import CosmosTestServer

FAST = {"acquire_interval": 0.2, "renew_interval": 0.5, "expiration_interval": 5.0, "poll_interval": 0.05}
FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures" / "cfp"


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.05)


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


class Recorder:
    def __init__(self) -> None:
        self.seen: dict[str, set[int]] = defaultdict(set)
        self.by_pk: dict[str, list[int]] = defaultdict(list)
        self.tokens: set[str] = set()
        self.calls = 0

    async def __call__(self, changes: list[dict[str, Any]], ctx: aiocosmos.ChangeFeedContext) -> None:
        self.calls += 1
        self.tokens.add(ctx.lease_token)
        for change in changes:
            self.seen[change["id"]].add(change["n"])
            self.by_pk[change["pk"]].append(change["n"])

    def has(self, final: dict[str, int]) -> bool:
        return all(n in self.seen.get(doc_id, ()) for doc_id, n in final.items())


async def write(feed: aiocosmos.ContainerProxy, count: int, *, start: int = 0, docs: int = 50) -> dict[str, int]:
    """``count`` upserts over ``docs`` ids (so most are updates); the final ``n`` of each id."""
    final: dict[str, int] = {}
    for n in range(start, start + count):
        doc_id = f"d{n % docs}"
        await feed.upsert_item({"id": doc_id, "pk": f"p{n % docs % 17}", "n": n})
        final[doc_id] = n
    return final


async def lease_docs(leases: aiocosmos.ContainerProxy) -> list[dict[str, Any]]:
    return [doc async for doc in leases.query_items("SELECT * FROM c WHERE STARTSWITH(c.id, 'cfp')")]


async def test_every_final_version_is_delivered_in_order_per_key_and_checkpointed(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
) -> None:
    final = await write(feed, 300)
    recorder = Recorder()
    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", recorder, lease_container=leases,
                                              instance_name="host-1", start_time="Beginning", **FAST)
    async with processor:
        await wait_for(lambda: recorder.has(final))
        more = await write(feed, 100, start=300)
        await wait_for(lambda: recorder.has(more))
        assert len(processor.owned_leases) == 8
    workers = [t for t in asyncio.all_tasks() if any(
        name in repr(t.get_coro()) for name in ("_read_forever", "_renew_forever", "Worker.run"))]
    assert workers == []  # stop() left no worker task behind
    for values in recorder.by_pk.values():
        assert values == sorted(values)  # in order per partition key (no redelivery on one host)
    docs = await lease_docs(leases)
    by_token = {doc["LeaseToken"]: doc for doc in docs if ".." in doc["id"]}
    assert sorted(by_token) == [str(k) for k in range(8)]
    ranges = {r.id: r for r in front.live_ranges()}
    for token, doc in by_token.items():
        assert doc["id"].startswith("cfp127.0.0.1_") and doc["id"].endswith(".." + token)
        assert doc["version"] == 0 and doc["Mode"] == "Incremental Feed" and doc["properties"] == {}
        assert doc["FeedRange"] == {"Range": {"min": ranges[token].low, "max": ranges[token].high}}
        assert doc["Owner"] is None  # released on stop
        assert doc["ContinuationToken"] == f'"{ranges[token].lsn}"'  # the raw etag: caught up
        assert doc["timestamp"].endswith("Z")
    ids = {doc["id"] for doc in docs}
    prefix = next(iter(by_token.values()))["id"].rsplit("..", 1)[0]
    assert prefix + ".info" in ids and prefix + ".lock" not in ids


async def test_a_failing_handler_is_retried_and_reported_without_checkpointing(
    feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
) -> None:
    final = await write(feed, 40, docs=40)
    recorder = Recorder()
    failures: list[tuple[str, str]] = []
    remaining = {"fail": 3}

    async def flaky(changes: list[dict[str, Any]], ctx: aiocosmos.ChangeFeedContext) -> None:
        if remaining["fail"] > 0:
            remaining["fail"] -= 1
            raise RuntimeError("downstream is down")
        await recorder(changes, ctx)

    processor = aiocosmos.ChangeFeedProcessor(
        feed, "cfp", flaky, lease_container=leases, start_time="Beginning", max_leases=1,
        error_handler=lambda token, error: failures.append((token, str(error))), handler_retry=(0.01, 0.05),
        **FAST)
    async with processor:
        await wait_for(lambda: len(failures) == 3)
        await wait_for(lambda: recorder.calls > 0)
        assert processor.stats.handler_errors == 3
        assert len({token for token, _ in failures}) == 1  # the same batch, again and again
    assert all(message == "downstream is down" for _, message in failures)
    assert not recorder.has(final)  # only one lease (max_leases=1) was worked on


async def test_a_failed_checkpoint_is_reported_and_the_lease_is_taken_up_again(
    feed: aiocosmos.ContainerProxy, database: aiocosmos.DatabaseProxy, cosmos_server: CosmosTestServer,
) -> None:
    await database.create_container("leases", partition_key=aiocosmos.PartitionKey("/id"))
    final = await write(feed, 40, docs=40)
    recorder = Recorder()
    failures: list[tuple[str, BaseException]] = []

    def first_checkpoint(request: ProxyRequest) -> bool:
        # A lease write that records a position (renewals of a fresh lease carry none).
        return request.method == "PUT" and b'"ContinuationToken":"' in request.body.replace(b" ", b"")

    async with FaultProxy(cosmos_server.url) as proxy:
        proxy.add_rule(Fault.status_code(403, sub_status=0, message="checkpoint refused"), times=1,
                       where=first_checkpoint)
        async with aiocosmos.CosmosClient(proxy.url, credential=cosmos_server.key) as lease_client:
            leases = lease_client.get_database_client(database.id).get_container_client("leases")
            processor = aiocosmos.ChangeFeedProcessor(
                feed, "cfp", recorder, lease_container=leases, start_time="Beginning", max_leases=1,
                error_handler=lambda token, error: failures.append((token, error)), **FAST)
            async with processor:
                await wait_for(lambda: len(failures) == 1)
                token, error = failures[0]
                assert isinstance(error, aiocosmos.HttpResponseError) and error.status_code == 403
                # The worker stopped; the lease, still owned, is worked on again from its last checkpoint.
                await wait_for(lambda: processor.stats.checkpoints > 0)
                assert processor.owned_leases == [token]
    assert len(failures) == 1
    assert recorder.tokens == {token}
    assert any(change in recorder.seen for change in final)


async def test_start_from_now_skips_what_was_written_before(
    feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
) -> None:
    await write(feed, 30, docs=30)
    recorder = Recorder()
    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", recorder, lease_container=leases, start_time="Now",
                                              **FAST)
    async with processor:
        # Every lease pins "now" on its document before anything new is written.
        await wait_for(lambda: _all_checkpointed(leases, 8))
        later = await write(feed, 30, start=1000, docs=30)
        await wait_for(lambda: recorder.has(later))
    assert all(min(values) >= 1000 for values in recorder.seen.values())


async def _all_checkpointed(leases: aiocosmos.ContainerProxy, count: int) -> bool:
    docs = [d for d in await lease_docs(leases) if ".." in d["id"]]
    return len(docs) == count and all(d["ContinuationToken"] for d in docs)


async def test_a_lease_set_in_the_official_format_is_resumed_from_its_continuations(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
    database: aiocosmos.DatabaseProxy,
) -> None:
    await write(feed, 100)
    positions = {r.id: r.lsn for r in front.live_ranges()}
    later = await write(feed, 60, start=100)
    db_rid = (await database.read())["_rid"]
    prefix = f"cfp127.0.0.1_{db_rid}_feedRid=="
    template = json.loads((FIXTURES / "dotnet_v0_full.json").read_text())
    for r in front.live_ranges():
        doc = {k: v for k, v in template.items() if not k.startswith("_")}
        doc.update(id=f"{prefix}..{r.id}", LeaseToken=r.id, Owner=None, ContinuationToken=f'"{positions[r.id]}"',
                   FeedRange={"Range": {"min": r.low, "max": r.high}})
        await leases.create_item(doc)
    await leases.create_item({"id": prefix + ".info"})
    recorder = Recorder()
    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", recorder, lease_container=leases,
                                              start_time="Beginning", **FAST)
    async with processor:
        await wait_for(lambda: recorder.has(later))
    assert all(min(values) >= 100 for values in recorder.seen.values())  # not from the beginning


async def test_a_split_replaces_the_lease_by_its_children(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
) -> None:
    final = await write(feed, 200)
    recorder = Recorder()
    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", recorder, lease_container=leases,
                                              start_time="Beginning", max_item_count=3, **FAST)
    async with processor:
        front.split_after(2, "0")
        await wait_for(lambda: recorder.has(final))
        more = await write(feed, 100, start=200)
        await wait_for(lambda: recorder.has(more))
        assert processor.stats.splits == 1
    tokens = sorted(doc["LeaseToken"] for doc in await lease_docs(leases) if ".." in doc["id"])
    assert tokens == sorted(["1", "2", "3", "4", "5", "6", "7", "8", "9"])
    assert {"8", "9"} <= recorder.tokens


async def test_the_estimator_reports_the_lag_per_lease(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
) -> None:
    recorder = Recorder()
    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", recorder, lease_container=leases,
                                              start_time="Beginning", **FAST)
    async with processor:
        first = await write(feed, 100)
        await wait_for(lambda: recorder.has(first))
        await wait_for(lambda: _all_checkpointed(leases, 8))
    estimator = aiocosmos.ChangeFeedEstimator(feed, "cfp", lease_container=leases)
    assert {lag.lease_token: lag.lag for lag in await estimator.estimate()} == {str(k): 0 for k in range(8)}
    await write(feed, 40, start=100, docs=40)  # 40 new versions of 40 ids, none processed
    lags = {lag.lease_token: lag.lag for lag in await estimator.estimate()}
    ranges = {r.id: r for r in front.live_ranges()}
    pending: dict[str, int] = {}
    for doc in front.docs.values():
        if doc["n"] >= 100:
            owner = next(r.id for r in ranges.values() if r.holds(epk_of(doc["pk"])))
            pending[owner] = pending.get(owner, 0) + 1
    assert sum(lags.values()) == 40
    assert all(lags[token] == pending.get(token, 0) for token in lags), (lags, pending)


async def test_lag_and_leases_owned_are_observable_instruments(
    front: ChangeFeedFront, leases: aiocosmos.ContainerProxy, cosmos_server: CosmosTestServer,
) -> None:
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])

    def points(name: str) -> list[Any]:
        data = reader.get_metrics_data()
        return [p for r in (data.resource_metrics if data else ()) for s in r.scope_metrics for m in s.metrics
                if m.name == name for p in m.data.data_points]

    release = asyncio.Event()
    recorder = Recorder()

    async def held(changes: list[dict[str, Any]], ctx: aiocosmos.ChangeFeedContext) -> None:
        await release.wait()
        await recorder(changes, ctx)

    options = aiocosmos.ClientOptions(meter_provider=meter_provider)
    async with aiocosmos.CosmosClient(front.url, credential=cosmos_server.key, options=options) as client:
        feed = client.get_database_client(front.database).get_container_client(FRONT)
        final = await write(feed, 100)
        processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", held, lease_container=leases, max_item_count=2,
                                                  start_time="Beginning", **FAST)
        async with processor:
            await wait_for(lambda: len(processor.stats.lags) == 8)  # each lease read its first page, held
            (owned,) = points("aiocosmos.client.change_feed.processor.leases_owned")
            assert owned.value == 8 and owned.attributes["aiocosmos.processor.name"] == "cfp"
            assert owned.attributes["db.collection.name"] == FRONT
            lags = {p.attributes["aiocosmos.lease.token"]: p.value
                    for p in points("aiocosmos.client.change_feed.processor.lag")}
            assert lags == processor.stats.lags and sum(lags.values()) > 0  # 2 of each range's changes read
            release.set()
            await wait_for(lambda: recorder.has(final) and processor.stats.lag == 0)
            lags = {p.attributes["aiocosmos.lease.token"]: p.value
                    for p in points("aiocosmos.client.change_feed.processor.lag")}
            assert set(lags) == {str(k) for k in range(8)} and set(lags.values()) == {0}
        (owned,) = points("aiocosmos.client.change_feed.processor.leases_owned")
        assert owned.value == 0 and points("aiocosmos.client.change_feed.processor.lag") == []
    meter_provider.shutdown()
