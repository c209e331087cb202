"""Write one partition of rows through the bulk executor; sum up each partition and the whole job.

Each partition's operations that failed for good go to ``<failed_dir>/part-<index>.failed.jsonl``, one
JSON object per line as in the CLI's failed file (aiocosmos/_cli/failures.py), plus ``"partition"``:
``{"partition": 3, "line": 17, "item": {...}, "status": 403, "sub_status": 0, "error": "...",
"may_have_been_applied": false}`` (``line`` is the row's position in its partition). A partition that
writes again and fails nothing removes its earlier file.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from .._cli.failures import FailedFile
from .._resources.container import ContainerProxy
from ..exceptions import ValidationError

__all__ = ["PartitionWriteSummary", "WriteReport", "write_partition", "plain_records", "OPERATIONS"]

OPERATIONS: Final = ("upsert", "create")
_MAX_ERRORS: Final = 5


def _plain(value: Any) -> Any:
    """A value as JSON wants it: numpy scalars and arrays, pandas timestamps, nested containers."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):  # datetime, pandas.Timestamp
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _plain(value.tolist())
    return value


def _missing(value: Any) -> bool:
    """A cell that stands for "no such field": NaN, pandas.NA/NaT (a JSON document has no NaN)."""
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def plain_records(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows (e.g. ``DataFrame.to_dict("records")``) as documents: missing cells dropped, values plain."""
    return [{str(k): _plain(v) for k, v in row.items() if not _missing(v)} for row in rows]


@attrs.frozen
class PartitionWriteSummary:
    """What became of one partition's rows: counts, charge, the failed-operations file, a few errors."""

    partition: int
    total: int
    succeeded: int
    failed: int
    may_have_been_applied: int
    request_charge: float
    seconds: float
    failed_file: str | None
    statuses: tuple[tuple[int, int], ...]  # (status, count) of the failed operations
    errors: tuple[str, ...]
    worker: str

    @property
    def ok(self) -> bool:
        """Whether every row of the partition was written."""
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        """The summary as a plain dict."""
        return attrs.asdict(self)

    def describe(self) -> str:
        """One line for a person: counts, charge, time, worker and where the failed operations are."""
        line = (f"partition {self.partition}: {self.succeeded:,} of {self.total:,} written, {self.failed:,} failed, "
                f"{self.request_charge:,.0f} RU in {self.seconds:.1f} s on {self.worker}")
        if self.failed:
            statuses = ", ".join(f"{count} x {status}" for status, count in self.statuses)
            line += f" ({statuses}; failed operations in {self.failed_file})"
        return line


@attrs.frozen
class WriteReport:
    """The whole write: one summary per partition that finished, and the partitions that did not.

    ``unfinished`` maps a partition's index to why it has no summary (its worker died, its task
    raised): any number of its rows, none to all, may have been written. ``rerun`` lists them; running
    the same write again on exactly those partitions (``partitions=report.rerun``) completes the job
    when the operation is ``upsert`` (idempotent). Operations that failed for good are in the
    ``failed_files`` and are not re-run by that: fix them and write them again (e.g. with
    ``aiocosmos ingest --from-failed``)."""

    operation: str
    summaries: tuple[PartitionWriteSummary, ...]
    unfinished: Mapping[int, str] = attrs.field(factory=dict)

    @property
    def rerun(self) -> list[int]:
        """The partitions to write again (``partitions=report.rerun``): those without a summary."""
        return sorted(self.unfinished)

    @property
    def total(self) -> int:
        """Rows of the finished partitions."""
        return sum(s.total for s in self.summaries)

    @property
    def succeeded(self) -> int:
        """Rows written, over the finished partitions."""
        return sum(s.succeeded for s in self.summaries)

    @property
    def failed(self) -> int:
        """Rows that failed for good, over the finished partitions."""
        return sum(s.failed for s in self.summaries)

    @property
    def request_charge(self) -> float:
        """Request units of the whole write."""
        return sum(s.request_charge for s in self.summaries)

    @property
    def failed_files(self) -> list[str]:
        """The failed-operations files, one per partition that had failures."""
        return [s.failed_file for s in self.summaries if s.failed_file]

    @property
    def ok(self) -> bool:
        """Whether every partition finished and every row was written."""
        return not self.unfinished and self.failed == 0

    def describe(self) -> str:
        """A paragraph that says what was written and exactly what to do next."""
        done = len(self.summaries)
        lines = [f"{self.operation}: {done} of {done + len(self.unfinished)} partitions finished; "
                 f"{self.succeeded:,} of {self.total:,} of their rows written, {self.failed:,} failed for good, "
                 f"{self.request_charge:,.0f} RU."]
        lines.extend(f"partition {index} did not finish ({self.unfinished[index]}): none, some or all of its "
                     "rows were written." for index in self.rerun)
        if self.unfinished:
            again = ("safe: upsert is idempotent" if self.operation == "upsert"
                     else "rows already written will fail with 409 Conflict; use operation='upsert' to overwrite")
            lines.append(f"re-run partitions={self.rerun} ({again}).")
        if self.failed:
            lines.append(f"{self.failed:,} operations failed for good; they are in {', '.join(self.failed_files)} "
                         "(JSONL: partition, line, item, status, error); a re-run does not retry them.")
        if self.ok:
            lines.append("nothing to re-run.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as a plain dict (JSON-ready)."""
        return {"operation": self.operation, "summaries": [s.to_dict() for s in self.summaries],
                "unfinished": {str(k): v for k, v in sorted(self.unfinished.items())}, "rerun": self.rerun,
                "ok": self.ok}


def check_operation(operation: object) -> str:
    if operation not in OPERATIONS:
        raise ValidationError(f"operation must be one of {OPERATIONS}, got {operation!r}")
    return str(operation)


def failed_path(failed_dir: str, index: int) -> str:
    return os.path.join(failed_dir, f"part-{index:05d}.failed.jsonl")


async def write_partition(
    container: ContainerProxy,
    rows: Sequence[dict[str, Any]],
    index: int,
    *,
    operation: str = "upsert",
    failed_dir: str,
    bulk_options: Mapping[str, Any] | None = None,
) -> PartitionWriteSummary:
    """``operation`` every row of one partition with ``container.bulk``; record the failures."""
    started = time.monotonic()
    kind = check_operation(operation)
    os.makedirs(failed_dir, exist_ok=True)
    failed_file = FailedFile(failed_path(failed_dir, index))
    succeeded = failed = ambiguous = 0
    charge = 0.0
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    complete = False
    try:
        async for result in container.bulk([(kind, (row,)) for row in rows], **dict(bulk_options or {})):
            charge += result.request_charge
            if result.error is None:
                succeeded += 1
                continue
            failed += 1
            statuses[result.status_code] += 1
            maybe = result.error.may_have_been_applied
            ambiguous += maybe
            if len(errors) < _MAX_ERRORS:
                errors.append(f"row {result.index} (id {result.item_id!r}): {result.status_code}/"
                              f"{result.sub_status} {result.error}")
            record: dict[str, Any] = {"partition": index, "line": result.index, "item": rows[result.index],
                                      "status": result.status_code, "sub_status": result.sub_status,
                                      "error": str(result.error)}
            if maybe:
                record["may_have_been_applied"] = True
            failed_file.write(record)
        complete = True
    finally:
        failed_file.finish(complete=complete)
    return PartitionWriteSummary(
        partition=index, total=len(rows), succeeded=succeeded, failed=failed, may_have_been_applied=ambiguous,
        request_charge=charge, seconds=time.monotonic() - started,
        failed_file=failed_file.path if failed else None, statuses=tuple(sorted(statuses.items())),
        errors=tuple(errors), worker=f"{socket.gethostname()}:{os.getpid()}",
    )
