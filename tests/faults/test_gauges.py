"""The observable instruments (bulk queue depth and window per range, the connection pool) read with the
OTel SDK's in-memory metric reader while a bulk run is held up by the FaultProxy (slow answers), then
after it. The change feed processor's lag and leases are checked in
``tests/integration/test_change_feed_processor.py`` (it needs the change feed front)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy, ProxyRequest
from tests.faults.conftest import ClientFactory, through
from tests.faults.test_tracing import CONVENTION_NAMES, Otel

OURS = {"aiocosmos.partition_key_range.id", "db.client.connection.state", "db.client.connection.pool.name"}


def by_name(otel: Otel, name: str) -> list[Any]:
    return otel.points(name)


async def test_bulk_queue_depth_window_and_pool_while_a_batch_is_in_flight(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    otel = Otel()
    client = make_client(**otel.options())
    container = through(client, fresh_container)
    await container.upsert_item({"id": "warm", "pk": "p"})  # definition and ranges read, a pooled connection
    idle = {p.attributes["db.client.connection.state"]: p.value for p in by_name(otel, "db.client.connection.count")}
    assert idle["used"] == 0 and idle["idle"] >= 1

    in_flight = asyncio.Event()

    def observe(request: ProxyRequest) -> None:
        if request.kind == "batch":
            in_flight.set()
    proxy.observers.append(observe)
    proxy.add_rule(Fault.slow_headers(1.0), kinds="batch", times=1)  # the first batch is held up
    run = asyncio.ensure_future(container.bulk_upsert([{"id": f"i{n}", "pk": "p"} for n in range(300)]))
    await asyncio.wait_for(in_flight.wait(), 30)
    await asyncio.sleep(0.05)  # let the source reader finish queueing (it reads a list)

    depth = by_name(otel, "aiocosmos.client.bulk.queue_depth")
    window = by_name(otel, "aiocosmos.client.bulk.window")
    pool = {p.attributes["db.client.connection.state"]: p.value for p in by_name(otel, "db.client.connection.count")}
    summary = await run

    assert summary.succeeded == 300
    assert depth and sum(p.value for p in depth) == 200  # one request of 100 out, the rest waiting
    assert [p.value for p in window] == [1] * len(window)  # slow start: one request per range at first
    assert {p.attributes["aiocosmos.partition_key_range.id"] for p in depth} == \
        {p.attributes["aiocosmos.partition_key_range.id"] for p in window}
    for point in depth + window:
        assert point.attributes["db.namespace"] == container.database.id
        assert point.attributes["db.collection.name"] == container.id
        for key in point.attributes:
            assert key in CONVENTION_NAMES or key in OURS, key
    assert pool["used"] >= 1
    host = proxy.url.split("//")[1]
    assert {p.attributes["db.client.connection.pool.name"] for p in by_name(otel, "db.client.connection.count")} \
        == {host}

    # The run is over: its ranges are no longer observed.
    assert by_name(otel, "aiocosmos.client.bulk.queue_depth") == []
    assert by_name(otel, "aiocosmos.client.bulk.window") == []
    otel.meter_provider.shutdown()
    otel.tracer_provider.shutdown()
