"""azure-cosmos's per-call keywords beyond the point operations (issue 15), at the recording server.

Wire parity: each operation runs through azure.cosmos.aio and through aiocosmos with the same keywords,
and the headers those keywords turn into must be the same (session token, priority, throughput bucket,
dedicated-gateway staleness, consistency level, triggers). ``initial_headers`` are sent by aiocosmos
always (azure-cosmos 4.17.1 drops them on some operations, so they are checked on our side only).
``response_hook`` is called as azure-cosmos calls it: once, with the response headers and the result
(``None`` for a delete).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import ModuleType
from typing import Any

import azure.cosmos
import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.client.conftest import COLL_PATH, DOCS_PATH, KEY, ClientFactory, item_path
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

KEYWORD_HEADERS = ("x-ms-session-token", "x-ms-cosmos-priority-level", "x-ms-cosmos-throughput-bucket",
                   "x-ms-dedicatedgateway-max-age", "x-ms-consistency-level",
                   "x-ms-documentdb-pre-trigger-include", "x-ms-documentdb-post-trigger-include")
SESSION_ACCOUNT = {"id": "localaccount", "writableLocations": [], "readableLocations": [],
                   "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"}}
CUSTOM = {"x-custom": "1"}
BATCH_REPLY = Reply.json([{"statusCode": 200, "requestCharge": 1.0, "resourceBody": {"id": "x", "pk": "a"}}])

PERMISSION = {"id": "p", "permissionMode": "All", "resource": "dbs/db/colls/c", "_token": "t"}
Run = Callable[[Any, ModuleType], Awaitable[Any]]
"""(client, library module) -> the operation; the library gives PartitionKey."""


async def _drain(pager: Any) -> list[Any]:
    return [item async for item in pager]


def _container(client: Any) -> Any:
    return client.get_database_client("db").get_container_client("c")


CASES: dict[str, tuple[str, str, Run]] = {
    "create_database": ("POST", "/dbs", lambda c, lib: c.create_database(
        "d", initial_headers=CUSTOM, throughput_bucket=2)),
    "delete_database": ("DELETE", "/dbs/d", lambda c, lib: c.delete_database(
        "d", initial_headers=CUSTOM, throughput_bucket=2)),
    "list_databases": ("GET", "/dbs", lambda c, lib: _drain(c.list_databases(
        throughput_bucket=3, initial_headers=CUSTOM))),
    "query_databases": ("POST", "/dbs", lambda c, lib: _drain(c.query_databases(
        "SELECT * FROM d", throughput_bucket=3, initial_headers=CUSTOM))),
    "database read": ("GET", "/dbs/db", lambda c, lib: c.get_database_client("db").read(initial_headers=CUSTOM)),
    "create_container": ("POST", "/dbs/db/colls", lambda c, lib: c.get_database_client("db").create_container(
        "c2", lib.PartitionKey("/pk"), initial_headers=CUSTOM)),
    "replace_container": ("PUT", COLL_PATH, lambda c, lib: c.get_database_client("db").replace_container(
        "c", lib.PartitionKey("/pk"), initial_headers=CUSTOM)),
    "delete_container": ("DELETE", "/dbs/db/colls/c2", lambda c, lib: c.get_database_client("db").delete_container(
        "c2", initial_headers=CUSTOM)),
    "list_containers": ("GET", "/dbs/db/colls", lambda c, lib: _drain(c.get_database_client("db").list_containers(
        initial_headers=CUSTOM))),
    "container read": ("GET", COLL_PATH, lambda c, lib: _container(c).read(priority="Low", initial_headers=CUSTOM)),
    "read_item staleness": ("GET", item_path("x"), lambda c, lib: _container(c).read_item(
        "x", "a", max_integrated_cache_staleness_in_ms=500, initial_headers=CUSTOM)),
    "read_all_items": ("GET", DOCS_PATH, lambda c, lib: _drain(_container(c).read_all_items(
        session_token="0:-1#9", priority="Low", throughput_bucket=4, max_integrated_cache_staleness_in_ms=300,
        initial_headers=CUSTOM))),
    "read_items": ("POST", DOCS_PATH, lambda c, lib: _container(c).read_items(
        [("x", "a"), ("y", "a")], session_token="0:-1#9", priority="High", throughput_bucket=5,
        initial_headers=CUSTOM)),
    "execute_item_batch": ("POST", DOCS_PATH, lambda c, lib: _container(c).execute_item_batch(
        [("upsert", ({"id": "x", "pk": "a"},))], "a", session_token="0:-1#9", priority="Low", throughput_bucket=2,
        pre_trigger_include="before", post_trigger_include="after")),
    "delete_all_items_by_partition_key": ("POST", COLL_PATH + "/operations/partitionkeydelete",
                                          lambda c, lib: _container(c).delete_all_items_by_partition_key(
        "a", session_token="0:-1#9", throughput_bucket=2, pre_trigger_include="before")),
}
NO_INITIAL_HEADERS = {"execute_item_batch", "delete_all_items_by_partition_key"}  # azure has none there


def _last(server: RecordingServer, method: str, path: str, start: int) -> RecordedRequest:
    matching = [r for r in server.requests[start:] if r.method == method and r.path.rstrip("/") == path]
    assert matching, (method, path, server.requests[start:])
    return matching[-1]


OURS_ONLY: dict[str, dict[str, str]] = {
    # azure-cosmos sends a write's session_token only to multi-write accounts; aiocosmos sends it as
    # given (README, azure-cosmos → aiocosmos)
    "delete_all_items_by_partition_key": {"x-ms-session-token": "0:-1#9"},
}


def _keyword_headers(request: RecordedRequest, name: str) -> dict[str, str]:
    # azure-cosmos sends the account's default consistency level on every request; aiocosmos only a chosen one
    return {header: request.headers[header] for header in KEYWORD_HEADERS
            if header in request.headers and header not in OURS_ONLY.get(name, {})
            and header != "x-ms-consistency-level"}


def _script(server: RecordingServer, name: str) -> None:
    server.script(method="GET", path="/", forever=Reply.json(SESSION_ACCOUNT))
    # azure-cosmos groups read_items by range: one range, then 304 (not modified) as the service answers
    server.script(Reply.json({"_rid": "rid", "PartitionKeyRanges": [{"id": "0", "minInclusive": "",
                                                                     "maxExclusive": "FF"}]}, etag='"1"'),
                  method="GET", path_prefix=COLL_PATH + "/pkranges", forever=Reply(status=304, headers={"etag": '"1"'}))
    if name == "query_databases":
        for path in ("/dbs", "/dbs/"):
            server.script(method="POST", path=path, forever=Reply.json({"_rid": "", "Databases": [], "_count": 0}))
    if name == "execute_item_batch":
        for path in (DOCS_PATH, DOCS_PATH + "/"):
            server.script(method="POST", path=path, forever=BATCH_REPLY)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_keywords_send_the_headers_azure_cosmos_sends(
    server: RecordingServer, make_client: ClientFactory, name: str
) -> None:
    method, path, run = CASES[name]
    _script(server, name)
    start = len(server.requests)
    async with AzureClient(server.url, credential=KEY) as azure_client:
        await run(azure_client, azure.cosmos)
    theirs = _last(server, method, path, start)

    start = len(server.requests)
    await run(make_client(), aiocosmos)
    ours = _last(server, method, path, start)

    assert _keyword_headers(ours, name) == _keyword_headers(theirs, name)
    for header, value in OURS_ONLY.get(name, {}).items():
        assert ours.headers[header] == value and header not in theirs.headers
    if name not in NO_INITIAL_HEADERS:
        assert ours.headers["x-custom"] == "1"
    if name not in ("create_database", "delete_database", "database read", "create_container",
                    "replace_container", "delete_container", "list_containers"):
        assert _keyword_headers(ours, name)  # the case sends something to compare


HookedRun = Callable[[Any, ModuleType, Callable[..., None]], Awaitable[Any]]

HOOKED: dict[str, HookedRun] = {
    "database read": lambda c, lib, h: c.get_database_client("db").read(response_hook=h),
    "container read": lambda c, lib, h: _container(c).read(response_hook=h),
    "create_database": lambda c, lib, h: c.create_database("d", response_hook=h),
    "delete_database": lambda c, lib, h: c.delete_database("d", response_hook=h),
    "delete_container": lambda c, lib, h: c.get_database_client("db").delete_container("c2", response_hook=h),
    "replace_container": lambda c, lib, h: c.get_database_client("db").replace_container(
        "c", lib.PartitionKey("/pk"), response_hook=h),
    "user read": lambda c, lib, h: c.get_database_client("db").get_user_client("u").read(response_hook=h),
    "delete_user": lambda c, lib, h: c.get_database_client("db").delete_user("u", response_hook=h),
    "get_permission": lambda c, lib, h: c.get_database_client("db").get_user_client("u").get_permission(
        "p", response_hook=h),
    "delete_permission": lambda c, lib, h: c.get_database_client("db").get_user_client("u").delete_permission(
        "p", response_hook=h),
    "delete_all_items_by_partition_key": lambda c, lib, h: _container(c).delete_all_items_by_partition_key(
        "a", response_hook=h),
}


@pytest.mark.parametrize("name", sorted(HOOKED))
async def test_the_response_hook_is_called_as_azure_cosmos_calls_it(
    server: RecordingServer, make_client: ClientFactory, name: str
) -> None:
    server.script(method="GET", path="/", forever=Reply.json(SESSION_ACCOUNT))
    for path in ("/dbs/db/users/u/permissions/p", "/dbs/db/users/u/permissions/p/"):
        server.script(method="GET", path=path, forever=Reply(headers={"x-ms-request-charge": "1.5"}, body=PERMISSION))
    run = HOOKED[name]
    seen: dict[str, list[tuple[Mapping[str, str], tuple[Any, ...]]]] = {"azure": [], "ours": []}
    async with AzureClient(server.url, credential=KEY) as azure_client:
        await run(azure_client, azure.cosmos, lambda headers, *result: seen["azure"].append((headers, result)))
    await run(make_client(), aiocosmos, lambda headers, *result: seen["ours"].append((headers, result)))
    assert len(seen["azure"]) == len(seen["ours"]) == 1
    (their_headers, theirs), (our_headers, ours) = seen["azure"][0], seen["ours"][0]
    assert len(theirs) == len(ours)  # create_database/delete_database: hook(headers) only, in both
    if ours:
        assert (theirs[0] is None) == (ours[0] is None), (theirs, ours)
        if ours[0] is not None:
            assert dict(ours[0]) == dict(theirs[0])
    assert our_headers.get("x-ms-request-charge") == their_headers.get("x-ms-request-charge")


async def test_a_hook_that_cannot_be_called_fails_before_any_io(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    client = make_client()
    user = client.get_database_client("db").get_user_client("u")
    with pytest.raises(aiocosmos.ValidationError, match="callable"):
        await user.read(response_hook="print")  # type: ignore[arg-type]
    with pytest.raises(aiocosmos.ValidationError, match="callable"):
        await client.delete_database("d", response_hook=1)  # type: ignore[arg-type]
    assert server.requests == []


async def test_bad_keyword_values_fail_before_any_io(server: RecordingServer, make_client: ClientFactory) -> None:
    container = _container(make_client())
    with pytest.raises(aiocosmos.ValidationError, match="consistency_level"):
        await container.read_items([("x", "a")], consistency_level="Sometimes")
    with pytest.raises(aiocosmos.ValidationError, match="excluded_locations"):
        await container.execute_item_batch([("read", ("x",))], "a", excluded_locations="West US")
    with pytest.raises(aiocosmos.ValidationError, match="max_integrated_cache_staleness_in_ms"):
        await container.read_item("x", "a", max_integrated_cache_staleness_in_ms=-1)
    with pytest.raises(TypeError, match="'Global'"):
        container.query_items("SELECT * FROM c", full_text_score_scope="Local")
    assert server.requests == []


async def test_from_connection_string_takes_the_constructors_keywords(server: RecordingServer) -> None:
    client = aiocosmos.CosmosClient.from_connection_string(
        f"AccountEndpoint={server.url}/;AccountKey={KEY};", consistency_level="Eventual",
        user_agent_suffix="porting", throughput_bucket=3)
    async with client:
        await client.get_database_client("db").read()
    request = server.requests_to("GET", "/dbs/db")[-1]
    assert request.headers["x-ms-consistency-level"] == "Eventual"
    assert request.headers["x-ms-cosmos-throughput-bucket"] == "3"
    assert request.headers["User-Agent"].endswith(" porting")
    with pytest.raises(TypeError, match="http_session="):
        aiocosmos.CosmosClient.from_connection_string(f"AccountEndpoint={server.url}/;AccountKey={KEY};",
                                                      proxy_config=object())


async def test_read_items_sends_the_consistency_level_it_is_given(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    # azure-cosmos 4.17.1 documents read_items(consistency_level=) but passes it on to aiohttp, which
    # refuses it (TypeError); aiocosmos sends it as azure-cosmos sends a client's consistency level.
    container = _container(make_client())
    await container.read_items([("x", "a"), ("y", "a")], consistency_level="Eventual")
    await container.read_items([("z", "b")], consistency_level="Session")
    assert server.requests_to("POST", DOCS_PATH)[-1].headers["x-ms-consistency-level"] == "Eventual"
    assert server.requests_to("GET", item_path("z"))[-1].headers["x-ms-consistency-level"] == "Session"


async def test_a_query_response_hook_sees_each_page_as_azure_cosmos_shows_it(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    # azure-cosmos calls the hook once per request with the response headers and body; aiocosmos once
    # per page with its headers and items (for a query in one partition, a page is one request).
    def script() -> None:
        server.script(
            Reply.json({"_rid": "r", "Documents": [{"id": "1"}], "_count": 1},
                       **{"x-ms-continuation": "c1", "x-ms-request-charge": "2"}),
            Reply.json({"_rid": "r", "Documents": [{"id": "2"}], "_count": 1}, **{"x-ms-request-charge": "3"}),
            method="POST", path_prefix=DOCS_PATH)

    calls: dict[str, list[tuple[Mapping[str, str], Any]]] = {"azure": [], "ours": []}
    script()
    async with AzureClient(server.url, credential=KEY) as azure_client:
        theirs = await _drain(_container(azure_client).query_items(
            "SELECT * FROM c", partition_key="a",
            response_hook=lambda headers, body: calls["azure"].append((headers, body))))
    script()
    ours = await _drain(_container(make_client()).query_items(
        "SELECT * FROM c", partition_key="a", response_hook=lambda headers, items: calls["ours"].append(
            (headers, items))))
    assert ours == theirs == [{"id": "1"}, {"id": "2"}]
    assert [h["x-ms-request-charge"] for h, _ in calls["ours"]] == \
        [h["x-ms-request-charge"] for h, _ in calls["azure"]] == ["2", "3"]
    assert [items for _, items in calls["ours"]] == [body["Documents"] for _, body in calls["azure"]]
