"""Bad input is refused with ValidationError before a single byte reaches the server."""

from __future__ import annotations

import datetime
import math
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import aiocosmos
from tests.client.conftest import DOCS_PATH, raises_clean
from tests.client.recording_server import RecordingServer, Reply

HIERARCHICAL = {"paths": ["/a", "/b"], "kind": "MultiHash", "version": 2}


@pytest.fixture
async def container(
    client: aiocosmos.CosmosClient, server: RecordingServer
) -> AsyncIterator[aiocosmos.ContainerProxy]:
    """A /pk container with its metadata cached; the test must leave the server untouched."""
    proxy = client.get_database_client("db").get_container_client("c")
    await proxy.read()
    server.requests.clear()
    yield proxy
    assert server.requests == [], "a request reached the server although the input was invalid"


@pytest.fixture
async def hierarchical(
    client: aiocosmos.CosmosClient, server: RecordingServer
) -> AsyncIterator[aiocosmos.ContainerProxy]:
    server.containers["dbs/db/colls/h"] = HIERARCHICAL
    proxy = client.get_database_client("db").get_container_client("h")
    await proxy.read()
    server.requests.clear()
    yield proxy
    assert server.requests == [], "a request reached the server although the input was invalid"


# -- ids -----------------------------------------------------------------------------------------

BAD_IDS: list[tuple[Any, str]] = [
    ("a/b", "'a/b'"),
    ("a\\b", "'a\\\\b'"),
    ("a?b", "'a?b'"),
    ("a#b", "'a#b'"),
    ("", "empty"),
    (5, "int"),
    (None, "None"),
    (b"ab", "bytes"),
]

IdOperation = Callable[[aiocosmos.CosmosClient, aiocosmos.ContainerProxy, Any], Awaitable[object]]
ID_OPERATIONS: dict[str, IdOperation] = {
    "read_item": lambda cl, c, bad: c.read_item(bad, "p"),
    "delete_item": lambda cl, c, bad: c.delete_item(bad, "p"),
    "patch_item": lambda cl, c, bad: c.patch_item(bad, "p", [{"op": "set", "path": "/a", "value": 1}]),
    "replace_item": lambda cl, c, bad: c.replace_item(bad, {"id": bad, "pk": "p"}),
    "create_item": lambda cl, c, bad: c.create_item({"id": bad, "pk": "p"}),
    "upsert_item": lambda cl, c, bad: c.upsert_item({"id": bad, "pk": "p"}),
    "create_database": lambda cl, c, bad: cl.create_database(bad),
    "create_container": lambda cl, c, bad: c.database.create_container(bad, aiocosmos.PartitionKey("/pk")),
}


@pytest.mark.parametrize("operation", list(ID_OPERATIONS))
@pytest.mark.parametrize(("bad_id", "named"), BAD_IDS)
async def test_bad_ids_are_refused(
    server: RecordingServer, client: aiocosmos.CosmosClient, container: aiocosmos.ContainerProxy,
    operation: str, bad_id: Any, named: str,
) -> None:
    with raises_clean(aiocosmos.ValidationError, server) as info:
        await ID_OPERATIONS[operation](client, container, bad_id)
    assert named in str(info.value)
    assert "id" in str(info.value)


@pytest.mark.parametrize(("bad_id", "named"), BAD_IDS)
def test_bad_database_ids_are_refused_by_get_database_client(
    client: aiocosmos.CosmosClient, bad_id: Any, named: str
) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="database id") as info:
        client.get_database_client(bad_id)
    assert named in str(info.value)


@pytest.mark.parametrize(("bad_id", "named"), BAD_IDS)
def test_bad_container_ids_are_refused_by_get_container_client(
    client: aiocosmos.CosmosClient, bad_id: Any, named: str
) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="container id") as info:
        client.get_database_client("db").get_container_client(bad_id)
    assert named in str(info.value)


@pytest.mark.parametrize(("bad_id", "named"), BAD_IDS)
async def test_bad_container_ids_are_refused_by_delete_container(
    server: RecordingServer, client: aiocosmos.CosmosClient, bad_id: Any, named: str
) -> None:
    with raises_clean(aiocosmos.ValidationError, server, match="container id") as info:
        await client.get_database_client("db").delete_container(bad_id)
    assert named in str(info.value)
    assert server.requests == []


async def test_replace_with_a_different_body_id_is_refused(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    with raises_clean(aiocosmos.ValidationError, server) as info:
        await container.replace_item("one", {"id": "two", "pk": "p"})
    assert "'one'" in str(info.value)
    assert "'two'" in str(info.value)


# -- documents -----------------------------------------------------------------------------------

WriteOperation = Callable[[aiocosmos.ContainerProxy, dict[str, Any]], Awaitable[object]]
WRITES: dict[str, WriteOperation] = {
    "create": lambda c, doc: c.create_item(doc),
    "upsert": lambda c, doc: c.upsert_item(doc),
    "replace": lambda c, doc: c.replace_item(doc["id"], doc),
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_document_over_2_mb_is_refused(
    server: RecordingServer, container: aiocosmos.ContainerProxy, write: str
) -> None:
    document = {"id": "big", "pk": "p", "blob": "x" * (2 * 1024 * 1024)}
    size = len('{"id":"big","pk":"p","blob":""}') + 2 * 1024 * 1024

    with raises_clean(aiocosmos.ValidationError, server) as info:
        await WRITES[write](container, document)

    assert str(size) in str(info.value)
    assert str(2 * 1024 * 1024) in str(info.value)


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 2 * 1024 * 1024])
async def test_a_document_up_to_2_mb_is_sent_without_warnings(
    server: RecordingServer, client: aiocosmos.CosmosClient, size: int
) -> None:
    """The service takes items up to 2 MB; sending one must not warn (the test suite runs with
    warnings as errors, as careful applications do)."""
    container = client.get_database_client("db").get_container_client("c")
    overhead = len('{"id":"big","pk":"p","blob":""}')
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        await container.create_item({"id": "big", "pk": "p", "blob": "x" * (size - overhead)})
    assert len(server.requests_to("POST", DOCS_PATH)[0].body) == size
    assert [f"{w.category.__name__}: {w.message}" for w in record] == []


@pytest.mark.parametrize(("document", "where"), [
    ({"id": "1", "pk": "p", "v": math.nan}, "/v"),
    ({"id": "1", "pk": "p", "v": math.inf}, "/v"),
    ({"id": "1", "pk": "p", "v": -math.inf}, "/v"),
    ({"id": "1", "pk": "p", "a": {"b": [1, {"c": math.nan}]}}, "/a/b/1/c"),
    ({"id": "1", "pk": "p", "a": None, "list": [None, [math.inf]]}, "/list/1/0"),
])
@pytest.mark.parametrize("write", list(WRITES))
async def test_non_finite_numbers_are_refused(
    server: RecordingServer, container: aiocosmos.ContainerProxy, document: dict[str, Any], where: str,
    write: str,
) -> None:
    with raises_clean(aiocosmos.ValidationError, server) as info:
        await WRITES[write](container, document)
    assert where in str(info.value)
    assert "NaN or infinity" in str(info.value)


@pytest.mark.parametrize(("value", "named"), [
    (datetime.datetime(2024, 1, 2, 3, 4, 5), "datetime"),
    (datetime.time(1, tzinfo=datetime.UTC), "time"),  # a date, a UUID, an aware datetime are written
    ({1, 2}, "set"),
    (frozenset({1}), "frozenset"),
    (b"bytes", "bytes"),
    ({"nested": [datetime.datetime(2024, 1, 2)]}, "datetime"),
])
async def test_non_json_values_are_refused(
    server: RecordingServer, container: aiocosmos.ContainerProxy, value: Any, named: str
) -> None:
    with raises_clean(aiocosmos.ValidationError, server) as info:
        await container.create_item({"id": "1", "pk": "p", "v": value})
    assert named in str(info.value)
    assert "document" in str(info.value)


@pytest.mark.parametrize(("value", "where", "becomes"), [
    (2**53 + 1, "/v", "9007199254740992"), (-(2**53) - 1, "/v", "-9007199254740992"),
    (637268054321234567, "/v", "637268054321234600"), (10**30, "/v", "1e+30"), (10**30 + 1, "/v", "1e+30"),
    ({"deep": [2**60]}, "/v/deep/0", "1152921504606847000"), (2**64 - 1, "/v", "1.8446744073709552e+19"),
])
async def test_integers_the_service_would_change_are_refused(
    server: RecordingServer, container: aiocosmos.ContainerProxy, value: Any, where: str, becomes: str
) -> None:
    with raises_clean(aiocosmos.ValidationError, server) as info:
        await container.create_item({"id": "1", "pk": "p", "v": value})
    assert str(info.value).startswith(f"document holds at {where} an integer ")
    assert f"which the service would return as {becomes} " in str(info.value)


async def test_integers_beyond_2_53_the_service_returns_unchanged_are_sent_as_they_are(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client("db").get_container_client("c")
    values = {"a": 2**53, "b": -(2**53), "c": 637268054321234600, "d": -637268054321234600,
              "e": 1152921504606847000, "f": 2**70, "g": [18446744073709550000]}
    await container.create_item({"id": "1", "pk": "p", **values})
    sent = server.requests_to("POST", DOCS_PATH)[0].body
    # Digits as given; past 64 bits the double that holds the integer exactly (it is read back as a float).
    assert b'"c":637268054321234600,' in sent and b'"f":1.1805916207174113e+21' in sent
    assert server.requests_to("POST", DOCS_PATH)[0].json() == {"id": "1", "pk": "p", **values}


async def test_largest_exact_integers_are_accepted(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    container = client.get_database_client("db").get_container_client("c")
    await container.create_item({"id": "1", "pk": "p", "max": 2**53 - 1, "min": -(2**53 - 1)})
    assert server.requests_to("POST", DOCS_PATH)[0].json()["max"] == 2**53 - 1


async def test_a_document_without_an_id_or_not_a_dict_is_refused(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    with raises_clean(aiocosmos.ValidationError, server, match="no 'id'"):
        await container.create_item({"pk": "p"})
    with raises_clean(aiocosmos.ValidationError, server, match="list"):
        await container.create_item([{"id": "1"}])  # type: ignore[arg-type]


# -- paging and queries --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -5, -2, True, 1.5, "10"])
async def test_bad_max_item_count_is_refused_when_the_pager_is_made(
    server: RecordingServer, client: aiocosmos.CosmosClient, container: aiocosmos.ContainerProxy, bad: Any
) -> None:
    pagers: list[Callable[[], object]] = [
        lambda: container.query_items("SELECT * FROM c", max_item_count=bad),
        lambda: container.read_all_items(max_item_count=bad),
        lambda: client.list_databases(max_item_count=bad),
        lambda: container.database.query_containers("SELECT * FROM c", max_item_count=bad),
    ]
    for make_pager in pagers:
        with raises_clean(aiocosmos.ValidationError, server) as info:
            make_pager()
        assert repr(bad) in str(info.value)
        assert "max_item_count" in str(info.value)


@pytest.mark.parametrize(("query", "parameters", "named"), [
    ("", None, "''"),
    ("   ", None, "'   '"),
    ("SELECT * FROM c WHERE c.a = @a", [{"name": "a", "value": 1}], "'a'"),
    ("SELECT * FROM c WHERE c.a = @a", [{"name": "@a"}], "'@a'"),
    ("SELECT * FROM c WHERE c.a = @a", {"@a": 1}, "dict"),
    ("SELECT * FROM c WHERE c.a = @a", [{"name": "@a", "value": math.nan}], "/0/value"),
])
async def test_bad_queries_are_refused(
    server: RecordingServer, container: aiocosmos.ContainerProxy, query: str, parameters: Any, named: str
) -> None:
    with raises_clean(aiocosmos.ValidationError, server) as info:
        container.query_items(query, parameters=parameters)
    assert named in str(info.value)


@pytest.mark.parametrize("token", ["garbage", "", "ac1.", "ac1.0123456789abcdef.", 42])
async def test_a_foreign_continuation_token_is_refused_at_by_page(
    server: RecordingServer, container: aiocosmos.ContainerProxy, token: Any
) -> None:
    pager = container.query_items("SELECT * FROM c")
    with raises_clean(aiocosmos.InvalidContinuationToken, server) as info:
        pager.by_page(continuation_token=token)
    assert isinstance(info.value, aiocosmos.ValidationError)
    assert repr(token) in str(info.value)


async def test_a_continuation_token_resumes_only_its_own_query(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client("db").get_container_client("c")
    server.script(
        Reply.json({"Documents": [{"id": "1"}], "_count": 1}, x_ms_continuation="service-token-1"),
        Reply.json({"Documents": [{"id": "2"}], "_count": 1}),
        method="POST", path=DOCS_PATH,
    )
    first_pages = container.query_items("SELECT * FROM c", parameters=[{"name": "@x", "value": 1}]).by_page()
    first = await anext(first_pages)
    await first_pages.aclose()  # type: ignore[attr-defined]  # an async generator underneath
    token = first.continuation
    assert token is not None
    assert "service-token-1" not in token  # wrapped: callers never handle the service's raw token

    # The same query resumes after the first page, sending the service's own token.
    resumed = container.query_items("SELECT * FROM c", parameters=[{"name": "@x", "value": 1}])
    rest = [page async for page in resumed.by_page(continuation_token=token)]
    assert [item["id"] for page in rest for item in page] == ["2"]
    assert server.requests[-1].headers.get("x-ms-continuation") == "service-token-1"

    server.requests.clear()
    others = [
        container.query_items("SELECT * FROM c"),  # other text
        container.query_items("SELECT * FROM c", parameters=[{"name": "@x", "value": 2}]),  # other parameters
        container.query_items("SELECT * FROM c", parameters=[{"name": "@x", "value": 1}], partition_key="p"),
        client.get_database_client("db").get_container_client("c2").query_items(
            "SELECT * FROM c", parameters=[{"name": "@x", "value": 1}]),  # other container
        container.read_all_items(),  # a read feed, not this query
    ]
    for other in others:
        with raises_clean(aiocosmos.InvalidContinuationToken, server) as info:
            other.by_page(continuation_token=token)
        assert token[:20] in str(info.value)
        assert "different" in str(info.value)
    damaged = token[: token.rindex(".") + 1] + "!!!"
    with raises_clean(aiocosmos.InvalidContinuationToken, server, match="damaged"):
        resumed.by_page(continuation_token=damaged)
    assert server.requests == []


# -- partition keys ------------------------------------------------------------------------------


async def test_hierarchical_key_needs_every_component(
    server: RecordingServer, hierarchical: aiocosmos.ContainerProxy
) -> None:
    for value, named in [("single", "'single'"), (["a", "b", "c"], "['a', 'b', 'c']"), (["a"], "['a']"),
                         ([], "[]")]:
        with raises_clean(aiocosmos.ValidationError, server) as info:
            await hierarchical.read_item("x", value)
        assert named in str(info.value)
        assert "['/a', '/b']" in str(info.value)
        with raises_clean(aiocosmos.ValidationError, server):
            await hierarchical.delete_item("x", value)
        with raises_clean(aiocosmos.ValidationError, server):
            await hierarchical.patch_item("x", value, [{"op": "remove", "path": "/z"}])
        if value != ["a"]:  # a prefix of the key is a valid query scope (test_prefix_queries.py)
            with raises_clean(aiocosmos.ValidationError, server):
                hierarchical.query_items("SELECT * FROM c", partition_key=value)


async def test_hierarchical_key_with_every_component_is_sent(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.containers["dbs/db/colls/h"] = HIERARCHICAL
    container = client.get_database_client("db").get_container_client("h")
    await container.read_item("x", ["t1", 7])
    await container.create_item({"id": "y", "a": "t1", "b": 7})
    item_reads = [r for r in server.requests if "/docs" in r.path]
    assert [r.headers["x-ms-documentdb-partitionkey"] for r in item_reads] == ['["t1",7]', '["t1",7]']


@pytest.mark.parametrize(("value", "named"), [
    ({"a": 1}, "dict"),
    (math.nan, "non-finite"),
    (datetime.date(2024, 1, 1), "date"),
])
async def test_bad_partition_key_values_are_refused(
    server: RecordingServer, container: aiocosmos.ContainerProxy, value: Any, named: str
) -> None:
    with raises_clean(aiocosmos.ValidationError, server) as info:
        await container.read_item("x", value)
    assert named in str(info.value)


# -- patch ---------------------------------------------------------------------------------------

SET = {"op": "set", "path": "/a", "value": 1}


@pytest.mark.parametrize(("operations", "named"), [
    ([SET] * 11, "11"),
    ([], "non-empty"),
    ("set /a 1", "list"),
    ([{"op": "frobnicate", "path": "/a", "value": 1}], "'frobnicate'"),
    ([{"path": "/a", "value": 1}], "None"),
    ([{"op": "set", "path": "/a"}], "'set'"),
    ([{"op": "add", "path": "/a"}], "'add'"),
    ([{"op": "replace", "path": "/a"}], "'replace'"),
    ([{"op": "incr", "path": "/n"}], "'incr'"),
    ([{"op": "incr", "path": "/n", "value": "1"}], "'1'"),
    ([{"op": "incr", "path": "/n", "value": True}], "True"),
    ([{"op": "set", "path": "a", "value": 1}], "'a'"),
    ([{"op": "set", "value": 1}], "None"),
    ([{"op": "move", "path": "/a"}], "'move'"),
    ([{"op": "move", "path": "/a", "from": "b"}], "'b'"),
    ([SET, "remove /a"], "'remove /a'"),
    ([{"op": "set", "path": "/a", "value": math.inf}], "non-finite"),
])
async def test_malformed_patches_are_refused(
    server: RecordingServer, container: aiocosmos.ContainerProxy, operations: Any, named: str
) -> None:
    with raises_clean(aiocosmos.ValidationError, server) as info:
        await container.patch_item("x", "p", operations)
    assert named in str(info.value)


async def test_ten_patch_operations_are_allowed(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    container = client.get_database_client("db").get_container_client("c")
    await container.patch_item("x", "p", [SET] * 10, filter_predicate="FROM c WHERE c.a = 0")
    [patch] = server.requests_to("PATCH")
    assert len(patch.json()["operations"]) == 10
    assert patch.json()["condition"] == "FROM c WHERE c.a = 0"
