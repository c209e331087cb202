"""Resource-token credentials: which token signs which request, and refusal without I/O."""

from __future__ import annotations

from urllib.parse import quote

import aiocosmos
from tests.client.conftest import COLL_PATH, ClientFactory, item_path, raises_clean
from tests.client.recording_server import RecordingServer

TOKEN = "type=resource&ver=1&sig=abc;def"
OTHER_TOKEN = "type=resource&ver=1&sig=other+/="


def encoded(token: str) -> str:
    return quote(token, safe="-_.!~*'()")


async def test_a_covered_item_is_signed_with_its_containers_token(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    client = make_client({"dbs/db/colls/c": TOKEN, "dbs/db/colls/other": OTHER_TOKEN})
    container = client.get_database_client("db").get_container_client("c")

    await container.read_item("x", "p")
    await container.create_item({"id": "y", "pk": "p"})

    assert [f"{r.method} {r.path}" for r in server.requests] == [
        f"GET {COLL_PATH}", f"GET {item_path('x')}", f"POST {COLL_PATH}/docs",
    ]
    assert {r.authorization for r in server.requests} == {encoded(TOKEN)}
    assert encoded(TOKEN) == "type%3Dresource%26ver%3D1%26sig%3Dabc%3Bdef"


async def test_the_longest_covering_link_wins(server: RecordingServer, make_client: ClientFactory) -> None:
    client = make_client({"dbs/db": OTHER_TOKEN, "dbs/db/colls/c/docs/x": TOKEN})
    container = client.get_database_client("db").get_container_client("c")

    await container.read_item("x", "p")  # container metadata is covered by dbs/db, the item by its own token
    await container.read_item("y", "p")

    assert [r.authorization for r in server.requests] == [
        encoded(OTHER_TOKEN), encoded(TOKEN), encoded(OTHER_TOKEN),
    ]


async def test_an_uncovered_resource_is_refused_before_any_request(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    client = make_client({"dbs/db/colls/c": TOKEN})
    database = client.get_database_client("db")

    with raises_clean(aiocosmos.ValidationError, server, TOKEN, encoded(TOKEN)) as info:
        await database.get_container_client("cc").read_item("x", "p")
    assert "dbs/db/colls/cc" in str(info.value)

    with raises_clean(aiocosmos.ValidationError, server, TOKEN, encoded(TOKEN)) as info:
        await database.read()
    assert "dbs/db" in str(info.value)

    assert server.requests == []


async def test_account_level_requests_use_any_token(server: RecordingServer, make_client: ClientFactory) -> None:
    """The account (link "") is not a resource any permission names: the signer sends some token."""
    client = make_client({"dbs/db/colls/c": TOKEN})

    await client.get_database_account()

    assert [r.authorization for r in server.requests] == [encoded(TOKEN)]


async def test_a_single_resource_token_signs_everything(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    client = make_client(TOKEN)
    container = client.get_database_client("db").get_container_client("c")

    await container.read_item("x", "p")

    assert len(server.requests) == 2
    assert {r.authorization for r in server.requests} == {encoded(TOKEN)}


async def test_repr_of_a_resource_token_client_hides_the_tokens(make_client: ClientFactory) -> None:
    client = make_client({"dbs/db/colls/c": TOKEN})
    signer = client._signer

    for text in (repr(client), str(client), repr(signer), str(signer)):
        for secret in (TOKEN, encoded(TOKEN), "abc;def", "abc%3Bdef"):
            assert secret not in text
