"""Opening, closing, borrowing an aiohttp session, and the warning for a client never closed."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

import aiocosmos
from aiocosmos.testing import FakeClock
from tests.client.conftest import KEY, ClientFactory
from tests.client.recording_server import RecordingServer

Operation = Callable[[aiocosmos.CosmosClient], Awaitable[object]]


async def _query(client: aiocosmos.CosmosClient) -> None:
    async for _ in client.get_database_client("db").get_container_client("c").query_items("SELECT * FROM c"):
        pass


async def _list(client: aiocosmos.CosmosClient) -> None:
    async for _ in client.list_databases():
        pass


OPERATIONS: dict[str, Operation] = {
    "account": lambda c: c.get_database_account(),
    "create_database": lambda c: c.create_database("db2"),
    "read_database": lambda c: c.get_database_client("db").read(),
    "read_item": lambda c: c.get_database_client("db").get_container_client("c").read_item("x", "p"),
    "create_item": lambda c: c.get_database_client("db").get_container_client("c").create_item({"id": "1"}),
    "delete_item": lambda c: c.get_database_client("db").get_container_client("c").delete_item("x", "p"),
    "query": _query,
    "list": _list,
    "async with": lambda c: c.__aenter__(),
}


async def test_close_twice_is_fine(make_client: ClientFactory) -> None:
    client = make_client()
    await client.get_database_account()
    states = [client.closed]

    await client.close()
    await client.close()

    states.append(client.closed)
    assert states == [False, True]
    assert "closed" in repr(client)


@pytest.mark.parametrize("name", list(OPERATIONS))
@pytest.mark.parametrize("opened", [True, False])
async def test_operations_after_close_fail_before_any_request(
    server: RecordingServer, make_client: ClientFactory, name: str, opened: bool
) -> None:
    client = make_client()
    container = client.get_database_client("db").get_container_client("c")
    if opened:
        await container.read()  # opened, and the container's metadata cached
    await client.close()
    server.requests.clear()

    with pytest.raises(aiocosmos.ClientClosedError):
        await OPERATIONS[name](client)

    assert server.requests == []


async def test_async_with_closes_the_client(server: RecordingServer, clock: FakeClock) -> None:
    async with aiocosmos.CosmosClient(server.url, credential=KEY, clock=clock) as client:
        await client.get_database_account()
    assert client.closed
    with pytest.raises(aiocosmos.ClientClosedError):
        await client.get_database_account()


async def test_a_borrowed_http_session_stays_open(server: RecordingServer, clock: FakeClock) -> None:
    async with aiohttp.ClientSession() as http:
        client = aiocosmos.CosmosClient(server.url, credential=KEY, clock=clock, http_session=http)
        await client.get_database_account()
        await client.close()

        assert client.closed
        assert not http.closed
        async with http.get(server.url + "/") as response:  # still usable by its owner
            assert response.status == 200
        assert len(server.requests) == 2


async def test_an_owned_http_session_is_closed(make_client: ClientFactory) -> None:
    client = make_client()
    await client.get_database_account()
    http = client._http
    assert http is not None and not http.closed

    await client.close()

    assert http.closed


async def test_an_open_client_that_is_never_closed_warns_once(server: RecordingServer, clock: FakeClock) -> None:
    client = aiocosmos.CosmosClient(server.url, credential=KEY, clock=clock)
    await client.get_database_account()
    http = client._http  # keep aiohttp's own session alive, so only aiocosmos can warn here
    assert http is not None
    try:
        with pytest.warns(ResourceWarning) as record:
            del client
            gc.collect()
            gc.collect()
    finally:
        await http.close()

    resource_warnings = [w for w in record if issubclass(w.category, ResourceWarning)]
    assert len(resource_warnings) == 1, [str(w.message) for w in record]
    assert "unclosed" in str(resource_warnings[0].message)
    assert "CosmosClient" in str(resource_warnings[0].message)


async def test_clients_that_need_no_closing_do_not_warn(server: RecordingServer, clock: FakeClock) -> None:
    never_opened = aiocosmos.CosmosClient(server.url, credential=KEY, clock=clock)
    closed = aiocosmos.CosmosClient(server.url, credential=KEY, clock=clock)
    await closed.get_database_account()
    await closed.close()
    async with aiohttp.ClientSession() as http:
        borrowing = aiocosmos.CosmosClient(server.url, credential=KEY, clock=clock, http_session=http)
        await borrowing.get_database_account()
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            del never_opened, closed, borrowing
            gc.collect()
    assert [str(w.message) for w in record if issubclass(w.category, ResourceWarning)] == []
