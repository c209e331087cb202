"""Replaying the writes that are safe to replay (README, "Retries"), against the recording server.

After an ambiguous failure (408/500/502/503/504, a dropped connection, a read timeout) an
unconditional upsert is simply sent again; a create is sent again and a 409 on the replay is
resolved by reading the item back; an unconditional delete is sent again and a 404 on the replay is
success. ``result.replayed`` (and ``error.replayed``) says so. ``RetryPolicy(replay_idempotent_writes=
False)`` restores the strict rule (tests in test_retry_classification.py and test_transport_errors.py).
A request that may be replayed and fails on a reused pooled connection before any answer is sent
again at once (``StaleConnectionError``)."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock
from tests.client.conftest import DOCS_PATH, ClientFactory, closed_port, item_path, raises_clean
from tests.client.recording_server import RecordingServer, Reply

ITEM = item_path("x")
AMBIGUOUS = [Reply.error(408), Reply.error(500), Reply.error(502), Reply.error(503), Reply.error(504),
             Reply.dropped()]
AMBIGUOUS_IDS = ["408", "500", "502", "503", "504", "dropped"]


async def primed_container(client: aiocosmos.CosmosClient, server: RecordingServer) -> aiocosmos.ContainerProxy:
    container = client.get_database_client("db").get_container_client("c")
    await container.read()
    server.requests.clear()
    return container


def sent(server: RecordingServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests]


# -- upserts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", AMBIGUOUS, ids=AMBIGUOUS_IDS)
async def test_an_unconditional_upsert_is_replayed_after_an_ambiguous_failure(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock, failure: Reply
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.json({"id": "ok"}, status=200), method="POST", path=DOCS_PATH)  # the connection's last answer
    await container.upsert_item({"id": "warm", "pk": "a"})
    server.reset()
    server.script(failure, method="POST", path=DOCS_PATH)

    result = await container.upsert_item({"id": "x", "pk": "a", "n": 1})

    assert result["n"] == 1 and result.replayed and not result.applied_earlier
    posts = server.requests_to("POST", DOCS_PATH)
    assert len(posts) == 2 and posts[0].body == posts[1].body
    assert {p.headers["x-ms-documentdb-is-upsert"] for p in posts} == {"True"}
    # A dropped reused connection is sent again at once; every other failure after the policy's backoff.
    assert len(clock.sleeps) == (0 if failure.drop else 1)


async def test_a_replayed_upsert_stays_within_the_transient_budget_and_says_so(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    container = await primed_container(client, server)
    server.script(method="POST", path=DOCS_PATH, forever=Reply.error(503, message="busy"))

    with raises_clean(aiocosmos.ServiceUnavailable, server) as info:
        await container.upsert_item({"id": "x", "pk": "a"})

    err = info.value
    assert err.attempts == 1 + aiocosmos.RetryPolicy().max_transient_retries == 4
    assert err.replayed and err.may_have_been_applied
    assert "replayed after an ambiguous failure" in str(err)
    assert len(clock.sleeps) == 3


async def test_a_throttled_upsert_is_retried_but_not_a_replay(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.error(429, retry_after_ms=10), Reply.error(449), method="POST", path=DOCS_PATH)

    result = await container.upsert_item({"id": "x", "pk": "a"})

    assert not result.replayed and len(server.requests) == 3


async def test_a_replay_is_bounded_by_the_operation_deadline(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    container = await primed_container(client, server)
    server.script(method="POST", path=DOCS_PATH, forever=Reply.error(503))

    with pytest.raises(aiocosmos.OperationTimeout) as info:
        await container.upsert_item({"id": "x", "pk": "a"}, timeout=0.12)

    assert info.value.replayed and info.value.may_have_been_applied
    assert sum(clock.sleeps) < 0.12


async def test_a_successful_write_is_not_marked_and_its_headers_are_not_copied(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    result = await container.upsert_item({"id": "x", "pk": "a"})
    assert not result.replayed and not result.applied_earlier
    assert "x-aiocosmos-replayed" not in result.headers


# -- creates -------------------------------------------------------------------------------------


async def test_a_create_whose_replay_finds_its_own_item_succeeds(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    body = {"id": "x", "pk": "a", "n": 1, "tags": ["t", 2]}
    server.script(Reply.error(503), Reply.error(409, message="exists"), method="POST", path=DOCS_PATH)
    server.script(Reply.json({**body, "_rid": "r", "_self": "s", "_etag": '"e1"', "_attachments": "a/",
                              "_ts": 1, "_lsn": 7}), method="GET", path=ITEM)

    result = await container.create_item(body)

    assert result.status_code == 201 and result.replayed and result.applied_earlier
    assert result["n"] == 1 and result.etag == '"e1"'
    assert sent(server) == [f"POST {DOCS_PATH}", f"POST {DOCS_PATH}", f"GET {ITEM}"]
    assert server.requests[2].headers["x-ms-documentdb-partitionkey"] == '["a"]'


async def test_a_create_with_a_generated_id_replays_the_same_id(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.dropped(), method="POST", path=DOCS_PATH)

    result = await container.create_item({"pk": "a"}, enable_automatic_id_generation=True)

    posts = server.requests_to("POST", DOCS_PATH)
    assert len(posts) == 2 and posts[0].json()["id"] == posts[1].json()["id"] == result["id"]
    assert result.replayed and not result.applied_earlier


async def test_a_replayed_create_answered_409_for_another_item_raises_may_have_been_applied(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.error(500), Reply.error(409, message="exists"), method="POST", path=DOCS_PATH)
    server.script(Reply.json({"id": "x", "pk": "a", "n": 2, "_etag": '"e2"'}), method="GET", path=ITEM)

    with raises_clean(aiocosmos.Conflict, server) as info:
        await container.create_item({"id": "x", "pk": "a", "n": 1})

    err = info.value
    assert err.replayed and err.may_have_been_applied and err.attempts == 2
    assert "the stored item differs" in str(err) and "may have been applied" in str(err)
    assert sent(server)[-1] == f"GET {ITEM}"


async def test_a_replayed_create_answered_409_whose_item_is_gone_raises_the_409(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.dropped(), Reply.error(409), method="POST", path=DOCS_PATH)
    server.script(Reply.error(404), method="GET", path=ITEM)

    with raises_clean(aiocosmos.Conflict, server) as info:
        await container.create_item({"id": "x", "pk": "a"})

    assert info.value.may_have_been_applied and "gone when read back" in str(info.value)


async def test_a_409_after_a_failure_that_was_not_ambiguous_is_a_plain_conflict(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.error(429, retry_after_ms=10), Reply.error(409), method="POST", path=DOCS_PATH)

    with raises_clean(aiocosmos.Conflict, server) as info:
        await container.create_item({"id": "x", "pk": "a"})

    assert not info.value.replayed and not info.value.may_have_been_applied
    assert sent(server) == [f"POST {DOCS_PATH}", f"POST {DOCS_PATH}"]  # no read back


async def test_a_409_on_a_first_attempt_is_never_resolved(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.error(409), method="POST", path=DOCS_PATH)
    with raises_clean(aiocosmos.Conflict, server) as info:
        await container.create_item({"id": "x", "pk": "a"})
    assert info.value.attempts == 1 and sent(server) == [f"POST {DOCS_PATH}"]


# -- deletes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [Reply.error(503), Reply.dropped()], ids=["503", "dropped"])
async def test_a_replayed_delete_answered_404_is_success(
    server: RecordingServer, client: aiocosmos.CosmosClient, failure: Reply
) -> None:
    container = await primed_container(client, server)
    server.script(failure, Reply.error(404, message="gone"), method="DELETE", path=ITEM)

    result = await container.delete_item("x", "a")

    assert result.status_code == 204 and result.replayed and result.applied_earlier and dict(result) == {}
    assert len(server.requests_to("DELETE", ITEM)) == 2


async def test_a_replayed_delete_that_succeeds_is_replayed_but_not_applied_earlier(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.error(408), method="DELETE", path=ITEM)
    result = await container.delete_item("x", "a")
    assert result.replayed and not result.applied_earlier


async def test_a_404_on_a_delete_that_was_not_replayed_stays_an_error(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.error(449), Reply.error(404), method="DELETE", path=ITEM)
    with raises_clean(aiocosmos.NotFound, server) as info:
        await container.delete_item("x", "a")
    assert not info.value.replayed and info.value.attempts == 2


async def test_with_the_strict_switch_nothing_is_replayed(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    container = await primed_container(make_client(retry=aiocosmos.RetryPolicy(replay_idempotent_writes=False)),
                                       server)
    server.script(method=None, path_prefix=DOCS_PATH, forever=Reply.error(503))
    for write in (lambda: container.upsert_item({"id": "x", "pk": "a"}),
                  lambda: container.create_item({"id": "x", "pk": "a"}),
                  lambda: container.delete_item("x", "a")):
        with raises_clean(aiocosmos.ServiceUnavailable, server) as info:
            await write()
        assert info.value.attempts == 1 and not info.value.replayed
    assert len(server.requests) == 3 and clock.sleeps == []


def test_the_switch_is_a_bool() -> None:
    assert aiocosmos.RetryPolicy().replay_idempotent_writes is True
    with pytest.raises(aiocosmos.ConfigurationError, match="replay_idempotent_writes"):
        aiocosmos.RetryPolicy(replay_idempotent_writes="no")  # type: ignore[arg-type]


# -- stale pooled connections --------------------------------------------------------------------


async def test_a_read_on_a_reused_connection_that_drops_is_sent_again_at_once(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    container = await primed_container(client, server)  # leaves one idle pooled connection
    server.script(Reply.dropped(), method="GET", path=ITEM)

    item = await container.read_item("x", "a")

    assert item["id"] == "x" and len(server.requests_to("GET", ITEM)) == 2
    assert clock.sleeps == []


async def test_only_one_stale_retry_is_free(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.dropped(), Reply.dropped(), method="GET", path=ITEM)
    await container.read_item("x", "a")
    assert len(server.requests_to("GET", ITEM)) == 3
    assert len(clock.sleeps) == 1  # the second drop was on a fresh connection: the policy's backoff


async def test_a_replace_on_a_reused_connection_that_drops_is_not_sent_again(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = await primed_container(client, server)
    server.script(Reply.dropped(), method="PUT", path=ITEM)

    with raises_clean(aiocosmos.StaleConnectionError, server) as info:
        await container.replace_item("x", {"id": "x", "pk": "a"})

    assert info.value.may_have_reached_server and info.value.attempts == 1
    assert isinstance(info.value, aiocosmos.ReadError)
    assert len(server.requests) == 1


async def test_a_drop_on_a_fresh_connection_is_not_called_stale(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    client = make_client(retry=aiocosmos.RetryPolicy(replay_idempotent_writes=False))
    server.script(Reply.dropped(), method="POST", path="/dbs")
    with raises_clean(aiocosmos.ReadError, server) as info:
        await client.create_database("db2")  # the client's first request: a new connection
    assert type(info.value) is aiocosmos.ReadError


async def test_a_refused_connection_is_still_a_connect_error(make_client: ClientFactory) -> None:
    client = make_client(url=f"http://127.0.0.1:{closed_port()}", retry=aiocosmos.RetryPolicy(max_transient_retries=0))
    with pytest.raises(aiocosmos.ConnectError) as info:
        await client.get_database_account()
    assert not info.value.replayed and not info.value.may_have_been_applied
