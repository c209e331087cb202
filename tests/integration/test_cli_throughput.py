"""``aiocosmos ingest --throughput-group ... --target-ru ...`` (a real subprocess) behind the fault
proxy's RU budget: without the group the bulk run is throttled; with it the run stays within the budget (waiting
instead of drawing 429s; only the control container's own requests are not gated)."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson

import aiocosmos
from aiocosmos.testing import FaultProxy
from aiocosmos.testing.budget import DEFAULT_CHARGES
from aiocosmos.testing.rules import ProxyRequest
from tests.integration.test_cli import run_cli
from tests.server import CosmosTestServer


def per_operation(request: ProxyRequest) -> float:
    """6 RU per write, in a bulk batch too (the default charges one batch 10 RU whatever it holds)."""
    if request.kind == "batch":
        return 6.0 * request.body.count(b'"operationType"')
    return DEFAULT_CHARGES.get(request.kind, 0.0)


async def test_ingest_in_a_throughput_group_stays_within_the_budget(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, tmp_path: Path
) -> None:
    database = await client.create_database(f"cli-{uuid.uuid4().hex[:8]}")
    await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    source = tmp_path / "items.jsonl"
    source.write_bytes(b"".join(orjson.dumps({"id": f"i{i}", "pk": f"p{i % 7}"}) + b"\n" for i in range(200)))
    try:
        async with FaultProxy(cosmos_server.url, seed=1) as proxy:
            conn = f"AccountEndpoint={proxy.url}/;AccountKey={cosmos_server.key};"
            budget = proxy.set_budget(450.0, charges=per_operation)
            code, _, err = await run_cli("--connection-string", conn, "ingest", str(source), "-d", database.id,
                                         "-c", "items", "--no-progress")
            assert code == 0, err
            assert budget.throttled >= 1  # without a group, bulk outruns the container (then backs off)

            budget = proxy.set_budget(450.0, charges=per_operation)
            code, _, err = await run_cli("--connection-string", conn, "ingest", str(source), "-d", database.id,
                                         "-c", "items", "--no-progress", "--throughput-group", "cli",
                                         "--target-ru", "300", "--global-control", "control")
            assert code == 0, err
            assert "done: 200 written" in err, err
            # It waited for its budget instead (the control container's own requests are not gated: few).
            assert budget.throttled <= 3, budget.throttled
            assert budget.charged >= 200 * 6

            # Export reads the feed ranges in parallel, inside a local group.
            code, out, err = await run_cli("--connection-string", conn, "export", "-d", database.id, "-c", "items",
                                           "--parallel", "2", "--throughput-group", "cli", "--target-ru", "300")
            assert code == 0, err
            assert sorted(orjson.loads(line)["id"] for line in out.splitlines()) == sorted(f"i{i}" for i in range(200))
        control = database.get_container_client("control")
        ids = [i async for i in control.query_items("SELECT VALUE c.id FROM c")]
        assert ids == ["Y2xp.info"], ids  # the run left the group: only the config item stays
    finally:
        await client.delete_database(database)


async def test_bad_throughput_flags_fail_before_any_io(tmp_path: Path) -> None:
    source = tmp_path / "x.jsonl"
    source.write_bytes(b"{}\n")
    code, _, err = await run_cli("--connection-string", "AccountEndpoint=http://127.0.0.1:1/;AccountKey=a2V5;",
                                 "ingest", str(source), "-d", "d", "-c", "c", "--target-ru", "100")
    assert code == 2 and "--throughput-group and --target-ru go together" in err, err
    code, _, err = await run_cli("--connection-string", "AccountEndpoint=http://127.0.0.1:1/;AccountKey=a2V5;",
                                 "export", "-d", "d", "-c", "c", "--throughput-group", "g", "--target-ru", "-1")
    assert code == 2 and "--target-ru must be > 0, got -1.0" in err, err
    code, _, err = await run_cli("--connection-string", "AccountEndpoint=http://127.0.0.1:1/;AccountKey=a2V5;",
                                 "export", "-d", "d", "-c", "c", "--parallel", "0")
    assert code == 2 and "--parallel must be >= 1, got 0" in err, err
