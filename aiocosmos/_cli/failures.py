"""The failed-operations file of ``aiocosmos ingest``, written so that it never destroys what it replaces.

Records go to a new file beside the target (``<target>.<pid>.tmp``) and the target is replaced by it
atomically (``os.replace``) only when the run ends. So ``--from-failed F --failed F`` reads F to the end
before F changes, and a run that crashes leaves the earlier F as it was.

A record is one JSON object per line:

* an operation that failed: ``{"line": n, "item": {...}, "status": 409, "sub_status": 0, "error": "..."}``,
  plus ``"may_have_been_applied": true`` when the write may have happened all the same (an ambiguous
  failure: connection reset, timeout, 5xx after sending);
* a line that could not be read as an item: ``{"line": n, "raw": "...", "status": 0, "error": "..."}``.
  ``--from-failed`` parses ``raw`` again, so a record fixed by hand is picked up by the re-run; one still
  unreadable is carried over unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import IO, Any

import orjson

__all__ = ["FailedFile"]


def _encode(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record)
    except TypeError:  # e.g. a lone surrogate in a string: json escapes it (\ud800) where orjson refuses
        return json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class FailedFile:
    """``write()`` records, then ``finish(complete=...)`` once: it says what became of the file."""

    def __init__(self, path: str, *, input_path: str | None = None) -> None:
        self.path = path
        self.count = 0
        self._input_path = input_path
        self._temporary = f"{path}.{os.getpid()}.tmp"
        self._file: IO[bytes] | None = None

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self._file = open(self._temporary, "wb")  # noqa: SIM115 - closed in finish()
        self._file.write(_encode(record) + b"\n")
        self.count += 1

    def _is_input(self) -> bool:
        if self._input_path is None or self._input_path == "-":
            return False
        try:
            return os.path.samefile(self.path, self._input_path)
        except OSError:
            return False

    def finish(self, *, complete: bool) -> str | None:
        """Put the records in place; returns a sentence for the summary, or None.

        ``complete``: the whole input was read and every operation has its outcome. Then the target holds
        exactly this run's failures, or, when there were none, an earlier run's file there is removed
        (it would otherwise be mistaken for a current one). An incomplete run writes its records to the
        target too, unless the target is the input it did not finish reading: that stays as it was and
        the records stay in the temporary file, whose name is returned.
        """
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
        if self.count == 0:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._temporary)
            if complete and os.path.exists(self.path):
                os.remove(self.path)
                return f"removed the failed-operations file {self.path} of an earlier run: nothing failed this time"
            return None
        if not complete and self._is_input():
            return (f"the input {self.path} was not read to the end, so it was left as it was; this run's "
                    f"{self.count:,} failed operations are in {self._temporary}")
        os.replace(self._temporary, self.path)
        return None
