"""Which failures are retried for which operations (the rule in aiocosmos/_wire/retry.py's docstring)."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock
from tests.client.conftest import DOCS_PATH, ClientFactory, item_path, raises_clean
from tests.client.recording_server import RecordingServer, Reply

ITEM = item_path("x")
STRICT = aiocosmos.RetryPolicy(replay_idempotent_writes=False)
"""The strict switch: no write is replayed after an ambiguous failure (the rule before replays)."""


async def primed_container(client: aiocosmos.CosmosClient, server: RecordingServer) -> aiocosmos.ContainerProxy:
    """A container whose metadata is cached, with the server's record cleared."""
    container = client.get_database_client("db").get_container_client("c")
    await container.read()
    server.requests.clear()
    return container


def doc_requests(server: RecordingServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests]


async def test_449_on_a_create_is_retried(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.error(449, message="retry with"), Reply.error(449), method="POST", path=DOCS_PATH)

    created = await container.create_item({"id": "1", "pk": "a"})

    assert created["id"] == "1"
    assert len(server.requests_to("POST", DOCS_PATH)) == 3
    # Exponential backoff with equal jitter: [base/2, base], then [base, 2*base].
    assert len(clock.sleeps) == 2
    assert 0.05 <= clock.sleeps[0] <= 0.1
    assert 0.1 <= clock.sleeps[1] <= 0.2


async def test_449_forever_stops_after_max_transient_retries(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(method="POST", path=DOCS_PATH, forever=Reply.error(449))

    with raises_clean(aiocosmos.RetryWith, server) as info:
        await container.create_item({"id": "1", "pk": "a"})

    assert len(server.requests_to("POST", DOCS_PATH)) == 4
    assert info.value.attempts == 4


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_ambiguous_failure_on_a_read_is_retried(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock, status: int
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.error(status), method="GET", path=ITEM)

    item = await container.read_item("x", "p")

    assert item["id"] == "x"
    assert len(server.requests_to("GET", ITEM)) == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(("status", "error"), [
    (408, aiocosmos.RequestTimeout),
    (500, aiocosmos.InternalServerError),
    (503, aiocosmos.ServiceUnavailable),
])
async def test_ambiguous_failure_on_a_create_is_not_retried_with_the_strict_switch(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock, status: int,
    error: type[aiocosmos.HttpResponseError],
) -> None:
    container = await primed_container(make_client(retry=STRICT), server)
    server.script(Reply.error(status, message="try later"), method="POST", path=DOCS_PATH)

    with raises_clean(error, server) as info:
        await container.create_item({"id": "1", "pk": "a"})

    assert doc_requests(server) == [f"POST {DOCS_PATH}"]
    assert info.value.attempts == 1
    assert info.value.status_code == status
    assert clock.sleeps == []


@pytest.mark.parametrize("operation", ["upsert", "replace", "patch", "delete"])
async def test_503_on_other_writes_is_not_retried_with_the_strict_switch(
    server: RecordingServer, make_client: ClientFactory, operation: str
) -> None:
    container = await primed_container(make_client(retry=STRICT), server)
    server.script(method=None, path_prefix=DOCS_PATH, forever=Reply.error(503))

    with raises_clean(aiocosmos.ServiceUnavailable, server) as info:
        if operation == "upsert":
            await container.upsert_item({"id": "x", "pk": "a"})
        elif operation == "replace":
            await container.replace_item("x", {"id": "x", "pk": "a"})
        elif operation == "patch":
            await container.patch_item("x", "a", [{"op": "incr", "path": "/n", "value": 1}])
        else:
            await container.delete_item("x", "a")

    assert len(server.requests) == 1
    assert info.value.attempts == 1


@pytest.mark.parametrize("operation", ["replace", "patch", "conditional upsert", "conditional delete"])
async def test_503_on_writes_that_are_not_safe_to_replay_is_never_retried(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock, operation: str
) -> None:
    container = await primed_container(client, server)
    server.script(method=None, path_prefix=DOCS_PATH, forever=Reply.error(503))

    with raises_clean(aiocosmos.ServiceUnavailable, server) as info:
        if operation == "replace":
            await container.replace_item("x", {"id": "x", "pk": "a"})
        elif operation == "patch":
            await container.patch_item("x", "a", [{"op": "incr", "path": "/n", "value": 1}])
        elif operation == "conditional upsert":
            await container.upsert_item({"id": "x", "pk": "a"}, etag='"v1"')
        else:
            await container.delete_item("x", "a", etag='"v1"')

    assert len(server.requests) == 1
    assert info.value.attempts == 1 and not info.value.replayed
    assert clock.sleeps == []


async def test_503_on_a_query_is_retried(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    container = await primed_container(client, server)
    server.script(Reply.error(503), Reply.json({"Documents": [{"id": "1"}], "_count": 1}),
                  method="POST", path=DOCS_PATH)

    items = [item async for item in container.query_items("SELECT * FROM c")]

    assert items == [{"id": "1"}]
    assert len(server.requests_to("POST", DOCS_PATH)) == 2


async def test_503_forever_on_a_read_stops_after_max_transient_retries(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    client = make_client(retry=aiocosmos.RetryPolicy(max_transient_retries=5, backoff_cap=0.3))
    server.script(method="GET", path="/", forever=Reply.error(503))

    with raises_clean(aiocosmos.ServiceUnavailable, server) as info:
        await client.get_database_account()

    assert len(server.requests_to("GET", "/")) == 6
    assert info.value.attempts == 6
    assert len(clock.sleeps) == 5
    assert all(0 < s <= 0.3 for s in clock.sleeps)
    assert info.value.total_wait == pytest.approx(sum(clock.sleeps))


@pytest.mark.parametrize(("status", "error"), [
    (400, aiocosmos.BadRequest),
    (401, aiocosmos.Unauthorized),
    (403, aiocosmos.Forbidden),
    (404, aiocosmos.NotFound),
    (409, aiocosmos.Conflict),
    (412, aiocosmos.PreconditionFailed),
    (413, aiocosmos.RequestEntityTooLarge),
])
@pytest.mark.parametrize("operation", ["read", "create"])
async def test_fatal_statuses_are_never_retried(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock, status: int,
    error: type[aiocosmos.HttpResponseError], operation: str,
) -> None:
    container = await primed_container(client, server)
    server.script(method=None, path_prefix=DOCS_PATH, forever=Reply.error(status, message="no"))

    with raises_clean(error, server) as info:
        if operation == "read":
            await container.read_item("x", "p")
        else:
            await container.create_item({"id": "x", "pk": "a"})

    assert len(server.requests) == 1
    assert info.value.attempts == 1
    assert info.value.status_code == status
    assert clock.sleeps == []


async def test_session_not_available_is_retried_once_for_reads_only(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    container = await primed_container(client, server)
    server.script(method="GET", path=ITEM, forever=Reply.error(404, sub_status=1002))

    with raises_clean(aiocosmos.exceptions.ReadSessionNotAvailable, server) as info:
        await container.read_item("x", "p")

    assert len(server.requests_to("GET", ITEM)) == 2
    assert info.value.attempts == 2
    assert clock.sleeps == [0.0]
