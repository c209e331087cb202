"""Ray Data connector: ``CosmosDatasource`` to read a container, ``CosmosDatasink`` to write one.

Needs ``pip install 'aiocosmos[ray]'``; ``import aiocosmos`` never imports ray.

* ``ray.data.read_datasource(CosmosDatasource(connection, ...))``: one read task per feed range of the
  container (``split=n`` cuts each range in n EPK pieces), each reading its range with ``query`` and
  ``parameters`` (``SELECT * FROM c`` by default) bounded to it, as in aiocosmos/integrations/reading.py.
  Blocks are Arrow tables whose columns are the union of the documents' fields (a field missing from a
  document is null; a field whose values mix types across documents cannot be one Arrow column).
* With ``state_dir=`` the read is an **incremental export**: each range is read with the change feed
  from where the last *committed* read stopped (``Beginning`` the first time), and the continuation it
  reaches is saved; ``commit_read(state_dir)`` once the data is stored moves the start point on.
* ``ds.write_datasink(CosmosDatasink(connection, failed_dir=...))``: each write task upserts (or
  creates) its rows through ``container.bulk``; operations that failed for good go to
  ``<failed_dir>/part-<task>.failed.jsonl``. After the write, ``sink.report`` is a
  :class:`~aiocosmos.integrations.WriteReport` (one summary per write task). A write task whose worker
  dies is run again by Ray (``ray_remote_args={"max_retries": n}``), whole: safe with ``upsert``. If
  Ray gives up, ``write_datasink`` raises and ``sink.report`` says to re-run the whole write: Ray's
  blocks have no identity stable across runs that a partial re-run could name.

Each Ray worker process holds one client per connection spec (aiocosmos/integrations/runtime.py),
closed at process exit; the spec's repr never shows the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import ray  # noqa: F401  # the real ray (absolute import): makes sure it is installed before ray.data
from ray.data import Datasink, Datasource, ReadTask
from ray.data.block import BlockMetadata

from ._throughput.config import ThroughputControlGroupConfig
from .integrations import state
from .integrations.connection import CosmosConnection
from .integrations.plan import ReadPartition
from .integrations.tasks import ReadOptions, WriteOptions, plan, read_rows, write_rows
from .integrations.writing import PartitionWriteSummary, WriteReport, plain_records

__all__ = ["CosmosDatasource", "CosmosDatasink", "commit_read", "rows_to_table", "CosmosConnection"]


def rows_to_table(rows: Sequence[Any]) -> pa.Table:
    """Documents as one Arrow table: a column per field of any document (missing: null)."""
    if not rows:
        return pa.table({})
    return pa.Table.from_struct_array(pa.array(rows))


class _ReadOne:
    def __init__(self, options: ReadOptions, partition: ReadPartition) -> None:
        self.options = options
        self.partition = partition

    def __call__(self) -> Iterable[pa.Table]:
        rows = read_rows(self.options, self.partition)
        return [rows_to_table(rows)] if rows else []

    def __repr__(self) -> str:
        return f"read_cosmos({self.options.connection!r}, partition={self.partition.index})"


class CosmosDatasource(Datasource):
    """The documents of one container; see the module docstring."""

    def __init__(
        self,
        connection: CosmosConnection,
        *,
        query: str | None = None,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        split: int = 1,
        start: Any = "Beginning",
        page_size: int | None = -1,
        system_properties: bool = False,
        state_dir: str | None = None,
    ) -> None:
        self.options = ReadOptions(connection, query=query, parameters=parameters, split=split, start=start,
                                   page_size=page_size, system_properties=system_properties, state_dir=state_dir)
        self.partitions: list[ReadPartition] | None = None

    def get_name(self) -> str:
        """The name Ray shows for this source."""
        return "Cosmos"

    def estimate_inmemory_data_size(self) -> int | None:
        """None: the size is not known before reading."""
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        # One task per partition whatever ``parallelism`` says: a partition is the unit of a read
        # (and of its saved continuation). Use split= for more of them.
        """One read task per partition of the plan (``split=`` makes more)."""
        if self.partitions is None:
            self.partitions = plan(self.options)
        metadata = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=None)
        return [ReadTask(_ReadOne(self.options, partition), metadata, per_task_row_limit=per_task_row_limit)
                for partition in self.partitions]

    def __repr__(self) -> str:
        return f"CosmosDatasource({self.options.connection!r})"


def _block_rows(block: Any) -> list[dict[str, Any]]:
    if isinstance(block, pa.Table):
        return plain_records(block.to_pylist())
    return plain_records(block.to_dict(orient="records"))  # a pandas block


class CosmosDatasink(Datasink[PartitionWriteSummary]):
    """Writes a dataset's rows as documents; see the module docstring. ``report`` after the write."""

    def __init__(
        self,
        connection: CosmosConnection,
        *,
        failed_dir: str,
        operation: str = "upsert",
        bulk_options: Mapping[str, Any] | None = None,
        throughput_group: ThroughputControlGroupConfig | None = None,
        global_control_container: str | None = None,
    ) -> None:
        connection = connection.in_group(throughput_group, global_control_container)  # as dask.to_cosmos
        self.options = WriteOptions(connection, failed_dir=failed_dir, operation=operation, bulk_options=bulk_options)
        self.report: WriteReport | None = None

    def get_name(self) -> str:
        """The name Ray shows for this sink."""
        return "Cosmos"

    def write(self, blocks: Iterable[Any], ctx: Any) -> PartitionWriteSummary:
        """Write one task's blocks (called by Ray in the task); returns the partition's summary."""
        rows = [row for block in blocks for row in _block_rows(block)]
        return write_rows(self.options, rows, int(ctx.task_idx))

    def on_write_complete(self, write_result: Any) -> None:
        """Collect the tasks' summaries into ``self.report`` (called by Ray)."""
        summaries = tuple(sorted(write_result.write_returns, key=lambda s: s.partition))
        self.report = WriteReport(self.options.operation, summaries)

    def on_write_failed(self, error: Exception) -> None:
        """Record in ``self.report`` that the write failed as a whole (called by Ray)."""
        self.report = WriteReport(self.options.operation, (), {
            -1: f"the Ray write failed ({type(error).__name__}: {error}); re-run the whole write"})

    def __repr__(self) -> str:
        return f"CosmosDatasink({self.options.connection!r})"


def commit_read(state_dir: str) -> list[ReadPartition]:
    """After an incremental read's data is stored: the next read with this ``state_dir`` starts after it."""
    return state.commit(state_dir)
