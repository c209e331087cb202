"""Dask connector: read a container into a Dask DataFrame (or bag), write one with the bulk executor.

Needs ``pip install 'aiocosmos[dask]'``; ``import aiocosmos`` never imports dask.

* :func:`read_cosmos` gives a ``dask.dataframe.DataFrame`` with one partition per feed range of the
  container (``split=n`` cuts each range into n EPK pieces). Each partition is read with the change
  feed (no query: every live document, once) or with ``query``/``parameters`` bounded to its EPK range
  (aiocosmos/integrations/reading.py). Its columns and dtypes are ``columns`` (or ``meta``'s), else those
  of the first partition, read once more to find them; a field not among them is left out. Documents of
  varied shapes are better read with :func:`read_cosmos_bag` (a bag of the dicts, exactly).
* :func:`to_cosmos` upserts (or creates) the rows of every partition of a DataFrame or bag through
  ``container.bulk``; it returns a :class:`~aiocosmos.integrations.WriteReport`: one summary per
  partition, the partitions that did not finish (a worker died, a task raised) and so are to be
  re-run (``partitions=report.rerun``), and the JSONL files of the operations that failed for good.
* ``state_dir=`` makes a read incremental: it starts where the last committed read stopped (the
  change feed continuation of each partition); :func:`commit_read` commits once the data is safe.

Each worker process holds one client per :class:`~aiocosmos.integrations.CosmosConnection`, reused
by all its tasks; :class:`CosmosWorkerPlugin` (``client.register_plugin(CosmosWorkerPlugin())``)
closes them at worker shutdown (an ``atexit`` hook does otherwise). The connection's repr and Dask
token never contain the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dask.bag as db
import dask.dataframe as dd
import distributed
import pandas as pd  # type: ignore[import-untyped]  # no pandas-stubs in the dev install
from dask.base import tokenize
from dask.delayed import delayed

from ._throughput.config import ThroughputControlGroupConfig
from .integrations import runtime, state
from .integrations.connection import CosmosConnection
from .integrations.plan import ReadPartition
from .integrations.tasks import ReadOptions, WriteOptions, plan, read_rows, write_rows
from .integrations.writing import PartitionWriteSummary, WriteReport, plain_records

__all__ = ["read_cosmos", "read_cosmos_bag", "to_cosmos", "commit_read", "CosmosWorkerPlugin", "CosmosConnection"]


class CosmosWorkerPlugin(distributed.WorkerPlugin):
    """Closes the worker process's aiocosmos clients when the worker shuts down."""

    name = "aiocosmos"

    def teardown(self, worker: Any) -> None:
        """Close the worker process's clients and stop their loop thread when the worker shuts down."""
        runtime.shutdown()


def _options(connection: CosmosConnection, query: str | None, parameters: Sequence[Mapping[str, Any]] | None,
             split: int, start: Any, page_size: int | None, system_properties: bool,
             state_dir: str | None) -> ReadOptions:
    return ReadOptions(connection, query=query, parameters=parameters, split=split, start=start,
                       page_size=page_size, system_properties=system_properties, state_dir=state_dir)


def _bag_partition(partitions: list[ReadPartition], options: ReadOptions) -> list[Any]:
    return [row for partition in partitions for row in read_rows(options, partition)]


def read_cosmos_bag(
    connection: CosmosConnection,
    *,
    query: str | None = None,
    parameters: Sequence[Mapping[str, Any]] | None = None,
    split: int = 1,
    start: Any = "Beginning",
    page_size: int | None = -1,
    system_properties: bool = False,
    state_dir: str | None = None,
) -> db.Bag:
    """A bag of the container's documents (dicts, exactly as stored; system properties dropped unless
    asked), one partition per feed range (times ``split``). The feed ranges are read now."""
    options = _options(connection, query, parameters, split, start, page_size, system_properties, state_dir)
    partitions = plan(options)
    bag = db.from_sequence(partitions, npartitions=len(partitions))  # type: ignore[no-untyped-call]
    result: db.Bag = bag.map_partitions(_bag_partition, options)
    return result


class _ReadFrame:
    """The function of ``dd.from_map``: one partition as a pandas DataFrame with fixed columns and dtypes."""

    def __init__(self, options: ReadOptions, dtypes: Mapping[str, Any] | None) -> None:
        self.options = options
        self.dtypes = None if dtypes is None else dict(dtypes)

    def __call__(self, partition: ReadPartition) -> pd.DataFrame:
        rows = read_rows(self.options, partition)
        if self.dtypes is None:
            return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
        columns = list(self.dtypes)
        frame = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
        return frame.reindex(columns=columns).astype(self.dtypes)

    def __repr__(self) -> str:
        return f"read_cosmos({self.options.connection!r})"


def read_cosmos(
    connection: CosmosConnection,
    *,
    query: str | None = None,
    parameters: Sequence[Mapping[str, Any]] | None = None,
    split: int = 1,
    columns: Sequence[str] | Mapping[str, Any] | None = None,
    meta: pd.DataFrame | None = None,
    start: Any = "Beginning",
    page_size: int | None = -1,
    system_properties: bool = False,
    state_dir: str | None = None,
) -> dd.DataFrame:
    """A Dask DataFrame of the container, one partition per feed range (times ``split``); see the module
    docstring. ``columns`` names the columns (dtype ``object``) or maps them to dtypes
    (``{"id": "string", "n": "int64"}``); ``meta`` gives both as an empty DataFrame. Without either the
    first partition is read here to find them. Every partition is cast to those dtypes."""
    options = _options(connection, query, parameters, split, start, page_size, system_properties, state_dir)
    partitions = plan(options)
    dtypes: dict[str, Any]
    if meta is not None:
        dtypes = dict(meta.dtypes.items())
    elif isinstance(columns, Mapping):
        dtypes = dict(columns)
    elif columns is not None:
        dtypes = dict.fromkeys(columns, object)
    else:
        first = _ReadFrame(_without_state(options), None)(partitions[0])
        dtypes = dict(first.dtypes.items())
    empty = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
    frame: dd.DataFrame = dd.from_map(  # type: ignore[no-untyped-call]
        _ReadFrame(options, dtypes), partitions, meta=empty, label="read-cosmos", enforce_metadata=False)
    return frame


def _without_state(options: ReadOptions) -> ReadOptions:
    """The same read without saving continuations (for the look at the first partition)."""
    return ReadOptions(options.connection, query=options.query, parameters=options.parameters, split=options.split,
                       start=options.start, page_size=options.page_size,
                       system_properties=options.system_properties)


def commit_read(state_dir: str) -> list[ReadPartition]:
    """After an incremental read's data is stored: the next read with this ``state_dir`` starts after it."""
    return state.commit(state_dir)


def _write_partition(part: Any, options: WriteOptions, index: int) -> PartitionWriteSummary:
    rows = plain_records(part.to_dict(orient="records") if isinstance(part, pd.DataFrame) else part)
    return write_rows(options, rows, index)


def _reason(future: Any) -> str:
    try:
        error = future.exception()
    except Exception as exc:  # noqa: BLE001 - the reason is only reported
        error = exc
    return f"{type(error).__name__}: {error}" if error is not None else f"task {future.status}"


def to_cosmos(
    data: dd.DataFrame | db.Bag,
    connection: CosmosConnection,
    *,
    failed_dir: str,
    operation: str = "upsert",
    partitions: Sequence[int] | None = None,
    bulk_options: Mapping[str, Any] | None = None,
    client: distributed.Client | None = None,
    throughput_group: ThroughputControlGroupConfig | None = None,
    global_control_container: str | None = None,
) -> WriteReport:
    """Write every partition of ``data`` (or only ``partitions``, e.g. ``report.rerun``); see the module
    docstring. Runs on ``client`` or the current distributed client, else on Dask's local threads.
    ``throughput_group`` (with ``global_control_container``, shared by every worker): the write stays
    inside that group's target (``CosmosConnection``, README "Throughput control")."""
    connection = connection.in_group(throughput_group, global_control_container)
    options = WriteOptions(connection, failed_dir=failed_dir, operation=operation, bulk_options=bulk_options)
    parts = data.to_delayed()  # type: ignore[no-untyped-call]
    chosen = list(range(len(parts))) if partitions is None else sorted(set(partitions))
    if any(not 0 <= i < len(parts) for i in chosen):
        raise ValueError(f"partitions must be between 0 and {len(parts) - 1}, got {list(partitions or [])}")
    write = delayed(_write_partition, pure=False)
    tasks = [write(parts[i], options, i, dask_key_name=f"to-cosmos-{i}-{tokenize(parts[i])}")
             for i in chosen]
    if client is None:
        try:
            client = distributed.default_client()  # type: ignore[no-untyped-call]
        except ValueError:
            client = None
    summaries: list[PartitionWriteSummary] = []
    unfinished: dict[int, str] = {}
    if client is None:
        for index, task in zip(chosen, tasks, strict=True):
            try:
                summaries.append(task.compute(scheduler="threads"))
            except Exception as exc:  # noqa: BLE001 - one partition's failure is reported, not raised
                unfinished[index] = f"{type(exc).__name__}: {exc}"
        return WriteReport(options.operation, tuple(summaries), unfinished)
    futures = client.compute(tasks)  # type: ignore[no-untyped-call]
    distributed.wait(futures)  # type: ignore[no-untyped-call]
    for index, future in zip(chosen, futures, strict=True):
        if future.status == "finished":
            summaries.append(future.result())
        else:
            unfinished[index] = _reason(future)
    return WriteReport(options.operation, tuple(summaries), unfinished)
