"""Timeouts and task cancellation mid-request and mid-iteration: the pool goes back to zero connections
in use, the client stays usable, and nothing is left unclosed (the ``make_client`` fixture checks the
pool and asyncio's "Unclosed ..." reports at teardown; warnings are errors in this suite)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock, Fault, FaultProxy
from tests.faults.conftest import ClientFactory, pool_state, through


async def settle() -> None:
    """Let cancelled aiohttp internals finish their clean-up callbacks."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_read_timeouts_on_reads_are_retried_then_raised(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    client = make_client(timeouts=aiocosmos.Timeouts(read=0.1),
                         retry=aiocosmos.RetryPolicy(max_transient_retries=2, backoff_base=0.01))
    container = through(client, fresh_container)
    await container.read()
    proxy.add_rule(Fault.slow_headers(0.4), kinds="read")

    with pytest.raises(aiocosmos.ReadTimeout) as info:
        await container.read_item("x", "p")

    assert info.value.attempts == 3 and len(proxy.log) == 3
    assert pool_state(client)[0] == 0


async def test_an_operation_deadline_on_a_write_raises_may_have_been_applied_with_the_strict_switch(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    client = make_client(retry=aiocosmos.RetryPolicy(replay_idempotent_writes=False))
    container = through(client, fresh_container)
    await container.read()
    proxy.add_rule(Fault.slow_headers(0.5), kinds="write", times=1)

    with pytest.raises(aiocosmos.ReadTimeout) as info:
        await container.create_item({"id": "late", "pk": "p"}, timeout=0.1)

    assert info.value.may_have_been_applied and info.value.attempts == 1
    assert "may have reached the server" in str(info.value)
    assert pool_state(client)[0] == 0
    assert (await fresh_container.read_item("late", "p"))["id"] == "late"  # it was applied after all


async def test_an_operation_deadline_on_a_replayable_write_leaves_no_time_to_replay_it(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    """By default the create would be replayed, but the deadline has passed: OperationTimeout, whose
    cause is the read timeout, and which says the write may have been applied."""
    client = make_client()
    container = through(client, fresh_container)
    await container.read()
    proxy.add_rule(Fault.slow_headers(0.5), kinds="write", times=1)

    with pytest.raises(aiocosmos.OperationTimeout) as info:
        await container.create_item({"id": "late", "pk": "p"}, timeout=0.1)

    assert isinstance(info.value.__cause__, aiocosmos.ReadTimeout)
    assert info.value.may_have_been_applied and info.value.attempts == 1 and not info.value.replayed
    assert len(proxy.log) == 1, "not sent again after the deadline"
    assert pool_state(client)[0] == 0
    assert (await fresh_container.read_item("late", "p"))["id"] == "late"  # it was applied after all


async def test_a_deadline_across_retries_raises_operation_timeout(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    # The client's clock is a FakeClock, so the deadline counts only the retry waits: exactly three
    # attempts fit in 0.2 s of 80 ms waits whatever the load on the machine.
    clock = FakeClock()
    client = make_client(clock=clock)
    container = through(client, fresh_container)
    await container.read()
    proxy.add_rule(Fault.throttle(retry_after_ms=80), kinds="read")

    with pytest.raises(aiocosmos.OperationTimeout) as info:
        await container.read_item("x", "p", timeout=0.2)

    assert isinstance(info.value.__cause__, aiocosmos.TooManyRequests)
    assert not info.value.may_have_been_applied
    assert info.value.attempts == len(proxy.log) == 3
    assert clock.sleeps == pytest.approx([0.08, 0.08])
    assert pool_state(client)[0] == 0


Operation = Callable[[aiocosmos.ContainerProxy], Awaitable[Any]]


async def _iterate(container: aiocosmos.ContainerProxy) -> None:
    async for _ in container.query_items("SELECT * FROM c", max_item_count=5):
        pass


OPERATIONS: dict[str, tuple[Operation, str]] = {
    "read": (lambda c: c.read_item("item-1", "p"), "read"),
    "create": (lambda c: c.create_item({"id": "new", "pk": "p"}), "write"),
    "query": (_iterate, "query"),
}


@pytest.mark.parametrize("fault", [Fault.slow_headers(0.5), Fault.slow_body(0.1, chunks=5)],
                         ids=["mid-request", "mid-body"])
@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_cancelling_a_task_mid_request_frees_its_connection(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    operation: str, fault: Fault,
) -> None:
    client = make_client()
    container = through(client, fresh_container)
    for n in range(12):
        await container.upsert_item({"id": f"item-{n}", "pk": "p"})
    call, kind = OPERATIONS[operation]
    proxy.add_rule(fault, kinds=kind, continuation=True if kind == "query" else None, times=1)

    faulted = asyncio.Event()
    proxy.observers.append(lambda r: faulted.set() if r.kind == kind and (kind != "query" or r.continuation) else None)
    task = asyncio.create_task(call(container))
    await asyncio.wait_for(faulted.wait(), 5)
    await asyncio.sleep(0.1)  # inside the slow answer now
    assert proxy.log
    assert pool_state(client)[0] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle()

    assert pool_state(client)[0] == 0
    assert (await container.read_item("item-2", "p"))["id"] == "item-2"  # the client is fine
    await asyncio.sleep(0.5)  # the proxy finishes its answer into the closed connection, quietly


async def test_leaving_an_iteration_early_holds_no_connection(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    client = make_client()
    container = through(client, fresh_container)
    for n in range(20):
        await container.upsert_item({"id": f"item-{n}", "pk": "p"})

    pages = container.query_items("SELECT * FROM c", max_item_count=5).by_page()
    await anext(pages)
    assert pool_state(client)[0] == 0  # between pages nothing is held
    await pages.aclose()  # type: ignore[attr-defined]
    async for _ in container.read_all_items(max_item_count=3):
        break
    assert pool_state(client)[0] == 0


async def test_a_storm_of_cancellations_and_timeouts_leaves_the_pool_empty(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    """200 operations against slow, reset and truncated answers, most cancelled at a random moment or
    given a short deadline: afterwards no connection is in use and never more than the limit were."""
    client = make_client(limits=aiocosmos.ConnectionLimits(max_connections=8),
                         timeouts=aiocosmos.Timeouts(read=0.3))
    container = through(client, fresh_container)
    for n in range(20):
        await container.upsert_item({"id": f"item-{n}", "pk": "p"})
    proxy.add_rule(Fault.slow_headers(0.2), Fault.slow_body(0.05, chunks=4), Fault.reset_mid_body(),
                   Fault.truncate(), Fault.reset_after(), Fault.close_after(), probability=0.6)
    rng = random.Random(7)
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            in_use, idle = pool_state(client)
            peak = max(peak, in_use + idle)
            await asyncio.sleep(0.005)

    async def one(n: int) -> str:
        call = [lambda: container.read_item(f"item-{n % 20}", "p", timeout=rng.choice([None, 0.15])),
                lambda: container.upsert_item({"id": f"item-{n % 20}", "pk": "p", "n": n}),
                lambda: _iterate(container)][n % 3]
        task = asyncio.create_task(call())
        await asyncio.sleep(rng.uniform(0, 0.25))
        if n % 10:  # every tenth runs to its end, so that some finish however slow the machine is
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        except aiocosmos.CosmosError as exc:
            return type(exc).__name__
        return "done"

    watcher = asyncio.create_task(watch())
    outcomes = await asyncio.gather(*(one(n) for n in range(200)))
    done.set()
    await watcher
    await settle()

    assert pool_state(client)[0] == 0
    assert peak <= 8
    assert {"cancelled", "done"} <= set(outcomes)
    assert (await container.read_item("item-3", "p"))["id"] == "item-3"
