"""Session consistency: tokens returned by writes are sent on later reads of the same container only."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos._wire.session_tokens import SessionTokens, merge_session_tokens
from tests.client.conftest import COLL_PATH, DOCS_PATH, ClientFactory, item_path
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


# -- every answer feeds the session (issue 14 item 3) ---------------------------------------------


def item_reads(server: RecordingServer) -> list[str | None]:
    return [r.headers.get(SESSION) for r in server.requests_to("GET", item_path("x"))]


async def test_a_read_after_a_read_in_another_replica_state_sends_the_merged_token(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client("db").get_container_client("c")
    # Two reads served by replicas in different states: region 1 is further on the first, the
    # global LSN on the second. The third read must require both.
    server.script(Reply.json({"id": "x"}, x_ms_session_token="0:1#5#1=3"),
                  Reply.json({"id": "x"}, x_ms_session_token="0:1#7#1=2"), method="GET", path=item_path("x"))
    await container.read_item("x", "p")
    await container.read_item("x", "p")
    await container.read_item("x", "p")

    assert item_reads(server) == [None, "0:1#5#1=3", "0:1#7#1=3"]


async def test_query_feed_and_change_feed_pages_feed_the_session(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client("db").get_container_client("c")
    page = {"_rid": "rid", "Documents": [], "_count": 0}
    server.script(Reply.json(page, x_ms_session_token="0:1#4"), method="POST", path=DOCS_PATH)
    _ = [item async for item in container.query_items("SELECT * FROM c", partition_key="p")]
    server.script(Reply.json(page, x_ms_session_token="1:1#6"), method="GET", path=DOCS_PATH)
    _ = [item async for item in container.read_all_items()]
    server.script(Reply(status=304, headers={SESSION: "2:1#2", "etag": '"9"'}), method="GET", path=DOCS_PATH)
    feed = container.query_items_change_feed(partition_key="p")
    _ = [item async for item in feed]
    server.requests.clear()

    await container.read_item("x", "p")

    assert item_reads(server) == ["0:1#4,1:1#6,2:1#2"]


async def test_conflict_and_precondition_failed_answers_feed_the_session(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client("db").get_container_client("c")
    server.script(Reply.error(409, headers={SESSION: "0:1#8"}), method="POST", path=DOCS_PATH)
    with pytest.raises(aiocosmos.exceptions.Conflict):
        await container.create_item({"id": "1", "pk": "p"})
    server.script(Reply.error(412, headers={SESSION: "1:1#3"}), method="PUT", path=item_path("1"))
    with pytest.raises(aiocosmos.exceptions.PreconditionFailed):
        await container.replace_item("1", {"id": "1", "pk": "p"}, etag='"old"')
    server.requests.clear()

    await container.read_item("x", "p")

    assert item_reads(server) == ["0:1#8,1:1#3"]


async def test_a_container_re_created_under_the_same_name_starts_a_fresh_session(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client("db").get_container_client("c")
    definition = {"id": "c", "partitionKey": {"paths": ["/pk"], "kind": "Hash"}}
    server.script(Reply.json({**definition, "_rid": "old="}), Reply.json({**definition, "_rid": "new="}),
                  method="GET", path=COLL_PATH)
    server.script(with_token("0:1#90"), method="POST", path=DOCS_PATH)
    await container.create_item({"id": "1", "pk": "p"})  # reads the definition: rid old=
    await container.read_item("x", "p")

    await container.read()  # another client deleted and re-created "c": rid new=
    await container.read_item("x", "p")

    assert item_reads(server) == ["0:1#90", None]
    assert client._core.session_tokens.rid("dbs/db/colls/c") == "new="


@pytest.mark.parametrize(("status", "sub_status", "answers"), [(404, 1002, 2), (400, 1024, 1)])
async def test_a_stale_session_is_dropped_and_the_read_sent_once_more_without_it(
    server: RecordingServer, client: aiocosmos.CosmosClient, status: int, sub_status: int, answers: int
) -> None:
    """404/1002 (the pipeline already retried once with the token) or 400/1024 (the container is not
    the one the token belongs to): drop the token and send the read once more without it."""
    container = client.get_database_client("db").get_container_client("c")
    server.script(with_token("0:1#90"), method="POST", path=DOCS_PATH)
    await container.create_item({"id": "1", "pk": "p"})
    server.script(*[Reply.error(status, sub_status=sub_status)] * answers,
                  Reply.json({"id": "x"}, x_ms_session_token="0:1#1"), method="GET", path=item_path("x"))

    response = await container.read_item("x", "p")

    assert response["id"] == "x"
    assert item_reads(server) == ["0:1#90"] * answers + [None]
    await container.read_item("x", "p")
    assert item_reads(server)[-1] == "0:1#1"  # a fresh session, from the new container's answers
    definition_reads = len(server.requests_to("GET", COLL_PATH))
    assert definition_reads == (2 if sub_status == 1024 else 1)  # 1024: the definition is read again


async def test_a_stale_session_fails_for_good_after_one_more_attempt(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client("db").get_container_client("c")
    server.script(with_token("0:1#90"), method="POST", path=DOCS_PATH)
    await container.create_item({"id": "1", "pk": "p"})
    server.script(forever=Reply.error(400, sub_status=1024), method="GET", path=item_path("x"))

    with pytest.raises(aiocosmos.exceptions.BadRequest):
        await container.read_item("x", "p")

    assert item_reads(server) == ["0:1#90", None]
