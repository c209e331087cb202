"""Change feed processor catch-up: 1, 2 and 4 processor processes drain a backlog over 8 ranges.

    python -m benchmarks.change_feed_processor [--per-range 2000] [--processes 1 2 4] [--page 500]

Starts the local server (for the lease container) and the change feed front (8 ranges, in this
process), puts ``--per-range`` documents in each range (written straight into the front's store:
the backlog, not the write path, is measured), then for each process count starts that many
processor hosts (``python -m benchmarks.change_feed_processor --host ...``, one OS process each,
a fresh lease set each time, ``start_time="Beginning"``) and waits until every lease is checkpointed
at its range's last LSN. Reported per process count:

* **changes/s**: the backlog divided by the time from the first change delivered (by any host) to
  the last one;
* **client CPU per change**: ``time.process_time()`` of every host, from the backlog's appearance to
  its last delivered change, summed over the hosts and divided by the backlog (reads, the handler
  calls, checkpoints, renewals and balancing cycles included);
* **lease RU per 1,000 changes**: the request units the hosts spent on lease documents (checkpoints,
  renewals, balancing listings) over the same span, as the lease container reported them;
* **delivered**: changes handed to handlers (above the backlog: redelivered pages).

The handler only counts. Each run uses a fresh front and lease set: the hosts start on empty ranges,
share the leases (short timings: acquire every 0.5 s, renew every 2 s; each host starts believing it
is alone, takes what it can, and the equal-partitions strategy then steals one lease per cycle from
the busiest host, as the official processors do), pin their positions, and the old owners of stolen
leases are given a renew interval to notice; then the whole backlog appears at once (SIGUSR1 first
tells the hosts to take their CPU and RU baselines).

The front serves every page by scanning its store, in this process: on a small machine it competes
with the hosts for CPU, so the absolute numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiocosmos
from tests.integration.change_feed_front import FRONT, ChangeFeedFront, epk_of
from tests.server import CosmosTestServer

ROOT = Path(__file__).resolve().parents[1]
RANGES = 8
HOST_TIMINGS = {"acquire_interval": 0.5, "renew_interval": 2.0, "expiration_interval": 10.0, "poll_interval": 0.05}


# -- one host (a child process) ----------------------------------------------------------------------


async def host(front_url: str, server_url: str, key: str, database: str, name: str, instance: str,
               page: int) -> None:
    """Run a processor; print a JSON progress line every 0.2 s, and a last one after a clean stop.
    SIGUSR1 (sent just before the backlog appears) sets the baseline of CPU and lease RU."""
    state: dict[str, Any] = {"host": instance, "changes": 0, "first": None, "last": None, "cpu": 0.0,
                             "lease_ru": 0.0}
    baseline = {"cpu": time.process_time(), "lease_ru": 0.0}
    processor: aiocosmos.ChangeFeedProcessor | None = None

    def mark() -> None:
        baseline["cpu"] = time.process_time()
        baseline["lease_ru"] = processor.lease_request_charge if processor is not None else 0.0

    async def handle(changes: list[dict[str, Any]], ctx: aiocosmos.ChangeFeedContext) -> None:
        now = time.time()
        if state["first"] is None:
            state["first"] = now
        state["changes"] += len(changes)
        state["last"] = now
        state["cpu"] = time.process_time() - baseline["cpu"]
        if processor is not None:
            state["lease_ru"] = processor.lease_request_charge - baseline["lease_ru"]

    async def report() -> None:
        while True:
            print(json.dumps(state), flush=True)
            await asyncio.sleep(0.2)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, mark)
    async with aiocosmos.CosmosClient(front_url, credential=key) as monitored, \
            aiocosmos.CosmosClient(server_url, credential=key) as lease_client:
        feed = monitored.get_database_client(database).get_container_client(FRONT)
        leases = lease_client.get_database_client(database).get_container_client("leases")
        processor = aiocosmos.ChangeFeedProcessor(feed, name, handle, lease_container=leases, instance_name=instance,
                                                  start_time="Beginning", max_item_count=page, **HOST_TIMINGS)
        reporter = asyncio.ensure_future(report())
        try:
            await processor.run_until_signal()
        finally:
            reporter.cancel()
    print(json.dumps({**state, "final": True}), flush=True)


# -- the driver ----------------------------------------------------------------------------------------


def fill(front: ChangeFeedFront, per_range: int) -> None:
    """``per_range`` documents in each range, one version each, in the front's store."""
    counts = {r.id: 0 for r in front.live_ranges()}
    n = 0
    while min(counts.values()) < per_range:
        pk = f"p{n}"
        n += 1
        owner = front.range_of(epk_of(pk)).id
        if counts[owner] >= per_range:
            continue
        counts[owner] += 1
        front._write({"id": f"d{n}", "pk": pk, "payload": "x" * 200}, upsert=True)  # the backlog, not the write path


async def lease_state(leases: aiocosmos.ContainerProxy, name: str) -> dict[str, tuple[str | None, str | None]]:
    """(owner, continuation) per lease token."""
    docs = [d async for d in leases.query_items("SELECT * FROM c WHERE STARTSWITH(c.id, @p)",
                                                parameters=[{"name": "@p", "value": name + "127"}])]
    return {d["LeaseToken"]: (d.get("Owner"), d.get("ContinuationToken")) for d in docs if ".." in d["id"]}


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} in {timeout} s")
        await asyncio.sleep(0.1)


def spawn(arguments: list[str], processes: int, page: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return [subprocess.Popen([sys.executable, "-m", "benchmarks.change_feed_processor", "--host", *arguments,
                              f"h{k}", str(page)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL) for k in range(processes)]


def stop(children: list[subprocess.Popen[bytes]]) -> list[dict[str, Any]]:
    """SIGTERM (a clean stop: leases released), then each host's last progress line."""
    for child in children:
        child.send_signal(signal.SIGTERM)
    finals = []
    for child in children:
        out, _ = child.communicate(timeout=60)
        lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        finals.append(next((line for line in reversed(lines) if line.get("final")), lines[-1]))
    return finals


async def run_once(server: CosmosTestServer, database: str, leases: aiocosmos.ContainerProxy, processes: int,
                   page: int, per_range: int) -> dict[str, Any]:
    """A fresh front and lease set: start the hosts, let them share and pin the (empty) ranges, then
    put the backlog in at once and time its catch-up."""
    name = f"bench{processes}x{uuid.uuid4().hex[:6]}"
    front = await ChangeFeedFront(server.url, database, ranges=RANGES).start()
    children = spawn([front.url, server.url, server.key, database, name], processes, page)
    try:
        async def balanced_and_pinned() -> bool:
            state = await lease_state(leases, name)
            owners = [owner for owner, _ in state.values()]
            counts = [owners.count(h) for h in {o for o in owners if o}]
            return (len(state) == RANGES and all(owners) and len(counts) == processes
                    and max(counts) - min(counts) <= 1 and all(c == '"0"' for _, c in state.values()))
        await until(balanced_and_pinned, "balanced, pinned leases")
        # A host whose lease was stolen learns it at its next renew (or write): until then its worker
        # still reads, and would deliver the backlog's first page of that range twice. Let that pass.
        await asyncio.sleep(HOST_TIMINGS["renew_interval"] + 1.0)
        await until(balanced_and_pinned, "balanced, pinned leases")
        for child in children:
            child.send_signal(signal.SIGUSR1)
        await asyncio.sleep(0.2)  # the hosts take their baselines
        fill(front, per_range)
        done = {r.id: f'"{r.lsn}"' for r in front.live_ranges()}

        async def caught_up() -> bool:
            return {token: c for token, (_, c) in (await lease_state(leases, name)).items()} == done
        await until(caught_up, "catch-up")
    finally:
        finals = stop(children)
        await front.close()
    backlog = per_range * RANGES
    first = min(f["first"] for f in finals if f["first"] is not None)
    last = max(f["last"] for f in finals if f["last"] is not None)
    return {"processes": processes, "backlog": backlog, "delivered": sum(f["changes"] for f in finals),
            "catch_up_s": last - first, "changes_per_s": backlog / (last - first),
            "cpu_us_per_change": 1e6 * sum(f["cpu"] for f in finals) / backlog,
            "lease_ru_per_1000": 1000 * sum(f["lease_ru"] for f in finals) / backlog,
            "per_host": {f["host"]: f["changes"] for f in finals}}


async def drive(per_range: int, process_counts: list[int], page: int) -> list[dict[str, Any]]:
    results = []
    with CosmosTestServer() as server:
        async with aiocosmos.CosmosClient(server.url, credential=server.key) as client:
            db = await client.create_database(f"cfpbench-{uuid.uuid4().hex[:8]}")
            try:
                leases = await db.create_container("leases", partition_key=aiocosmos.PartitionKey("/id"))
                for processes in process_counts:
                    results.append(await run_once(server, db.id, leases, processes, page, per_range))
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            finally:
                await client.delete_database(db)
    return results


def markdown(results: list[dict[str, Any]], per_range: int, page: int) -> str:
    rows = [f"Catch-up of {per_range * RANGES:,} changes over {RANGES} ranges ({per_range:,} each), pages of "
            f"{page}, `{os.cpu_count()}`-core machine shared with other work: one run each.", "",
            "| processes | changes/s | catch-up s | client CPU µs/change | lease RU per 1,000 changes | delivered "
            "| per host |",
            "|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        hosts = ", ".join(f"{k} {v}" for k, v in sorted(r["per_host"].items()))
        rows.append(f"| {r['processes']} | {r['changes_per_s']:,.0f} | {r['catch_up_s']:.2f} "
                    f"| {r['cpu_us_per_change']:.0f} | {r['lease_ru_per_1000']:.1f} | {r['delivered']:,} | {hosts} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        front_url, server_url, key, database, name, instance, page = sys.argv[2:9]
        asyncio.run(host(front_url, server_url, key, database, name, instance, int(page)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-range", type=int, default=2000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--page", type=int, default=500)
    args = parser.parse_args()
    if args.per_range < 1 or args.page < 1 or any(p < 1 for p in args.processes):
        parser.error("--per-range, --page and --processes must be positive")
    results = asyncio.run(drive(args.per_range, args.processes, args.page))
    print(markdown(results, args.per_range, args.page))


if __name__ == "__main__":
    main()
