"""The connectors' engine-free parts: no engine imported by ``import aiocosmos``, a key that never
shows, EPK splits that tile their range, write reports that say what to re-run, incremental state."""

from __future__ import annotations

import itertools
import math
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from aiocosmos import FeedRange, PartitionKey, ThroughputControlGroupConfig
from aiocosmos._feeds.routing import feed_range_for_partition_key
from aiocosmos.exceptions import ConfigurationError, ValidationError
from aiocosmos.integrations import CosmosConnection, PartitionWriteSummary, ReadPartition, WriteReport, state
from aiocosmos.integrations.plan import split_feed_range
from aiocosmos.integrations.writing import plain_records

KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHM="


def test_importing_aiocosmos_imports_no_engine() -> None:
    code = ("import sys, aiocosmos, aiocosmos.integrations\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed', 'ray', 'pandas', 'pyarrow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_connection_never_shows_its_key() -> None:
    spec = CosmosConnection("https://acct.documents.azure.com", "db", "items", key=KEY)
    assert KEY not in repr(spec) and KEY not in str(spec) and "key=<hidden>" in repr(spec)
    assert KEY not in repr(spec.__dask_tokenize__())
    copy = pickle.loads(pickle.dumps(spec))
    assert copy == spec and hash(copy) == hash(spec) and copy.credential() == KEY
    assert spec != CosmosConnection("https://acct.documents.azure.com", "db", "items", key=KEY + "x")


def test_a_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = CosmosConnection("https://a.documents.azure.com", "db", "c", key_env="AIOCOSMOS_TEST_KEY")
    assert "AIOCOSMOS_TEST_KEY" in repr(spec)
    with pytest.raises(ConfigurationError, match="AIOCOSMOS_TEST_KEY"):
        spec.credential()
    monkeypatch.setenv("AIOCOSMOS_TEST_KEY", KEY)
    assert spec.credential() == KEY
    with pytest.raises(ConfigurationError, match="exactly one"):
        CosmosConnection("https://a.documents.azure.com", "db", "c")
    with pytest.raises(ConfigurationError, match="exactly one"):
        CosmosConnection("https://a.documents.azure.com", "db", "c", key=KEY, key_env="X")


@pytest.mark.parametrize("pieces", [1, 2, 3, 7, 16])
@pytest.mark.parametrize("whole", [FeedRange.full(), FeedRange("", "3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"),
                                   FeedRange("1A", "1B")])
def test_an_epk_split_tiles_its_range(whole: FeedRange, pieces: int) -> None:
    parts = split_feed_range(whole, pieces)
    assert len(parts) == pieces
    assert parts[0].min == whole.min and parts[-1].max == whole.max
    assert all(a.max == b.min and a.min < a.max for a, b in itertools.pairwise(parts))
    assert parts[-1].min < parts[-1].max
    definition = PartitionKey("/pk")
    for value in [f"p{i}" for i in range(300)] + list(range(50)):
        epk = feed_range_for_partition_key(definition, value).min
        if whole.min <= epk < whole.max:
            assert sum(p.min <= epk < p.max for p in parts) == 1


def test_an_epk_split_refuses_nonsense() -> None:
    with pytest.raises(ValidationError):
        split_feed_range(FeedRange.full(), 0)
    with pytest.raises(ValidationError):
        split_feed_range(FeedRange.full(), 10_000)


def test_rows_become_plain_documents() -> None:
    numpy = pytest.importorskip("numpy")
    rows = [{"id": "a", "n": numpy.int64(3), "x": math.nan, "v": numpy.array([1, 2]), "s": None}]
    assert plain_records(rows) == [{"id": "a", "n": 3, "v": [1, 2], "s": None}]
    assert type(plain_records(rows)[0]["n"]) is int


def summary(index: int, total: int, failed: int = 0) -> PartitionWriteSummary:
    return PartitionWriteSummary(index, total, total - failed, failed, 0, float(total), 0.1,
                                 f"/f/part-{index:05d}.failed.jsonl" if failed else None,
                                 ((403, failed),) if failed else (), (), "host:1")


def test_the_report_says_exactly_what_to_re_run() -> None:
    report = WriteReport("upsert", (summary(0, 10), summary(2, 10, failed=3)), {1: "KilledWorker: gone", 3: "boom"})
    assert report.rerun == [1, 3] and not report.ok
    assert (report.total, report.succeeded, report.failed) == (20, 17, 3)
    text = report.describe()
    assert "2 of 4 partitions finished" in text
    assert "re-run partitions=[1, 3] (safe: upsert is idempotent)" in text
    assert "/f/part-00002.failed.jsonl" in text
    done = WriteReport("upsert", (summary(0, 10),))
    assert done.ok and done.rerun == [] and "nothing to re-run" in done.describe()
    assert "409" in WriteReport("create", (), {0: "x"}).describe()


def test_incremental_state_moves_only_when_committed(tmp_path: Path) -> None:
    directory = str(tmp_path)
    assert state.load(directory) is None
    state.start_read(directory)
    halves = split_feed_range(FeedRange.full(), 2)
    state.save_pending(directory, ReadPartition(1, halves[1], "acf1.b"))
    with pytest.raises(ValidationError):
        state.commit(directory, expected=2)  # one partition has not saved its continuation
    assert state.load(directory) is None
    state.save_pending(directory, ReadPartition(0, halves[0], "acf1.a"))
    assert [p.continuation for p in state.commit(directory, expected=2)] == ["acf1.a", "acf1.b"]
    assert state.load(directory) == [ReadPartition(0, halves[0], "acf1.a"), ReadPartition(1, halves[1], "acf1.b")]
    with pytest.raises(ValidationError):
        state.commit(directory)  # nothing pending any more


def test_a_connection_carries_a_throughput_group_to_every_worker() -> None:
    spec = CosmosConnection("https://a.documents.azure.com", "db", "items", key="secret")
    group = ThroughputControlGroupConfig("load", target_throughput=1000)
    assert spec.in_group(None, None) is spec
    shared = spec.in_group(group, "control")
    assert (shared.throughput_group, shared.global_control_container) == (group, "control")
    assert pickle.loads(pickle.dumps(shared)) == shared and shared != spec  # a separate client per spec
    assert "secret" not in repr(shared)
    with pytest.raises(ConfigurationError, match="global_control_container needs throughput_group"):
        CosmosConnection("https://a.documents.azure.com", "db", "items", key="k", global_control_container="c")
    with pytest.raises(ConfigurationError, match="must name another container, got 'items'"):
        spec.in_group(group, "items")
    with pytest.raises(ConfigurationError, match="renew_interval"):
        CosmosConnection("https://a.documents.azure.com", "db", "items", key="k", throughput_group=group,
                         global_control_container="c", renew_interval=0.1)
    with pytest.raises(ConfigurationError, match="throughput_group must be a ThroughputControlGroupConfig"):
        CosmosConnection("https://a.documents.azure.com", "db", "items", key="k",
                         throughput_group="load")  # type: ignore[arg-type]
