"""Transactional batch, read_items (read_many) and delete-by-partition-key against the recording server.

Wire parity: the same call goes through ``azure.cosmos.aio`` (the oracle) and through aiocosmos, and the
two recorded requests must agree on method, path, signed resource type and link (each authorization
header is recomputed from its own ``x-ms-date``), the parsed JSON body and every header that matters.
The scripted responses follow spec §6.6 (success array; failure array with 424s and one real failure,
answered 200 or 207), and both clients must read them the same way.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import orjson
import pytest
from aiohttp import web
from azure.cosmos.aio import ContainerProxy as AzureContainer
from azure.cosmos.aio import CosmosClient as AzureClient
from azure.cosmos.exceptions import CosmosBatchOperationError
from azure.cosmos.partition_key import NonePartitionKeyValue as AzureNonePartitionKeyValue

import aiocosmos
from aiocosmos._bulk.operations import MAX_BATCH_BYTES
from aiocosmos._wire.auth import MasterKeySigner
from aiocosmos.exceptions import CosmosBatchOperationError as AliasedBatchError
from aiocosmos.testing import FakeClock
from tests.client.conftest import COLL_PATH, DOCS_PATH, KEY, item_path
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

LINK: Final = "dbs/db/colls/c"
DELETE_PATH: Final = COLL_PATH + "/operations/partitionkeydelete"
BATCH_HEADERS: Final = ("x-ms-cosmos-is-batch-request", "x-ms-cosmos-batch-atomic",
                        "x-ms-cosmos-batch-continue-on-error")
# Every header whose value must be the same from both clients (absent on both counts as the same).
MATTERS: Final = (*BATCH_HEADERS, "x-ms-documentdb-partitionkey", "content-type", "x-ms-version",
                  "x-ms-documentdb-is-upsert", "x-ms-documentdb-isquery", "if-match", "if-none-match")


# ---------------------------------------------------------------------------------------------------
# helpers


@asynccontextmanager
async def azure_container(server: RecordingServer) -> AsyncIterator[AzureContainer]:
    async with AzureClient(server.url, credential=KEY) as azure_client:
        yield azure_client.get_database_client("db").get_container_client("c")


async def primed(container: aiocosmos.ContainerProxy, server: RecordingServer) -> aiocosmos.ContainerProxy:
    """The container with its partition-key definition cached, and the record cleared."""
    await container.read()
    server.requests.clear()
    return container


def posts(server: RecordingServer, path: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.method == "POST" and r.path.rstrip("/") == path]


def assert_signed(request: RecordedRequest, verb: str, resource_type: str, link: str) -> None:
    date = request.headers["x-ms-date"]
    expected = MasterKeySigner(KEY).sign(verb, resource_type, link, date.lower())
    assert request.headers["authorization"] == expected, (request, resource_type, link)


def assert_same_request(theirs: RecordedRequest, ours: RecordedRequest, resource_type: str, link: str) -> None:
    assert ours.method == theirs.method == "POST"
    assert ours.path.rstrip("/") == theirs.path.rstrip("/")
    assert_signed(theirs, "post", resource_type, link)
    assert_signed(ours, "post", resource_type, link)
    for name in MATTERS:
        assert ours.headers.get(name) == theirs.headers.get(name), name
    assert (orjson.loads(ours.body) if ours.body else None) == (orjson.loads(theirs.body) if theirs.body else None)


async def run_both(
    server: RecordingServer,
    container: aiocosmos.ContainerProxy,
    path: str,
    theirs: Callable[[AzureContainer], Awaitable[Any]],
    ours: Callable[[aiocosmos.ContainerProxy], Awaitable[Any]],
) -> tuple[RecordedRequest, RecordedRequest, Any, Any]:
    """Run the SDK's call, then ours; return (their request, our request, their outcome, our outcome)
    where an outcome is the result or the exception raised."""
    async with azure_container(server) as azure:
        try:
            their_outcome = await theirs(azure)
        except Exception as exc:  # noqa: BLE001  # the outcome is compared below
            their_outcome = exc
    their_requests = posts(server, path)
    server.requests.clear()
    try:
        our_outcome = await ours(container)
    except Exception as exc:  # noqa: BLE001
        our_outcome = exc
    our_requests = posts(server, path)
    assert len(their_requests) == len(our_requests) == 1, (their_requests, our_requests)
    return their_requests[0], our_requests[0], their_outcome, our_outcome


ALL_KINDS: Final[list[Any]] = [
    ("create", ({"id": "o-2", "pk": "cust-42", "total": 5, "lines": [{"sku": "a", "n": 1}]},)),
    ("upsert", ({"id": "o-3", "pk": "cust-42", "note": "ünïcode ☕"},), {"if_none_match_etag": '"e-3"'}),
    ("read", ("o-1",)),
    ("replace", ("o-4", {"id": "o-4", "pk": "cust-42", "total": 7}), {"if_match_etag": '"e-4"'}),
    ("patch", ("o-1", [{"op": "incr", "path": "/total", "value": 1}, {"op": "remove", "path": "/old"}]),
     {"filter_predicate": "FROM c WHERE c.status = 'open'"}),
    ("patch", ("o-5", [{"op": "set", "path": "/status", "value": "done"}])),
    ("delete", ("o-9",), {"if_match_etag": '"e-9"'}),
    ("Read", ("with space",)),  # kinds are case-insensitive, as in azure-cosmos
]


def success_reply(count: int, status: int = 200, **headers: str) -> Reply:
    results = [{"statusCode": 200, "requestCharge": 1.5, "eTag": f'"e{n}"', "resourceBody": {"id": f"r{n}"}}
               for n in range(count)]
    return Reply.json(results, status=status, **headers)


# ---------------------------------------------------------------------------------------------------
# wire parity with azure.cosmos.aio


@pytest.mark.parametrize(("azure_pk", "our_pk", "header"), [
    ("cust-42", "cust-42", '["cust-42"]'),
    (5, 5, "[5]"),
    (2.5, 2.5, "[2.5]"),
    (True, True, "[true]"),
    (None, None, "[null]"),
    ("ünï", "ünï", '["\\u00fcn\\u00ef"]'),
    (AzureNonePartitionKeyValue, aiocosmos.NonePartitionKeyValue, "[{}]"),
])
async def test_batch_request_matches_the_sdk(
    server: RecordingServer, container: aiocosmos.ContainerProxy, azure_pk: Any, our_pk: Any, header: str
) -> None:
    # Documents carry the batch's partition key (or none, for NonePartitionKeyValue).
    def doc(item_id: str) -> dict[str, Any]:
        return {"id": item_id, "total": 1} if our_pk is aiocosmos.NonePartitionKeyValue else \
            {"id": item_id, "pk": our_pk, "total": 1}

    operations: list[Any] = [("create", (doc("a"),)), ("upsert", (doc("b"),)), ("read", ("c",)),
                             ("replace", ("d", doc("d")), {"if_match_etag": '"x"'}), ("delete", ("e",))]
    server.script(method="POST", path_prefix=DOCS_PATH, forever=success_reply(len(operations)))

    theirs, ours, their_result, our_result = await run_both(
        server, container, DOCS_PATH,
        lambda c: c.execute_item_batch(copy.deepcopy(operations), partition_key=azure_pk),
        lambda c: c.execute_item_batch(operations, partition_key=our_pk),
    )

    assert_same_request(theirs, ours, "docs", LINK)
    assert ours.headers["x-ms-documentdb-partitionkey"] == header
    assert [ours.headers[name] for name in BATCH_HEADERS] == ["True", "True", "False"]
    assert ours.headers["content-type"] == "application/json"
    assert isinstance(our_result, aiocosmos.BatchResponse)
    assert [dict(r) for r in our_result] == list(their_result)


async def test_every_operation_kind_serialises_as_the_sdk_does(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(method="POST", path_prefix=DOCS_PATH, forever=success_reply(len(ALL_KINDS)))

    theirs, ours, _, _ = await run_both(
        server, container, DOCS_PATH,
        lambda c: c.execute_item_batch(copy.deepcopy(ALL_KINDS), partition_key="cust-42"),
        lambda c: c.execute_item_batch(ALL_KINDS, partition_key="cust-42"),
    )

    assert_same_request(theirs, ours, "docs", LINK)
    body = orjson.loads(ours.body)
    assert [op["operationType"] for op in body] == [
        "Create", "Upsert", "Read", "Replace", "Patch", "Patch", "Delete", "Read"]
    assert body[1]["ifNoneMatch"] == '"e-3"' and body[3]["ifMatch"] == '"e-4"'
    assert body[4]["resourceBody"]["condition"] == "FROM c WHERE c.status = 'open'"
    assert "condition" not in body[5]["resourceBody"]
    assert "partitionKey" not in str(body)  # the key rides in the header only


async def test_the_callers_operations_are_left_untouched(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    # (azure-cosmos pops if_match_etag and filter_predicate out of the caller's option dicts.)
    operations = copy.deepcopy(ALL_KINDS)
    server.script(method="POST", path_prefix=DOCS_PATH, forever=success_reply(len(ALL_KINDS)))

    await container.execute_item_batch(operations, partition_key="cust-42")
    await container.execute_item_batch(operations, partition_key="cust-42")

    assert operations == ALL_KINDS
    first, second = (orjson.loads(r.body) for r in posts(server, DOCS_PATH))
    assert first == second and first[3]["ifMatch"] == '"e-4"'


async def test_hierarchical_partition_key_matches_the_sdk(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.containers[LINK] = {"paths": ["/tenant", "/user"], "kind": "MultiHash", "version": 2}
    operations = [("create", ({"id": "a", "tenant": "t1", "user": "u1"},)), ("read", ("b",))]
    server.script(method="POST", path_prefix=DOCS_PATH, forever=success_reply(2))

    theirs, ours, _, _ = await run_both(
        server, container, DOCS_PATH,
        lambda c: c.execute_item_batch(copy.deepcopy(operations), partition_key=["t1", "u1"]),
        lambda c: c.execute_item_batch(operations, partition_key=["t1", "u1"]),
    )

    assert_same_request(theirs, ours, "docs", LINK)
    assert ours.headers["x-ms-documentdb-partitionkey"] == '["t1","u1"]'


async def test_successful_batch_results_and_metadata(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    results = [
        {"statusCode": 201, "requestCharge": 6.19, "eTag": '"00-a"', "resourceBody": {"id": "o-2", "_etag": '"00-a"'}},
        {"statusCode": 200, "requestCharge": 1.0, "eTag": '"00-b"', "resourceBody": {"id": "o-1", "total": 6}},
        {"statusCode": 204, "requestCharge": 2.5},
    ]
    reply = Reply.json(results, x_ms_request_charge="9.69", x_ms_session_token="0:-1#17")
    server.script(method="POST", path_prefix=DOCS_PATH, forever=reply)
    operations: list[Any] = [("create", ({"id": "o-2", "pk": "p"},)), ("read", ("o-1",)), ("delete", ("o-9",))]

    _, ours, their_result, response = await run_both(
        server, container, DOCS_PATH,
        lambda c: c.execute_item_batch(copy.deepcopy(operations), partition_key="p"),
        lambda c: c.execute_item_batch(operations, partition_key="p"),
    )

    assert isinstance(response, aiocosmos.BatchResponse)
    assert [dict(r) for r in response] == list(their_result) == results
    assert len(response) == 3 and response.status_code == 200 and response.failed_index is None
    assert response.request_charge == 9.69 and response.session_token == "0:-1#17"
    assert response.activity_id == ours.reply_headers["x-ms-activity-id"]
    created, read, deleted = response
    assert (created.index, created.operation_type, created.item_id, created.status_code) == (0, "Create", "o-2", 201)
    assert created.request_charge == 6.19 and created.etag == '"00-a"' and created.succeeded
    assert read.resource_body == {"id": "o-1", "total": 6} and read["statusCode"] == 200
    assert (deleted.operation_type, deleted.item_id) == ("Delete", "o-9")
    assert deleted.resource_body is None and deleted.etag is None
    assert response[1:] == [read, deleted]


@pytest.mark.parametrize(("http_status", "failed", "sub_status", "error_name"), [
    (207, {"statusCode": 409, "requestCharge": 1.24}, 0, "Conflict"),
    (200, {"statusCode": 404, "requestCharge": 1.0}, 0, "NotFound"),
    (207, {"statusCode": 400, "substatusCode": 1001, "requestCharge": 0.0}, 1001, "BadRequest"),
    (207, {"statusCode": 412, "requestCharge": 1.0}, 0, "PreconditionFailed"),
])
async def test_failed_batch_raises_naming_the_operation(
    server: RecordingServer, container: aiocosmos.ContainerProxy,
    http_status: int, failed: dict[str, Any], sub_status: int, error_name: str,
) -> None:
    # Atomic failure (spec §6.6, §15.5): the failing operation has its own status, every other one 424.
    results = [{"statusCode": 424, "requestCharge": 0.0}, failed, {"statusCode": 424, "requestCharge": 0.0}]
    reply = Reply.json(results, status=http_status, x_ms_request_charge="2.24", x_ms_session_token="0:-1#5")
    server.script(method="POST", path_prefix=DOCS_PATH, forever=reply)
    operations: list[Any] = [("create", ({"id": "a", "pk": "p"},)), ("replace", ("b", {"id": "b", "pk": "p"})),
                             ("delete", ("c",))]

    _, ours, their_error, error = await run_both(
        server, container, DOCS_PATH,
        lambda c: c.execute_item_batch(copy.deepcopy(operations), partition_key="p"),
        lambda c: c.execute_item_batch(operations, partition_key="p"),
    )

    assert isinstance(their_error, CosmosBatchOperationError)
    assert isinstance(error, aiocosmos.BatchOperationError) and isinstance(error, aiocosmos.HttpResponseError)
    assert isinstance(error, AliasedBatchError)
    assert error.error_index == their_error.error_index == 1
    assert error.status_code == their_error.status_code == failed["statusCode"]
    assert error.sub_status == sub_status and error.code == error_name
    assert (error.operation_type, error.item_id) == ("Replace", "b")
    assert [dict(r) for r in error.operation_responses] == list(their_error.operation_responses) == results
    assert [r.status_code for r in error.operation_responses] == [424, failed["statusCode"], 424]
    assert error.operation_responses.status_code == http_status  # type: ignore[attr-defined]
    assert error.request_charge == 2.24 and error.activity_id == ours.reply_headers["x-ms-activity-id"]
    text = str(error)
    assert f"[{failed['statusCode']}/{sub_status}]" in text and "batch_operations[1]" in text
    assert "Replace 'b'" in text and error_name in text and "none of its 3 operations was committed" in text
    # The session token of the refused batch is still remembered.
    server.script(method="GET", path=item_path("x"), forever=Reply.json({"id": "x"}))
    await container.read_item("x", "p")
    assert server.requests_to("GET", item_path("x"))[-1].headers["x-ms-session-token"] == "0:-1#5"


async def test_failure_message_of_the_service_is_used_when_present(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    failed = {"statusCode": 409, "resourceBody": {"code": "Conflict", "message": "Resource with id 'a' exists"}}
    server.script(Reply.json([failed, {"statusCode": 424}], status=207), method="POST", path=DOCS_PATH)
    await primed(container, server)

    with pytest.raises(aiocosmos.BatchOperationError, match="Resource with id 'a' exists") as info:
        await container.execute_item_batch([("create", ({"id": "a", "pk": "p"},)), ("read", ("z",))], "p")

    assert info.value.error_index == 0 and info.value.operation_type == "Create" and info.value.item_id == "a"


async def test_failed_batch_answered_with_an_error_status_and_the_array(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    # Should the gateway answer the failed operation's status instead of 207, it is still a batch failure.
    results = [{"statusCode": 409}, {"statusCode": 424}]
    server.script(Reply.json(results, status=409, x_ms_session_token="0:-1#6"), method="POST", path=DOCS_PATH)
    await primed(container, server)

    with pytest.raises(aiocosmos.BatchOperationError) as info:
        await container.execute_item_batch([("create", ({"id": "a", "pk": "p"},)), ("read", ("z",))], "p")

    assert info.value.error_index == 0 and info.value.status_code == 409 and info.value.attempts == 1
    assert isinstance(info.value.__cause__, aiocosmos.Conflict)
    assert [r.status_code for r in info.value.operation_responses] == [409, 424]
    assert info.value.activity_ids == (posts(server, DOCS_PATH)[0].reply_headers["x-ms-activity-id"],)
    await container.read_item("x", "p")
    assert server.requests_to("GET", item_path("x"))[-1].headers["x-ms-session-token"] == "0:-1#6"


async def test_request_level_errors_stay_ordinary_errors(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(Reply.error(413, message="Request size is too large"), method="POST", path=DOCS_PATH)
    await primed(container, server)

    with pytest.raises(aiocosmos.RequestEntityTooLarge) as info:
        await container.execute_item_batch([("read", ("a",))], "p")

    assert not isinstance(info.value, aiocosmos.BatchOperationError)


@pytest.mark.parametrize("body", [{"Documents": []}, [{"statusCode": 200}], []])
async def test_a_body_that_is_not_one_result_per_operation_is_an_error(
    server: RecordingServer, container: aiocosmos.ContainerProxy, body: Any
) -> None:
    server.script(Reply.json(body), method="POST", path=DOCS_PATH)
    await primed(container, server)

    with pytest.raises(aiocosmos.HttpResponseError, match="not one result per operation"):
        await container.execute_item_batch([("read", ("a",)), ("read", ("b",))], "p")


async def test_delete_all_items_by_partition_key_matches_the_sdk(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(method="POST", path=DELETE_PATH, forever=Reply(status=200, headers={"x-ms-session-token": "0:-1#9"}))

    theirs, ours, their_result, response = await run_both(
        server, container, DELETE_PATH,
        lambda c: c.delete_all_items_by_partition_key("cust-42"),
        lambda c: c.delete_all_items_by_partition_key("cust-42"),
    )

    # POST .../operations/partitionkeydelete, signed as the *container* (type colls), no body (spec §1, §6.4).
    assert_same_request(theirs, ours, "colls", LINK)
    assert ours.path == DELETE_PATH and ours.body == b"" and theirs.body == b""
    assert ours.headers["x-ms-documentdb-partitionkey"] == '["cust-42"]'
    assert their_result is None
    assert isinstance(response, aiocosmos.ResourceResponse) and response.status_code == 200 and dict(response) == {}
    assert response.session_token == "0:-1#9"
    server.script(method="GET", path=item_path("x"), forever=Reply.json({"id": "x"}))
    await container.read_item("x", "cust-42")
    assert server.requests_to("GET", item_path("x"))[-1].headers["x-ms-session-token"] == "0:-1#9"


@pytest.mark.parametrize(("azure_pk", "our_pk"), [
    (["t1", "u1"], ["t1", "u1"]), (AzureNonePartitionKeyValue, aiocosmos.NonePartitionKeyValue), (7, 7)])
async def test_delete_all_items_partition_key_forms_match_the_sdk(
    server: RecordingServer, container: aiocosmos.ContainerProxy, azure_pk: Any, our_pk: Any
) -> None:
    if isinstance(our_pk, list):
        server.containers[LINK] = {"paths": ["/tenant", "/user"], "kind": "MultiHash", "version": 2}
    server.script(method="POST", path=DELETE_PATH, forever=Reply(status=200))

    theirs, ours, _, _ = await run_both(
        server, container, DELETE_PATH,
        lambda c: c.delete_all_items_by_partition_key(azure_pk),
        lambda c: c.delete_all_items_by_partition_key(our_pk),
    )

    assert_same_request(theirs, ours, "colls", LINK)


async def test_delete_all_items_is_not_replayed_after_an_ambiguous_failure(
    server: RecordingServer, container: aiocosmos.ContainerProxy, clock: FakeClock
) -> None:
    await primed(container, server)
    server.script(method="POST", path=DELETE_PATH, forever=Reply.error(503))

    with pytest.raises(aiocosmos.ServiceUnavailable):
        await container.delete_all_items_by_partition_key("p")

    assert len(posts(server, DELETE_PATH)) == 1 and clock.sleeps == []


# ---------------------------------------------------------------------------------------------------
# retries and session tokens


async def test_a_batch_that_writes_is_not_replayed_after_an_ambiguous_failure(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)
    server.script(Reply.error(503), method="POST", path=DOCS_PATH)

    with pytest.raises(aiocosmos.ServiceUnavailable):
        await container.execute_item_batch([("read", ("a",)), ("delete", ("b",))], "p")

    assert len(posts(server, DOCS_PATH)) == 1


async def test_a_batch_that_only_reads_is_retried(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)
    server.script(Reply.error(503), method="POST", path=DOCS_PATH, forever=success_reply(2))

    response = await container.execute_item_batch([("read", ("a",)), ("read", ("b",))], "p")

    assert len(response) == 2 and len(posts(server, DOCS_PATH)) == 2


async def test_a_throttled_batch_is_retried(
    server: RecordingServer, container: aiocosmos.ContainerProxy, clock: FakeClock
) -> None:
    await primed(container, server)
    server.script(Reply.error(429, retry_after_ms=50), method="POST", path=DOCS_PATH, forever=success_reply(1))

    response = await container.execute_item_batch([("create", ({"id": "a", "pk": "p"},))], "p")

    assert len(response) == 1 and len(posts(server, DOCS_PATH)) == 2 and clock.sleeps == [0.05]


async def test_batch_sends_and_captures_the_session_token(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)
    server.script(Reply.json({"id": "a", "pk": "p"}, status=201, x_ms_session_token="0:-1#3"),
                  method="POST", path=DOCS_PATH)
    await container.create_item({"id": "a", "pk": "p"})
    server.script(success_reply(1, x_ms_session_token="0:-1#4"), method="POST", path=DOCS_PATH)

    await container.execute_item_batch([("read", ("a",))], "p")
    await container.read_item("a", "p")

    batch = posts(server, DOCS_PATH)[-1]
    assert batch.headers["x-ms-cosmos-is-batch-request"] == "True"
    assert batch.headers["x-ms-session-token"] == "0:-1#3"
    assert server.requests_to("GET", item_path("a"))[-1].headers["x-ms-session-token"] == "0:-1#4"


# ---------------------------------------------------------------------------------------------------
# validation before any I/O


def _ops(count: int) -> list[Any]:
    return [("read", (f"id{n}",)) for n in range(count)]


BIG: Final = "x" * (MAX_BATCH_BYTES // 2)


@pytest.mark.parametrize(("operations", "partition_key", "match"), [
    (_ops(101), "p", "1 to 100 operations, got 101"),
    ([], "p", "1 to 100 operations, got 0"),
    ("create", "p", "batch_operations must be a list"),
    ({"op": "read"}, "p", "batch_operations must be a list"),
    # Two items under 2 MB each, over 2 MB together: the request limit, with the exact constant.
    ([("create", ({"id": "a", "pk": "p", "s": BIG},)), ("create", ({"id": "b", "pk": "p", "s": BIG},))], "p",
     r"the batch is \d+ bytes as JSON; the service limit for a transactional batch request is 2097152 bytes"),
    ([("read", ("ok",)), ("read", ("a/b",))], "p", r"batch operation 1 \('read'\): item id 'a/b' contains"),
    ([("delete", ("",))], "p", "item id must not be empty"),
    ([("read", ("x ",))], "p", "'x ' ends with a space"),
    ([("read", (5,))], "p", "item id must be a string, got int: 5"),
    ([("merge", ("x",))], "p", r"batch operation 0 \('merge'\): unknown operation 'merge'"),
    ([(None, ("x",))], "p", "unknown operation None"),
    ([("read", "abc")], "p", r"'read' takes the arguments \(id,\), got 'abc' \(a string, not a tuple"),
    ([("replace", ("x",))], "p", r"'replace' takes the arguments \(id, item\)"),
    ([("read",)], "p", "an operation is a tuple"),
    (["read"], "p", "an operation is a tuple"),
    ([("read", ("x",), {"if_match": "e"})], "p", r"unknown option\(s\) \['if_match'\]"),
    ([("read", ("x",), {"filter_predicate": "FROM c"})], "p", r"unknown option\(s\) \['filter_predicate'\]"),
    ([("read", ("x",), "e")], "p", "the options of an operation must be a dict"),
    ([("read", ("x",), {"if_match_etag": "a", "if_none_match_etag": "b"})], "p", "not both"),
    ([("delete", ("x",), {"if_match_etag": ""})], "p", "etag must be the non-empty string"),
    ([("create", ({"pk": "p"},))], "p", r"batch operation 0 \('create'\): the item has no 'id'"),
    ([("upsert", (["id"],))], "p", "an item body must be a dict, a dataclass, .* got list"),
    ([("replace", ("x", {"id": "y", "pk": "p"}))], "p", "the item's id 'y' differs from the id 'x'"),
    ([("patch", ("x", [{"op": "inc", "path": "/n", "value": 1}]))], "p", "patch op must be one of"),
    ([("patch", ("x", []))], "p", "non-empty list of operations"),
    ([("patch", ("x", [{"op": "set", "path": "/n", "value": 1}]), {"filter_predicate": " "})], "p",
     "filter_predicate must be a SQL filter string"),
    ([("create", ({"id": "n", "pk": "p", "v": math.nan},))], "p",
     r"batch operation 0 \(Create 'n'\): its body holds a non-finite number \(NaN or infinity\) at /v"),
    ([("read", ("a",)), ("upsert", ({"id": "d", "pk": "p", "when": {"at": object()}},))], "p",
     r"batch operation 1 \(Upsert 'd'\): its body is not JSON-serialisable at /when/at"),
    ([("create", ({"id": "big", "pk": "p", "n": 2**60},))], "p", "beyond 2\\*\\*53"),
    ([("read", ("x",))], {"a": 1}, "a partition key value must be"),
    ([("read", ("x",))], [object()], "a partition key value must be"),
])
async def test_bad_batches_fail_before_any_io(
    server: RecordingServer, container: aiocosmos.ContainerProxy, operations: Any, partition_key: Any, match: str
) -> None:
    with pytest.raises(aiocosmos.ValidationError, match=match):
        await container.execute_item_batch(operations, partition_key)

    assert server.requests == []


async def test_one_hundred_operations_and_a_body_just_under_2_mb_are_sent(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)
    server.script(success_reply(100), Reply.json([{"statusCode": 201}]), method="POST", path=DOCS_PATH)
    assert len(await container.execute_item_batch(_ops(100), "p")) == 100

    overhead = len(orjson.dumps([{"operationType": "Create", "resourceBody": {"id": "a", "pk": "p", "s": ""}}]))
    document = {"id": "a", "pk": "p", "s": "x" * (MAX_BATCH_BYTES - overhead)}
    with pytest.raises(aiocosmos.ValidationError, match="limit"):
        await container.execute_item_batch([("create", ({**document, "s": document["s"] + "x"},))], "p")
    response = await container.execute_item_batch([("create", (document,))], "p")

    assert len(response) == 1
    assert len(posts(server, DOCS_PATH)[-1].body) == MAX_BATCH_BYTES


async def test_item_of_another_partition_fails_before_the_batch_is_sent(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    operations: list[Any] = [("create", ({"id": "a", "pk": "p"},)), ("upsert", ({"id": "b", "pk": "q"},))]

    with pytest.raises(aiocosmos.ValidationError,
                       match=r"batch operation 1 \(Upsert 'b'\): the item's partition key \[\"q\"\] differs"):
        await container.execute_item_batch(operations, "p")

    assert [r.method for r in server.requests] == ["GET"]  # the container's definition, no batch


@pytest.mark.parametrize(("document", "partition_key"), [
    ({"id": "a", "pk": 1.0}, 1),
    ({"id": "a", "pk": 1}, 1.0),
    ({"id": "a"}, aiocosmos.NonePartitionKeyValue),
    ({"id": "a", "pk": None}, None),
])
async def test_partition_key_values_equal_as_json_pass(
    server: RecordingServer, container: aiocosmos.ContainerProxy, document: dict[str, Any], partition_key: Any
) -> None:
    server.script(method="POST", path=DOCS_PATH, forever=success_reply(1))

    await container.execute_item_batch([("create", (document,))], partition_key)

    assert len(posts(server, DOCS_PATH)) == 1


@pytest.mark.parametrize(("document", "partition_key"), [
    ({"id": "a", "pk": True}, 1),
    ({"id": "a", "pk": "1"}, 1),
    ({"id": "a"}, None),
    ({"id": "a", "pk": None}, aiocosmos.NonePartitionKeyValue),
])
async def test_partition_key_values_of_other_json_types_fail(
    server: RecordingServer, container: aiocosmos.ContainerProxy, document: dict[str, Any], partition_key: Any
) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="differs from the batch's partition key"):
        await container.execute_item_batch([("create", (document,))], partition_key)

    assert posts(server, DOCS_PATH) == []


async def test_hierarchical_partition_key_arity_is_checked(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.containers[LINK] = {"paths": ["/tenant", "/user"], "kind": "MultiHash", "version": 2}

    with pytest.raises(aiocosmos.ValidationError, match="needs a list of 2 values"):
        await container.execute_item_batch([("read", ("a",))], "t1")
    with pytest.raises(aiocosmos.ValidationError, match="needs a list of 2 values"):
        await container.delete_all_items_by_partition_key("t1")

    assert posts(server, DOCS_PATH) == [] and posts(server, DELETE_PATH) == []


async def test_delete_all_items_bad_partition_key_fails_before_any_io(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="a partition key value must be"):
        await container.delete_all_items_by_partition_key({"a": 1})

    assert server.requests == []


# ---------------------------------------------------------------------------------------------------
# read_items / read_many


def query_of(request: RecordedRequest) -> tuple[str, list[Any]]:
    body = request.json()
    return body["query"], [(p["name"], p["value"]) for p in body["parameters"]]


async def test_read_many_queries_each_partition_once_and_keeps_the_callers_order(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)
    # The p1 query answers out of order and with an id nobody asked for.
    server.script(Reply.json({"Documents": [{"id": "a", "pk": "p1"}, {"id": "zzz", "pk": "p1"},
                                            {"id": "b", "pk": "p1"}], "_count": 3},
                             x_ms_request_charge="2.5"),
                  method="POST", path=DOCS_PATH)
    server.script(Reply.error(404, headers={"x-ms-request-charge": "1.25"}), method="GET", path=item_path("c"))
    server.script(Reply.json({"id": "d", "pk": 5}, x_ms_request_charge="1"), method="GET", path=item_path("d"))

    found = await container.read_many([("d", 5), ("b", "p1"), ("c", "p2"), ("a", "p1"), ("b", "p1")])

    assert isinstance(found, aiocosmos.ReadManyResult) and isinstance(found, list)
    assert found == [{"id": "d", "pk": 5}, {"id": "b", "pk": "p1"}, {"id": "a", "pk": "p1"}]
    assert found.request_charge == 4.75 and len(found.activity_ids) == 3
    [query] = posts(server, DOCS_PATH)
    assert query_of(query) == ("SELECT * FROM c WHERE c.id IN (@id0, @id1)", [("@id0", "b"), ("@id1", "a")])
    assert query.headers["x-ms-documentdb-partitionkey"] == '["p1"]'
    assert query.headers["x-ms-documentdb-isquery"] == "True"
    assert query.headers["content-type"] == "application/query+json"
    assert "x-ms-documentdb-query-enablecrosspartition" not in query.headers
    assert_signed(query, "post", "docs", LINK)
    # A partition with one id gets a point read (1 RU) instead of a query.
    [point_c] = server.requests_to("GET", item_path("c"))
    [point_d] = server.requests_to("GET", item_path("d"))
    assert point_c.headers["x-ms-documentdb-partitionkey"] == '["p2"]'
    assert point_d.headers["x-ms-documentdb-partitionkey"] == "[5]"
    assert_signed(point_d, "get", "docs", LINK + "/docs/d")
    assert len(server.requests) == 3


async def test_read_items_is_the_same_method(container: aiocosmos.ContainerProxy) -> None:
    assert aiocosmos.ContainerProxy.read_many is aiocosmos.ContainerProxy.read_items


async def test_read_many_follows_continuations_and_sends_the_session_token(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)
    server.script(Reply.json({"id": "w", "pk": "p"}, status=201, x_ms_session_token="0:-1#8"),
                  method="POST", path=DOCS_PATH)
    await container.create_item({"id": "w", "pk": "p"})
    server.script(Reply.json({"Documents": [{"id": "a"}]}, x_ms_continuation="t1"),
                  Reply.json({"Documents": []}, x_ms_continuation="t2"),
                  Reply.json({"Documents": [{"id": "b"}]}), method="POST", path=DOCS_PATH)

    found = await container.read_items([("a", "p"), ("b", "p")])

    assert found == [{"id": "a"}, {"id": "b"}] and found.request_charge == 3.0
    queries = posts(server, DOCS_PATH)[1:]
    assert [q.headers.get("x-ms-continuation") for q in queries] == [None, "t1", "t2"]
    assert all(q.headers["x-ms-session-token"] == "0:-1#8" for q in queries)
    assert all(q.headers["x-ms-max-item-count"] == "2" for q in queries)


async def test_read_many_splits_large_partitions_into_queries_of_1000_ids(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)

    await container.read_many([(f"i{n}", "p") for n in range(2001)])

    sizes = sorted(len(q.json()["parameters"]) for q in posts(server, DOCS_PATH))
    assert sizes == [1000, 1000] and len(server.requests_to("GET", item_path("i2000"))) == 1


async def test_read_many_bounds_its_concurrency(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)
    in_flight = 0
    peak = 0

    async def slow(request: web.Request, record: RecordedRequest) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1

    server.before_reply.append(slow)

    await container.read_many([(f"{kind}{n}", f"p{n}") for n in range(12) for kind in "ab"], max_concurrency=3)

    assert len(posts(server, DOCS_PATH)) == 12 and peak == 3


async def test_read_many_failure_cancels_the_rest_and_raises_the_error(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)
    server.script(Reply.error(403, message="blocked"), method="GET", path=item_path("x1"))
    server.script(method="GET", path_prefix=DOCS_PATH, forever=Reply(status=200, body={"id": "slow"}, delay=0.6))
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(aiocosmos.Forbidden, match="blocked"):
        await container.read_many([(f"x{n}", f"p{n}") for n in range(6)], max_concurrency=6)

    # The other reads were cancelled, not awaited (each would take 0.6 s).
    assert loop.time() - started < 0.4


async def test_read_many_raises_404s_that_are_not_a_missing_item(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)
    server.script(Reply.error(404, sub_status=1003, message="owner resource does not exist"),
                  method="GET", path=item_path("a"))

    with pytest.raises(aiocosmos.NotFound, match="owner resource"):
        await container.read_many([("a", "p")])


async def test_read_many_of_nothing_makes_no_request(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    found = await container.read_many([])

    assert found == [] and found.request_charge == 0.0 and server.requests == []


async def test_read_many_timeout_is_one_deadline(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    await primed(container, server)

    with pytest.raises(aiocosmos.OperationTimeout):
        await container.read_many([("a", "p"), ("b", "q")], timeout=0)

    assert server.requests == []


@pytest.mark.parametrize(("items", "kwargs", "match"), [
    ("ab", {}, "items must be a list of"),
    ({"a": "p"}, {}, "items must be a list of"),
    ([("a", "p"), "b"], {}, r"items\[1\] must be an \(id, partition_key\) tuple, got 'b'"),
    ([("a", "p", "x")], {}, r"items\[0\] must be an \(id, partition_key\) tuple"),
    ([("a", "p"), ("a/b", "p")], {}, r"items\[1\] id 'a/b' contains"),
    ([("", "p")], {}, r"items\[0\] id must not be empty"),
    ([(None, "p")], {}, r"items\[0\] id must be a string"),
    ([("a", {"x": 1})], {}, r"items\[0\] \('a'\): a partition key value must be"),
    ([("a", "p")], {"max_concurrency": 0}, "max_concurrency must be a positive int, got 0"),
    ([("a", "p")], {"max_concurrency": True}, "max_concurrency must be a positive int"),
])
async def test_bad_read_many_input_fails_before_any_io(
    server: RecordingServer, container: aiocosmos.ContainerProxy, items: Any, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(aiocosmos.ValidationError, match=match):
        await container.read_many(items, **kwargs)

    assert server.requests == []


async def test_read_many_checks_hierarchical_arity(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.containers[LINK] = {"paths": ["/tenant", "/user"], "kind": "MultiHash", "version": 2}

    with pytest.raises(aiocosmos.ValidationError, match=r"items\[1\] \('b'\): partition key value \['t1'\]"):
        await container.read_many([("a", ["t1", "u1"]), ("b", ["t1"])])

    assert [r.method for r in server.requests] == ["GET"]  # only the container definition
