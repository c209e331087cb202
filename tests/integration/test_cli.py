"""``python -m aiocosmos ingest/export`` end to end against the local server (real subprocesses)."""

from __future__ import annotations

import asyncio
import gzip
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson

import aiocosmos
from tests.server import CosmosTestServer


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
