"""Transactional batch and read_items (read_many) against the local server, under strict signature checking.

The partition key is sent only in the request header (as the SDKs do); the launcher copies it into each
operation for the package. The local server's batches are NOT atomic (operations before a failure stay
applied), so atomicity is not asserted here: tests/client/test_batch.py checks the failure shape of the
real service with scripted responses.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.server import CosmosTestServer


async def test_batch_create_upsert_read_replace_delete(container: aiocosmos.ContainerProxy) -> None:
    await container.create_item({"id": "existing", "pk": "cust-1", "total": 1})
    await container.create_item({"id": "other-partition", "pk": "cust-2"})

    first = await container.execute_item_batch([
        ("create", ({"id": "o-1", "pk": "cust-1", "total": 10},)),
        ("upsert", ({"id": "o-2", "pk": "cust-1", "total": 20},)),
        ("upsert", ({"id": "existing", "pk": "cust-1", "total": 2},)),
        ("read", ("existing",)),
        ("create", ({"id": "café ☕", "pk": "cust-1"},)),
    ], partition_key="cust-1")

    assert isinstance(first, aiocosmos.BatchResponse) and first.status_code == 200
    assert [r.status_code for r in first] == [201, 201, 200, 200, 201]
    assert [r.operation_type for r in first] == ["Create", "Upsert", "Upsert", "Read", "Create"]
    assert [r.item_id for r in first] == ["o-1", "o-2", "existing", "existing", "café ☕"]
    assert all(r.succeeded for r in first) and first.failed_index is None
    created = first[0]
    assert created.resource_body is not None and created.resource_body["total"] == 10
    assert created.etag == created.resource_body["_etag"] and created.request_charge > 0
    assert first[3].resource_body is not None and first[3].resource_body["total"] == 2
    assert first.request_charge > 0 and first.activity_id

    second = await container.execute_item_batch([
        ("replace", ("o-1", {"id": "o-1", "pk": "cust-1", "total": 11}), {"if_match_etag": created.etag}),
        ("delete", ("o-2",)),
        ("read", ("café ☕",)),
    ], partition_key="cust-1")

    assert [r.status_code for r in second] == [200, 204, 200]
    assert second[0].resource_body is not None and second[0].resource_body["total"] == 11
    assert second[0].etag != created.etag
    assert second[2].resource_body is not None and second[2].resource_body["id"] == "café ☕"
    assert (await container.read_item("o-1", "cust-1"))["total"] == 11
    with pytest.raises(aiocosmos.NotFound):
        await container.read_item("o-2", "cust-1")
    assert (await container.read_item("other-partition", "cust-2"))["pk"] == "cust-2"


async def test_batch_with_other_partition_key_types(container: aiocosmos.ContainerProxy) -> None:
    for partition_key in (7, True, None):
        response = await container.execute_item_batch(
            [("create", ({"id": "a", "pk": partition_key},)), ("read", ("a",))], partition_key=partition_key
        )
        assert [r.status_code for r in response] == [201, 200]
        assert (await container.read_item("a", partition_key))["pk"] == partition_key


async def test_failed_operation_raises_batch_operation_error(container: aiocosmos.ContainerProxy) -> None:
    await container.create_item({"id": "taken", "pk": "p"})

    with pytest.raises(aiocosmos.BatchOperationError) as info:
        await container.execute_item_batch([
            ("read", ("taken",)),
            ("create", ({"id": "taken", "pk": "p"},)),
            ("read", ("taken",)),
        ], partition_key="p")

    error = info.value
    assert error.error_index == 1 and error.status_code == 409
    assert (error.operation_type, error.item_id) == ("Create", "taken")
    assert [r.status_code for r in error.operation_responses] == [200, 409, 424]
    assert "batch_operations[1] (Create 'taken')" in str(error)


async def test_missing_item_fails_the_batch(container: aiocosmos.ContainerProxy) -> None:
    with pytest.raises(aiocosmos.BatchOperationError) as info:
        await container.execute_item_batch([("delete", ("nope",))], partition_key="p")

    assert info.value.error_index == 0 and info.value.status_code == 404


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def seed(count_per_partition: int, partitions: list[Any]) -> list[dict[str, Any]]:
    return [{"id": f"i{n}", "pk": pk, "n": n} for pk in partitions for n in range(count_per_partition)]


async def test_read_many_across_partitions(container: aiocosmos.ContainerProxy) -> None:
    for item in seed(4, ["p0", "p1", "p2", 5]):
        await container.create_item(item)

    found = await container.read_many([
        ("i3", "p1"), ("i0", "p0"), ("missing", "p0"), ("i1", "p1"), ("i2", 5), ("i0", "p9"),
        ("i0", "p0"), ("i1", "p2"), ("i7", "p2"),
    ])

    assert isinstance(found, aiocosmos.ReadManyResult)
    assert [(item["id"], item["pk"]) for item in found] == [("i3", "p1"), ("i0", "p0"), ("i1", "p1"), ("i2", 5),
                                                            ("i1", "p2")]
    # The same id in another partition is another item, and is not returned for this one.
    assert all(item["n"] == int(item["id"][1:]) for item in found)
    assert found.request_charge > 0 and len(found.activity_ids) == 5  # p1, p0, p2 queries; 5, p9 point reads


async def test_read_many_many_ids_in_one_partition(container: aiocosmos.ContainerProxy) -> None:
    for item in seed(30, ["p"]):
        await container.create_item(item)

    wanted = [(f"i{n}", "p") for n in range(29, -1, -3)] + [("absent", "p")]
    found = await container.read_items(wanted, max_concurrency=2)

    assert [item["id"] for item in found] == [f"i{n}" for n in range(29, -1, -3)]


async def test_read_many_gives_what_the_sdk_gives(cosmos_server: CosmosTestServer) -> None:
    """Differential: azure-cosmos' read_items and ours return the same items."""
    db_id = f"read-many-{uuid.uuid4().hex[:10]}"
    wanted: list[tuple[str, Any]] = [("i1", "b"), ("i0", "a"), ("nope", "a"), ("i2", "a"), ("i0", "c"), ("i1", "a")]
    async with (AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client,
                aiocosmos.CosmosClient(cosmos_server.url, credential=cosmos_server.key) as client):
        database = await client.create_database(db_id)
        try:
            container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
            for item in seed(3, ["a", "b"]):
                await container.create_item(item)
            azure_container = azure_client.get_database_client(db_id).get_container_client("items")
            theirs = await azure_container.read_items(wanted)
            ours = await container.read_items(wanted)
        finally:
            await client.delete_database(database)

    def strip(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if not k.startswith("_")} for item in items]

    # azure-cosmos documents no order (and maps results back by id alone, so the same id in two
    # partitions of one range lands out of place); aiocosmos keeps the order asked for.
    assert sorted(map(canonical, strip(list(theirs)))) == sorted(map(canonical, strip(list(ours))))
    assert len(theirs) == 4
    assert [(item["id"], item["pk"]) for item in ours] == [("i1", "b"), ("i0", "a"), ("i2", "a"), ("i1", "a")]
