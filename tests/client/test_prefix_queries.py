"""Queries scoped to a prefix of a hierarchical key, at the recording server playing a partitioned
container (tests/client/fake_partitions.py) with a ``/a/b`` MultiHash key.

* Wire parity with azure.cosmos.aio 4.17: a prefix whose EPK range spans two physical partitions is
  queried one partition at a time with the range id, ``x-ms-read-key-type: EffectivePartitionKeyRange``
  and the EPK bounds, without a partition-key header, exactly as the SDK does it.
* The same requests whether the container definition is cached or not (then it is read once, inside
  the lazy pager); a full key still uses the partition-key header; bad values fail before any query.
* Paging across the partitions with resumable tokens, and a split in the middle of the prefix range.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos._feeds.routing import feed_range_for_partition_key
from tests.client.azure_parity import signed_with
from tests.client.conftest import DB, DOCS_PATH, KEY, ClientFactory
from tests.client.fake_partitions import FakePartitionedServer
from tests.client.recording_server import RecordedRequest, Reply

LINK = "dbs/db/colls/c"
HIERARCHICAL = {"paths": ["/a", "/b"], "kind": "MultiHash", "version": 2}
DEFINITION = aiocosmos.PartitionKey(["/a", "/b"], kind="MultiHash")
LOW = feed_range_for_partition_key(DEFINITION, ["t"]).min
"""The prefix ["t"] addresses [LOW, LOW + "FF")."""
QUERY_SHAPE = ("x-ms-documentdb-partitionkeyrangeid", "x-ms-start-epk", "x-ms-end-epk", "x-ms-read-key-type",
               "x-ms-documentdb-partitionkey", "x-ms-documentdb-query-enablecrosspartition", "x-ms-max-item-count",
               "Content-Type")


@pytest.fixture
async def server() -> AsyncIterator[FakePartitionedServer]:
    # A boundary inside the prefix's range: its keys live in two physical partitions.
    async with FakePartitionedServer(boundaries=(LOW + "80",)) as fake:
        fake.containers[LINK] = HIERARCHICAL
        yield fake


def queries(server: FakePartitionedServer, start: int = 0) -> list[RecordedRequest]:
    return [r for r in server.requests[start:] if r.method == "POST" and r.path.rstrip("/") == DOCS_PATH]


def shape(request: RecordedRequest) -> dict[str, str | None]:
    values = {name: request.headers.get(name) for name in QUERY_SHAPE}
    values["x-ms-documentdb-isquery"] = request.headers.get("x-ms-documentdb-isquery", "").lower()
    return values


async def test_a_prefix_query_is_sent_as_azure_cosmos_sends_it(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    async with AzureClient(server.url, credential=KEY) as azure_client:
        azure_container = azure_client.get_database_client(DB).get_container_client("c")
        assert [d async for d in azure_container.query_items("SELECT * FROM c", partition_key=["t"],
                                                             max_item_count=5)] == []
    sdk = queries(server)
    start = len(server.requests)
    container = make_client().get_database_client(DB).get_container_client("c")  # definition not cached
    assert [d async for d in container.query_items("SELECT * FROM c", partition_key=["t"], max_item_count=5)] == []
    ours = queries(server, start)
    assert [shape(r) for r in ours] == [shape(r) for r in sdk] == [
        {"x-ms-documentdb-partitionkeyrangeid": "0", "x-ms-start-epk": LOW, "x-ms-end-epk": LOW + "80",
         "x-ms-read-key-type": "EffectivePartitionKeyRange", "x-ms-documentdb-partitionkey": None,
         "x-ms-documentdb-query-enablecrosspartition": None, "x-ms-max-item-count": "5",
         "Content-Type": "application/query+json", "x-ms-documentdb-isquery": "true"},
        {"x-ms-documentdb-partitionkeyrangeid": "1", "x-ms-start-epk": LOW + "80", "x-ms-end-epk": LOW + "FF",
         "x-ms-read-key-type": "EffectivePartitionKeyRange", "x-ms-documentdb-partitionkey": None,
         "x-ms-documentdb-query-enablecrosspartition": None, "x-ms-max-item-count": "5",
         "Content-Type": "application/query+json", "x-ms-documentdb-isquery": "true"},
    ]
    for sdk_request, our_request in zip(sdk, ours, strict=True):
        assert orjson.loads(our_request.body) == orjson.loads(sdk_request.body)
        assert signed_with(our_request, "post", "docs", LINK) and signed_with(sdk_request, "post", "docs", LINK)
    # The definition was read once, inside the pager (nothing was sent when query_items was called).
    assert [r.path for r in server.requests[start:] if r.method == "GET"].count("/dbs/db/colls/c") == 1


async def test_cached_or_not_the_same_requests_and_a_full_key_uses_the_header(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    cold = make_client().get_database_client(DB).get_container_client("c")
    pager = cold.query_items("SELECT * FROM c", partition_key=["t"])
    assert server.requests == []  # lazy: no I/O until iteration
    assert [d async for d in pager] == []
    cold_shapes = [shape(r) for r in queries(server)]
    warm = make_client().get_database_client(DB).get_container_client("c")
    await warm.read()
    start = len(server.requests)
    assert [d async for d in warm.query_items("SELECT * FROM c", partition_key=["t"])] == []
    assert [shape(r) for r in queries(server, start)] == cold_shapes and len(cold_shapes) == 2
    start = len(server.requests)
    assert [d async for d in warm.query_items("SELECT * FROM c", partition_key=["t", 7])] == []
    [full] = queries(server, start)
    assert full.headers["x-ms-documentdb-partitionkey"] == '["t",7]'
    assert "x-ms-documentdb-partitionkeyrangeid" not in full.headers and "x-ms-start-epk" not in full.headers


@pytest.mark.parametrize("value", ["t", ["t", 7, 8], []])
async def test_values_that_are_neither_a_key_nor_a_prefix_fail_before_any_query(
    server: FakePartitionedServer, make_client: ClientFactory, value: Any
) -> None:
    cold = make_client().get_database_client(DB).get_container_client("c")
    pager = cold.query_items("SELECT * FROM c", partition_key=value)
    with pytest.raises(aiocosmos.ValidationError, match=r"\['/a', '/b'\]"):
        [d async for d in pager]
    with pytest.raises(aiocosmos.ValidationError, match=r"\['/a', '/b'\]"):  # cached: at once
        cold.query_items("SELECT * FROM c", partition_key=value)
    assert queries(server) == []


def documents(*names: str) -> dict[str, Any]:
    return {"_rid": "rid", "Documents": [{"id": name} for name in names], "_count": len(names)}


async def test_pages_cross_the_partitions_and_tokens_resume_exactly(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    # Range 0 answers two pages (a service continuation in between), range 1 one page.
    server.script(Reply.json(documents("a1", "a2"), **{"x-ms-continuation": "s0"}), Reply.json(documents("a3")),
                  Reply.json(documents("b1")), method="POST", path=DOCS_PATH)
    container = make_client().get_database_client(DB).get_container_client("c")
    pages = [page async for page in container.query_items("SELECT * FROM c", partition_key=["t"]).by_page()]
    assert [[d["id"] for d in page] for page in pages] == [["a1", "a2"], ["a3"], ["b1"]]
    assert pages[-1].continuation is None
    sent = queries(server)
    assert [(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers.get("x-ms-continuation"))
            for r in sent] == [("0", None), ("0", "s0"), ("1", None)]
    # Resume after the second page: straight to range 1, from the beginning of its part of the prefix.
    server.script(Reply.json(documents("b1")), method="POST", path=DOCS_PATH)
    start = len(server.requests)
    resumed = container.query_items("SELECT * FROM c", partition_key=["t"]).by_page(pages[1].continuation)
    assert [[d["id"] for d in page] async for page in resumed] == [["b1"]]
    [again] = queries(server, start)
    assert shape(again)["x-ms-start-epk"] == LOW + "80" and "x-ms-continuation" not in again.headers
    with pytest.raises(aiocosmos.InvalidContinuationToken):  # another prefix's query
        container.query_items("SELECT * FROM c", partition_key=["u"]).by_page(pages[1].continuation)


async def test_a_split_inside_the_prefix_range_is_followed(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    container = make_client().get_database_client(DB).get_container_client("c")
    await container.read_feed_ranges()  # the routing map is cached, then range 0 splits inside the prefix:
    # the right child [LOW+40, LOW+80) lies wholly in the prefix range, so it is read without EPK bounds.
    left, right = server.split("0", LOW + "40")
    server.script(Reply.error(410, sub_status=1002, message="gone"), method="POST", path=DOCS_PATH)
    assert [d async for d in container.query_items("SELECT * FROM c", partition_key=["t"])] == []
    sent = [(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers.get("x-ms-start-epk"),
             r.headers.get("x-ms-end-epk"), r.reply and r.reply.status) for r in queries(server)]
    assert sent == [("0", LOW, LOW + "80", 410), (left, LOW, LOW + "40", 200), (right, None, None, 200),
                    ("1", LOW + "80", LOW + "FF", 200)]


async def test_the_definition_is_read_within_the_first_pages_deadline(server: FakePartitionedServer) -> None:
    server.script(Reply(status=200, body={"id": "c", "partitionKey": HIERARCHICAL}, delay=0.5), method="GET",
                  path="/dbs/db/colls/c")
    async with aiocosmos.CosmosClient(server.url, credential=KEY) as client:  # the real clock
        container = client.get_database_client(DB).get_container_client("c")
        with pytest.raises(aiocosmos.OperationTimeout):
            [d async for d in container.query_items("SELECT * FROM c", partition_key=["t"], timeout=0.2)]
    assert queries(server) == []


async def test_after_a_split_every_child_resumes_from_the_parents_continuation(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    # The parent answered one page and a continuation; then it split. The service's token holds the
    # parent's position for the documents of both halves, so each child goes on from it (as the
    # official SDKs do): a child that started over would return the first page's rows again.
    container = make_client().get_database_client(DB).get_container_client("c")
    await container.read_feed_ranges()
    server.script(Reply.json({"Documents": [{"id": "a"}], "_count": 1}, **{"x-ms-continuation": "parent-1"}),
                  method="POST", path=DOCS_PATH)
    pages = container.query_items("SELECT * FROM c", partition_key=["t"]).by_page()
    first = await anext(pages)
    assert [d["id"] for d in first] == ["a"]
    left, right = server.split("0", LOW + "40")
    server.script(Reply.error(410, sub_status=1002, message="gone"), method="POST", path=DOCS_PATH)
    rest = [d async for page in pages for d in page]
    assert rest == []
    sent = [(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers.get("x-ms-start-epk"),
             r.headers.get("x-ms-end-epk"), r.headers.get("x-ms-continuation")) for r in queries(server)]
    assert sent == [("0", LOW, LOW + "80", None), ("0", LOW, LOW + "80", "parent-1"),
                    (left, LOW, LOW + "40", "parent-1"), (right, None, None, "parent-1"),
                    ("1", LOW + "80", LOW + "FF", None)]
