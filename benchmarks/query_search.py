"""Vector and hybrid search top-10, and ORDER BY with ties serial vs parallel: client CPU, wall time, memory.

    python -m benchmarks.query_search [--ranges 8] [--docs-per-range 10000] [--latency-ms 10] [--reps 5]

The gateway is the engine tests' multi-range fake (tests/client/fake_query_partitions.py and
tests/client/fake_hybrid.py, the service's recorded plans) running in **its own process**, so the CPU
measured here (``time.process_time()`` of this process) is the client's alone. Each range page is
answered after ``--latency-ms``. Rows:

* ``SELECT TOP 10 c._ts FROM c ORDER BY VectorDistance(...)`` (non-streaming ORDER BY: each range sends
  its best 10, the client keeps the best 10 in a heap) over ``ranges x docs-per-range`` documents;
* ``ORDER BY RANK RRF(FullTextScore(...), VectorDistance(...))`` TOP 10 (global statistics, two
  components of TOP 120 per range, fusion);
* ``SELECT * FROM c ORDER BY c.s`` (six distinct values: nearly every row ties) over 1,000 documents
  per range in pages of 100, ``max_concurrency=1`` vs ``=ranges``, and azure-cosmos.

Memory: the peak of Python allocations (``tracemalloc``) during one query, after a warm-up. Writes
``benchmarks/results/query_search.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import random
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.client.conftest import COLL, DB, KEY
from tests.client.fake_hybrid import HYBRID_PLANS, FakeHybridServer, hybrid_documents
from tests.client.fake_query_partitions import order_by_query, vector_query
from tests.client.test_query_engine import make_documents
from tests.client.test_query_vector import TOP_10

RESULTS = Path(__file__).parent / "results"
ORDER_BY_TIES = order_by_query([("s", False)])


def _documents(kind: str, count: int) -> list[dict[str, Any]]:
    rng = random.Random(3)
    if kind == "vector":
        return [{"id": f"v{i}", "pk": f"k{i}", "_ts": i, "vector1": [rng.uniform(-1, 1) for _ in range(5)]}
                for i in range(count)]
    if kind == "hybrid":
        return [dict(d, pk=f"k{i}") for i, d in enumerate(hybrid_documents(count, seed=3))]
    return [dict(d, pk=f"k{i}") for i, d in enumerate(make_documents(count, seed=1))]


def serve(connection: multiprocessing.connection.Connection, kind: str, ranges: int, count: int,
          latency_ms: float) -> None:
    """The gateway, in its own process: sends back its URL and the query text, then serves until killed."""

    async def run() -> None:
        boundaries = tuple(f"{(i * 0x40) // ranges:02X}" for i in range(1, ranges))
        async with FakeHybridServer(boundaries) as gateway:
            gateway.add_documents(_documents(kind, count))
            gateway.range_delay = latency_ms / 1000
            if kind == "vector":
                query = gateway.register(vector_query(TOP_10[0]))
            elif kind == "hybrid":
                query = gateway.register_hybrid(HYBRID_PLANS[1])
            else:
                query = gateway.register(ORDER_BY_TIES)
            connection.send((gateway.url, query.text))
            await asyncio.Event().wait()

    asyncio.run(run())


async def measure(run: Callable[[], Awaitable[int]], reps: int) -> tuple[float, float, float, int]:
    """(median wall s, client CPU ms per query, peak traced MB of one query, items)."""
    count = await run()  # warm-up: connections, plan, routing map, the fake's per-range rows
    walls = []
    cpu_started = time.process_time()
    for _ in range(reps):
        started = time.perf_counter()
        count = await run()
        walls.append(time.perf_counter() - started)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / reps
    tracemalloc.start()
    await run()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(walls), cpu_ms, peak, count


async def scenario(kind: str, ranges: int, count: int, latency_ms: float, reps: int) -> list[str]:
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=serve, args=(child, kind, ranges, count, latency_ms), daemon=True)
    process.start()
    try:
        url, text = parent.recv()
        rows = []
        async with aiocosmos.CosmosClient(url, credential=KEY) as client, AzureClient(url, credential=KEY) as sdk:
            ours = client.get_database_client(DB).get_container_client(COLL)
            theirs = sdk.get_database_client(DB).get_container_client(COLL)
            runs: list[tuple[str, Callable[[], Awaitable[int]]]] = []
            for concurrency in ((1, ranges) if kind == "ties" else (ranges,)):
                async def run_ours(c: int = concurrency) -> int:
                    return len([i async for i in ours.query_items(text, max_item_count=100, max_concurrency=c)])
                runs.append((f"aiocosmos max_concurrency={concurrency}", run_ours))
            if kind != "hybrid":  # the fake answers hybrid sent as it is with a 500, which azure-cosmos retries
                async def run_sdk() -> int:
                    return len([i async for i in theirs.query_items(text, max_item_count=100)])
                runs.append(("azure-cosmos", run_sdk))
            for name, run in runs:
                wall, cpu_ms, peak, items = await measure(run, reps)
                rows.append(f"| `{text[:70]}{'...' if len(text) > 70 else ''}` | {ranges} x {count // ranges} | "
                            f"{name} | {wall * 1000:.1f} | {cpu_ms:.1f} | {peak:.2f} | {items} |")
        return rows
    finally:
        process.kill()
        process.join()


async def main(ranges: int, per_range: int, latency_ms: float, reps: int) -> str:
    rows = ["| query | ranges x docs | client | median wall ms | client CPU ms/query | peak MB (tracemalloc) "
            "| items |", "|---|---|---|---:|---:|---:|---:|"]
    rows += await scenario("vector", ranges, ranges * per_range, latency_ms, reps)
    rows += await scenario("hybrid", ranges, ranges * per_range, latency_ms, reps)
    rows += await scenario("ties", ranges, ranges * 1000, latency_ms, reps)
    header = (f"Search and ORDER BY fan-out: {latency_ms} ms per range page, median of {reps} (CPU: mean), "
              "gateway fake in another process.\n\n")
    return header + "\n".join(rows) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranges", type=int, default=8)
    parser.add_argument("--docs-per-range", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=5)
    arguments = parser.parse_args()
    report = asyncio.run(main(arguments.ranges, arguments.docs_per_range, arguments.latency_ms, arguments.reps))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "query_search.md").write_text(report)
    print(report)
