"""Per-partition circuit breaker and per-partition automatic failover against the real local server.

FaultProxy "regions" as in test_failover.py. The local server has one physical partition; every proxy
presents the container split in eight (range 1 = EPK ["", "1F"), range 2 = ["1F", "3F"), ...; hash-v2
EPKs all start below "40"), as the service would after splits, and one proxy fails only the requests
of range 2, as a region does when one replica set is down while the others serve. Where each
request went is checked in the proxies' logs and in the regions each response names; the recovery
window runs on a FakeClock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import aiocosmos
from aiocosmos._feeds.epk import effective_partition_key
from aiocosmos._wire.pipeline import REGIONS_HEADER
from aiocosmos.testing import FakeClock, Fault, ProxyRequest
from tests.faults.conftest import ClientFactory
from tests.faults.test_failover import RegionProxy, Topology, regional, topology

__all__ = ["topology"]  # the fixture

FAILING = ("1F", "3F")  # range 2 of FaultProxy.split(into=8)


def epk_of(pk: str) -> str:
    return effective_partition_key([pk], "Hash", 2)


def keys(*, failing: bool) -> Iterator[str]:
    """Partition-key values of range 2 (``failing``) or of range 1."""
    n = 0
    while True:
        pk = f"p{n}"
        if (FAILING[0] <= epk_of(pk) < FAILING[1]) is failing and (failing or epk_of(pk) < FAILING[0]):
            yield pk
        n += 1


def in_failing_range(request: ProxyRequest) -> bool:
    header = request.headers.get("x-ms-documentdb-partitionkey")
    return header is not None and FAILING[0] <= epk_of(orjson.loads(header)[0]) < FAILING[1]


def docs(proxy: RegionProxy, kind: str, *, failing: bool) -> list[ProxyRequest]:
    return [r for r in proxy.item_requests(kind) if in_failing_range(r) is failing]


def split_everywhere(topology: Topology, container: aiocosmos.ContainerProxy) -> None:
    for proxy in topology.proxies.values():
        proxy.split(f"dbs/{container.database.id}/colls/{container.id}", into=8)


def with_account_flag(proxy: RegionProxy) -> None:
    regions = proxy.account_rewriter
    assert regions is not None

    def rewrite(account: dict[str, Any]) -> dict[str, Any]:
        return {**regions(account), "enablePerPartitionFailoverBehavior": True}

    proxy.account_rewriter = rewrite


@pytest.fixture
def pks() -> tuple[list[str], list[str]]:
    bad, good = keys(failing=True), keys(failing=False)
    return [next(bad) for _ in range(3)], [next(good) for _ in range(3)]


async def test_one_failing_partition_moves_to_the_next_region_and_comes_back(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    pks: tuple[list[str], list[str]],
) -> None:
    bad, good = pks
    split_everywhere(topology, fresh_container)
    clock = FakeClock()
    breaker = aiocosmos.PartitionCircuitBreaker(consecutive_error_count_tolerated_for_read=3, unavailable_for=60)
    container = regional(make_client, topology, fresh_container, clock=clock, partition_circuit_breaker=breaker)
    east, north = topology.proxies["East"], topology.proxies["North"]
    for pk in bad + good:
        await container.create_item({"id": "d", "pk": pk})
    rule = east.add_rule(Fault.unavailable(), kinds="read", where=in_failing_range, name="range 2 down in East")

    async def read(pk: str) -> str:
        result = await container.read_item("d", partition_key=pk)
        assert result["pk"] == pk
        return str(result.headers[REGIONS_HEADER])

    # Three consecutive 503s of range 2 in East: each read still succeeds, in North.
    assert [await read(bad[n % 3]) for n in range(3)] == ["East US, North US"] * 3
    # Tripped: range 2 goes straight to North, range 1 stays in East (East is not down for it).
    assert [await read(pk) for pk in bad + good + bad] == ["North US"] * 3 + ["East US"] * 3 + ["North US"] * 3
    assert len(docs(east, "read", failing=True)) == 3 and rule.fired == 3
    assert len(docs(east, "read", failing=False)) == 3 and docs(north, "read", failing=False) == []
    assert len(docs(north, "read", failing=True)) == 9

    # The window is over but East still fails range 2: the one probe fails over, the window doubles.
    clock.advance(61)
    assert await read(bad[0]) == "East US, North US"
    clock.advance(61)
    assert await read(bad[0]) == "North US"  # 120 s now
    assert rule.fired == 4

    east.remove_rule(rule)  # range 2 is healthy again in East
    clock.advance(60)
    assert await read(bad[1]) == "East US"  # the probe succeeds: range 2 is back
    assert [await read(pk) for pk in bad + good] == ["East US"] * 6
    assert len(docs(north, "read", failing=True)) == 3 + 6 + 2  # nothing more went to North
    # A query with the breaker on: all eight ranges answer, from East.
    rows = [row async for row in container.query_items("SELECT * FROM c")]
    assert sorted(row["pk"] for row in rows) == sorted(bad + good)
    assert [r for r in east.seen if r.kind == "query"] and [r for r in north.seen if r.kind == "query"] == []


async def test_without_the_breaker_a_503_cools_down_the_whole_region(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    pks: tuple[list[str], list[str]],
) -> None:
    bad, good = pks
    split_everywhere(topology, fresh_container)
    container = regional(make_client, topology, fresh_container, clock=FakeClock())
    east = topology.proxies["East"]
    await container.create_item({"id": "d", "pk": bad[0]})
    await container.create_item({"id": "d", "pk": good[0]})
    east.add_rule(Fault.unavailable(), kinds="read", where=in_failing_range)
    first = await container.read_item("d", partition_key=bad[0])
    assert first.headers[REGIONS_HEADER] == "East US, North US"
    other = await container.read_item("d", partition_key=good[0])
    assert other.headers[REGIONS_HEADER] == "North US"  # the healthy partition lost its region too
    assert docs(east, "read", failing=False) == []


async def test_single_write_account_moves_one_partitions_writes_on_403_3(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    pks: tuple[list[str], list[str]],
) -> None:
    """Per-partition automatic failover: the account says ``enablePerPartitionFailoverBehavior``;
    the write region refuses range 2's writes with 403/3 (the service failed that partition over),
    so its writes go to the next region while range 1 keeps writing in the write region."""
    bad, good = pks
    split_everywhere(topology, fresh_container)
    for proxy in topology.proxies.values():
        with_account_flag(proxy)
    container = regional(make_client, topology, fresh_container, clock=FakeClock(), partition_circuit_breaker=True)
    west, east = topology.proxies["West"], topology.proxies["East"]
    rule = west.add_rule(Fault.write_forbidden(), kinds="write", where=in_failing_range, name="range 2 moved")
    refreshes = len([r for r in west.seen if r.kind == "account"])

    created = await container.create_item({"id": "d", "pk": bad[0]})
    assert created.headers[REGIONS_HEADER] == "West US, East US"
    replaced = await container.replace_item("d", {"id": "d", "pk": bad[0], "v": 2})  # not replayable: refused
    assert replaced.headers[REGIONS_HEADER] == "East US"  # straight to the partition's new region
    for pk in good:
        assert (await container.create_item({"id": "d", "pk": pk})).headers[REGIONS_HEADER] == "West US"
    assert rule.fired == 1
    assert len(docs(east, "write", failing=True)) == 2 and docs(east, "write", failing=False) == []
    assert len(docs(west, "write", failing=False)) == 3
    assert len([r for r in west.seen if r.kind == "account"]) == refreshes  # no account re-read for it
    assert (await container.read_item("d", partition_key=bad[0]))["v"] == 2


async def test_single_write_account_moves_one_partitions_writes_on_503_never_replaying_a_patch(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    pks: tuple[list[str], list[str]],
) -> None:
    bad, good = pks
    split_everywhere(topology, fresh_container)
    for proxy in topology.proxies.values():
        with_account_flag(proxy)
    await fresh_container.create_item({"id": "d", "pk": bad[0], "n": 0})
    container = regional(make_client, topology, fresh_container, clock=FakeClock(), partition_circuit_breaker=True)
    west, east = topology.proxies["West"], topology.proxies["East"]
    rule = west.add_rule(Fault.unavailable(), kinds="write", where=in_failing_range, times=1)

    # A patch is never sent twice after an ambiguous answer: it fails, but the partition has moved.
    with pytest.raises(aiocosmos.ServiceUnavailable):
        await container.patch_item("d", bad[0], [{"op": "incr", "path": "/n", "value": 1}])
    patched = await container.patch_item("d", bad[0], [{"op": "incr", "path": "/n", "value": 1}])
    assert patched.headers[REGIONS_HEADER] == "East US" and patched["n"] == 1
    assert rule.fired == 1
    # Now East refuses range 2 too: an upsert (safe to replay) moves on within the same operation.
    east.add_rule(Fault.unavailable(), kinds="write", where=in_failing_range, times=1)
    upserted = await container.upsert_item({"id": "e", "pk": bad[1]})  # another range-2 key
    assert upserted.headers[REGIONS_HEADER] == "East US, North US"
    assert (await container.upsert_item({"id": "e", "pk": good[0]})).headers[REGIONS_HEADER] == "West US"
    assert len(docs(east, "write", failing=True)) == 2 and docs(east, "write", failing=False) == []
    assert len(docs(topology.proxies["North"], "write", failing=True)) == 1


async def test_per_range_feed_requests_are_scoped_by_their_range_id(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    pks: tuple[list[str], list[str]],
) -> None:
    """The change feed reads each range with ``x-ms-documentdb-partitionkeyrangeid``: range 2's pages
    fail in East and move to North after the threshold; the seven other ranges keep reading in East."""
    bad, good = pks
    split_everywhere(topology, fresh_container)
    breaker = aiocosmos.PartitionCircuitBreaker(consecutive_error_count_tolerated_for_read=3)
    container = regional(make_client, topology, fresh_container, clock=FakeClock(), partition_circuit_breaker=breaker)
    east, north = topology.proxies["East"], topology.proxies["North"]
    for pk in bad + good:
        await container.create_item({"id": "d", "pk": pk})

    def range_of(request: ProxyRequest) -> str | None:
        return request.headers.get("x-ms-documentdb-partitionkeyrangeid")

    rule = east.add_rule(Fault.unavailable(), kinds="feed", where=lambda r: range_of(r) == "2")
    for _ in range(4):
        changes = [item async for item in container.query_items_change_feed(start_time="Beginning")]
        assert changes  # every pass completes, range 2 served by North
    east_feed = [range_of(r) for r in east.seen if r.kind == "feed"]
    north_feed = [range_of(r) for r in north.seen if r.kind == "feed"]
    assert rule.fired == 3 and east_feed.count("2") == 3  # tripped after 3: then straight to North
    assert set(north_feed) == {"2"} and len(north_feed) > 3
    assert {str(n) for n in range(1, 9)} - {"2"} <= set(east_feed)


async def test_hedged_reads_start_where_the_partition_is_healthy(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    pks: tuple[list[str], list[str]],
) -> None:
    bad, good = pks
    split_everywhere(topology, fresh_container)
    topology.readable = ["East", "North"]
    breaker = aiocosmos.PartitionCircuitBreaker(consecutive_error_count_tolerated_for_read=2)
    container = regional(make_client, topology, fresh_container, clock=FakeClock(), partition_circuit_breaker=breaker,
                         availability_strategy=True)
    east = topology.proxies["East"]
    await container.create_item({"id": "d", "pk": bad[0]})
    await container.create_item({"id": "d", "pk": good[0]})
    east.add_rule(Fault.unavailable(), kinds="read", where=in_failing_range)
    # The attempt pinned to East retries its 503s there (the table above) while North answers: tripped.
    assert (await container.read_item("d", bad[0])).headers[REGIONS_HEADER] == "East US, North US"
    assert len(docs(east, "read", failing=True)) >= 2
    # (A FakeClock fires the hedging timer at once, so the second region is always started too.)
    for _ in range(3):
        assert (await container.read_item("d", bad[0])).headers[REGIONS_HEADER].startswith("North US")
        assert (await container.read_item("d", good[0])).headers[REGIONS_HEADER].startswith("East US")
