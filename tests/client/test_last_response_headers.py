"""``client.client_connection.last_response_headers`` (issue 15): azure-cosmos's shared attribute,
offered as a porting aid but task-local (a ``contextvars`` variable set by every request), so
concurrent tasks each see their own last response."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

import aiocosmos
from tests.client.conftest import item_path
from tests.client.recording_server import RecordingServer, Reply


def _reply(item_id: str) -> Reply:
    return Reply.json({"id": item_id, "pk": "a"}, **{"x-ms-activity-id": f"act-{item_id}",
                                                    "x-ms-request-charge": str(len(item_id))})


async def test_two_interleaving_tasks_each_see_their_own_last_response(
    server: RecordingServer, client: aiocosmos.CosmosClient, container: aiocosmos.ContainerProxy
) -> None:
    await container.read()  # the partition-key definition, read once for both tasks
    for item_id in ("a1", "a2", "b1", "b2"):
        server.script(_reply(item_id), method="GET", path=item_path(item_id))
    connection = client.client_connection
    a_read, b_read, a_checked = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def task_a() -> list[str | None]:
        seen = []
        await container.read_item("a1", "a")
        a_read.set()
        await b_read.wait()  # b1 was answered after a1: a shared attribute would now say b1
        seen.append(connection.last_response_headers.get("x-ms-activity-id"))
        a_checked.set()
        await container.read_item("a2", "a")
        seen.append(connection.last_response_headers.get("x-ms-activity-id"))
        return seen

    async def task_b() -> list[str | None]:
        seen = []
        await a_read.wait()
        await container.read_item("b1", "a")
        seen.append(connection.last_response_headers.get("x-ms-activity-id"))
        b_read.set()
        await a_checked.wait()
        await container.read_item("b2", "a")
        await asyncio.sleep(0)
        seen.append(container.client_connection.last_response_headers.get("x-ms-activity-id"))
        return seen

    seen_a, seen_b = await asyncio.gather(task_a(), task_b())

    assert seen_a == ["act-a1", "act-a2"]
    assert seen_b == ["act-b1", "act-b2"]
    # The test's own task made only the container read: it saw neither task's responses.
    assert connection.last_response_headers.get("x-ms-activity-id") != "act-b2"


async def test_an_error_answer_is_the_last_response_and_a_new_task_starts_empty(
    server: RecordingServer, client: aiocosmos.CosmosClient, container: aiocosmos.ContainerProxy
) -> None:
    async def fresh() -> dict[str, str]:
        return dict(client.client_connection.last_response_headers)

    assert await asyncio.create_task(fresh(), context=contextvars.Context()) == {}
    server.script(Reply.error(404, headers={"x-ms-activity-id": "act-missing", "x-ms-request-charge": "1.5"}),
                  method="GET", path=item_path("missing"))
    with pytest.raises(aiocosmos.NotFound):
        await container.read_item("missing", "a")

    headers = client.client_connection.last_response_headers
    assert headers["X-MS-ACTIVITY-ID"] == "act-missing" and headers["x-ms-request-charge"] == "1.5"
    database = client.get_database_client("db")
    assert database.client_connection.last_response_headers is headers
    assert aiocosmos.last_response_headers() is headers


async def test_every_proxy_reaches_the_same_task_local_value(
    server: RecordingServer, client: aiocosmos.CosmosClient, container: aiocosmos.ContainerProxy
) -> None:
    server.script(_reply("x"), method="GET", path=item_path("x"))
    result = await container.read_item("x", "a")
    assert client.client_connection.last_response_headers is result.headers
    assert isinstance(client.client_connection, aiocosmos.ClientConnection)
