"""Oracle for the cross-partition query engine: the local server evaluates each query itself on one
ordinary container holding all the documents; the engine runs the same query over the four-range
fake gateway (tests/client/fake_query_partitions.py) holding the same documents, resuming at every
page boundary. The answers must be equal, in the same order for ORDER BY (on unique sort keys, so that
both sides have one right answer: the local server wants composite indexes for multi-field ORDER BY,
and it parses neither OFFSET/LIMIT nor DISTINCT VALUE; the fake-reference tests in
tests/client/test_query_engine.py cover those)."""

from __future__ import annotations

import random
from typing import Any

import pytest

import aiocosmos
from tests.client.conftest import COLL, DB, KEY
from tests.client.fake_query_partitions import FakeQuery, FakeQueryServer, aggregate_query, order_by_query
from tests.client.test_query_engine import read_resuming

SYSTEM = ("_rid", "_ts", "_etag", "_self", "_attachments", "_lsn")


def documents() -> list[dict[str, Any]]:
    rng = random.Random(11)
    unique = rng.sample(range(1000), 70)
    return [{"id": f"d{i:03d}", "pk": f"p{rng.randrange(30)}", "u": unique[i], "w": f"w{unique[-1 - i]:04d}",
             "s": rng.choice("abcde"), "v": rng.randrange(-50, 50)} for i in range(70)]


def shapes() -> list[FakeQuery]:
    return [
        order_by_query([("u", False)]),
        order_by_query([("u", True)]),
        order_by_query([("w", False)]),
        order_by_query([("id", True)]),
        order_by_query([("w", True)], top=9),
        *(aggregate_query(f, "v") for f in ("COUNT", "SUM", "MIN", "MAX", "AVG")),
    ]


def strip(items: list[Any]) -> list[Any]:
    return [{k: v for k, v in i.items() if k not in SYSTEM} if isinstance(i, dict) else i for i in items]


async def test_engine_matches_the_local_server(container: aiocosmos.ContainerProxy) -> None:
    data = documents()
    for document in data:
        await container.create_item(document)
    async with FakeQueryServer() as gateway:
        gateway.add_documents(data)
        assert len({r.id for r in gateway.live_ranges()}) == 4
        async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
            sharded = client.get_database_client(DB).get_container_client(COLL)
            for query in shapes():
                gateway.register(query)
                oracle = strip([i async for i in container.query_items(query.text)])
                assert oracle, query.text
                for page_size in (5, 100):
                    ours = strip(await read_resuming(sharded, query.text, page_size))
                    if query.plan["queryInfo"]["aggregates"] == ["Average"]:
                        assert ours == [pytest.approx(oracle[0])], query.text
                    else:
                        assert ours == oracle, query.text
        touched = {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in gateway.range_requests()}
        assert touched == {"0", "1", "2", "3"}
