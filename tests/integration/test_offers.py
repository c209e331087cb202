"""Provisioned throughput against the local server, whose launcher keeps offers as a provisioned account does
(tests/cosmos-server/offers.js): shared database offers, dedicated container offers (400 RU/s by default),
none for a container sharing its database's; azure-cosmos reads and replaces them through the same server."""

from __future__ import annotations

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos import ThroughputProperties
from tests.server import CosmosTestServer


async def test_dedicated_and_shared_throughput(client: aiocosmos.CosmosClient, database: aiocosmos.DatabaseProxy
                                               ) -> None:
    plain = await database.create_container("plain", partition_key=aiocosmos.PartitionKey("/pk"))
    assert (await plain.get_throughput()).offer_throughput == 400  # a dedicated container's default
    with pytest.raises(aiocosmos.NotFound) as none:
        await database.get_throughput()  # created without throughput: nothing shared
    assert none.value.sub_status == 10004

    shared = await client.create_database(f"{database.id}-shared", offer_throughput=1000)
    shared_self = (await shared.read())["_self"]
    try:
        assert (await shared.get_throughput()).offer_throughput == 1000
        in_shared = await shared.create_container("c", partition_key=aiocosmos.PartitionKey("/pk"))
        with pytest.raises(aiocosmos.NotFound) as sharing:
            await in_shared.get_throughput()
        assert sharing.value.sub_status == 10004
        own = await shared.create_container("own", partition_key=aiocosmos.PartitionKey("/pk"), offer_throughput=500)
        assert (await own.get_throughput()).offer_throughput == 500
    finally:
        await client.delete_database(shared)
    links = [o["resource"] async for o in client.list_offers()]
    assert (await plain.read())["_self"] in links
    assert [link for link in links if link.startswith(shared_self)] == []  # they went with their database


async def test_replace_manual_and_autoscale(client: aiocosmos.CosmosClient, database: aiocosmos.DatabaseProxy
                                           ) -> None:
    manual = await database.create_container("manual", partition_key=aiocosmos.PartitionKey("/pk"))
    replaced = await manual.replace_throughput(1200)
    assert replaced.offer_throughput == (await manual.get_throughput()).offer_throughput == 1200

    auto = await database.create_container("auto", partition_key=aiocosmos.PartitionKey("/pk"),
                                           offer_throughput=ThroughputProperties(auto_scale_max_throughput=4000))
    assert (await auto.get_throughput()).auto_scale_max_throughput == 4000
    await auto.replace_throughput(ThroughputProperties(auto_scale_max_throughput=8000))
    assert (await auto.get_throughput()).auto_scale_max_throughput == 8000
    with pytest.raises(aiocosmos.ValidationError, match="migration"):
        await auto.replace_throughput(1000)

    await database.delete_container(manual)
    offers = [o async for o in client.query_offers(
        "SELECT * FROM root r WHERE r.offerResourceId = @rid",
        parameters=[{"name": "@rid", "value": (await auto.read())["_rid"]}])]
    assert [o["content"]["offerAutopilotSettings"]["maxThroughput"] for o in offers] == [8000]


async def test_offers_agree_with_azure_cosmos(cosmos_server: CosmosTestServer, database: aiocosmos.DatabaseProxy
                                              ) -> None:
    container = await database.create_container("c", partition_key=aiocosmos.PartitionKey("/pk"),
                                                offer_throughput=700)
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure = azure_client.get_database_client(database.id).get_container_client("c")
        assert (await azure.get_throughput()).offer_throughput == 700
        await azure.replace_throughput(900)
        assert (await container.get_throughput()).offer_throughput == 900
        await container.replace_throughput(1100)
        assert (await azure.get_throughput()).offer_throughput == 1100
