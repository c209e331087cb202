"""Soak: 64 concurrent tasks for 30 s through the fault proxy, about a fifth of the requests faulted.

Checked: no error escapes that the retry policy should have absorbed (each escaped error is replayed
through the policy against the proxy's log); writes that succeeded are never lost; the resident
memory at the end is within 20 MB of the start; the connections in the client's pool never exceed
its limit and none is left in use. The figures are printed (``pytest -s`` shows them).
``AIOCOSMOS_SOAK_SECONDS`` changes the duration for local runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import resource
import time
from collections import Counter
from typing import Any

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy
from tests.faults.conftest import ClientFactory, check_escape, pool_state, through

SECONDS = float(os.environ.get("AIOCOSMOS_SOAK_SECONDS", "30"))
TASKS = 64
POOL_LIMIT = 16
SEED_DOCS = 200
PARTITIONS = 10

READ_MIX = [
    Fault.throttle(retry_after_ms=5), Fault.retry_with(), Fault.timeout(), Fault.internal_error(),
    Fault.unavailable(), Fault.reset_before(), Fault.reset_after(), Fault.reset_mid_body(), Fault.truncate(),
    Fault.slow_headers(0.05), Fault.slow_body(0.01), Fault.session_not_available(), Fault.stale_connection(),
    Fault.close_after(),
]
WRITE_MIX = [
    Fault.throttle(retry_after_ms=5), Fault.retry_with(), Fault.timeout(apply=True), Fault.internal_error(),
    Fault.unavailable(apply=True), Fault.reset_before(), Fault.reset_after(), Fault.truncate(),
    Fault.slow_headers(0.05), Fault.stale_connection(), Fault.close_after(),
]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


async def test_soak_64_tasks_under_faults(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    policy = aiocosmos.RetryPolicy()
    client = make_client(limits=aiocosmos.ConnectionLimits(max_connections=POOL_LIMIT),
                         timeouts=aiocosmos.Timeouts(read=5.0), retry=policy)
    container = through(client, fresh_container)
    for n in range(SEED_DOCS):
        await fresh_container.create_item({"id": f"seed-{n}", "pk": f"p{n % PARTITIONS}", "n": n})
    await container.read()
    proxy.max_log = 2_000  # errors are checked as they escape: the latest injections are enough
    proxy.add_rule(*READ_MIX, kinds=("read", "query", "feed"), probability=0.2, name="reads")
    proxy.add_rule(*WRITE_MIX, kinds="write", probability=0.2, name="writes")

    ops: Counter[str] = Counter()
    escaped: Counter[str] = Counter()
    violations: list[str] = []
    last_success: dict[str, int] = {}
    last_attempt: dict[str, int] = {}
    peaks = {"in_use": 0, "open": 0, "proxy_side": 0}
    rss_samples: list[float] = []
    stop_at = time.monotonic() + SECONDS
    stopping = asyncio.Event()

    def escape(exc: BaseException, *, idempotent: bool, what: str) -> None:
        injections = {i.activity_id: i for i in proxy.log if i.activity_id}
        try:
            escaped[f"{what} {check_escape(exc, idempotent=idempotent, policy=policy, injections=injections)}"] += 1
        except AssertionError as failure:
            violations.append(f"{what}: {failure}")

    async def read(rng: random.Random) -> None:
        n = rng.randrange(SEED_DOCS)
        item = await container.read_item(f"seed-{n}", f"p{n % PARTITIONS}")
        assert item["n"] == n

    async def query(rng: random.Random) -> None:
        pk = f"p{rng.randrange(PARTITIONS)}"
        ids = [d["id"] async for d in container.query_items(
            "SELECT * FROM c WHERE c.pk = @pk", parameters=[{"name": "@pk", "value": pk}], partition_key=pk,
            max_item_count=8)]
        assert sorted(ids) == sorted(f"seed-{n}" for n in range(SEED_DOCS) if f"p{n % PARTITIONS}" == pk)

    async def feed(rng: random.Random) -> None:
        pages = container.read_all_items(max_item_count=25).by_page()
        try:
            page = await anext(pages)
            assert 0 < len(page) <= 25
        finally:
            await pages.aclose()  # type: ignore[attr-defined]

    async def write(rng: random.Random, task: int) -> None:
        item_id = f"w-{task}-{rng.randrange(4)}"
        version = last_attempt.get(item_id, 0) + 1
        last_attempt[item_id] = version
        await container.upsert_item({"id": item_id, "pk": "w", "version": version})
        last_success[item_id] = version

    async def worker(task: int) -> None:
        rng = random.Random(task)
        while time.monotonic() < stop_at:
            kind = rng.choices(["read", "query", "feed", "write"], weights=[5, 2, 1, 2])[0]
            ops[kind] += 1
            try:
                if kind == "write":
                    await write(rng, task)
                else:
                    await {"read": read, "query": query, "feed": feed}[kind](rng)
            except aiocosmos.CosmosError as exc:
                # The writes are unconditional upserts: replayed like reads unless the policy is strict.
                escape(exc, idempotent=kind != "write" or policy.replay_idempotent_writes, what=kind)
            except AssertionError as failure:
                violations.append(f"{kind}: wrong result: {failure}")

    async def sample() -> None:
        next_rss = time.monotonic()
        while not stopping.is_set():
            if time.monotonic() >= next_rss:
                rss_samples.append(round(rss_bytes() / 2**20, 1))
                next_rss += 5.0
            in_use, idle = pool_state(client)
            peaks["in_use"] = max(peaks["in_use"], in_use)
            peaks["open"] = max(peaks["open"], in_use + idle)
            peaks["proxy_side"] = max(peaks["proxy_side"], proxy.open_connections)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 0.02)

    gc.collect()
    rss_start = rss_bytes()
    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    await asyncio.gather(*(worker(t) for t in range(TASKS)))
    elapsed = time.monotonic() - started
    stopping.set()
    await sampler
    gc.collect()
    rss_end = rss_bytes()

    stored = {d["id"]: d["version"] async for d in _docs(fresh_container, "w")}
    lost = [i for i, v in last_success.items() if not v <= stored.get(i, 0) <= last_attempt[i]]
    total = sum(ops.values())
    figures = {
        "seconds": round(elapsed, 1), "tasks": TASKS, "operations": total, "ops_per_s": round(total / elapsed),
        "by_kind": dict(ops), "requests": proxy.requests, "faults": proxy.injected,
        "faulted_share": round(proxy.injected / proxy.requests, 3),
        "faults_by_label": dict(proxy.counts().most_common()),
        "escaped_as_the_policy_says": dict(escaped), "violations": len(violations),
        "rss_start_mb": round(rss_start / 2**20, 1), "rss_end_mb": round(rss_end / 2**20, 1),
        "rss_growth_mb": round((rss_end - rss_start) / 2**20, 1), "rss_every_5s_mb": rss_samples,
        "pool_limit": POOL_LIMIT, "peak_in_use": peaks["in_use"], "peak_open": peaks["open"],
        "peak_proxy_side_connections": peaks["proxy_side"], "in_use_at_end": pool_state(client)[0],
    }
    print(f"\nsoak figures: {figures}")

    assert violations == [], violations[:10]
    assert lost == []
    assert rss_end - rss_start < 20 * 2**20
    assert peaks["in_use"] <= POOL_LIMIT and peaks["open"] <= POOL_LIMIT
    assert pool_state(client)[0] == 0
    assert total > TASKS * SECONDS  # it did work, not just wait
    assert 0.1 < figures["faulted_share"] < 0.3  # type: ignore[operator]


async def _docs(container: aiocosmos.ContainerProxy, pk: str) -> Any:
    async for d in container.query_items("SELECT * FROM c", partition_key=pk):
        yield d
