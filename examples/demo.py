"""The main jobs, end to end on the local server.

1. A service's view: write sample orders, read, patch with an etag, query, page through them and
   resume from a saved continuation token.
2. An ingestion job's view: generate a gzipped JSONL file, load it with ``aiocosmos ingest`` (the bulk
   executor), export it back with ``aiocosmos export``, and check that every document came back.

Run with ``make demo`` (or ``python -m examples.demo`` once installed).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiocosmos
from tests.server import CosmosTestServer

ORDERS = 2_000
CUSTOMERS = 50


async def run(url: str, key: str) -> None:
    async with aiocosmos.CosmosClient(url, credential=key) as client:
        account = await client.get_database_account()
        print(f"connected to {url} (account {account['id']!r}, consistency "
              f"{account['userConsistencyPolicy']['defaultConsistencyLevel']})")

        db = await client.create_database_if_not_exists("shop")
        orders = await db.create_container_if_not_exists("orders", partition_key=aiocosmos.PartitionKey("/customerId"))

        # Write: bounded concurrency, every result carries its own request charge.
        rng = random.Random(7)
        gate = asyncio.Semaphore(32)
        charge = 0.0

        async def write(n: int) -> None:
            nonlocal charge
            async with gate:
                order = {"id": f"order-{n:05d}", "customerId": f"c{n % CUSTOMERS:03d}",
                         "total": round(rng.uniform(1, 500), 2), "status": rng.choice(["open", "paid", "shipped"])}
                created = await orders.upsert_item(order)
                charge += created.request_charge

        started = time.perf_counter()
        await asyncio.gather(*(write(n) for n in range(ORDERS)))
        elapsed = time.perf_counter() - started
        print(f"wrote {ORDERS} orders in {elapsed:.2f}s ({ORDERS / elapsed:,.0f}/s, {charge:,.0f} RU)")

        # Point read, then a conditional update with the etag.
        order = await orders.read_item("order-00042", partition_key="c042")
        paid = await orders.patch_item(order, "c042", [{"op": "set", "path": "/status", "value": "paid"}],
                                       etag=order.etag)
        print(f"order-00042: total {order['total']}, status now {paid['status']!r}")

        # Query with parameters, in one partition and across all of them.
        big = [o async for o in orders.query_items(
            "SELECT * FROM o WHERE o.total > @min", parameters=[{"name": "@min", "value": 450}])]
        print(f"{len(big)} orders over 450 across all customers")
        count = [n async for n in orders.query_items("SELECT VALUE COUNT(1) FROM o", partition_key="c007")]
        print(f"customer c007 has {count[0]} orders")

        # Page through everything, stop half-way, and resume later from the saved token.
        pager = orders.query_items("SELECT * FROM o ORDER BY o.total DESC", max_item_count=250)
        seen: list[str] = []
        token = None
        async for page in pager.by_page():
            seen.extend(o["id"] for o in page)
            token = page.continuation
            print(f"  page of {len(page)} items, {page.request_charge} RU, more: {token is not None}")
            if len(seen) >= 1000:
                break
        resumed = orders.query_items("SELECT * FROM o ORDER BY o.total DESC", max_item_count=250)
        async for page in resumed.by_page(continuation_token=token):
            seen.extend(o["id"] for o in page)
        assert len(seen) == len(set(seen)) == ORDERS, "paging lost or repeated items"
        print(f"paged through {len(seen)} orders (resumed half-way from a saved token): none lost, none repeated")

        await client.delete_database(db)
        print("deleted the demo database")


INGEST_DOCS = 20_000


def ingest_and_export(url: str, key: str) -> None:
    """The command line on a generated file: ingest with the bulk executor, export, compare."""
    env = {**os.environ, "COSMOS_ENDPOINT": url, "COSMOS_KEY": key}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "events.jsonl.gz"
        with gzip.open(source, "wt") as out:
            for n in range(INGEST_DOCS):
                out.write(json.dumps({"id": f"e{n:06d}", "device": f"dev{n % 97:02d}", "reading": n * 0.5}) + "\n")
        print(f"ingesting {INGEST_DOCS:,} documents from {source.name} with `aiocosmos ingest` ...")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "aiocosmos", "ingest", str(source), "-d", "telemetry", "-c", "events",
                        "--create-container", "--partition-key", "/device", "--no-progress"], env=env, check=True)
        print(f"ingest took {time.perf_counter() - started:.1f}s")
        exported = Path(tmp) / "export.jsonl"
        with exported.open("w") as out:
            subprocess.run([sys.executable, "-m", "aiocosmos", "export", "-d", "telemetry", "-c", "events"],
                           env=env, stdout=out, check=True)
        ids = {json.loads(line)["id"] for line in exported.read_text().splitlines()}
        assert ids == {f"e{n:06d}" for n in range(INGEST_DOCS)}, "export does not match the ingested file"
        print(f"`aiocosmos export` returned all {len(ids):,} documents, each once")


async def drop_database(url: str, key: str, name: str) -> None:
    async with aiocosmos.CosmosClient(url, credential=key) as client:
        await client.delete_database(name)


def main() -> None:
    print("starting the local Cosmos-compatible server ...")
    with CosmosTestServer() as server:
        asyncio.run(run(server.url, server.key))
        ingest_and_export(server.url, server.key)
        asyncio.run(drop_database(server.url, server.key, "telemetry"))
    print("server stopped")


if __name__ == "__main__":
    main()
