"""``aiocosmos ingest`` and ``aiocosmos export``: JSON Lines in and out of a container.

::

    aiocosmos ingest orders.jsonl.gz --database shop --container orders \\
        [--create-container --partition-key /customerId] [--mode upsert|create] [--failed failed.jsonl]
    aiocosmos export --database shop --container orders [--query "SELECT * FROM c"] > orders.jsonl

The endpoint and key come from ``--connection-string``, else ``COSMOS_ENDPOINT``/``COSMOS_KEY``
(or ``COSMOS_CONNECTION_STRING``), else the local emulator (``https://localhost:8081/``, its
well-known key, TLS verification off). Input is streamed line by line (``.gz`` is decompressed on the
fly), so memory stays flat however large the file. ``ingest`` shows a progress line on stderr (docs/s,
RU/s, retries, throttles), prints a summary, writes each failed operation to ``--failed`` (default
``<input>.failed.jsonl``) as ``{"line": n, "item": {...}, "status": 409, "sub_status": 0, "error": "..."}``;
``ingest --from-failed failed.jsonl`` re-runs exactly those items. Exit status: 0 when everything
succeeded, 1 when any operation failed, 2 for bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any, TextIO, cast

import orjson

from .._bulk.executor import BulkExecution, BulkStats
from .._resources.client import CosmosClient
from .._wire.options import ClientOptions, parse_connection_string
from .._wire.paths import PartitionKey
from ..exceptions import CosmosError

__all__ = ["main", "EMULATOR_ENDPOINT", "EMULATOR_KEY"]

EMULATOR_ENDPOINT = "https://localhost:8081/"
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
_SYSTEM_PROPERTIES = ("_rid", "_self", "_etag", "_attachments", "_ts", "_lsn")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiocosmos", description="Bulk ingest and export for Azure Cosmos DB.")
    parser.add_argument("--connection-string", help="AccountEndpoint=...;AccountKey=...; "
                        "default: $COSMOS_ENDPOINT/$COSMOS_KEY, else the local emulator")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    sub = parser.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="write a JSON Lines file (optionally .gz) into a container")
    ingest.add_argument("file", help="input .jsonl or .jsonl.gz ('-' for stdin)")
    ingest.add_argument("--from-failed", action="store_true",
                        help="the input is a --failed file of an earlier run: re-run its items")
    for p in (ingest,):
        p.add_argument("--database", "-d", required=True)
        p.add_argument("--container", "-c", required=True)
    ingest.add_argument("--create-container", action="store_true", help="create the database and container if needed")
    ingest.add_argument("--partition-key", default="/id", help="partition key path(s) for --create-container, "
                        "comma-separated for a hierarchical key (default /id)")
    ingest.add_argument("--mode", choices=("upsert", "create"), default="upsert")
    ingest.add_argument("--failed", help="where to write failed operations (default <input>.failed.jsonl)")
    ingest.add_argument("--no-progress", action="store_true", help="no live progress line")
    ingest.add_argument("--max-concurrency-per-range", type=int, default=50)
    export = sub.add_parser("export", help="write a container's items (or a query's results) as JSON Lines")
    export.add_argument("--database", "-d", required=True)
    export.add_argument("--container", "-c", required=True)
    export.add_argument("--query", default=None, help="SQL query (default: every item)")
    export.add_argument("--keep-system-properties", action="store_true", help="keep _rid, _etag, _ts, ...")
    export.add_argument("--output", "-o", default="-", help="output file (default stdout)")
    return parser


def _client(args: argparse.Namespace) -> CosmosClient:
    connection_string = args.connection_string or os.environ.get("COSMOS_CONNECTION_STRING")
    endpoint, key = os.environ.get("COSMOS_ENDPOINT"), os.environ.get("COSMOS_KEY")
    insecure = bool(args.insecure)
    if connection_string:
        endpoint, key = parse_connection_string(connection_string)
    elif not endpoint:
        endpoint, key = EMULATOR_ENDPOINT, EMULATOR_KEY
        insecure = True  # the emulator's certificate is self-signed
    if not key:
        raise CosmosError("COSMOS_ENDPOINT is set but COSMOS_KEY is not")
    return CosmosClient(endpoint, credential=key, options=ClientOptions(verify_tls=not insecure))


def _open_text(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


class _Failures:
    """Failed operations as JSON Lines; the line numbers of the input are kept (in ``line``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.count = 0
        self._file: IO[bytes] | None = None

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(orjson.dumps(record) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _operations(stream: IO[bytes], mode: str, from_failed: bool, failures: _Failures,
                lines: dict[int, int]) -> Iterator[tuple[str, tuple[Any]]]:
    """Parse lines lazily; unparsable lines go straight to the failures file."""
    number = 0
    index = 0
    for raw in stream:
        number += 1
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            failures.write({"line": number, "raw": raw.decode("utf-8", "replace").rstrip("\n"),
                            "status": 0, "error": f"invalid JSON: {exc}"})
            continue
        if from_failed:
            if not isinstance(value, dict) or "item" not in value:
                failures.write({"line": number, "status": 0, "error": "not a failed-operation record (no 'item')",
                                "raw": raw.decode("utf-8", "replace").rstrip("\n")})
                continue
            lines[index] = int(value.get("line") or number)
            value = value["item"]
        else:
            lines[index] = number
        index += 1
        yield (mode, (value,))


def _rate(value: float, seconds: float) -> float:
    return value / seconds if seconds > 0 else 0.0


def _progress_line(stats: BulkStats) -> str:
    seconds = stats.elapsed
    return (f"{stats.done:,} docs ({stats.failed:,} failed)  {_rate(stats.done, seconds):,.0f} docs/s  "
            f"{_rate(stats.request_charge, seconds):,.0f} RU/s  retries {stats.retries:,}  "
            f"throttles {stats.throttles:,}  {seconds:.1f}s")


async def _ingest(args: argparse.Namespace, err: TextIO) -> int:
    failures = _Failures(args.failed or (("stdin" if args.file == "-" else args.file) + ".failed.jsonl"))
    stream = _open_text(args.file)
    lines: dict[int, int] = {}
    try:
        async with _client(args) as client:
            if args.create_container:
                database = await client.create_database_if_not_exists(args.database)
                paths = [p.strip() for p in args.partition_key.split(",") if p.strip()]
                container = await database.create_container_if_not_exists(
                    args.container, partition_key=PartitionKey(paths if len(paths) > 1 else paths[0]))
            else:
                container = client.get_database_client(args.database).get_container_client(args.container)
            execution = BulkExecution(container, _operations(stream, args.mode, args.from_failed, failures, lines),
                                      max_concurrency_per_range=args.max_concurrency_per_range)
            show = not args.no_progress
            tty = err.isatty()
            last = 0.0
            async with execution:
                async for result in execution:
                    line = lines.pop(result.index, 0)
                    if result.error is not None:
                        failures.write({"line": line, "item": result.operation[1][0],
                                        "status": result.status_code, "sub_status": result.sub_status,
                                        "error": str(result.error)})
                    if show and (now := time.monotonic()) - last >= (0.2 if tty else 2.0):
                        last = now
                        err.write(("\r" if tty else "") + _progress_line(execution.stats) + ("" if tty else "\n"))
                        err.flush()
            stats = execution.stats
    finally:
        failures.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    if not args.no_progress and err.isatty():
        err.write("\n")
    total_failed = failures.count
    err.write(f"done: {stats.succeeded:,} written, {total_failed:,} failed, {stats.request_charge:,.1f} RU, "
              f"{stats.retries:,} retries, {stats.throttles:,} throttles, {stats.elapsed:.1f}s "
              f"({_rate(stats.succeeded, stats.elapsed):,.0f} docs/s)\n")
    if total_failed:
        err.write(f"failed operations: {failures.path} (re-run with: aiocosmos ingest --from-failed {failures.path} "
                  f"-d {args.database} -c {args.container})\n")
    return 1 if total_failed else 0


async def _export(args: argparse.Namespace, out: IO[bytes], err: TextIO) -> int:
    count = 0
    async with _client(args) as client:
        container = client.get_database_client(args.database).get_container_client(args.container)
        pager = container.query_items(args.query, max_item_count=1000) if args.query \
            else container.read_all_items(max_item_count=1000)
        async for page in pager.by_page():
            chunk = []
            for item in page:
                if isinstance(item, dict) and not args.keep_system_properties:
                    item = {k: v for k, v in item.items() if k not in _SYSTEM_PROPERTIES}
                chunk.append(orjson.dumps(item))
            if chunk:
                out.write(b"\n".join(chunk) + b"\n")
            count += len(chunk)
    out.flush()
    err.write(f"exported {count:,} items\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "ingest":
            return asyncio.run(_ingest(args, sys.stderr))
        if args.output == "-":
            return asyncio.run(_export(args, sys.stdout.buffer, sys.stderr))
        with open(args.output, "wb") as out:
            return asyncio.run(_export(args, out, sys.stderr))
    except (CosmosError, OSError) as exc:
        sys.stderr.write(f"aiocosmos: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("aiocosmos: interrupted\n")
        return 130
