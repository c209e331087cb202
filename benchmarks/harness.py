"""Side-by-side benchmark: aiocosmos, azure.cosmos.aio and a bare signed aiohttp loop.

    make bench                      # or: python -m benchmarks.harness [--seconds 3] [--reps 2]

Starts the local server (keep-alive launcher), loads 1,000 documents for point operations and 10,000
for streaming, then runs every scenario for every client, interleaved and repeated (``--reps``), at
concurrency 1 and 32. Each run records client CPU (``time.process_time`` of this process: only one
client runs at a time), server CPU (utime+stime of the Node process from /proc), ops/s and latency.
Writes ``benchmarks/results/results.md``, ``results.json`` and ``chart.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiocosmos
from benchmarks.clients import ADAPTERS, Adapter, document
from tests.server import CosmosTestServer

RESULTS = Path(__file__).parent / "results"
POINT_DOCS = 1000
STREAM_DOCS = 10_000
STREAM_PAGE = 1000
POINT_SCENARIOS = ("read", "create", "upsert", "replace", "delete")
STREAM_SCENARIOS = ("query stream", "read feed")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def pin(server_pid: int) -> bool:
    """Client on core 0, server on core 1: on a 2-core box they otherwise fight for the same core and
    CPU per op swings by +-30 % between runs."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        return False
    os.sched_setaffinity(0, {0})
    os.sched_setaffinity(server_pid, {1})
    return True


def server_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


async def load(url: str, key: str) -> None:
    async with aiocosmos.CosmosClient(url, credential=key) as client:
        db = await client.create_database_if_not_exists("bench")
        point = await db.create_container_if_not_exists("point", partition_key=aiocosmos.PartitionKey("/pk"))
        stream = await db.create_container_if_not_exists("stream", partition_key=aiocosmos.PartitionKey("/pk"))
        gate = asyncio.Semaphore(32)

        async def put(container: aiocosmos.ContainerProxy, n: int) -> None:
            async with gate:
                await container.upsert_item(document(n))

        await asyncio.gather(*(put(point, n) for n in range(POINT_DOCS)))
        await asyncio.gather(*(put(stream, n) for n in range(STREAM_DOCS)))


async def timed_workers(op: Callable[[int], Awaitable[Any]], seconds: float, concurrency: int,
                        limit: int | None = None) -> list[float]:
    """Run ``op(n)`` from ``concurrency`` tasks for ``seconds`` (or ``limit`` calls); return latencies."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    counter = 0

    async def worker() -> None:
        nonlocal counter
        while time.perf_counter() < stop and (limit is None or counter < limit):
            n = counter
            counter += 1
            started = time.perf_counter()
            await op(n)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def run_scenario(adapter: Adapter, scenario: str, seconds: float, concurrency: int, tag: str,
                       created: dict[str, list[str]], server_pid: int) -> dict[str, Any]:
    units = 0
    cpu0, wall0, srv0 = time.process_time(), time.perf_counter(), server_cpu_seconds(server_pid)
    if scenario == "read":
        lat = await timed_workers(lambda n: adapter.read(f"d{n % POINT_DOCS}", f"p{n % 10}"), seconds, concurrency)
    elif scenario == "upsert":
        lat = await timed_workers(lambda n: adapter.upsert(document(n % POINT_DOCS, tag)), seconds, concurrency)
    elif scenario == "replace":
        lat = await timed_workers(lambda n: adapter.replace(document(n % POINT_DOCS, tag)), seconds, concurrency)
    elif scenario == "create":
        ids = created.setdefault(tag, [])

        async def create(n: int) -> None:
            doc = document(n, tag) | {"id": f"{tag}-{n}"}
            await adapter.create(doc)
            ids.append(doc["id"])

        lat = await timed_workers(create, seconds, concurrency)
    elif scenario == "delete":
        ids = created.get(tag, [])
        lat = await timed_workers(lambda n: adapter.delete(ids[n], f"p{int(ids[n].rsplit('-', 1)[1]) % 10}"),
                                  seconds, concurrency, limit=len(ids))
    else:
        stream: Callable[[int], Awaitable[int]] = adapter.query_all if scenario == "query stream" else adapter.read_feed
        counts: list[int] = []

        async def one(_: int) -> None:
            counts.append(await stream(STREAM_PAGE))

        lat = await timed_workers(one, seconds, 1, limit=max(2, int(seconds)))
        units = sum(counts)
        if any(c != STREAM_DOCS for c in counts):
            raise AssertionError(f"{adapter.name} streamed {counts}, expected {STREAM_DOCS} each")
    cpu, wall, srv = time.process_time() - cpu0, time.perf_counter() - wall0, server_cpu_seconds(server_pid) - srv0
    ops = len(lat)
    lat.sort()
    per = units or ops  # streaming rows count documents, not queries
    return {"client": adapter.name, "scenario": scenario, "concurrency": concurrency if not units else 1,
            "ops": ops, "units": per, "ops_per_s": per / wall, "cpu_us_per_unit": cpu / per * 1e6,
            "p50_ms": statistics.median(lat) * 1e3, "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
            "server_cpu_pct": srv / wall * 100, "client_cpu_pct": cpu / wall * 100}


async def bench_client(name: str, url: str, key: str, container: str, scenarios: tuple[str, ...],
                       seconds: float, concurrency: int, rep: int, pid: int) -> list[dict[str, Any]]:
    adapter: Adapter = ADAPTERS[name](url, key)
    await adapter.open("bench", container)
    try:
        created: dict[str, list[str]] = {}
        tag = f"{name}-{rep}-{concurrency}"
        await timed_workers(lambda n: adapter.read(f"d{n % POINT_DOCS}", f"p{n % 10}") if container == "point"
                            else adapter.read_feed(STREAM_PAGE), 0.3, 1)  # warm-up: connections, caches
        return [await run_scenario(adapter, s, seconds, concurrency, tag, created, pid) for s in scenarios]
    finally:
        await adapter.close()


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["scenario"], run["concurrency"], run["client"]), []).append(run)
    rows = []
    for (scenario, concurrency, client), group in groups.items():
        row: dict[str, Any] = {"scenario": scenario, "concurrency": concurrency, "client": client, "runs": len(group)}
        for metric in ("cpu_us_per_unit", "ops_per_s", "p50_ms", "p99_ms", "server_cpu_pct", "client_cpu_pct"):
            row[metric] = statistics.median(r[metric] for r in group)
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    by_key = {(r["scenario"], r["concurrency"], r["client"]): r for r in rows}
    keys = sorted({(r["scenario"], r["concurrency"]) for r in rows},
                  key=lambda k: ((POINT_SCENARIOS + STREAM_SCENARIOS).index(k[0]), k[1]))
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, local @vercel/cosmosdb-server over HTTP keep-alive; "
        f"{args.seconds:g} s per run, median of {args.reps} interleaved runs"
        f"{', client and server pinned to separate cores' if args.pinned else ''}. Client CPU is per operation "
        f"(per document for the streaming rows, whose ops/s are documents/s and whose latency is one whole "
        f"{STREAM_DOCS:,}-document pass in pages of {STREAM_PAGE:,}).",
        "",
        "| scenario | conc. | client | CPU µs/op | ops/s | p50 ms | p99 ms | client CPU % | server CPU % |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, concurrency in keys:
        for client in ("bare aiohttp", "aiocosmos", "aiocosmos traced", "azure-cosmos"):
            r = by_key.get((scenario, concurrency, client))
            if r:
                lines.append(f"| {scenario} | {concurrency} | {client} | {r['cpu_us_per_unit']:.1f} | "
                             f"{r['ops_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                             f"{r['client_cpu_pct']:.0f} | {r['server_cpu_pct']:.0f} |")
    lines += ["", "| scenario | conc. | aiocosmos / bare (CPU) | azure-cosmos / aiocosmos (CPU) "
              "| traced / aiocosmos (CPU) |", "|---|---:|---:|---:|---:|"]
    for scenario, concurrency in keys:
        ours = by_key.get((scenario, concurrency, "aiocosmos"))
        bare = by_key.get((scenario, concurrency, "bare aiohttp"))
        azure = by_key.get((scenario, concurrency, "azure-cosmos"))
        traced = by_key.get((scenario, concurrency, "aiocosmos traced"))
        if ours is None:
            continue
        vs_bare = f"{ours['cpu_us_per_unit'] / bare['cpu_us_per_unit']:.2f}x" if bare else "-"
        vs_azure = f"{azure['cpu_us_per_unit'] / ours['cpu_us_per_unit']:.2f}x" if azure else "-"
        vs_traced = f"{traced['cpu_us_per_unit'] / ours['cpu_us_per_unit']:.2f}x" if traced else "-"
        lines.append(f"| {scenario} | {concurrency} | {vs_bare} | {vs_azure} | {vs_traced} |")
    return "\n".join(lines) + "\n"


def chart(rows: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    clients = ["bare aiohttp", "aiocosmos", "azure-cosmos"]
    keys = sorted({(r["scenario"], r["concurrency"]) for r in rows},
                  key=lambda k: ((POINT_SCENARIOS + STREAM_SCENARIOS).index(k[0]), k[1]))
    by_key = {(r["scenario"], r["concurrency"], r["client"]): r["cpu_us_per_unit"] for r in rows}
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.27
    for i, client in enumerate(clients):
        xs = [k + (i - 1) * width for k in range(len(keys))]
        ax.bar(xs, [by_key.get((s, c, client), 0) for s, c in keys], width, label=client)
    ax.set_xticks(range(len(keys)), [f"{s}\nc={c}" for s, c in keys], fontsize=8)
    ax.set_ylabel("client CPU µs per op (per document when streaming)")
    ax.set_yscale("log")
    ax.set_title("Client CPU per operation: lower is better")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--clients", nargs="+", default=["aiocosmos", "azure", "bare"], choices=list(ADAPTERS),
                        help="'traced' adds aiocosmos with tracing on (the overhead rows)")
    parser.add_argument("--scenarios", nargs="+", default=list(POINT_SCENARIOS + STREAM_SCENARIOS),
                        choices=list(POINT_SCENARIOS + STREAM_SCENARIOS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    runs: list[dict[str, Any]] = []
    with CosmosTestServer() as server:
        assert server._process is not None
        pid = server._process.pid
        pinned = pin(pid)
        asyncio.run(load(server.url, server.key))
        point = tuple(s for s in POINT_SCENARIOS if s in args.scenarios)
        streams = tuple(s for s in STREAM_SCENARIOS if s in args.scenarios)
        for rep in range(args.reps):
            # Interleave: each repetition rotates the client order so no client always runs first.
            order = args.clients[rep % len(args.clients):] + args.clients[:rep % len(args.clients)]
            for concurrency in args.concurrency if point else ():
                for name in order:
                    print(f"rep {rep + 1}/{args.reps}  concurrency {concurrency:>2}  {name} ...", flush=True)
                    runs += asyncio.run(bench_client(name, server.url, server.key, "point", point,
                                                     args.seconds, concurrency, rep, pid))
            for name in order if streams else ():
                print(f"rep {rep + 1}/{args.reps}  streaming  {name} ...", flush=True)
                runs += asyncio.run(bench_client(name, server.url, server.key, "stream", streams,
                                                 args.seconds, 1, rep, pid))
    rows = summarise(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    args.pinned = pinned
    table = markdown(rows, args)
    (args.out / "results.md").write_text(table)
    (args.out / "results.json").write_text(json.dumps({"runs": runs, "summary": rows}, indent=1))
    drew = chart(rows, args.out / "chart.png")
    print(table)
    print(f"wrote {args.out / 'results.md'}, results.json" + (", chart.png" if drew else " (no matplotlib: no chart)"))


if __name__ == "__main__":
    main()
