"""Memory of `aiocosmos ingest` on a large input: RSS must stay flat however big the file is.

    python -m benchmarks.ingest_memory [--docs 2200000]     # about 1 GB of JSON lines, gzipped

Writes a .jsonl.gz of ``--docs`` documents of ~470 bytes, then runs the real CLI in a subprocess
against a stand-in gateway (in this process) that acknowledges every batch without storing it, so the
figure is the CLI's own memory, not a server's. Samples the CLI's RSS every 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiohttp import web

KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


def write_input(path: Path, docs: int) -> int:
    pad = "y" * 400
    raw = 0
    with gzip.open(path, "wb", compresslevel=1) as out:
        for n in range(docs):
            line = orjson.dumps({"id": f"d{n}", "pk": f"p{n % 1000}", "n": n, "pad": pad}) + b"\n"
            raw += len(line)
            out.write(line)
    return raw


def rss_mb(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) // 1024
    except (FileNotFoundError, StopIteration):
        return None


async def gateway(request: web.Request) -> web.Response:
    body = await request.read()
    path = request.path.rstrip("/")
    if request.method == "GET" and path.endswith("/pkranges"):
        return web.json_response({"PartitionKeyRanges": [{"id": "0", "minInclusive": "", "maxExclusive": "FF"}]},
                                 headers={"etag": '"1"'})
    if request.method == "GET" and path.count("/") == 4:
        return web.json_response({"id": "c", "partitionKey": {"paths": ["/pk"], "kind": "Hash", "version": 2}})
    if request.method == "GET":
        return web.json_response({"id": "account"})
    operations = body.count(b'"operationType"')
    return web.Response(body=orjson.dumps([{"statusCode": 200, "requestCharge": 5.0}] * operations),
                        content_type="application/json")


async def run(path: Path) -> list[int]:
    app = web.Application(client_max_size=64 << 20)
    app.router.add_route("*", "/{tail:.*}", gateway)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiocosmos", "--connection-string",
        f"AccountEndpoint=http://127.0.0.1:{port}/;AccountKey={KEY};", "ingest", str(path), "-d", "db", "-c", "c",
        "--no-progress", stderr=asyncio.subprocess.PIPE)
    samples: list[int] = []
    while proc.returncode is None:
        rss = rss_mb(proc.pid)
        if rss is not None:
            samples.append(rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 2.0)
    assert proc.stderr is not None
    print((await proc.stderr.read()).decode().strip()[-300:])
    await runner.cleanup()
    if proc.returncode != 0:
        raise SystemExit(f"ingest exited with {proc.returncode}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2_200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.jsonl.gz"
        started = time.perf_counter()
        raw = write_input(path, args.docs)
        print(f"input: {args.docs:,} documents, {raw / 1e9:.2f} GB of JSON lines ({os.path.getsize(path) / 1e6:.0f} MB "
              f"gzipped), written in {time.perf_counter() - started:.0f}s")
        started = time.perf_counter()
        samples = asyncio.run(run(path))
        print(f"ingest took {time.perf_counter() - started:.0f}s; CLI RSS every 2 s (MB): {samples}")
        print(f"RSS: first {samples[0] if samples else '-'} MB, max {max(samples, default=0)} MB, "
              f"last {samples[-1] if samples else '-'} MB")


if __name__ == "__main__":
    main()
