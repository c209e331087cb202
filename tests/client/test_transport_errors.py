"""Failures without an HTTP answer: dropped connections, refused connections, per-attempt read timeouts."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock
from tests.client.conftest import DOCS_PATH, ClientFactory, closed_port, item_path, raises_clean
from tests.client.recording_server import RecordingServer, Reply

ITEM = item_path("x")
STRICT = aiocosmos.RetryPolicy(replay_idempotent_writes=False)
"""The strict switch: no write is replayed after an ambiguous failure (the rule before replays)."""


async def primed_container(client: aiocosmos.CosmosClient, server: RecordingServer) -> aiocosmos.ContainerProxy:
    container = client.get_database_client("db").get_container_client("c")
    await container.read()
    server.requests.clear()
    return container


async def test_dropped_connection_on_a_read_is_retried(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.dropped(), Reply.dropped(), Reply.dropped(), method="GET", path=ITEM)

    item = await container.read_item("x", "p")

    assert item["id"] == "x"
    assert len(server.requests_to("GET", ITEM)) == 4
    assert clock.sleeps, "the client itself retried the read (not only aiohttp's one silent resend)"


async def test_dropped_connection_on_a_create_is_raised_as_may_have_been_applied_with_the_strict_switch(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    container = await primed_container(make_client(retry=STRICT), server)
    server.script(Reply.dropped(), method="POST", path=DOCS_PATH)

    with raises_clean(aiocosmos.ReadError, server) as info:
        await container.create_item({"id": "1", "pk": "a"})

    err = info.value
    assert err.may_have_reached_server is True
    assert err.attempts == 1
    assert err.method == "POST"
    assert "may have reached the server" in str(err)
    assert len(server.requests) == 1
    assert clock.sleeps == []


async def test_dropped_connection_on_a_patch_is_not_replayed(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.dropped(), method="PATCH", path=ITEM)

    with raises_clean(aiocosmos.ReadError, server) as info:
        await container.patch_item("x", "a", [{"op": "incr", "path": "/n", "value": 1}])

    assert info.value.may_have_reached_server is True
    assert len(server.requests) == 1


@pytest.mark.parametrize("operation", ["replace_item", "delete_item", "conditional delete_item"])
async def test_dropped_connection_on_a_replace_or_delete_is_not_replayed(
    server: RecordingServer, make_client: ClientFactory, operation: str
) -> None:
    """A PUT/DELETE that reached the server may have been applied: sending it again could turn the
    caller's own success into 404/412 (or overwrite a concurrent write). The retry rule says such a
    write is raised, not replayed -- at any layer, including aiohttp's own resend of idempotent methods.
    An unconditional delete is replayed by default (see test_replay.py), so here it runs with the
    strict switch; a conditional one is never replayed."""
    client = make_client(retry=STRICT) if operation == "delete_item" else make_client()
    container = await primed_container(client, server)
    server.script(method=None, path=ITEM, forever=Reply.dropped())

    with raises_clean(aiocosmos.ReadError, server) as info:
        if operation == "replace_item":
            await container.replace_item("x", {"id": "x", "pk": "a"}, etag='"v1"')
        elif operation == "delete_item":
            await container.delete_item("x", "a")
        else:
            await container.delete_item("x", "a", etag='"v1"')

    assert info.value.may_have_reached_server is True
    assert info.value.attempts == 1
    assert len(server.requests) == 1, [f"{r.method} {r.path}" for r in server.requests]


@pytest.mark.parametrize("operation", ["read", "query", "create_database", "create_item"])
async def test_connect_error_is_retried_for_reads_and_writes(
    make_client: ClientFactory, clock: FakeClock, server: RecordingServer, operation: str
) -> None:
    client = make_client(url=f"http://127.0.0.1:{closed_port()}")
    database = client.get_database_client("db")

    with raises_clean(aiocosmos.ConnectError, server) as info:
        if operation == "read":
            await database.read()
        elif operation == "query":
            async for _ in database.get_container_client("c").query_items("SELECT * FROM c"):
                pass
        elif operation == "create_database":
            await client.create_database("db2")
        else:
            await database.get_container_client("c").create_item({"id": "1", "pk": "a"})

    err = info.value
    assert err.may_have_reached_server is False
    assert err.attempts == 1 + aiocosmos.RetryPolicy().max_transient_retries == 4
    assert len(clock.sleeps) == 3
    assert err.total_wait == sum(clock.sleeps)
    assert "was not sent" in str(err)
    assert "attempts=4" in str(err)


async def test_connect_error_retries_follow_the_policy(make_client: ClientFactory, clock: FakeClock) -> None:
    client = make_client(url=f"http://127.0.0.1:{closed_port()}",
                         retry=aiocosmos.RetryPolicy(max_transient_retries=1))

    with pytest.raises(aiocosmos.ConnectError) as info:
        await client.create_database("db2")

    assert info.value.attempts == 2
    assert len(clock.sleeps) == 1


async def test_read_timeout_on_a_read_is_retried(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    client = make_client(timeouts=aiocosmos.Timeouts(read=0.02))
    server.script(Reply(delay=0.05), method="GET", path="/")

    account = await client.get_database_account()

    assert account["id"] == "localaccount"
    assert len(server.requests_to("GET", "/")) == 2


async def test_read_timeout_on_a_create_is_raised(server: RecordingServer, make_client: ClientFactory) -> None:
    client = make_client(timeouts=aiocosmos.Timeouts(read=0.02))
    server.script(Reply(delay=0.05), method="POST", path="/dbs")

    with raises_clean(aiocosmos.ReadTimeout, server) as info:
        await client.create_database("db2")

    err = info.value
    assert isinstance(err, TimeoutError)
    assert isinstance(err, aiocosmos.ReadError)
    assert err.may_have_reached_server is True
    assert err.attempts == 1
    assert len(server.requests_to("POST", "/dbs")) == 1


async def test_per_attempt_read_timeout_still_applies_when_the_operation_has_a_deadline(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    """Timeouts.read bounds every attempt; an operation deadline (timeout=) must not switch it off."""
    client = make_client(timeouts=aiocosmos.Timeouts(read=0.02))
    server.script(Reply(delay=0.05), method="GET", path="/")

    await client.get_database_account(timeout=30.0)

    assert len(server.requests_to("GET", "/")) == 2, "the slow first attempt should have timed out after 20 ms"
