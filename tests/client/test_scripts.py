"""Stored procedures, triggers and UDFs against the recording server.

* Wire parity: every ``container.scripts`` method (and the trigger headers of item writes) is called
  through ``azure.cosmos.aio`` and through aiocosmos with the same arguments; the two requests must
  have the same method, path, signed resource type and link (checked by recomputing each signature),
  JSON body and relevant headers, and the two results must be the same.
* Response handling: any JSON value from a script, the decoded script log, 404s, paging.
* Execution is not replayed after an ambiguous failure.
* Bad input is refused before any I/O.
"""

from __future__ import annotations

import datetime
import inspect
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient
from azure.cosmos.partition_key import NonePartitionKeyValue as AzureNonePartitionKeyValue

import aiocosmos
from aiocosmos._wire.auth import MasterKeySigner
from aiocosmos.testing import FakeClock
from tests.client.conftest import COLL, COLL_PATH, DB, DOCS_PATH, KEY, raises_clean
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

COLL_LINK: Final = f"dbs/{DB}/colls/{COLL}"
HIER: Final = "h"
HIER_PATH: Final = f"/dbs/{DB}/colls/{HIER}"
HIER_LINK: Final = f"dbs/{DB}/colls/{HIER}"
HIER_KEY: Final = {"paths": ["/tenant", "/user"], "kind": "MultiHash", "version": 2}

SPROC_JS: Final = ("function greet(name, punctuation) { var response = getContext().getResponse(); "
                   "console.log('greeting ' + name); response.setBody('Hello, ' + name + punctuation); }")
TRIGGER_JS: Final = ("function stamp() { var request = getContext().getRequest(); var doc = request.getBody(); "
                     "doc.stamped = true; request.setBody(doc); }")
UDF_JS: Final = "function tax(amount) { return amount * 1.25; }"

# Headers whose values must be the same for both clients (absent in both counts as the same).
SAME_HEADERS: Final = (
    "x-ms-documentdb-partitionkey",
    "x-ms-documentdb-script-enable-logging",
    "Content-Type",
    "x-ms-version",
    "x-ms-documentdb-is-upsert",
    "x-ms-max-item-count",
    "x-ms-documentdb-pre-trigger-include",
    "x-ms-documentdb-post-trigger-include",
    "If-Match",
)
# Boolean headers where azure-cosmos writes "true" and aiocosmos "True" (the service takes both).
SAME_BOOLEAN_HEADERS: Final = ("x-ms-documentdb-isquery",)


def resource(kind: str, script_id: str, **fields: Any) -> dict[str, Any]:
    """A script resource as the service returns it (system properties included)."""
    rid = {"sprocs": "OtZ7AKKpLnABAAAAAAAAgA==", "triggers": "OtZ7AKKpLnABAAAAAAAAcA==",
           "udfs": "OtZ7AKKpLnABAAAAAAAAYA=="}[kind]
    return {"id": script_id, **fields, "_rid": rid, "_self": f"dbs/OtZ7AA==/colls/OtZ7AKKpLnA=/{kind}/{rid}/",
            "_etag": '"0000d83e-0000-0800-0000-6560a1e70000"', "_ts": 1700831719}


SPROC: Final = resource("sprocs", "greet", body=SPROC_JS)
TRIGGER: Final = resource("triggers", "stamp", body=TRIGGER_JS, triggerType="Pre", triggerOperation="All")
UDF: Final = resource("udfs", "tax", body=UDF_JS)
FEED_KEYS: Final = {"sprocs": "StoredProcedures", "triggers": "Triggers", "udfs": "UserDefinedFunctions"}


def feed(kind: str, items: list[dict[str, Any]], continuation: str | None = None) -> Reply:
    headers = {"x-ms-item-count": str(len(items))}
    if continuation is not None:
        headers["x-ms-continuation"] = continuation
    return Reply(headers=headers, body={"_rid": "OtZ7AKKpLnA=", FEED_KEYS[kind]: items, "_count": len(items)})


def script_reply(server: RecordingServer, method: str, path: str, reply: Reply) -> None:
    """Answer ``reply`` for ``path`` with and without the trailing slash azure-cosmos adds."""
    for variant in (path, path + "/"):
        server.script(method=method, path=variant, forever=reply)


async def collect(pager: Any) -> list[Any]:
    return [item async for item in pager]


# ---------------------------------------------------------------------------------------------------
# Wire parity with azure.cosmos.aio

Call = Callable[[Any], Awaitable[Any]]


@dataclass
class Case:
    name: str
    sdk: Call
    """Given an azure.cosmos.aio ContainerProxy, make the call and return a comparable result."""
    ours: Call
    """Given an aiocosmos ContainerProxy, make the same call and return a comparable result."""
    method: str
    path: str
    resource_type: str
    link: str
    reply: Reply
    body: Any = None
    """The JSON body both must send (None: no body)."""
    headers: dict[str, str | None] = field(default_factory=dict)
    """Header values both must send (None: must be absent)."""
    container: str = COLL


def sproc_path(name: str = "greet") -> str:
    return f"{COLL_PATH}/sprocs/{name}"


def execute_case(name: str, sdk_kwargs: dict[str, Any], our_kwargs: dict[str, Any], body: Any,
                 headers: dict[str, str | None], *, container: str = COLL) -> Case:
    path = f"/dbs/{DB}/colls/{container}/sprocs/greet"
    return Case(
        name,
        lambda c: c.scripts.execute_stored_procedure("greet", **sdk_kwargs),
        lambda c: _value(c.scripts.execute_stored_procedure("greet", **our_kwargs)),
        "POST", path, "sprocs", path.lstrip("/"),
        Reply.json("Hello, World!", x_ms_documentdb_script_log_results="greeting%20World",
                   x_ms_session_token="0:1#12"),
        body=body, headers={"Content-Type": "application/json", **headers}, container=container,
    )


async def _value(result: Awaitable[aiocosmos.ScriptResult]) -> Any:
    return (await result).value


async def _dict(result: Awaitable[Any]) -> Any:
    value = await result
    return None if value is None else dict(value)


async def _deleted(result: Awaitable[Any]) -> None:
    value = await result
    assert value is None or len(value) == 0
    return None


def crud_cases(kind: str, noun: str, definition: dict[str, Any], replaced: dict[str, Any]) -> list[Case]:
    """create, get, replace, delete, list and query of one script family."""
    feed_path = f"{COLL_PATH}/{kind}"
    script_id = definition["id"]
    item = f"{feed_path}/{script_id}"
    query = "SELECT * FROM s WHERE s.id = @id"
    parameters = [{"name": "@id", "value": script_id}]
    stored = resource(kind, script_id, **{k: v for k, v in definition.items() if k != "id"})
    stored_replaced = resource(kind, script_id, **{k: v for k, v in replaced.items() if k != "id"})
    plural = "user_defined_functions" if noun == "user_defined_function" else noun + "s"
    return [
        Case(f"create_{noun}",
             lambda c: _dict(getattr(c.scripts, f"create_{noun}")(dict(definition))),
             lambda c: _dict(getattr(c.scripts, f"create_{noun}")(dict(definition))),
             "POST", feed_path, kind, COLL_LINK, Reply.json(stored, status=201), body=definition,
             headers={"Content-Type": "application/json", "x-ms-documentdb-is-upsert": None}),
        Case(f"get_{noun}",
             lambda c: _dict(getattr(c.scripts, f"get_{noun}")(script_id)),
             lambda c: _dict(getattr(c.scripts, f"get_{noun}")(script_id)),
             "GET", item, kind, item.lstrip("/"), Reply.json(stored)),
        Case(f"replace_{noun}",
             lambda c: _dict(getattr(c.scripts, f"replace_{noun}")(script_id, dict(replaced))),
             lambda c: _dict(getattr(c.scripts, f"replace_{noun}")(script_id, dict(replaced))),
             "PUT", item, kind, item.lstrip("/"), Reply.json(stored_replaced), body=replaced,
             headers={"Content-Type": "application/json"}),
        Case(f"delete_{noun}",
             lambda c: _deleted(getattr(c.scripts, f"delete_{noun}")(script_id)),
             lambda c: _deleted(getattr(c.scripts, f"delete_{noun}")(script_id)),
             "DELETE", item, kind, item.lstrip("/"), Reply(status=204)),
        Case(f"list_{plural}",
             lambda c: collect(getattr(c.scripts, f"list_{plural}")(max_item_count=5)),
             lambda c: collect(getattr(c.scripts, f"list_{plural}")(max_item_count=5)),
             "GET", feed_path, kind, COLL_LINK, feed(kind, [stored, stored_replaced]),
             headers={"x-ms-max-item-count": "5"}),
        Case(f"query_{plural}",
             lambda c: collect(getattr(c.scripts, f"query_{plural}")(query, parameters=parameters)),
             lambda c: collect(getattr(c.scripts, f"query_{plural}")(query, parameters=parameters)),
             "POST", feed_path, kind, COLL_LINK, feed(kind, [stored]),
             body={"query": query, "parameters": parameters},
             headers={"Content-Type": "application/query+json"}),
    ]


def item_case(name: str, sdk: Call, ours: Call, method: str, path: str, link: str,
              headers: dict[str, str | None]) -> Case:
    document = {"id": "1", "pk": "p", "n": 1}
    return Case(name, sdk, ours, method, path, "docs", link,
                Reply.json({**document, "stamped": True, "_etag": '"e1"'}, status=201 if method == "POST" else 200),
                body=document, headers={"x-ms-documentdb-partitionkey": '["p"]', **headers})


DOC = {"id": "1", "pk": "p", "n": 1}
CASES: Final[list[Case]] = [
    *crud_cases("sprocs", "stored_procedure", {"id": "greet", "body": SPROC_JS},
                {"id": "greet", "body": SPROC_JS.replace("Hello", "Hi")}),
    *crud_cases("triggers", "trigger",
                {"id": "stamp", "body": TRIGGER_JS, "triggerType": "Pre", "triggerOperation": "All"},
                {"id": "stamp", "body": TRIGGER_JS, "triggerType": "Post", "triggerOperation": "Replace"}),
    *crud_cases("udfs", "user_defined_function", {"id": "tax", "body": UDF_JS},
                {"id": "tax", "body": UDF_JS.replace("1.25", "1.5")}),
    # serverScript is sent as body (both clients); lower-case trigger enums are sent as given.
    Case("create_stored_procedure(serverScript)",
         lambda c: _dict(c.scripts.create_stored_procedure({"id": "greet", "serverScript": SPROC_JS})),
         lambda c: _dict(c.scripts.create_stored_procedure({"id": "greet", "serverScript": SPROC_JS})),
         "POST", f"{COLL_PATH}/sprocs", "sprocs", COLL_LINK, Reply.json(SPROC, status=201),
         body={"id": "greet", "body": SPROC_JS}),
    Case("create_trigger(lower case, serverScript)",
         lambda c: _dict(c.scripts.create_trigger({"id": "stamp", "serverScript": TRIGGER_JS,
                                                   "triggerType": "post", "triggerOperation": "update"})),
         lambda c: _dict(c.scripts.create_trigger({"id": "stamp", "serverScript": TRIGGER_JS,
                                                   "triggerType": "post", "triggerOperation": "update"})),
         "POST", f"{COLL_PATH}/triggers", "triggers", COLL_LINK, Reply.json(TRIGGER, status=201),
         body={"id": "stamp", "body": TRIGGER_JS, "triggerType": "post", "triggerOperation": "update"}),
    Case("replace_user_defined_function(serverScript)",
         lambda c: _dict(c.scripts.replace_user_defined_function("tax", {"id": "tax", "serverScript": UDF_JS})),
         lambda c: _dict(c.scripts.replace_user_defined_function("tax", {"id": "tax", "serverScript": UDF_JS})),
         "PUT", f"{COLL_PATH}/udfs/tax", "udfs", f"{COLL_LINK}/udfs/tax", Reply.json(UDF),
         body={"id": "tax", "body": UDF_JS}),
    # Ids that need escaping: percent-encoded in the path, signed unescaped.
    Case("get_stored_procedure(escaped id)",
         lambda c: _dict(c.scripts.get_stored_procedure("a b+é")),
         lambda c: _dict(c.scripts.get_stored_procedure("a b+é")),
         "GET", f"{COLL_PATH}/sprocs/a%20b%2B%C3%A9", "sprocs", f"{COLL_LINK}/sprocs/a b+é",
         Reply.json(resource("sprocs", "a b+é", body=SPROC_JS))),
    # Execute: parameters as a list, a single value, an empty list, none; logging; every partition-key form.
    execute_case("execute_stored_procedure(pk, list, logging)",
                 {"partition_key": "p", "parameters": ["World", "!"], "enable_script_logging": True},
                 {"partition_key": "p", "parameters": ["World", "!"], "enable_script_logging": True},
                 ["World", "!"], {"x-ms-documentdb-partitionkey": '["p"]',
                                  "x-ms-documentdb-script-enable-logging": "True"}),
    execute_case("execute_stored_procedure(single value)", {"partition_key": 7, "parameters": "World"},
                 {"partition_key": 7, "parameters": "World"},
                 ["World"], {"x-ms-documentdb-partitionkey": "[7]",
                             "x-ms-documentdb-script-enable-logging": None}),
    execute_case("execute_stored_procedure(single dict)", {"partition_key": "p", "parameters": {"name": "World"}},
                 {"partition_key": "p", "parameters": {"name": "World"}},
                 [{"name": "World"}], {"x-ms-documentdb-partitionkey": '["p"]'}),
    execute_case("execute_stored_procedure(empty list, logging off)",
                 {"partition_key": "p", "parameters": [], "enable_script_logging": False},
                 {"partition_key": "p", "parameters": [], "enable_script_logging": False},
                 [], {"x-ms-documentdb-script-enable-logging": None}),
    execute_case("execute_stored_procedure(no pk, no parameters)", {}, {}, None,
                 {"x-ms-documentdb-partitionkey": None}),
    execute_case("execute_stored_procedure(NonePartitionKeyValue)", {"partition_key": AzureNonePartitionKeyValue},
                 {"partition_key": aiocosmos.NonePartitionKeyValue}, None,
                 {"x-ms-documentdb-partitionkey": "[{}]"}),
    execute_case("execute_stored_procedure(hierarchical pk)",
                 {"partition_key": ["acme", "ünï"], "parameters": ["World", "?"]},
                 {"partition_key": ["acme", "ünï"], "parameters": ["World", "?"]}, ["World", "?"],
                 {"x-ms-documentdb-partitionkey": '["acme","\\u00fcn\\u00ef"]'}, container=HIER),
    # Triggers run on item writes that name them.
    item_case("create_item(pre+post triggers)",
              lambda c: _dict(c.create_item(dict(DOC), pre_trigger_include="stamp", post_trigger_include="audit")),
              lambda c: _dict(c.create_item(dict(DOC), pre_trigger_include="stamp", post_trigger_include="audit")),
              "POST", DOCS_PATH, COLL_LINK,
              {"x-ms-documentdb-pre-trigger-include": "stamp", "x-ms-documentdb-post-trigger-include": "audit",
               "x-ms-documentdb-is-upsert": None}),
    item_case("upsert_item(pre trigger)",
              lambda c: _dict(c.upsert_item(dict(DOC), pre_trigger_include="stamp")),
              lambda c: _dict(c.upsert_item(dict(DOC), pre_trigger_include="stamp")),
              "POST", DOCS_PATH, COLL_LINK,
              {"x-ms-documentdb-pre-trigger-include": "stamp", "x-ms-documentdb-post-trigger-include": None,
               "x-ms-documentdb-is-upsert": "True"}),
    item_case("replace_item(post trigger)",
              lambda c: _dict(c.replace_item("1", dict(DOC), post_trigger_include="audit")),
              lambda c: _dict(c.replace_item("1", dict(DOC), post_trigger_include="audit")),
              "PUT", f"{DOCS_PATH}/1", f"{COLL_LINK}/docs/1",
              {"x-ms-documentdb-post-trigger-include": "audit", "x-ms-documentdb-pre-trigger-include": None}),
]


def the_request(server: RecordingServer, case: Case) -> RecordedRequest:
    """The one request of the operation (azure-cosmos adds a trailing slash and reads metadata first)."""
    matching = [r for r in server.requests if r.method == case.method and r.path.rstrip("/") == case.path]
    assert len(matching) == 1, (case.name, server.requests)
    return matching[0]


def assert_signed(request: RecordedRequest, verb: str, resource_type: str, link: str) -> None:
    date = request.headers["x-ms-date"]
    expected = MasterKeySigner(KEY).sign(verb, resource_type, link, date.lower())
    assert request.authorization == expected, f"not signed as ({verb}, {resource_type!r}, {link!r})"


def parsed_body(request: RecordedRequest) -> Any:
    return None if not request.body else json.loads(request.body)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_every_scripts_method_has_a_parity_case() -> None:
    public = {name for name in dir(aiocosmos.ScriptsProxy) if not name.startswith("_")}
    aliases = {"read_stored_procedure", "read_trigger", "read_user_defined_function"}
    # No azure.cosmos.aio counterpart: tests/client/test_scripts_upsert.py checks them against the sync SDK.
    aliases |= {"upsert_stored_procedure", "upsert_trigger", "upsert_user_defined_function"}
    covered = {case.name.split("(")[0] for case in CASES}
    assert public - aliases <= covered, public - aliases - covered
    # The read_* aliases are the get_* methods themselves.
    scripts = aiocosmos.ScriptsProxy
    assert scripts.read_stored_procedure is scripts.get_stored_procedure
    assert scripts.read_trigger is scripts.get_trigger
    assert scripts.read_user_defined_function is scripts.get_user_defined_function


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_wire_parity_with_azure_cosmos(
    case: Case, server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.containers[HIER_LINK] = HIER_KEY
    script_reply(server, case.method, case.path, case.reply)

    async with AzureClient(server.url, credential=KEY) as azure_client:
        sdk_result = await case.sdk(azure_client.get_database_client(DB).get_container_client(case.container))
    sdk_request = the_request(server, case)
    server.requests.clear()

    our_result = await case.ours(client.get_database_client(DB).get_container_client(case.container))
    ours = the_request(server, case)

    assert ours.path == case.path
    assert sdk_request.path.rstrip("/") == case.path
    verb = case.method.lower()
    assert_signed(sdk_request, verb, case.resource_type, case.link)
    assert_signed(ours, verb, case.resource_type, case.link)
    assert parsed_body(ours) == parsed_body(sdk_request) == case.body
    for name in SAME_HEADERS:
        assert ours.headers.get(name) == sdk_request.headers.get(name), name
    for name in SAME_BOOLEAN_HEADERS:
        assert (ours.headers.get(name) or "").lower() == (sdk_request.headers.get(name) or "").lower(), name
    for name, value in case.headers.items():
        assert ours.headers.get(name) == value, name
    assert canonical(our_result) == canonical(sdk_result)


# ---------------------------------------------------------------------------------------------------
# Response handling


@pytest.mark.parametrize(
    "raw, expected",
    [(b'"Hello, World!"', "Hello, World!"), (b"42", 42), (b"2.5", 2.5), (b"true", True),
     (b'{"n": 1, "items": [1, "x", null]}', {"n": 1, "items": [1, "x", None]}), (b'[1, "x"]', [1, "x"]),
     (b"null", None), (b"", None)],
    ids=["string", "int", "float", "bool", "object", "array", "null", "no body"],
)
async def test_execute_returns_any_json_value(
    raw: bytes, expected: Any, server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    reply = Reply(headers={"Content-Type": "application/json", "x-ms-request-charge": "2.31",
                           "x-ms-session-token": "0:1#3"}, body=raw)
    script_reply(server, "POST", sproc_path(), reply)
    container = client.get_database_client(DB).get_container_client(COLL)

    result = await container.scripts.execute_stored_procedure("greet", partition_key="p")

    assert canonical(result.value) == canonical(expected)
    assert type(result.value) is type(expected)
    assert result.status_code == 200
    assert result.request_charge == 2.31
    assert result.session_token == "0:1#3"
    assert result.activity_id == server.requests[-1].reply_headers["x-ms-activity-id"]
    assert result.log is None
    async with AzureClient(server.url, credential=KEY) as azure_client:
        azure = azure_client.get_database_client(DB).get_container_client(COLL)
        assert canonical(await azure.scripts.execute_stored_procedure("greet", partition_key="p")) == canonical(
            expected)


async def test_script_log_is_url_decoded(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    encoded = "greeting%20World%0Aline%202%3A%20%7B%22a%22%3A1%7D%20100%25%20a+b%20%C3%BC"
    script_reply(server, "POST", sproc_path(),
                 Reply.json("ok", x_ms_documentdb_script_log_results=encoded))
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts

    result = await scripts.execute_stored_procedure("greet", partition_key="p", enable_script_logging=True)

    assert result.log == 'greeting World\nline 2: {"a":1} 100% a+b ü'
    assert result.value == "ok"
    assert server.requests[-1].headers["x-ms-documentdb-script-enable-logging"] == "True"
    assert "ok" in repr(result)


async def test_missing_scripts_raise_not_found_without_retrying(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    not_found = Reply.error(404, message="Entity with the specified id does not exist in the system.")
    server.script(path_prefix=f"{COLL_PATH}/sprocs/", forever=not_found)
    server.script(path_prefix=f"{COLL_PATH}/udfs/", forever=not_found)
    container = client.get_database_client(DB).get_container_client(COLL)
    await container.read()
    server.requests.clear()
    scripts = container.scripts
    operations = [
        scripts.execute_stored_procedure("nope", partition_key="p", parameters=[1]),
        scripts.get_stored_procedure("nope"),
        scripts.replace_stored_procedure("nope", {"id": "nope", "body": SPROC_JS}),
        scripts.delete_stored_procedure("nope"),
        scripts.get_user_defined_function("nope"),
    ]
    for operation in operations:
        with raises_clean(aiocosmos.NotFound, server) as info:
            await operation
        assert info.value.status_code == 404
        assert "does not exist" in info.value.message
    assert len(server.requests) == len(operations)  # one attempt each


@pytest.mark.parametrize("kind", ["sprocs", "triggers", "udfs"])
async def test_list_and_query_page_with_continuations(
    kind: str, server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    items = [resource(kind, f"s{n}", body=UDF_JS) for n in range(3)]
    feed_path = f"{COLL_PATH}/{kind}"
    pages = [feed(kind, items[:2], continuation="tok+1/="), feed(kind, items[2:])]
    server.script(*pages, *pages, *pages[1:], method="GET", path=feed_path)
    server.script(*pages, method="POST", path=feed_path)
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    plural = {"sprocs": "stored_procedures", "triggers": "triggers", "udfs": "user_defined_functions"}[kind]
    lister = getattr(scripts, f"list_{plural}")
    querier = getattr(scripts, f"query_{plural}")

    assert [s["id"] async for s in lister(max_item_count=2)] == ["s0", "s1", "s2"]
    first, second = server.requests_to("GET", feed_path)
    assert first.headers["x-ms-max-item-count"] == second.headers["x-ms-max-item-count"] == "2"
    assert "x-ms-continuation" not in first.headers
    assert second.headers["x-ms-continuation"] == "tok+1/="

    by_page = [page async for page in lister(max_item_count=2).by_page()]
    assert [len(page) for page in by_page] == [2, 1]
    assert by_page[0].continuation is not None and by_page[1].continuation is None
    resumed = [page async for page in lister(max_item_count=2).by_page(continuation_token=by_page[0].continuation)]
    assert [[s["id"] for s in page] for page in resumed] == [["s2"]]
    assert server.requests_to("GET", feed_path)[-1].headers["x-ms-continuation"] == "tok+1/="
    # A token of this listing cannot resume another family's listing (checked before any I/O).
    other = scripts.list_triggers if kind != "triggers" else scripts.list_stored_procedures
    with pytest.raises(aiocosmos.InvalidContinuationToken):
        other().by_page(continuation_token=by_page[0].continuation)

    assert [s["id"] async for s in querier("SELECT * FROM s")] == ["s0", "s1", "s2"]
    queries = server.requests_to("POST", feed_path)
    assert [q.json() for q in queries] == [{"query": "SELECT * FROM s"}] * 2
    assert [q.headers.get("x-ms-continuation") for q in queries] == [None, "tok+1/="]


async def test_scripts_given_as_dicts_are_addressed_by_id(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    script_reply(server, "POST", sproc_path(), Reply.json(1))
    read = await scripts.get_stored_procedure(SPROC)  # a resource read earlier: its _self is ignored
    await scripts.execute_stored_procedure(read)
    await scripts.delete_trigger({"id": "stamp"})
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", sproc_path()), ("POST", sproc_path()), ("DELETE", f"{COLL_PATH}/triggers/stamp"),
    ]


async def test_definitions_are_copied_not_changed(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    definition = {"id": "greet", "serverScript": SPROC_JS, "body": "ignored"}
    await scripts.create_stored_procedure(definition)
    assert definition == {"id": "greet", "serverScript": SPROC_JS, "body": "ignored"}
    assert server.requests[-1].json() == {"id": "greet", "body": SPROC_JS}
    # An empty serverScript does not override body (as in azure-cosmos) and is not sent.
    await scripts.create_user_defined_function({"id": "tax", "serverScript": "", "body": UDF_JS})
    assert server.requests[-1].json() == {"id": "tax", "body": UDF_JS}
    # A result can be passed back as the definition of a replace.
    script_reply(server, "GET", f"{COLL_PATH}/udfs/tax", Reply.json(UDF))
    await scripts.replace_user_defined_function("tax", await scripts.get_user_defined_function("tax"))
    assert (server.requests[-1].method, server.requests[-1].json()) == ("PUT", UDF)


async def test_execute_output_session_token_is_used_by_later_reads(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    script_reply(server, "POST", sproc_path(), Reply.json(None, x_ms_session_token="0:1#77"))
    container = client.get_database_client(DB).get_container_client(COLL)
    await container.scripts.execute_stored_procedure("greet", partition_key="p")
    await container.read_item("x", "p")
    assert server.requests_to("GET", f"{DOCS_PATH}/x")[0].headers["x-ms-session-token"] == "0:1#77"


# ---------------------------------------------------------------------------------------------------
# Retries: an execution is never replayed after an ambiguous failure


async def primed(client: aiocosmos.CosmosClient, server: RecordingServer) -> aiocosmos.ScriptsProxy:
    container = client.get_database_client(DB).get_container_client(COLL)
    await container.read()  # cache the partition-key definition
    server.requests.clear()
    return container.scripts


@pytest.mark.parametrize(
    "failure, error",
    [(Reply.error(503), aiocosmos.ServiceUnavailable), (Reply.error(408), aiocosmos.RequestTimeout),
     (Reply.error(500), aiocosmos.InternalServerError), (Reply.dropped(), aiocosmos.ReadError)],
    ids=["503", "408", "500", "dropped"],
)
async def test_execute_is_not_replayed_after_an_ambiguous_failure(
    failure: Reply, error: type[Exception], server: RecordingServer, client: aiocosmos.CosmosClient,
    clock: FakeClock,
) -> None:
    scripts = await primed(client, server)
    server.script(failure, method="POST", path=sproc_path())
    with raises_clean(error, server):
        await scripts.execute_stored_procedure("greet", partition_key="p", parameters=["World"])
    assert len(server.requests_to("POST", sproc_path())) == 1
    assert clock.sleeps == []


async def test_execute_is_retried_when_the_service_refused_it(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    scripts = await primed(client, server)
    server.script(Reply.error(429, retry_after_ms=150), Reply.error(449), Reply.json("done"),
                  method="POST", path=sproc_path())
    result = await scripts.execute_stored_procedure("greet", partition_key="p", parameters=["World"])
    assert result.value == "done"
    posts = server.requests_to("POST", sproc_path())
    assert len(posts) == 3
    assert {p.body for p in posts} == {b'["World"]'}
    assert clock.sleeps[0] == pytest.approx(0.15)
    # Every attempt is signed again with its own date, as (post, sprocs, item link).
    for post in posts:
        assert_signed(post, "post", "sprocs", f"{COLL_LINK}/sprocs/greet")


async def test_script_reads_are_retried_but_writes_are_not(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    scripts = await primed(client, server)
    server.script(Reply.error(503), method="GET", path=f"{COLL_PATH}/udfs/tax")
    server.script(Reply.error(503), method="POST", path=f"{COLL_PATH}/udfs")
    assert (await scripts.get_user_defined_function("tax"))["id"] == "tax"
    assert len(server.requests_to("GET", f"{COLL_PATH}/udfs/tax")) == 2
    with raises_clean(aiocosmos.ServiceUnavailable, server):
        await scripts.create_user_defined_function({"id": "tax", "body": UDF_JS})
    assert len(server.requests_to("POST", f"{COLL_PATH}/udfs")) == 1


# ---------------------------------------------------------------------------------------------------
# Validation before I/O


class NotJson:
    pass


Operation = Callable[[aiocosmos.ScriptsProxy], Any]
BAD_IDS: Final = ["", "a/b", "a\\b", "a?b", "a#b", "tab\tid", "trailing ", 5, None, "x" * 1024]
GOOD_SPROC: Final = {"id": "greet", "body": SPROC_JS}
GOOD_TRIGGER: Final = {"id": "stamp", "body": TRIGGER_JS, "triggerType": "Pre", "triggerOperation": "All"}

INVALID: Final[list[tuple[str, Operation, str]]] = [
    *[(f"{name}({bad!r:.20})", op, "id") for bad in BAD_IDS for name, op in [
        ("get_stored_procedure", lambda s, b=bad: s.get_stored_procedure(b)),
        ("delete_trigger", lambda s, b=bad: s.delete_trigger(b)),
        ("execute_stored_procedure", lambda s, b=bad: s.execute_stored_procedure(b, partition_key="p")),
        ("replace_user_defined_function",
         lambda s, b=bad: s.replace_user_defined_function(b, {"id": "tax", "body": UDF_JS})),
        ("create_stored_procedure", lambda s, b=bad: s.create_stored_procedure({"id": b, "body": SPROC_JS})),
        ("create_trigger", lambda s, b=bad: s.create_trigger({**GOOD_TRIGGER, "id": b})),
        ("read_user_defined_function(dict)", lambda s, b=bad: s.read_user_defined_function({"id": b})),
    ]],
    ("missing body", lambda s: s.create_stored_procedure({"id": "greet"}), "body"),
    ("empty body", lambda s: s.create_user_defined_function({"id": "tax", "body": "  "}), "body"),
    ("non-string body", lambda s: s.create_user_defined_function({"id": "tax", "body": 42}), "body"),
    ("empty serverScript, no body", lambda s: s.create_trigger({**GOOD_TRIGGER, "body": None, "serverScript": ""}),
     "body"),
    ("replace without body", lambda s: s.replace_stored_procedure("greet", {"id": "greet"}), "body"),
    ("not a dict", lambda s: s.create_stored_procedure([("id", "greet")]), "dict"),
    ("missing id", lambda s: s.create_user_defined_function({"body": UDF_JS}), "id"),
    ("replace id mismatch", lambda s: s.replace_stored_procedure("greet", {"id": "other", "body": SPROC_JS}),
     "differs"),
    ("trigger without type", lambda s: s.create_trigger({"id": "t", "body": TRIGGER_JS, "triggerOperation": "All"}),
     "triggerType"),
    ("trigger with a bad type", lambda s: s.create_trigger({**GOOD_TRIGGER, "triggerType": "Before"}), "triggerType"),
    ("trigger without operation", lambda s: s.replace_trigger("stamp", {**GOOD_TRIGGER, "triggerOperation": None}),
     "triggerOperation"),
    ("trigger with a bad operation", lambda s: s.create_trigger({**GOOD_TRIGGER, "triggerOperation": "Upsert"}),
     "triggerOperation"),
    ("definition with NaN", lambda s: s.create_stored_procedure({**GOOD_SPROC, "extra": math.nan}), "non-finite"),
    ("parameters: a set", lambda s: s.execute_stored_procedure("greet", partition_key="p", parameters=[{1, 2}]),
     "not JSON-serialisable"),
    ("parameters: a datetime", lambda s: s.execute_stored_procedure(
        "greet", partition_key="p", parameters=[datetime.datetime(2024, 1, 1)]), "not JSON-serialisable"),
    ("parameters: an object", lambda s: s.execute_stored_procedure("greet", parameters=NotJson()),
     "not JSON-serialisable"),
    ("parameters: NaN", lambda s: s.execute_stored_procedure("greet", parameters=[1, math.inf]), "non-finite"),
    ("parameters: a huge int", lambda s: s.execute_stored_procedure("greet", parameters={"n": 2**60}), "2\\*\\*53"),
    ("parameters: a non-string key", lambda s: s.execute_stored_procedure("greet", parameters=[{1: "x"}]),
     "not JSON-serialisable"),
    ("parameters: over 2 MB", lambda s: s.execute_stored_procedure("greet", parameters=["x" * (2 * 1024 * 1024)]),
     "limit"),
    ("logging flag not a bool", lambda s: s.execute_stored_procedure("greet", enable_script_logging="yes"),
     "enable_script_logging"),
    ("partition key: a dict", lambda s: s.execute_stored_procedure("greet", partition_key={"a": 1}),
     "partition key value"),
    ("partition key: a nested list", lambda s: s.execute_stored_procedure("greet", partition_key=[["a"]]),
     "partition key value"),
    ("list page size 0", lambda s: s.list_user_defined_functions(max_item_count=0), "max_item_count"),
    ("query: empty", lambda s: s.query_stored_procedures("  "), "query"),
    ("query: bad parameters", lambda s: s.query_triggers("SELECT * FROM t", parameters=[{"name": "x", "value": 1}]),
     "parameter"),
]


@pytest.mark.parametrize("operation, match", [(op, match) for _, op, match in INVALID],
                         ids=[name for name, _, _ in INVALID])
async def test_bad_input_is_refused_before_any_io(
    operation: Operation, match: str, server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    with pytest.raises(aiocosmos.ValidationError, match=match):
        result = operation(scripts)
        if inspect.isawaitable(result):
            await result
    assert server.requests == []


async def test_a_partition_key_of_the_wrong_arity_never_reaches_the_script(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.containers[HIER_LINK] = HIER_KEY
    scripts = client.get_database_client(DB).get_container_client(HIER).scripts
    with pytest.raises(aiocosmos.ValidationError, match="needs a list of 2 values"):
        await scripts.execute_stored_procedure("greet", partition_key="acme")
    with pytest.raises(aiocosmos.ValidationError, match="needs exactly 2"):
        await scripts.execute_stored_procedure("greet", partition_key=["acme"])
    # Only the container's definition was read (once); nothing was executed.
    assert [(r.method, r.path) for r in server.requests] == [("GET", HIER_PATH)]


async def test_scripts_proxy_is_cheap_and_describes_itself(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    scripts = client.get_database_client(DB).get_container_client(COLL).scripts
    assert repr(scripts) == "ScriptsProxy(database='db', container='c')"
    assert isinstance(scripts, aiocosmos.ScriptsProxy)
    assert server.requests == []
