"""Incremental export: the per-partition change feed continuations, saved in a state directory.

A read with ``state_dir`` starts from ``<state_dir>/partitions.json`` when it exists (the partitions
and continuations that the last committed read reached) and from the container's feed ranges at
``start`` otherwise. Each read task writes the continuation it reached to
``<state_dir>/pending/part-<index>.json`` (atomically). Nothing moves on until :func:`commit` is
called, once the data read has been stored safely: it replaces ``partitions.json`` by the pending
continuations, atomically, and only when every partition has one. A job that dies before it commits
reads the same changes again next time (at least once, never lost).

On a cluster ``state_dir`` must be a directory that every worker and the driver see (a shared mount).
"""

from __future__ import annotations

import glob
import os
import shutil
from typing import Any, Final

import orjson

from ..exceptions import ValidationError
from .plan import ReadPartition, resume_partitions

__all__ = ["load", "start_read", "save_pending", "commit", "STATE_FILE"]

STATE_FILE: Final = "partitions.json"
_PENDING: Final = "pending"


def _write_atomically(path: str, data: Any) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load(state_dir: str) -> list[ReadPartition] | None:
    """The committed partitions of ``state_dir``, or None when nothing was committed yet."""
    path = os.path.join(state_dir, STATE_FILE)
    try:
        with open(path, "rb") as handle:
            saved = orjson.loads(handle.read())
    except FileNotFoundError:
        return None
    return resume_partitions(saved)


def start_read(state_dir: str) -> None:
    """Forget the pending continuations of a read that was never committed (they would mix two reads)."""
    shutil.rmtree(os.path.join(state_dir, _PENDING), ignore_errors=True)
    os.makedirs(os.path.join(state_dir, _PENDING), exist_ok=True)


def save_pending(state_dir: str, partition: ReadPartition) -> None:
    pending = os.path.join(state_dir, _PENDING)
    os.makedirs(pending, exist_ok=True)
    _write_atomically(os.path.join(pending, f"part-{partition.index:05d}.json"), partition.to_dict())


def commit(state_dir: str, expected: int | None = None) -> list[ReadPartition]:
    """Make the pending continuations the ones the next read starts from; returns them.

    Raises ValidationError (and changes nothing) unless every partition of the read has one."""
    files = sorted(glob.glob(os.path.join(state_dir, _PENDING, "part-*.json")))
    saved: list[Any] = []
    for name in files:
        with open(name, "rb") as handle:
            saved.append(orjson.loads(handle.read()))
    if not saved:
        raise ValidationError(f"{state_dir}: no read has saved continuations to commit")
    partitions = resume_partitions(saved)
    if expected is not None and len(partitions) != expected:
        raise ValidationError(f"{state_dir}: {len(partitions)} of {expected} partitions saved a continuation")
    _write_atomically(os.path.join(state_dir, STATE_FILE), [p.to_dict() for p in partitions])
    shutil.rmtree(os.path.join(state_dir, _PENDING), ignore_errors=True)
    return partitions

