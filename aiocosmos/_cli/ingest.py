"""``aiocosmos ingest``: the run, its failed-operations file, its summary and its re-run hint.

Re-run rules (README, "Command line"):

* the hint printed after a run with failures repeats every option that changes what a write does
  (``--mode``, ``--insecure``, ``--max-concurrency-per-range``) and names the failed file as both input
  and ``--failed``; the file is replaced atomically at the end, so that is safe;
* a failed record says ``"may_have_been_applied": true`` when the write may have happened anyway;
* in create mode a 409 is read back: when the document there equals the one to write (system
  properties aside) the operation counts as done ("already there"), else it fails as before. So a
  re-run after an ambiguous failure ends with exit 0 and never overwrites what create refused;
* a run where nothing failed removes the failed file of an earlier run at the same path.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from typing import Any, Final, TextIO

import orjson

from .._bulk.executor import BulkExecution, BulkOperationResult, BulkStats
from .._resources.client import CosmosClient
from .._resources.container import ContainerProxy
from .._wire.paths import NonePartitionKeyValue, PartitionKey
from ..exceptions import CosmosError
from .failures import FailedFile
from .source import InputSource, open_input

__all__ = ["SYSTEM_PROPERTIES", "ingest", "rerun_hint", "same_document"]

SYSTEM_PROPERTIES: Final = frozenset(("_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"))
_CONFLICT_READS: Final = 32
_DEFAULT_CONCURRENCY: Final = 50


def same_document(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value (the service stores doubles), bools are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_document(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_document(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _rate(value: float, seconds: float) -> float:
    return value / seconds if seconds > 0 else 0.0


def _progress_line(stats: BulkStats) -> str:
    seconds = stats.elapsed
    return (f"{stats.done:,} docs ({stats.failed:,} failed)  {_rate(stats.done, seconds):,.0f} docs/s  "
            f"{_rate(stats.request_charge, seconds):,.0f} RU/s  retries {stats.retries:,}  "
            f"throttles {stats.throttles:,}  {seconds:.1f}s")


def rerun_hint(args: argparse.Namespace, failed_path: str) -> str:
    words = ["aiocosmos"]
    if args.insecure:
        words.append("--insecure")
    words += ["ingest", failed_path, "--from-failed", "-d", args.database, "-c", args.container,
              "--mode", args.mode, "--failed", failed_path]
    if args.max_concurrency_per_range != _DEFAULT_CONCURRENCY:
        words += ["--max-concurrency-per-range", str(args.max_concurrency_per_range)]
    if args.no_progress:
        words.append("--no-progress")
    return shlex.join(words)


class _Run:
    def __init__(self, container: ContainerProxy, args: argparse.Namespace, failures: FailedFile,
                 source: InputSource) -> None:
        self.container = container
        self.args = args
        self.failures = failures
        self.source = source
        self.already_there = 0
        self._reads = asyncio.Semaphore(_CONFLICT_READS)
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, result: BulkOperationResult, line: int, note: str = "") -> None:
        error = result.error
        assert error is not None
        record: dict[str, Any] = {"line": line, "item": result.operation[1][0], "status": result.status_code,
                                  "sub_status": result.sub_status, "error": str(error) + note}
        if error.may_have_been_applied or result.replayed:
            record["may_have_been_applied"] = True
        self.failures.write(record)

    async def outcome(self, result: BulkOperationResult) -> None:
        line = self.source.lines.pop(result.index, 0)
        if result.error is None:
            return
        if self.args.mode == "create" and result.status_code == 409 and result.partition_key:
            await self._reads.acquire()  # holds the results loop back: at most 32 read-backs at a time
            task = asyncio.get_running_loop().create_task(self._compare(result, line))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self.record(result, line)

    async def _compare(self, result: BulkOperationResult, line: int) -> None:
        try:
            item = result.operation[1][0]
            components = orjson.loads(result.partition_key or "[]")
            key = [NonePartitionKeyValue if c == {} else c for c in components]
            try:
                existing = await self.container.read_item(item["id"], partition_key=key[0] if len(key) == 1 else key)
            except CosmosError as exc:
                self.record(result, line, f" (reading the existing document back failed: {exc})")
                return
            body = {k: v for k, v in existing.body.items() if k not in SYSTEM_PROPERTIES}
            if same_document(body, item):
                self.already_there += 1
            else:
                self.record(result, line, " (the document there differs from this one; create does not overwrite)")
        finally:
            self._reads.release()

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))


async def _container(client: CosmosClient, args: argparse.Namespace) -> ContainerProxy:
    if args.create_container:
        database = await client.create_database_if_not_exists(args.database)
        paths = [p.strip() for p in args.partition_key.split(",") if p.strip()]
        return await database.create_container_if_not_exists(
            args.container, partition_key=PartitionKey(paths if len(paths) > 1 else paths[0]))
    return client.get_database_client(args.database).get_container_client(args.container)


async def ingest(args: argparse.Namespace, client: CosmosClient, err: TextIO) -> int:
    failed_path = args.failed or (("stdin" if args.file == "-" else args.file) + ".failed.jsonl")
    failures = FailedFile(failed_path, input_path=args.file)
    stream = open_input(args.file)
    source = InputSource(args.file, stream, mode=args.mode, from_failed=args.from_failed, failures=failures)
    complete = False
    note: str | None = None
    try:
        container = await _container(client, args)
        run = _Run(container, args, failures, source)
        execution = BulkExecution(container, source.operations(),
                                  max_concurrency_per_range=args.max_concurrency_per_range)
        show = not args.no_progress
        tty = err.isatty()
        last = 0.0
        async with execution:
            async for result in execution:
                await run.outcome(result)
                if show and (now := time.monotonic()) - last >= (0.2 if tty else 2.0):
                    last = now
                    err.write(("\r" if tty else "") + _progress_line(execution.stats) + ("" if tty else "\n"))
                    err.flush()
        await run.drain()
        stats = execution.stats
        complete = source.finished
    finally:
        source.close()
        if stream is not sys.stdin.buffer:
            stream.close()
        note = failures.finish(complete=complete)
        if note and not complete:
            err.write(f"aiocosmos: {note}\n")
    if not args.no_progress and err.isatty():
        err.write("\n")
    if source.read_error:
        err.write(f"aiocosmos: {source.read_error}\n")
    total_failed = failures.count
    there = f", {run.already_there:,} already there" if run.already_there else ""
    err.write(f"done: {stats.succeeded:,} written, {total_failed:,} failed{there}, {stats.request_charge:,.1f} RU, "
              f"{stats.retries:,} retries, {stats.throttles:,} throttles, {stats.elapsed:.1f}s "
              f"({_rate(stats.succeeded, stats.elapsed):,.0f} docs/s)\n")
    if note:
        err.write(f"{note}\n")
    if total_failed:
        err.write(f"failed operations: {failures.path}\nre-run with: {rerun_hint(args, failures.path)}\n")
        if args.connection_string:
            err.write("(pass the same --connection-string before 'ingest')\n")
    return 1 if total_failed else 0

