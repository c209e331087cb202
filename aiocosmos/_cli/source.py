"""The input of ``aiocosmos ingest``: read off the event loop, parsed into operations on it.

A thread reads the file (or stdin, or the ``.gz`` stream) in chunks of whatever is available
(``read1``) and hands each chunk to the loop through a small bounded queue. So a slow producer on a
pipe never blocks the loop: the executor's 100 ms flush timer keeps firing and what has arrived is
sent. The loop splits the chunks into lines and parses them.

* A UTF-8 byte-order mark at the start of the input is skipped.
* A line that is not JSON (or, with ``--from-failed``, not a failed-operation record) becomes a failed
  record with its ``raw`` text (see ``failures.py``).
* An input that cannot be read to the end (a truncated or corrupt ``.gz``, a read error) stops the
  reading: what came before is ingested, the partial last line becomes a record, and ``error`` says why.
* Lines in ``settled`` (``--resume``: settled by an earlier run, see ``checkpoint.py``) are skipped
  unparsed; a line that gives no operation (blank, or recorded as failed) is added to it at once.
* ``stop()`` (SIGTERM/SIGINT) ends the operations at the next line: what was read after it is left
  unsettled, for ``--resume``.
"""

from __future__ import annotations

import asyncio
import gzip
import sys
import threading
import zlib
from collections.abc import AsyncIterator
from typing import IO, Any, Final, cast

import orjson

from .checkpoint import Settled
from .failures import FailedFile

__all__ = ["InputSource", "open_input"]

BOM: Final = b"\xef\xbb\xbf"
CHUNK_BYTES: Final = 64 * 1024
_QUEUED_CHUNKS: Final = 16
_DONE: Final = b""


def open_input(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def _raw_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r\n")


class InputSource:
    """``async for operation in source.operations()``; ``lines[index]`` is ``(line, number)`` of the
    operation with that index (popped by the caller as results come in): the line for its failed record
    (with ``--from-failed``, the line of the original input) and its line number in this input, to add
    to ``settled`` once the operation is settled."""

    def __init__(self, path: str, stream: IO[bytes], *, mode: str, from_failed: bool, failures: FailedFile,
                 settled: Settled | None = None) -> None:
        self.path = path
        self._stream = stream
        self._mode = mode
        self._from_failed = from_failed
        self._failures = failures
        self.settled = settled if settled is not None else Settled()
        self.skipped = 0
        """Lines skipped as settled by an earlier run."""
        self.stopped = False
        self._queue: asyncio.Queue[bytes | BaseException] | None = None
        self.lines: dict[int, tuple[int, int]] = {}
        self.read_error: str | None = None
        """Why the input could not be read to the end (None when it was)."""
        self.finished = False
        """The input was read to its end (or to the error that stopped it)."""
        self._stop = threading.Event()

    def close(self) -> None:
        """Ask the reading thread to stop (it stops at its next chunk)."""
        self._stop.set()

    def _halted(self) -> bool:
        return self.stopped

    def stop(self) -> None:
        """No more operations: ``operations()`` ends before its next line (not ``finished``)."""
        self.stopped = True
        self._stop.set()
        if self._queue is not None and self._queue.empty():
            self._queue.put_nowait(_DONE)  # wakes operations() if it waits for a chunk

    def _read(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | BaseException]) -> None:
        read1 = getattr(self._stream, "read1", None) or self._stream.read

        def put(item: bytes | BaseException) -> bool:
            try:  # waits while the queue is full: the reader never runs ahead of the ingest
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
            except BaseException:  # noqa: BLE001 - the loop is closing: nobody reads any more
                return False
            return True

        try:
            while not self._stop.is_set():
                chunk = read1(CHUNK_BYTES)
                if not chunk or not put(chunk):
                    break
        except (OSError, EOFError, zlib.error) as exc:
            put(exc)
        put(_DONE)

    async def operations(self) -> AsyncIterator[tuple[str, tuple[Any]]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue(_QUEUED_CHUNKS)
        self._queue = queue
        thread = threading.Thread(target=self._read, args=(loop, queue), name="aiocosmos-ingest-reader",
                                  daemon=True)
        thread.start()
        number = 0
        index = 0
        tail = b""
        settled = self.settled
        try:
            while True:
                chunk = await queue.get()
                if self._halted():
                    return
                if isinstance(chunk, BaseException):
                    self.read_error = _describe(self.path, chunk, number)
                    if number + 1 not in settled:
                        self._failures.write({"line": number + 1, "raw": _raw_text(tail), "status": 0,
                                              "error": self.read_error})
                        settled.add(number + 1)
                    tail = b""
                    continue
                if not chunk:  # _DONE
                    break
                data = tail + chunk if tail else chunk
                pieces = data.split(b"\n")
                tail = pieces.pop()
                for raw in pieces:
                    if self._halted():
                        return
                    number += 1
                    if number in settled:
                        self.skipped += 1
                        continue
                    operation = self._parse(raw, number, index)
                    if operation is not None:
                        index += 1
                        yield operation
            if self._halted():
                return
            if tail:
                number += 1
                if number in settled:
                    self.skipped += 1
                else:
                    operation = self._parse(tail, number, index)
                    if operation is not None:
                        yield operation
            self.finished = True
        finally:
            self._stop.set()

    def _parse(self, raw: bytes, number: int, index: int) -> tuple[str, tuple[Any]] | None:
        operation = self._operation(raw, number, index)
        if operation is None:
            self.settled.add(number)
        return operation

    def _operation(self, raw: bytes, number: int, index: int) -> tuple[str, tuple[Any]] | None:
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        if not raw.strip():
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._failures.write({"line": number, "raw": _raw_text(raw), "status": 0, "error": f"invalid JSON: {exc}"})
            return None
        line = number
        if self._from_failed:
            record = value
            if not isinstance(record, dict) or not ("item" in record or isinstance(record.get("raw"), str)):
                self._failures.write({"line": number, "record": record, "status": 0,
                                      "error": "not a failed-operation record (no 'item' and no 'raw')"})
                return None
            line = int(record.get("line") or number)
            if "item" in record:
                value = record["item"]
            else:  # an input line that could not be read: parse it again (it may have been fixed by hand)
                text = record["raw"].removeprefix("\ufeff")
                try:
                    value = orjson.loads(text) if text.strip() else None
                except orjson.JSONDecodeError:
                    value = None
                if not isinstance(value, dict):
                    self._failures.write(record)  # still unreadable: carried over as it was
                    return None
        self.lines[index] = (line, number)
        return (self._mode, (value,))


def _describe(path: str, exc: BaseException, lines: int) -> str:
    what = "stdin" if path == "-" else path
    if isinstance(exc, EOFError | zlib.error | gzip.BadGzipFile):
        return (f"{what} is truncated or corrupt ({type(exc).__name__}: {exc}); the {lines:,} complete lines "
                f"before it were read, nothing after")
    return f"{what} could not be read to the end ({exc}); the {lines:,} complete lines before it were read"
