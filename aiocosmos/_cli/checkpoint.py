"""The checkpoint of ``aiocosmos ingest``: what an interrupted run had settled, so ``--resume`` skips it.

A line of the input is *settled* when nothing more is to be done for it: its write succeeded (or, in
create mode, the document was already there), or it has its record in the failed-operations file, or
it is blank. Bulk writes complete out of order, so the state is a watermark plus a set: every line up
to ``settled_through`` is settled, and so is each line of ``settled_above`` (kept as ``[first, last]``
ranges). A line neither below the watermark nor in the set (read, in flight, or not read yet) is sent
again by ``--resume``: after a SIGKILL that may be a write that was applied (see the README for what
that means per mode).

The file (default ``<input>.checkpoint.json``, or ``--checkpoint PATH``) is JSON::

    {"format": "aiocosmos-ingest-checkpoint", "version": 1,
     "input": {"path": "/abs/orders.jsonl", "size": 123, "mtime_ns": 1700000000000000000, "head_sha256": "..."},
     "options": {"mode": "upsert", "database": "shop", "container": "orders", "from_failed": false},
     "settled_through": 1200, "settled_above": [[1300, 1399]],
     "failed": {"file": "...", "target": "...", "bytes": 2345, "records": 7, "sha256": "..."}}

``failed`` says where this run's failed records are (the temporary file while the run goes on, the
target once it was put in place) and how many bytes of it belong to settled lines; ``--resume`` copies
exactly those bytes (checked against the hash) into its own failed file and appends to them. The file
is written at the start of a run, about once a second while it runs, on SIGTERM/SIGINT and at the end,
each time to a temporary file that then replaces it (``os.replace``); a run that finishes deletes it.

``--resume`` refuses (exit 2, before any I/O) a checkpoint whose input identity (real path, size,
modification time, hash of the first KB) or options (mode, database, container, ``--from-failed``)
differ from this run's: the line numbers would mean something else.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import time
from collections.abc import Iterable
from typing import Any, Final

import orjson

from ..exceptions import CosmosError

__all__ = ["Checkpoint", "CheckpointError", "Settled", "checkpoint_path", "identify", "options_of"]

FORMAT: Final = "aiocosmos-ingest-checkpoint"
VERSION: Final = 1
HEAD_BYTES: Final = 1024
FLUSH_INTERVAL: Final = 1.0
"""Seconds between two periodic writes of the checkpoint while a run goes on."""


class CheckpointError(CosmosError):
    """A checkpoint that cannot be resumed from (exit 2)."""


class Settled:
    """The settled input lines: ``1..through``, plus ``above`` (each greater than ``through + 1``)."""

    def __init__(self, through: int = 0, above: Iterable[int] = ()) -> None:
        self.through = through
        self.above: set[int] = set(above)
        self._advance()

    def add(self, number: int) -> None:
        if number > self.through:
            self.above.add(number)
            if number == self.through + 1:
                self._advance()

    def _advance(self) -> None:
        above = self.above
        through = self.through
        while through + 1 in above:
            through += 1
            above.discard(through)
        self.through = through

    def __contains__(self, number: int) -> bool:
        return number <= self.through or number in self.above

    def __len__(self) -> int:
        return self.through + len(self.above)

    def ranges(self) -> list[list[int]]:
        """``above`` as sorted ``[first, last]`` ranges."""
        out: list[list[int]] = []
        for number in sorted(self.above):
            if out and out[-1][1] == number - 1:
                out[-1][1] = number
            else:
                out.append([number, number])
        return out

    @classmethod
    def from_ranges(cls, through: int, ranges: Iterable[Iterable[int]]) -> Settled:
        above: set[int] = set()
        for first, last in ranges:
            above.update(range(int(first), int(last) + 1))
        return cls(int(through), above)

    def describe(self) -> str:
        more = f" and {len(self.above):,} more above it" if self.above else ""
        return f"every line up to {self.through:,}{more}"


def checkpoint_path(args: argparse.Namespace) -> str | None:
    """Where this run's checkpoint goes: ``--checkpoint``, else beside the input; None for stdin."""
    if args.checkpoint:
        return str(args.checkpoint)
    return None if args.file == "-" else f"{args.file}.checkpoint.json"


def identify(path: str) -> dict[str, Any]:
    """The input's identity: real path, size, modification time and a hash of its first KB."""
    with open(path, "rb") as f:
        stat = os.fstat(f.fileno())
        head = f.read(HEAD_BYTES)
    return {"path": os.path.realpath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "head_sha256": hashlib.sha256(head).hexdigest()}


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    """The options that give the line numbers and the writes their meaning."""
    return {"mode": args.mode, "database": args.database, "container": args.container,
            "from_failed": bool(args.from_failed)}


def _option_words(options: dict[str, Any]) -> str:
    words = [f"--mode {options.get('mode')}", f"-d {options.get('database')}", f"-c {options.get('container')}"]
    if options.get("from_failed"):
        words.append("--from-failed")
    return " ".join(words)


def _describe_input(identity: dict[str, Any]) -> str:
    modified = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(identity.get("mtime_ns", 0)) / 1e9))
    return f"{identity.get('path')} ({int(identity.get('size', 0)):,} bytes, modified {modified})"


class Checkpoint:
    """This run's checkpoint file: ``save()`` it as often as wanted, ``remove()`` it when the run is done."""

    def __init__(self, path: str, identity: dict[str, Any], options: dict[str, Any], settled: Settled) -> None:
        self.path = path
        self.identity = identity
        self.options = options
        self.settled = settled
        self.failed: dict[str, Any] = {}
        """The earlier run's ``failed`` entry (when resuming): where its failed records are."""
        self._temporary = f"{path}.{os.getpid()}.tmp"
        self._last: bytes | None = None
        self.saved_at = 0.0

    @classmethod
    def resume(cls, path: str, args: argparse.Namespace) -> Checkpoint:
        """The checkpoint at ``path``, checked against this run's input and options."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise CheckpointError(
                f"no checkpoint at {path}: nothing to resume (a run that finishes deletes its checkpoint); "
                f"run without --resume to start over") from None
        except OSError as exc:
            raise CheckpointError(f"cannot read the checkpoint {path}: {exc}") from None
        try:
            state = orjson.loads(data)
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ValueError("not an aiocosmos ingest checkpoint")
            if state.get("version") != VERSION:
                raise ValueError(f"version {state.get('version')!r}, this aiocosmos reads version {VERSION}")
            settled = Settled.from_ranges(state["settled_through"], state.get("settled_above", ()))
            recorded_input, recorded_options = dict(state["input"]), dict(state["options"])
            failed = dict(state.get("failed") or {})
        except (ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(f"{path} is not a usable checkpoint of aiocosmos ingest ({exc})") from None
        try:
            identity = identify(args.file)
        except OSError as exc:
            raise CheckpointError(f"cannot read the input {args.file}: {exc}") from None
        if recorded_input != identity:
            if recorded_input.get("path") == identity["path"]:
                why = (f"the input changed since: it was {_describe_input(recorded_input)}, "
                       f"it is {_describe_input(identity)}")
            else:
                why = f"it belongs to another input: {_describe_input(recorded_input)}, not {identity['path']}"
            raise CheckpointError(f"cannot resume from the checkpoint {path}: {why}; "
                                  f"run without --resume to start over")
        options = options_of(args)
        if recorded_options != options:
            raise CheckpointError(
                f"cannot resume from the checkpoint {path}: it was written by a run with "
                f"{_option_words(recorded_options)}, this one has {_option_words(options)}; resume with the same "
                f"options, or run without --resume to start over")
        checkpoint = cls(path, identity, options, settled)
        checkpoint.failed = failed
        return checkpoint

    def save(self, failed: dict[str, Any]) -> None:
        """Write the state atomically (a temporary file, then ``os.replace``); skipped when unchanged."""
        data = orjson.dumps({"format": FORMAT, "version": VERSION, "input": self.identity, "options": self.options,
                             "settled_through": self.settled.through, "settled_above": self.settled.ranges(),
                             "failed": failed})
        self.saved_at = time.monotonic()
        if data == self._last:
            return
        with open(self._temporary, "wb") as f:
            f.write(data + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(self._temporary, self.path)
        self._last = data

    def remove(self) -> None:
        for path in (self.path, self._temporary):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
