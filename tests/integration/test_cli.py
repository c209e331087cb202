"""``python -m aiocosmos ingest/export`` end to end against the local server (real subprocesses)."""

from __future__ import annotations

import asyncio
import gzip
import os
import shlex
import sys
import uuid
import zlib
from pathlib import Path
from typing import Any

import orjson

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy
from aiocosmos.testing.rules import ProxyRequest
from tests.server import EMULATOR_KEY, CosmosTestServer


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COSMOS_")}
    environment.update(env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiocosmos", *args, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out, err.decode()


def conn(server: CosmosTestServer) -> str:
    return f"AccountEndpoint={server.url}/;AccountKey={server.key};"


async def test_ingest_a_gz_file_then_export_it_back(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    database = f"cli-{uuid.uuid4().hex[:8]}"
    documents = [{"id": f"o{i}", "customerId": f"c{i % 50}", "total": i, "tags": ["a", i]} for i in range(3000)]
    source = tmp_path / "orders.jsonl.gz"
    with gzip.open(source, "wb") as f:
        for i, d in enumerate(documents):
            f.write(orjson.dumps(d) + b"\n")
            if i == 10:
                f.write(b"{not json\n")                      # line 12
        f.write(orjson.dumps({"id": "bad/id", "customerId": "c1"}) + b"\n")   # refused before I/O
    failed = tmp_path / "failed.jsonl"
    try:
        code, _, err = await run_cli("--connection-string", conn(cosmos_server), "ingest", str(source),
                                     "-d", database, "-c", "orders", "--create-container",
                                     "--partition-key", "/customerId", "--failed", str(failed), "--no-progress")
        assert code == 1, err
        assert "done: 3,000 written, 2 failed" in err, err
        records = [orjson.loads(line) for line in failed.read_bytes().splitlines()]
        assert [r["line"] for r in records] == [12, 3002]
        assert "invalid JSON" in records[0]["error"] and records[1]["item"]["id"] == "bad/id"

        # Export with the endpoint and key from the environment.
        code, out, err = await run_cli("export", "-d", database, "-c", "orders",
                                       env={"COSMOS_ENDPOINT": cosmos_server.url, "COSMOS_KEY": cosmos_server.key})
        assert code == 0, err
        exported = sorted((orjson.loads(line) for line in out.splitlines()), key=lambda d: d["total"])
        assert exported == documents

        code, out, err = await run_cli("--connection-string", conn(cosmos_server), "export", "-d", database,
                                       "-c", "orders", "--query", "SELECT * FROM c WHERE c.total < 5")
        assert code == 0 and len(out.splitlines()) == 5, err
    finally:
        await client.delete_database(database)


async def test_failed_creates_are_written_and_a_rerun_picks_them_up(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    try:
        await container.create_item({"id": "i7", "pk": "p", "old": True})
        source = tmp_path / "items.jsonl"
        items: list[dict[str, Any]] = [{"id": f"i{i}", "pk": "p", "n": i} for i in range(20)]
        source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in items))
        code, _, err = await run_cli("--connection-string", conn(cosmos_server), "ingest", str(source),
                                     "-d", database.id, "-c", "items", "--mode", "create", "--no-progress")
        assert code == 1, err
        failed = source.with_name(source.name + ".failed.jsonl")
        records = [orjson.loads(line) for line in failed.read_bytes().splitlines()]
        assert [(r["line"], r["status"], r["item"]["id"]) for r in records] == [(8, 409, "i7")]
        assert "--from-failed" in err

        await container.delete_item("i7", partition_key="p")
        code, _, err = await run_cli("--connection-string", conn(cosmos_server), "ingest", str(failed),
                                     "--from-failed", "-d", database.id, "-c", "items", "--mode", "create",
                                     "--failed", str(tmp_path / "again.jsonl"))
        assert code == 0, err
        assert (await container.read_item("i7", partition_key="p"))["n"] == 7
        assert not (tmp_path / "again.jsonl").exists()
    finally:
        await client.delete_database(database)


async def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    source = tmp_path / "x.jsonl"
    source.write_bytes(b"{}\n")
    code, _, err = await run_cli("ingest", str(source), "-d", "d", "-c", "c",
                                 env={"COSMOS_ENDPOINT": "http://127.0.0.1:9/"})
    assert code == 2 and "COSMOS_KEY" in err


def records_of(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def rerun_words(err: str, server_url: str) -> list[str]:
    """The printed "re-run with: aiocosmos ..." hint as arguments, with the connection string added."""
    line = next(line for line in err.splitlines() if line.startswith("re-run with: "))
    words = shlex.split(line.removeprefix("re-run with: "))
    assert words[0] == "aiocosmos", line
    return ["--connection-string", f"AccountEndpoint={server_url}/;AccountKey={EMULATOR_KEY};", *words[1:]]


async def all_items(container: aiocosmos.ContainerProxy) -> dict[str, dict[str, Any]]:
    return {d["id"]: {k: v for k, v in d.items() if not k.startswith("_")}
            async for d in container.read_all_items()}


async def test_from_failed_into_the_same_file_keeps_every_record(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    # Defect 3: F was truncated while it was still being read. 20,000 records, every other one refused
    # before I/O (an id with '/'): afterwards F holds exactly those 10,000, and the rest are written.
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    try:
        failed = tmp_path / "items.jsonl.failed.jsonl"
        records = [{"line": i + 1, "item": {"id": f"bad/{i}" if i % 2 else f"i{i}", "pk": f"p{i % 7}", "n": i},
                    "status": 0, "error": "earlier run"} for i in range(20_000)]
        failed.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        code, _, err = await run_cli("--connection-string", conn(cosmos_server), "ingest", str(failed),
                                     "--from-failed", "-d", database.id, "-c", "items", "--failed", str(failed),
                                     "--no-progress")
        assert code == 1, err
        assert "done: 10,000 written, 10,000 failed" in err, err
        kept = records_of(failed)
        assert sorted(r["line"] for r in kept) == list(range(2, 20_001, 2))
        assert all(r["item"]["id"] == f"bad/{r['line'] - 1}" and r["status"] == 400 for r in kept)
        written = await all_items(container)
        assert written == {f"i{i}": {"id": f"i{i}", "pk": f"p{i % 7}", "n": i} for i in range(0, 20_000, 2)}
        assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    finally:
        await client.delete_database(database)


async def test_create_mode_rerun_after_ambiguous_failures_ends_clean_and_never_overwrites(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    # Defect 1: every write of the first run is applied, then the connection is reset (ambiguous).
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    try:
        await container.create_item({"id": "i3", "pk": "p3", "old": True})  # create refuses it, every time
        items = [{"id": f"i{i}", "pk": f"p{i}", "n": i} for i in range(40)]
        source = tmp_path / "items.jsonl"
        source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in items))
        failed = tmp_path / "items.jsonl.failed.jsonl"
        sent: set[str] = set()  # the ids of every batch so far

        def replayed(request: ProxyRequest) -> bool:
            return any(op["resourceBody"]["id"] in sent for op in orjson.loads(request.body))

        def first_send(request: ProxyRequest) -> bool:
            sent.update(op["resourceBody"]["id"] for op in orjson.loads(request.body))
            return True

        async with FaultProxy(cosmos_server.url, seed=1) as proxy:
            # However the reader's pace splits the 40 lines into batches (a partial batch goes after 100 ms),
            # each batch is applied, then its connection reset; bulk replays the creates, and that replay is
            # refused (403/3, surfaced), so the run ends with every create unresolved.
            proxy.add_rule(Fault.write_forbidden(), kinds=("batch",), where=replayed)
            proxy.add_rule(Fault.reset_after(), kinds=("batch",), where=first_send)
            code, _, err = await run_cli("--connection-string", f"AccountEndpoint={proxy.url}/;AccountKey="
                                         f"{cosmos_server.key};", "ingest", str(source), "-d", database.id,
                                         "-c", "items", "--mode", "create", "--no-progress")
            assert proxy.counts()["reset_after"] >= 1 and sent == {d["id"] for d in items}
        assert code == 1, err
        records = records_of(failed)
        assert sorted(r["item"]["id"] for r in records) == sorted(d["id"] for d in items)
        assert all(r["may_have_been_applied"] is True for r in records)
        words = rerun_words(err, cosmos_server.url)
        assert words[words.index("--mode") + 1] == "create"

        # Run verbatim: the 39 applied writes are found equal and count as done; i3 is still refused.
        code, _, err = await run_cli(*words)
        assert code == 1, err
        assert "done: 0 written, 1 failed, 39 already there" in err, err
        [record] = records_of(failed)
        assert (record["item"]["id"], record["status"]) == ("i3", 409) and "differs" in record["error"]
        assert "may_have_been_applied" not in record
        assert (await container.read_item("i3", partition_key="p3"))["old"] is True

        # Once i3 is out of the way the re-run ends clean and the failed file goes away.
        await container.delete_item("i3", partition_key="p3")
        code, _, err = await run_cli(*rerun_words(err, cosmos_server.url))
        assert code == 0, err
        assert "removed the failed-operations file" in err and not failed.exists()
        assert await all_items(container) == {d["id"]: d for d in items}
    finally:
        await client.delete_database(database)


async def test_a_clean_run_removes_the_stale_failed_file(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    try:
        source = tmp_path / "items.jsonl"
        source.write_bytes(b'{"id": "a", "pk": "p"}\n')
        stale = tmp_path / "items.jsonl.failed.jsonl"
        stale.write_bytes(b'{"line": 1, "item": {"id": "a", "pk": "p"}, "status": 503, "error": "old"}\n')
        code, _, err = await run_cli("--connection-string", conn(cosmos_server), "ingest", str(source),
                                     "-d", database.id, "-c", "items", "--no-progress")
        assert code == 0, err
        assert not stale.exists() and f"removed the failed-operations file {stale}" in err
    finally:
        await client.delete_database(database)


async def test_a_truncated_gz_input_is_ingested_up_to_the_cut_with_a_summary_and_a_record(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    try:
        documents = [{"id": f"d{i}", "pk": f"p{i % 5}", "text": f"line {i} " * 8} for i in range(3000)]
        whole = gzip.compress(b"".join(orjson.dumps(d) + b"\n" for d in documents))
        source = tmp_path / "cut.jsonl.gz"
        source.write_bytes(whole[: len(whole) // 2])
        readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(whole[: len(whole) // 2])
        complete = readable.count(b"\n")
        assert 0 < complete < 3000
        code, _, err = await run_cli("--connection-string", conn(cosmos_server), "ingest", str(source),
                                     "-d", database.id, "-c", "items", "--no-progress")
        assert code == 1, err
        assert "Traceback" not in err and "truncated or corrupt" in err, err
        assert f"done: {complete:,} written, 1 failed" in err, err
        failed = tmp_path / "cut.jsonl.gz.failed.jsonl"
        [record] = records_of(failed)
        assert record["line"] == complete + 1 and "truncated or corrupt" in record["error"]
        assert record["raw"] == readable.rsplit(b"\n", 1)[1].decode()
        assert await all_items(container) == {d["id"]: d for d in documents[:complete]}

        # The record is re-runnable: as it is, it is carried over unchanged; completed by hand, it is written.
        code, _, err = await run_cli(*rerun_words(err, cosmos_server.url))
        assert code == 1 and records_of(failed) == [record], err
        failed.write_bytes(orjson.dumps({**record, "raw": orjson.dumps(documents[complete]).decode()}) + b"\n")
        code, _, err = await run_cli(*rerun_words(err, cosmos_server.url))
        assert code == 0, err
        assert (await container.read_item(f"d{complete}", partition_key=f"p{complete % 5}"))["text"] == \
            documents[complete]["text"]
    finally:
        await client.delete_database(database)


async def test_bom_surrogates_and_oversized_keys_get_clear_re_runnable_records(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    try:
        source = tmp_path / "excel.jsonl"
        source.write_bytes(b"\xef\xbb\xbf" + b'{"id": "first", "pk": "p"}\n'          # line 1 after a BOM
                           b'{"id": "lone\\ud800", "pk": "p"}\n'                       # line 2: a lone surrogate
                           + orjson.dumps({"id": "big", "pk": "k" * 2049}) + b"\n"     # line 3: key over 2 KB
                           b'{"id": "last", "pk": "p"}\n')
        code, _, err = await run_cli("--connection-string", conn(cosmos_server), "ingest", str(source),
                                     "-d", database.id, "-c", "items", "--no-progress")
        assert code == 1, err
        assert "Traceback" not in err and "done: 2 written, 2 failed" in err, err
        failed = tmp_path / "excel.jsonl.failed.jsonl"
        surrogate, big = records_of(failed)
        assert surrogate["line"] == 2 and "surrogate" in surrogate["error"]
        assert surrogate["raw"] == '{"id": "lone\\ud800", "pk": "p"}'
        assert big["line"] == 3 and big["status"] == 400 and "2048" in big["error"] and big["item"]["id"] == "big"
        assert sorted(await all_items(container)) == ["first", "last"]

        # Fixed by hand, both records are picked up by the printed re-run.
        surrogate["raw"] = '{"id": "lone\\ud83d\\ude00", "pk": "p"}'
        big["item"]["pk"] = "k" * 2048
        failed.write_bytes(orjson.dumps(surrogate) + b"\n" + orjson.dumps(big) + b"\n")
        code, _, err = await run_cli(*rerun_words(err, cosmos_server.url))
        assert code == 0, err
        assert sorted(await all_items(container)) == ["big", "first", "last", "lone\U0001f600"]
        assert not failed.exists()
    finally:
        await client.delete_database(database)


async def test_a_slow_producer_on_stdin_is_ingested_as_it_arrives(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    # Defect 5: with stdin a pipe from a producer that writes a few lines and then pauses, the reader
    # blocked the event loop and nothing was sent until EOF. Now the 100 ms flush timer sends them.
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COSMOS_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiocosmos", "--connection-string", conn(cosmos_server), "ingest", "-",
        "-d", database.id, "-c", "items", "--failed", str(tmp_path / "stdin.failed.jsonl"),
        env=environment, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert process.stdin is not None and process.stderr is not None
    try:
        for batch in range(3):
            for i in range(5):
                process.stdin.write(orjson.dumps({"id": f"b{batch}-{i}", "pk": f"p{i}"}) + b"\n")
            await process.stdin.drain()
            # The producer pauses with the pipe open: the documents must reach the server meanwhile.
            expected = {f"b{b}-{i}" for b in range(batch + 1) for i in range(5)}
            deadline = asyncio.get_running_loop().time() + 10
            while set(await all_items(container)) != expected:
                assert asyncio.get_running_loop().time() < deadline, "nothing arrived while the producer paused"
                await asyncio.sleep(0.05)
            assert process.returncode is None
        process.stdin.close()
        _, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        assert "done: 15 written, 0 failed" in err.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await client.delete_database(database)


async def test_create_mode_after_an_ambiguous_failure_is_resolved_by_the_replay_in_the_first_run(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    """By default bulk replays the creates of a request reset after it was applied: the 39 new items
    are read back and count as written; i3 (another item with that id) keeps its 409, which says the
    first attempt may have been applied, and is never overwritten."""
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    try:
        await container.create_item({"id": "i3", "pk": "p3", "old": True})
        items = [{"id": f"i{i}", "pk": f"p{i}", "n": i} for i in range(40)]
        source = tmp_path / "items.jsonl"
        source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in items))
        failed = tmp_path / "items.jsonl.failed.jsonl"
        async with FaultProxy(cosmos_server.url, seed=1) as proxy:
            proxy.add_rule(Fault.reset_after(), kinds=("batch",), times=1)
            code, _, err = await run_cli("--connection-string", f"AccountEndpoint={proxy.url}/;AccountKey="
                                         f"{cosmos_server.key};", "ingest", str(source), "-d", database.id,
                                         "-c", "items", "--mode", "create", "--no-progress")
            assert proxy.counts()["reset_after"] == 1
        assert code == 1, err
        [record] = records_of(failed)
        assert (record["item"]["id"], record["status"]) == ("i3", 409) and "differs" in record["error"]
        assert record["may_have_been_applied"] is True
        assert (await container.read_item("i3", partition_key="p3"))["old"] is True
        stored = await all_items(container)
        assert {k: v for k, v in stored.items() if k != "i3"} == {d["id"]: d for d in items if d["id"] != "i3"}
    finally:
        await client.delete_database(database)
