"""Script upserts and lists of triggers on item writes, against the recording server.

* ``upsert_stored_procedure``, ``upsert_trigger`` and ``upsert_user_defined_function`` have no
  ``azure.cosmos.aio`` counterpart. Their wire shape is checked against the spec (§6.8 plus the upsert
  header: POST to the feed, ``x-ms-documentdb-is-upsert: True``, signed with the container's link) and
  against the installed sync SDK's ``CosmosClientConnection.Upsert{StoredProcedure,Trigger,
  UserDefinedFunction}``.
* ``pre_trigger_include`` / ``post_trigger_include`` take one id or a list of ids; a list is sent
  comma-separated, as azure.cosmos.aio does (checked by making the same call through both clients).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import pytest
from azure.cosmos import CosmosClient as SyncAzureClient
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos._wire.auth import MasterKeySigner
from aiocosmos.testing import FakeClock
from tests.client.conftest import COLL, COLL_PATH, DB, DOCS_PATH, KEY, ClientFactory, raises_clean
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

COLL_LINK: Final = f"dbs/{DB}/colls/{COLL}"
SPROC_JS: Final = "function greet(name) { getContext().getResponse().setBody('Hello, ' + name); }"
TRIGGER_JS: Final = "function stamp() { var r = getContext().getRequest(); var d = r.getBody(); r.setBody(d); }"
UDF_JS: Final = "function tax(amount) { return amount * 1.25; }"


def assert_signed(request: RecordedRequest, verb: str, resource_type: str, link: str) -> None:
    date = request.headers["x-ms-date"]
    expected = MasterKeySigner(KEY).sign(verb, resource_type, link, date.lower())
    assert request.authorization == expected, f"not signed as ({verb}, {resource_type!r}, {link!r})"


def script_reply(server: RecordingServer, method: str, path: str, reply: Reply) -> None:
    for variant in (path, path + "/"):
        server.script(method=method, path=variant, forever=reply)


def only(server: RecordingServer, method: str, path: str) -> RecordedRequest:
    matching = [r for r in server.requests if r.method == method and r.path.rstrip("/") == path]
    assert len(matching) == 1, server.requests
    return matching[0]


# ---------------------------------------------------------------------------------------------------
# Upserts: the spec's wire shape, and the same request as the sync SDK's connection


@dataclass
class Upsert:
    method_name: str
    sdk_name: str
    kind: str
    definition: dict[str, Any]
    sent: dict[str, Any]
    """The body both must send (serverScript becomes body)."""


UPSERTS: Final = [
    Upsert("upsert_stored_procedure", "UpsertStoredProcedure", "sprocs",
           {"id": "greet", "body": SPROC_JS}, {"id": "greet", "body": SPROC_JS}),
    Upsert("upsert_trigger", "UpsertTrigger", "triggers",
           {"id": "stamp", "serverScript": TRIGGER_JS, "triggerType": "Pre", "triggerOperation": "Create"},
           {"id": "stamp", "body": TRIGGER_JS, "triggerType": "Pre", "triggerOperation": "Create"}),
    Upsert("upsert_user_defined_function", "UpsertUserDefinedFunction", "udfs",
           {"id": "tax", "body": UDF_JS}, {"id": "tax", "body": UDF_JS}),
]


def test_every_upsert_is_covered() -> None:
    upserts = {name for name in dir(aiocosmos.ScriptsProxy) if name.startswith("upsert_")}
    assert upserts == {case.method_name for case in UPSERTS}


@pytest.mark.parametrize("case", UPSERTS, ids=[case.method_name for case in UPSERTS])
async def test_upsert_wire_shape(case: Upsert, server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    feed_path = f"{COLL_PATH}/{case.kind}"
    stored = {**case.sent, "_rid": "OtZ7AKKpLnABAAAAAAAAgA==", "_etag": '"e1"', "_ts": 1700831719}
    script_reply(server, "POST", feed_path, Reply.json(stored, x_ms_request_charge="3.5"))

    def sdk_upsert() -> Any:
        with SyncAzureClient(server.url, credential=KEY) as azure_client:
            return getattr(azure_client.client_connection, case.sdk_name)(COLL_LINK, dict(case.definition))

    sdk_result = await asyncio.to_thread(sdk_upsert)
    sdk_request = only(server, "POST", feed_path)
    server.requests.clear()

    definition = dict(case.definition)
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    result = await getattr(scripts, case.method_name)(definition)
    ours = only(server, "POST", feed_path)

    # The spec: POST to the feed, signed (post, kind, container link), JSON body, the upsert header.
    assert ours.path == feed_path
    assert_signed(ours, "post", case.kind, COLL_LINK)
    assert json.loads(ours.body) == case.sent
    assert ours.headers["Content-Type"] == "application/json"
    assert ours.headers["x-ms-documentdb-is-upsert"] == "True"
    assert "x-ms-documentdb-partitionkey" not in ours.headers
    # The sync SDK sends the same request.
    assert sdk_request.path.rstrip("/") == feed_path
    assert_signed(sdk_request, "post", case.kind, COLL_LINK)
    assert json.loads(sdk_request.body) == case.sent
    for name in ("Content-Type", "x-ms-version", "x-ms-documentdb-partitionkey"):
        assert ours.headers.get(name) == sdk_request.headers.get(name), name
    assert sdk_request.headers["x-ms-documentdb-is-upsert"].lower() == "true"
    # The result, and the caller's definition left as it was.
    assert dict(result) == dict(sdk_result) == stored
    assert (result.status_code, result.request_charge) == (200, 3.5)
    assert definition == case.definition


@pytest.mark.parametrize("failure, error", [(Reply.error(503), aiocosmos.ServiceUnavailable),
                                            (Reply.dropped(), aiocosmos.ReadError)], ids=["503", "dropped"])
async def test_an_upsert_is_not_replayed_after_an_ambiguous_failure_with_the_strict_switch(
    failure: Reply, error: type[Exception], server: RecordingServer, make_client: ClientFactory,
    clock: FakeClock,
) -> None:
    server.script(failure, method="POST", path=f"{COLL_PATH}/udfs")
    client = make_client(retry=aiocosmos.RetryPolicy(replay_idempotent_writes=False))
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    with raises_clean(error, server):
        await scripts.upsert_user_defined_function({"id": "tax", "body": UDF_JS})
    assert len(server.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("failure", [Reply.error(503), Reply.dropped()], ids=["503", "dropped"])
async def test_an_upsert_is_replayed_after_an_ambiguous_failure_by_default(
    failure: Reply, server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock,
) -> None:
    server.script(failure, method="POST", path=f"{COLL_PATH}/udfs")
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    result = await scripts.upsert_user_defined_function({"id": "tax", "body": UDF_JS})
    assert result.replayed and not result.applied_earlier
    posts = server.requests_to("POST", f"{COLL_PATH}/udfs")
    assert len(posts) == 2 and {p.headers["x-ms-documentdb-is-upsert"] for p in posts} == {"True"}
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize("operation", ["create", "replace"])
async def test_script_creates_and_replaces_are_never_replayed(
    operation: str, server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock,
) -> None:
    server.script(method=None, path_prefix=f"{COLL_PATH}/udfs", forever=Reply.error(503))
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    with raises_clean(aiocosmos.ServiceUnavailable, server) as info:
        if operation == "create":
            await scripts.create_user_defined_function({"id": "tax", "body": UDF_JS})
        else:
            await scripts.replace_user_defined_function("tax", {"id": "tax", "body": UDF_JS})
    assert len(server.requests) == 1 and info.value.attempts == 1 and not info.value.replayed
    assert clock.sleeps == []


async def test_an_upsert_is_retried_when_the_service_refused_it(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    server.script(Reply.error(429, retry_after_ms=200), method="POST", path=f"{COLL_PATH}/sprocs")
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    await scripts.upsert_stored_procedure({"id": "greet", "body": SPROC_JS})
    posts = server.requests_to("POST", f"{COLL_PATH}/sprocs")
    assert len(posts) == 2
    assert {p.headers["x-ms-documentdb-is-upsert"] for p in posts} == {"True"}
    assert clock.sleeps == [pytest.approx(0.2)]


GOOD_TRIGGER: Final = {"id": "stamp", "body": TRIGGER_JS, "triggerType": "Post", "triggerOperation": "All"}
INVALID_UPSERTS: Final[list[tuple[str, Callable[[aiocosmos.ScriptsProxy], Any], str]]] = [
    *[(f"upsert_stored_procedure(id={bad!r:.12})",
       lambda s, b=bad: s.upsert_stored_procedure({"id": b, "body": SPROC_JS}), "id")
      for bad in ["", "a/b", "a#b", "trailing ", 5, None]],
    ("sproc without body", lambda s: s.upsert_stored_procedure({"id": "greet"}), "body"),
    ("udf with empty body", lambda s: s.upsert_user_defined_function({"id": "tax", "body": " "}), "body"),
    ("udf not a dict", lambda s: s.upsert_user_defined_function("tax"), "dict"),
    ("trigger without type", lambda s: s.upsert_trigger({**GOOD_TRIGGER, "triggerType": None}), "triggerType"),
    ("trigger with a bad operation", lambda s: s.upsert_trigger({**GOOD_TRIGGER, "triggerOperation": "Upsert"}),
     "triggerOperation"),
    ("definition with a set", lambda s: s.upsert_trigger({**GOOD_TRIGGER, "tags": {1}}), "not JSON-serialisable"),
]


@pytest.mark.parametrize("operation, match", [(op, match) for _, op, match in INVALID_UPSERTS],
                         ids=[name for name, _, _ in INVALID_UPSERTS])
async def test_bad_upserts_are_refused_before_any_io(
    operation: Callable[[aiocosmos.ScriptsProxy], Any], match: str, server: RecordingServer,
    client: aiocosmos.CosmosClient,
) -> None:
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    with pytest.raises(aiocosmos.ValidationError, match=match):
        await operation(scripts)
    assert server.requests == []


# ---------------------------------------------------------------------------------------------------
# Several triggers on one item write: the same header as azure.cosmos.aio

DOC: Final = {"id": "1", "pk": "p", "n": 1}
PRE: Final = "x-ms-documentdb-pre-trigger-include"
POST: Final = "x-ms-documentdb-post-trigger-include"


@dataclass
class TriggerCase:
    name: str
    call: Callable[[Any], Awaitable[Any]]
    method: str
    path: str
    pre: str | None
    post: str | None


TRIGGER_CASES: Final = [
    TriggerCase("create_item(lists)",
                lambda c: c.create_item(dict(DOC), pre_trigger_include=["stamp", "audit"],
                                        post_trigger_include=["log"]),
                "POST", DOCS_PATH, "stamp,audit", "log"),
    TriggerCase("upsert_item(tuple)", lambda c: c.upsert_item(dict(DOC), pre_trigger_include=("a", "b b", "c")),
                "POST", DOCS_PATH, "a,b b,c", None),
    TriggerCase("replace_item(post list)",
                lambda c: c.replace_item("1", dict(DOC), post_trigger_include=["x", "y", "z"]),
                "PUT", f"{DOCS_PATH}/1", None, "x,y,z"),
    TriggerCase("create_item(one id as a str, sent as given)",
                lambda c: c.create_item(dict(DOC), pre_trigger_include="stamp", post_trigger_include="a,b"),
                "POST", DOCS_PATH, "stamp", "a,b"),
]


@pytest.mark.parametrize("case", TRIGGER_CASES, ids=[case.name for case in TRIGGER_CASES])
async def test_trigger_lists_match_azure_cosmos(
    case: TriggerCase, server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    script_reply(server, case.method, case.path, Reply.json({**DOC, "_etag": '"e1"'}))
    async with AzureClient(server.url, credential=KEY) as azure_client:
        await case.call(azure_client.get_database_client(DB).get_container_client(COLL))
    sdk_request = only(server, case.method, case.path)
    server.requests.clear()

    await case.call(client.get_database_client(DB).get_container_client(COLL))
    ours = only(server, case.method, case.path)

    assert ours.path == case.path
    for header, expected in ((PRE, case.pre), (POST, case.post)):
        sent = ours.headers.get(header)
        assert sent == expected, header
        assert sent == sdk_request.headers.get(header), header
    assert_signed(ours, case.method.lower(), "docs", COLL_LINK if case.method == "POST" else f"{COLL_LINK}/docs/1")
    assert json.loads(ours.body) == json.loads(sdk_request.body) == DOC


INVALID_TRIGGERS: Final[list[tuple[str, Callable[[aiocosmos.ContainerProxy], Any], str]]] = [
    ("empty list", lambda c: c.create_item(dict(DOC), pre_trigger_include=[]), "empty"),
    ("empty tuple (post)", lambda c: c.upsert_item(dict(DOC), post_trigger_include=()), "empty"),
    ("comma in a listed id", lambda c: c.create_item(dict(DOC), pre_trigger_include=["a,b"]), "','"),
    ("empty id in a list", lambda c: c.replace_item("1", dict(DOC), post_trigger_include=["ok", ""]), "empty"),
    ("non-string id in a list", lambda c: c.create_item(dict(DOC), post_trigger_include=["ok", 5]), "string"),
    ("bad id in a list", lambda c: c.upsert_item(dict(DOC), pre_trigger_include=["a/b"]), "contains"),
    ("bytes", lambda c: c.create_item(dict(DOC), pre_trigger_include=b"stamp"), "string"),
    ("a set", lambda c: c.create_item(dict(DOC), pre_trigger_include={"a", "b"}), "string"),
    ("a single bad id", lambda c: c.create_item(dict(DOC), post_trigger_include="a?b"), "contains"),
]


@pytest.mark.parametrize("operation, match", [(op, match) for _, op, match in INVALID_TRIGGERS],
                         ids=[name for name, _, _ in INVALID_TRIGGERS])
async def test_bad_trigger_lists_are_refused_before_any_io(
    operation: Callable[[aiocosmos.ContainerProxy], Any], match: str, server: RecordingServer,
    client: aiocosmos.CosmosClient,
) -> None:
    container = client.get_database_client(DB).get_container_client(COLL)
    with pytest.raises(aiocosmos.ValidationError, match=match):
        result = operation(container)
        if inspect.isawaitable(result):
            await result
    assert server.requests == []
