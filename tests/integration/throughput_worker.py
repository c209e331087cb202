"""One writer process of a global throughput control group (used by test_throughput_control.py and
benchmarks/throughput_control.py).

``python -m tests.integration.throughput_worker URL KEY DATABASE CONTAINER CONTROL TARGET STATS
[--renew S] [--expire S] [--concurrency N] [--no-group]``: upserts small documents with N concurrent
writers until SIGTERM (or SIGKILL), and every 0.5 s appends its group statistics as a JSON line to STATS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import sys
import uuid

import orjson

import aiocosmos


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    written = errors = 0
    async with aiocosmos.CosmosClient(args.url, credential=args.key) as client:
        database = client.get_database_client(args.database)
        container = database.get_container_client(args.container)
        control = None
        if not args.no_group:
            group = aiocosmos.ThroughputControlGroupConfig("writers", target_throughput=args.target)
            config = aiocosmos.GlobalThroughputControlConfig(
                database.get_container_client(args.control), renew_interval=args.renew, expire_interval=args.expire)
            control = await container.enable_global_throughput_control_group(group, config)
        me = uuid.uuid4().hex[:8]

        async def writer(n: int) -> None:
            nonlocal written, errors
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    await container.upsert_item({"id": f"{me}-{n}-{i}", "pk": f"{me}-{n}", "v": i})
                except aiocosmos.CosmosError as exc:  # counted; a real writer would log it and go on
                    errors += 1
                    if errors == 1:
                        print(f"worker {os.getpid()}: {exc!r}", file=sys.stderr)
                else:
                    written += 1

        async def report() -> None:
            with open(args.stats, "ab") as out:  # noqa: ASYNC230 - a local file, flushed per line
                while not stop.is_set():
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    row: dict[str, object] = {"pid": os.getpid(), "written": written, "errors": errors,
                                              "cpu": usage.ru_utime + usage.ru_stime}
                    if control is not None:
                        stats = control.stats()
                        row.update(share=stats.share, clients=stats.clients, allocated=stats.allocated_throughput,
                                   ru_per_second=stats.ru_per_second, delayed=stats.requests_delayed)
                    out.write(orjson.dumps(row) + b"\n")
                    out.flush()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.5)

        tasks = [asyncio.create_task(writer(n)) for n in range(args.concurrency)]
        await report()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("url", "key", "database", "container", "control"):
        parser.add_argument(name)
    parser.add_argument("target", type=float)
    parser.add_argument("stats")
    parser.add_argument("--renew", type=float, default=1.0)
    parser.add_argument("--expire", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-group", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
