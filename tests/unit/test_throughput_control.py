"""The throughput control gate (cycles, debt, priority), the load factor and the share, on a FakeClock;
the options' validation; and the control items' schema (the Java SDK's)."""

from __future__ import annotations

import asyncio

import pytest

import aiocosmos
from aiocosmos._resources.throughput_control import group_target
from aiocosmos._throughput.control_items import (
    client_item,
    config_item,
    item_ids,
    live_load_factors,
    share_of,
    target_from_config,
)
from aiocosmos._throughput.throttler import LoadTracker, RequestThrottler
from aiocosmos.testing import FakeClock

LOW = {"x-ms-cosmos-priority-level": "Low"}


def charge(ru: float) -> dict[str, str]:
    return {"x-ms-request-charge": str(ru)}


async def send(gate: RequestThrottler, ru: float, headers: dict[str, str] | None = None) -> None:
    reserved = await gate.acquire(headers)
    gate.settle(reserved, charge(ru))


async def test_requests_pass_without_waiting_while_the_cycle_has_budget() -> None:
    clock = FakeClock(start_monotonic=1000.0)
    gate = RequestThrottler("g", 100, clock=clock, phase=0.0, burst_fraction=1.0)
    for _ in range(10):
        await send(gate, 10)
    assert clock.sleeps == [] and gate.delayed == 0
    await send(gate, 10)  # the cycle is spent: this one waits for the next
    assert clock.sleeps == [1.0] and gate.delayed == 1
    assert gate.ru_per_second() == pytest.approx(100 / 1)  # the finished cycle used the whole budget


async def test_the_budget_is_paced_through_the_cycle() -> None:
    clock = FakeClock(start_monotonic=1000.0)
    gate = RequestThrottler("g", 100, clock=clock, phase=0.0)  # 20 % at the cycle's start, the rest with the clock
    for _ in range(2):
        await send(gate, 10)
    assert clock.sleeps == []
    await send(gate, 10)  # 20 RU spent at the cycle's start: this one waits for the pace
    assert len(clock.sleeps) == 1 and 0 < clock.sleeps[0] < 0.1
    for _ in range(7):
        await send(gate, 10)
    assert 0.6 <= clock.monotonic() - 1000.0 < 1.0  # 100 RU went in the first cycle, paced through most of it
    await send(gate, 10)
    assert clock.monotonic() >= 1001.0  # the 11th waited for the next cycle


async def test_overuse_is_debt_carried_into_the_next_cycles_and_unused_budget_is_lost() -> None:
    clock = FakeClock(start_monotonic=1000.0)
    gate = RequestThrottler("g", 100, clock=clock, phase=0.0, burst_fraction=1.0)
    await send(gate, 250)  # one request dearer than 2.5 cycles
    assert gate.available == pytest.approx(-150)
    await send(gate, 1)  # waits two cycles: the debt is paid first
    assert clock.sleeps == [1.0, 1.0]
    assert gate.available == pytest.approx(50 - 1)
    clock.advance(5.0)
    assert gate.available == pytest.approx(100)  # idle cycles do not bank budget


async def test_reservations_stop_a_concurrent_burst_at_the_budget() -> None:
    clock = FakeClock(start_monotonic=1000.0)
    gate = RequestThrottler("g", 50, clock=clock, phase=0.0, burst_fraction=1.0)
    await send(gate, 5)  # teaches the gate what a request costs (its estimate moves toward 5)
    estimate = gate._estimates[0]
    reservations = []
    while gate.available > 1e-6 and len(reservations) < 100:  # none answered yet
        reservations.append(await gate.acquire(None))
    assert len(reservations) == pytest.approx((50 - 5) / estimate, abs=1) and clock.sleeps == []
    for reserved in reservations:
        gate.settle(reserved, charge(5))
    assert gate.available == pytest.approx(45 - 5 * len(reservations))


async def test_the_first_bulk_batch_goes_alone_and_teaches_what_a_batch_costs() -> None:
    clock = FakeClock(start_monotonic=1000.0)
    gate = RequestThrottler("g", 1000, clock=clock, phase=0.0, burst_fraction=1.0)
    batch = {"x-ms-cosmos-is-batch-request": "True"}
    first = await gate.acquire(batch)
    second = asyncio.ensure_future(gate.acquire(batch))
    await asyncio.sleep(0)
    assert not second.done()  # waits for the first batch's answer
    gate.settle(first, charge(600), batch)
    reserved = await second
    assert reserved == 600 and gate.delayed == 1
    assert await gate.acquire(None) == 10.0  # single operations have their own estimate
    gate.settle(reserved, charge(600), batch)


async def test_429_answers_are_charged_and_a_failed_send_keeps_its_reservation() -> None:
    clock = FakeClock()
    gate = RequestThrottler("g", 100, clock=clock, phase=0.0, burst_fraction=1.0)
    reserved = await gate.acquire(None)
    gate.settle(reserved, {"x-ms-request-charge": "2.5"})
    reserved = await gate.acquire(None)
    gate.settle(reserved, {})  # an answer without a charge (a 429 from a proxy) cost nothing
    reserved = await gate.acquire(None)
    gate.settle(reserved, None)  # no answer at all: the reservation stands
    assert gate.used_total == pytest.approx(2.5 + reserved)


async def test_low_priority_yields_to_high_priority_when_the_budget_is_short() -> None:
    clock = FakeClock(start_monotonic=1000.0)
    gate = RequestThrottler("g", 10, clock=clock, phase=0.0, burst_fraction=1.0)
    await send(gate, 10)
    order: list[str] = []

    async def one(name: str, headers: dict[str, str] | None) -> None:
        reserved = await gate.acquire(headers)
        order.append(name)
        gate.settle(reserved, charge(10))

    # The low-priority request starts waiting first, yet the high-priority ones go first.
    await asyncio.gather(one("low", LOW), one("high1", None), one("high2", None))
    assert order == ["high1", "high2", "low"]


async def test_a_low_priority_group_yields_and_a_request_header_overrides_it() -> None:
    clock = FakeClock(start_monotonic=1000.0)
    gate = RequestThrottler("g", 10, clock=clock, phase=0.0, burst_fraction=1.0, low_priority=True)
    await send(gate, 10)
    order: list[str] = []

    async def one(name: str, headers: dict[str, str] | None) -> None:
        reserved = await gate.acquire(headers)
        order.append(name)
        gate.settle(reserved, charge(10))

    await asyncio.gather(one("group-default", None), one("high", {"x-ms-cosmos-priority-level": "High"}))
    assert order == ["high", "group-default"]


async def test_set_budget_changes_the_cycle_and_keeps_debt() -> None:
    clock = FakeClock(start_monotonic=1000.0)
    gate = RequestThrottler("g", 100, clock=clock, phase=0.0, burst_fraction=1.0)
    await send(gate, 130)
    gate.set_budget(50)
    assert gate.budget == 50 and gate.available == pytest.approx(-80)
    clock.advance(1.0)
    assert gate.available == pytest.approx(-30)
    with pytest.raises(ValueError, match="ru_per_second"):
        gate.set_budget(0)


def test_load_factor_is_the_recent_use_ratio_with_a_floor() -> None:
    load = LoadTracker(window=4)
    assert load.load_factor == 1.0  # a newcomer asks for an equal share
    for used in (100, 100, 50, 50):
        load.record(used, 100)
    assert load.load_factor == pytest.approx(0.75)
    load.record(0, 100, idle_cycles=10)  # idle cycles count as zero use
    assert load.load_factor == pytest.approx(0.1)


async def test_the_gate_feeds_its_load_tracker_per_cycle() -> None:
    clock = FakeClock(start_monotonic=1000.0)
    gate = RequestThrottler("g", 100, clock=clock, phase=0.0, burst_fraction=1.0, load=LoadTracker(window=3))
    await send(gate, 50)
    clock.advance(1.0)
    await send(gate, 100)
    clock.advance(1.0)
    assert gate.available == 100  # reading it rolls the cycle
    assert gate.load.load_factor == pytest.approx((0.5 + 1.0) / 2)


def test_share_is_proportional_to_load_and_dead_clients_age_out() -> None:
    assert share_of(1.0, []) == 1.0
    assert share_of(1.0, [1.0, 1.0]) == pytest.approx(1 / 3)
    assert share_of(0.1, [1.0]) == pytest.approx(0.1 / 1.1)
    items = [
        {"id": "me", "loadFactor": 1.0, "_ts": 100},
        {"id": "alive", "loadFactor": 0.5, "_ts": 97},
        {"id": "dead", "loadFactor": 1.0, "_ts": 80},
        {"id": "garbled", "loadFactor": "x", "_ts": 100},
    ]
    assert live_load_factors(items, "me", now_ts=100, expire_seconds=11) == [0.5]
    shares = [share_of(f, [g for j, g in enumerate([1.0, 0.5, 0.5]) if j != i]) for i, f in enumerate([1.0, 0.5, 0.5])]
    assert sum(shares) == pytest.approx(1.0)


def test_control_items_follow_the_java_schema() -> None:
    prefix = "shop/orders/ingest"
    (config_id, config_pk), (client_id, client_pk) = item_ids(prefix, "ingest", "u-1")
    assert (config_id, config_pk) == ("aW5nZXN0.info", "shop/orders/ingest.config")
    assert (client_id, client_pk) == ("aW5nZXN0u-1", "shop/orders/ingest.client")
    config = config_item(prefix, "ingest", 500.0, None, True)
    assert config == {"id": "aW5nZXN0.info", "groupId": "shop/orders/ingest.config", "targetThroughput": "500.0",
                      "targetThroughputThreshold": "", "isDefault": True}
    assert target_from_config(config) == (500.0, None)
    assert target_from_config({"targetThroughput": "", "targetThroughputThreshold": "0.5"}) == (None, 0.5)
    item = client_item(prefix, "ingest", "u-1", 0.8, 250.0, 0.0, 11.0)
    assert item == {"id": "aW5nZXN0u-1", "groupId": "shop/orders/ingest.client", "loadFactor": 0.8,
                    "allocatedThroughput": 250.0, "initializeTime": "1970-01-01T00:00:00Z", "ttl": 11}


def test_group_target_is_the_smaller_of_target_and_threshold() -> None:
    assert group_target(500, None, None, "g") == 500
    assert group_target(500, 0.25, 1000, "g") == 250
    assert group_target(None, 0.5, 4000, "g") == 2000
    with pytest.raises(aiocosmos.ConfigurationError, match="provisioned throughput"):
        group_target(None, 0.5, None, "g")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": ""}, "name"),
    ({"name": "g"}, "target_throughput"),
    ({"name": "g", "target_throughput": -5}, "target_throughput must be a number > 0, got -5"),
    ({"name": "g", "target_throughput_threshold": 1.5}, "1.5"),
    ({"name": "g", "target_throughput": 10, "priority": "urgent"}, "'urgent'"),
])
def test_group_options_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(aiocosmos.ConfigurationError, match=message):
        aiocosmos.ThroughputControlGroupConfig(**kwargs)  # type: ignore[arg-type]


def test_global_options_are_checked() -> None:
    with pytest.raises(aiocosmos.ConfigurationError, match=r"renew_interval must be >= 1\.0 s, got 0\.5"):
        aiocosmos.GlobalThroughputControlConfig(control_container=None, renew_interval=0.5)  # type: ignore[arg-type]
    with pytest.raises(aiocosmos.ConfigurationError, match="expire_interval"):
        aiocosmos.GlobalThroughputControlConfig(control_container=None, renew_interval=5, expire_interval=3)  # type: ignore[arg-type]
    assert aiocosmos.GlobalThroughputControlConfig(control_container=None).expire_seconds == 11  # type: ignore[arg-type]
