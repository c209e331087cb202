"""``aiocosmos ingest`` interrupted (SIGTERM, SIGINT, twice, SIGKILL) and resumed with ``--resume``.

Real subprocesses against the local server through a ``FaultProxy`` that holds every bulk answer back
(``slow_headers``), so that a run is still going when it gets its signal; the proxy's observer records
the ids of every document sent, so the tests check that what the checkpoint says is settled is not
sent again. Every wait is on an observable event (a request at the proxy, a line on stderr, a document
at the server, the checkpoint on disk), never on a sleep alone.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import aiocosmos
from aiocosmos._cli.checkpoint import Checkpoint, Settled, identify
from aiocosmos.testing import Fault, FaultProxy
from aiocosmos.testing.rules import ProxyRequest
from tests.integration.test_cli import all_items, records_of, run_cli
from tests.server import CosmosTestServer

WAIT = 60.0


class Sent:
    """A proxy observer: the document ids of every bulk request, in order of arrival."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.ids: list[str] = []
        self.batches = 0
        self._proxy = proxy
        self._changed = asyncio.Event()
        proxy.observers.append(self)

    def __call__(self, info: ProxyRequest) -> None:
        if info.kind == "batch":
            self.ids.extend(str(op["resourceBody"]["id"]) for op in orjson.loads(info.body))
            self.batches += 1
            self._changed.set()

    def detach(self) -> None:
        self._proxy.observers.remove(self)

    async def wait_for(self, batches: int) -> None:
        async def reached() -> None:
            while self.batches < batches:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(reached(), WAIT)


async def until(condition: Callable[[], Any], what: str) -> None:
    """Poll ``condition`` (sync or async) until it is true: for events seen only by looking."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def proxy_conn(proxy: FaultProxy, server: CosmosTestServer) -> str:
    return f"AccountEndpoint={proxy.url}/;AccountKey={server.key};"


async def start_cli(*args: str) -> asyncio.subprocess.Process:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COSMOS_")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiocosmos", *args, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def read_stderr_until(process: asyncio.subprocess.Process, needle: str) -> str:
    """Read stderr line by line until a line contains ``needle``; returns what was read."""
    assert process.stderr is not None
    seen: list[str] = []

    async def read() -> None:
        assert process.stderr is not None
        while True:
            line = (await process.stderr.readline()).decode()
            assert line, f"stderr ended before {needle!r}: {''.join(seen)}"
            seen.append(line)
            if needle in line:
                return
    await asyncio.wait_for(read(), WAIT)
    return "".join(seen)


async def finish(process: asyncio.subprocess.Process, earlier: str = "") -> tuple[int, str]:
    _, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode is not None
    return process.returncode, earlier + err.decode()


def hint_words(err: str, prefix: str, conn: str) -> list[str]:
    """The printed "<prefix> aiocosmos ..." hint as arguments, with the connection string added."""
    line = next(line for line in err.splitlines() if line.startswith(prefix))
    words = shlex.split(line.removeprefix(prefix))
    assert words[0] == "aiocosmos", line
    return ["--connection-string", conn, *words[1:]]


def settled_lines(checkpoint: Path) -> set[int]:
    state = orjson.loads(checkpoint.read_bytes())
    lines = set(range(1, state["settled_through"] + 1))
    for first, last in state["settled_above"]:
        lines.update(range(first, last + 1))
    return lines


class Input:
    """``count`` lines, every 200th (from line 51) not JSON and every 200th (from line 151) an id with
    '/' (refused before any I/O) when ``bad`` is set; ``good[line]`` is the document of each good line."""

    def __init__(self, path: Path, count: int, *, bad: bool) -> None:
        self.path = path
        self.good: dict[int, dict[str, Any]] = {}
        self.bad: set[int] = set()
        lines = []
        for line in range(1, count + 1):
            if bad and line % 200 == 51:
                lines.append(b"{not json")
                self.bad.add(line)
                continue
            document: dict[str, Any] = {"id": f"bad/{line}" if bad and line % 200 == 151 else f"d{line}",
                                        "pk": f"p{line % 7}", "n": line, "text": f"line {line}"}
            lines.append(orjson.dumps(document))
            if "/" in document["id"]:
                self.bad.add(line)
            else:
                self.good[line] = document
        path.write_bytes(b"\n".join(lines) + b"\n")

    def ids(self, lines: set[int]) -> set[str]:
        return {self.good[line]["id"] for line in lines if line in self.good}

    def documents(self, lines: set[int] | None = None) -> dict[str, dict[str, Any]]:
        return {d["id"]: d for line, d in self.good.items() if lines is None or line in lines}


async def present(container: aiocosmos.ContainerProxy) -> set[str]:
    return set(await all_items(container))


@pytest.mark.parametrize(("signum", "bad"), [(signal.SIGTERM, True), (signal.SIGINT, False)],
                         ids=["sigterm-with-failures", "sigint-clean"])
async def test_a_signal_stops_the_run_cleanly_and_resume_finishes_it_without_resending(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path, signum: signal.Signals,
    bad: bool,
) -> None:
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    source = Input(tmp_path / "items.jsonl", 1500, bad=bad)
    checkpoint = tmp_path / "items.jsonl.checkpoint.json"
    failed = tmp_path / "items.jsonl.failed.jsonl"
    try:
        async with FaultProxy(cosmos_server.url, seed=1) as proxy:
            conn = proxy_conn(proxy, cosmos_server)
            proxy.add_rule(Fault.slow_headers(0.2), kinds=("batch",))
            first = Sent(proxy)
            process = await start_cli("--connection-string", conn, "ingest", str(source.path), "-d", database.id,
                                      "-c", "items", "--max-pending", "100", "--max-concurrency-per-range", "1",
                                      "--no-progress")
            await first.wait_for(4)
            process.send_signal(signum)
            code, err = await finish(process)
            first.detach()
            assert code == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum], err
            assert f"interrupted by {signum.name}" in err and "done: " in err and "Traceback" not in err, err
            assert "resume with: " in err and "--resume" in err, err

            # The checkpoint: what was sent was finished (the first signal lets in-flight work end), so
            # exactly the settled lines' documents are there and nothing else was sent.
            settled = settled_lines(checkpoint)
            assert 0 < len(settled) < 1500
            assert set(first.ids) == source.ids(settled)
            assert await all_items(container) == source.documents(settled)
            if bad:
                assert sorted(r["line"] for r in records_of(failed)) == sorted(source.bad & settled)
            else:
                assert not failed.exists()

            # --resume as printed: only the unsettled lines are sent, the end state is exact.
            proxy.clear_rules()
            second = Sent(proxy)
            code, _, err = await run_cli(*hint_words(err, "resume with: ", conn))
            assert code == (1 if bad else 0), err
            assert f"{len(settled):,} lines skipped as settled before" in err, err
            assert not set(second.ids) & set(first.ids)
            assert set(second.ids) == source.ids(set(range(1, 1501)) - settled)
        assert await all_items(container) == source.documents()
        assert not checkpoint.exists()
        if bad:
            records = records_of(failed)
            assert sorted(r["line"] for r in records) == sorted(source.bad), "each bad line recorded exactly once"
        else:
            assert not failed.exists()
        assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    finally:
        await client.delete_database(database)


async def test_a_second_sigterm_cancels_what_is_in_flight_and_resume_sends_it_again(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    # Create mode: the cancelled batch was applied by the server (its answer never came back), so the
    # resume gets a 409 for each of its documents, reads them back, finds them equal: "already there".
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    source = Input(tmp_path / "items.jsonl", 1000, bad=False)
    checkpoint = tmp_path / "items.jsonl.checkpoint.json"
    try:
        async with FaultProxy(cosmos_server.url, seed=1) as proxy:
            conn = proxy_conn(proxy, cosmos_server)
            proxy.add_rule(Fault.slow_headers(0.2), kinds=("batch",), times=3)
            proxy.add_rule(Fault.slow_headers(WAIT), kinds=("batch",))  # the answers held until cancelled
            first = Sent(proxy)
            process = await start_cli("--connection-string", conn, "ingest", str(source.path), "-d", database.id,
                                      "-c", "items", "--mode", "create", "--max-pending", "100",
                                      "--max-concurrency-per-range", "1", "--no-progress")
            await first.wait_for(4)
            sent = set(first.ids)
            await until(lambda: _all_there(container, sent), "the held batch to be applied")
            process.send_signal(signal.SIGTERM)
            err = await read_stderr_until(process, "stopping; no more input is read")
            process.send_signal(signal.SIGTERM)
            code, err = await finish(process, err)
            first.detach()
            sent = set(first.ids)
            await until(lambda: _all_there(container, sent), "every batch sent to be applied")
            assert code == 143, err
            assert "cancelling the operations in flight" in err and "were cancelled" in err, err
            settled = settled_lines(checkpoint)
            there = await present(container)
            applied_unsettled = there - source.ids(settled)
            assert applied_unsettled, "the held batch was applied but is not settled"

            proxy.clear_rules()
            second = Sent(proxy)
            code, _, err = await run_cli(*hint_words(err, "resume with: ", conn))
            assert code == 0, err
            unsettled = source.ids(set(range(1, 1001)) - settled)
            assert set(second.ids) == unsettled and not source.ids(settled) & set(second.ids)
            written = len(unsettled - applied_unsettled)
            assert f"done: {written:,} written, 0 failed, {len(applied_unsettled):,} already there" in err, err
        assert await all_items(container) == source.documents()
        assert not checkpoint.exists()
    finally:
        await client.delete_database(database)


async def _all_there(container: aiocosmos.ContainerProxy, ids: set[str]) -> bool:
    return ids <= await present(container)


async def test_sigkill_mid_run_then_resume_reaches_the_exact_state(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    # No handler runs on SIGKILL: the checkpoint is the last periodic one, the failed records are in the
    # killed run's temporary file. The resume copies exactly the records the checkpoint counts, sends
    # every unsettled line (create mode: those applied already are found equal) and ends exact.
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    source = Input(tmp_path / "items.jsonl", 3000, bad=True)
    checkpoint = tmp_path / "items.jsonl.checkpoint.json"
    failed = tmp_path / "items.jsonl.failed.jsonl"
    try:
        async with FaultProxy(cosmos_server.url, seed=1) as proxy:
            conn = proxy_conn(proxy, cosmos_server)
            proxy.add_rule(Fault.slow_headers(0.2), kinds=("batch",))
            first = Sent(proxy)
            process = await start_cli("--connection-string", conn, "ingest", str(source.path), "-d", database.id,
                                      "-c", "items", "--mode", "create", "--max-pending", "100",
                                      "--max-concurrency-per-range", "1", "--no-progress")
            await until(lambda: checkpoint.exists() and len(settled_lines(checkpoint)) > 300,
                        "a periodic checkpoint past line 300")
            process.kill()
            await asyncio.wait_for(process.wait(), WAIT)
            first.detach()
            sent = set(first.ids)
            await until(lambda: _all_there(container, sent), "every batch sent to be applied")
            settled = settled_lines(checkpoint)
            assert len(settled) < 3000
            assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")], "the killed run's records"
            applied_unsettled = await present(container) - source.ids(settled)

            proxy.clear_rules()
            second = Sent(proxy)
            code, _, err = await run_cli("--connection-string", conn, "ingest", str(source.path), "-d", database.id,
                                         "-c", "items", "--mode", "create", "--resume", "--no-progress")
            assert code == 1, err  # the bad lines
            unsettled = source.ids(set(range(1, 3001)) - settled)
            assert set(second.ids) == unsettled and not source.ids(settled) & set(second.ids)
            written = len(unsettled - applied_unsettled)
            there = f", {len(applied_unsettled):,} already there" if applied_unsettled else ""
            assert f"done: {written:,} written, {len(source.bad):,} failed{there}" in err, err
        assert await all_items(container) == source.documents()
        assert sorted(r["line"] for r in records_of(failed)) == sorted(source.bad)
        assert not checkpoint.exists()
        assert not [name for name in os.listdir(tmp_path) if "failed" in name and name.endswith(".tmp")]
    finally:
        await client.delete_database(database)


async def test_resume_refuses_a_checkpoint_of_another_input_or_other_options_before_any_io(
    cosmos_server: CosmosTestServer, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b'{"id": "1", "pk": "p"}\n{"id": "2", "pk": "p"}\n')
    b.write_bytes(b'{"id": "3", "pk": "p"}\n')
    of_a = tmp_path / "a.jsonl.checkpoint.json"
    options = {"mode": "upsert", "database": "db", "container": "c", "from_failed": False}
    Checkpoint(str(of_a), identify(str(a)), options, Settled(1)).save(
        {"file": None, "target": str(a) + ".failed.jsonl", "bytes": 0, "records": 0, "sha256": ""})
    async with FaultProxy(cosmos_server.url) as proxy:
        conn = proxy_conn(proxy, cosmos_server)

        async def refused(*args: str) -> str:
            before = of_a.read_bytes()
            code, _, err = await run_cli("--connection-string", conn, "ingest", *args, "-d", "db", "-c", "c")
            assert code == 2 and "Traceback" not in err, err
            assert of_a.read_bytes() == before, "a refused resume leaves the checkpoint as it was"
            return err

        assert "belongs to another input" in await refused(str(b), "--checkpoint", str(of_a), "--resume")
        err = await refused(str(a), "--resume", "--mode", "create")
        assert "--mode upsert" in err and "--mode create" in err and "same options" in err
        assert "--from-failed" in await refused(str(a), "--resume", "--from-failed")
        assert "no checkpoint at" in await refused(str(b), "--resume")
        assert "stdin" in await refused("-", "--resume")
        with a.open("ab") as f:
            f.write(b'{"id": "4", "pk": "p"}\n')
        assert "the input changed since" in await refused(str(a), "--resume")

        # A checkpoint counting failed records that are gone.
        a.write_bytes(a.read_bytes()[:-1] + b"\n")
        Checkpoint(str(of_a), identify(str(a)), options, Settled(1)).save(
            {"file": str(tmp_path / "gone.tmp"), "target": str(tmp_path / "gone.jsonl"), "bytes": 10,
             "records": 1, "sha256": "0" * 64})
        assert "failed-operation records of the earlier run are no longer in" in await refused(str(a), "--resume")
        assert proxy.requests == 0
    assert not [p for p in os.listdir(tmp_path) if "failed" in p or p.endswith(".tmp")]


async def test_from_failed_into_the_same_file_interrupted_then_resumed(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    # --from-failed F --failed F: an interrupted run leaves F (its input) as it was and keeps its records
    # in the temporary file the checkpoint names; the resume reads F, starts from those records, and
    # only then replaces F.
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    failed = tmp_path / "items.jsonl.failed.jsonl"
    records = [{"line": i + 1, "item": {"id": f"bad/{i}" if i % 2 else f"i{i}", "pk": f"p{i % 7}", "n": i},
                "status": 503, "error": "earlier run"} for i in range(1000)]
    failed.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    original = failed.read_bytes()
    try:
        async with FaultProxy(cosmos_server.url, seed=1) as proxy:
            conn = proxy_conn(proxy, cosmos_server)
            proxy.add_rule(Fault.slow_headers(0.2), kinds=("batch",))
            first = Sent(proxy)
            process = await start_cli("--connection-string", conn, "ingest", str(failed), "--from-failed",
                                      "-d", database.id, "-c", "items", "--failed", str(failed),
                                      "--max-pending", "50", "--max-concurrency-per-range", "1", "--no-progress")
            await first.wait_for(3)
            process.send_signal(signal.SIGTERM)
            code, err = await finish(process)
            first.detach()
            assert code == 143, err
            assert failed.read_bytes() == original, "the input F is left as it was"
            state = orjson.loads((tmp_path / "items.jsonl.failed.jsonl.checkpoint.json").read_bytes())
            assert state["failed"]["file"].endswith(".tmp") and state["failed"]["records"] > 0

            proxy.clear_rules()
            second = Sent(proxy)
            code, _, err = await run_cli(*hint_words(err, "resume with: ", conn))
            assert code == 1, err
            assert not set(first.ids) & set(second.ids)
        kept = records_of(failed)
        assert sorted(r["line"] for r in kept) == list(range(2, 1001, 2))
        assert all(r["item"]["id"] == f"bad/{r['line'] - 1}" and r["status"] == 400 for r in kept)
        assert await all_items(container) == {f"i{i}": {"id": f"i{i}", "pk": f"p{i % 7}", "n": i}
                                              for i in range(0, 1000, 2)}
        assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    finally:
        await client.delete_database(database)
