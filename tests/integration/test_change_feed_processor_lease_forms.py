"""A split of an EPK lease set seeded in an official SDK's layout: the children are created in that
layout, field by field (the Java layout from the Java SDK's recorded lease document, the .NET one
from its serializer), stay in it through every later write, and continue from their parent's position.

The monitored container is behind the change feed front (8 ranges, splits on demand); the lease
container is the plain local server, through a FaultProxy that only watches (its rule never fires:
it records the bodies of the lease creations). Waits are on observable events, bounded generously.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy
from aiocosmos.testing.rules import ProxyRequest
from tests.integration.change_feed_front import FRONT, ChangeFeedFront
from tests.integration.front_ranges import Range
from tests.integration.test_change_feed_processor import FAST, Recorder, lease_docs, wait_for, write
from tests.server import CosmosTestServer

FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures" / "cfp"
JAVA_FIELDS = ["id", "LeaseToken", "ContinuationToken", "timestamp", "Owner", "version", "feedRange"]
"""Java's ``ServiceItemLeaseV1JsonSerializer``, in its order (the server's ``_`` fields aside)."""
DOTNET_FIELDS = ["id", "version", "LeaseToken", "FeedRange", "Owner", "ContinuationToken", "timestamp",
                 "properties", "Mode"]
""".NET's ``DocumentServiceLeaseCoreEpk`` as written (``partitionKey`` only on /partitionKey containers)."""
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$")
DOTNET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


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
async def proxy(cosmos_server: CosmosTestServer) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(cosmos_server.url, seed=1) as watching:
        yield watching


@pytest.fixture
async def leases(database: aiocosmos.DatabaseProxy, proxy: FaultProxy,
                 cosmos_server: CosmosTestServer) -> AsyncIterator[aiocosmos.ContainerProxy]:
    await database.create_container("leases", partition_key=aiocosmos.PartitionKey("/id"))
    async with aiocosmos.CosmosClient(proxy.url, credential=cosmos_server.key) as client:
        yield client.get_database_client(database.id).get_container_client("leases")


def watch_creations(proxy: FaultProxy) -> list[dict[str, Any]]:
    """The bodies of the lease documents created from now on (the rule observes, never fires)."""
    created: list[dict[str, Any]] = []

    def record(request: ProxyRequest) -> bool:
        if request.body:
            body = json.loads(request.body)
            if ".." in body.get("id", ""):
                created.append(body)
        return False

    proxy.add_rule(Fault.throttle(), method="POST", kinds="write", where=record)
    return created


def recorded_java_state() -> dict[str, Any]:
    doc = json.loads((FIXTURES / "java_epk_recorded.json").read_text())
    state: dict[str, Any] = json.loads(base64.urlsafe_b64decode(doc["ContinuationToken"]))
    return state


def java_state_for(low: str, high: str, etag: str) -> dict[str, Any]:
    """The recorded Java state, moved to our container and narrowed to [low, high) at ``etag``."""
    state = recorded_java_state()
    state["Rid"] = state["Continuation"]["Rid"] = "feedRid=="
    state["Continuation"]["Continuation"] = [{"token": etag, "range": {"min": low, "max": high}}]
    state["Continuation"]["Range"] = {**state["Continuation"]["Range"], "min": low, "max": high}
    return state


def java_lease(prefix: str, r: Range, etag: str) -> dict[str, Any]:
    template = json.loads((FIXTURES / "java_epk_recorded.json").read_text())
    state = java_state_for(r.low, r.high, etag)
    return {**template, "id": f"{prefix}..{r.low}-{r.high}", "LeaseToken": f"{r.low}-{r.high}", "Owner": None,
            "ContinuationToken": base64.urlsafe_b64encode(json.dumps(state).encode()).decode(),
            "feedRange": {"Range": {**template["feedRange"]["Range"], "min": r.low, "max": r.high}}}


def dotnet_lease(prefix: str, r: Range, etag: str) -> dict[str, Any]:
    template = json.loads((FIXTURES / "dotnet_v1_epk.json").read_text())
    return {**{k: v for k, v in template.items() if not k.startswith("_")},
            "id": f"{prefix}..{r.low}-{r.high}", "LeaseToken": f"{r.low}-{r.high}", "Owner": None,
            "ContinuationToken": etag, "properties": {}, "FeedRange": {"Range": {"min": r.low, "max": r.high}}}


def check_java(doc: dict[str, Any], low: str, high: str, *, created: bool = False) -> int:
    """``doc`` is a Java EPK lease over [low, high), field by field (as created: Java stamps a new
    lease with its creation time too); returns the LSN it resumes from."""
    assert [k for k in doc if not k.startswith("_")] == JAVA_FIELDS
    assert doc["LeaseToken"] == f"{low}-{high}" and doc["version"] == 1 and doc["Owner"] is None
    assert doc["feedRange"] == {"Range": {"min": low, "max": high, "isMinInclusive": True, "isMaxInclusive": False}}
    assert INSTANT.match(doc["timestamp"]), (created, doc["timestamp"])
    assert doc["ContinuationToken"].endswith("=") or len(doc["ContinuationToken"]) % 4 == 0  # padded
    state = json.loads(base64.urlsafe_b64decode(doc["ContinuationToken"]))
    etag = state["Continuation"]["Continuation"][0]["token"]
    assert state == java_state_for(low, high, etag)  # the recorded state, only range and etag differ
    return int(json.loads(etag))


def check_dotnet(doc: dict[str, Any], low: str, high: str, *, created: bool = False) -> int:
    """``doc`` is a .NET EPK lease over [low, high), field by field (as created: no timestamp yet,
    as .NET leaves ``ExplicitTimestamp`` unset); returns the LSN it resumes from."""
    assert [k for k in doc if not k.startswith("_")] == DOTNET_FIELDS
    assert doc["LeaseToken"] == f"{low}-{high}" and doc["version"] == 1 and doc["Owner"] is None
    assert doc["FeedRange"] == {"Range": {"min": low, "max": high}}
    assert doc["properties"] == {} and doc["Mode"] == "Incremental Feed"
    if created:
        assert doc["timestamp"] is None
    else:
        assert DOTNET_TIME.match(doc["timestamp"]), doc["timestamp"]
    return int(json.loads(doc["ContinuationToken"]))


@pytest.mark.parametrize(("seed", "check"), [(java_lease, check_java), (dotnet_lease, check_dotnet)],
                         ids=["java", "dotnet"])
async def test_a_split_epk_lease_leaves_children_in_its_own_layout(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
    database: aiocosmos.DatabaseProxy, proxy: FaultProxy,
    seed: Callable[[str, Range, str], dict[str, Any]], check: Callable[..., int],
) -> None:
    await write(feed, 100)
    positions = {r.id: r.lsn for r in front.live_ranges()}
    later = await write(feed, 200, start=100, docs=200)  # a backlog of several pages per range
    db_rid = (await database.read())["_rid"]
    prefix = f"cfp127.0.0.1_{db_rid}_feedRid=="
    for r in front.live_ranges():
        await leases.create_item(seed(prefix, r, f'"{positions[r.id]}"'))
    await leases.create_item({"id": prefix + ".info"})
    created = watch_creations(proxy)
    parent = front.ranges["0"]
    recorder = Recorder()
    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", recorder, lease_container=leases,
                                              start_time="Beginning", max_item_count=3, **FAST)
    async with processor:
        front.split_after(2, "0")  # while the lease over range 0 is mid-way through its backlog
        await wait_for(lambda: recorder.has(later) and processor.stats.splits == 1)
        more = await write(feed, 60, start=300)
        await wait_for(lambda: recorder.has(more))
    assert all(min(values) >= 100 for values in recorder.seen.values())  # resumed, not from the beginning
    left, right = (r for r in front.live_ranges() if r.id in ("8", "9"))
    assert [doc["LeaseToken"] for doc in created] == [f"{parent.low}-{left.high}", f"{right.low}-{parent.high}"]
    for doc, (low, high) in zip(created, [(parent.low, left.high), (right.low, parent.high)], strict=True):
        assert check(doc, low, high, created=True) >= positions["0"]  # from the parent's position
    docs = {doc["LeaseToken"]: doc for doc in await lease_docs(leases) if ".." in doc["id"]}
    expected = {f"{r.low}-{r.high}" for r in front.live_ranges() if r.id not in ("8", "9")}
    assert set(docs) == expected | {f"{parent.low}-{left.high}", f"{right.low}-{parent.high}"}
    assert left.low == parent.low and right.high == parent.high
    for r in front.live_ranges():
        low, high = (parent.low, left.high) if r is left else (right.low, parent.high) if r is right else (r.low,
                                                                                                          r.high)
        lsn = check(docs[f"{low}-{high}"], low, high)
        assert lsn >= positions.get(r.id, positions["0"])  # children continue past the parent's position
