"""The bulk executor against the local server: non-atomic batches on the wire, one result per
operation, content exact, per-operation errors, validation, backpressure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

import aiocosmos
from aiocosmos._bulk.ranges import MAX_BULK_BYTES, MAX_BULK_OPERATIONS


async def all_items(container: aiocosmos.ContainerProxy) -> dict[str, dict[str, Any]]:
    return {item["id"]: item async for item in container.read_all_items(max_item_count=1000)}


def doc(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"d{i}", "pk": f"p{i % 7}", "n": i, **extra}


async def test_bulk_upsert_writes_everything_once(container: aiocosmos.ContainerProxy) -> None:
    summary = await container.bulk_upsert(doc(i) for i in range(1234))
    assert (summary.total, summary.succeeded, summary.failed, summary.ok) == (1234, 1234, 0, True)
    assert summary.request_charge > 0
    stored = await all_items(container)
    assert len(stored) == 1234
    assert all(stored[f"d{i}"]["n"] == i and stored[f"d{i}"]["pk"] == f"p{i % 7}" for i in range(1234))


async def test_one_result_per_operation_with_errors_in_the_middle(container: aiocosmos.ContainerProxy) -> None:
    await container.create_item(doc(3))
    await container.create_item(doc(5))
    operations: list[Any] = [("create", (doc(i),)) for i in range(10)]
    operations += [
        ("read", ("d5",), {"partition_key": "p5"}),
        ("read", ("missing",), {"partition_key": "p0"}),
        ("delete", ("d3",), {"partition_key": "p3"}),
        ("replace", ("d5", doc(5, n=55))),
        ("upsert", ({"no": "id"},)),           # invalid: no id, fails before I/O
        ("read", ("d1",)),                     # invalid: no partition key
    ]
    results = [r async for r in container.bulk(operations)]
    assert sorted(r.index for r in results) == list(range(len(operations)))
    by_index = {r.index: r for r in results}
    assert [by_index[i].status_code for i in range(10)] == [201, 201, 201, 409, 201, 409, 201, 201, 201, 201]
    assert isinstance(by_index[3].error, aiocosmos.Conflict) and not by_index[3].succeeded
    assert by_index[0].resource_body is not None and by_index[0].resource_body["n"] == 0 and by_index[0].etag
    assert by_index[10].status_code == 200 and by_index[10].resource_body is not None
    assert by_index[11].status_code == 404 and isinstance(by_index[11].error, aiocosmos.NotFound)
    assert by_index[12].status_code == 204 and by_index[12].succeeded
    assert by_index[13].status_code == 200
    assert isinstance(by_index[14].error, aiocosmos.ValidationError) and by_index[14].attempts == 0
    assert isinstance(by_index[15].error, aiocosmos.ValidationError) and "partition_key" in str(by_index[15].error)
    assert by_index[13].operation == operations[13]
    stored = await all_items(container)
    assert sorted(stored) == sorted(f"d{i}" for i in range(10) if i != 3)
    assert stored["d5"]["n"] == 55


async def test_batches_are_non_atomic_grouped_and_bounded(
    container: aiocosmos.ContainerProxy, cosmos_server: Any
) -> None:
    from aiocosmos.testing import FaultProxy

    bodies: list[tuple[dict[str, str], bytes]] = []
    async with FaultProxy(cosmos_server.url, seed=1) as proxy:
        proxy.observers.append(lambda r: bodies.append((dict(r.headers), r.body)) if r.kind == "batch" else None)
        async with aiocosmos.CosmosClient(proxy.url, credential=cosmos_server.key) as client:
            target = client.get_database_client(container.database.id).get_container_client(container.id)
            big = "x" * 5000
            summary = await target.bulk_upsert(doc(i, blob=big) for i in range(300))
    assert summary.ok and summary.total == 300
    assert bodies
    for headers, body in bodies:
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered["x-ms-cosmos-is-batch-request"] == "True"
        assert lowered["x-ms-cosmos-batch-atomic"] == "False"
        assert lowered["x-ms-cosmos-batch-continue-on-error"] == "True"
        assert lowered["x-ms-documentdb-partitionkeyrangeid"] == "0"
        assert "x-ms-documentdb-partitionkey" not in lowered
        ops = orjson.loads(body)
        assert 1 <= len(ops) <= MAX_BULK_OPERATIONS
        assert len(body) <= MAX_BULK_BYTES
        assert all(op["partitionKey"] == orjson.dumps([op["resourceBody"]["pk"]]).decode() for op in ops)
    # 300 docs of ~5 KB do not fit in 3 requests of 100: the byte limit cut them.
    assert len(bodies) > 300 * 5000 // MAX_BULK_BYTES
    assert sum(len(orjson.loads(b)) for _, b in bodies) == 300
    assert len(await all_items(container)) == 300


async def test_async_source_is_read_only_as_fast_as_results_are_consumed(
    container: aiocosmos.ContainerProxy,
) -> None:
    pulled = 0

    async def source() -> AsyncIterator[tuple[str, tuple[dict[str, Any]]]]:
        nonlocal pulled
        for i in range(500):
            pulled += 1
            yield ("upsert", (doc(i),))

    execution = container.bulk(source(), max_pending=50)
    seen = 0
    async with execution:
        async for _ in execution:
            seen += 1
            if seen == 10:
                await asyncio.sleep(0.3)  # a slow consumer: the reader must stop at max_pending
                assert pulled <= 10 + 50
    assert seen == 500 and pulled == 500
    assert execution.stats.succeeded == 500 and execution.stats.read == 500


async def test_a_failing_source_still_reports_what_was_read_then_raises(
    container: aiocosmos.ContainerProxy,
) -> None:
    def source() -> Any:
        for i in range(20):
            yield ("upsert", (doc(i),))
        raise RuntimeError("source broke")

    results: list[aiocosmos.BulkOperationResult] = []
    try:
        async for result in container.bulk(source()):
            results.append(result)  # noqa: PERF401 - a comprehension would lose them when the source raises
    except RuntimeError as exc:
        assert "source broke" in str(exc)
    else:
        raise AssertionError("the source's error was swallowed")
    assert sorted(r.index for r in results) == list(range(20))
    assert all(r.succeeded for r in results)
