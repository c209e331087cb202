"""``.diagnostics`` of results, pages and errors against the local server, through the FaultProxy: the
attempt list matches the proxy's log one for one (status, substatus, activity id, retry-after), the
waits match the FakeClock's sleeps, and everything is JSON. A first-attempt success carries nothing
extra: its headers are the transport's own, and its diagnostics are built from them when read."""

from __future__ import annotations

import json

import pytest

import aiocosmos
from aiocosmos.diagnostics import ATTEMPTS_HEADER
from aiocosmos.testing import FakeClock, Fault, FaultProxy, Injection
from tests.faults.conftest import ClientFactory, through

ATTEMPT_KEYS = {"attempt", "region", "status_code", "sub_status", "error", "activity_id", "request_charge",
                "retry_after", "wait", "failover", "duration"}


def matches_log(attempts: list[dict[str, object]], log: list[Injection]) -> None:
    """Each failed attempt is the proxy's injection of the same position."""
    assert len(attempts) >= len(log)
    for attempt, injection in zip(attempts, log, strict=False):
        assert attempt["status_code"] == injection.status, (attempt, injection)
        if injection.status is not None:
            assert attempt["sub_status"] == (injection.sub_status or 0)
            assert attempt["activity_id"] == injection.activity_id
        expected_wait = None if injection.retry_after_ms is None else injection.retry_after_ms / 1000
        assert attempt["retry_after"] == expected_wait


async def test_a_first_attempt_success_has_one_attempt_built_from_its_headers(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    clock = FakeClock()
    client = make_client(clock=clock, consistency_level="Session")
    container = through(client, fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})
    item = await container.read_item("a", "p", session_token="0:-1#7")  # (the local server issues none)

    assert ATTEMPTS_HEADER not in item.headers and "x-aiocosmos-replayed" not in item.headers
    diagnostics = item.diagnostics
    (attempt,) = diagnostics.attempts
    assert set(attempt) == ATTEMPT_KEYS
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["wait"] == 0.0
    assert attempt["activity_id"] == item.activity_id
    assert attempt["request_charge"] == item.request_charge == diagnostics.request_charge > 0
    assert not diagnostics.replayed and not diagnostics.hedged
    data = diagnostics.as_dict()
    assert data["session_token_sent"] == "0:-1#7" and data["session_token_received"] == item.session_token
    assert data["timings"] == {"total": 0.0, "retry_wait": 0.0, "attempts": 0.0}  # the fake clock did not move
    assert json.loads(diagnostics.to_json()) == data == json.loads(json.dumps(data))


async def test_retries_are_listed_one_for_one_with_the_proxy_log(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    clock = FakeClock()
    container = through(make_client(clock=clock), fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})
    proxy.add_rule(Fault.throttle(retry_after_ms=70), kinds="read", times=2)
    proxy.add_rule(Fault.unavailable(), kinds="read", times=1)
    item = await container.read_item("a", "p")

    diagnostics = item.diagnostics
    attempts = diagnostics.attempts
    assert [a["status_code"] for a in attempts] == [429, 429, 503, 200]
    matches_log(attempts, proxy.log)
    assert [a["wait"] for a in attempts[:-1]] == clock.sleeps and attempts[-1]["wait"] == 0.0
    assert [a["error"] for a in attempts] == ["TooManyRequests", "TooManyRequests", "ServiceUnavailable", None]
    assert attempts[-1]["activity_id"] == item.activity_id
    timings = diagnostics.as_dict()["timings"]
    assert timings["retry_wait"] == pytest.approx(sum(clock.sleeps))
    assert timings["total"] == pytest.approx(sum(clock.sleeps))  # only the waits moved the fake clock
    # Each attempt started where the previous wait ended: on the fake clock, each took no time.
    assert [a["duration"] for a in attempts] == [pytest.approx(0.0)] * 4
    assert json.loads(diagnostics.to_json())["attempts"][0]["retry_after"] == 0.07


async def test_an_error_lists_every_attempt_and_its_own_last(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    clock = FakeClock()
    container = through(make_client(clock=clock), fresh_container)
    proxy.add_rule(Fault.unavailable(), kinds="read")
    with pytest.raises(aiocosmos.ServiceUnavailable) as caught:
        await container.read_item("a", "p")

    error = caught.value
    attempts = error.diagnostics.attempts
    assert len(attempts) == error.attempts == len(proxy.log) == 4  # max_transient_retries = 3
    matches_log(attempts, proxy.log)
    assert [a["activity_id"] for a in attempts] == list(error.activity_ids)
    assert [a["wait"] for a in attempts] == [*clock.sleeps, 0.0]
    data = error.diagnostics.as_dict()
    assert data["status_code"] == 503 and data["timings"]["retry_wait"] == pytest.approx(error.total_wait)
    assert json.loads(error.diagnostics.to_json()) == data


async def test_a_replayed_write_says_so_and_lists_the_connection_failure(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    container = through(make_client(clock=FakeClock()), fresh_container)
    proxy.add_rule(Fault.reset_after(), kinds="write", times=1)
    result = await container.upsert_item({"id": "r", "pk": "p"})

    diagnostics = result.diagnostics
    assert diagnostics.replayed and result.replayed
    first, second = diagnostics.attempts
    assert first["status_code"] is None and first["activity_id"] is None
    assert first["error"] in ("ReadError", "StaleConnectionError")  # the reset may hit a pooled connection
    assert second["status_code"] in (200, 201)
    matches_log(diagnostics.attempts, proxy.log)


async def test_a_connection_failure_that_escapes_has_diagnostics_too(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    clock = FakeClock()
    container = through(make_client(clock=clock), fresh_container)
    proxy.add_rule(Fault.reset_after(), kinds="read")
    with pytest.raises(aiocosmos.ReadError) as caught:
        await container.read_item("a", "p")
    attempts = caught.value.diagnostics.attempts
    assert len(attempts) == caught.value.attempts == len(proxy.log)
    assert {a["error"] for a in attempts} <= {"ReadError", "StaleConnectionError"}
    assert attempts[-1]["error"] == "ReadError"


async def test_pages_carry_the_diagnostics_of_their_request(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    clock = FakeClock()
    container = through(make_client(clock=clock), fresh_container)
    for n in range(5):
        await container.upsert_item({"id": f"i{n}", "pk": "p"})
    proxy.add_rule(Fault.throttle(retry_after_ms=30), kinds="query", times=1)
    pages = [page async for page in container.query_items(
        "SELECT * FROM c", partition_key="p", max_item_count=2).by_page()]
    assert len(pages) == 3
    first = pages[0].diagnostics.attempts
    assert [a["status_code"] for a in first] == [429, 200]
    matches_log(first, proxy.log)
    for page in pages:
        attempts = page.diagnostics.attempts
        assert attempts[-1]["activity_id"] == page.activity_id
        assert attempts[-1]["request_charge"] == pytest.approx(page.request_charge)
    assert [len(p.diagnostics.attempts) for p in pages[1:]] == [1, 1]


async def test_an_error_without_an_answer_from_the_deadline_still_lists_the_attempts(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    clock = FakeClock()
    container = through(make_client(clock=clock), fresh_container)
    proxy.add_rule(Fault.throttle(retry_after_ms=400), kinds="read")
    with pytest.raises(aiocosmos.OperationTimeout) as caught:
        await container.read_item("a", "p", timeout=1.0)
    attempts = caught.value.diagnostics.attempts
    assert len(attempts) == len(proxy.log) == caught.value.attempts  # the last one is the cause's
    matches_log(attempts, proxy.log)
    assert caught.value.diagnostics.as_dict()["timings"]["retry_wait"] == pytest.approx(sum(clock.sleeps))
