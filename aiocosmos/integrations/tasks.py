"""The task bodies both engines run: plain blocking functions over the process's runtime (runtime.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._resources.container import ContainerProxy
from . import runtime, state
from .connection import CosmosConnection
from .plan import ReadPartition, plan_partitions
from .reading import read_partition
from .writing import PartitionWriteSummary, check_operation, write_partition

__all__ = ["ReadOptions", "WriteOptions", "plan", "read_rows", "write_rows"]


def _check_connection(connection: object) -> CosmosConnection:
    if not isinstance(connection, CosmosConnection):
        raise TypeError(f"connection must be an aiocosmos.integrations.CosmosConnection, "
                        f"got {type(connection).__name__}")
    return connection


def _parameters(value: Sequence[Mapping[str, Any]] | None) -> tuple[Mapping[str, Any], ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class ReadOptions:
    """How to read each partition (see reading.py): a query, or with ``state_dir`` the change feed
    (incremental: each partition's continuation is saved there, see state.py)."""

    connection: CosmosConnection = attrs.field(converter=_check_connection)
    query: str | None = None
    parameters: tuple[Mapping[str, Any], ...] | None = attrs.field(default=None, converter=_parameters)
    split: int = 1
    start: Any = "Beginning"
    page_size: int | None = -1
    system_properties: bool = False
    state_dir: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.state_dir is not None and self.query is not None:
            raise ValueError("state_dir (incremental export) reads the change feed: it takes no query")


@attrs.frozen
class WriteOptions:
    connection: CosmosConnection = attrs.field(converter=_check_connection)
    failed_dir: str
    operation: str = attrs.field(default="upsert", converter=check_operation)
    bulk_options: Mapping[str, Any] | None = None


def plan(options: ReadOptions) -> list[ReadPartition]:
    """The partitions of a read (in the calling process): the committed state, or the feed ranges."""
    if options.state_dir is not None:
        saved = state.load(options.state_dir)
        state.start_read(options.state_dir)
        if saved is not None:
            return saved

    async def work(container: ContainerProxy) -> list[ReadPartition]:
        return await plan_partitions(container, split=options.split)

    return runtime.run(options.connection, work)


def read_rows(options: ReadOptions, partition: ReadPartition) -> list[Any]:
    """Read one partition; save its continuation in the state directory when there is one."""

    async def work(container: ContainerProxy) -> Any:
        return await read_partition(container, partition, query=options.query, parameters=options.parameters,
                                    change_feed=options.state_dir is not None, start=options.start,
                                    page_size=options.page_size,
                                    system_properties=options.system_properties)

    data = runtime.run(options.connection, work)
    if options.state_dir is not None and data.resume is not None:
        state.save_pending(options.state_dir, data.resume)
    rows: list[Any] = data.rows
    return rows


def write_rows(options: WriteOptions, rows: Sequence[dict[str, Any]], index: int) -> PartitionWriteSummary:
    async def work(container: ContainerProxy) -> PartitionWriteSummary:
        return await write_partition(container, rows, index, operation=options.operation,
                                     failed_dir=options.failed_dir, bulk_options=options.bulk_options)

    return runtime.run(options.connection, work)
