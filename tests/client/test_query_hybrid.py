"""Hybrid and full-text search across partitions (``ORDER BY RANK FullTextScore/RRF``, weighted RRF;
aiocosmos/_query/hybrid.py) against the four-range query gateway of tests/client/fake_hybrid.py, with the
service's recorded plans (tests/client/fixtures/hybrid_plans.json). The oracle is the fake's reference
evaluation of the fusion, written apart from the engine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from azure.cosmos.aio import CosmosClient as AzureClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiocosmos
from aiocosmos import FeedRange, InvalidContinuationToken, UnsupportedQuery
from aiocosmos._query.hybrid import RRF_K, fuse
from aiocosmos._query.plan import SUPPORTED_QUERY_FEATURES, HybridPlan
from tests.client.conftest import COLL, DB, KEY
from tests.client.fake_hybrid import HYBRID_PLANS, FakeHybridServer, HybridFakeQuery, hybrid_documents
from tests.client.fake_partitions import epk_of
from tests.client.fake_query_partitions import FULL_RANGE, FakeQuery

PLANS = json.loads((Path(__file__).parent / "fixtures" / "query_plans.json").read_text())["plans"]
WEIGHTED = [e for e in HYBRID_PLANS if e["hybridSearchQueryInfo"]["componentWeights"]]
STATISTICS = HYBRID_PLANS[1]["hybridSearchQueryInfo"]["globalStatisticsQuery"]


def plan_id(entry: dict[str, Any]) -> str:
    return ("optimised " if entry["optimized"] else "") + entry["query"][31:90]


@pytest.fixture
async def gateway() -> AsyncIterator[FakeHybridServer]:
    async with FakeHybridServer() as server:
        server.add_documents(hybrid_documents(160, seed=7))
        yield server


@pytest.fixture
async def container(gateway: FakeHybridServer) -> AsyncIterator[aiocosmos.ContainerProxy]:
    async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
        yield client.get_database_client(DB).get_container_client(COLL)


def direct_requests(gateway: FakeHybridServer) -> list[Any]:
    return [r for r in gateway.query_requests() if "x-ms-documentdb-partitionkeyrangeid" not in r.headers
            and "x-ms-cosmos-is-query-plan-request" not in r.headers]


def test_hybrid_search_is_advertised() -> None:
    assert {"HybridSearch", "WeightedRankFusion"} <= set(SUPPORTED_QUERY_FEATURES.split(","))
    assert len(HYBRID_PLANS) == 7 and len(WEIGHTED) == 2
    # The plans in query_plans.json are the same recordings (the non-optimised ones).
    recorded = [e["hybridSearchQueryInfo"] for e in PLANS if "hybridSearchQueryInfo" in e]
    assert recorded == [e["hybridSearchQueryInfo"] for e in HYBRID_PLANS if not e["optimized"]]


@pytest.mark.parametrize("entry", HYBRID_PLANS, ids=plan_id)
@pytest.mark.parametrize("size", [1, 4, 100])
async def test_every_recorded_plan_fuses_exactly(
    gateway: FakeHybridServer, container: aiocosmos.ContainerProxy, entry: dict[str, Any], size: int
) -> None:
    query = gateway.register_hybrid(entry, top=12)
    expected = gateway.expected(query)
    assert len(expected) == 10
    pages = [page async for page in container.query_items(query.text, max_item_count=size).by_page()]
    assert [item for page in pages for item in page.items] == expected
    assert [len(page.items) for page in pages[:-1]] == [size] * (len(pages) - 1)
    # The plan is asked for at once (the service answers these queries sent as they are with a 500).
    assert direct_requests(gateway) == [] and len(gateway.plan_requests()) == 1
    ranged = gateway.range_requests()
    statistics = [r for r in ranged
                  if orjson.loads(r.body)["query"] == entry["hybridSearchQueryInfo"]["globalStatisticsQuery"]]
    components = len(entry["hybridSearchQueryInfo"]["componentQueryInfos"])
    # Statistics (when the plan needs them) from each range once; then each component on every range (the
    # fake knows a component's text only with the container's true statistics in it).
    needed = entry["hybridSearchQueryInfo"]["requiresGlobalStatistics"]
    assert {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in statistics} == ({"0", "1", "2", "3"}
                                                                                        if needed else set())
    assert len(statistics) == (4 if needed else 0)
    assert len({orjson.loads(r.body)["query"] for r in ranged}) == needed + components
    assert {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in ranged} == {"0", "1", "2", "3"}
    charged = sum(float(r.reply_headers["x-ms-request-charge"]) for r in gateway.query_requests())
    assert charged > 0 and sum(page.request_charge for page in pages) == pytest.approx(charged)


@pytest.mark.parametrize("entry", WEIGHTED, ids=plan_id)
async def test_weighted_rrf_follows_the_weights(
    gateway: FakeHybridServer, container: aiocosmos.ContainerProxy, entry: dict[str, Any]
) -> None:
    """``RRF(a, b, [1, -0.3])``: the plan gives weight 0.3 and flips b's order; the answer differs from the
    unweighted fusion of the same components."""
    weighted = gateway.register_hybrid(entry, top=15)
    ours = [item["id"] async for item in container.query_items(weighted.text)]
    assert ours == [d["id"] for d in gateway.expected(weighted)]
    unweighted = dict(entry, hybridSearchQueryInfo=dict(entry["hybridSearchQueryInfo"], componentWeights=[]),
                      query=entry["query"].replace(", [1, -0.3]", ""))
    plain = gateway.register_hybrid(unweighted, top=15)
    assert [d["id"] for d in gateway.expected(plain)] != ours


@pytest.mark.parametrize("entry", [HYBRID_PLANS[1], HYBRID_PLANS[4]], ids=plan_id)
async def test_skip_and_take(gateway: FakeHybridServer, container: aiocosmos.ContainerProxy,
                             entry: dict[str, Any]) -> None:
    query = gateway.register_hybrid(entry, skip=3, take=5, top=10)
    assert "OFFSET 3 LIMIT 5" in query.text
    whole = gateway.expected(gateway.register_hybrid(entry, take=8, top=10))
    ours = [item async for item in container.query_items(query.text, max_item_count=2)]
    assert ours == gateway.expected(query) == whole[3:8]


async def test_query_parameters_go_with_every_statistics_and_component_query(
    gateway: FakeHybridServer, container: aiocosmos.ContainerProxy
) -> None:
    query = gateway.register_hybrid(HYBRID_PLANS[1])
    parameters = [{"name": "@unused", "value": 1}]
    ours = [item async for item in container.query_items(query.text, parameters=parameters)]
    assert ours == gateway.expected(query)
    assert gateway.range_requests()
    assert all(orjson.loads(r.body)["parameters"] == parameters for r in gateway.range_requests())


async def test_a_continuation_token_is_refused_with_a_clear_error_before_io(
    gateway: FakeHybridServer, container: aiocosmos.ContainerProxy
) -> None:
    query = gateway.register_hybrid(HYBRID_PLANS[1])
    pages = [page async for page in container.query_items(query.text, max_item_count=4).by_page()]
    assert len(pages) == 3 and all(p.continuation for p in pages[:-1]) and pages[-1].continuation is None
    scoped = [page async for page in container.query_items(query.text, feed_range=FeedRange("", "FF"),
                                                           max_item_count=4).by_page()]
    assert [i for p in scoped for i in p.items] == [i for p in pages for i in p.items]
    before = len(gateway.requests)
    with pytest.raises(InvalidContinuationToken, match=r"hybrid or full-text search .* cannot be resumed"):
        await container.query_items(query.text, max_item_count=4).by_page(pages[0].continuation).__anext__()
    with pytest.raises(InvalidContinuationToken, match=r"hybrid or full-text search .* cannot be resumed"):
        await container.query_items(query.text, feed_range=FeedRange("", "FF"), max_item_count=4).by_page(
            scoped[0].continuation).__anext__()
    assert len(gateway.requests) == before


def refused_plan(gateway: FakeHybridServer, text: str, **changes: Any) -> FakeQuery:
    info = dict(HYBRID_PLANS[1]["hybridSearchQueryInfo"], **changes)
    return gateway.register(HybridFakeQuery(text, {"hybridSearchQueryInfo": info, "queryRanges": FULL_RANGE},
                                      lambda docs: [], lambda a, b: 0, lambda docs, range_of: []))


@pytest.mark.parametrize(("changes", "message"), [
    ({"take": None}, r"hybrid search .*HybridSearch.* needs TOP or OFFSET/LIMIT"),
    ({"take": 1001}, r"at most 1000 rows .* asks for 1001"),
    ({"projectionQueryInfo": {"rewrittenQuery": "SELECT c FROM c"}}, r"projection query .*HybridSearch"),
    ({"componentQueryInfos": [dict(HYBRID_PLANS[1]["hybridSearchQueryInfo"]["componentQueryInfos"][0],
                                   distinctType="Ordered")]}, r"component with DISTINCT.*HybridSearch"),
])
async def test_shapes_the_client_cannot_run_are_refused_before_any_range_request(
    gateway: FakeHybridServer, container: aiocosmos.ContainerProxy, changes: dict[str, Any], message: str
) -> None:
    query = refused_plan(gateway, "SELECT * FROM c ORDER BY RANK FullTextScore(c.text, 'swim')", **changes)
    with pytest.raises(UnsupportedQuery, match=message):
        [item async for item in container.query_items(query.text)]
    assert gateway.range_requests() == []


async def test_full_text_contains_is_a_filter_the_service_evaluates(
    gateway: FakeHybridServer, container: aiocosmos.ContainerProxy
) -> None:
    """``WHERE FullTextContains(...)``: the recorded plan has nothing for the client to do; every range
    answers the query itself (asked for the plan first, as for the ranked queries)."""
    entry = next(e for e in PLANS if e["query"].startswith("SELECT * FROM c WHERE FullTextContains"))
    text = entry["query"].replace("c.abstract, 'calculation'", "c.text, 'swim'")

    def run(docs: list[dict[str, Any]]) -> list[Any]:
        return [(i, d) for i, d in enumerate(docs) if "swim" in d["text"].split()]

    def reference(docs: list[dict[str, Any]], range_of: Any) -> list[Any]:
        return [d for low in sorted({range_of(d) for d in docs}) for d in docs
                if range_of(d) == low and "swim" in d["text"].split()]

    query = gateway.register(FakeQuery(text, {"queryInfo": entry["queryInfo"], "queryRanges": FULL_RANGE}, run,
                                       lambda a, b: (a > b) - (a < b), reference))
    ours = [item async for item in container.query_items(text, max_item_count=7)]
    assert ours == gateway.expected(query) and 0 < len(ours) < len(gateway.documents)
    assert direct_requests(gateway) == [] and len(gateway.plan_requests()) == 1


@pytest.mark.parametrize(("feed_range", "ranges"), [(FeedRange("0C", "24"), {"0", "1", "2"}),
                                                   (FeedRange("02", "08"), {"0"})])
async def test_a_hybrid_search_in_a_feed_range_scores_with_the_whole_containers_statistics(
    gateway: FakeHybridServer, container: aiocosmos.ContainerProxy, feed_range: FeedRange, ranges: set[str]
) -> None:
    """Also within one partition (where any other query goes to the partition as it is)."""
    query = gateway.register_hybrid(HYBRID_PLANS[1], top=8)
    docs = [d for d in gateway.documents if feed_range.min <= epk_of(d["pk"]) < feed_range.max]
    expected = orjson.loads(orjson.dumps(query.reference(docs, lambda d: "")))
    assert [item async for item in container.query_items(query.text, feed_range=feed_range)] == expected
    statistics = {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in gateway.range_requests()
                  if orjson.loads(r.body)["query"] == STATISTICS}
    components = {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in gateway.range_requests()
                  if orjson.loads(r.body)["query"] != STATISTICS}
    assert statistics == {"0", "1", "2", "3"} and components == ranges
    assert expected and direct_requests(gateway) == []


def test_fuse_ranks_ties_densely_and_weighs_components() -> None:
    """A hand-computed fusion: equal scores share a rank (dense ranks), weights scale, ascending components
    rank low scores first, duplicates (the same _rid from two components) count once."""
    plan = HybridPlan.from_json({
        "globalStatisticsQuery": "", "requiresGlobalStatistics": False, "skip": None, "take": 10,
        "componentWeights": [1.0, 0.5],
        "componentQueryInfos": [
            {"rewrittenQuery": "q0", "orderBy": ["Descending"], "hasNonStreamingOrderBy": True, "top": 5},
            {"rewrittenQuery": "q1", "orderBy": ["Ascending"], "hasNonStreamingOrderBy": True, "top": 5}]})

    def row(rid: str, a: float, b: float) -> dict[str, Any]:
        return {"_rid": rid, "orderByItems": [], "payload": {"payload": {"id": rid}, "componentScores": [a, b]}}

    rows = [[row("A", 3, 9), row("B", 3, 1), row("C", 1, 5)], [row("B", 3, 1), row("D", 0, 1)]]
    # Component 0 (descending): A, B = rank 1; C = 2; D = 3. Component 1 (ascending): B, D = 1; C = 2; A = 3.
    scores = {"A": 1 / (RRF_K + 1) + 0.5 / (RRF_K + 3), "B": 1 / (RRF_K + 1) + 0.5 / (RRF_K + 1),
              "C": 1 / (RRF_K + 2) + 0.5 / (RRF_K + 2), "D": 1 / (RRF_K + 3) + 0.5 / (RRF_K + 1)}
    expected = sorted(scores, key=lambda rid: (-scores[rid], rid))
    assert [p["id"] for p in fuse(rows, plan)] == expected == ["B", "A", "C", "D"]
    # The newer row format (top-level componentScores) fuses the same way.
    flat = [[{"_rid": r["_rid"], "payload": r["payload"]["payload"], "componentScores": r["payload"][
        "componentScores"]} for r in component] for component in rows]
    assert fuse(flat, plan) == fuse(rows, plan)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(0, 60), top=st.integers(1, 20),
       take=st.integers(1, 12), skip=st.integers(0, 4), size=st.integers(1, 9), spread=st.integers(1, 3),
       which=st.integers(0, len(HYBRID_PLANS) - 1), split=st.sampled_from([None, "0", "1", "2", "3", "merge"]))
async def test_property_the_fusion_equals_a_reference_evaluation(
    seed: int, count: int, top: int, take: int, skip: int, size: int, spread: int, which: int, split: str | None
) -> None:
    async with FakeHybridServer() as gateway:
        gateway.add_documents(hybrid_documents(count, seed, spread))
        query = gateway.register_hybrid(HYBRID_PLANS[which], take=take, skip=skip, top=top)
        expected = gateway.expected(query)
        ordered = all(c["top"] is not None for c in HYBRID_PLANS[which]["hybridSearchQueryInfo"]["componentQueryInfos"])
        # A split while the statistics or the components are read (not for the optimised plan's components
        # without ORDER BY, whose candidates are each range's TOP n: they depend on the ranges, as on the service).
        if split == "merge" and ordered:  # ranges 1 and 2 become one partition while the query runs
            gateway.merge_after = (1 + seed % 9, "1", "2")
        elif split is not None and ordered:
            gateway.split_after = (1 + seed % 9, split, f"{split}8")
        async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
            container = client.get_database_client(DB).get_container_client(COLL)
            ours = [item async for item in container.query_items(query.text, max_item_count=size)]
        assert ours == expected
        assert len({o["id"] for o in ours}) == len(ours) <= take


async def test_azure_cosmos_fuses_the_same_way(gateway: FakeHybridServer, container: aiocosmos.ContainerProxy) -> None:
    """Parity with azure-cosmos 4.17.1's hybrid_search_aggregator on ``RRF(FullTextScore, VectorDistance)``.

    The gateway answers with 400/1004 and the plan here (with the service's 500, azure-cosmos retries four
    times, about 2 s, before asking for the plan), and pages hold 1,000 rows. Where azure-cosmos differs,
    aiocosmos follows the .NET SDK, on purpose:

    * it fuses only the first page of each range's component rows (with ``max_item_count=5`` it loses rows);
    * it keeps every range's best rows of a component where .NET keeps the best across ranges (the same
      here: TOP 120 per range over 160 documents);
    * with one component it ranks by RRF (ties by ``_rid``) instead of keeping the component's order, and
      with the optimised plan's empty ``componentScores`` every row ties;
    * without global statistics it sends the ``{documentdb-formattableorderbyquery-filter}`` placeholder
      as it is (the vector-only plans); with the optimised RRF plans it gets 400/1004 again here."""
    gateway.ranked_direct_status = 400
    query = gateway.register_hybrid(HYBRID_PLANS[1])
    ours = [item async for item in container.query_items(query.text, max_item_count=5)]
    async with AzureClient(gateway.url, credential=KEY) as sdk:
        theirs = [item async for item in sdk.get_database_client(DB).get_container_client(COLL).query_items(
            query.text, max_item_count=1000)]
    assert ours == theirs == gateway.expected(query)
