"""Users, permissions and resource tokens against the local server, whose launcher keeps them as the service does
(tests/cosmos-server/users.js): a token reaches its permission's resource only, a Read token only reads, a
partition-scoped token only its partition; azure-cosmos grants and uses tokens through the same server."""

from __future__ import annotations

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.server import CosmosTestServer


async def test_user_lifecycle(database: aiocosmos.DatabaseProxy) -> None:
    alice = await database.create_user({"id": "alice"})
    assert alice.id == "alice" and alice.properties is not None and alice.properties["_self"].endswith("/")
    with pytest.raises(aiocosmos.Conflict):
        await database.create_user({"id": "alice"})
    await database.upsert_user({"id": "bob"})
    assert sorted([u["id"] async for u in database.list_users()]) == ["alice", "bob"]
    assert [u["id"] async for u in database.query_users("SELECT * FROM u WHERE u.id = 'bob'")] == ["bob"]
    assert (await database.get_user_client("alice").read())["id"] == "alice"
    await database.delete_user("bob")
    with pytest.raises(aiocosmos.NotFound):
        await database.get_user_client("bob").read()


async def test_resource_tokens_reach_what_their_permission_grants(
    cosmos_server: CosmosTestServer, database: aiocosmos.DatabaseProxy
) -> None:
    orders = await database.create_container("orders", partition_key=aiocosmos.PartitionKey("/pk"))
    other = await database.create_container("other", partition_key=aiocosmos.PartitionKey("/pk"))
    await orders.create_item({"id": "1", "pk": "c1"})
    await orders.create_item({"id": "2", "pk": "c2"})
    await other.create_item({"id": "x", "pk": "c1"})
    alice = await database.create_user({"id": "alice"})
    reader = await alice.create_permission({"id": "read", "permissionMode": "Read", "resource": orders})
    writer = await alice.create_permission({"id": "c1", "permissionMode": "All", "resource": other,
                                            "resourcePartitionKey": ["c1"]}, resource_token_expiry_seconds=600)
    again = await alice.get_permission("read")
    assert reader.token and again.token and again.token != reader.token  # each answer issues a new token
    with pytest.raises(aiocosmos.Conflict):  # one permission per resource
        await alice.create_permission({"id": "read-again", "permissionMode": "All", "resource": orders})

    async with aiocosmos.CosmosClient(cosmos_server.url, credential=reader.token) as c:
        readable = c.get_database_client(database.id).get_container_client("orders")
        assert (await readable.read_item("1", "c1"))["id"] == "1"
        assert sorted([i["id"] async for i in readable.query_items("SELECT * FROM c")]) == ["1", "2"]
        with pytest.raises(aiocosmos.Forbidden):
            await readable.upsert_item({"id": "3", "pk": "c1"})  # a Read token
        with pytest.raises(aiocosmos.Forbidden):
            await c.get_database_client(database.id).get_container_client("other").read_item("x", "c1")

    assert writer.resource_link is not None and writer.token is not None
    async with aiocosmos.CosmosClient(cosmos_server.url, credential={writer.resource_link: writer.token}) as c:
        writable = c.get_database_client(database.id).get_container_client("other")
        assert (await writable.upsert_item({"id": "y", "pk": "c1"}))["id"] == "y"
        with pytest.raises(aiocosmos.Forbidden):
            await writable.upsert_item({"id": "z", "pk": "c2"})  # outside the permission's partition

    await alice.delete_permission("read")  # as the service documents: its tokens stay valid until they expire
    async with aiocosmos.CosmosClient(cosmos_server.url, credential=reader.token) as c:
        assert (await c.get_database_client(database.id).get_container_client("orders").read_item("1", "c1"))
    async with aiocosmos.CosmosClient(cosmos_server.url, credential="type=resource&ver=1.0&sig=forged") as c:
        with pytest.raises(aiocosmos.Unauthorized):
            await c.get_database_client(database.id).get_container_client("orders").read_item("1", "c1")


async def test_permissions_agree_with_azure_cosmos(
    cosmos_server: CosmosTestServer, database: aiocosmos.DatabaseProxy
) -> None:
    orders = await database.create_container("orders", partition_key=aiocosmos.PartitionKey("/pk"))
    await orders.create_item({"id": "1", "pk": "c1"})
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure_db = azure_client.get_database_client(database.id)
        user = await azure_db.create_user({"id": "carol"})
        granted = await user.create_permission({"id": "p", "permissionMode": "Read",
                                                "resource": f"dbs/{database.id}/colls/orders"})
        assert [p["id"] async for p in database.get_user_client("carol").list_permissions()] == ["p"]
        token = granted.properties["_token"]
    async with AzureClient(cosmos_server.url, credential={f"dbs/{database.id}/colls/orders": token}) as azure_reader:
        read = await azure_reader.get_database_client(database.id).get_container_client("orders").read_item("1", "c1")
        assert read["id"] == "1"
