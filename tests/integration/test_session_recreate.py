"""Session tokens against the local server (SESSION_TOKENS=1): every answer feeds the session, and a
container deleted and re-created under the same name by another client starts a fresh one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import aiocosmos
from tests.server import CosmosTestServer


@pytest.fixture(scope="module")
def session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosTestServer]:
    log = tmp_path_factory.mktemp("cosmos-server-sessions") / "server.log"
    with CosmosTestServer(env={"SESSION_TOKENS": "1"}, log_path=Path(log)) as server:
        yield server


@pytest.fixture
async def two_clients(session_server: CosmosTestServer) -> AsyncIterator[tuple[aiocosmos.CosmosClient, ...]]:
    async with aiocosmos.CosmosClient(session_server.url, credential=session_server.key) as one, \
            aiocosmos.CosmosClient(session_server.url, credential=session_server.key) as two:
        yield one, two


async def test_a_container_re_created_by_another_client_starts_a_fresh_session(
    two_clients: tuple[aiocosmos.CosmosClient, ...],
) -> None:
    mine, other = two_clients
    database = await mine.create_database_if_not_exists("sessions")
    container = await database.create_container("c", partition_key=aiocosmos.PartitionKey("/pk"))
    tokens = mine._core.session_tokens
    first_rid = tokens.rid(container._link)
    assert first_rid
    await container.create_item({"id": "1", "pk": "p"})
    for n in range(5):  # move the server's LSN on, so that the old session is well ahead
        await container.upsert_item({"id": f"w{n}", "pk": "p"})
    old_token = tokens.get(container._link)
    assert old_token is not None

    # Another client deletes and re-creates the container under the same name.
    theirs = other.get_database_client("sessions")
    await theirs.delete_container("c")
    await theirs.create_container("c", partition_key=aiocosmos.PartitionKey("/pk"))
    await theirs.get_container_client("c").create_item({"id": "2", "pk": "p"})

    await container.read()  # the proxy learns the container's new _rid
    assert tokens.rid(container._link) not in (None, first_rid)
    assert tokens.get(container._link) is None  # the old container's token is gone

    item = await container.read_item("2", "p")  # a read answer starts the new session
    assert item["id"] == "2"
    assert tokens.get(container._link) == item.session_token
    await mine.delete_database("sessions")


async def test_reads_and_queries_feed_the_session(two_clients: tuple[aiocosmos.CosmosClient, ...]) -> None:
    mine, other = two_clients
    database = await mine.create_database_if_not_exists("sessions-reads")
    container = await database.create_container("c", partition_key=aiocosmos.PartitionKey("/pk"))
    await container.create_item({"id": "1", "pk": "p"})
    # The other client's writes move the server's counter; this client only reads afterwards.
    for n in range(3):
        await other.get_database_client("sessions-reads").get_container_client("c").upsert_item(
            {"id": f"o{n}", "pk": "p"})
    written = mine._core.session_tokens.get(container._link)

    items = [item async for item in container.query_items("SELECT * FROM c", partition_key="p")]
    assert len(items) == 4

    assert written is not None
    after = mine._core.session_tokens.get(container._link)
    assert after is not None and _lsn(after) >= _lsn(written) + 3  # the query's answer was merged
    await mine.delete_database("sessions-reads")


def _lsn(token: str) -> int:
    """The global LSN of a one-range token ``0:1#<n>`` (the local server's form)."""
    return int(token.split("#")[1])
