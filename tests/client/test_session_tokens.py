"""Session consistency: tokens returned by writes are sent on later reads of the same container only."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos._wire.session_tokens import SessionTokens, merge_session_tokens
from tests.client.conftest import DOCS_PATH, ClientFactory, item_path
from tests.client.recording_server import RecordingServer, Reply

SESSION = "x-ms-session-token"


def with_token(token: str, body: dict[str, object] | None = None, status: int = 201) -> Reply:
    return Reply(status=status, headers={SESSION: token}, body=body or {"id": "1"})


async def read_everything(container: aiocosmos.ContainerProxy) -> None:
    await container.read_item("x", "p")
    _ = [item async for item in container.query_items("SELECT * FROM c")]
    _ = [item async for item in container.query_items("SELECT * FROM c", partition_key="p")]
    _ = [item async for item in container.read_all_items()]


def read_tokens(server: RecordingServer, docs_path: str = DOCS_PATH) -> list[str | None]:
    """The session token of every read/query sent to one container's items since the last clear."""
    reads = [r for r in server.requests if r.path.startswith(docs_path)
             and (r.method == "GET" or r.headers.get("x-ms-documentdb-isquery") == "True")]
    assert len(reads) == 4
    return [r.headers.get(SESSION) for r in reads]


async def test_reads_carry_the_session_token_of_earlier_writes(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client("db").get_container_client("c")
    await read_everything(container)
    assert read_tokens(server) == [None] * 4  # nothing written yet: nothing to send

    server.requests.clear()
    server.script(with_token("0:1#5"), method="POST", path=DOCS_PATH)
    await container.create_item({"id": "1", "pk": "p"})
    await read_everything(container)
    assert read_tokens(server) == ["0:1#5"] * 4

    server.requests.clear()
    server.script(with_token("0:1#9", status=200), method="PUT", path=item_path("1"))
    await container.replace_item("1", {"id": "1", "pk": "p"})
    await read_everything(container)
    assert read_tokens(server) == ["0:1#9"] * 4

    # A stale token (an older write's answer arriving late) must not move the session backwards.
    server.requests.clear()
    server.script(with_token("0:1#7", status=200), method="PATCH", path=item_path("1"))
    await container.patch_item("1", "p", [{"op": "set", "path": "/a", "value": 1}])
    await read_everything(container)
    assert read_tokens(server) == ["0:1#9"] * 4

    # Another partition-key range joins the compound token.
    server.requests.clear()
    server.script(Reply(status=204, headers={SESSION: "1:1#4"}), method="DELETE", path=item_path("1"))
    await container.delete_item("1", "p")
    await read_everything(container)
    assert read_tokens(server) == ["0:1#9,1:1#4"] * 4


async def test_upsert_tokens_are_captured(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    container = client.get_database_client("db").get_container_client("c")
    server.script(with_token("0:1#3"), method="POST", path=DOCS_PATH)
    await container.upsert_item({"id": "1", "pk": "p"})
    server.requests.clear()

    await read_everything(container)

    assert read_tokens(server) == ["0:1#3"] * 4


async def test_other_containers_never_receive_a_containers_token(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    database = client.get_database_client("db")
    first = database.get_container_client("c")
    same_name_other_db = client.get_database_client("db2").get_container_client("c")
    other = database.get_container_client("c2")
    server.script(with_token("0:1#5"), method="POST", path=DOCS_PATH)
    await first.create_item({"id": "1", "pk": "p"})
    server.requests.clear()

    await read_everything(other)
    await read_everything(same_name_other_db)

    assert read_tokens(server, "/dbs/db/colls/c2/docs") == [None] * 4
    assert read_tokens(server, "/dbs/db2/colls/c/docs") == [None] * 4
    assert not [r for r in server.requests if SESSION in r.headers]


async def test_a_second_proxy_of_the_same_container_shares_the_session(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    writer = client.get_database_client("db").get_container_client("c")
    reader = client.get_database_client("db").get_container_client("c")
    server.script(with_token("0:1#5"), method="POST", path=DOCS_PATH)
    await writer.create_item({"id": "1", "pk": "p"})
    server.requests.clear()

    await read_everything(reader)

    assert read_tokens(server) == ["0:1#5"] * 4


async def test_deleting_a_container_forgets_its_session(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    database = client.get_database_client("db")
    container = database.get_container_client("c")
    server.script(with_token("0:1#5"), method="POST", path=DOCS_PATH)
    await container.create_item({"id": "1", "pk": "p"})
    await database.delete_container("c")
    server.requests.clear()

    await read_everything(container)

    assert read_tokens(server) == [None] * 4


async def test_tokens_of_two_clients_are_independent(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    one = make_client().get_database_client("db").get_container_client("c")
    two = make_client().get_database_client("db").get_container_client("c")
    server.script(with_token("0:1#5"), method="POST", path=DOCS_PATH)
    await one.create_item({"id": "1", "pk": "p"})
    server.requests.clear()

    await read_everything(two)

    assert read_tokens(server) == [None] * 4


# -- merge_session_tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "merged"), [
    # Same range, same version: highest global LSN, highest local LSN per region.
    ("0:1#5#1=3", "0:1#7#1=2,1:1#4", "0:1#7#1=3,1:1#4"),
    ("0:1#5", "0:1#9", "0:1#9"),
    ("0:1#9", "0:1#5", "0:1#9"),
    # A newer version's regions win, raised to the older token's progress where both have a region.
    ("0:1#5#1=3", "0:2#4#1=2#2=7", "0:2#5#1=3#2=7"),
    ("0:2#5#1=3", "0:1#9#1=8#2=7", "0:2#9#1=8"),
    # Disjoint ranges are all kept, in first-seen order.
    ("0:1#5", "1:1#4", "0:1#5,1:1#4"),
    ("0:1#5,1:1#4", "1:1#6,2:1#1", "0:1#5,1:1#6,2:1#1"),
    # Unparseable (or old-format) tokens: the newer one wins unchanged.
    ("garbage", "0:1#9", "0:1#9"),
    ("0:1#9", "0:5", "0:5"),
    ("0:1#x", "0:1#9", "0:1#9"),
])
def test_merge_session_tokens(old: str, new: str, merged: str) -> None:
    assert merge_session_tokens(old, new) == merged


def test_merge_is_order_independent_for_progress() -> None:
    a, b = "0:1#5#1=3,1:1#2#1=1", "0:1#7#1=2,1:1#4#1=9"

    def parsed(token: str) -> set[str]:
        return set(token.split(","))

    assert parsed(merge_session_tokens(a, b)) == parsed(merge_session_tokens(b, a)) == {"0:1#7#1=3", "1:1#4#1=9"}


def test_session_tokens_store() -> None:
    tokens = SessionTokens()
    tokens.capture("dbs/db/colls/c", None)
    tokens.capture("dbs/db/colls/c", "")
    assert tokens.get("dbs/db/colls/c") is None
    tokens.capture("dbs/db/colls/c", "0:1#5#1=1")
    tokens.capture("dbs/db/colls/c", "0:1#7#1=2")
    tokens.capture("dbs/db/colls/d", "0:1#1")
    assert tokens.get("dbs/db/colls/c") == "0:1#7#1=2"
    assert tokens.get("dbs/db/colls/d") == "0:1#1"
    tokens.forget("dbs/db/colls/c")
    assert tokens.get("dbs/db/colls/c") is None
    assert tokens.get("dbs/db/colls/d") == "0:1#1"
