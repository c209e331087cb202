"""Point reads and upserts: aiocosmos next to azure.cosmos.aio on the local server.

Reports ops/s, latency p50/p99 and, the stable figure on a shared 2-core box, client CPU per op
(``time.process_time`` of this process). Run with ``make bench``; never part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import aiocosmos
from tests.server import CosmosTestServer

DOCS = 1000


async def measure(name: str, op: Callable[[int], Awaitable[object]], seconds: float, concurrency: int) -> None:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    counter = 0

    async def worker() -> None:
        nonlocal counter
        while time.perf_counter() < stop:
            counter += 1
            started = time.perf_counter()
            await op(counter % DOCS)
            latencies.append(time.perf_counter() - started)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    latencies.sort()
    n = len(latencies)
    print(f"{name:<28} {n / wall:>8,.0f} ops/s   p50 {statistics.median(latencies) * 1e3:6.2f} ms   "
          f"p99 {latencies[int(n * 0.99)] * 1e3:6.2f} ms   client CPU {cpu / n * 1e6:6.0f} us/op")


async def run_aiocosmos(url: str, key: str, seconds: float, concurrency: int) -> None:
    async with aiocosmos.CosmosClient(url, credential=key) as client:
        db = await client.create_database("bench-aiocosmos")
        container = await db.create_container("c", partition_key=aiocosmos.PartitionKey("/pk"))
        for n in range(DOCS):
            await container.upsert_item({"id": str(n), "pk": str(n % 10), "payload": "x" * 200, "n": n})
        await measure("aiocosmos read_item", lambda n: container.read_item(str(n), partition_key=str(n % 10)),
                      seconds, concurrency)
        await measure("aiocosmos upsert_item", lambda n: container.upsert_item(
            {"id": str(n), "pk": str(n % 10), "payload": "y" * 200, "n": n}), seconds, concurrency)
        await client.delete_database(db)


async def run_azure(url: str, key: str, seconds: float, concurrency: int) -> None:
    from azure.cosmos import PartitionKey
    from azure.cosmos.aio import CosmosClient

    async with CosmosClient(url, credential=key) as client:
        db = await client.create_database("bench-azure")
        container = await db.create_container("c", partition_key=PartitionKey("/pk"))
        for n in range(DOCS):
            await container.upsert_item({"id": str(n), "pk": str(n % 10), "payload": "x" * 200, "n": n})
        await measure("azure-cosmos read_item", lambda n: container.read_item(str(n), partition_key=str(n % 10)),
                      seconds, concurrency)
        await measure("azure-cosmos upsert_item", lambda n: container.upsert_item(
            {"id": str(n), "pk": str(n % 10), "payload": "y" * 200, "n": n}), seconds, concurrency)
        await client.delete_database(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--only", choices=["aiocosmos", "azure"])
    args = parser.parse_args()
    with CosmosTestServer() as server:
        if args.only != "azure":
            asyncio.run(run_aiocosmos(server.url, server.key, args.seconds, args.concurrency))
        if args.only != "aiocosmos":
            asyncio.run(run_azure(server.url, server.key, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
