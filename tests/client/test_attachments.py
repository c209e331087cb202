"""Attachments (``container.get_attachments_client(item, partition_key)``) against the recording server.

* Wire parity: azure.cosmos.aio v4 has no attachment methods, so the oracle is azure-cosmos 3's
  ``CreateAttachment``, ``UpsertAttachment``, ``ReadAttachment``, ``ReplaceAttachment``,
  ``DeleteAttachment``, ``ReadAttachments``/``QueryAttachments`` and ``CreateAttachmentAndUploadMedia``,
  rebuilt line for line on the generic requests (``Create``, ``Upsert``, ``Read``, ``Replace``,
  ``DeleteResource``, ``__QueryFeed``) of the installed sync SDK's ``CosmosClientConnection``. Both
  requests must have the same method, path, signed (verb, resource type, link) (checked by recomputing
  each signature), body and meaningful headers, and the two results must be equal.
* Response handling: 404s, paging with continuations, session tokens, retries.
* Bad input is refused before any I/O.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
from azure.cosmos import CosmosClient as SyncAzureClient
from azure.cosmos import _base as azure_base

import aiocosmos
from aiocosmos._wire.auth import MasterKeySigner
from aiocosmos.testing import FakeClock
from tests.client.conftest import COLL, DB, DOCS_PATH, KEY, raises_clean
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

COLL_LINK: Final = f"dbs/{DB}/colls/{COLL}"
HIER: Final = "h"
HIER_LINK: Final = f"dbs/{DB}/colls/{HIER}"
HIER_KEY: Final = {"paths": ["/tenant", "/user"], "kind": "MultiHash", "version": 2}

ITEM: Final = "o-1"
ITEM_LINK: Final = f"{COLL_LINK}/docs/{ITEM}"
FEED_PATH: Final = f"{DOCS_PATH}/{ITEM}/attachments"
PDF: Final = "https://files.example.com/o-1.pdf"
DEFINITION: Final = {"id": "invoice", "contentType": "application/pdf", "media": PDF}
MEDIA: Final = b"%PDF-1.4\x00\x01\xff binary \r\n bytes"

# Headers whose values must be the same for both clients (absent in both counts as the same).
SAME_HEADERS: Final = (
    "x-ms-documentdb-partitionkey",
    "Content-Type",
    "Slug",
    "If-Match",
    "x-ms-max-item-count",
    "x-ms-version",
)
# Boolean headers: azure-cosmos writes "true" or "True"; the service takes both.
SAME_BOOLEAN_HEADERS: Final = ("x-ms-documentdb-is-upsert", "x-ms-documentdb-isquery")


def stored(attachment_id: str, **fields: Any) -> dict[str, Any]:
    """An attachment as the service returns it (system properties included)."""
    body = {**DEFINITION, "id": attachment_id, **fields}
    return {**body, "_rid": "OtZ7AKKpLnABAAAAAAAAAAEAAAA=", "_etag": '"0000e13e-0000-0800-0000-6560a1e70000"',
            "_self": "dbs/OtZ7AA==/colls/OtZ7AKKpLnA=/docs/OtZ7AKKpLnABAAAAAAAAAA==/attachments/"
                     "OtZ7AKKpLnABAAAAAAAAAAEAAAA=",
            "_ts": 1700831719}


def feed(items: list[dict[str, Any]], continuation: str | None = None) -> Reply:
    headers = {"x-ms-item-count": str(len(items))}
    if continuation is not None:
        headers["x-ms-continuation"] = continuation
    return Reply(headers=headers, body={"_rid": "OtZ7AKKpLnABAAAAAAAAAA==", "Attachments": items, "_count": len(items)})


def script_reply(server: RecordingServer, method: str, path: str, reply: Reply) -> None:
    """Answer ``reply`` for ``path`` with and without the trailing slash azure-cosmos adds."""
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


# ---------------------------------------------------------------------------------------------------
# The oracle: azure-cosmos 3's attachment functions on the installed sync SDK's generic requests

Connection = Any
SdkCall = Callable[[Connection], Any]


def _doc(link: str) -> tuple[str, str | None]:
    """(feed path, signing id) of a document's attachments, as azure-cosmos 3 computed them."""
    return azure_base.GetPathFromLink(link, "attachments"), azure_base.GetResourceIdOrFullNameFromLink(link)


def _att(link: str) -> tuple[str, str | None]:
    return azure_base.GetPathFromLink(link), azure_base.GetResourceIdOrFullNameFromLink(link)


def sdk_create(doc_link: str, body: dict[str, Any], options: dict[str, Any]) -> SdkCall:
    return lambda conn: conn.Create(body, _doc(doc_link)[0], "attachments", _doc(doc_link)[1], None, options)


def sdk_upsert(doc_link: str, body: dict[str, Any], options: dict[str, Any]) -> SdkCall:
    return lambda conn: conn.Upsert(body, _doc(doc_link)[0], "attachments", _doc(doc_link)[1], None, options)


def sdk_read(attachment_link: str, options: dict[str, Any]) -> SdkCall:
    return lambda conn: conn.Read(_att(attachment_link)[0], "attachments", _att(attachment_link)[1], None, options)


def sdk_replace(attachment_link: str, body: dict[str, Any], options: dict[str, Any]) -> SdkCall:
    return lambda conn: conn.Replace(body, _att(attachment_link)[0], "attachments", _att(attachment_link)[1], None,
                                     options)


def sdk_delete(attachment_link: str, options: dict[str, Any]) -> SdkCall:
    return lambda conn: conn.DeleteResource(_att(attachment_link)[0], "attachments", _att(attachment_link)[1], None,
                                            options)


def sdk_query(doc_link: str, query: Any, options: dict[str, Any]) -> SdkCall:
    """ReadAttachments (query None) / QueryAttachments: one page."""
    def call(conn: Connection) -> list[dict[str, Any]]:
        path, doc_id = _doc(doc_link)
        items, _ = conn._CosmosClientConnection__QueryFeed(
            path, "attachments", doc_id, lambda r: r["Attachments"], lambda _, b: b, query, options)
        return list(items)
    return call


def sdk_upload(doc_link: str, media: bytes, options: dict[str, Any], *, upsert: bool = False) -> SdkCall:
    """CreateAttachmentAndUploadMedia / UpsertAttachmentAndUploadMedia (``_GetItemIdWithPathForAttachmentMedia``)."""
    def call(conn: Connection) -> Any:
        headers = dict(conn.default_headers)
        if options.get("slug"):
            headers["Slug"] = options["slug"]
        headers["Content-Type"] = options.get("contentType") or "application/octet-stream"
        path, doc_id = _doc(doc_link)
        send = conn.Upsert if upsert else conn.Create
        return send(io.BytesIO(media), path, "attachments", doc_id, headers, options)
    return call


async def run_sdk(server: RecordingServer, call: SdkCall) -> Any:
    def work() -> Any:
        with SyncAzureClient(server.url, credential=KEY) as azure_client:
            return call(azure_client.client_connection)
    return await asyncio.to_thread(work)


# ---------------------------------------------------------------------------------------------------
# Wire parity

Ours = Callable[[aiocosmos.ContainerProxy], Awaitable[Any]]


@dataclass
class Case:
    name: str
    sdk: SdkCall
    ours: Ours
    method: str
    path: str
    link: str
    reply: Reply
    body: Any = None
    """The body both must send: parsed JSON, raw bytes, or None for no body."""
    headers: dict[str, str | None] = field(default_factory=dict)
    """Header values aiocosmos must send (None: must be absent)."""
    container: str = COLL


def attachments_of(container: aiocosmos.ContainerProxy, item: str = ITEM, pk: Any = "p") -> aiocosmos.AttachmentsProxy:
    return container.get_attachments_client(item, pk)


async def _dict(result: Awaitable[Any]) -> Any:
    value = await result
    return dict(value) or None  # aiocosmos deletes return an empty mapping, azure-cosmos None


ESCAPED_ITEM: Final = "o 1+é"
ESCAPED_ATT: Final = "my file+ü.pdf"
ESCAPED_FEED: Final = f"{DOCS_PATH}/o%201%2B%C3%A9/attachments"
HIER_FEED: Final = f"/dbs/{DB}/colls/{HIER}/docs/{ITEM}/attachments"
ETAG: Final = '"0000e13e-0000-0800-0000-6560a1e70000"'
QUERY: Final = "SELECT * FROM a WHERE a.contentType = @type"
PARAMETERS: Final = [{"name": "@type", "value": "application/pdf"}]
REPLACED: Final = {**DEFINITION, "contentType": "application/x-pdf"}

CASES: Final[list[Case]] = [
    Case("create_attachment",
         sdk_create(ITEM_LINK, dict(DEFINITION), {"partitionKey": "p"}),
         lambda c: _dict(attachments_of(c).create_attachment(dict(DEFINITION))),
         "POST", FEED_PATH, ITEM_LINK, Reply.json(stored("invoice"), status=201), body=DEFINITION,
         headers={"Content-Type": "application/json", "x-ms-documentdb-partitionkey": '["p"]',
                  "x-ms-documentdb-is-upsert": None}),
    Case("upsert_attachment",
         sdk_upsert(ITEM_LINK, dict(DEFINITION), {"partitionKey": "p"}),
         lambda c: _dict(attachments_of(c).upsert_attachment(dict(DEFINITION))),
         "POST", FEED_PATH, ITEM_LINK, Reply.json(stored("invoice")), body=DEFINITION,
         headers={"x-ms-documentdb-is-upsert": "True", "If-Match": None}),
    Case("upsert_attachment(etag)",
         sdk_upsert(ITEM_LINK, dict(DEFINITION), {"partitionKey": "p",
                                                   "accessCondition": {"type": "IfMatch", "condition": ETAG}}),
         lambda c: _dict(attachments_of(c).upsert_attachment(dict(DEFINITION), etag=ETAG)),
         "POST", FEED_PATH, ITEM_LINK, Reply.json(stored("invoice")), body=DEFINITION,
         headers={"If-Match": ETAG}),
    Case("get_attachment",
         sdk_read(f"{ITEM_LINK}/attachments/invoice", {"partitionKey": "p"}),
         lambda c: _dict(attachments_of(c).get_attachment("invoice")),
         "GET", f"{FEED_PATH}/invoice", f"{ITEM_LINK}/attachments/invoice", Reply.json(stored("invoice")),
         headers={"x-ms-documentdb-partitionkey": '["p"]', "Content-Type": None}),
    Case("replace_attachment",
         sdk_replace(f"{ITEM_LINK}/attachments/invoice", dict(REPLACED), {"partitionKey": "p"}),
         lambda c: _dict(attachments_of(c).replace_attachment("invoice", dict(REPLACED))),
         "PUT", f"{FEED_PATH}/invoice", f"{ITEM_LINK}/attachments/invoice",
         Reply.json(stored("invoice", contentType="application/x-pdf")), body=REPLACED,
         headers={"Content-Type": "application/json", "If-Match": None}),
    Case("replace_attachment(etag)",
         sdk_replace(f"{ITEM_LINK}/attachments/invoice", dict(REPLACED),
                     {"partitionKey": "p", "accessCondition": {"type": "IfMatch", "condition": ETAG}}),
         lambda c: _dict(attachments_of(c).replace_attachment("invoice", dict(REPLACED), etag=ETAG)),
         "PUT", f"{FEED_PATH}/invoice", f"{ITEM_LINK}/attachments/invoice",
         Reply.json(stored("invoice", contentType="application/x-pdf")), body=REPLACED, headers={"If-Match": ETAG}),
    Case("delete_attachment",
         sdk_delete(f"{ITEM_LINK}/attachments/invoice", {"partitionKey": "p"}),
         lambda c: _dict(attachments_of(c).delete_attachment("invoice")),
         "DELETE", f"{FEED_PATH}/invoice", f"{ITEM_LINK}/attachments/invoice", Reply(status=204),
         headers={"x-ms-documentdb-partitionkey": '["p"]', "If-Match": None}),
    Case("delete_attachment(etag)",
         sdk_delete(f"{ITEM_LINK}/attachments/invoice",
                    {"partitionKey": "p", "accessCondition": {"type": "IfMatch", "condition": ETAG}}),
         lambda c: _dict(attachments_of(c).delete_attachment("invoice", etag=ETAG)),
         "DELETE", f"{FEED_PATH}/invoice", f"{ITEM_LINK}/attachments/invoice", Reply(status=204),
         headers={"If-Match": ETAG}),
    Case("list_attachments",
         sdk_query(ITEM_LINK, None, {"partitionKey": "p", "maxItemCount": 5}),
         lambda c: collect(attachments_of(c).list_attachments(max_item_count=5)),
         "GET", FEED_PATH, ITEM_LINK, feed([stored("invoice"), stored("photo")]),
         headers={"x-ms-max-item-count": "5", "x-ms-documentdb-partitionkey": '["p"]',
                  "x-ms-documentdb-isquery": None}),
    Case("query_attachments",
         sdk_query(ITEM_LINK, {"query": QUERY, "parameters": PARAMETERS}, {"partitionKey": "p"}),
         lambda c: collect(attachments_of(c).query_attachments(QUERY, parameters=PARAMETERS)),
         "POST", FEED_PATH, ITEM_LINK, feed([stored("invoice")]), body={"query": QUERY, "parameters": PARAMETERS},
         headers={"Content-Type": "application/query+json", "x-ms-documentdb-isquery": "True",
                  "x-ms-documentdb-partitionkey": '["p"]'}),
    Case("create_attachment_and_upload_media",
         sdk_upload(ITEM_LINK, MEDIA, {"partitionKey": "p", "slug": "receipt", "contentType": "application/pdf"}),
         lambda c: _dict(attachments_of(c).create_attachment_and_upload_media(
             MEDIA, content_type="application/pdf", slug="receipt")),
         "POST", FEED_PATH, ITEM_LINK, Reply.json(stored("receipt", media="/media/OtZ7AKKpLnABAAAAAAAAAAEAAAA="),
                                                  status=201),
         body=MEDIA, headers={"Content-Type": "application/pdf", "Slug": "receipt", "x-ms-documentdb-is-upsert": None,
                              "x-ms-documentdb-partitionkey": '["p"]'}),
    Case("create_attachment_and_upload_media(defaults)",
         sdk_upload(ITEM_LINK, MEDIA, {"partitionKey": "p"}),
         lambda c: _dict(attachments_of(c).create_attachment_and_upload_media(bytearray(MEDIA))),
         "POST", FEED_PATH, ITEM_LINK, Reply.json(stored("generated"), status=201),
         body=MEDIA, headers={"Content-Type": "application/octet-stream", "Slug": None}),
    Case("upsert_attachment_and_upload_media",
         sdk_upload(ITEM_LINK, MEDIA, {"partitionKey": "p", "slug": "receipt", "contentType": "image/png"},
                    upsert=True),
         lambda c: _dict(attachments_of(c).upsert_attachment_and_upload_media(
             memoryview(MEDIA), content_type="image/png", slug="receipt")),
         "POST", FEED_PATH, ITEM_LINK, Reply.json(stored("receipt")),
         body=MEDIA, headers={"Content-Type": "image/png", "Slug": "receipt", "x-ms-documentdb-is-upsert": "True"}),
    # Ids that need escaping: percent-encoded in the path, signed unescaped.
    Case("get_attachment(escaped ids)",
         sdk_read(f"{COLL_LINK}/docs/{ESCAPED_ITEM}/attachments/{ESCAPED_ATT}", {"partitionKey": "p"}),
         lambda c: _dict(attachments_of(c, ESCAPED_ITEM).get_attachment(ESCAPED_ATT)),
         "GET", f"{ESCAPED_FEED}/my%20file%2B%C3%BC.pdf", f"{COLL_LINK}/docs/{ESCAPED_ITEM}/attachments/{ESCAPED_ATT}",
         Reply.json(stored(ESCAPED_ATT))),
    Case("create_attachment(escaped item id)",
         sdk_create(f"{COLL_LINK}/docs/{ESCAPED_ITEM}", {**DEFINITION, "id": ESCAPED_ATT}, {"partitionKey": "p"}),
         lambda c: _dict(attachments_of(c, ESCAPED_ITEM).create_attachment({**DEFINITION, "id": ESCAPED_ATT})),
         "POST", ESCAPED_FEED, f"{COLL_LINK}/docs/{ESCAPED_ITEM}", Reply.json(stored(ESCAPED_ATT), status=201),
         body={**DEFINITION, "id": ESCAPED_ATT}),
    # Every partition-key form: a number, JSON null, a hierarchical key (non-ASCII escaped).
    Case("get_attachment(numeric pk)",
         sdk_read(f"{ITEM_LINK}/attachments/invoice", {"partitionKey": 7}),
         lambda c: _dict(attachments_of(c, pk=7).get_attachment("invoice")),
         "GET", f"{FEED_PATH}/invoice", f"{ITEM_LINK}/attachments/invoice", Reply.json(stored("invoice")),
         headers={"x-ms-documentdb-partitionkey": "[7]"}),
    Case("delete_attachment(null pk)",
         sdk_delete(f"{ITEM_LINK}/attachments/invoice", {"partitionKey": None}),
         lambda c: _dict(attachments_of(c, pk=None).delete_attachment("invoice")),
         "DELETE", f"{FEED_PATH}/invoice", f"{ITEM_LINK}/attachments/invoice", Reply(status=204),
         headers={"x-ms-documentdb-partitionkey": "[null]"}),
    Case("create_attachment(hierarchical pk)",
         sdk_create(f"{HIER_LINK}/docs/{ITEM}", dict(DEFINITION), {"partitionKey": ["acme", "ünï"]}),
         lambda c: _dict(attachments_of(c, pk=["acme", "ünï"]).create_attachment(dict(DEFINITION))),
         "POST", HIER_FEED, f"{HIER_LINK}/docs/{ITEM}", Reply.json(stored("invoice"), status=201), body=DEFINITION,
         headers={"x-ms-documentdb-partitionkey": '["acme","\\u00fcn\\u00ef"]'}, container=HIER),
    Case("list_attachments(hierarchical pk)",
         sdk_query(f"{HIER_LINK}/docs/{ITEM}", None, {"partitionKey": ["acme", "ünï"]}),
         lambda c: collect(attachments_of(c, pk=("acme", "ünï")).list_attachments()),
         "GET", HIER_FEED, f"{HIER_LINK}/docs/{ITEM}", feed([stored("invoice")]),
         headers={"x-ms-documentdb-partitionkey": '["acme","\\u00fcn\\u00ef"]', "x-ms-max-item-count": None},
         container=HIER),
]


def the_request(server: RecordingServer, case: Case) -> RecordedRequest:
    """The one request of the operation (azure-cosmos adds a trailing slash; aiocosmos may read the container)."""
    matching = [r for r in server.requests if r.method == case.method and r.path.rstrip("/") == case.path]
    assert len(matching) == 1, (case.name, server.requests)
    return matching[0]


def sent_body(request: RecordedRequest, expected: Any) -> Any:
    if not request.body:
        return None
    return request.body if isinstance(expected, bytes) else json.loads(request.body)


def test_every_attachments_method_has_a_parity_case() -> None:
    public = {name for name in dir(aiocosmos.AttachmentsProxy) if not name.startswith("_")}
    attributes = {"item_id", "partition_key"}
    covered = {case.name.split("(")[0] for case in CASES}
    assert public - attributes - {"read_attachment"} == covered
    assert aiocosmos.AttachmentsProxy.read_attachment is aiocosmos.AttachmentsProxy.get_attachment


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_wire_parity_with_azure_cosmos_connection(
    case: Case, server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.containers[HIER_LINK] = HIER_KEY
    script_reply(server, case.method, case.path, case.reply)

    sdk_result = await run_sdk(server, case.sdk)
    sdk_request = the_request(server, case)
    server.requests.clear()

    our_result = await case.ours(client.get_database_client(DB).get_container_client(case.container))
    ours = the_request(server, case)

    assert ours.path == case.path
    assert sdk_request.path.rstrip("/") == case.path
    verb = case.method.lower()
    assert_signed(sdk_request, verb, "attachments", case.link)
    assert_signed(ours, verb, "attachments", case.link)
    assert sent_body(ours, case.body) == sent_body(sdk_request, case.body) == case.body
    for name in SAME_HEADERS:
        assert ours.headers.get(name) == sdk_request.headers.get(name), name
    for name in SAME_BOOLEAN_HEADERS:
        assert (ours.headers.get(name) or "").lower() == (sdk_request.headers.get(name) or "").lower(), name
    for name, value in case.headers.items():
        assert ours.headers.get(name) == value, name
    if isinstance(sdk_result, list):
        sdk_result = [dict(item) for item in sdk_result]
    elif sdk_result is not None:
        sdk_result = dict(sdk_result)
    assert canonical(our_result) == canonical(sdk_result)
    assert our_result == (None if case.method == "DELETE" else case.reply.body.get("Attachments", case.reply.body))


# ---------------------------------------------------------------------------------------------------
# Response handling


async def primed(client: aiocosmos.CosmosClient, server: RecordingServer, pk: Any = "p") -> aiocosmos.AttachmentsProxy:
    container = client.get_database_client(DB).get_container_client(COLL)
    await container.read()  # cache the partition-key definition
    server.requests.clear()
    return container.get_attachments_client(ITEM, pk)


async def test_results_carry_their_metadata(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    script_reply(server, "POST", FEED_PATH, Reply.json(stored("invoice"), status=201, x_ms_request_charge="5.71",
                                                      etag=ETAG))
    attachments = await primed(client, server)
    created = await attachments.create_attachment(DEFINITION)
    assert isinstance(created, aiocosmos.ResourceResponse)
    assert created.status_code == 201
    assert created.request_charge == 5.71
    assert created.etag == ETAG
    assert created["media"] == PDF and created["_ts"] == 1700831719
    assert created.activity_id == server.requests[-1].reply_headers["x-ms-activity-id"]


async def test_missing_attachments_raise_not_found_without_retrying(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.script(path_prefix=FEED_PATH + "/", forever=Reply.error(
        404, message="Entity with the specified id does not exist in the system."))
    attachments = await primed(client, server)
    operations = [
        attachments.get_attachment("nope"),
        attachments.read_attachment({"id": "nope"}),
        attachments.replace_attachment("nope", {**DEFINITION, "id": "nope"}),
        attachments.delete_attachment("nope"),
    ]
    for operation in operations:
        with raises_clean(aiocosmos.NotFound, server) as info:
            await operation
        assert info.value.status_code == 404
        assert "does not exist" in info.value.message
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", f"{FEED_PATH}/nope"), ("GET", f"{FEED_PATH}/nope"), ("PUT", f"{FEED_PATH}/nope"),
        ("DELETE", f"{FEED_PATH}/nope"),
    ]


async def test_a_missing_container_is_not_found(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    server.script(method="GET", path=f"/dbs/{DB}/colls/gone", forever=Reply.error(404, message="Resource Not Found"))
    attachments = client.get_database_client(DB).get_container_client("gone").get_attachments_client(ITEM, "p")
    with raises_clean(aiocosmos.NotFound, server):
        await attachments.create_attachment(DEFINITION)
    # The container's definition could not be read, so nothing was sent for the attachment.
    assert [(r.method, r.path) for r in server.requests] == [("GET", f"/dbs/{DB}/colls/gone")]


async def test_list_and_query_page_with_continuations(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    items = [stored(f"a{n}") for n in range(3)]
    pages = [feed(items[:2], continuation="tok+1/="), feed(items[2:])]
    server.script(*pages, *pages, *pages[1:], method="GET", path=FEED_PATH)
    server.script(feed([], continuation="empty"), *pages, method="POST", path=FEED_PATH)
    attachments = await primed(client, server)

    assert [a["id"] async for a in attachments.list_attachments(max_item_count=2)] == ["a0", "a1", "a2"]
    first, second = server.requests_to("GET", FEED_PATH)
    assert first.headers["x-ms-max-item-count"] == second.headers["x-ms-max-item-count"] == "2"
    assert "x-ms-continuation" not in first.headers
    assert second.headers["x-ms-continuation"] == "tok+1/="
    assert first.headers["x-ms-documentdb-partitionkey"] == second.headers["x-ms-documentdb-partitionkey"] == '["p"]'
    for request in (first, second):
        assert_signed(request, "get", "attachments", ITEM_LINK)

    by_page = [page async for page in attachments.list_attachments(max_item_count=2).by_page()]
    assert [len(page) for page in by_page] == [2, 1]
    assert by_page[0].continuation is not None and by_page[1].continuation is None
    resumed = [page async for page in
               attachments.list_attachments(max_item_count=2).by_page(continuation_token=by_page[0].continuation)]
    assert [[a["id"] for a in page] for page in resumed] == [["a2"]]
    assert server.requests_to("GET", FEED_PATH)[-1].headers["x-ms-continuation"] == "tok+1/="
    # A token of one item's listing cannot resume another item's (checked before any I/O).
    before = len(server.requests)
    other = client.get_database_client(DB).get_container_client(COLL).get_attachments_client("o-2", "p")
    with pytest.raises(aiocosmos.InvalidContinuationToken):
        other.list_attachments(max_item_count=2).by_page(continuation_token=by_page[0].continuation)
    assert len(server.requests) == before

    # An empty first page with a continuation is followed; its charge is kept.
    pages_of_query = [page async for page in attachments.query_attachments("SELECT * FROM a").by_page()]
    assert [[a["id"] for a in page] for page in pages_of_query] == [["a0", "a1"], ["a2"]]
    assert pages_of_query[0].request_charge == 2.0
    queries = server.requests_to("POST", FEED_PATH)
    assert [q.json() for q in queries] == [{"query": "SELECT * FROM a"}] * 3
    assert [q.headers.get("x-ms-continuation") for q in queries] == [None, "empty", "tok+1/="]


async def test_writes_feed_the_session_token_and_reads_send_it(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    script_reply(server, "POST", FEED_PATH, Reply.json(stored("invoice"), status=201, x_ms_session_token="0:1#41"))
    script_reply(server, "PUT", f"{FEED_PATH}/invoice", Reply.json(stored("invoice"), x_ms_session_token="0:1#42"))
    script_reply(server, "GET", FEED_PATH, feed([stored("invoice")]))
    container = client.get_database_client(DB).get_container_client(COLL)
    attachments = container.get_attachments_client(ITEM, "p")

    await attachments.get_attachment("invoice")
    assert "x-ms-session-token" not in server.requests[-1].headers  # nothing written yet
    await attachments.create_attachment(DEFINITION)
    assert "x-ms-session-token" not in server.requests[-1].headers  # writes do not send it
    await attachments.get_attachment("invoice")
    assert server.requests[-1].headers["x-ms-session-token"] == "0:1#41"
    await attachments.replace_attachment("invoice", DEFINITION)
    await collect(attachments.list_attachments())
    assert server.requests[-1].headers["x-ms-session-token"] == "0:1#42"
    # The token is the container's: item reads see the attachment writes too.
    await container.read_item(ITEM, "p")
    assert server.requests_to("GET", f"{DOCS_PATH}/{ITEM}")[0].headers["x-ms-session-token"] == "0:1#42"


@pytest.mark.parametrize(
    "operation",
    [lambda a: a.create_attachment(DEFINITION), lambda a: a.upsert_attachment(DEFINITION),
     lambda a: a.create_attachment_and_upload_media(MEDIA, content_type="image/png", slug="x"),
     lambda a: a.delete_attachment("invoice"), lambda a: a.replace_attachment("invoice", DEFINITION)],
    ids=["create", "upsert", "upload", "delete", "replace"],
)
async def test_writes_are_not_replayed_after_an_ambiguous_failure(
    operation: Callable[[aiocosmos.AttachmentsProxy], Awaitable[Any]], server: RecordingServer,
    client: aiocosmos.CosmosClient, clock: FakeClock,
) -> None:
    attachments = await primed(client, server)
    server.script(path_prefix=FEED_PATH, forever=Reply.error(503))
    with raises_clean(aiocosmos.ServiceUnavailable, server):
        await operation(attachments)
    assert len(server.requests) == 1
    assert clock.sleeps == []


async def test_reads_are_retried_and_writes_retried_when_refused(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    attachments = await primed(client, server)
    server.script(Reply.error(503), method="GET", path=f"{FEED_PATH}/invoice")
    server.script(Reply.error(429, retry_after_ms=150), method="POST", path=FEED_PATH)
    assert (await attachments.get_attachment("invoice"))["id"] == "invoice"
    assert len(server.requests_to("GET", f"{FEED_PATH}/invoice")) == 2
    await attachments.create_attachment_and_upload_media(MEDIA, content_type="image/png", slug="x")
    posts = server.requests_to("POST", FEED_PATH)
    assert len(posts) == 2
    assert {p.body for p in posts} == {MEDIA}
    assert clock.sleeps[-1] == pytest.approx(0.15)
    for post in posts:  # each attempt signed again with its own date
        assert_signed(post, "post", "attachments", ITEM_LINK)


async def test_large_media_keeps_its_content_type(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    attachments = await primed(client, server)
    big = bytes(range(256)) * 6000  # 1.5 MB: the transport streams it instead of sending raw bytes
    await attachments.create_attachment_and_upload_media(big, content_type="video/mp4", slug="clip")
    request = server.requests[-1]
    assert request.body == big
    assert request.headers["Content-Type"] == "video/mp4"
    assert request.headers["Slug"] == "clip"


async def test_attachments_given_as_results_or_dicts_are_addressed_by_id(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    script_reply(server, "GET", f"{FEED_PATH}/invoice", Reply.json(stored("invoice")))
    attachments = await primed(client, server)
    read = await attachments.get_attachment({"id": "invoice", "_self": "dbs/x/colls/y/docs/z/attachments/w"})
    replaced = dict(read.body)
    await attachments.replace_attachment(read, read)  # a result can be passed back as the body
    await attachments.delete_attachment(read)
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", f"{FEED_PATH}/invoice"), ("PUT", f"{FEED_PATH}/invoice"), ("DELETE", f"{FEED_PATH}/invoice"),
    ]
    assert server.requests[1].json() == replaced
    # An item given as a dict (e.g. a read result) is addressed by its id, too.
    container = client.get_database_client(DB).get_container_client(COLL)
    by_dict = container.get_attachments_client({"id": ITEM, "pk": "p", "_self": "x"}, "p")
    assert by_dict.item_id == ITEM


async def test_definitions_are_copied_not_changed(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    attachments = await primed(client, server)
    definition = {**DEFINITION, "note": "kept"}
    await attachments.upsert_attachment(definition)
    assert definition == {**DEFINITION, "note": "kept"}
    assert server.requests[-1].json() == definition


async def test_the_proxy_is_cheap_and_describes_itself(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    attachments = client.get_database_client(DB).get_container_client(COLL).get_attachments_client(ITEM, ["p"])
    assert repr(attachments) == "AttachmentsProxy(database='db', container='c', item='o-1', partition_key=['p'])"
    assert (attachments.item_id, attachments.partition_key) == (ITEM, ["p"])
    assert isinstance(attachments, aiocosmos.AttachmentsProxy)
    assert type(attachments).__module__ == "aiocosmos"
    assert server.requests == []


# ---------------------------------------------------------------------------------------------------
# Validation before I/O


class NotJson:
    pass


Operation = Callable[[aiocosmos.ContainerProxy], Any]
BAD_IDS: Final = ["", "a/b", "a\\b", "a?b", "a#b", "tab\tid", "trailing ", 5, None, "x" * 256]


def on(operation: Callable[[aiocosmos.AttachmentsProxy], Any]) -> Operation:
    return lambda c: operation(c.get_attachments_client(ITEM, "p"))


INVALID: Final[list[tuple[str, Operation, str]]] = [
    *[(f"{name}({bad!r:.20})", op, "id") for bad in BAD_IDS for name, op in [
        ("get_attachments_client", lambda c, b=bad: c.get_attachments_client(b, "p")),
        ("get_attachments_client(dict)", lambda c, b=bad: c.get_attachments_client({"id": b}, "p")),
        ("get_attachment", on(lambda a, b=bad: a.get_attachment(b))),
        ("read_attachment(dict)", on(lambda a, b=bad: a.read_attachment({"id": b}))),
        ("delete_attachment", on(lambda a, b=bad: a.delete_attachment(b))),
        ("replace_attachment", on(lambda a, b=bad: a.replace_attachment(b, {**DEFINITION, "id": b}))),
        ("create_attachment", on(lambda a, b=bad: a.create_attachment({**DEFINITION, "id": b}))),
        ("upsert_attachment", on(lambda a, b=bad: a.upsert_attachment({**DEFINITION, "id": b}))),
        ("upload slug", on(lambda a, b=bad: a.create_attachment_and_upload_media(MEDIA, slug=b))),
    ] if not (name.startswith("get_attachments_client") and bad == "x" * 256)  # item ids may be longer
         and not (name == "upload slug" and bad is None)],  # no slug: the service names the attachment
    ("item id over 1023 bytes", lambda c: c.get_attachments_client("x" * 1024, "p"), "bytes"),
    ("partition key: a dict", lambda c: c.get_attachments_client(ITEM, {"a": 1}), "partition key value"),
    ("partition key: a nested list", lambda c: c.get_attachments_client(ITEM, [["a"]]), "partition key value"),
    ("body not a dict", on(lambda a: a.create_attachment([("id", "x")])), "dict"),
    ("body without id", on(lambda a: a.create_attachment({"contentType": "a/b", "media": PDF})), "id"),
    ("body without contentType", on(lambda a: a.create_attachment({"id": "x", "media": PDF})), "contentType"),
    ("body with an empty contentType", on(lambda a: a.upsert_attachment({**DEFINITION, "contentType": " "})),
     "contentType"),
    ("body without media", on(lambda a: a.replace_attachment("invoice", {"id": "invoice", "contentType": "a/b"})),
     "media"),
    ("body with non-string media", on(lambda a: a.create_attachment({**DEFINITION, "media": 7})), "media"),
    ("body with NaN", on(lambda a: a.create_attachment({**DEFINITION, "size": math.nan})), "non-finite"),
    ("body with a set", on(lambda a: a.upsert_attachment({**DEFINITION, "tags": {1}})), "not JSON-serialisable"),
    ("replace id mismatch", on(lambda a: a.replace_attachment("invoice", {**DEFINITION, "id": "other"})), "differs"),
    ("etag empty", on(lambda a: a.replace_attachment("invoice", DEFINITION, etag="")), "etag"),
    ("etag not a string", on(lambda a: a.delete_attachment("invoice", etag=5)), "etag"),
    ("upsert etag", on(lambda a: a.upsert_attachment(DEFINITION, etag=b"x")), "etag"),
    ("media: a str", on(lambda a: a.create_attachment_and_upload_media("text")), "bytes"),
    ("media: None", on(lambda a: a.upsert_attachment_and_upload_media(None)), "bytes"),
    ("content type without a slash", on(lambda a: a.create_attachment_and_upload_media(MEDIA, content_type="png")),
     "MIME"),
    ("content type with a line break",
     on(lambda a: a.create_attachment_and_upload_media(MEDIA, content_type="image/png\r\nX-Evil: 1")), "ASCII"),
    ("content type not ASCII", on(lambda a: a.create_attachment_and_upload_media(MEDIA, content_type="image/pñg")),
     "ASCII"),
    ("content type empty", on(lambda a: a.create_attachment_and_upload_media(MEDIA, content_type="")),
     "content_type"),
    ("slug not ASCII", on(lambda a: a.upsert_attachment_and_upload_media(MEDIA, slug="résumé.pdf")), "ASCII"),
    ("list page size 0", on(lambda a: a.list_attachments(max_item_count=0)), "max_item_count"),
    ("query: empty", on(lambda a: a.query_attachments("  ")), "query"),
    ("query: bad parameters",
     on(lambda a: a.query_attachments("SELECT * FROM a", parameters=[{"name": "x", "value": 1}])), "parameter"),
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


async def test_a_partition_key_of_the_wrong_arity_never_reaches_the_attachments(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.containers[HIER_LINK] = HIER_KEY
    container = client.get_database_client(DB).get_container_client(HIER)
    scalar = container.get_attachments_client(ITEM, "acme")  # the definition is not known yet: no I/O here
    assert server.requests == []
    with pytest.raises(aiocosmos.ValidationError, match="needs a list of 2 values"):
        await scalar.get_attachment("invoice")
    # Only the container's definition was read (once); nothing was sent for the attachment.
    assert [(r.method, r.path) for r in server.requests] == [("GET", f"/dbs/{DB}/colls/{HIER}")]
    # Now that the definition is cached, a wrong arity is refused at once, by the proxy and by the pagers.
    with pytest.raises(aiocosmos.ValidationError, match="needs exactly 2"):
        container.get_attachments_client(ITEM, ["acme"])
    with pytest.raises(aiocosmos.ValidationError, match="needs a list of 2 values"):
        scalar.list_attachments()
    with pytest.raises(aiocosmos.ValidationError, match="needs a list of 2 values"):
        await scalar.create_attachment(DEFINITION)
    assert len(server.requests) == 1
