"""``aiocosmos ingest`` and ``aiocosmos export``: JSON Lines in and out of a container.

::

    aiocosmos ingest orders.jsonl.gz --database shop --container orders \\
        [--create-container --partition-key /customerId] [--mode upsert|create] [--failed failed.jsonl]
        [--checkpoint orders.jsonl.gz.checkpoint.json] [--resume] [--max-pending 10000]
        [--throughput-group NAME --target-ru N [--global-control CONTAINER]]   (also for export)
    aiocosmos export --database shop --container orders [--query "SELECT * FROM c"] > orders.jsonl
    aiocosmos changefeed lag --processor projections -d shop -c orders --lease-container leases

The endpoint and key come from ``--connection-string``, else ``COSMOS_ENDPOINT``/``COSMOS_KEY``
(or ``COSMOS_CONNECTION_STRING``), else the local emulator (``https://localhost:8081/``, its
well-known key, TLS verification off). Input is streamed line by line (``.gz`` is decompressed on the
fly), so memory stays flat however large the file. ``ingest`` shows a progress line on stderr (docs/s,
RU/s, retries, throttles), prints a summary, writes each failed operation to ``--failed`` (default
``<input>.failed.jsonl``) as ``{"line": n, "item": {...}, "status": 409, "sub_status": 0, "error": "..."}``
(see ``failures.py``); ``ingest --from-failed failed.jsonl`` re-runs exactly those items (the re-run
rules: ``ingest.py``; the reading: ``source.py``).

An ingest stopped by SIGTERM or SIGINT stops reading, finishes what is in flight (a second signal
cancels it), puts the failed file in place, writes its checkpoint (default ``<input>.checkpoint.json``,
``--checkpoint PATH``; see ``checkpoint.py``) and prints the summary and a ``resume with: ...`` hint;
``ingest ... --resume`` continues from the checkpoint without sending again what was settled. A run that
finishes deletes its checkpoint.

``changefeed lag`` prints the lag of each lease of a change feed processor (``changefeed.py``).

Exit status: 0 when everything succeeded; 1 when any operation failed or the input could not be read to
its end; 2 for bad usage or configuration, a checkpoint that does not belong to this input and these
options, or a run stopped by an error (its checkpoint is kept); 130 when stopped by SIGINT and 143 when
stopped by SIGTERM (128 + the signal number; the checkpoint is written, resume with ``--resume``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import IO, TextIO

from .._resources.client import CosmosClient
from .._wire.options import ClientOptions, parse_connection_string
from ..exceptions import CosmosError
from .changefeed import add_parser as add_changefeed_parser
from .changefeed import lag
from .export import DEFAULT_PARALLEL, export
from .ingest import DEFAULT_MAX_PENDING, ingest, prepare
from .throughput import add_arguments as add_throughput_arguments
from .throughput import check as check_throughput

__all__ = ["main", "EMULATOR_ENDPOINT", "EMULATOR_KEY"]

EMULATOR_ENDPOINT = "https://localhost:8081/"
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiocosmos", description="Bulk ingest and export, and change feed "
                                     "processor tools, for Azure Cosmos DB.")
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
    ingest.add_argument("--max-pending", type=int, default=DEFAULT_MAX_PENDING,
                        help="operations read ahead and in flight at most (default 10,000); a first SIGTERM or "
                        "SIGINT lets these finish")
    ingest.add_argument("--checkpoint", help="the checkpoint file (default <input>.checkpoint.json)")
    ingest.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint: "
                        "skip the lines it settled, keep its failed records")
    export = sub.add_parser("export", help="write a container's items (or a query's results) as JSON Lines")
    export.add_argument("--database", "-d", required=True)
    export.add_argument("--container", "-c", required=True)
    export.add_argument("--query", default=None, help="SQL query (default: every item)")
    export.add_argument("--keep-system-properties", action="store_true", help="keep _rid, _etag, _ts, ...")
    export.add_argument("--output", "-o", default="-", help="output file (default stdout)")
    export.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL,
                        help="feed ranges read at once, without --query (default 4)")
    for p in (ingest, export):
        add_throughput_arguments(p)
    add_changefeed_parser(sub)
    return parser


def _client(args: argparse.Namespace, connection_string: str | None = None) -> CosmosClient:
    connection_string = connection_string or args.connection_string or os.environ.get("COSMOS_CONNECTION_STRING")
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


async def _ingest(args: argparse.Namespace, err: TextIO) -> int:
    check_throughput(args)
    plan = prepare(args)  # the checkpoint is checked before any I/O
    async with _client(args) as client:
        return await ingest(args, client, err, plan)


async def _lag(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    async with _client(args) as client:
        if not args.lease_connection_string:
            return await lag(args, client, None, out, err)
        async with _client(args, args.lease_connection_string) as lease_client:
            return await lag(args, client, lease_client, out, err)


async def _export(args: argparse.Namespace, out: IO[bytes], err: TextIO) -> int:
    check_throughput(args)
    if args.parallel < 1:
        raise CosmosError(f"--parallel must be >= 1, got {args.parallel}")
    async with _client(args) as client:
        return await export(args, client, out, err)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "ingest":
            return asyncio.run(_ingest(args, sys.stderr))
        if args.command == "changefeed":
            return asyncio.run(_lag(args, sys.stdout, sys.stderr))
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
