"""The cross-partition query engine over real local-server shards (tests/integration/sharded_front.py).

Four ``shard{k}`` containers each hold the documents of one EPK range; the front presents them as one
container with four partition key ranges, answers the original query with 400/1004 and the gateway's
plan, and forwards each range-targeted (rewritten) query to its shard, where the local server runs it.
The oracle is the local server itself on one ordinary container holding all the documents.

Shapes: those the local server can run in their rewritten form: ORDER BY on one field (numeric, string,
mixed types), asc and desc, and on two fields (composite indexes), with and without TOP, and streaming
SELECTs with filters (with and without TOP; a real gateway serves a plain filter query itself, the front
refuses every cross-partition query with 1004 so that the engine's streaming path runs).
Aggregates, GROUP BY, DISTINCT and OFFSET/LIMIT stay on the Python fake (tests/client), because
the local server cannot run their rewritten forms. Documents without the ORDER BY field are left out:
the local server drops them from ORDER BY results, where Cosmos sorts them first.

Comparisons:
* ORDER BY on a unique field: the exact list. On a field with ties: the exact list of sort values, and
  the same documents (the order among ties is each container's ``_rid`` order, which differs between
  the shards and the oracle). With TOP and ties, the same sort values and distinct documents that the
  oracle has.
* Streaming: the same documents as the oracle (TOP: min(TOP, matches) distinct documents, all of them
  matching: the oracle runs the query without TOP), ranges in EPK order (the engine's promise).
* Resuming: from every page boundary, a fresh pager (and in some tests a fresh client) gives exactly
  the rest of the straight read.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiocosmos
from tests.client.fake_query_partitions import _plan, order_by_query
from tests.integration.sharded_front import CHILD_PREFIX, FRONT, ShardedFront
from tests.server import CosmosTestServer

INDEXING = {"indexingMode": "consistent", "automatic": True, "includedPaths": [{"path": "/*"}], "excludedPaths": [],
            "compositeIndexes": [[{"path": "/n", "order": "ascending"}, {"path": "/w", "order": "descending"}],
                                 [{"path": "/n", "order": "descending"}, {"path": "/w", "order": "ascending"}]]}
"""Multi-field ORDER BY needs a composite index on the local server (which, unlike Cosmos, does not
serve the reverse order from the same index), on the shards and on the oracle alike."""
SYSTEM = ("_rid", "_ts", "_etag", "_self", "_attachments", "_lsn")
MIXED: list[Any] = [None, True, False, 0, -3, 2.5, 7, "", "a", "zz"]


@dataclass
class Shape:
    text: str
    plan: dict[str, Any]
    field: str | None = None
    """ORDER BY field (None: streaming)."""
    unique: bool = False
    """The ORDER BY field has no ties: the exact order is the only right answer."""
    top: int | None = None
    oracle_text: str = ""
    """What the oracle runs (streaming TOP: the query without TOP, as any TOP rows are right)."""


def order_by(field: str, descending: bool, *, unique: bool, top: int | None = None,
             then: tuple[str, bool] | None = None) -> Shape:
    """ORDER BY ``field`` (then by ``then``: a unique field, which makes the order total)."""
    query = order_by_query([(field, descending), *([then] if then else [])], top=top)
    return Shape(query.text, query.plan, field, unique or then is not None, top)


def streaming(where: str, *, top: int | None = None) -> Shape:
    head = "SELECT *" if top is None else f"SELECT TOP {top} *"
    return Shape(f"{head} FROM c WHERE {where}", _plan(top=top), top=top, oracle_text=f"SELECT * FROM c WHERE {where}")


def shapes() -> list[Shape]:
    return [
        order_by("u", False, unique=True),
        order_by("u", True, unique=True),
        order_by("w", False, unique=True),
        order_by("w", True, unique=True),
        order_by("n", False, unique=False),
        order_by("n", True, unique=False),
        order_by("m", False, unique=False),  # null < false < true < numbers < strings
        order_by("m", True, unique=False),
        order_by("u", True, unique=True, top=9),
        order_by("w", False, unique=True, top=5),
        order_by("n", False, unique=False, top=7),
        order_by("n", False, unique=False, then=("w", True)),  # multi-field: the composite indexes below
        order_by("n", True, unique=False, then=("w", False)),
        order_by("n", True, unique=False, then=("w", False), top=8),
        streaming("c.n > 2"),
        streaming('c.s = "b" OR c.u < 300'),
        streaming("c.n >= 1", top=6),
    ]


def make_documents(count: int, rng: random.Random) -> list[dict[str, Any]]:
    unique = rng.sample(range(1000), count)
    strings = rng.sample(range(10000), count)
    return [{"id": f"d{i:03d}", "pk": f"p{rng.randrange(40)}", "u": unique[i], "w": f"w{strings[i]:04d}",
             "n": rng.randrange(6), "m": rng.choice(MIXED), "s": rng.choice("abcde")} for i in range(count)]


def strip(items: list[Any]) -> list[Any]:
    return [{k: v for k, v in i.items() if k not in SYSTEM} for i in items]


def exact(value: Any) -> bytes:
    """Type-exact comparison (0 and false differ)."""
    return orjson.dumps(value)


def by_id(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda d: d["id"])


def check(shape: Shape, ours: list[Any], oracle: list[Any], documents: list[dict[str, Any]]) -> None:
    """``ours`` (the engine through the front) against ``oracle`` (the local server on one container);
    ``documents`` is the data set."""
    ours, oracle = strip(ours), strip(oracle)
    stored = {d["id"]: exact(d) for d in documents}
    assert oracle, f"the oracle is empty for {shape.text} (the comparison would prove little)"
    assert len({d["id"] for d in ours}) == len(ours), f"duplicates in {shape.text}"
    if shape.field is not None:
        assert exact([d[shape.field] for d in ours]) == exact([d[shape.field] for d in oracle]), shape.text
        if shape.unique:
            assert exact(ours) == exact(oracle), shape.text
        elif shape.top is None:
            assert exact(by_id(ours)) == exact(by_id(oracle)), shape.text
        else:
            assert all(stored.get(d["id"]) == exact(d) for d in ours), shape.text
        return
    if shape.top is None:
        assert exact(by_id(ours)) == exact(by_id(oracle)), shape.text
    else:
        assert len(ours) == min(shape.top, len(oracle)), shape.text  # oracle: every matching document
        matching = {d["id"]: exact(d) for d in oracle}
        assert all(matching.get(d["id"]) == exact(d) for d in ours), shape.text
    shards = [ShardedFront.shard_of(d) for d in ours]
    assert shards == sorted(shards), f"streaming ranges out of EPK order in {shape.text}"


class World:
    """The front (one per module) and, per data set, a fresh database with four shards and an oracle."""

    def __init__(self, server: CosmosTestServer, client: aiocosmos.CosmosClient, front: ShardedFront) -> None:
        self.server = server
        self.client = client
        self.front = front
        self.oracle: aiocosmos.ContainerProxy | None = None
        self.documents: list[dict[str, Any]] = []
        self._database: aiocosmos.DatabaseProxy | None = None

    async def load(self, documents: list[dict[str, Any]]) -> None:
        await self.drop()
        database = self._database = await self.client.create_database(f"shards-{uuid.uuid4().hex[:10]}")
        key = aiocosmos.PartitionKey("/pk")
        shards = [await database.create_container(f"shard{k}", partition_key=key, indexing_policy=INDEXING)
                  for k in range(4)]
        self.oracle = await database.create_container("oracle", partition_key=key, indexing_policy=INDEXING)
        for document in documents:
            await self.oracle.create_item(document)
            await shards[ShardedFront.shard_of(document)].create_item(document)
        self.documents = documents
        self.front.database = database.id
        self.front.reset()
        for shape in shapes():
            self.front.register(shape.text, shape.plan)

    async def drop(self) -> None:
        if self._database is not None:
            await self.client.delete_database(self._database)
            self._database = None

    def sharded(self, client: aiocosmos.CosmosClient) -> aiocosmos.ContainerProxy:
        return client.get_database_client(self.front.database).get_container_client(FRONT)

    def front_client(self) -> aiocosmos.CosmosClient:
        return aiocosmos.CosmosClient(self.front.url, credential=self.server.key)

    async def oracle_answer(self, shape: Shape) -> list[Any]:
        assert self.oracle is not None
        return [i async for i in self.oracle.query_items(shape.oracle_text or shape.text)]


@pytest.fixture(scope="module")
async def world(cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient) -> AsyncIterator[World]:
    front = await ShardedFront(cosmos_server.url, cosmos_server.key, "none").start()
    state = World(cosmos_server, client, front)
    try:
        await state.load(make_documents(64, random.Random(5)))
        yield state
    finally:
        await state.drop()
        await front.close()


async def pages_of(container: aiocosmos.ContainerProxy, text: str, page_size: int,
                   token: str | None = None) -> list[tuple[list[Any], str | None]]:
    return [(page.items, page.continuation)
            async for page in container.query_items(text, max_item_count=page_size).by_page(token)]


async def resumed_rest(container: aiocosmos.ContainerProxy, text: str, page_size: int, token: str) -> list[Any]:
    """Everything after ``token``, read page by page, each from a fresh pager."""
    items: list[Any] = []
    current: str | None = token
    for _ in range(500):
        pager = container.query_items(text, max_item_count=page_size).by_page(current)
        page = await pager.__anext__()
        await pager.aclose()  # type: ignore[attr-defined]
        items.extend(page.items)
        current = page.continuation
        if current is None:
            return items
    raise AssertionError("the query did not end")


def flatten(pages: list[tuple[list[Any], str | None]]) -> list[Any]:
    return [item for items, _ in pages for item in items]


async def test_the_front_serves_four_shards_of_real_data(world: World) -> None:
    counts = [0, 0, 0, 0]
    for document in world.documents:
        counts[ShardedFront.shard_of(document)] += 1
    assert all(counts), f"every shard must hold documents: {counts}"
    async with world.front_client() as client:
        container = world.sharded(client)
        before = len(world.front.range_requests)
        shape = shapes()[0]
        ours = [i async for i in container.query_items(shape.text)]
        touched = {r for r, _ in world.front.range_requests[before:]}
    assert touched == {"0", "1", "2", "3"}
    check(shape, ours, await world.oracle_answer(shape), world.documents)


@pytest.mark.parametrize("page_size", [5, 17])
@pytest.mark.parametrize("shape", shapes(), ids=lambda s: s.text)
async def test_engine_matches_the_oracle_and_resumes_at_every_page(world: World, shape: Shape,
                                                                   page_size: int) -> None:
    oracle = await world.oracle_answer(shape)
    async with world.front_client() as client:
        container = world.sharded(client)
        pages = await pages_of(container, shape.text, page_size)
        straight = flatten(pages)
        check(shape, straight, oracle, world.documents)
        if shape.field is not None:
            assert all(len(items) == page_size for items, _ in pages[:-1]), "ORDER BY pages are full pages"
        assert all(token for _, token in pages[:-1]) and pages[-1][1] is None
        for index, (_, token) in enumerate(pages[:-1]):
            assert token is not None
            rest = await resumed_rest(container, shape.text, page_size, token)
            assert exact(strip(rest)) == exact(strip(flatten(pages[index + 1:]))), (shape.text, index)


@pytest.mark.parametrize("after", [1, 3, 6])
@pytest.mark.parametrize("shape", shapes(), ids=lambda s: s.text)
async def test_a_split_mid_query_gives_the_same_results(world: World, shape: Shape, after: int) -> None:
    oracle = await world.oracle_answer(shape)
    world.front.reset()
    async with world.front_client() as client:
        container = world.sharded(client)
        world.front.split_after(after)
        ours = [i async for i in container.query_items(shape.text, max_item_count=4)]
        split_happened = world.front.live_ranges()[0].id == "4"
    check(shape, ours, oracle, world.documents)
    if shape.top is not None:
        return  # TOP may be satisfied before the split, or by a page fetched ahead of it
    # Without TOP every row of range 0 is read: once the split happened, range 0 is answered 410/1002
    # and the query goes on on its children.
    assert split_happened, "the split did not happen"
    assert world.front.split_index is not None
    later = [r for r, _ in world.front.range_requests[world.front.split_index - 1:]]
    if world.front.gone_answers:
        assert {"4", "5"} <= set(later), later
    if after == 1 and shape.field is not None:
        # ORDER BY reads range 0 (over 4 rows) in pages of 4, so the split catches it mid-query.
        assert sum(ShardedFront.shard_of(d) == 0 for d in world.documents) > 4
        assert world.front.gone_answers >= 1 and "0" in later, "the first split must catch range 0 mid-query"



@pytest.mark.parametrize("shape", shapes(), ids=lambda s: s.text)
async def test_tokens_from_before_a_split_resume_on_the_children(world: World, shape: Shape) -> None:
    world.front.reset()
    size = 2 if shape.top is not None else 9
    async with world.front_client() as client:
        pages = await pages_of(world.sharded(client), shape.text, size)
    assert len(pages) > 1
    world.front.split_after(0)
    start, plans = len(world.front.range_requests), world.front.plan_requests
    for index, (_, token) in enumerate(pages[:-1]):
        assert token is not None
        async with world.front_client() as client:
            rest = await resumed_rest(world.sharded(client), shape.text, size, token)
        expected = strip(flatten(pages[index + 1:]))
        if shape.field is None or shape.unique:
            assert exact(strip(rest)) == exact(expected), (shape.text, index)
        else:  # ties may come in another range order once range 0 has become two ranges
            assert exact([d[shape.field] for d in rest]) == exact([d[shape.field] for d in expected]), shape.text
            assert exact(by_id(strip(rest))) == exact(by_id(expected)), (shape.text, index)
    assert world.front.live_ranges()[0].id == "4"
    # A fresh client resuming an engine token asks for the plan (the front answers like the gateway).
    assert world.front.plan_requests - plans == len(pages) - 1
    if shape.field is not None and shape.top is None:
        # Every ORDER BY token holds range 0's own continuation: the children resumed from it.
        inherited = [(r, c) for r, c in world.front.range_requests[start:]
                     if r in {"4", "5"} and c is not None and not c.startswith(CHILD_PREFIX)]
        assert {r for r, _ in inherited} == {"4", "5"}, world.front.range_requests[start:]
    world.front.reset()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(12, 40), shape_index=st.integers(0, len(shapes()) - 1),
       page_size=st.integers(1, 12), resume=st.floats(0, 1), split=st.booleans())
async def test_property_random_data_shapes_pages_and_resume_points(
    world: World, seed: int, count: int, shape_index: int, page_size: int, resume: float, split: bool
) -> None:
    rng = random.Random(seed)
    await world.load(make_documents(count, rng))
    shape = shapes()[shape_index]
    oracle = await world.oracle_answer(shape)
    if not oracle:
        return  # a filter that matches nothing: compared in the next example
    async with world.front_client() as client:
        container = world.sharded(client)
        pages = await pages_of(container, shape.text, page_size)
        check(shape, flatten(pages), oracle, world.documents)
        point = min(int(resume * len(pages)), len(pages) - 1)
        token = pages[point][1]
        if token is not None:
            if split:
                world.front.split_after(rng.randrange(3))
            rest = await resumed_rest(container, shape.text, page_size, token)
            expected = flatten(pages[point + 1:])
            if split and shape.field is not None and not shape.unique:
                # ties may come in another range order once range 0 has become two ranges
                assert exact([d[shape.field] for d in rest]) == exact([d[shape.field] for d in expected])
                assert exact(by_id(strip(rest))) == exact(by_id(strip(expected))), shape.text
            elif split and shape.field is None:
                # A streaming query goes on child by child after a split (as on the service): what was
                # left of range 0 comes in the children's EPK order. Without TOP: the same rows, each
                # once. With TOP: as many rows, none returned before, each one the query matches.
                if shape.top is None:
                    assert exact(by_id(strip(rest))) == exact(by_id(strip(expected))), shape.text
                else:
                    before = {d["id"] for d in flatten(pages[: point + 1])}
                    matching = {d["id"] for d in oracle}
                    ids = [d["id"] for d in rest]
                    assert len(ids) == len(expected) and len(set(ids)) == len(ids), shape.text
                    assert not set(ids) & before and set(ids) <= matching, shape.text
            else:
                assert exact(strip(rest)) == exact(strip(expected)), shape.text
