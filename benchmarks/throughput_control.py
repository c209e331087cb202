"""Global throughput control: 1, 2 and 4 writer processes under one group, and without a group.

    python -m benchmarks.throughput_control [--seconds 8] [--target 600] [--budget 720]

Starts the local server and a FaultProxy whose RU budget plays the container (``--budget`` RU/s; 6 RU
per write; the control container costs nothing, as another container's throughput would). Each writer
process (``tests/integration/throughput_worker.py``: 8 concurrent upserts) joins the global group
(``--target`` RU/s, renew 1 s). Measured over ``--seconds`` after the group settled: aggregate goodput
(the RU/s the budget admitted) as % of the target, the proxy's 429s, client CPU per document (the
workers' utime+stime). Then the same writers without a group and without a budget: docs/s.
Prints a markdown table; the numbers depend on the machine (say which when you quote them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiocosmos
from aiocosmos.testing import FaultProxy
from aiocosmos.testing.budget import DEFAULT_CHARGES
from aiocosmos.testing.rules import ProxyRequest
from tests.server import CosmosTestServer

ROOT = Path(__file__).resolve().parents[1]


def charge(request: ProxyRequest) -> float:
    return 0.0 if "/colls/control" in request.path else DEFAULT_CHARGES.get(request.kind, 0.0)


def last(path: Path) -> dict[str, Any]:
    lines = [line for line in path.read_text().splitlines() if line.endswith("}")] if path.exists() else []
    return json.loads(lines[-1]) if lines else {}


async def run(server: CosmosTestServer, workers: int, args: argparse.Namespace, grouped: bool) -> dict[str, Any]:
    async with aiocosmos.CosmosClient(server.url, credential=server.key) as client:
        database = await client.create_database(f"tc-{uuid.uuid4().hex[:8]}")
        await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
        await database.create_container("control", partition_key=aiocosmos.PartitionKey("/groupId"))
        async with FaultProxy(server.url, seed=1) as proxy:
            budget = proxy.set_budget(args.budget if grouped else 1e9, charges=charge)
            folder = Path(tempfile.mkdtemp())
            stats = [folder / f"w{i}.jsonl" for i in range(workers)]
            command = [sys.executable, "-m", "tests.integration.throughput_worker", proxy.url, server.key, database.id,
                       "items", "control", str(args.target)]
            processes = [subprocess.Popen([*command, str(path), *([] if grouped else ["--no-group"])], cwd=ROOT)  # noqa: ASYNC220
                         for path in stats]
            try:
                deadline = time.monotonic() + 30
                while not all("written" in last(p) and (not grouped or last(p).get("clients") == workers)
                              for p in stats):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the workers did not all join")
                    await asyncio.sleep(0.2)
                await asyncio.sleep(2)
                before = [last(p) for p in stats]
                charged, throttled, started = budget.charged, budget.throttled, time.monotonic()
                await asyncio.sleep(args.seconds)
                elapsed = time.monotonic() - started
                after = [last(p) for p in stats]
                charged, throttled = budget.charged - charged, budget.throttled - throttled
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                for process in processes:
                    await asyncio.to_thread(process.wait, 15)
        await client.delete_database(database.id)
    docs = sum(a["written"] - b["written"] for a, b in zip(after, before, strict=True))
    cpu = sum(a["cpu"] - b["cpu"] for a, b in zip(after, before, strict=True))
    return {"workers": workers, "grouped": grouped, "ru_per_s": charged / elapsed, "docs_per_s": docs / elapsed,
            "throttled": throttled, "cpu_us_per_doc": cpu / docs * 1e6 if docs else 0.0}


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [f"Target {args.target:.0f} RU/s, container (proxy budget) {args.budget:.0f} RU/s, 6 RU per write, "
             f"{args.seconds:.0f} s per row; {os.cpu_count()} cores, shared.", "",
             "| writers | group | RU/s admitted | goodput (% of target) | 429s | docs/s | client CPU/doc |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        goodput = f"{r['ru_per_s'] / args.target * 100:.0f} %" if r["grouped"] else "-"
        lines.append(f"| {r['workers']} | {'global' if r['grouped'] else 'none, no budget'} | {r['ru_per_s']:.0f} | "
                     f"{goodput} | {r['throttled']} | {r['docs_per_s']:.0f} | {r['cpu_us_per_doc']:.0f} µs |")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    rows = []
    with CosmosTestServer() as server:
        for grouped in (True, False):
            for workers in args.workers:
                rows.append(await run(server, workers, args, grouped))
                print(rows[-1], file=sys.stderr)
    print(table(rows, args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--target", type=float, default=600.0)
    parser.add_argument("--budget", type=float, default=720.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
