"""The ingest checkpoint's pieces: the settled-lines watermark, the file, the failed file's seeding."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import orjson
import pytest

from aiocosmos._cli.checkpoint import Checkpoint, CheckpointError, Settled, identify, options_of
from aiocosmos._cli.failures import FailedFile


def test_the_watermark_follows_out_of_order_completion() -> None:
    settled = Settled()
    for number in (3, 2, 5):
        settled.add(number)
    assert (settled.through, settled.above) == (0, {2, 3, 5})
    settled.add(1)
    assert (settled.through, settled.above) == (3, {5})
    settled.add(2)  # again: nothing changes
    assert (settled.through, settled.ranges(), len(settled)) == (3, [[5, 5]], 4)
    assert 3 in settled and 4 not in settled and 5 in settled


def test_ranges_round_trip_whatever_the_order() -> None:
    order = list(range(1, 2001))
    random.Random(7).shuffle(order)
    settled = Settled()
    for number in order[:1500]:
        settled.add(number)
    again = Settled.from_ranges(settled.through, settled.ranges())
    assert (again.through, again.above) == (settled.through, settled.above)
    assert {n for n in range(1, 2001) if n in again} == set(order[:1500])


def _args(path: Path, **changes: object) -> argparse.Namespace:
    values = {"file": str(path), "mode": "upsert", "database": "db", "container": "c", "from_failed": False}
    values.update(changes)
    return argparse.Namespace(**values)


def test_save_is_atomic_and_resume_checks_input_and_options(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"{}\n" * 10)
    path = str(tmp_path / "ck.json")
    checkpoint = Checkpoint(path, identify(str(source)), options_of(_args(source)), Settled(4, {6}))
    checkpoint.save({"records": 0})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "in.jsonl"]  # no temporary left
    resumed = Checkpoint.resume(path, _args(source))
    assert (resumed.settled.through, resumed.settled.above) == (4, {6})
    with pytest.raises(CheckpointError, match="--mode upsert"):
        Checkpoint.resume(path, _args(source, mode="create"))
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"{}\n" * 10)
    with pytest.raises(CheckpointError, match="another input"):
        Checkpoint.resume(path, _args(other))
    (tmp_path / "ck.json").write_bytes(orjson.dumps({"format": "something else"}))
    with pytest.raises(CheckpointError, match="not a usable checkpoint"):
        Checkpoint.resume(path, _args(source))


def test_seed_copies_exactly_the_counted_bytes_from_the_first_file_that_has_them(tmp_path: Path) -> None:
    first = FailedFile(str(tmp_path / "f.jsonl"))
    first.write({"line": 1, "error": "a"})
    first.write({"line": 2, "error": "b"})
    first.sync()
    state = first.state()
    first.write({"line": 3, "error": "not counted by the checkpoint"})
    first.finish(complete=False)  # the target now holds all three
    resumed = FailedFile(str(tmp_path / "f.jsonl"))
    used = resumed.seed([str(tmp_path / "gone.tmp"), state["target"]], state["bytes"], state["sha256"], 2)
    assert used == state["target"] and resumed.count == resumed.seeded == 2
    resumed.write({"line": 4, "error": "c"})
    resumed.finish(complete=True)
    assert [orjson.loads(line)["line"] for line in (tmp_path / "f.jsonl").read_bytes().splitlines()] == [1, 2, 4]
    tampered = FailedFile(str(tmp_path / "f.jsonl"))
    assert tampered.seed([str(tmp_path / "f.jsonl")], state["bytes"], "0" * 64, 2) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.jsonl"]


def test_a_resumed_run_with_the_same_process_id_copies_the_killed_runs_records(tmp_path: Path) -> None:
    # In a container the CLI is PID 1 every time: the killed run's temporary file had the name the
    # resumed run's would get, and opening it for writing truncated the records it was to copy.
    killed = FailedFile(str(tmp_path / "f.jsonl"))
    killed.write({"line": 1, "error": "a"})
    killed.sync()
    state = killed.state()
    assert killed._file is not None
    killed._file.close()  # ... then SIGKILL: the file is closed, nothing else happens (no finish())
    resumed = FailedFile(str(tmp_path / "f.jsonl"))
    assert resumed.seed([state["file"], state["target"]], state["bytes"], state["sha256"], 1) == state["file"]
    resumed.finish(complete=True)
    assert [orjson.loads(line)["line"] for line in (tmp_path / "f.jsonl").read_bytes().splitlines()] == [1]
