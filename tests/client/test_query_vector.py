"""Vector search across partitions: the service's non-streaming ORDER BY plan (``hasNonStreamingOrderBy``,
query feature NonStreamingOrderBy; aiocosmos/_query/vector.py) against the four-range query gateway.

The plans are the service's, as the .NET SDK's QueryPlanRetrieverTests recorded them
(tests/client/fixtures/query_plans.json); each range answers its best rows as the service does
(tests/client/fake_query_partitions.py ``vector_query``). The oracle sorts every document by the score
(ties in document-number order, as the service orders them) and takes the top k.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiocosmos
from aiocosmos import FeedRange, InvalidContinuationToken, UnsupportedQuery
from aiocosmos._query.plan import SUPPORTED_QUERY_FEATURES
from tests.client.conftest import COLL, DB, KEY
from tests.client.fake_partitions import epk_of
from tests.client.fake_query_partitions import FakeQuery, FakeQueryServer, vector_query

PLANS = json.loads((Path(__file__).parent / "fixtures" / "query_plans.json").read_text())["plans"]
VECTOR = [e for e in PLANS if (e.get("queryInfo") or {}).get("hasNonStreamingOrderBy")]
BOUNDED = [e for e in VECTOR if e["queryInfo"]["top"] is not None or e["queryInfo"]["limit"] is not None]
UNBOUNDED = [e for e in VECTOR if e not in BOUNDED]
TOP_10 = [e for e in BOUNDED if e["queryInfo"]["top"] == 10]


def vector_documents(count: int, seed: int, spread: int = 3) -> list[dict[str, Any]]:
    """Small integer vectors, so that scores tie often (within and across ranges)."""
    rng = random.Random(seed)
    return [{"id": f"v{i}", "pk": f"p{rng.randrange(60)}", "_ts": 1000 + i,
             "vector1": [rng.randrange(-spread, spread + 1) for _ in range(5)]} for i in range(count)]


@pytest.fixture
async def gateway() -> AsyncIterator[FakeQueryServer]:
    async with FakeQueryServer() as server:
        server.add_documents(vector_documents(120, seed=11))
        yield server


@pytest.fixture
async def container(gateway: FakeQueryServer) -> AsyncIterator[aiocosmos.ContainerProxy]:
    async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
        yield client.get_database_client(DB).get_container_client(COLL)


async def pages_of(container: aiocosmos.ContainerProxy, text: str, size: int, **kwargs: Any) -> list[Any]:
    return [page async for page in container.query_items(text, max_item_count=size, **kwargs).by_page()]


def test_non_streaming_order_by_is_advertised() -> None:
    assert "NonStreamingOrderBy" in SUPPORTED_QUERY_FEATURES.split(",")
    assert len(BOUNDED) == 4 and len(UNBOUNDED) == 3


@pytest.mark.parametrize("entry", BOUNDED, ids=lambda e: f"{e['queryInfo']['orderBy'][0]}-"
                         f"{e['queryInfo']['top']}-{e['queryInfo']['limit']}")
@pytest.mark.parametrize("size", [1, 3, 100])
async def test_the_top_k_of_every_range_are_merged_exactly(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy, entry: dict[str, Any], size: int
) -> None:
    query = gateway.register(vector_query(entry))
    expected = gateway.expected(query)
    assert len(expected) in (7, 10)
    pages = await pages_of(container, query.text, size)
    assert [item for page in pages for item in page.items] == expected
    assert [len(page.items) for page in pages[:-1]] == [size] * (len(pages) - 1)
    # Every range was read (from its first page), with the rewritten query; one plan from the 400/1004.
    ranged = gateway.range_requests()
    assert {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in ranged} == {"0", "1", "2", "3"}
    assert all(orjson.loads(r.body)["query"] == query.backend_text for r in ranged)
    # Every request's charge (the refused direct attempt's too) is on the pages.
    charged = sum(float(r.reply_headers["x-ms-request-charge"]) for r in gateway.query_requests())
    assert charged > 0 and sum(page.request_charge for page in pages) == pytest.approx(charged)


async def test_ties_at_the_kth_place_follow_the_services_order(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy
) -> None:
    """Many equal scores across ranges: exactly k rows, the k-th place decided by document number."""
    for entry in TOP_10:
        gateway.documents.clear()
        documents = vector_documents(80, seed=5, spread=1)
        query = gateway.register(vector_query(entry, top=4))
        gateway.add_documents(documents)
        best = query.run(gateway.documents)[0][1]["_rid"]
        vector = next(d["vector1"] for d in gateway.documents if d["_rid"] == best)
        # Seven or more documents, in several ranges, share the best score: four of them make the answer.
        gateway.add_documents([{"id": f"t{i}", "pk": f"tie{i}", "_ts": 5000 + i, "vector1": vector} for i in range(6)])
        tied = [d for d in gateway.documents if d["vector1"] == vector]
        assert len(tied) >= 7 and len({gateway.range_of(d["pk"]) for d in tied}) >= 3
        expected = gateway.expected(query)
        ours = [item async for item in container.query_items(query.text, max_item_count=2)]
        assert ours == expected and len(ours) == 4 and {o["_ts"] for o in ours} <= {d["_ts"] for d in tied}


async def test_a_continuation_token_is_refused_with_a_clear_error_before_io(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy
) -> None:
    query = gateway.register(vector_query(TOP_10[0]))
    pages = await pages_of(container, query.text, 4)
    assert len(pages) == 3 and all(p.continuation for p in pages[:-1]) and pages[-1].continuation is None
    before = len(gateway.requests)
    with pytest.raises(InvalidContinuationToken, match=r"vector search .* cannot be resumed"):
        await container.query_items(query.text, max_item_count=4).by_page(pages[0].continuation).__anext__()
    assert len(gateway.requests) == before


@pytest.mark.parametrize("entry", UNBOUNDED, ids=lambda e: e["query"][:40])
async def test_a_vector_search_without_top_or_limit_is_refused_before_any_range_request(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy, entry: dict[str, Any]
) -> None:
    query = FakeQuery(entry["query"], {"queryInfo": entry["queryInfo"], "queryRanges": [
        {"min": "", "max": "FF", "isMinInclusive": True, "isMaxInclusive": False}]}, lambda docs: [],
        lambda a, b: 0, lambda docs, range_of: [])
    gateway.register(query)
    with pytest.raises(UnsupportedQuery, match=r"NonStreamingOrderBy.*needs TOP or OFFSET/LIMIT"):
        [item async for item in container.query_items(query.text)]
    assert gateway.range_requests() == []


async def test_a_vector_search_in_a_feed_range(gateway: FakeQueryServer, container: aiocosmos.ContainerProxy) -> None:
    query = gateway.register(vector_query(TOP_10[1]))
    feed_range = FeedRange("0C", "24")
    docs = [d for d in gateway.documents if feed_range.min <= epk_of(d["pk"]) < feed_range.max]
    expected = orjson.loads(orjson.dumps(query.reference(docs, lambda d: "")))
    assert [item async for item in container.query_items(query.text, feed_range=feed_range, max_item_count=3)] == \
        expected
    assert {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in gateway.range_requests()} == {"0", "1", "2"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(0, 70), top=st.integers(1, 30),
       size=st.integers(1, 12), spread=st.integers(1, 4), which=st.integers(0, 1),
       split=st.sampled_from([None, "0", "1", "2", "3"]))
async def test_property_the_merge_equals_a_reference_top_k(
    seed: int, count: int, top: int, size: int, spread: int, which: int, split: str | None
) -> None:
    async with FakeQueryServer() as gateway:
        gateway.add_documents(vector_documents(count, seed, spread))
        query = gateway.register(vector_query(TOP_10[which], top=top))
        expected = gateway.expected(query)
        if split is not None:  # a split while the ranges are drained
            gateway.split_after = (1 + seed % 3, split, f"{split}8")
        async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
            container = client.get_database_client(DB).get_container_client(COLL)
            ours = [item async for item in container.query_items(query.text, max_item_count=size)]
        assert ours == expected
        assert len(ours) == min(top, count)
