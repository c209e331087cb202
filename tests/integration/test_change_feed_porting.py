"""The change feed as azure-cosmos code reads it (issue 15): ``is_start_from_beginning``, and resuming from
``client_connection.last_response_headers["etag"]``, which is the feed's own continuation token (as azure-cosmos
puts its own there), or a bare service etag (azure-cosmos's v1 token). The local server's change feed is a stub,
so these run against the faithful ChangeFeedFront (tests/integration/change_feed_front.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.integration.change_feed_front import FRONT, ChangeFeedFront
from tests.server import CosmosTestServer


async def _front(database: aiocosmos.DatabaseProxy, cosmos_server: CosmosTestServer,
                 ranges: int) -> AsyncIterator[tuple[ChangeFeedFront, aiocosmos.ContainerProxy]]:
    front = await ChangeFeedFront(cosmos_server.url, database.id, ranges=ranges).start()
    try:
        async with aiocosmos.CosmosClient(front.url, credential=cosmos_server.key) as client:
            yield front, client.get_database_client(front.database).get_container_client(FRONT)
    finally:
        await front.close()


@pytest.fixture
async def wide(database: aiocosmos.DatabaseProxy, cosmos_server: CosmosTestServer
               ) -> AsyncIterator[tuple[ChangeFeedFront, aiocosmos.ContainerProxy]]:
    async for pair in _front(database, cosmos_server, ranges=4):
        yield pair


@pytest.fixture
async def single(database: aiocosmos.DatabaseProxy, cosmos_server: CosmosTestServer
                 ) -> AsyncIterator[tuple[ChangeFeedFront, aiocosmos.ContainerProxy]]:
    async for pair in _front(database, cosmos_server, ranges=1):
        yield pair


async def _ids(feed: Any) -> list[str]:
    return sorted([item["id"] async for item in feed])


async def test_is_start_from_beginning_reads_from_the_beginning(
    wide: tuple[ChangeFeedFront, aiocosmos.ContainerProxy],
) -> None:
    _, container = wide
    for n in range(3):
        await container.create_item({"id": f"i{n}", "pk": f"p{n}"})
    assert await _ids(container.query_items_change_feed(is_start_from_beginning=True)) == ["i0", "i1", "i2"]
    assert await _ids(container.query_items_change_feed()) == []  # "Now", azure-cosmos's default
    with pytest.raises(ValueError, match="contradicts start_time"):
        container.query_items_change_feed(is_start_from_beginning=True, start_time="Now")


async def test_the_last_response_etag_resumes_every_partition_as_in_azure_cosmos(
    wide: tuple[ChangeFeedFront, aiocosmos.ContainerProxy], cosmos_server: CosmosTestServer,
) -> None:
    front, container = wide
    for n in range(8):
        await container.create_item({"id": f"old{n}", "pk": f"p{n}"})

    async def resume(items: list[dict[str, Any]], token: str) -> list[str]:
        for n in range(8):
            await container.create_item({"id": f"new{n}-{len(items)}", "pk": f"p{n}"})
        return await _ids(container.query_items_change_feed(continuation=token))

    pages = container.query_items_change_feed(start_time="Beginning").by_page()
    first = [item async for page in pages async for item in page]
    token = container.client_connection.last_response_headers["etag"]
    assert token == pages.continuation  # the feed's own token
    ours = await resume(first, token)

    async with AzureClient(front.url, credential=cosmos_server.key) as azure:  # the same steps, through azure
        azure_container = azure.get_database_client(front.database).get_container_client(FRONT)
        theirs_first = [i async for i in azure_container.query_items_change_feed(start_time="Beginning")]
        azure_token = azure_container.client_connection.last_response_headers["etag"]
        for n in range(8):
            await azure_container.create_item({"id": f"az{n}", "pk": f"p{n}"})
        theirs = sorted([i["id"] async for i in azure_container.query_items_change_feed(continuation=azure_token)])
    assert len(first) == 8 and len(theirs_first) == 16  # azure reads after ours wrote 8 more
    assert ours == [f"new{n}-8" for n in range(8)]
    assert theirs == [f"az{n}" for n in range(8)]


async def test_a_bare_service_etag_resumes_a_single_partition_feed(
    single: tuple[ChangeFeedFront, aiocosmos.ContainerProxy],
) -> None:
    _, container = single
    await container.create_item({"id": "i0", "pk": "a"})
    pages = [page async for page in container.query_items_change_feed(start_time="Beginning").by_page()]
    service_etag = pages[-1].headers["etag"]
    assert service_etag.strip('"').isdigit()
    await container.create_item({"id": "i1", "pk": "b"})
    assert await _ids(container.query_items_change_feed(continuation=service_etag)) == ["i1"]
    by_page = container.query_items_change_feed().by_page(service_etag)
    assert [item["id"] async for page in by_page for item in page] == ["i1"]
