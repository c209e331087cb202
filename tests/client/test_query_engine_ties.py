"""ORDER BY with the service's ties, JOINs and merges (issue 13, defects 1 and 2).

The fake (tests/client/fake_query_partitions.py) returns real-format ``_rid``s, breaks ties by the
document number (descending when the first ORDER BY column is), lets ties and JOIN rows straddle
backend pages (``max_item_count`` is small) and merges partitions (two old ranges served by one
physical partition, which honours ``x-ms-start-epk``/``x-ms-end-epk`` and returns all its documents
without them). Every answer is compared with the plain Python evaluation of the original query."""

from __future__ import annotations

import base64
import random
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiocosmos
from aiocosmos import InvalidContinuationToken
from aiocosmos._query.ordering import document_number
from tests.client.conftest import COLL, DB, KEY
from tests.client.fake_query_partitions import (
    FakeQuery,
    FakeQueryServer,
    aggregate_query,
    document_rid,
    order_by_query,
    streaming_query,
)


def tied_documents(count: int, seed: int) -> list[dict[str, Any]]:
    """Few distinct sort values (many ties), and 0-4 tags per document (JOIN rows of one ``_rid``)."""
    rng = random.Random(seed)
    return [{"id": f"d{i}", "pk": f"p{rng.randrange(30)}", "n": rng.randrange(3), "s": rng.choice("ab"),
             "tags": [f"t{j}" for j in range(rng.randrange(5))]} for i in range(count)]


@pytest.fixture
async def gateway() -> AsyncIterator[FakeQueryServer]:
    async with FakeQueryServer() as server:
        server.add_documents(tied_documents(90, seed=11))
        yield server


@pytest.fixture
async def container(gateway: FakeQueryServer) -> AsyncIterator[aiocosmos.ContainerProxy]:
    async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as client:
        yield client.get_database_client(DB).get_container_client(COLL)


SHAPES = [
    order_by_query([("n", False)]),
    order_by_query([("n", True)]),
    order_by_query([("n", True), ("s", False)]),
    order_by_query([("s", False), ("n", True)]),
    order_by_query([("n", False)], join="tags"),
    order_by_query([("n", True)], join="tags"),
    order_by_query([("n", True)], top=23),
]


def normalise(items: list[Any]) -> list[Any]:
    return list(orjson.loads(orjson.dumps(items)))


async def pages_of(container: aiocosmos.ContainerProxy, text: str, page_size: int,
                   token: str | None = None) -> list[tuple[list[Any], str | None]]:
    return [(normalise(p.items), p.continuation)
            async for p in container.query_items(text, max_item_count=page_size).by_page(token)]


async def first_page(container: aiocosmos.ContainerProxy, text: str, page_size: int,
                     token: str | None) -> tuple[list[Any], str | None]:
    pages = container.query_items(text, max_item_count=page_size).by_page(token)
    try:
        page = await pages.__anext__()
    finally:
        await pages.aclose()
    return normalise(page.items), page.continuation


def flat(pages: list[tuple[list[Any], str | None]]) -> list[Any]:
    return [item for items, _ in pages for item in items]


@pytest.mark.parametrize("query", SHAPES, ids=lambda q: q.text)
@pytest.mark.parametrize("page_size", [1, 3, 7])
async def test_ties_and_join_rows_across_pages_straight_and_resumed_at_every_boundary(
    gateway: FakeQueryServer, container: aiocosmos.ContainerProxy, query: FakeQuery, page_size: int
) -> None:
    gateway.register(query)
    expected = gateway.expected(query)
    assert len(expected) >= 23
    pages = await pages_of(container, query.text, page_size)
    assert flat(pages) == expected
    # From every page boundary, a fresh pager gives exactly the next page of the straight read (and,
    # from the middle one, all the rest).
    for index, (_, token) in enumerate(pages[:-1]):
        assert token is not None
        assert (await first_page(container, query.text, page_size, token))[0] == pages[index + 1][0]
    middle = len(pages) // 2
    assert flat(await pages_of(container, query.text, page_size, pages[middle][1])) == flat(pages[middle + 1:])
    # And a chain of fresh pagers, one page each.
    chained: list[Any] = []
    token = None
    while True:
        items, token = await first_page(container, query.text, page_size, token)
        chained.extend(items)
        if token is None:
            break
    assert chained == expected


def test_the_fake_rids_are_service_format_and_do_not_sort_like_documents() -> None:
    rids = [document_rid(n) for n in range(1, 300)]
    assert rids[0] == "Sl8fAPyZbZoBAAAAAAAAAA=="
    assert [document_number(r) for r in rids] == list(range(1, 300))
    assert sorted(rids) != rids  # the string order is not the document order


def bounded(requests: list[Any]) -> list[tuple[str, str, str]]:
    return [(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers["x-ms-start-epk"], r.headers["x-ms-end-epk"])
            for r in requests if "x-ms-start-epk" in r.headers]


MERGE_SHAPES = [order_by_query([("n", True)]), order_by_query([("n", False)], join="tags"),
                aggregate_query("COUNT", "n"), streaming_query(top=500)]


def same(query: FakeQuery, ours: list[Any], expected: list[Any]) -> None:
    if query.plan["queryInfo"]["orderBy"] or query.plan["queryInfo"]["aggregates"]:
        assert ours == expected
    else:  # streaming: ranges in EPK order; nothing lost or repeated
        assert Counter(map(orjson.dumps, ours)) == Counter(map(orjson.dumps, expected))


@pytest.mark.parametrize("query", MERGE_SHAPES, ids=lambda q: q.text)
async def test_merge_during_iteration(gateway: FakeQueryServer, container: aiocosmos.ContainerProxy,
                                      query: FakeQuery) -> None:
    gateway.register(query)
    expected = gateway.expected(query)
    gateway.merge_after = (2, "1", "2")
    ours = normalise([i async for i in container.query_items(query.text, max_item_count=4, max_concurrency=2)])
    assert {"1", "2"} <= gateway.gone, "the merge must have happened"
    same(query, ours, expected)
    if query.plan["queryInfo"]["aggregates"]:
        assert ours == [90]
    # What was left of ranges 1 and 2 is read from the merged partition "4", each within its own EPKs.
    assert [r for r in gateway.range_requests() if r.reply is not None and r.reply.status == 410]
    to_merged = [r for r in gateway.range_requests() if r.headers["x-ms-documentdb-partitionkeyrangeid"] == "4"]
    assert to_merged and set(bounded(to_merged)) <= {("4", "10", "20"), ("4", "20", "30")}
    assert len(bounded(to_merged)) == len(to_merged)


@pytest.mark.parametrize("query", MERGE_SHAPES, ids=lambda q: q.text)
async def test_merge_between_saving_and_resuming_a_token(gateway: FakeQueryServer,
                                                         container: aiocosmos.ContainerProxy, query: FakeQuery) -> None:
    gateway.register(query)
    expected = gateway.expected(query)
    items, token = await first_page(container, query.text, 5, None)
    if token is None:  # an aggregate: one page
        assert items == expected
        token_query = order_by_query([("n", True)])
        gateway.register(token_query)
        query, expected = token_query, gateway.expected(token_query)
        items, token = await first_page(container, query.text, 5, None)
    assert token is not None
    merged = gateway.merge("1", "2")
    async with aiocosmos.CosmosClient(gateway.url, credential=KEY) as other:  # a fresh routing map too
        fresh = other.get_database_client(DB).get_container_client(COLL)
        rest = flat(await pages_of(fresh, query.text, 5, token))
    same(query, items + rest, expected)
    assert {(merged, "10", "20"), (merged, "20", "30")} <= set(bounded(gateway.range_requests()))
    # Never the whole merged partition for one old range.
    assert all("x-ms-start-epk" in r.headers for r in gateway.range_requests()
               if r.headers["x-ms-documentdb-partitionkeyrangeid"] == merged)


async def test_count_after_a_merge_is_exact(gateway: FakeQueryServer, container: aiocosmos.ContainerProxy) -> None:
    query = gateway.register(aggregate_query("COUNT", "n"))
    assert [v async for v in container.query_items(query.text)] == [90]  # caches the four-range map
    gateway.merge("1", "2")
    assert [v async for v in container.query_items(query.text)] == [90]


async def test_tokens_of_the_old_format_are_refused(gateway: FakeQueryServer,
                                                    container: aiocosmos.ContainerProxy) -> None:
    query = gateway.register(order_by_query([("n", False)]))
    _, token = await first_page(container, query.text, 5, None)
    assert token is not None
    prefix, fingerprint, _, payload = token.split(".")
    inner = base64.urlsafe_b64decode(payload).decode()
    assert inner.startswith("aq2:")
    state = orjson.loads(inner[4:])
    state["v"] = 1
    for entry in state["r"]:
        if "l" in entry:
            entry["l"] = entry["l"][:2]
    old = ("aq1:" + orjson.dumps(state).decode()).encode()
    old_token = f"{prefix}.{fingerprint}.{zlib.crc32(old):08x}.{base64.urlsafe_b64encode(old).decode()}"
    before = len(gateway.requests)
    with pytest.raises(InvalidContinuationToken, match="older aiocosmos"):
        await first_page(container, query.text, 5, old_token)
    assert len(gateway.requests) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(5, 60), fields=st.sampled_from(
    [[("n", False)], [("n", True)], [("n", True), ("s", False)], [("s", False), ("n", False)], [("s", True)]]),
    join=st.booleans(), page_size=st.integers(1, 9), resume_size=st.integers(1, 9),
    cuts=st.lists(st.floats(0, 1), max_size=3), event=st.sampled_from(["none", "split", "merge"]))
async def test_property_ties_joins_pages_resumes_splits_and_merges(
    seed: int, count: int, fields: list[tuple[str, bool]], join: bool, page_size: int, resume_size: int,
    cuts: list[float], event: str
) -> None:
    rng = random.Random(seed)
    async with FakeQueryServer() as gw:
        gw.add_documents(tied_documents(count, seed))
        query = gw.register(order_by_query(fields, join="tags" if join else None))
        expected = gw.expected(query)
        async with aiocosmos.CosmosClient(gw.url, credential=KEY) as client:
            container = client.get_database_client(DB).get_container_client(COLL)
            pages = await pages_of(container, query.text, page_size)
            assert flat(pages) == expected
            if event == "split":
                which = rng.randrange(4)
                gw.split_after = (rng.randrange(1, 6), str(which), f"{which}8")
            elif event == "merge":
                left = rng.choice(["0", "1", "2"])
                gw.merge_after = (rng.randrange(1, 6), left, str(int(left) + 1))
            gw.answered = 0
            for cut in cuts:
                index = min(int(cut * len(pages)), len(pages) - 1)
                token = pages[index][1]
                if token is None:
                    continue
                rest = flat(await pages_of(container, query.text, resume_size, token))
                head = flat(pages[:index + 1])
                ours = head + rest
                # The order ORDER BY fixes, and the same rows; the engine also promises the service's
                # tie order (document number), so the whole list is exact.
                key = [[row.get(f) for f, _ in fields] for row in ours] if not join else None
                if key is not None:
                    assert key == [[row.get(f) for f, _ in fields] for row in expected]
                assert Counter(map(orjson.dumps, ours)) == Counter(map(orjson.dumps, expected))
                assert ours == expected
