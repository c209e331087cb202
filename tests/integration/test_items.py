"""Item operations against the local server, under strict signature checking."""

from __future__ import annotations

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.server import CosmosTestServer

IDS = ["plain", "with space", "café ☕", "ü+x;y", "a=b&c", "per%cent", "日本語", "semi;colon", "quote'd", "~tilde"]


async def test_create_read_delete_with_awkward_ids(container: aiocosmos.ContainerProxy) -> None:
    for n, item_id in enumerate(IDS):
        created = await container.create_item({"id": item_id, "pk": f"p{n % 3}", "n": n})
        assert created.status_code == 201 and created["id"] == item_id
        assert created.request_charge > 0 and created.etag and created.activity_id
    for n, item_id in enumerate(IDS):
        item = await container.read_item(item_id, partition_key=f"p{n % 3}")
        assert item["n"] == n and item.etag == item["_etag"]
    for n, item_id in enumerate(IDS):
        deleted = await container.delete_item(item_id, partition_key=f"p{n % 3}")
        assert deleted.status_code == 204
    with pytest.raises(aiocosmos.NotFound):
        await container.delete_item(IDS[0], partition_key="p0")


async def test_result_is_a_view_not_a_copy(container: aiocosmos.ContainerProxy) -> None:
    created = await container.create_item({"id": "v", "pk": "p", "nested": {"a": 1}})
    assert isinstance(created.body, dict) and created["nested"] is created.body["nested"]
    assert created == created.body and "nested" in created and len(created) == len(created.body)
    assert dict(created) == created.body


async def test_conflict_and_not_found(container: aiocosmos.ContainerProxy) -> None:
    await container.create_item({"id": "x", "pk": "a"})
    with pytest.raises(aiocosmos.Conflict) as conflict:
        await container.create_item({"id": "x", "pk": "a"})
    assert conflict.value.status_code == 409 and conflict.value.activity_id
    await container.create_item({"id": "x", "pk": "b"})  # ids are unique per logical partition only
    with pytest.raises(aiocosmos.NotFound) as missing:
        await container.read_item("x", partition_key="c")
    assert "[404/0]" in str(missing.value) and "attempts=1" in str(missing.value)


async def test_partition_key_types(container: aiocosmos.ContainerProxy) -> None:
    await container.create_item({"id": "num", "pk": 5})
    await container.create_item({"id": "bool", "pk": True})
    await container.create_item({"id": "none"})
    assert (await container.read_item("num", partition_key=5))["pk"] == 5
    assert (await container.read_item("bool", partition_key=True))["pk"] is True
    assert (await container.read_item("none", partition_key=aiocosmos.NonePartitionKeyValue))["id"] == "none"
    with pytest.raises(aiocosmos.NotFound):
        await container.read_item("num", partition_key="5")


async def test_upsert_and_replace_with_etags(container: aiocosmos.ContainerProxy) -> None:
    first = await container.upsert_item({"id": "u", "pk": "p", "v": 1})
    assert first.status_code == 201
    second = await container.upsert_item({"id": "u", "pk": "p", "v": 2})
    assert second.status_code == 200 and second["v"] == 2 and second.etag != first.etag

    replaced = await container.replace_item("u", {"id": "u", "pk": "p", "v": 3}, etag=second.etag)
    assert replaced["v"] == 3
    with pytest.raises(aiocosmos.PreconditionFailed) as stale:
        await container.replace_item("u", {"id": "u", "pk": "p", "v": 4}, etag=second.etag)
    assert stale.value.status_code == 412
    with pytest.raises(aiocosmos.PreconditionFailed):
        await container.upsert_item({"id": "u", "pk": "p", "v": 4}, etag=first.etag)
    with pytest.raises(aiocosmos.PreconditionFailed):
        await container.delete_item("u", partition_key="p", etag=first.etag)
    assert (await container.read_item("u", partition_key="p"))["v"] == 3
    # A result can be passed straight back as the next body.
    again = await container.replace_item(replaced, replaced)
    assert again["v"] == 3
    with pytest.raises(aiocosmos.NotFound):
        await container.replace_item("missing", {"id": "missing", "pk": "p"})
    with pytest.raises(aiocosmos.ValidationError, match="differs"):
        await container.replace_item("u", {"id": "other", "pk": "p"})
    await container.delete_item("u", partition_key="p", etag=again.etag)


async def test_patch(container: aiocosmos.ContainerProxy) -> None:
    await container.create_item({"id": "p1", "pk": "p", "count": 1, "tags": ["a"], "draft": True, "status": "open"})
    patched = await container.patch_item("p1", "p", [
        {"op": "incr", "path": "/count", "value": 4},
        {"op": "add", "path": "/tags/-", "value": "b"},
        {"op": "remove", "path": "/draft"},
        {"op": "set", "path": "/status", "value": "paid"},
    ])
    assert patched["count"] == 5 and patched["tags"] == ["a", "b"] and "draft" not in patched
    assert patched["status"] == "paid"
    with pytest.raises(aiocosmos.PreconditionFailed):
        await container.patch_item("p1", "p", [{"op": "set", "path": "/x", "value": 1}],
                                   filter_predicate="FROM c WHERE c.count > 100")
    ok = await container.patch_item("p1", "p", [{"op": "set", "path": "/x", "value": 1}],
                                    filter_predicate="FROM c WHERE c.count = 5", etag=patched.etag)
    assert ok["x"] == 1
    with pytest.raises(aiocosmos.PreconditionFailed):
        await container.patch_item("p1", "p", [{"op": "set", "path": "/x", "value": 2}], etag=patched.etag)
    with pytest.raises(aiocosmos.ValidationError, match="at most 10"):
        await container.patch_item("p1", "p", [{"op": "set", "path": f"/f{i}", "value": i} for i in range(11)])


async def test_automatic_id_generation(container: aiocosmos.ContainerProxy) -> None:
    body = {"pk": "p"}
    with pytest.raises(aiocosmos.ValidationError, match="no 'id'"):
        await container.create_item(body)
    created = await container.create_item(body, enable_automatic_id_generation=True)
    assert len(created["id"]) == 36 and "id" not in body


async def test_bad_documents_never_reach_the_server(container: aiocosmos.ContainerProxy) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="non-finite"):
        await container.create_item({"id": "nan", "pk": "p", "v": float("nan")})
    with pytest.raises(aiocosmos.ValidationError, match="2097152"):
        await container.create_item({"id": "big", "pk": "p", "blob": "x" * (2 * 1024 * 1024)})
    with pytest.raises(aiocosmos.ValidationError, match="'a/b'"):
        await container.create_item({"id": "a/b", "pk": "p"})
    assert [i async for i in container.read_all_items()] == []


async def test_session_consistency_header_is_accepted(database: aiocosmos.DatabaseProxy,
                                                      cosmos_server: object) -> None:
    # The local server never issues session tokens; the capture/send logic is covered in tests/client.
    container = await database.create_container("s", partition_key=aiocosmos.PartitionKey("/pk"))
    created = await container.create_item({"id": "1", "pk": "p"})
    assert created.session_token is None
    assert (await container.read_item("1", partition_key="p"))["id"] == "1"


async def _ids_in(container: aiocosmos.ContainerProxy, partition_key: str) -> list[str]:
    return sorted([i["id"] async for i in container.query_items("SELECT * FROM c", partition_key=partition_key)])


async def test_delete_all_items_by_partition_key(cosmos_server: CosmosTestServer,
                                                 container: aiocosmos.ContainerProxy) -> None:
    """One logical partition goes, the others stay; azure-cosmos's request (signed the same way) works too."""
    for n in range(6):
        await container.create_item({"id": f"i{n}", "pk": f"p{n % 3}"})
    response = await container.delete_all_items_by_partition_key("p0")
    assert response.status_code == 200
    assert (await _ids_in(container, "p0"), await _ids_in(container, "p1")) == ([], ["i1", "i4"])
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure = azure_client.get_database_client(container.database.id).get_container_client(container.id)
        await azure.delete_all_items_by_partition_key("p1")
    assert (await _ids_in(container, "p1"), await _ids_in(container, "p2")) == ([], ["i2", "i5"])
    with pytest.raises(aiocosmos.NotFound):
        await container.database.get_container_client("missing").delete_all_items_by_partition_key("p2")
