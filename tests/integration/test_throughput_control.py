"""Throughput control against the local server behind ``FaultProxy``'s RU budget (429 when the RU/s
budget is exceeded, as the service does).

* Three writer processes (real OS processes) share one global group (target 300 RU/s, the container
  360 RU/s); then
  one is killed with SIGKILL. Checked from the proxy's budget counters and the control items: the
  group's RU/s stays within 10 % of the target, goodput is at least 90 % of it, few 429s; the dead
  client is aged out and its share goes to the two others.
* A local group in this process: every kind of operation passes the gate (the proxy sees no 429).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiocosmos
from aiocosmos.testing import FaultProxy
from aiocosmos.testing.budget import DEFAULT_CHARGES
from aiocosmos.testing.rules import ProxyRequest
from tests.server import CosmosTestServer

ROOT = Path(__file__).resolve().parents[2]
TARGET = 300.0
BUDGET = 360.0
"""The container's RU/s (the proxy's budget): above the group's target, so that a group that overshot
would show (up to 360 RU/s would be admitted), and the 429s count the bursts the service refused."""
WINDOW = 6.0


def charges_except(container: str) -> Callable[[ProxyRequest], float]:
    """The default charges, but the control container costs nothing (its RU are not the group's:
    on the service it is another container, with its own throughput)."""
    marker = f"/colls/{container}"

    def charge(request: ProxyRequest) -> float:
        if marker in request.path:
            return 0.0
        return DEFAULT_CHARGES.get(request.kind, 0.0)
    return charge


def last_rows(paths: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        lines = [line for line in path.read_text().splitlines() if line.endswith("}")] if path.exists() else []
        rows.append(json.loads(lines[-1]) if lines else {})
    return rows


async def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def measure(proxy: FaultProxy, seconds: float) -> tuple[float, int, int]:
    """(RU/s admitted by the budget, requests admitted, requests throttled) over ``seconds``."""
    budget = proxy.budget
    assert budget is not None
    start, admitted, throttled, started = budget.charged, budget.admitted, budget.throttled, time.monotonic()
    await asyncio.sleep(seconds)
    return ((budget.charged - start) / (time.monotonic() - started), budget.admitted - admitted,
            budget.throttled - throttled)


async def test_three_processes_share_a_global_group_and_a_dead_one_ages_out(
    cosmos_server: CosmosTestServer, database: aiocosmos.DatabaseProxy, tmp_path: Path
) -> None:
    await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    control = await database.create_container("control", partition_key=aiocosmos.PartitionKey("/groupId"))
    async with FaultProxy(cosmos_server.url, seed=1) as proxy:
        proxy.set_budget(BUDGET, charges=charges_except("control"))
        stats = [tmp_path / f"worker{i}.jsonl" for i in range(3)]
        workers = [subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
            [sys.executable, "-m", "tests.integration.throughput_worker", proxy.url, cosmos_server.key, database.id,
             "items", "control", str(TARGET), str(path), "--renew", "1", "--expire", "3"], cwd=ROOT)
            for path in stats]
        try:
            await wait_for(lambda: all(r.get("clients") == 3 for r in last_rows(stats)), 30, "three clients")
            await asyncio.sleep(2)  # the load factors settle
            rate, admitted, throttled = await measure(proxy, WINDOW)
            assert abs(rate - TARGET) <= 0.1 * TARGET, rate
            assert rate >= 0.9 * TARGET, rate  # goodput: what the budget admitted
            assert throttled <= 0.05 * admitted, (throttled, admitted)
            shares = [r["share"] for r in last_rows(stats)]
            assert abs(sum(shares) - 1.0) < 0.15 and all(0.2 < s < 0.5 for s in shares), shares

            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            alive = stats[1:]
            await wait_for(lambda: all(r.get("clients") == 2 for r in last_rows(alive)), 20, "the dead client aged out")
            await asyncio.sleep(2)
            rate, admitted, throttled = await measure(proxy, WINDOW)
            assert abs(rate - TARGET) <= 0.1 * TARGET, rate  # the two survivors took the dead one's share
            assert throttled <= 0.05 * admitted, (throttled, admitted)
            rows = last_rows(alive)
            assert abs(sum(r["share"] for r in rows) - 1.0) < 0.15, rows
            assert abs(sum(r["allocated"] for r in rows) - TARGET) < 0.15 * TARGET, rows

            # The control items are in Java's schema: one config item, one item per client (the dead
            # one's left for its ttl, ignored by the others).
            items = [i async for i in control.query_items("SELECT * FROM c")]
            config = [i for i in items if i["id"].endswith(".info")]
            clients = [i for i in items if i["groupId"].endswith(".client")]
            assert len(config) == 1 and float(config[0]["targetThroughput"]) == TARGET
            assert len(clients) == 3 and all(i["ttl"] == 3 and i["loadFactor"] >= 0.1 for i in clients)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:  # waited in a thread: the proxy (in this loop) serves their leaving
                    await asyncio.to_thread(worker.wait, 10)
                except subprocess.TimeoutExpired:
                    worker.kill()
    # A worker stopped by SIGTERM left the group: its client item is gone.
    left = [i async for i in control.query_items("SELECT * FROM c WHERE ENDSWITH(c.groupId, '.client')")]
    assert len(left) == 1


async def test_a_local_group_covers_every_kind_of_operation(
    cosmos_server: CosmosTestServer, database: aiocosmos.DatabaseProxy
) -> None:
    await database.create_container("local", partition_key=aiocosmos.PartitionKey("/pk"))
    async with FaultProxy(cosmos_server.url, seed=1) as proxy:
        proxy.set_budget(100.0)  # the container; the group takes half
        async with aiocosmos.CosmosClient(proxy.url, credential=cosmos_server.key) as client:
            container = client.get_database_client(database.id).get_container_client("local")
            await container.read()  # metadata first: the budget is for the items
            group = aiocosmos.ThroughputControlGroupConfig(f"g-{uuid.uuid4().hex[:6]}", target_throughput=50)
            control = await container.enable_local_throughput_control_group(group)
            await asyncio.gather(*(container.upsert_item({"id": str(i), "pk": str(i % 3)}) for i in range(20)))
            summary = await container.bulk_upsert([{"id": f"b{i}", "pk": "b"} for i in range(30)])
            assert summary.succeeded == 30
            assert len([d async for d in container.query_items("SELECT * FROM c")]) == 50
            assert len([d async for d in container.query_items_change_feed(start_time="Beginning")]) == 50
            stats = control.stats()
            assert stats.requests_delayed > 0 and stats.target_throughput == 50 and stats.clients == 1
            assert proxy.budget is not None and proxy.budget.throttled == 0  # waited instead of a 429
            await control.close()
            assert client._core.throughput.gates == {}
