"""Conflicts (``list_conflicts``, ``query_conflicts``, ``get_conflict``, ``delete_conflict``) against the
recording server.

* Wire parity: each method is called through ``azure.cosmos.aio`` and through aiocosmos with the same
  arguments; the two requests must have the same method, path, signed (verb, resource type, link)
  (checked by recomputing each signature), JSON body and meaningful headers, and the results must be equal.
* Response handling: 404s, paging with continuations, retries.
* Bad input is refused before any I/O.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
from azure.cosmos.aio import ContainerProxy as AzureContainerProxy
from azure.cosmos.aio import CosmosClient as AzureClient
from azure.cosmos.partition_key import NonePartitionKeyValue as AzureNonePartitionKeyValue

import aiocosmos
from aiocosmos._wire.auth import MasterKeySigner
from aiocosmos.testing import FakeClock
from tests.client.conftest import COLL, COLL_PATH, DB, KEY, raises_clean
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

COLL_LINK: Final = f"dbs/{DB}/colls/{COLL}"
FEED_PATH: Final = f"{COLL_PATH}/conflicts"
HIER: Final = "h"
HIER_PATH: Final = f"/dbs/{DB}/colls/{HIER}"
HIER_LINK: Final = f"dbs/{DB}/colls/{HIER}"
HIER_KEY: Final = {"paths": ["/tenant", "/user"], "kind": "MultiHash", "version": 2}

SAME_HEADERS: Final = (
    "x-ms-documentdb-partitionkey",
    "Content-Type",
    "x-ms-max-item-count",
    "x-ms-version",
    "If-Match",
)
SAME_BOOLEAN_HEADERS: Final = ("x-ms-documentdb-isquery", "x-ms-documentdb-query-enablecrosspartition")


def conflict(conflict_id: str, **fields: Any) -> dict[str, Any]:
    """A conflict as the service returns it."""
    return {"id": conflict_id, "resourceType": "document", "operationType": "replace",
            "content": json.dumps({"id": "o-1", "pk": "p", "total": 7}), "resourceId": "OtZ7AKKpLnABAAAAAAAAAA==",
            **fields, "_rid": "OtZ7AKKpLnABAAAAAAAAAB==",
            "_self": f"dbs/OtZ7AA==/colls/OtZ7AKKpLnA=/conflicts/{conflict_id}/",
            "_etag": '"00000000-0000-0000-0000-000000000000"', "_ts": 1700831719}


def feed(items: list[dict[str, Any]], continuation: str | None = None) -> Reply:
    headers = {"x-ms-item-count": str(len(items))}
    if continuation is not None:
        headers["x-ms-continuation"] = continuation
    return Reply(headers=headers, body={"_rid": "OtZ7AKKpLnA=", "Conflicts": items, "_count": len(items)})


def script_reply(server: RecordingServer, method: str, path: str, reply: Reply) -> None:
    for variant in (path, path + "/"):
        server.script(method=method, path=variant, forever=reply)


def assert_signed(request: RecordedRequest, verb: str, resource_type: str, link: str) -> None:
    date = request.headers["x-ms-date"]
    expected = MasterKeySigner(KEY).sign(verb, resource_type, link, date.lower())
    assert request.authorization == expected, f"not signed as ({verb}, {resource_type!r}, {link!r})"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


async def collect(pager: Any) -> list[Any]:
    return [item async for item in pager]


async def _dict(result: Awaitable[Any]) -> Any:
    value = await result
    return None if value is None or len(value) == 0 else dict(value)


# ---------------------------------------------------------------------------------------------------
# Wire parity with azure.cosmos.aio

Call = Callable[[Any], Awaitable[Any]]


@dataclass
class Case:
    name: str
    call: Call
    """Given a container of either client, make the same call and return a comparable result."""
    method: str
    path: str
    link: str
    reply: Reply
    body: Any = None
    headers: dict[str, str | None] = field(default_factory=dict)
    """Header values both must send (None: must be absent)."""
    container: str = COLL
    ours: Call | None = None
    """A different aiocosmos call (when an argument has a different type in the two clients)."""


QUERY: Final = "SELECT * FROM c WHERE c.operationType = @op"
PARAMETERS: Final = [{"name": "@op", "value": "replace"}]
CASES: Final[list[Case]] = [
    Case("list_conflicts", lambda c: collect(c.list_conflicts(max_item_count=5)),
         "GET", FEED_PATH, COLL_LINK, feed([conflict("k1"), conflict("k2")]),
         headers={"x-ms-max-item-count": "5", "x-ms-documentdb-partitionkey": None}),
    Case("query_conflicts", lambda c: collect(c.query_conflicts(QUERY, parameters=PARAMETERS)),
         "POST", FEED_PATH, COLL_LINK, feed([conflict("k1")]), body={"query": QUERY, "parameters": PARAMETERS},
         headers={"Content-Type": "application/query+json", "x-ms-documentdb-partitionkey": None}),
    Case("query_conflicts(pk)", lambda c: collect(c.query_conflicts("SELECT * FROM c", partition_key="p",
                                                                     max_item_count=3)),
         "POST", FEED_PATH, COLL_LINK, feed([conflict("k1")]), body={"query": "SELECT * FROM c"},
         headers={"x-ms-documentdb-partitionkey": '["p"]', "x-ms-max-item-count": "3",
                  "x-ms-documentdb-query-enablecrosspartition": None}),
    Case("get_conflict", lambda c: _dict(c.get_conflict("k1", "p")),
         "GET", f"{FEED_PATH}/k1", f"{COLL_LINK}/conflicts/k1", Reply.json(conflict("k1")),
         headers={"x-ms-documentdb-partitionkey": '["p"]'}),
    Case("delete_conflict", lambda c: _dict(c.delete_conflict("k1", "p")),
         "DELETE", f"{FEED_PATH}/k1", f"{COLL_LINK}/conflicts/k1", Reply(status=204),
         headers={"x-ms-documentdb-partitionkey": '["p"]'}),
    Case("get_conflict(escaped id, numeric pk)", lambda c: _dict(c.get_conflict("k 1+é", 7)),
         "GET", f"{FEED_PATH}/k%201%2B%C3%A9", f"{COLL_LINK}/conflicts/k 1+é", Reply.json(conflict("k 1+é")),
         headers={"x-ms-documentdb-partitionkey": "[7]"}),
    Case("get_conflict(null pk)", lambda c: _dict(c.get_conflict("k1", None)),
         "GET", f"{FEED_PATH}/k1", f"{COLL_LINK}/conflicts/k1", Reply.json(conflict("k1")),
         headers={"x-ms-documentdb-partitionkey": "[null]"}),
    Case("delete_conflict(NonePartitionKeyValue)",
         lambda c: _dict(c.delete_conflict("k1", AzureNonePartitionKeyValue)),
         "DELETE", f"{FEED_PATH}/k1", f"{COLL_LINK}/conflicts/k1", Reply(status=204),
         headers={"x-ms-documentdb-partitionkey": "[{}]"},
         ours=lambda c: _dict(c.delete_conflict("k1", aiocosmos.NonePartitionKeyValue))),
    Case("get_conflict(hierarchical pk)", lambda c: _dict(c.get_conflict("k1", ["acme", "ünï"])),
         "GET", f"{HIER_PATH}/conflicts/k1", f"{HIER_LINK}/conflicts/k1", Reply.json(conflict("k1")),
         headers={"x-ms-documentdb-partitionkey": '["acme","\\u00fcn\\u00ef"]'}, container=HIER),
]


def the_request(server: RecordingServer, case: Case) -> RecordedRequest:
    """The one request of the operation (azure-cosmos adds a trailing slash and reads the container first)."""
    matching = [r for r in server.requests if r.method == case.method and r.path.rstrip("/") == case.path]
    assert len(matching) == 1, (case.name, server.requests)
    return matching[0]


def test_every_conflict_method_has_a_parity_case() -> None:
    covered = {case.name.split("(")[0] for case in CASES}
    assert covered == {"list_conflicts", "query_conflicts", "get_conflict", "delete_conflict"}
    for name in covered:  # the same names and parameters as azure.cosmos.aio, minus **kwargs, plus timeout
        ours = inspect.signature(getattr(aiocosmos.ContainerProxy, name)).parameters
        azure = inspect.signature(getattr(AzureContainerProxy, name)).parameters
        expected = [p for p in azure if p not in ("kwargs", "response_hook")] + ["timeout"]
        assert [p for p in ours if p != "response_hook"] == expected, name  # pagers: response_hook is refused
        for parameter in ours:
            if parameter in azure:
                assert ours[parameter].kind == azure[parameter].kind, (name, parameter)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_wire_parity_with_azure_cosmos(
    case: Case, server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.containers[HIER_LINK] = HIER_KEY
    script_reply(server, case.method, case.path, case.reply)

    async with AzureClient(server.url, credential=KEY) as azure_client:
        sdk_result = await case.call(azure_client.get_database_client(DB).get_container_client(case.container))
    sdk_request = the_request(server, case)
    server.requests.clear()

    ours_call = case.ours or case.call
    our_result = await ours_call(client.get_database_client(DB).get_container_client(case.container))
    ours = the_request(server, case)

    assert ours.path == case.path
    assert sdk_request.path.rstrip("/") == case.path
    verb = case.method.lower()
    assert_signed(sdk_request, verb, "conflicts", case.link)
    assert_signed(ours, verb, "conflicts", case.link)
    parsed = [None if not r.body else json.loads(r.body) for r in (ours, sdk_request)]
    assert parsed[0] == parsed[1] == case.body
    for name in SAME_HEADERS:
        assert ours.headers.get(name) == sdk_request.headers.get(name), name
    for name in SAME_BOOLEAN_HEADERS:
        assert (ours.headers.get(name) or "").lower() == (sdk_request.headers.get(name) or "").lower(), name
    for name, value in case.headers.items():
        assert ours.headers.get(name) == value, name
    assert canonical(our_result) == canonical(sdk_result)
    reply = case.reply.body
    assert our_result == (None if reply is None else reply.get("Conflicts", reply))


# ---------------------------------------------------------------------------------------------------
# Response handling


async def primed(client: aiocosmos.CosmosClient, server: RecordingServer) -> aiocosmos.ContainerProxy:
    container = client.get_database_client(DB).get_container_client(COLL)
    await container.read()  # cache the partition-key definition
    server.requests.clear()
    return container


async def test_missing_conflicts_raise_not_found_without_retrying(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.script(path_prefix=FEED_PATH + "/", forever=Reply.error(404, message="Resource Not Found"))
    container = await primed(client, server)
    for operation in (container.get_conflict("nope", "p"), container.delete_conflict({"id": "nope"}, "p")):
        with raises_clean(aiocosmos.NotFound, server) as info:
            await operation
        assert info.value.status_code == 404
        assert info.value.message == "Resource Not Found"
    assert [(r.method, r.path) for r in server.requests] == [("GET", f"{FEED_PATH}/nope"),
                                                             ("DELETE", f"{FEED_PATH}/nope")]


async def test_results_carry_their_metadata(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    script_reply(server, "GET", f"{FEED_PATH}/k1", Reply.json(conflict("k1"), x_ms_request_charge="1.25"))
    container = await primed(client, server)
    result = await container.get_conflict(conflict("k1"), "p")  # a dict is addressed by its id, not its _self
    assert server.requests[-1].path == f"{FEED_PATH}/k1"
    assert isinstance(result, aiocosmos.ResourceResponse)
    assert (result["operationType"], result.request_charge, result.status_code) == ("replace", 1.25, 200)
    assert json.loads(result["content"])["total"] == 7
    deleted = await container.delete_conflict("k1", "p")
    assert (deleted.status_code, len(deleted)) == (204, 0)


async def test_list_and_query_page_with_continuations(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    items = [conflict(f"k{n}") for n in range(3)]
    pages = [feed(items[:2], continuation="tok+1/="), feed(items[2:])]
    server.script(*pages, *pages[1:], method="GET", path=FEED_PATH)
    server.script(feed([], continuation="empty"), *pages, method="POST", path=FEED_PATH)
    container = await primed(client, server)

    by_page = [page async for page in container.list_conflicts(max_item_count=2).by_page()]
    assert [[c["id"] for c in page] for page in by_page] == [["k0", "k1"], ["k2"]]
    assert by_page[0].continuation is not None and by_page[1].continuation is None
    resumed = [c["id"] async for page in
               container.list_conflicts(max_item_count=2).by_page(continuation_token=by_page[0].continuation)
               for c in page]
    assert resumed == ["k2"]
    gets = server.requests_to("GET", FEED_PATH)
    assert [g.headers.get("x-ms-continuation") for g in gets] == [None, "tok+1/=", "tok+1/="]
    assert {g.headers["x-ms-max-item-count"] for g in gets} == {"2"}
    # A token of the listing cannot resume a query (checked before any I/O).
    with pytest.raises(aiocosmos.InvalidContinuationToken):
        container.query_conflicts("SELECT * FROM c").by_page(continuation_token=by_page[0].continuation)

    queried = [page async for page in container.query_conflicts("SELECT * FROM c", partition_key="p").by_page()]
    assert [[c["id"] for c in page] for page in queried] == [["k0", "k1"], ["k2"]]
    assert queried[0].request_charge == 2.0  # the empty page's charge is kept
    posts = server.requests_to("POST", FEED_PATH)
    assert [p.headers.get("x-ms-continuation") for p in posts] == [None, "empty", "tok+1/="]
    assert {p.headers["x-ms-documentdb-partitionkey"] for p in posts} == {'["p"]'}
    for post in posts:
        assert_signed(post, "post", "conflicts", COLL_LINK)


async def test_delete_is_not_replayed_but_reads_are_retried(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    container = await primed(client, server)
    server.script(Reply.error(503), method="GET", path=f"{FEED_PATH}/k1")
    server.script(Reply.error(503), method="DELETE", path=f"{FEED_PATH}/k1")
    assert (await container.get_conflict("k1", "p"))["id"] == "k1"
    assert len(server.requests_to("GET", f"{FEED_PATH}/k1")) == 2
    with raises_clean(aiocosmos.ServiceUnavailable, server):
        await container.delete_conflict("k1", "p")
    assert len(server.requests_to("DELETE", f"{FEED_PATH}/k1")) == 1
    assert len(clock.sleeps) == 1  # the read's backoff only


# ---------------------------------------------------------------------------------------------------
# Validation before I/O

Operation = Callable[[aiocosmos.ContainerProxy], Any]
BAD_IDS: Final = ["", "a/b", "a\\b", "a?b", "a#b", "tab\tid", "trailing ", 5, None, "x" * 1024]
INVALID: Final[list[tuple[str, Operation, str]]] = [
    *[(f"{name}({bad!r:.20})", op, "conflict id") for bad in BAD_IDS for name, op in [
        ("get_conflict", lambda c, b=bad: c.get_conflict(b, "p")),
        ("delete_conflict", lambda c, b=bad: c.delete_conflict(b, "p")),
        ("get_conflict(dict)", lambda c, b=bad: c.get_conflict({"id": b}, "p")),
    ]],
    ("get: pk a dict", lambda c: c.get_conflict("k1", {"a": 1}), "partition key value"),
    ("delete: pk a nested list", lambda c: c.delete_conflict("k1", [["a"]]), "partition key value"),
    ("query: pk a set", lambda c: c.query_conflicts("SELECT * FROM c", partition_key={1}), "partition key value"),
    ("list page size 0", lambda c: c.list_conflicts(max_item_count=0), "max_item_count"),
    ("query page size -2", lambda c: c.query_conflicts("SELECT * FROM c", max_item_count=-2), "max_item_count"),
    ("query: empty", lambda c: c.query_conflicts(""), "query"),
    ("query: bad parameters", lambda c: c.query_conflicts("SELECT * FROM c", parameters={"@x": 1}), "parameters"),
]


@pytest.mark.parametrize("operation, match", [(op, match) for _, op, match in INVALID],
                         ids=[name for name, _, _ in INVALID])
async def test_bad_input_is_refused_before_any_io(
    operation: Operation, match: str, server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client(DB).get_container_client(COLL)
    with pytest.raises(aiocosmos.ValidationError, match=match):
        result = operation(container)
        if inspect.isawaitable(result):
            await result
    assert server.requests == []


async def test_a_partition_key_of_the_wrong_arity_never_reaches_the_conflict(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.containers[HIER_LINK] = HIER_KEY
    container = client.get_database_client(DB).get_container_client(HIER)
    with pytest.raises(aiocosmos.ValidationError, match="needs a list of 2 values"):
        await container.get_conflict("k1", "acme")
    with pytest.raises(aiocosmos.ValidationError, match="needs exactly 2"):
        await container.delete_conflict("k1", ["acme"])
    with pytest.raises(aiocosmos.ValidationError, match="needs exactly 2"):
        container.query_conflicts("SELECT * FROM c", partition_key=["a", "b", "c"])
    assert [(r.method, r.path) for r in server.requests] == [("GET", HIER_PATH)]
