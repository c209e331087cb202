"""azure-cosmos's per-call keywords on the point operations (issue 15), at the recording server.

Wire parity: each keyword is run through azure.cosmos.aio and through aiocosmos, and the header it
produces must be the same (``etag`` + ``match_condition``, ``if_match``/``if_none_match``,
``session_token``, ``priority``). Where azure-cosmos 4.17.1 drops a keyword (per-call
``initial_headers``), aiocosmos sends it, and the test says so. Bad values fail before any I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from azure.core import MatchConditions as AzureMatchConditions
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos import MatchConditions
from tests.client.conftest import DOCS_PATH, KEY, ClientFactory, item_path
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

ITEM = item_path("x")
CONDITION_HEADERS = ("If-Match", "If-None-Match", "x-ms-session-token", "x-ms-cosmos-priority-level")
SESSION_ACCOUNT = {"id": "localaccount", "writableLocations": [], "readableLocations": [],
                   "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"}}

Call = Callable[[Any, Any], Awaitable[Any]]
"""(container, MatchConditions enum) -> the operation."""

CASES: dict[str, tuple[str, str, Call]] = {
    "upsert etag IfNotModified": ("POST", DOCS_PATH, lambda c, m: c.upsert_item(
        {"id": "x", "pk": "a"}, etag='"v1"', match_condition=m.IfNotModified)),
    "upsert etag IfModified": ("POST", DOCS_PATH, lambda c, m: c.upsert_item(
        {"id": "x", "pk": "a"}, etag='"v1"', match_condition=m.IfModified)),
    "replace IfPresent": ("PUT", ITEM, lambda c, m: c.replace_item(
        "x", {"id": "x", "pk": "a"}, match_condition=m.IfPresent)),
    "replace etag IfNotModified": ("PUT", ITEM, lambda c, m: c.replace_item(
        "x", {"id": "x", "pk": "a"}, etag='"v1"', match_condition=m.IfNotModified)),
    "read etag IfModified": ("GET", ITEM, lambda c, m: c.read_item(
        "x", "a", etag='"v1"', match_condition=m.IfModified)),
    "read if_none_match": ("GET", ITEM, lambda c, m: c.read_item("x", "a", if_none_match='"v1"')),
    "read session_token": ("GET", ITEM, lambda c, m: c.read_item("x", "a", session_token="0:-1#12")),
    "read priority Low": ("GET", ITEM, lambda c, m: c.read_item("x", "a", priority="Low")),
    "delete if_match": ("DELETE", ITEM, lambda c, m: c.delete_item("x", "a", if_match='"v1"')),
    "delete etag IfNotModified": ("DELETE", ITEM, lambda c, m: c.delete_item(
        "x", "a", etag='"v1"', match_condition=m.IfNotModified)),
    "patch etag IfNotModified priority High": ("PATCH", ITEM, lambda c, m: c.patch_item(
        "x", "a", [{"op": "set", "path": "/n", "value": 1}], etag='"v1"', match_condition=m.IfNotModified,
        priority="High")),
    "upsert priority Low": ("POST", DOCS_PATH, lambda c, m: c.upsert_item({"id": "x", "pk": "a"}, priority="Low")),
    "create priority High": ("POST", DOCS_PATH, lambda c, m: c.create_item({"id": "x", "pk": "a"}, priority="High")),
}


def _headers(request: RecordedRequest) -> dict[str, str]:
    return {name: request.headers[name] for name in CONDITION_HEADERS if name in request.headers}


def _last(server: RecordingServer, method: str, path: str, start: int) -> RecordedRequest:
    matching = [r for r in server.requests[start:] if r.method == method and r.path.rstrip("/") == path]
    assert len(matching) == 1, matching
    return matching[0]


@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_keyword_sends_the_header_azure_cosmos_sends(
    server: RecordingServer, make_client: ClientFactory, name: str
) -> None:
    method, path, call = CASES[name]
    server.script(method="GET", path="/", forever=Reply.json(SESSION_ACCOUNT))
    start = len(server.requests)
    async with AzureClient(server.url, credential=KEY) as azure_client:
        await call(azure_client.get_database_client("db").get_container_client("c"), AzureMatchConditions)
    theirs = _headers(_last(server, method, path, start))

    start = len(server.requests)
    container = make_client().get_database_client("db").get_container_client("c")
    await call(container, MatchConditions)
    ours = _headers(_last(server, method, path, start))
    # azure.core's own enum members are accepted as well as aiocosmos.MatchConditions.
    start = len(server.requests)
    await call(container, AzureMatchConditions)
    with_azure_enum = _headers(_last(server, method, path, start))

    assert ours == theirs == with_azure_enum
    assert ours  # every case sends something


async def test_a_conditional_upsert_or_delete_is_not_replayed(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await container.read()
    server.script(Reply.error(503), method="POST", path=DOCS_PATH)
    with pytest.raises(aiocosmos.ServiceUnavailable):
        await container.upsert_item({"id": "x", "pk": "a"}, etag='"v1"', match_condition=MatchConditions.IfModified)
    assert len(server.requests_to("POST", DOCS_PATH)) == 1
    server.script(Reply.error(503), method="DELETE", path=ITEM)
    with pytest.raises(aiocosmos.ServiceUnavailable):
        await container.delete_item("x", "a", match_condition=MatchConditions.IfPresent)
    assert len(server.requests_to("DELETE", ITEM)) == 1


async def test_initial_headers_are_sent_where_azure_cosmos_drops_them(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    start = len(server.requests)
    async with AzureClient(server.url, credential=KEY) as azure_client:
        await azure_client.get_database_client("db").get_container_client("c").read_item(
            "x", "a", initial_headers={"x-custom": "1"})
    assert "x-custom" not in _last(server, "GET", ITEM, start).headers  # azure-cosmos 4.17.1 drops them

    container = make_client().get_database_client("db").get_container_client("c")
    start = len(server.requests)
    await container.read_item("x", "a", initial_headers={"x-custom": "1"})
    await container.upsert_item({"id": "x", "pk": "a"}, initial_headers={"x-custom": "2"})
    assert _last(server, "GET", ITEM, start).headers["x-custom"] == "1"
    assert _last(server, "POST", DOCS_PATH, start).headers["x-custom"] == "2"


async def test_a_read_answered_304_is_an_empty_result(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(Reply(status=304, headers={"etag": '"v1"'}), method="GET", path=ITEM)
    result = await container.read_item("x", "a", etag='"v1"', match_condition=MatchConditions.IfModified)
    assert result == {} and result.status_code == 304 and result.etag == '"v1"'


async def test_the_response_hook_gets_the_headers_and_the_result(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(Reply.json({"id": "x", "pk": "a"}, **{"x-ms-request-charge": "1"}), method="GET", path=ITEM)
    seen: list[tuple[Mapping[str, str], Any]] = []

    def hook(headers: Mapping[str, str], item: Any) -> None:
        seen.append((headers, item))

    result = await container.read_item("x", "a", response_hook=hook)
    await container.upsert_item({"id": "y", "pk": "a"}, response_hook=hook)
    await container.delete_item("y", "a", response_hook=hook)
    assert seen[0] == (result.headers, result) and seen[0][1] is result
    assert [item.get("id") for _, item in seen] == ["x", "y", None]


BAD_CALLS: dict[str, tuple[Call, str]] = {
    "match_condition without etag": (lambda c, m: c.replace_item(
        "x", {"id": "x", "pk": "a"}, match_condition=m.IfNotModified), "needs etag"),
    "etag with IfPresent": (lambda c, m: c.delete_item("x", "a", etag='"v"', match_condition=m.IfPresent),
                            "no meaning"),
    "match_condition and if_match": (lambda c, m: c.delete_item(
        "x", "a", if_match='"v"', etag='"v"', match_condition=m.IfNotModified), "not both"),
    "etag and another if_match": (lambda c, m: c.upsert_item({"id": "x", "pk": "a"}, etag='"a"', if_match='"b"'),
                                  "not both"),
    "a string match_condition": (lambda c, m: c.read_item("x", "a", match_condition="IfNotModified"),
                                 "MatchConditions"),
    "an empty if_none_match": (lambda c, m: c.read_item("x", "a", if_none_match=""), "if_none_match"),
    "priority Medium": (lambda c, m: c.read_item("x", "a", priority="Medium"), "'High' or 'Low'"),
    "an empty session token": (lambda c, m: c.read_item("x", "a", session_token=""), "session_token"),
    "initial Authorization": (lambda c, m: c.read_item("x", "a", initial_headers={"authorization": "x"}),
                              "computes it"),
    "initial non-string value": (lambda c, m: c.upsert_item({"id": "x", "pk": "a"}, initial_headers={"x-a": 1}),
                                 "strings"),
    "a hook that cannot be called": (lambda c, m: c.read_item("x", "a", response_hook="print"), "callable"),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
async def test_bad_keyword_values_fail_before_any_io(
    server: RecordingServer, container: aiocosmos.ContainerProxy, name: str
) -> None:
    call, message = BAD_CALLS[name]
    with pytest.raises(aiocosmos.ValidationError, match=message):
        await call(container, MatchConditions)
    assert server.requests == []


async def test_an_initial_header_the_call_sets_itself_is_refused_naming_the_keyword(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="already sets"):
        await container.read_item("x", "a", initial_headers={"X-MS-DOCUMENTDB-PARTITIONKEY": '["b"]'})
    assert server.requests_to("GET", ITEM) == []


async def test_a_keyword_aiocosmos_does_not_take_is_a_type_error(container: aiocosmos.ContainerProxy) -> None:
    with pytest.raises(TypeError, match="no_response"):
        await container.read_item("x", "a", no_response=True)  # type: ignore[call-arg]
