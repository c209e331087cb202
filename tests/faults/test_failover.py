"""Multi-region failover against the real local server: three FaultProxy "regions" (distinct ports)
and a fourth as the account's global endpoint, all in front of the same server. Each proxy answers
``GET /`` with the test's current region lists, pointing at the proxies, so the test can take a region
down (stop its proxy: connection refused), fault it (503, 403/3, 404/1002) or move the write region,
and then check, from what each proxy saw, where every request went and that nothing was lost or
written twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

import aiocosmos
from aiocosmos._wire.pipeline import REGIONS_HEADER
from aiocosmos.testing import FakeClock, Fault, FaultProxy, ProxyRequest
from tests.faults.conftest import SEED, ClientFactory, all_items, through
from tests.server import CosmosTestServer

NAMES = ("West", "East", "North")


class Topology:
    """The account's region lists, by region name; every proxy serves them in its ``GET /``."""

    def __init__(self) -> None:
        self.writable: list[str] = ["West"]
        self.readable: list[str] = ["West", "East", "North"]
        self.proxies: dict[str, RegionProxy] = {}

    def locations(self, names: list[str]) -> list[dict[str, str]]:
        return [{"name": f"{n} US", "databaseAccountEndpoint": self.proxies[n].url + "/"} for n in names]


class RegionProxy(FaultProxy):
    """A FaultProxy that presents itself as one region of a multi-region account."""

    def __init__(self, upstream: str, topology: Topology, **kwargs: Any) -> None:
        super().__init__(upstream, **kwargs)
        self.topology = topology
        self.seen: list[ProxyRequest] = []
        self.observers.append(self.seen.append)
        self.account_rewriter = self._regions

    def _regions(self, account: dict[str, Any]) -> dict[str, Any]:
        account["writableLocations"] = self.topology.locations(self.topology.writable)
        account["readableLocations"] = self.topology.locations(self.topology.readable)
        return account

    def item_requests(self, kind: str) -> list[ProxyRequest]:
        return [r for r in self.seen if r.kind == kind and "/docs" in r.path]


@pytest.fixture
async def topology(cosmos_server: CosmosTestServer) -> AsyncIterator[Topology]:
    topology = Topology()
    try:
        for name in ("global", *NAMES):
            topology.proxies[name] = RegionProxy(cosmos_server.url, topology, seed=SEED)
            await topology.proxies[name].start()
        yield topology
    finally:
        for proxy in topology.proxies.values():
            await proxy.stop()


def regional(make_client: ClientFactory, topology: Topology, container: aiocosmos.ContainerProxy,
             **options: Any) -> aiocosmos.ContainerProxy:
    options.setdefault("preferred_regions", ["East US", "North US"])
    return through(make_client(url=topology.proxies["global"].url, **options), container)


async def test_reads_follow_preference_and_survive_a_region_going_down(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    clock = FakeClock()
    container = regional(make_client, topology, fresh_container, clock=clock)
    west, east, north = (topology.proxies[n] for n in NAMES)
    for n in range(10):
        await container.create_item({"id": f"d{n}", "pk": "p"})
    for n in range(10):
        assert (await container.read_item(f"d{n}", partition_key="p"))["id"] == f"d{n}"
    assert len(west.item_requests("write")) == 10 and len(west.item_requests("read")) == 0
    assert len(east.item_requests("read")) == 10 and len(east.item_requests("write")) == 0
    assert north.item_requests("read") == []

    await east.stop()  # the preferred read region goes away: connection refused
    results = [await container.read_item(f"d{n}", partition_key="p") for n in range(10)]
    assert [r["id"] for r in results] == [f"d{n}" for n in range(10)]
    assert len(north.item_requests("read")) == 10  # the next preferred region took over
    assert all(r.headers[REGIONS_HEADER] == "North US" for r in results[1:])  # East cools down

    await east.start()  # same port: the region is back
    clock.advance(301)  # after the cool-down it is preferred again
    result = await container.read_item("d0", partition_key="p")
    assert result.headers[REGIONS_HEADER] == "East US"
    assert len(east.item_requests("read")) == 11
    assert sorted(item["id"] for item in await all_items(fresh_container)) == [f"d{n}" for n in range(10)]


async def test_write_region_moves_under_concurrent_writers_nothing_lost_or_doubled(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    container = regional(make_client, topology, fresh_container)
    west, north = topology.proxies["West"], topology.proxies["North"]
    await container.read()
    total, moved_after = 120, 40
    done = 0
    moved = asyncio.Event()

    async def writer(ids: list[int]) -> None:
        nonlocal done
        for n in ids:
            await container.create_item({"id": f"d{n}", "pk": f"p{n % 5}", "n": n})
            done += 1
            if done == moved_after and not moved.is_set():
                # Failover: West stops taking writes (403/3) and the account names North instead.
                west.add_rule(Fault.write_forbidden(), kinds="write", name="failover")
                topology.writable = ["North"]
                moved.set()

    await asyncio.gather(*(writer(list(range(w, total, 6))) for w in range(6)))
    refused = west.counts()["403/3"]
    assert refused >= 1
    west_writes = len(west.item_requests("write"))
    north_writes = len(north.item_requests("write"))
    assert west_writes - refused + north_writes == total  # each create reached the server exactly once
    assert north_writes >= total - moved_after - 6
    items = await all_items(fresh_container)
    assert Counter(item["id"] for item in items) == Counter(f"d{n}" for n in range(total))


async def test_a_503_after_a_create_was_applied_is_replayed_and_resolved_by_reading_back(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    topology.writable = ["West", "North"]
    container = regional(make_client, topology, fresh_container)
    await container.read()
    topology.proxies["West"].add_rule(Fault.unavailable(apply=True), kinds="write", times=1)
    result = await container.create_item({"id": "once", "pk": "p"})
    assert result.replayed and result.applied_earlier and result["id"] == "once"
    assert [item["id"] for item in await all_items(fresh_container)] == ["once"]


async def test_a_503_after_the_write_was_applied_is_not_replayed_in_another_region_with_the_strict_switch(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    topology.writable = ["West", "North"]
    container = regional(make_client, topology, fresh_container,
                         retry=aiocosmos.RetryPolicy(replay_idempotent_writes=False))
    await container.read()
    topology.proxies["West"].add_rule(Fault.unavailable(apply=True), kinds="write", times=1)
    with pytest.raises(aiocosmos.ServiceUnavailable) as info:
        await container.create_item({"id": "once", "pk": "p"})
    assert info.value.may_have_been_applied and info.value.regions == ("West US",)
    assert topology.proxies["North"].item_requests("write") == []
    assert [item["id"] for item in await all_items(fresh_container)] == ["once"]


async def test_read_faults_fail_over_and_session_lag_goes_to_the_write_region(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    container = regional(make_client, topology, fresh_container)
    west, east, north = (topology.proxies[n] for n in NAMES)
    await container.create_item({"id": "a", "pk": "p"})
    east.add_rule(Fault.unavailable(), kinds="read", path_prefix="/dbs", times=1)
    result = await container.read_item("a", partition_key="p")
    assert result.headers[REGIONS_HEADER] == "East US, North US"
    north.add_rule(Fault.session_not_available(), kinds="read", times=1)
    result = await container.read_item("a", partition_key="p")  # East cools down: North, then West
    assert result.headers[REGIONS_HEADER] == "North US, West US"
    assert len(west.item_requests("read")) == 1
    assert east.counts() == Counter({"503/0": 1}) and north.counts() == Counter({"404/1002": 1})


async def test_write_region_down_then_promoted_elsewhere(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    clock = FakeClock()
    container = regional(make_client, topology, fresh_container, clock=clock)
    west, north = topology.proxies["West"], topology.proxies["North"]
    await container.create_item({"id": "before", "pk": "p"})
    await west.stop()  # the write region goes away...
    topology.writable = ["North"]  # ...and the account promotes North
    topology.readable = ["East", "North"]
    result = await container.create_item({"id": "after", "pk": "p"})  # never sent to West: safe to move
    assert result.headers[REGIONS_HEADER] == "West US, North US"
    assert clock.sleeps == []
    assert [r.path.rsplit("/", 1)[-1] for r in north.item_requests("write")] == ["docs"]
    assert sorted(item["id"] for item in await all_items(fresh_container)) == ["after", "before"]


async def test_diagnostics_name_the_region_of_each_attempt_and_the_failover(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    clock = FakeClock()
    container = regional(make_client, topology, fresh_container, clock=clock)
    await container.upsert_item({"id": "a", "pk": "p"})
    east = topology.proxies["East"]
    east.add_rule(Fault.unavailable(), kinds="read", times=1)
    item = await container.read_item("a", "p")

    diagnostics = item.diagnostics
    first, second = diagnostics.attempts
    assert (first["region"], first["status_code"], first["failover"]) == ("East US", 503, True)
    assert first["activity_id"] == east.log[0].activity_id and first["wait"] == 0.0
    assert (second["region"], second["status_code"]) == ("North US", 200)
    assert diagnostics.as_dict()["regions"] == ["East US", "North US"] == list(item.regions)
    assert clock.sleeps == []  # a failover goes at once
