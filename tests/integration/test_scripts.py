"""User-defined functions against the local server (every request signature-checked).

Stored procedures and triggers (run by the launcher, tests/cosmos-server/scripts.js) are in
test_stored_procedures.py; their wire format is also checked in tests/client/test_scripts.py.
"""

from __future__ import annotations

from typing import Any, Final

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.server import CosmosTestServer

TAX: Final = "function tax(amount) { return amount * 1.25; }"
LABEL: Final = "function label(name, n) { return name + '#' + n; }"
SERVER_FIELDS: Final = ("_rid", "_self", "_etag", "_ts")


async def seed(container: aiocosmos.ContainerProxy) -> None:
    for n, pk in enumerate(["a", "a", "b", "c"]):
        await container.create_item({"id": f"o{n}", "pk": pk, "amount": n * 10})


async def test_udf_lifecycle(container: aiocosmos.ContainerProxy) -> None:
    scripts = container.scripts

    created = await scripts.create_user_defined_function({"id": "tax", "body": TAX})
    assert created.status_code == 201
    assert (created["id"], created["body"]) == ("tax", TAX)
    assert all(field in created for field in SERVER_FIELDS)
    assert created.request_charge > 0 and created.activity_id

    read = await scripts.get_user_defined_function("tax")
    assert read.body == created.body
    assert (await scripts.read_user_defined_function(created)).body == created.body  # by the dict's id

    with pytest.raises(aiocosmos.Conflict) as conflict:
        await scripts.create_user_defined_function({"id": "tax", "body": LABEL})
    assert conflict.value.attempts == 1

    await scripts.create_user_defined_function({"id": "label", "serverScript": LABEL})
    assert sorted([u["id"] async for u in scripts.list_user_defined_functions()]) == ["label", "tax"]
    found = [u async for u in scripts.query_user_defined_functions(
        "SELECT * FROM u WHERE u.id = @id", parameters=[{"name": "@id", "value": "label"}])]
    assert [(u["id"], u["body"]) for u in found] == [("label", LABEL)]

    before = await scripts.get_user_defined_function("label")
    replaced = await scripts.replace_user_defined_function("label", {**before.body, "body": TAX})
    assert replaced.status_code == 200 and replaced["body"] == TAX
    assert replaced.etag and replaced.etag != before.etag
    assert replaced["_rid"] == before["_rid"]
    assert (await scripts.get_user_defined_function("label"))["body"] == TAX

    deleted = await scripts.delete_user_defined_function("label")
    assert deleted.status_code == 204 and len(deleted) == 0
    with pytest.raises(aiocosmos.NotFound):
        await scripts.get_user_defined_function("label")
    with pytest.raises(aiocosmos.NotFound):
        await scripts.delete_user_defined_function("label")
    with pytest.raises(aiocosmos.NotFound):
        await scripts.replace_user_defined_function("label", {"id": "label", "body": TAX})
    assert [u["id"] async for u in scripts.list_user_defined_functions()] == ["tax"]


async def test_udfs_in_queries(container: aiocosmos.ContainerProxy) -> None:
    await seed(container)
    await container.scripts.create_user_defined_function({"id": "tax", "body": TAX})
    await container.scripts.create_user_defined_function({"id": "label", "body": LABEL})

    everywhere = [v async for v in container.query_items("SELECT VALUE udf.tax(c.amount) FROM c")]
    assert sorted(everywhere) == [0, 12.5, 25, 37.5]
    in_a = [v async for v in container.query_items("SELECT VALUE udf.tax(c.amount) FROM c", partition_key="a")]
    assert sorted(in_a) == [0, 12.5]
    filtered = [r async for r in container.query_items(
        "SELECT c.id, udf.label(c.pk, udf.tax(c.amount)) AS tag FROM c WHERE udf.tax(c.amount) > @min",
        parameters=[{"name": "@min", "value": 20}])]
    assert sorted(filtered, key=lambda r: r["id"]) == [{"id": "o2", "tag": "b#25"}, {"id": "o3", "tag": "c#37.5"}]

    await container.scripts.delete_user_defined_function("tax")
    with pytest.raises(aiocosmos.BadRequest):  # the function is gone
        _ = [v async for v in container.query_items("SELECT VALUE udf.tax(c.amount) FROM c")]


async def test_udf_listing_pages_and_resumes(container: aiocosmos.ContainerProxy) -> None:
    names = ["a1", "b2", "c3"]
    for name in names:
        await container.scripts.create_user_defined_function({"id": name, "body": TAX})

    pages = [page async for page in container.scripts.list_user_defined_functions(max_item_count=1).by_page()]
    assert [len(page) for page in pages] == [1, 1, 1]
    assert [page.continuation is None for page in pages] == [False, False, True]
    assert sorted(u["id"] for page in pages for u in page) == names

    rest = container.scripts.list_user_defined_functions(max_item_count=2).by_page(pages[0].continuation)
    assert [[u["id"] for u in page] async for page in rest] == [[u["id"] for page in pages[1:] for u in page]]


async def test_udf_ids_that_need_escaping(container: aiocosmos.ContainerProxy) -> None:
    name = "tax rate+é ☕"
    await container.scripts.create_user_defined_function({"id": name, "body": TAX})
    assert (await container.scripts.get_user_defined_function(name))["id"] == name
    assert (await container.scripts.replace_user_defined_function(name, {"id": name, "body": LABEL}))["body"] == LABEL
    await container.scripts.delete_user_defined_function(name)
    assert [u async for u in container.scripts.list_user_defined_functions()] == []


def strip(resource: Any) -> dict[str, Any]:
    return {key: value for key, value in dict(resource).items() if key not in SERVER_FIELDS}


async def test_udfs_agree_with_azure_cosmos(
    cosmos_server: CosmosTestServer, container: aiocosmos.ContainerProxy
) -> None:
    """What one client writes the other reads, and a query using the UDF gives both the same answer."""
    await seed(container)
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure = azure_client.get_database_client(container.database.id).get_container_client(container.id)
        from_sdk = await azure.scripts.create_user_defined_function({"id": "tax", "body": TAX})
        ours = await container.scripts.create_user_defined_function({"id": "label", "body": LABEL})

        assert (await container.scripts.get_user_defined_function("tax")).body == dict(from_sdk)
        assert dict(await azure.scripts.get_user_defined_function("label")) == ours.body
        sdk_list = sorted([strip(u) async for u in azure.scripts.list_user_defined_functions()], key=str)
        our_list = sorted([strip(u) async for u in container.scripts.list_user_defined_functions()], key=str)
        assert sdk_list == our_list == [{"id": "label", "body": LABEL}, {"id": "tax", "body": TAX}]

        query = "SELECT c.id, udf.label(c.id, udf.tax(c.amount)) AS tag FROM c"
        sdk_rows = [r async for r in azure.query_items(query)]
        our_rows = [r async for r in container.query_items(query)]
        assert sorted(our_rows, key=str) == sorted(sdk_rows, key=str)
        assert sorted(r["tag"] for r in our_rows) == ["o0#0", "o1#12.5", "o2#25", "o3#37.5"]

        await azure.scripts.delete_user_defined_function("label")
        with pytest.raises(aiocosmos.NotFound):
            await container.scripts.get_user_defined_function("label")
