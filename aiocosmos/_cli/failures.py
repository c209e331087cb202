"""The failed-operations file of ``aiocosmos ingest``, written so that it never destroys what it replaces.

Records go to a new file beside the target (``<target>.<pid>-<random>.tmp``: unique even when the
process id repeats, as PID 1 does in a container, so a resumed run never truncates the file of the
killed run it copies records from) and the target is replaced by it
atomically (``os.replace``) only when the run ends. So ``--from-failed F --failed F`` reads F to the end
before F changes, and a run that crashes leaves the earlier F as it was.

A record is one JSON object per line:

* an operation that failed: ``{"line": n, "item": {...}, "status": 409, "sub_status": 0, "error": "..."}``,
  plus ``"may_have_been_applied": true`` when the write may have happened all the same (an ambiguous
  failure: connection reset, timeout, 5xx after sending);
* a line that could not be read as an item: ``{"line": n, "raw": "...", "status": 0, "error": "..."}``.
  ``--from-failed`` parses ``raw`` again, so a record fixed by hand is picked up by the re-run; one still
  unreadable is carried over unchanged.

With a checkpoint (``checkpoint.py``), ``state()`` says where the records are and how many bytes of
them there are (with their hash), after flushing them to disk; ``seed()`` starts a resumed run's file
with exactly those bytes of the earlier run, so its records stay and the new ones are appended.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Sequence
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
        self.seeded = 0
        """Records copied from an earlier run by ``seed()`` (counted in ``count``)."""
        self._input_path = input_path
        self._temporary = f"{path}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        self._file: IO[bytes] | None = None
        self.location = self._temporary
        """The file that holds the records: the temporary one, the target once it was replaced."""
        self.size = 0
        self._hash = hashlib.sha256()
        self._synced = 0

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self._file = open(self._temporary, "wb")  # noqa: SIM115 - closed in finish()
        return self._file

    def write(self, record: dict[str, Any]) -> None:
        data = _encode(record) + b"\n"
        self._open().write(data)
        self._hash.update(data)
        self.size += len(data)
        self.count += 1

    def seed(self, candidates: Sequence[str], size: int, sha256: str, records: int) -> str | None:
        """Start with the first ``size`` bytes (``records`` records) of the first candidate file whose
        first ``size`` bytes have this hash; returns that file, or None when none has them."""
        file = self._open()
        for candidate in candidates:
            digest = hashlib.sha256()
            file.seek(0)
            file.truncate()
            try:
                with open(candidate, "rb") as source:
                    left = size
                    while left and (chunk := source.read(min(left, 1 << 20))):
                        file.write(chunk)
                        digest.update(chunk)
                        left -= len(chunk)
            except OSError:
                continue
            if left == 0 and digest.hexdigest() == sha256:
                self._hash = digest
                self.size = size
                self.count = self.seeded = records
                self.sync()
                return candidate
        file.close()
        self._file = None
        os.remove(self._temporary)
        return None

    def sync(self) -> None:
        """Put what was written on disk (flush and fsync), if anything was written since the last time."""
        if self._file is not None and self.size != self._synced:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._synced = self.size

    def state(self) -> dict[str, Any]:
        """Where the records are, for the checkpoint (call ``sync()`` first while the run goes on)."""
        return {"file": self.location if self.count else None, "target": self.path, "bytes": self.size,
                "records": self.count, "sha256": self._hash.hexdigest()}

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
            self.sync()
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
        self.location = self.path
        return None
