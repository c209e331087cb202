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

Interruptions (README, "Command line"; the checkpoint: ``checkpoint.py``):

* the first SIGTERM or SIGINT stops the reading; the operations already handed to the bulk executor
  (at most ``--max-pending``) are finished, the failed file is put in place, the checkpoint written,
  the summary printed with a ``resume with: ...`` hint, and the exit code is 143 (SIGTERM) or 130
  (SIGINT). A second signal cancels what is still in flight: those lines stay unsettled and
  ``--resume`` sends them again. A signal after the whole input was read lets the run finish as usual;
* ``--resume`` skips what the checkpoint says is settled, starts its failed file with the earlier run's
  records and appends to them; a run that finishes deletes the checkpoint. A run stopped by an error
  (exit 2) keeps its checkpoint too, so it can be resumed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TextIO

import orjson

from .._bulk.executor import BulkExecution, BulkOperationResult, BulkStats
from .._resources.client import CosmosClient
from .._resources.container import ContainerProxy
from .._wire.paths import NonePartitionKeyValue, PartitionKey
from ..exceptions import CosmosError
from .checkpoint import FLUSH_INTERVAL, Checkpoint, CheckpointError, Settled, checkpoint_path, identify, options_of
from .failures import FailedFile
from .source import InputSource, open_input
from .throughput import enable as enable_throughput

__all__ = ["EXIT_CODES", "SYSTEM_PROPERTIES", "IngestPlan", "ingest", "prepare", "rerun_hint", "resume_hint",
           "same_document"]

SYSTEM_PROPERTIES: Final = frozenset(("_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"))
_CONFLICT_READS: Final = 32
_DEFAULT_CONCURRENCY: Final = 50
DEFAULT_MAX_PENDING: Final = 10_000
EXIT_CODES: Final = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""The exit code of a run stopped by a signal: 128 + the signal's number, as a shell reports it."""


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


def resume_hint(args: argparse.Namespace, failed_path: str) -> str:
    words = ["aiocosmos"]
    if args.insecure:
        words.append("--insecure")
    words += ["ingest", args.file, *(["--from-failed"] if args.from_failed else []), "-d", args.database,
              "-c", args.container, "--mode", args.mode, "--failed", failed_path]
    if args.checkpoint:
        words += ["--checkpoint", args.checkpoint]
    words.append("--resume")
    if args.max_concurrency_per_range != _DEFAULT_CONCURRENCY:
        words += ["--max-concurrency-per-range", str(args.max_concurrency_per_range)]
    if args.max_pending != DEFAULT_MAX_PENDING:
        words += ["--max-pending", str(args.max_pending)]
    if args.no_progress:
        words.append("--no-progress")
    return shlex.join(words)


class _Run:
    def __init__(self, args: argparse.Namespace, failures: FailedFile, source: InputSource) -> None:
        self.container: ContainerProxy | None = None
        self.args = args
        self.failures = failures
        self.source = source
        self.settled = source.settled
        self.already_there = 0
        self._reads = asyncio.Semaphore(_CONFLICT_READS)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def reading_back(self) -> int:
        return len(self._tasks)

    def record(self, result: BulkOperationResult, line: int, note: str = "") -> None:
        error = result.error
        assert error is not None
        record: dict[str, Any] = {"line": line, "item": result.operation[1][0], "status": result.status_code,
                                  "sub_status": result.sub_status, "error": str(error) + note}
        if error.may_have_been_applied or result.replayed:
            record["may_have_been_applied"] = True
        self.failures.write(record)

    async def outcome(self, result: BulkOperationResult) -> None:
        line, number = self.source.lines.pop(result.index, (0, 0))
        if result.error is None:
            self.settled.add(number)
            return
        if self.args.mode == "create" and result.status_code == 409 and result.partition_key:
            await self._reads.acquire()  # holds the results loop back: at most 32 read-backs at a time
            task = asyncio.get_running_loop().create_task(self._compare(result, line, number))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self.record(result, line)
        self.settled.add(number)

    async def _compare(self, result: BulkOperationResult, line: int, number: int) -> None:
        assert self.container is not None
        try:
            item = result.operation[1][0]
            components = orjson.loads(result.partition_key or "[]")
            key = [NonePartitionKeyValue if c == {} else c for c in components]
            try:
                existing = await self.container.read_item(item["id"], partition_key=key[0] if len(key) == 1 else key)
            except CosmosError as exc:
                self.record(result, line, f" (reading the existing document back failed: {exc})")
                self.settled.add(number)
                return
            body = {k: v for k, v in existing.body.items() if k not in SYSTEM_PROPERTIES}
            if same_document(body, item):
                self.already_there += 1
            else:
                self.record(result, line, " (the document there differs from this one; create does not overwrite)")
            self.settled.add(number)
        finally:
            self._reads.release()

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def cancel(self) -> None:
        """Cancel the read-backs still going: their lines stay unsettled."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _container(client: CosmosClient, args: argparse.Namespace) -> ContainerProxy:
    if args.create_container:
        database = await client.create_database_if_not_exists(args.database)
        paths = [p.strip() for p in args.partition_key.split(",") if p.strip()]
        return await database.create_container_if_not_exists(
            args.container, partition_key=PartitionKey(paths if len(paths) > 1 else paths[0]))
    return client.get_database_client(args.database).get_container_client(args.container)


@dataclass
class IngestPlan:
    """What ``prepare()`` settled before any I/O: the failed file (seeded when resuming), the checkpoint."""

    failures: FailedFile
    checkpoint: Checkpoint | None
    stale: str | None = None
    """The failed records file of a killed run, copied by ``seed()``: removed once the checkpoint points
    to the copy."""
    note: str | None = None


def prepare(args: argparse.Namespace) -> IngestPlan:
    """Check the checkpoint (``--resume``) and seed the failed file; raises CheckpointError (exit 2)."""
    failed_path = args.failed or (("stdin" if args.file == "-" else args.file) + ".failed.jsonl")
    if args.file == "-" and (args.resume or args.checkpoint):
        raise CheckpointError("stdin has no checkpoint and cannot be resumed: --resume and --checkpoint need a file")
    path = checkpoint_path(args)
    failures = FailedFile(failed_path, input_path=args.file)
    if path is None:
        return IngestPlan(failures, None)
    if not args.resume:
        note = (f"a checkpoint of an earlier run was at {path}: this run starts from the first line and replaces "
                f"it (--resume continues from it)") if os.path.exists(path) else None
        return IngestPlan(failures, Checkpoint(path, identify(args.file), options_of(args), Settled()), note=note)
    checkpoint = Checkpoint.resume(path, args)
    earlier = checkpoint.failed
    records = int(earlier.get("records") or 0)
    stale = None
    if records:
        candidates = [str(c) for c in (earlier.get("file"), earlier.get("target")) if c]
        used = failures.seed(candidates, int(earlier.get("bytes") or 0), str(earlier.get("sha256")), records)
        if used is None:
            raise CheckpointError(
                f"cannot resume from the checkpoint {path}: the {records:,} failed-operation records of the earlier "
                f"run are no longer in {' or '.join(candidates)} as the checkpoint says (moved, edited or removed); "
                f"run without --resume to start over")
        if used != failures.path and used.endswith(".tmp"):
            stale = used
    note = (f"resuming from {path}: {checkpoint.settled.describe()} settled by the earlier run; "
            f"{records:,} failed records of it kept in {failures.path}")
    return IngestPlan(failures, checkpoint, stale=stale, note=note)


def _resume_lines(args: argparse.Namespace, checkpoint: Checkpoint, failures: FailedFile) -> str:
    return (f"checkpoint: {checkpoint.settled.describe()} settled; saved in {checkpoint.path}\n"
            f"resume with: {resume_hint(args, failures.path)}\n")


class _Signals:
    """SIGTERM/SIGINT while the run goes on: the first stops the reading, the second cancels."""

    def __init__(self, on_signal: Callable[[signal.Signals, int], None]) -> None:
        self.received: list[signal.Signals] = []
        self._on_signal = on_signal
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> _Signals:
        loop = asyncio.get_running_loop()
        for number in EXIT_CODES:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
                loop.add_signal_handler(number, self._handle, number)
                self._installed.append(number)
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        for number in self._installed:
            loop.remove_signal_handler(number)

    def _handle(self, number: signal.Signals) -> None:
        self.received.append(number)
        self._on_signal(number, len(self.received))


async def ingest(args: argparse.Namespace, client: CosmosClient, err: TextIO, plan: IngestPlan | None = None) -> int:
    plan = plan or prepare(args)
    failures, checkpoint = plan.failures, plan.checkpoint
    stream = open_input(args.file)
    source = InputSource(args.file, stream, mode=args.mode, from_failed=args.from_failed, failures=failures,
                         settled=checkpoint.settled if checkpoint is not None else None)
    run = _Run(args, failures, source)
    execution: BulkExecution | None = None
    stats = BulkStats()

    def save() -> None:
        if checkpoint is not None:
            failures.sync()
            checkpoint.save(failures.state())

    async def consume() -> None:
        nonlocal execution
        run.container = await _container(client, args)
        await enable_throughput(client, run.container, args)
        execution = BulkExecution(run.container, source.operations(), max_pending=args.max_pending,
                                  max_concurrency_per_range=args.max_concurrency_per_range)
        show = not args.no_progress
        tty = err.isatty()
        last = 0.0
        async with execution:
            async for result in execution:
                await run.outcome(result)
                now = time.monotonic()
                if show and now - last >= (0.2 if tty else 2.0):
                    last = now
                    err.write(("\r" if tty else "") + _progress_line(execution.stats) + ("" if tty else "\n"))
                    err.flush()
                if checkpoint is not None and now - checkpoint.saved_at >= FLUSH_INTERVAL:
                    save()
        await run.drain()

    task = asyncio.get_running_loop().create_task(consume())

    def on_signal(number: signal.Signals, count: int) -> None:
        name = number.name
        if count == 1:
            source.stop()
            live = execution.stats if execution is not None else stats
            in_flight = live.read - live.done + run.reading_back
            err.write(f"\naiocosmos: {name}: stopping; no more input is read, the {in_flight:,} operations in flight "
                      f"are finished (send {name} again to cancel them: --resume sends them again)\n")
            save()
        elif count == 2:
            err.write(f"aiocosmos: {name} again: cancelling the operations in flight\n")
            task.cancel()
        err.flush()

    if plan.note:
        err.write(f"aiocosmos: {plan.note}\n")
    complete = cancelled = ended = False
    note: str | None = None
    with _Signals(on_signal) as signals:
        try:
            save()
            if plan.stale:
                with contextlib.suppress(OSError):
                    os.remove(plan.stale)
            try:
                await task
            except asyncio.CancelledError:
                if len(signals.received) < 2 or not task.cancelled():
                    raise
                cancelled = True
                await run.cancel()
            complete = source.finished and not cancelled
            ended = True
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            if execution is not None:
                stats = execution.stats
            source.close()
            if stream is not sys.stdin.buffer:
                stream.close()
            note = failures.finish(complete=complete)
            if note and not complete:
                err.write(f"aiocosmos: {note}\n")
            if checkpoint is not None:
                if complete:
                    checkpoint.remove()
                else:
                    save()
                    if not ended:  # stopped by an error: main() prints it after this
                        err.write(_resume_lines(args, checkpoint, failures))
    interrupted = signals.received[0] if signals.received and not complete else None
    if not args.no_progress and err.isatty():
        err.write("\n")
    if source.read_error:
        err.write(f"aiocosmos: {source.read_error}\n")
    total_failed = failures.count
    there = f", {run.already_there:,} already there" if run.already_there else ""
    skipped = f", {source.skipped:,} lines skipped as settled before" if source.skipped else ""
    if skipped and failures.seeded:
        skipped += f" ({failures.seeded:,} of the failures)"
    err.write(f"done: {stats.succeeded:,} written, {total_failed:,} failed{there}{skipped}, "
              f"{stats.request_charge:,.1f} RU, {stats.retries:,} retries, {stats.throttles:,} throttles, "
              f"{stats.elapsed:.1f}s ({_rate(stats.succeeded, stats.elapsed):,.0f} docs/s)\n")
    if note and complete:
        err.write(f"{note}\n")
    if interrupted is not None:
        what = "cancelled: --resume sends them again" if cancelled else "finished"
        err.write(f"interrupted by {interrupted.name} (exit {EXIT_CODES[interrupted]}): the operations in flight were "
                  f"{what}\n")
        if total_failed:
            err.write(f"failed operations so far: {failures.location} (--resume keeps them and appends)\n")
        if checkpoint is not None:
            err.write(_resume_lines(args, checkpoint, failures))
        if args.connection_string:
            err.write("(pass the same --connection-string before 'ingest')\n")
        return EXIT_CODES[interrupted]
    if total_failed:
        err.write(f"failed operations: {failures.path}\nre-run with: {rerun_hint(args, failures.path)}\n")
        if args.connection_string:
            err.write("(pass the same --connection-string before 'ingest')\n")
    return 1 if total_failed else 0
