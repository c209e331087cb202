"""429 storms through the proxy: the client waits exactly what ``x-ms-retry-after-ms`` says, stops at
its budget (9 retries, 30 s of waiting by default), and the final error carries the attempts, the
total wait, the substatus and the activity id of every attempt."""

from __future__ import annotations

import asyncio
import time

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock, Fault, FaultProxy
from tests.faults.conftest import ClientFactory, through


@pytest.mark.parametrize(("retry_after_ms", "policy", "attempts"), [
    (250, aiocosmos.RetryPolicy(), 10),                          # 9 retries, 2.25 s waited
    (7000, aiocosmos.RetryPolicy(), 5),                          # 4 x 7 s = 28 s; a 5th wait would pass 30 s
    (100, aiocosmos.RetryPolicy(max_throttle_retries=3), 4),
    (400, aiocosmos.RetryPolicy(max_throttle_wait=1.0), 3),      # 2 x 0.4 s; a 3rd wait would pass 1 s
])
@pytest.mark.parametrize("operation", ["read", "write", "query"])
async def test_a_429_storm_stops_at_the_budget_with_a_complete_error(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    retry_after_ms: int, policy: aiocosmos.RetryPolicy, attempts: int, operation: str,
) -> None:
    clock = FakeClock()
    container = through(make_client(clock=clock, retry=policy), fresh_container)
    await container.read()
    proxy.add_rule(Fault.throttle(retry_after_ms=retry_after_ms), kinds=operation)

    with pytest.raises(aiocosmos.TooManyRequests) as info:
        if operation == "read":
            await container.read_item("x", "p")
        elif operation == "write":
            await container.upsert_item({"id": "x", "pk": "p"})
        else:
            [item async for item in container.query_items("SELECT * FROM c")]

    error = info.value
    wait = retry_after_ms / 1000
    assert clock.sleeps == [wait] * (attempts - 1)
    assert (error.attempts, error.sub_status, error.retry_after) == (attempts, 3200, wait)
    assert error.total_wait == pytest.approx(wait * (attempts - 1))
    assert list(error.activity_ids) == [i.activity_id for i in proxy.log]
    assert len(set(error.activity_ids)) == attempts
    assert not error.may_have_been_applied
    text = str(error)
    assert text.startswith("[429/3200] Request rate is large")
    assert f"attempts={attempts}" in text and f"waited {wait * (attempts - 1):.3f}s" in text
    assert all(activity_id in text for activity_id in error.activity_ids)
    assert len(proxy.log) == attempts


async def test_real_waits_honour_retry_after_and_then_succeed(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    container = through(make_client(), fresh_container)
    await container.upsert_item({"id": "x", "pk": "p", "v": 1})
    proxy.add_rule(Fault.throttle(retry_after_ms=60), kinds="read", times=3)
    proxy.add_rule(Fault.throttle(retry_after_ms=60), kinds="write", times=3)

    started = time.monotonic()
    item = await container.read_item("x", "p")
    read_elapsed = time.monotonic() - started
    started = time.monotonic()
    await container.upsert_item({"id": "x", "pk": "p", "v": 2})
    write_elapsed = time.monotonic() - started

    assert item["v"] == 1
    assert 0.18 <= read_elapsed < 1.0 and 0.18 <= write_elapsed < 1.0
    assert (await fresh_container.read_item("x", "p"))["v"] == 2
    gaps = [b.time - a.time for a, b in zip(proxy.log, proxy.log[1:3], strict=False)]
    assert all(gap >= 0.06 for gap in gaps), gaps


async def test_concurrent_storm_under_a_request_unit_budget(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    """A budget of 200 RU/s and 32 tasks each writing as fast as it can for 1.5 s: the client never
    exceeds the budget by more than the burst, and every write either lands or fails with a complete
    429 error after its retries ran out."""
    policy = aiocosmos.RetryPolicy(max_throttle_retries=9, max_throttle_wait=1.0)
    container = through(make_client(retry=policy), fresh_container)
    await container.read()
    budget = proxy.set_budget(200, burst=40, charges={"write": 4})
    written: list[str] = []
    throttled: list[aiocosmos.TooManyRequests] = []
    deadline = time.monotonic() + 1.5

    async def writer(task: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            try:
                await container.upsert_item({"id": f"{task}-{n}", "pk": "p"})
                written.append(f"{task}-{n}")
            except aiocosmos.TooManyRequests as exc:
                throttled.append(exc)

    started = time.monotonic()
    await asyncio.gather(*(writer(t) for t in range(32)))
    elapsed = time.monotonic() - started

    assert budget.charged <= 40 + 200 * elapsed + 4
    assert len(written) == budget.admitted
    assert len(written) >= 200 * 1.5 / 4 * 0.6  # the budget was used, not wasted
    injections = {i.activity_id: i for i in proxy.log}
    for error in throttled:
        assert error.total_wait <= 1.0 and error.sub_status == 3200
        assert all(injections[a].fault == "budget" for a in error.activity_ids)
        assert error.attempts == len(error.activity_ids) <= 10
    stored = {d["id"] for d in [d async for d in fresh_container.read_all_items()]}
    assert stored == set(written)
