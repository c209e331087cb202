"""Operating the change feed processor: a host process stopped by SIGTERM (``run_until_signal()``)
releases its leases and exits 0; ``aiocosmos changefeed lag`` prints what the estimator measures;
``processor.stats`` counts, and is logged periodically when asked.

Waits are on observable events (lease documents, log lines, a process's exit), bounded generously.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import aiocosmos
from tests.integration.change_feed_front import FRONT, ChangeFeedFront
from tests.integration.test_change_feed_processor import FAST, Recorder, _all_checkpointed, wait_for, write
from tests.server import CosmosTestServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def front(database: aiocosmos.DatabaseProxy, cosmos_server: CosmosTestServer) -> AsyncIterator[ChangeFeedFront]:
    server = await ChangeFeedFront(cosmos_server.url, database.id, ranges=8).start()
    yield server
    await server.close()


@pytest.fixture
async def feed(front: ChangeFeedFront, cosmos_server: CosmosTestServer) -> AsyncIterator[aiocosmos.ContainerProxy]:
    async with aiocosmos.CosmosClient(front.url, credential=cosmos_server.key) as client:
        yield client.get_database_client(front.database).get_container_client(FRONT)


@pytest.fixture
async def leases(database: aiocosmos.DatabaseProxy) -> aiocosmos.ContainerProxy:
    return await database.create_container("leases", partition_key=aiocosmos.PartitionKey("/id"))


def _env() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COSMOS_")}
    return {**environment, "PYTHONPATH": str(ROOT)}


def spawn_host(front: ChangeFeedFront, server: CosmosTestServer, database: str, out: Path, err: Path,
               name: str) -> subprocess.Popen[bytes]:
    with open(err, "wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.cfp_host", front.url, server.url, server.key, database,
             str(out), name], cwd=ROOT, env={**_env(), "CFP_STATS_INTERVAL": "0.2"}, stderr=sink)


async def test_sigterm_stops_a_host_process_cleanly(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
    database: aiocosmos.DatabaseProxy, cosmos_server: CosmosTestServer, tmp_path: Path,
) -> None:
    final = await write(feed, 200)
    out, err = tmp_path / "h.jsonl", tmp_path / "h.err"
    process = spawn_host(front, cosmos_server, database.id, out, err, "h")
    try:
        def delivered() -> bool:
            rows = [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []
            seen = {(row["id"], row["n"]) for row in rows}
            return all((doc_id, n) in seen for doc_id, n in final.items())

        async def owns_all() -> bool:
            docs = [d async for d in leases.query_items("SELECT * FROM c WHERE STARTSWITH(c.id, 'hosts')")]
            return len([d for d in docs if ".." in d["id"]]) == 8 and all(
                d["Owner"] == "h" for d in docs if ".." in d["id"])

        await wait_for(delivered, timeout=120)
        await wait_for(owns_all, timeout=60)
        await wait_for(lambda: "hosts/h: 8 leases, 50 changes (" in err.read_text(), timeout=60)  # the stats line
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert code == 0, err.read_text()[-2000:]
    docs = [d async for d in leases.query_items("SELECT * FROM c WHERE STARTSWITH(c.id, 'hosts')")]
    tokens = [d for d in docs if ".." in d["id"]]
    assert len(tokens) == 8 and all(d["Owner"] is None for d in tokens)  # released on the way out
    assert "signal 15, stopping" in err.read_text()
    assert "Traceback" not in err.read_text()


async def test_the_lag_command_prints_the_estimators_lag_per_lease(
    front: ChangeFeedFront, feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy,
    database: aiocosmos.DatabaseProxy, cosmos_server: CosmosTestServer,
) -> None:
    recorder = Recorder()
    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", recorder, lease_container=leases,
                                              instance_name="host-1", start_time="Beginning", **FAST)
    async with processor:
        first = await write(feed, 100)
        await wait_for(lambda: recorder.has(first))
        await wait_for(lambda: _all_checkpointed(leases, 8))
    await write(feed, 40, start=100, docs=40)  # 40 new versions, none processed
    expected = {lag.lease_token: lag.lag for lag in
                await aiocosmos.ChangeFeedEstimator(feed, "cfp", lease_container=leases).estimate()}
    assert sum(expected.values()) == 40

    async def run(*extra: str) -> tuple[int, str, str]:
        command = [sys.executable, "-m", "aiocosmos", "--connection-string",
                   f"AccountEndpoint={front.url}/;AccountKey={cosmos_server.key};", "changefeed", "lag",
                   "--processor", "cfp", "-d", database.id, "-c", FRONT, "--lease-container", "leases",
                   "--lease-connection-string", f"AccountEndpoint={cosmos_server.url}/;AccountKey={cosmos_server.key};",
                   *extra]
        process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=_env(), stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, stdout.decode(), stderr.decode()

    code, out, err = await run("--json")
    assert code == 0, err
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert {row["lease"]: row["lag"] for row in rows} == expected
    assert [row["lease"] for row in rows] == [str(k) for k in range(8)]
    assert all(row["owner"] is None for row in rows)  # released by the stop
    code, out, err = await run()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["lease", "owner", "lag"]
    assert {line.split()[0]: int(line.split()[-1]) for line in lines[1:-1]} == expected
    assert lines[-1].split() == ["total", "40"]
    code, out, err = await run("--processor", "nobody")  # the later --processor wins
    assert code == 2 and "has no leases" in err and out == ""


async def test_stats_count_deliveries_errors_leases_lag_and_lease_charge(
    feed: aiocosmos.ContainerProxy, leases: aiocosmos.ContainerProxy, caplog: pytest.LogCaptureFixture,
) -> None:
    final = await write(feed, 120)
    recorder = Recorder()
    fail = {"left": 2}

    async def flaky(changes: list[dict[str, Any]], ctx: aiocosmos.ChangeFeedContext) -> None:
        if fail["left"]:
            fail["left"] -= 1
            raise RuntimeError("not yet")
        await recorder(changes, ctx)

    caplog.set_level(logging.INFO, logger="aiocosmos.processor")
    processor = aiocosmos.ChangeFeedProcessor(feed, "cfp", flaky, lease_container=leases, start_time="Beginning",
                                              handler_retry=(0.01, 0.05), stats_interval=0.1, **FAST)
    with pytest.raises(aiocosmos.ValidationError):
        aiocosmos.ChangeFeedProcessor(feed, "cfp", flaky, lease_container=leases, stats_interval=0)
    async with processor:
        await wait_for(lambda: recorder.has(final))
        await wait_for(lambda: processor.stats.lag == 0 and len(processor.stats.lags) == 8)
        stats = processor.stats
        assert isinstance(stats, aiocosmos.ProcessorStats)
        assert stats.leases_owned == 8
        assert stats.handler_errors == 2
        assert stats.changes == sum(len(v) for v in recorder.seen.values()) >= 50  # 50 ids, each once here
        assert stats.lease_request_charge > 0 and stats.lease_request_charge == processor.lease_request_charge
        await wait_for(lambda: any("8 leases" in r.getMessage() and "2 handler errors" in r.getMessage()
                                   for r in caplog.records))
    line = next(r.getMessage() for r in caplog.records if "8 leases" in r.getMessage())
    assert line.startswith(f"cfp/{processor.instance_name}: 8 leases, ") and "changes (" in line and "/s), lag " in line
    assert processor.stats.leases_owned == 0 and processor.stats.lags == {}
