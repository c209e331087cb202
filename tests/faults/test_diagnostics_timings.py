"""Where the time went (``ClientOptions.detailed_timings``), timings after a stale-session re-send, and
threshold logging of failures without an answer (connection failures, deadlines), against the local
server through the FaultProxy. Durations are real (``perf_counter``), so the tests check their presence,
their sum and what is countable (a request that waited for the only pooled connection), never a time."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock, Fault, FaultProxy
from tests.faults.conftest import ClientFactory, through
from tests.faults.test_failover import Topology, regional, topology  # noqa: F401 (the fixture)

PARTS = ("queueing", "connecting", "signing", "sending", "waiting", "receiving", "parsing")
LOGGER = "aiocosmos.wire.thresholds"


async def test_detailed_timings_split_the_operation_and_count_the_waits_for_a_connection(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    client = make_client(detailed_timings=True, limits=aiocosmos.ConnectionLimits(max_connections=1))
    container = through(client, fresh_container)
    first = await container.upsert_item({"id": "a", "pk": "p", "n": "x" * 5000})
    timings = first.diagnostics.as_dict()["timings"]
    assert set(PARTS) <= set(timings)
    assert all(isinstance(timings[p], float) and timings[p] >= 0.0 for p in PARTS), timings
    assert timings["signing"] > 0.0 and timings["waiting"] > 0.0 and timings["sending"] > 0.0
    # The parts are pieces of the operation: together no more than it took (parsing ends after it).
    assert sum(timings[p] for p in PARTS if p != "parsing") <= timings["total"] + 1e-3

    # Three reads at once over one connection: two wait for it in aiohttp's queue.
    reads = await asyncio.gather(*(container.read_item("a", "p") for _ in range(3)))
    queued = [r.diagnostics.as_dict()["timings"]["queued"] for r in reads]
    assert sorted(queued) == [0, 1, 1]
    assert all(r.diagnostics.as_dict()["timings"]["connecting"] == 0.0 for r in reads)  # reused
    waited = [r.diagnostics.as_dict()["timings"]["queueing"] for r in reads]
    assert [w > 0 for w in waited].count(True) == 2

    page = await container.query_items("SELECT * FROM c", partition_key="p").by_page().__anext__()
    assert page.diagnostics.as_dict()["timings"]["parsing"] is not None
    json.dumps(page.diagnostics.as_dict())


async def test_without_the_option_there_is_no_breakdown_and_no_trace_hook(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    client = make_client()
    container = through(client, fresh_container)
    item = await container.upsert_item({"id": "a", "pk": "p"})
    assert set(item.diagnostics.as_dict()["timings"]) == {"total", "retry_wait", "attempts"}
    assert client._http is not None and client._http.trace_configs == []


async def test_a_retried_detailed_operation_sums_its_attempts(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    container = through(make_client(clock=FakeClock(), detailed_timings=True), fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})
    proxy.add_rule(Fault.throttle(retry_after_ms=10), kinds="read", times=2)
    item = await container.read_item("a", "p")
    data = item.diagnostics.as_dict()
    assert [a["status_code"] for a in data["attempts"]] == [429, 429, 200]
    assert data["timings"]["waiting"] > 0.0 and data["timings"]["signing"] > 0.0


async def test_after_a_stale_session_re_send_the_result_has_timings_and_both_attempts(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    clock = FakeClock()
    container = through(make_client(clock=clock), fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})
    # 400/1024: the container is not the one the client knew; the core re-sends once without the session.
    proxy.add_rule(Fault.status_code(400, sub_status=1024), kinds="read", times=1)
    item = await container.read_item("a", "p")

    data = item.diagnostics.as_dict()
    assert data["timings"]["total"] == 0.0 and data["timings"]["attempts"] == 0.0  # known (fake clock)
    assert [(a["status_code"], a["sub_status"]) for a in data["attempts"]] == [(400, 1024), (200, 0)]
    assert data["attempts"][0]["activity_id"] == proxy.log[0].activity_id
    assert data["attempts"][1]["activity_id"] == item.activity_id


async def test_a_stale_session_after_retries_lists_them_all(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    clock = FakeClock()
    container = through(make_client(clock=clock), fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})
    proxy.add_rule(Fault.throttle(retry_after_ms=50), kinds="read", times=1)
    proxy.add_rule(Fault.status_code(400, sub_status=1024), kinds="read", times=1)
    proxy.add_rule(Fault.unavailable(), kinds="read", times=1)
    item = await container.read_item("a", "p")
    data = item.diagnostics.as_dict()
    assert [a["status_code"] for a in data["attempts"]] == [429, 400, 503, 200]
    assert data["timings"]["total"] == pytest.approx(sum(clock.sleeps))


async def test_a_slow_connection_failure_crosses_the_latency_threshold(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    clock = FakeClock()
    thresholds = aiocosmos.ThresholdOptions(point_operation_latency=0.001)
    container = through(make_client(clock=clock, thresholds=thresholds), fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})  # (reads the container's definition)
    proxy.add_rule(Fault.reset_before(), kinds="read")
    with pytest.raises(aiocosmos.TransportError) as caught:
        await container.read_item("a", "p")

    assert sum(clock.sleeps) > 0.001  # the retries' backoff, on the fake clock
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.getMessage().startswith(f"read_item on {container.database.id}/items crossed a threshold (latency")
    assert record.cosmos_diagnostics == caught.value.diagnostics.as_dict()  # type: ignore[attr-defined]
    assert record.cosmos_diagnostics["attempts"][-1]["error"] == type(caught.value).__name__  # type: ignore[attr-defined]


async def test_a_deadline_that_passes_crosses_the_latency_threshold(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    clock = FakeClock()
    container = through(make_client(clock=clock, thresholds=aiocosmos.ThresholdOptions()), fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})
    proxy.add_rule(Fault.throttle(retry_after_ms=400), kinds="read")
    with pytest.raises(aiocosmos.OperationTimeout):
        await container.read_item("a", "p", timeout=1.5)  # 3 waits of 0.4 s, then the 4th would pass it

    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert "(latency 1.200s > 1s)" in record.getMessage()
    caplog.clear()
    with pytest.raises(aiocosmos.OperationTimeout):
        await container.read_item("a", "p", timeout=0.5)  # one wait of 0.4 s < 1 s: not logged
    assert [r for r in caplog.records if r.name == LOGGER] == []


async def test_with_endpoint_discovery_the_signing_is_timed_too(
    topology: Topology, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,  # noqa: F811
) -> None:
    container = regional(make_client, topology, fresh_container, clock=FakeClock(), detailed_timings=True)
    await container.upsert_item({"id": "a", "pk": "p"})
    topology.proxies["East"].add_rule(Fault.unavailable(), kinds="read", times=1)
    item = await container.read_item("a", "p")
    timings = item.diagnostics.as_dict()["timings"]
    assert [a["region"] for a in item.diagnostics.attempts] == ["East US", "North US"]
    assert timings["signing"] > 0.0 and timings["waiting"] > 0.0 and timings["parsing"] is not None
