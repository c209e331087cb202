"""``query_items(feed_range=...)`` (aiocosmos/_query/scoped.py) against the four-range query gateway
(tests/client/fake_query_partitions.py: boundaries "10", "20", "30"; every EPK is below "40").

* Wire parity with azure.cosmos.aio: a feed range is read one physical partition at a time with the
  range id, ``x-ms-read-key-type: EffectivePartitionKeyRange`` and, where it is narrower than the
  partition, the EPK bounds; no cross-partition header, no partition-key header.
* Within one partition the service evaluates the whole query (no plan request); over several, the
  plan decides: a plain query keeps azure-cosmos's per-partition requests, the other shapes run through
  the cross-partition pipeline restricted to the range (exact results and exact resume at every page).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos import FeedRange, InvalidContinuationToken, ValidationError
from tests.client.azure_parity import signed_with
from tests.client.conftest import COLL, DB, KEY
from tests.client.fake_partitions import epk_of
from tests.client.fake_query_partitions import FakeQuery, FakeQueryServer, order_by_query, streaming_query
from tests.client.test_query_engine import all_shapes, make_documents

LINK = f"dbs/{DB}/colls/{COLL}"
SHAPE = ("x-ms-documentdb-partitionkeyrangeid", "x-ms-start-epk", "x-ms-end-epk", "x-ms-read-key-type",
         "x-ms-documentdb-partitionkey", "x-ms-documentdb-query-enablecrosspartition", "x-ms-max-item-count",
         "x-ms-continuation", "Content-Type")
WIDE = FeedRange("08", "2C")
"""Parts of range 0 and 2, all of range 1."""


@pytest.fixture
async def gateway() -> AsyncIterator[FakeQueryServer]:
    async with FakeQueryServer() as server:
        server.add_documents(make_documents(80, seed=7))
        yield server


@pytest.fixture
async def container(gateway: FakeQueryServer) -> AsyncIterator[aiocosmos.ContainerProxy]:
    async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
        yield client.get_database_client(DB).get_container_client(COLL)


def shape(request: Any) -> dict[str, str | None]:
    values = {name: request.headers.get(name) for name in SHAPE}
    values["x-ms-documentdb-isquery"] = request.headers.get("x-ms-documentdb-isquery", "").lower()
    return values


def expected_in(gateway: FakeQueryServer, query: FakeQuery, feed_range: FeedRange) -> list[Any]:
    """The oracle over the documents of the feed range only."""
    docs = [d for d in gateway.documents if feed_range.min <= epk_of(d["pk"]) < feed_range.max]

    def range_of(document: dict[str, Any]) -> str:
        epk = epk_of(document["pk"])
        return next(r.low for r in gateway.live_ranges() if r.low <= epk < r.high)

    return list(orjson.loads(orjson.dumps(query.reference(docs, range_of))))


async def read_resuming(container: aiocosmos.ContainerProxy, text: str, feed_range: Any, size: int) -> list[Any]:
    items: list[Any] = []
    token: str | None = None
    for _ in range(1000):
        pages = container.query_items(text, feed_range=feed_range, max_item_count=size).by_page(token)
        page = await pages.__anext__()
        await pages.aclose()
        items.extend(page.items)
        token = page.continuation
        if token is None:
            return list(orjson.loads(orjson.dumps(items)))
    raise AssertionError("the query did not end")


async def both(gateway: FakeQueryServer, container: aiocosmos.ContainerProxy, text: str,
               feed_range: FeedRange) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """(azure-cosmos items, its query requests, aiocosmos items, its query requests)."""
    async with AzureClient(gateway.url, credential=KEY) as sdk_client:
        sdk_container = sdk_client.get_database_client(DB).get_container_client(COLL)
        theirs = [i async for i in sdk_container.query_items(text, feed_range=feed_range.to_dict(), max_item_count=5)]
    sdk_requests = gateway.query_requests()
    start = len(gateway.requests)
    ours = [i async for i in container.query_items(text, feed_range=feed_range, max_item_count=5)]
    our_requests = [r for r in gateway.requests[start:] if r in gateway.query_requests()]
    return theirs, sdk_requests, ours, our_requests


@pytest.mark.parametrize("index", [0, 1, 3])
async def test_one_partition_is_queried_as_azure_cosmos_queries_it(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy, index: int
) -> None:
    """A feed range from read_feed_ranges, an ORDER BY the service evaluates in that partition."""
    query = gateway.register(order_by_query([("n", True), ("s", False)]))
    feed_range = (await container.read_feed_ranges())[index]
    theirs, sdk_requests, ours, our_requests = await both(gateway, container, query.text, feed_range)
    assert orjson.loads(orjson.dumps(ours)) == orjson.loads(orjson.dumps(theirs)) == expected_in(gateway, query,
                                                                                               feed_range)
    assert len(ours) > 5, "the answer must take several pages"
    assert [shape(r) for r in our_requests] == [shape(r) for r in sdk_requests]
    assert {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in our_requests} == {str(index)}
    assert all(r.headers["x-ms-read-key-type"] == "EffectivePartitionKeyRange" and "x-ms-start-epk" not in r.headers
               and "x-ms-documentdb-query-enablecrosspartition" not in r.headers for r in our_requests)
    for sdk_request, our_request in zip(sdk_requests, our_requests, strict=True):
        assert orjson.loads(our_request.body) == orjson.loads(sdk_request.body)
        assert signed_with(our_request, "post", "docs", LINK) and signed_with(sdk_request, "post", "docs", LINK)
    assert gateway.plan_requests() == []


async def test_part_of_a_partition_is_sent_with_its_epk_bounds(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy
) -> None:
    query = gateway.register(order_by_query([("n", False)]))
    feed_range = FeedRange("14", "1C")
    theirs, sdk_requests, ours, our_requests = await both(gateway, container, query.text, feed_range)
    assert orjson.loads(orjson.dumps(ours)) == orjson.loads(orjson.dumps(theirs)) == expected_in(gateway, query,
                                                                                               feed_range)
    assert [shape(r) for r in our_requests] == [shape(r) for r in sdk_requests]
    assert {(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers["x-ms-start-epk"],
             r.headers["x-ms-end-epk"]) for r in our_requests} == {("1", "14", "1C")}


async def test_a_plain_query_over_several_partitions_keeps_the_per_partition_requests(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy
) -> None:
    query = gateway.register(streaming_query())
    theirs, sdk_requests, ours, our_requests = await both(gateway, container, query.text, WIDE)
    assert orjson.loads(orjson.dumps(ours)) == orjson.loads(orjson.dumps(theirs)) == expected_in(gateway, query, WIDE)
    # aiocosmos asks for the plan first (the range spans three partitions), then sends what azure-cosmos sends.
    [plan_request, *range_requests] = our_requests
    assert plan_request.headers["x-ms-cosmos-is-query-plan-request"] == "True"
    assert [shape(r) for r in range_requests] == [shape(r) for r in sdk_requests]
    assert [(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers.get("x-ms-start-epk"),
             r.headers.get("x-ms-end-epk")) for r in range_requests if "x-ms-continuation" not in r.headers] == [
        ("0", "08", "10"), ("1", None, None), ("2", "20", "2C")]


@pytest.mark.parametrize("query", all_shapes(), ids=lambda q: q.text)
async def test_every_shape_over_several_partitions_matches_the_reference(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy, query: FakeQuery
) -> None:
    gateway.register(query)
    expected = expected_in(gateway, query, WIDE)
    assert expected, "the reference must not be empty"
    straight = [i async for i in container.query_items(query.text, feed_range=WIDE.to_dict(), max_item_count=6)]
    assert orjson.loads(orjson.dumps(straight)) == expected
    for size in (4, 13):
        assert await read_resuming(container, query.text, WIDE.to_string(), size) == expected
    assert gateway.plan_requests(), "the pipeline must have run (the plan was asked for)"
    assert all(orjson.loads(r.body)["query"] == query.backend_text for r in gateway.range_requests())
    for request in gateway.range_requests():
        live = gateway.ranges[request.headers["x-ms-documentdb-partitionkeyrangeid"]]
        low = request.headers.get("x-ms-start-epk", live.low)
        high = request.headers.get("x-ms-end-epk", live.high)
        assert WIDE.min <= low < high <= WIDE.max, "a request read outside the feed range"


async def test_a_split_inside_the_feed_range_is_followed(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy
) -> None:
    query = gateway.register(order_by_query([("n", True)]))
    await container.read_feed_ranges()
    gateway.split_after = (2, "1", "18")
    items = [i async for i in container.query_items(query.text, feed_range=WIDE, max_item_count=3)]
    assert orjson.loads(orjson.dumps(items)) == expected_in(gateway, query, WIDE)
    assert "1" in gateway.gone


async def test_arguments_and_tokens_of_another_scope_are_refused_before_io(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy
) -> None:
    query = gateway.register(order_by_query([("n", False)]))
    with pytest.raises(ValidationError, match="'feed_range' and 'partition_key' are exclusive"):
        container.query_items(query.text, partition_key="p1", feed_range=WIDE)
    with pytest.raises(ValidationError, match="feed range"):
        container.query_items(query.text, feed_range={"min": "", "max": "FF"})
    pages = container.query_items(query.text, feed_range=WIDE, max_item_count=5).by_page()
    token = (await pages.__anext__()).continuation
    await pages.aclose()
    assert token is not None
    before = len(gateway.requests)
    for other in (FeedRange("08", "2D"), None):
        with pytest.raises(InvalidContinuationToken):
            container.query_items(query.text, feed_range=other, max_item_count=5).by_page(token)
    assert len(gateway.requests) == before
