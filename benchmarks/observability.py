"""Client CPU per point read with the observability options, against the local server (short runs).

``python -m benchmarks.observability --reads 3000 --reps 3`` runs, interleaved, a plain client, one with
``detailed_timings``, one with tracing on (the OpenTelemetry SDK recording every span into a processor
that drops it, and every metric) and one with both; each row is the median ``time.process_time()`` per
read of the repetitions, at concurrency 1. ``--profile traced`` prints a cProfile of the traced client
instead (the functions of aiocosmos and opentelemetry by own time), which is how the waste in the traced
pipeline was found. ``--pipeline-only`` times ``Pipeline.request`` and ``TracedPipeline.request`` over a
transport that answers at once (no server, no aiohttp): the client CPU that tracing itself adds. Numbers on
a shared 2-core machine are noisy: compare the ratios of one run, and alternate runs of two trees.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

import aiocosmos
from aiocosmos._telemetry.tracing import Telemetry, TracedPipeline
from aiocosmos._wire.auth import MasterKeySigner
from aiocosmos._wire.clock import SystemClock
from aiocosmos._wire.pipeline import Pipeline
from aiocosmos._wire.retry import RetryPolicy
from benchmarks.clients import _options
from tests.server import EMULATOR_KEY, CosmosTestServer

CONFIGS = ("plain", "detailed", "traced", "traced+detailed")


def options(config: str) -> aiocosmos.ClientOptions:
    base = _options(traced=config.startswith("traced"))
    if config.endswith("detailed"):
        return aiocosmos.ClientOptions(detailed_timings=True, tracer_provider=base.tracer_provider,
                                       meter_provider=base.meter_provider)
    return base


async def reads(url: str, key: str, config: str, count: int, profile: cProfile.Profile | None = None) -> float:
    async with aiocosmos.CosmosClient(url, credential=key, options=options(config)) as client:
        database = await client.create_database_if_not_exists("observability")
        container = await database.create_container_if_not_exists("items", partition_key=aiocosmos.PartitionKey("/pk"))
        await container.upsert_item({"id": "a", "pk": "p", "n": 1})
        for _ in range(200):  # warm up: connections, caches
            await container.read_item("a", "p")
        if profile is not None:
            profile.enable()
        started = time.process_time()
        for _ in range(count):
            await container.read_item("a", "p")
        spent = time.process_time() - started
        if profile is not None:
            profile.disable()
        return spent / count


class _Answered:
    """A transport that answers every request at once with a point read's headers."""

    headers = CIMultiDictProxy(CIMultiDict({"x-ms-request-charge": "1", "x-ms-activity-id": "a",
                                            "x-ms-session-token": "0:1#2"}))

    async def send(self, method: str, path: str, headers: Any, body: Any, timeout: Any) -> Any:
        return 200, self.headers, b'{"id":"a"}'


def _pipeline(traced: bool) -> Pipeline:
    kwargs: dict[str, Any] = {"policy": RetryPolicy(), "clock": SystemClock(), "default_timeout": None,
                              "base_headers": {"x-ms-version": "2020-07-15"}}
    signer = MasterKeySigner(EMULATOR_KEY)
    if not traced:
        return Pipeline(_Answered(), signer, **kwargs)  # type: ignore[arg-type]
    options = _options(traced=True)
    telemetry = Telemetry(host="localhost", port=8081, consistency_level=None,
                          tracer_provider=options.tracer_provider, meter_provider=options.meter_provider)
    return TracedPipeline(_Answered(), signer, telemetry=telemetry, **kwargs)


async def _pipeline_reads(pipeline: Pipeline, count: int) -> float:
    headers = {"x-ms-documentdb-partitionkey": '["p"]'}
    started = time.process_time()
    for _ in range(count):
        await pipeline.request("GET", "/dbs/db/colls/c/docs/a", "docs", "dbs/db/colls/c/docs/a", headers=headers,
                               idempotent=True)
    return (time.process_time() - started) / count


async def pipeline_only(count: int, reps: int) -> None:
    plain, traced = _pipeline(False), _pipeline(True)
    await _pipeline_reads(plain, 2000)
    await _pipeline_reads(traced, 2000)
    runs: dict[str, list[float]] = {"plain": [], "traced": []}
    for _ in range(reps):
        runs["plain"].append(await _pipeline_reads(plain, count))
        runs["traced"].append(await _pipeline_reads(traced, count))
    p, t = statistics.median(runs["plain"]) * 1e6, statistics.median(runs["traced"]) * 1e6
    print(f"pipeline only: plain {p:.1f} µs, traced {t:.1f} µs per request: tracing adds {t - p:.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--profile", choices=CONFIGS, help="print a cProfile of this configuration instead")
    parser.add_argument("--pipeline-only", action="store_true", help="time the pipelines alone (no server)")
    args = parser.parse_args()
    if args.pipeline_only:
        asyncio.run(pipeline_only(max(args.reads, 10000), max(args.reps, 5)))
        return
    with CosmosTestServer() as server:
        if args.profile:
            profile = cProfile.Profile()
            asyncio.run(reads(server.url, server.key, args.profile, args.reads, profile))
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(r"aiocosmos|opentelemetry", 30)
            return
        per_read: dict[str, list[float]] = {c: [] for c in args.configs}
        for rep in range(args.reps):
            order = args.configs[rep % len(args.configs):] + args.configs[:rep % len(args.configs)]
            for config in order:
                per_read[config].append(asyncio.run(reads(server.url, server.key, config, args.reads)))
    plain = statistics.median(per_read["plain"]) if "plain" in per_read else None
    print(f"{'client':<18}{'µs/read':>10}{'vs plain':>10}")
    for config, values in per_read.items():
        median: Any = statistics.median(values)
        ratio = f"{median / plain:.2f}x" if plain else "-"
        print(f"{config:<18}{median * 1e6:>10.1f}{ratio:>10}")


if __name__ == "__main__":
    main()
