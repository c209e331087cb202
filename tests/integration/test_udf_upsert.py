"""UDF upsert and replace against the local server (every request signature-checked).

A replaced or upserted UDF must stay callable, with its NEW body. @vercel/cosmosdb-server 1.0.1 lost
the function on replace (queries then failed with 400 "udf.X is not a function"); the launcher
tests/cosmos-server/server.js works around it, and these tests fail without that fix.
"""

from __future__ import annotations

from typing import Final

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.server import CosmosTestServer

TIMES_10: Final = "function scale(x) { return x * 10; }"
TIMES_100: Final = "function scale(x) { return x * 100; }"
PLUS_1: Final = "function scale(x) { return x + 1; }"
QUERY: Final = "SELECT VALUE udf.scale(c.n) FROM c"


async def scaled(container: aiocosmos.ContainerProxy) -> list[float]:
    return sorted([value async for value in container.query_items(QUERY)])


async def seeded(container: aiocosmos.ContainerProxy) -> aiocosmos.ContainerProxy:
    for n, pk in ((1, "a"), (2, "b"), (3, "a")):
        await container.create_item({"id": f"i{n}", "pk": pk, "n": n})
    return container


async def test_a_replaced_udf_runs_its_new_body(container: aiocosmos.ContainerProxy) -> None:
    await seeded(container)
    scripts = container.scripts
    await scripts.create_user_defined_function({"id": "scale", "body": TIMES_10})
    assert await scaled(container) == [10, 20, 30]

    replaced = await scripts.replace_user_defined_function("scale", {"id": "scale", "body": TIMES_100})
    assert replaced["body"] == TIMES_100
    assert await scaled(container) == [100, 200, 300]
    # Again (a second replace must not lose it either), and inside one partition.
    await scripts.replace_user_defined_function("scale", {"id": "scale", "serverScript": PLUS_1})
    assert sorted([v async for v in container.query_items(QUERY, partition_key="a")]) == [2, 4]
    assert (await scripts.get_user_defined_function("scale"))["body"] == PLUS_1


async def test_upsert_creates_then_replaces_and_the_udf_stays_callable(container: aiocosmos.ContainerProxy) -> None:
    await seeded(container)
    scripts = container.scripts

    created = await scripts.upsert_user_defined_function({"id": "scale", "body": TIMES_10})
    assert (created["id"], created["body"]) == ("scale", TIMES_10)
    assert all(key in created for key in ("_rid", "_etag", "_ts"))
    assert await scaled(container) == [10, 20, 30]

    upserted = await scripts.upsert_user_defined_function({"id": "scale", "body": TIMES_100})
    assert upserted["body"] == TIMES_100
    assert upserted["_rid"] == created["_rid"]  # the same resource, replaced
    assert upserted.etag != created.etag
    assert await scaled(container) == [100, 200, 300]
    assert [(u["id"], u["body"]) async for u in scripts.list_user_defined_functions()] == [("scale", TIMES_100)]


async def test_a_deleted_udf_is_gone_from_queries(container: aiocosmos.ContainerProxy) -> None:
    await seeded(container)
    scripts = container.scripts
    await scripts.upsert_user_defined_function({"id": "scale", "body": TIMES_10})
    await scripts.replace_user_defined_function("scale", {"id": "scale", "body": TIMES_100})
    await scripts.delete_user_defined_function("scale")
    with pytest.raises(aiocosmos.BadRequest, match="scale"):
        await scaled(container)


async def test_a_udf_upserted_by_aiocosmos_is_seen_by_azure_cosmos(
    cosmos_server: CosmosTestServer, container: aiocosmos.ContainerProxy
) -> None:
    await seeded(container)
    await container.scripts.upsert_user_defined_function({"id": "scale", "body": TIMES_10})
    await container.scripts.upsert_user_defined_function({"id": "scale", "body": PLUS_1})
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure = azure_client.get_database_client(container.database.id).get_container_client(container.id)
        assert (await azure.scripts.get_user_defined_function("scale"))["body"] == PLUS_1
        values = [v async for v in azure.query_items(QUERY)]
    assert sorted(values) == [2, 3, 4]
