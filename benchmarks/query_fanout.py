"""Cross-partition query fan-out: aiocosmos serial (``max_concurrency=1``) vs parallel vs azure.cosmos.aio.

    python -m benchmarks.query_fanout [--ranges 8] [--docs 4000] [--latency-ms 10] [--reps 3]

The gateway is the multi-range fake of the engine tests (tests/client/fake_query_partitions.py): it
refuses the queries with 400/1004, serves the plan and answers each range's rewritten query after
``--latency-ms`` (the service's time per page; the local server cannot play several partitions).
Queries: ``SELECT * FROM c ORDER BY c.n DESC, c.s`` in pages of 100, ``SELECT VALUE COUNT(c.n)`` and a
``GROUP BY`` (not supported by azure-cosmos). Reports the median wall time per query and writes
``benchmarks/results/query_fanout.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.client.conftest import COLL, DB, KEY
from tests.client.fake_query_partitions import (
    FakeQuery,
    FakeQueryServer,
    aggregate_query,
    group_by_query,
    order_by_query,
)
from tests.client.test_query_engine import make_documents

RESULTS = Path(__file__).parent / "results"


async def timed(run: Callable[[], Awaitable[int]], reps: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(reps):
        started = time.perf_counter()
        count = await run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


async def main(ranges: int, docs: int, latency_ms: float, reps: int) -> str:
    boundaries = tuple(f"{(i * 0x40) // ranges:02X}" for i in range(1, ranges))
    queries: list[tuple[FakeQuery, bool]] = [
        (order_by_query([("n", True), ("s", False)]), True),
        (aggregate_query("COUNT", "n"), True),
        (group_by_query("g", [("cnt", "COUNT", "n"), ("mean", "AVG", "n")]), False),
    ]
    rows = ["| query | client | median s | items |", "|---|---|---:|---:|"]
    async with FakeQueryServer(boundaries) as gateway:
        gateway.add_documents(make_documents(docs, seed=1))
        gateway.range_delay = latency_ms / 1000
        async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client, \
                AzureClient(gateway.url, credential=KEY) as sdk:
            ours = client.get_database_client(DB).get_container_client(COLL)
            theirs = sdk.get_database_client(DB).get_container_client(COLL)
            for query, sdk_supports in queries:
                gateway.register(query)
                runs: list[tuple[str, Callable[[], Awaitable[int]]]] = []
                for concurrency in (1, ranges):
                    async def run_ours(c: int = concurrency, q: FakeQuery = query) -> int:
                        items: list[Any] = [i async for i in ours.query_items(q.text, max_item_count=100,
                                                                               max_concurrency=c)]
                        return len(items)
                    runs.append((f"aiocosmos max_concurrency={concurrency}", run_ours))
                if sdk_supports:
                    async def run_sdk(q: FakeQuery = query) -> int:
                        return len([i async for i in theirs.query_items(q.text, max_item_count=100)])
                    runs.append(("azure-cosmos", run_sdk))
                for name, run in runs:
                    await run()  # warm-up: connections, plan, routing map and the fake's per-range rows
                    seconds, count = await timed(run, reps)
                    rows.append(f"| `{query.text}` | {name} | {seconds:.3f} | {count} |")
    header = (f"Cross-partition query fan-out: {ranges} ranges, {docs} documents, {latency_ms} ms per range "
              f"page, median of {reps}.\n\n")
    return header + "\n".join(rows) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranges", type=int, default=8)
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=3)
    arguments = parser.parse_args()
    report = asyncio.run(main(arguments.ranges, arguments.docs, arguments.latency_ms, arguments.reps))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "query_fanout.md").write_text(report)
    print(report)
