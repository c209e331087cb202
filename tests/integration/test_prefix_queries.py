"""Prefix queries on hierarchical keys against the local server, which serves EPK-bounded queries
(tests/cosmos-server/README.md): the same documents whether the container definition is cached or
not, the same as azure-cosmos finds, paged and resumed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.server import CosmosTestServer

DOCS = [{"id": f"d{n}", "tenant": f"t{n % 3}", "user": f"u{n % 4}", "n": n} for n in range(24)]


@pytest.fixture
async def tenants(database: aiocosmos.DatabaseProxy) -> AsyncIterator[aiocosmos.ContainerProxy]:
    container = await database.create_container(
        "tenants", partition_key=aiocosmos.PartitionKey(["/tenant", "/user"], kind="MultiHash"))
    for document in DOCS:
        await container.create_item(document)
    yield container


def ids(items: list[Any]) -> list[str]:
    return sorted(item["id"] for item in items)


async def test_a_prefix_query_finds_the_prefixs_documents_cached_or_not(
    cosmos_server: CosmosTestServer, tenants: aiocosmos.ContainerProxy
) -> None:
    expected = ids([d for d in DOCS if d["tenant"] == "t1"])
    assert tenants._core.partition_keys.get(tenants._link) is not None  # created here: the definition is cached
    warm = [item async for item in tenants.query_items("SELECT * FROM c", partition_key=["t1"])]
    async with aiocosmos.CosmosClient(cosmos_server.url, credential=cosmos_server.key) as other:
        cold_container = other.get_database_client(tenants.database.id).get_container_client(tenants.id)
        cold = [item async for item in cold_container.query_items("SELECT * FROM c", partition_key=["t1"])]
    assert ids(warm) == ids(cold) == expected
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure_container = azure_client.get_database_client(tenants.database.id).get_container_client(tenants.id)
        sdk = [item async for item in azure_container.query_items("SELECT * FROM c", partition_key=["t1"])]
    assert ids(sdk) == expected
    # A full key still addresses one logical partition; a filter and ORDER BY run inside the prefix.
    full = [item async for item in tenants.query_items("SELECT * FROM c", partition_key=["t1", "u1"])]
    assert ids(full) == ids([d for d in DOCS if (d["tenant"], d["user"]) == ("t1", "u1")])
    ordered = [item async for item in tenants.query_items(
        "SELECT VALUE c.n FROM c WHERE c.n > @n ORDER BY c.n DESC", parameters=[{"name": "@n", "value": 5}],
        partition_key=["t2"])]
    assert ordered == sorted((d["n"] for d in DOCS if d["tenant"] == "t2" and d["n"] > 5), reverse=True)


async def test_a_prefix_query_pages_and_resumes(tenants: aiocosmos.ContainerProxy) -> None:
    query = "SELECT * FROM c ORDER BY c.n"
    pages = [page async for page in tenants.query_items(query, partition_key=["t0"], max_item_count=3).by_page()]
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [item["n"] for page in pages for item in page] == [d["n"] for d in DOCS if d["tenant"] == "t0"]
    assert pages[0].continuation is not None and pages[-1].continuation is None
    resumed = tenants.query_items(query, partition_key=["t0"], max_item_count=3).by_page(pages[0].continuation)
    assert [[item["n"] for item in page] async for page in resumed] == [[item["n"] for item in page]
                                                                        for page in pages[1:]]
