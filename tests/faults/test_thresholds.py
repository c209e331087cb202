"""Threshold logging (``ClientOptions.thresholds``, .NET's ``CosmosThresholdOptions``) against the local
server through the FaultProxy: an operation over a latency (point or non-point), request-charge or
payload-size threshold is logged once at WARNING on ``aiocosmos.wire.thresholds`` with its
diagnostics; nothing is logged when it is off (the default) or under the thresholds. Latency is
measured on the client's clock, so a FakeClock and throttles with a chosen retry-after make it exact."""

from __future__ import annotations

import json
import logging

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock, Fault, FaultProxy
from tests.faults.conftest import ClientFactory, through

LOGGER = "aiocosmos.wire.thresholds"


def crossings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


async def test_off_by_default_and_under_the_thresholds_nothing_is_logged(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiocosmos")
    assert aiocosmos.ClientOptions().thresholds is None
    clock = FakeClock()
    quiet = through(make_client(clock=clock), fresh_container)
    proxy.add_rule(Fault.throttle(retry_after_ms=5000), kinds="read", times=1)
    await quiet.upsert_item({"id": "a", "pk": "p"})
    await quiet.read_item("a", "p")  # 5 s, but no thresholds set
    defaults = through(make_client(clock=FakeClock(), thresholds=aiocosmos.ThresholdOptions()), fresh_container)
    proxy.add_rule(Fault.throttle(retry_after_ms=900), kinds="read", times=1)
    await defaults.read_item("a", "p")  # 0.9 s < the point default of 1 s
    assert crossings(caplog) == []


async def test_a_slow_point_read_is_logged_once_with_its_diagnostics(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    container = through(make_client(clock=FakeClock(), thresholds=aiocosmos.ThresholdOptions()), fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})
    proxy.add_rule(Fault.throttle(retry_after_ms=600), kinds="read", times=2)
    item = await container.read_item("a", "p")  # 1.2 s of waits > 1 s

    (record,) = crossings(caplog)
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith(f"read_item on {container.database.id}/items crossed a threshold (latency 1.200s > 1s)")
    logged = json.loads(message.split("): ", 1)[1])
    assert logged == item.diagnostics.as_dict() == record.cosmos_diagnostics  # type: ignore[attr-defined]
    assert [a["status_code"] for a in logged["attempts"]] == [429, 429, 200]
    assert record.cosmos_event == "threshold_crossed" and record.cosmos_operation == "read_item"  # type: ignore[attr-defined]


async def test_non_point_operations_have_their_own_latency_threshold(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    options = aiocosmos.ThresholdOptions(point_operation_latency=1.0, non_point_operation_latency=3.0)
    container = through(make_client(clock=FakeClock(), thresholds=options), fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})
    proxy.add_rule(Fault.throttle(retry_after_ms=2000), kinds="query", times=1)
    assert len([i async for i in container.query_items("SELECT * FROM c", partition_key="p")]) == 1
    assert crossings(caplog) == []  # 2 s: over the point threshold, under the non-point one
    proxy.add_rule(Fault.throttle(retry_after_ms=3500), kinds="query", times=1)
    assert len([i async for i in container.query_items("SELECT * FROM c", partition_key="p")]) == 1
    (record,) = crossings(caplog)
    assert record.getMessage().startswith("query_items on ") and "latency 3.500s > 3s" in record.getMessage()


async def test_request_charge_and_payload_size_thresholds(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    options = aiocosmos.ThresholdOptions(point_operation_latency=None, non_point_operation_latency=None,
                                         request_charge=0.5, payload_size=2000)
    container = through(make_client(thresholds=options), fresh_container)
    await container.read()  # the container read (the partition key definition) is over it too
    caplog.clear()
    small = await container.upsert_item({"id": "s", "pk": "p"})
    assert small.request_charge > 0.5
    (charged,) = crossings(caplog)
    assert f"request charge {small.request_charge:g} RU > 0.5" in charged.getMessage()
    assert "payload" not in charged.getMessage()
    caplog.clear()
    await container.upsert_item({"id": "b", "pk": "p", "blob": "x" * 3000})
    (big,) = crossings(caplog)
    assert "payload" in big.getMessage() and "bytes > 2000" in big.getMessage()


async def test_a_failed_operation_over_a_threshold_is_logged_with_the_errors_diagnostics(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    container = through(make_client(clock=FakeClock(), thresholds=aiocosmos.ThresholdOptions()), fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})  # the partition key definition is read before the rules
    proxy.add_rule(Fault.unavailable(), kinds="read")
    with pytest.raises(aiocosmos.ServiceUnavailable) as caught:
        await container.read_item("a", "p")  # 4 attempts; the backoff waits alone stay under 1 s...
    waits = caught.value.total_wait
    records = crossings(caplog)
    assert waits < 1.0 and records == []  # (the three backoffs are under 0.7 s together)
    proxy.clear_rules()
    proxy.add_rule(Fault.throttle(retry_after_ms=1500), kinds="read", times=1)
    with pytest.raises(aiocosmos.NotFound):
        await container.read_item("missing", "p")  # ... a 1.5 s throttle then 404 is over it
    record = crossings(caplog)[-1]
    assert "latency 1.500s > 1s" in record.getMessage()
    assert [a["status_code"] for a in record.cosmos_diagnostics["attempts"]] == [429, 404]  # type: ignore[attr-defined]


def test_thresholds_are_checked_at_construction() -> None:
    with pytest.raises(aiocosmos.ConfigurationError, match="point_operation_latency must be > 0, got 0"):
        aiocosmos.ThresholdOptions(point_operation_latency=0)
    with pytest.raises(aiocosmos.ConfigurationError, match="request_charge must be > 0, got -1"):
        aiocosmos.ThresholdOptions(request_charge=-1)
    with pytest.raises(aiocosmos.ConfigurationError, match="thresholds must be a ThresholdOptions or None, got 5"):
        aiocosmos.ClientOptions(thresholds=5)  # type: ignore[arg-type]
