"""aiocosmos.ray on a real local Ray (``ray.init(num_cpus=2)``) against the local server.

Size: ROUND_TRIP documents, as in test_dask.py (the local server reads 50,000 far too slowly).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
import ray
import ray.cloudpickle
import ray.data

from aiocosmos.integrations import PartitionWriteSummary
from aiocosmos.ray import CosmosDatasink, CosmosDatasource, commit_read
from aiocosmos.testing import Fault
from tests.integration.engines import ProxyThread, documents, new_container, stored
from tests.integration.test_dask import ROUND_TRIP
from tests.server import CosmosTestServer

# Ray's own deprecation notices, raised by ray.data.context when Ray copies its DataContext (whatever the
# caller sets); only those are ignored.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

# Ray's workers import nothing from tests/: the classes below travel by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def test_write_and_read_back_exactly(ray_local: None, cosmos_server: CosmosTestServer, tmp_path: Path) -> None:
    spec = new_container(cosmos_server)
    sink = CosmosDatasink(spec, failed_dir=str(tmp_path))
    ray.data.from_items(documents(ROUND_TRIP)).repartition(8).write_datasink(sink)
    assert sink.report is not None and sink.report.ok, sink.report
    assert (len(sink.report.summaries), sink.report.succeeded) == (8, ROUND_TRIP)
    expected = {doc["id"]: doc for doc in documents(ROUND_TRIP)}
    assert stored(spec, cosmos_server) == expected
    rows = ray.data.read_datasource(CosmosDatasource(spec, split=2)).take_all()
    assert len(rows) == ROUND_TRIP
    assert {row["id"]: dict(row) for row in rows} == expected
    query = CosmosDatasource(spec, query="SELECT c.id, c.n FROM c WHERE c.n < @n",
                             parameters=[{"name": "@n", "value": 5}])
    assert sorted(row["n"] for row in ray.data.read_datasource(query).take_all()) == list(range(5))


def test_failed_operations_are_persisted(ray_local: None, cosmos_server: CosmosTestServer, tmp_path: Path) -> None:
    proxy = ProxyThread(cosmos_server.url)
    try:
        spec = new_container(cosmos_server, proxy.proxy.url)
        proxy.proxy.add_rule(Fault.status_code(400, message="refused"), kinds="batch",
                             where=lambda request: b'"poison":true' in request.body)
        good = ray.data.from_items(documents(2_000, poison=False)).repartition(2)
        bad = ray.data.from_items(documents(100, start=2_000, poison=True)).repartition(1)
        sink = CosmosDatasink(spec, failed_dir=str(tmp_path))
        good.union(bad).write_datasink(sink)
    finally:
        proxy.close()
    report = sink.report
    assert report is not None and report.rerun == [] and (report.succeeded, report.failed) == (2_000, 100)
    records = [orjson.loads(line) for name in report.failed_files for line in Path(name).read_bytes().splitlines()]
    assert sorted(r["item"]["n"] for r in records) == list(range(2_000, 2_100))
    assert all(r["status"] == 400 and r["item"]["poison"] is True for r in records)
    assert sorted(stored(spec, cosmos_server)) == sorted(f"d{i}" for i in range(2_000))


class DyingSink(CosmosDatasink):
    """The first attempt of write task 1 writes half its rows, then its worker process dies."""

    def __init__(self, *args: Any, marker: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marker = marker

    def write(self, blocks: Iterable[Any], ctx: Any) -> PartitionWriteSummary:
        if ctx.task_idx == 1 and not os.path.exists(self.marker):
            with open(self.marker, "w") as handle:
                handle.write(str(os.getpid()))
            rows = [row for block in blocks for row in block.to_pylist()]
            super().write([pa.Table.from_pylist(rows[: len(rows) // 2])], ctx)
            os._exit(1)
        return super().write(blocks, ctx)


def test_a_worker_killed_mid_write_is_run_again(ray_local: None, cosmos_server: CosmosTestServer,
                                                 tmp_path: Path) -> None:
    spec = new_container(cosmos_server)
    marker = str(tmp_path / "died")
    sink = DyingSink(spec, failed_dir=str(tmp_path / "failed"), marker=marker)
    ray.data.from_items(documents(4_000)).repartition(4).write_datasink(sink, ray_remote_args={"max_retries": 2})
    assert os.path.exists(marker)  # the worker did die mid-write
    report = sink.report
    assert report is not None and report.ok and report.rerun == [], report
    assert "nothing to re-run" in report.describe()
    assert sorted(s.partition for s in report.summaries) == [0, 1, 2, 3]
    dead = int(Path(marker).read_text())
    again = next(s for s in report.summaries if s.partition == 1)
    assert not again.worker.endswith(f":{dead}") and again.succeeded == 1_000  # task 1 ran again, whole
    assert stored(spec, cosmos_server) == {doc["id"]: doc for doc in documents(4_000)}


def test_incremental_export_from_saved_continuations(ray_local: None, cosmos_server: CosmosTestServer,
                                                     tmp_path: Path) -> None:
    spec = new_container(cosmos_server)
    ray.data.from_items(documents(300)).write_datasink(CosmosDatasink(spec, failed_dir=str(tmp_path / "f")))
    state_dir = str(tmp_path / "state")
    first = ray.data.read_datasource(CosmosDatasource(spec, state_dir=state_dir)).take_all()
    assert sorted(row["n"] for row in first) == list(range(300))
    saved = commit_read(state_dir)
    assert [p.index for p in saved] == [0] and saved[0].continuation
    # The local server's change feed stub answers any saved position with 304: no changes since.
    assert ray.data.read_datasource(CosmosDatasource(spec, state_dir=state_dir)).take_all() == []
