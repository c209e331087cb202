"""``.diagnostics`` of bulk operation results, against the local server through the FaultProxy: each
result lists the bulk requests that carried it (their attempts one for one with the proxy's log, with
the 429's retry-after, the request's charge, activity id and size) and its own answer in each."""

from __future__ import annotations

import json

import aiocosmos
from aiocosmos.testing import FakeClock, Fault, FaultProxy
from tests.faults.conftest import ClientFactory, through


async def test_a_bulk_result_lists_every_request_that_carried_it(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    container = through(make_client(clock=FakeClock()), fresh_container)
    await container.upsert_item({"id": "warm", "pk": "p"})  # the definition and ranges are read before
    proxy.add_rule(Fault.throttle(retry_after_ms=30), kinds="batch", times=1)  # the executor retries it
    proxy.add_rule(Fault.unavailable(), kinds="batch", times=1)  # may have been applied: replayed (upserts)
    results = [r async for r in container.bulk(("upsert", ({"id": f"d{i}", "pk": "p"},)) for i in range(5))]

    assert len(results) == 5 and all(r.succeeded for r in results)
    throttle, unavailable = proxy.log
    for result in results:
        data = result.diagnostics.as_dict()
        assert json.loads(result.diagnostics.to_json()) == data
        first, second, third = data["requests"]
        assert first["operations"] == second["operations"] == third["operations"] == 5
        assert first["operation"] is None and second["operation"] is None  # refused as a whole
        assert [(a["status_code"], a["retry_after"], a["activity_id"]) for a in first["attempts"]] == [
            (429, 0.03, throttle.activity_id)]
        assert [(a["status_code"], a["activity_id"]) for a in second["attempts"]] == [
            (503, unavailable.activity_id)]
        assert third["request_charge"] >= third["operation"]["request_charge"] > 0  # the request's, its own
        assert third["operation"]["status_code"] == result.status_code in (200, 201)
        assert [(a["request"], a["status_code"]) for a in data["attempts"]] == [(1, 429), (2, 503), (3, 200)]
        assert [a["attempt"] for a in data["attempts"]] == [1, 2, 3]
        assert result.diagnostics.request_charge == result.request_charge == third["operation"]["request_charge"]
        assert data["status_code"] == result.status_code and data["replayed"] == result.replayed is True
        assert data["activity_id"] == third["activity_id"] is not None
    # One bulk request carried them all: its record is shared, not copied per operation.
    assert len({id(r._sends[2][0]) for r in results}) == 1


async def test_a_replayed_bulk_operation_says_so_and_lists_the_failure(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    container = through(make_client(clock=FakeClock(), retry=aiocosmos.RetryPolicy(replay_idempotent_writes=True,
                                                                                     max_transient_retries=0)),
                        fresh_container)
    await container.upsert_item({"id": "warm", "pk": "p"})
    proxy.add_rule(Fault.reset_after(), kinds="batch", times=1)
    (result,) = [r async for r in container.bulk([("upsert", ({"id": "r", "pk": "p"},))])]

    data = result.diagnostics.as_dict()
    assert result.succeeded and result.replayed and data["replayed"]
    failed, answered = data["requests"]
    assert failed["attempts"][-1]["error"] in ("ReadError", "StaleConnectionError") and failed["operation"] is None
    assert answered["operation"]["status_code"] in (200, 201)
