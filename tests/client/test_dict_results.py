"""Results are dicts (issue 15): a point operation's result is a real, mutable ``dict`` that carries
its metadata (as azure-cosmos's ``CosmosDict``); ``read_items`` gives a list that does (``CosmosList``);
pages and pagers give ``get_response_headers()`` and the page iterator azure's ``continuation_token``."""

from __future__ import annotations

import copy
import json
import pickle

import orjson

import aiocosmos
from aiocosmos._wire.results import ResourceResponse
from tests.client.conftest import DOCS_PATH, item_path
from tests.client.recording_server import RecordingServer, Reply

HEADERS = {"x-ms-request-charge": "2.5", "etag": '"e1"', "x-ms-activity-id": "act-1", "x-ms-session-token": "0:1#5"}


def test_a_result_is_a_mutable_dict_that_keeps_its_metadata() -> None:
    result = ResourceResponse({"id": "a", "n": 1, "nested": {"x": 1}}, HEADERS, 200)

    assert isinstance(result, dict) and type(result) is ResourceResponse
    result["n"] += 1
    result["new"] = True
    del result["nested"]
    assert result == {"id": "a", "n": 2, "new": True}
    assert json.loads(json.dumps(result)) == {"id": "a", "n": 2, "new": True}
    assert orjson.loads(orjson.dumps(result)) == {"id": "a", "n": 2, "new": True}
    assert result.request_charge == 2.5 and result.etag == '"e1"' and result.activity_id == "act-1"
    assert result.session_token == "0:1#5" and result.status_code == 200
    assert result.body is result  # kept for code written against the read-only view
    headers = result.get_response_headers()
    assert headers["X-MS-REQUEST-CHARGE"] == "2.5"
    headers["etag"] = "changed"  # a copy: the result's own headers are untouched
    assert result.etag == '"e1"'
    # Printed as the document, as azure-cosmos's CosmosDict prints.
    assert repr(result) == str(result) == "{'id': 'a', 'n': 2, 'new': True}"


def test_the_parsed_body_is_copied_once_shallowly() -> None:
    parsed = {"id": "a", "nested": {"x": 1}}
    result = ResourceResponse(parsed, HEADERS, 200)
    result["id"] = "b"
    assert parsed["id"] == "a"  # the top level is the result's own
    assert result["nested"] is parsed["nested"]  # nested values are shared, not copied


def test_a_result_survives_copy_and_pickle_with_its_metadata() -> None:
    result = ResourceResponse({"id": "a", "_etag": '"body-etag"'}, {"x-ms-request-charge": "1"}, 201)
    for clone in (copy.copy(result), copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert type(clone) is ResourceResponse and clone == result
        assert clone.status_code == 201 and clone.request_charge == 1.0 and clone.etag == '"body-etag"'


async def test_a_read_result_is_mutated_and_passed_back_as_the_body(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(Reply.json({"id": "x", "pk": "a", "n": 1, "_etag": '"v1"'}, **{"x-ms-request-charge": "1"}),
                  method="GET", path=item_path("x"))
    item = await container.read_item("x", "a")
    assert isinstance(item, dict)
    item["n"] = 2

    replaced = await container.replace_item(item, item)
    upserted = await container.upsert_item(item)

    [put] = server.requests_to("PUT", item_path("x"))
    assert put.json()["n"] == 2 and put.json()["id"] == "x"
    [post] = server.requests_to("POST", DOCS_PATH)
    assert post.json()["n"] == 2
    assert isinstance(replaced, dict) and isinstance(upserted, dict)


async def test_delete_gives_an_empty_dict_with_the_metadata(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(Reply(status=204, headers={"x-ms-request-charge": "3"}), method="DELETE", path=item_path("x"))
    result = await container.delete_item("x", "a")
    assert result == {} and isinstance(result, dict) and result.status_code == 204 and result.request_charge == 3


async def test_read_items_is_a_list_with_combined_headers(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(Reply.json({"id": "x", "pk": "a"}, **{"x-ms-request-charge": "1", "x-ms-session-token": "0:1#7",
                                                         "x-ms-activity-id": "act-x"}),
                  method="GET", path=item_path("x"))
    server.script(Reply.json({"id": "y", "pk": "b"}, **{"x-ms-request-charge": "1.5", "x-ms-activity-id": "act-y"}),
                  method="GET", path=item_path("y"))
    result = await container.read_items([("x", "a"), ("y", "b")], max_concurrency=1)

    assert isinstance(result, list) and [item["id"] for item in result] == ["x", "y"]
    assert result.request_charge == 2.5 and result.status_code == 200
    assert result.activity_ids == ("act-x", "act-y") and result.activity_id == "act-y"
    assert result.session_token == "0:1#7"
    headers = result.get_response_headers()
    assert headers["x-ms-request-charge"] == "2.5"
    assert json.loads(json.dumps(result)) == [{"id": "x", "pk": "a"}, {"id": "y", "pk": "b"}]


async def test_pages_and_pagers_give_response_headers_and_the_page_iterator_a_continuation_token(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(
        Reply.json({"Documents": [{"id": "1"}]}, **{"x-ms-continuation": "svc-1", "x-ms-request-charge": "1"}),
        Reply.json({"Documents": [{"id": "2"}]}, **{"x-ms-request-charge": "2"}),
        method="GET", path=DOCS_PATH,
    )
    pager = container.read_all_items()
    assert dict(pager.get_response_headers()) == {}  # nothing fetched yet
    pages = pager.by_page()
    assert pages.continuation_token is None

    first = await pages.__anext__()
    assert first.get_response_headers()["x-ms-request-charge"] == "1"
    assert pages.continuation_token == first.continuation is not None
    assert pages.get_response_headers()["x-ms-continuation"] == "svc-1"

    second = await pages.__anext__()
    assert pages.continuation_token is None and second.continuation is None
    assert pager.get_response_headers()["x-ms-request-charge"] == "2"

    # Resuming from the first page's token: the iterator starts at that token.
    server.script(Reply.json({"Documents": [{"id": "2"}]}, **{"x-ms-request-charge": "2"}),
                  method="GET", path=DOCS_PATH)
    resumed = container.read_all_items().by_page(first.continuation)
    assert resumed.continuation_token == first.continuation
    assert [item["id"] async for page in resumed for item in page] == ["2"]
    await resumed.aclose()


async def test_item_iteration_records_the_last_page_headers(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(Reply.json({"Documents": [{"id": "1"}]}, **{"x-ms-request-charge": "4"}),
                  method="GET", path=DOCS_PATH)
    pager = container.read_all_items()
    assert [item["id"] async for item in pager] == ["1"]
    assert pager.get_response_headers()["x-ms-request-charge"] == "4"
