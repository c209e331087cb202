"""Differential check against azure.cosmos.aio on the same four-range fake gateway
(tests/client/fake_query_partitions.py): the official SDK accepts the fake's 400/1004, plan and
rewritten-query answers, and both clients must return the same results. Ties in ORDER BY may be
broken differently (the SDK by range, aiocosmos by ``_rid``), so ORDER BY results are compared on
their sort keys in order plus the same set of documents."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.client.conftest import COLL, DB, KEY
from tests.client.fake_query_partitions import FakeQuery, FakeQueryServer, aggregate_query, order_by_query
from tests.client.test_query_engine import make_documents

SHAPES = [
    order_by_query([("n", True), ("s", False)]),
    order_by_query([("n", False)], top=7),
    *(aggregate_query(f, "n") for f in ("COUNT", "SUM", "MIN", "MAX", "AVG")),
    aggregate_query("MAX", "m"),
]


async def test_mixed_types_with_undefined_where_the_sdk_gives_up() -> None:
    """ORDER BY over a property that is missing from some documents and of every type in others: the
    SDK's merge refuses it ("Expected Null, but got NoValue"); aiocosmos returns the Cosmos order."""
    query = order_by_query([("m", False)])
    async with FakeQueryServer() as gateway:
        gateway.add_documents(make_documents(60, seed=3))
        gateway.register(query)
        async with AzureClient(gateway.url, credential=KEY) as sdk_client:
            sdk_container = sdk_client.get_database_client(DB).get_container_client(COLL)
            with pytest.raises(ValueError, match="NoValue"):
                _ = [i async for i in sdk_container.query_items(query.text, max_item_count=5)]
        async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
            container = client.get_database_client(DB).get_container_client(COLL)
            ours = orjson.loads(orjson.dumps([i async for i in container.query_items(query.text, max_item_count=5)]))
        assert ours == gateway.expected(query)
        assert "m" not in ours[0] and any(i.get("m") is None and "m" in i for i in ours)


def keys(items: list[Any], query: FakeQuery) -> list[Any]:
    fields = [expression.removeprefix("c.") for expression in query.plan["queryInfo"]["orderByExpressions"]]
    return [[item.get(f, "<undefined>") for f in fields] for item in items]


@pytest.mark.parametrize("query", SHAPES, ids=lambda q: q.text)
async def test_same_results_as_azure_cosmos(query: FakeQuery) -> None:
    async with FakeQueryServer() as gateway:
        gateway.add_documents(make_documents(60, seed=3))
        gateway.register(query)
        async with AzureClient(gateway.url, credential=KEY) as sdk_client:
            sdk_container = sdk_client.get_database_client(DB).get_container_client(COLL)
            theirs = orjson.loads(orjson.dumps([i async for i in sdk_container.query_items(query.text,
                                                                                           max_item_count=5)]))
        sdk_plan_requests = gateway.plan_requests()
        assert len(sdk_plan_requests) == 1  # the SDK asked for the plan after the 400/1004
        gateway.plan_in_error = False  # make aiocosmos ask too, to compare the two plan requests
        async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
            container = client.get_database_client(DB).get_container_client(COLL)
            ours = orjson.loads(orjson.dumps([i async for i in container.query_items(query.text, max_item_count=5)]))
        if query.plan["queryInfo"]["orderBy"]:
            assert keys(ours, query) == keys(theirs, query)
            assert sorted(i["_rid"] for i in ours) == sorted(i["_rid"] for i in theirs)
        else:
            assert ours == pytest.approx(theirs)
        assert ours == gateway.expected(query) or query.plan["queryInfo"]["aggregates"] == ["Average"]
        sdk_plan, our_plan = sdk_plan_requests[0], gateway.plan_requests()[-1]
        assert our_plan.json() == sdk_plan.json()
        for header in ("Content-Type", "x-ms-cosmos-is-query-plan-request", "x-ms-cosmos-query-version"):
            assert our_plan.headers[header].lower() == sdk_plan.headers[header].lower()
        for header in ("x-ms-documentdb-isquery", "x-ms-documentdb-partitionkeyrangeid"):
            assert header not in our_plan.headers and header not in sdk_plan.headers
        sdk_features = set(sdk_plan.headers["x-ms-cosmos-supported-query-features"].split(","))
        # Ours: the SDK's names for what we implement, plus GroupBy, MultipleAggregates, NonValueAggregate
        # and DCount (the SDK has no GROUP BY, aggregates without VALUE or DCOUNT); minus CountIf. Both
        # advertise NonStreamingOrderBy (vector search), HybridSearch and WeightedRankFusion (ranked search).
        our_features = set(our_plan.headers["x-ms-cosmos-supported-query-features"].split(","))
        assert our_features - {"GroupBy", "MultipleAggregates", "NonValueAggregate", "DCount"} < sdk_features
        assert sdk_features - our_features == {"CountIf"}
        assert {"NonStreamingOrderBy", "HybridSearch", "WeightedRankFusion"} <= sdk_features & our_features
