"""The input of ``aiocosmos ingest``: lines parsed into operations.

A line that is not JSON (or, with ``--from-failed``, not a failed-operation record) becomes a failed
record with its ``raw`` text (see ``failures.py``).
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import AsyncIterator
from typing import IO, Any, cast

import orjson

from .failures import FailedFile

__all__ = ["InputSource", "open_input"]


def open_input(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def _raw_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r\n")


class InputSource:
    """``async for operation in source.operations()``; ``lines[index]`` is the input line of the
    operation with that index (popped by the caller as results come in)."""

    def __init__(self, path: str, stream: IO[bytes], *, mode: str, from_failed: bool, failures: FailedFile) -> None:
        self.path = path
        self._stream = stream
        self._mode = mode
        self._from_failed = from_failed
        self._failures = failures
        self.lines: dict[int, int] = {}
        self.read_error: str | None = None
        """Why the input could not be read to the end (None when it was)."""
        self.finished = False
        """The input was read to its end."""

    def close(self) -> None:
        pass

    async def operations(self) -> AsyncIterator[tuple[str, tuple[Any]]]:
        index = 0
        for number, raw in enumerate(self._stream, 1):
            operation = self._parse(raw, number, index)
            if operation is not None:
                index += 1
                yield operation
        self.finished = True

    def _parse(self, raw: bytes, number: int, index: int) -> tuple[str, tuple[Any]] | None:
        if not raw.strip():
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._failures.write({"line": number, "raw": _raw_text(raw), "status": 0, "error": f"invalid JSON: {exc}"})
            return None
        line = number
        if self._from_failed:
            if not isinstance(value, dict) or "item" not in value:
                self._failures.write({"line": number, "status": 0, "error": "not a failed-operation record (no 'item')",
                                      "raw": _raw_text(raw)})
                return None
            line = int(value.get("line") or number)
            value = value["item"]
        self.lines[index] = line
        return (self._mode, (value,))
