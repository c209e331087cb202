"""Stored procedures and triggers against the local server, whose launcher runs them as the service does
(tests/cosmos-server/scripts.js): in one logical partition, as one transaction, with the server-side API
and console.log. azure-cosmos runs the same scripts through the same server as the oracle of the wire."""

from __future__ import annotations

from typing import Final

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.server import CosmosTestServer

GREET: Final = ("function (name) { console.log('hi ' + name); "
                "getContext().getResponse().setBody('Hello, ' + name); }")
# Creates one order per amount in the request's partition, answers their total; a negative amount throws
# after the writes before it, so the whole call must leave nothing behind.
ORDERS: Final = """function (customer, amounts) {
    var collection = getContext().getCollection();
    var total = 0;
    amounts.forEach(function (amount, n) {
        if (amount < 0) throw new Error('negative amount ' + amount);
        collection.createDocument(collection.getSelfLink(), {id: customer + '-' + n, pk: customer, amount: amount},
            function (err) { if (err) throw new Error('create failed: ' + err.message); });
        total += amount;
    });
    collection.queryDocuments(collection.getSelfLink(),
        {query: 'SELECT VALUE COUNT(1) FROM c WHERE c.pk = @pk', parameters: [{name: '@pk', value: customer}]},
        function (err, counts) { getContext().getResponse().setBody({total: total, stored: counts[0]}); });
}"""
ELSEWHERE: Final = """function () {
    var collection = getContext().getCollection();
    collection.createDocument(collection.getSelfLink(), {id: 'x', pk: 'another partition'});
}"""
STAMP: Final = ("function () { var r = getContext().getRequest(); var d = r.getBody(); d.stamped = true; "
                "r.setBody(d); }")
AUDIT: Final = ("function () { var body = getContext().getResponse().getBody(); "
                "if (body.amount > 100) throw new Error('too large: ' + body.id); }")


async def ids(container: aiocosmos.ContainerProxy) -> list[str]:
    return sorted([item["id"] async for item in container.read_all_items()])


async def test_stored_procedure_lifecycle(container: aiocosmos.ContainerProxy) -> None:
    scripts = container.scripts
    created = await scripts.create_stored_procedure({"id": "greet", "body": GREET})
    assert created.status_code == 201 and created["body"] == GREET
    assert all(field in created for field in ("_rid", "_self", "_etag", "_ts"))
    with pytest.raises(aiocosmos.Conflict):
        await scripts.create_stored_procedure({"id": "greet", "body": GREET})
    assert (await scripts.get_stored_procedure("greet"))["body"] == GREET
    assert [s["id"] async for s in scripts.list_stored_procedures()] == ["greet"]
    assert [s["id"] async for s in scripts.query_stored_procedures("SELECT * FROM s WHERE s.id = 'greet'")] == ["greet"]
    replaced = await scripts.replace_stored_procedure("greet", {"id": "greet", "body": ORDERS})
    assert replaced["body"] == ORDERS and replaced["_rid"] == created["_rid"]
    await scripts.delete_stored_procedure("greet")
    with pytest.raises(aiocosmos.NotFound):
        await scripts.get_stored_procedure("greet")


async def test_a_stored_procedure_answers_and_logs(container: aiocosmos.ContainerProxy) -> None:
    await container.scripts.create_stored_procedure({"id": "greet", "body": GREET})
    result = await container.scripts.execute_stored_procedure("greet", partition_key="p", parameters=["World"],
                                                              enable_script_logging=True)
    assert (result.value, result.log) == ("Hello, World", "hi World")
    quiet = await container.scripts.execute_stored_procedure("greet", partition_key="p", parameters=["you"])
    assert (quiet.value, quiet.log) == ("Hello, you", None)


async def test_a_stored_procedure_is_one_transaction(container: aiocosmos.ContainerProxy) -> None:
    await container.scripts.create_stored_procedure({"id": "orders", "body": ORDERS})
    result = await container.scripts.execute_stored_procedure("orders", partition_key="c1", parameters=["c1", [5, 7]])
    assert result.value == {"total": 12, "stored": 2}
    assert (await container.read_item("c1-1", "c1"))["amount"] == 7

    with pytest.raises(aiocosmos.BadRequest) as refused:
        await container.scripts.execute_stored_procedure("orders", partition_key="c2", parameters=["c2", [1, 2, -3]])
    assert "negative amount -3" in refused.value.message
    assert await ids(container) == ["c1-0", "c1-1"]  # c2-0 and c2-1 were undone with the failed call


async def test_a_stored_procedure_stays_in_its_partition(container: aiocosmos.ContainerProxy) -> None:
    await container.scripts.create_stored_procedure({"id": "elsewhere", "body": ELSEWHERE})
    with pytest.raises(aiocosmos.BadRequest) as refused:
        await container.scripts.execute_stored_procedure("elsewhere", partition_key="p")
    assert "PartitionKey extracted from document doesn't match" in refused.value.message
    with pytest.raises(aiocosmos.BadRequest) as no_key:
        await container.scripts.execute_stored_procedure("elsewhere")  # a partitioned container needs the key
    assert "PartitionKey value must be supplied" in no_key.value.message
    assert await ids(container) == []


async def test_pre_and_post_triggers(container: aiocosmos.ContainerProxy) -> None:
    scripts = container.scripts
    await scripts.create_trigger({"id": "stamp", "body": STAMP, "triggerType": "Pre", "triggerOperation": "Create"})
    await scripts.create_trigger({"id": "audit", "body": AUDIT, "triggerType": "Post", "triggerOperation": "All"})

    stamped = await container.create_item({"id": "a", "pk": "p", "amount": 1}, pre_trigger_include="stamp")
    assert stamped["stamped"] is True and (await container.read_item("a", "p"))["stamped"] is True
    plain = await container.upsert_item({"id": "b", "pk": "p", "amount": 2})  # no trigger named, none runs
    assert "stamped" not in plain

    with pytest.raises(aiocosmos.BadRequest) as audited:
        await container.create_item({"id": "c", "pk": "p", "amount": 500}, post_trigger_include="audit")
    assert "too large: c" in audited.value.message
    assert await ids(container) == ["a", "b"]  # the post-trigger's failure undid the create

    with pytest.raises(aiocosmos.BadRequest, match="not a pre-trigger"):
        await container.create_item({"id": "d", "pk": "p"}, pre_trigger_include="audit")
    with pytest.raises(aiocosmos.BadRequest, match="does not fire on Replace"):
        await container.replace_item("a", {"id": "a", "pk": "p"}, pre_trigger_include="stamp")
    with pytest.raises(aiocosmos.BadRequest, match="'missing' does not exist"):
        await container.create_item({"id": "e", "pk": "p"}, pre_trigger_include="missing")


async def test_scripts_agree_with_azure_cosmos(
    cosmos_server: CosmosTestServer, container: aiocosmos.ContainerProxy
) -> None:
    """azure-cosmos, through the same server, creates what aiocosmos reads and runs what aiocosmos made."""
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure = azure_client.get_database_client(container.database.id).get_container_client(container.id)
        await azure.scripts.create_stored_procedure({"id": "greet", "body": GREET})
        await container.scripts.create_stored_procedure({"id": "orders", "body": ORDERS})
        assert (await container.scripts.get_stored_procedure("greet"))["body"] == GREET

        # azure annotates parameters as a list of dicts; it sends the list as the script's arguments.
        sdk = await azure.scripts.execute_stored_procedure("orders", partition_key="c9",
                                                           parameters=["c9", [4]])  # type: ignore[list-item]
        ours = await container.scripts.execute_stored_procedure("greet", partition_key="c9", parameters=["SDK"])
        assert (sdk, ours.value) == ({"total": 4, "stored": 1}, "Hello, SDK")

        await azure.scripts.create_trigger({"id": "stamp", "body": STAMP, "triggerType": "Pre",
                                            "triggerOperation": "All"})
        await azure.create_item({"id": "s", "pk": "c9"}, pre_trigger_include="stamp")
        assert (await container.read_item("s", "c9"))["stamped"] is True
