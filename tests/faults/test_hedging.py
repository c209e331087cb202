"""Availability strategy (hedged reads) against the real local server: FaultProxy "regions" as in
test_failover.py, one of them slow. Latency is checked by counting (a FakeClock's recorded waits and
which region answered), never by wall-clock thresholds."""

from __future__ import annotations

import time

import pytest

import aiocosmos
from aiocosmos._wire.pipeline import REGIONS_HEADER
from aiocosmos.testing import FakeClock, Fault
from tests.faults.conftest import ClientFactory, pool_state, through
from tests.faults.test_failover import Topology, regional, topology

__all__ = ["topology"]  # the fixture


async def test_a_slow_region_is_hedged_the_first_good_answer_wins_and_nothing_leaks(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    await fresh_container.create_item({"id": "d", "pk": "p"})
    topology.readable = ["East", "North"]  # two read regions: a FakeClock's step timer would fire at once too
    clock = FakeClock()
    client = make_client(url=topology.proxies["global"].url, clock=clock, preferred_regions=["East US", "North US"],
                         availability_strategy={"threshold_ms": 500, "threshold_steps_ms": 100})
    container = through(client, fresh_container)
    east, north = topology.proxies["East"], topology.proxies["North"]
    await container.read()
    east.add_rule(Fault.slow_headers(6.0), kinds="read", name="slow")
    clock.sleeps.clear()
    began = time.monotonic()

    result = await container.read_item("d", "p")

    assert result["id"] == "d"
    assert result.headers[REGIONS_HEADER] == "East US, North US"  # both attempts
    # The only wait was the threshold: the latency is threshold + North's own latency.
    assert clock.sleeps == [0.5]
    assert len(east.item_requests("read")) == 1 and len(north.item_requests("read")) == 1
    assert time.monotonic() - began < 5  # East's 6 s answer was not awaited
    in_use, _ = pool_state(client)
    assert in_use == 0  # the cancelled attempt's connection is not left in use


async def test_per_request_strategy_overrides_the_client(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    await fresh_container.create_item({"id": "d", "pk": "p"})
    clock = FakeClock()
    topology.readable = ["East", "North"]
    container = regional(make_client, topology, fresh_container, clock=clock, availability_strategy=True)
    north = topology.proxies["North"]
    await container.read()
    assert clock.sleeps == []  # container metadata is not hedged: only item operations are

    result = await container.read_item("d", "p", availability_strategy=False)
    assert result.headers[REGIONS_HEADER] == "East US" and north.item_requests("read") == []
    assert clock.sleeps == [] and not result.diagnostics.hedged

    plain = regional(make_client, topology, fresh_container, clock=clock)
    topology.proxies["East"].add_rule(Fault.slow_headers(6.0), kinds="read", name="slow")
    result = await plain.read_item("d", "p", availability_strategy={"threshold_ms": 200})
    assert result.headers[REGIONS_HEADER] == "East US, North US"
    assert clock.sleeps == [0.2]
    diagnostics = result.diagnostics  # the winner's attempts; the operation was hedged
    assert diagnostics.hedged and diagnostics.as_dict()["regions"] == ["East US", "North US"]
    assert [a["region"] for a in diagnostics.attempts] == ["North US"]


async def test_a_definite_answer_wins_and_a_failed_region_starts_the_next_at_once(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    # The real clock, with a threshold no local answer comes near: nothing is hedged by time here.
    container = regional(make_client, topology, fresh_container, availability_strategy={"threshold_ms": 20_000})
    await container.read()
    with pytest.raises(aiocosmos.exceptions.NotFound) as raised:
        await container.read_item("missing", "p")  # 404 from East: the service's answer, no hedge needed
    assert raised.value.regions == ("East US",)

    await fresh_container.create_item({"id": "d", "pk": "p"})
    await topology.proxies["East"].stop()  # connection refused in East: North at once, no threshold wait
    began = time.monotonic()
    result = await container.read_item("d", "p")
    assert result["id"] == "d"
    assert result.headers[REGIONS_HEADER] == "East US, North US"
    assert time.monotonic() - began < 10  # not the 20 s threshold (generous bound)


def test_strategy_shapes() -> None:
    assert aiocosmos.ClientOptions(availability_strategy=True).availability_strategy == aiocosmos.HedgingStrategy()
    assert aiocosmos.ClientOptions(availability_strategy=False).availability_strategy is None
    strategy = aiocosmos.ClientOptions(availability_strategy={"threshold_ms": 250, "threshold_steps_ms": 50})
    assert strategy.availability_strategy == aiocosmos.HedgingStrategy(threshold=0.25, step=0.05)
    for bad in ({"threshold": 1}, {"threshold_ms": 0}, {"threshold_ms": "1"}, "yes"):
        with pytest.raises(aiocosmos.ConfigurationError):
            aiocosmos.ClientOptions(availability_strategy=bad)
