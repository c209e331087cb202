"""Databases and containers against the local server (every request signature-checked)."""

from __future__ import annotations

import uuid

import pytest

import aiocosmos


async def test_database_lifecycle(client: aiocosmos.CosmosClient) -> None:
    name = f"db-{uuid.uuid4().hex[:8]}"
    db = await client.create_database(name)
    assert db.id == name and db.properties is not None and db.properties.status_code == 201
    assert (await db.read())["id"] == name
    assert name in [d["id"] async for d in client.list_databases()]
    found = [d async for d in client.query_databases("SELECT * FROM r WHERE r.id = @id",
                                                    parameters=[{"name": "@id", "value": name}])]
    assert [d["id"] for d in found] == [name]
    with pytest.raises(aiocosmos.Conflict) as conflict:
        await client.create_database(name)
    assert conflict.value.status_code == 409 and conflict.value.attempts == 1
    again = await client.create_database_if_not_exists(name)
    assert again.id == name
    deleted = await client.delete_database(name)
    assert deleted.status_code == 204 and len(deleted) == 0
    with pytest.raises(aiocosmos.NotFound):
        await db.read()
    created = await client.create_database_if_not_exists(name)
    assert (await created.read())["id"] == name
    await client.delete_database(created)


async def test_database_with_spaces_and_unicode(client: aiocosmos.CosmosClient) -> None:
    db = await client.create_database(f"shop é {uuid.uuid4().hex[:6]}+x")
    try:
        container = await db.create_container("orders ☕", partition_key=aiocosmos.PartitionKey("/customerId"))
        await container.create_item({"id": "1", "customerId": "c"})
        assert (await container.read_item("1", partition_key="c"))["customerId"] == "c"
    finally:
        await client.delete_database(db)


async def test_container_lifecycle(database: aiocosmos.DatabaseProxy) -> None:
    policy = {"indexingMode": "consistent", "automatic": True, "includedPaths": [{"path": "/*"}],
              "excludedPaths": [{"path": "/blob/*"}]}
    unique = {"uniqueKeys": [{"paths": ["/email"]}]}
    container = await database.create_container(
        "orders", partition_key=aiocosmos.PartitionKey("/customerId"), indexing_policy=policy, default_ttl=3600,
        unique_key_policy=unique, offer_throughput=400,
    )
    props = await container.read()
    assert props["partitionKey"]["paths"] == ["/customerId"]
    assert props["indexingPolicy"]["excludedPaths"][0]["path"] == "/blob/*"
    assert props["defaultTtl"] == 3600
    assert props["uniqueKeyPolicy"] == unique
    assert [c["id"] async for c in database.list_containers()] == ["orders"]
    assert [c["id"] async for c in database.query_containers("SELECT * FROM c WHERE c.id = 'orders'")] == ["orders"]

    await container.create_item({"id": "a", "customerId": "c1", "email": "x@example.com"})
    with pytest.raises(aiocosmos.Conflict):  # unique key enforced
        await container.create_item({"id": "b", "customerId": "c1", "email": "x@example.com"})

    replaced = await database.replace_container(container, aiocosmos.PartitionKey("/customerId"), default_ttl=60)
    assert (await replaced.read())["defaultTtl"] == 60

    with pytest.raises(aiocosmos.Conflict):
        await database.create_container("orders", partition_key=aiocosmos.PartitionKey("/customerId"))
    same = await database.create_container_if_not_exists("orders", partition_key=aiocosmos.PartitionKey("/customerId"))
    assert same.id == "orders"
    with pytest.raises(aiocosmos.ValidationError, match="/other"):
        await database.create_container_if_not_exists("orders", partition_key=aiocosmos.PartitionKey("/other"))

    assert (await database.delete_container("orders")).status_code == 204
    with pytest.raises(aiocosmos.NotFound):
        await container.read()


async def test_hierarchical_partition_keys(database: aiocosmos.DatabaseProxy) -> None:
    container = await database.create_container(
        "sessions", partition_key=aiocosmos.PartitionKey(["/tenant", "/user", "/session"])
    )
    assert (await container.read())["partitionKey"]["kind"] == "MultiHash"
    await container.create_item({"id": "1", "tenant": "t", "user": "u", "session": "s"})
    # Distinct ids: the test server indexes hierarchical keys by their first component only, so the
    # same id under ["t","u","s2"] would collide there (it would not on the real service).
    await container.create_item({"id": "2", "tenant": "t", "user": "u", "session": "s2"})
    assert (await container.read_item("2", partition_key=["t", "u", "s2"]))["session"] == "s2"
    with pytest.raises(aiocosmos.NotFound):
        await container.read_item("2", partition_key=["t", "u", "s"])
    with pytest.raises(aiocosmos.ValidationError, match="needs a list of 3"):
        await container.read_item("1", partition_key="t")
    with pytest.raises(aiocosmos.ValidationError, match="exactly 3"):
        await container.read_item("1", partition_key=["t", "u"])
    in_partition = [i["session"] async for i in container.query_items("SELECT * FROM c", partition_key=["t", "u", "s"])]
    assert in_partition == ["s"]


async def test_throughput_is_validated_before_any_io(client: aiocosmos.CosmosClient) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="450"):
        await client.create_database("never-created", offer_throughput=450)
    with pytest.raises(aiocosmos.ValidationError, match="auto_scale_max_throughput"):
        await client.create_database(
            "never-created", offer_throughput=aiocosmos.ThroughputProperties(auto_scale_max_throughput=1500)
        )
    assert "never-created" not in [d["id"] async for d in client.list_databases()]
    db = await client.create_database(
        f"auto-{uuid.uuid4().hex[:6]}", offer_throughput=aiocosmos.ThroughputProperties(auto_scale_max_throughput=4000)
    )
    await client.delete_database(db)
