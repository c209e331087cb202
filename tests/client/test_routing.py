"""Partition key ranges, feed ranges and effective partition keys at the recording server.

* EPK hashing (MurmurHash3, binary encoding) equals azure-cosmos's own functions on many values.
* ``read_feed_ranges`` and ``feed_range_from_partition_key``: wire parity with azure.cosmos.aio.
* The routing map: cached per client (shared by proxies), refreshed incrementally from its etag,
  one refresh at a time, a full read when an incremental answer does not tile the key space.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.cosmos import partition_key as azure_pk
from azure.cosmos._change_feed.feed_range_internal import FeedRangeInternalEpk
from azure.cosmos._cosmos_integers import _UInt128
from azure.cosmos._cosmos_murmurhash3 import murmurhash3_32 as azure_murmur32
from azure.cosmos._cosmos_murmurhash3 import murmurhash3_128 as azure_murmur128
from azure.cosmos._routing.routing_range import Range as AzureRange
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos import FeedRange, NonePartitionKeyValue, PartitionKey
from aiocosmos._feeds.epk import murmurhash3_32, murmurhash3_128
from aiocosmos._feeds.routing import feed_range_for_partition_key
from tests.client.azure_parity import signed_with
from tests.client.conftest import COLL, DB, KEY, ClientFactory
from tests.client.fake_partitions import PKRANGES_PATH, FakePartitionedServer
from tests.client.recording_server import RecordedRequest, Reply

LINK = f"dbs/{DB}/colls/{COLL}"


@pytest.fixture
async def server() -> AsyncIterator[FakePartitionedServer]:
    async with FakePartitionedServer(boundaries=("7F",)) as fake:
        yield fake


# ---------------------------------------------------------------------------------------------------
# Effective partition keys against the SDK's own functions


def random_string(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(0, 30)))
    if kind == 1:  # any BMP or astral code point but surrogates: accents, CJK, emoji, combining marks
        chars = []
        for _ in range(rng.randrange(1, 40)):
            code = rng.choice([rng.randrange(0x20, 0x800), rng.randrange(0x3000, 0xD7FF),
                               rng.randrange(0x1F300, 0x1FAFF), rng.randrange(0x300, 0x36F)])
            chars.append(chr(code))
        return "".join(chars)
    if kind == 2:  # long strings: V1 cuts at 100 characters, the binary encoding at 100 bytes
        return "".join(rng.choice("aé€😀") for _ in range(rng.randrange(90, 160)))
    return rng.choice(["", " ", "0", "null", "true", "{}", "[]", "\x00", "\uffff"])


def random_value(rng: random.Random, *, v1: bool = False) -> Any:
    kind = rng.randrange(8)
    if kind in (0, 1):
        return random_string(rng)
    if kind == 2:
        if v1:  # the Python SDK hashes ints through a uint32 in V1 (the .NET/Java SDKs hash the double)
            return rng.randrange(0, 2**32)
        return rng.randrange(-(2**53) + 1, 2**53) // (10 ** rng.randrange(0, 16))
    if kind == 3:
        return rng.choice([rng.uniform(-1e6, 1e6), rng.uniform(-1, 1) * 10.0 ** rng.randrange(-300, 300), 0.5,
                           -0.0, 1e-310, 2.0**53])
    if kind == 4:
        return rng.choice([True, False])
    if kind == 5 and not v1:  # the Python SDK encodes a V1 null as nothing (.NET/Java: the null byte)
        return None
    if kind == 6:
        return NonePartitionKeyValue
    return rng.randrange(0, 1000)


def to_azure(value: Any) -> Any:
    if value is NonePartitionKeyValue:
        return azure_pk.NonePartitionKeyValue
    if isinstance(value, list):
        return [to_azure(v) for v in value]
    return value


def azure_range(definition: PartitionKey, value: Any) -> tuple[str, str, bool, bool]:
    pk = azure_pk.PartitionKey(list(definition.paths) if definition.kind == "MultiHash" else definition.path,
                               kind=definition.kind, version=definition.version)
    r = pk._get_epk_range_for_partition_key(to_azure(value))
    return r.min, r.max, r.isMinInclusive, r.isMaxInclusive


def ours(definition: PartitionKey, value: Any) -> tuple[str, str, bool, bool]:
    r = feed_range_for_partition_key(definition, value)
    return r.min, r.max, r.is_min_inclusive, r.is_max_inclusive


def test_murmurhash_equals_the_sdk_on_random_bytes() -> None:
    rng = random.Random(20240601)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        seed = rng.choice([0, rng.randrange(2**32)])
        assert murmurhash3_128(data, seed) == azure_murmur128(bytearray(data), _UInt128(seed, seed)).as_tuple()
        assert murmurhash3_32(data, seed) == azure_murmur32(bytearray(data), seed).value


def test_hash_v2_epk_equals_the_sdk_on_300_values() -> None:
    rng = random.Random(7)
    definition = PartitionKey("/pk")
    values = [random_value(rng) for _ in range(300)]
    kinds = {type(v).__name__ for v in values}
    assert {"str", "int", "float", "bool", "NoneType", "_NonePartitionKeyType"} <= kinds
    for value in values:
        assert ours(definition, value) == azure_range(definition, value), value
    # Known vectors, so a change in both implementations at once would still be caught.
    assert ours(definition, "x")[0] == "11E3F358618BE9AA5BAFF4C7C74F0716"
    assert ours(definition, "x")[:2] == ("11E3F358618BE9AA5BAFF4C7C74F0716",) * 2


def test_hierarchical_epk_and_prefix_ranges_equal_the_sdk() -> None:
    rng = random.Random(11)
    for levels in (2, 3):
        definition = PartitionKey([f"/k{i}" for i in range(levels)])
        for _ in range(120):
            full = [random_value(rng) for _ in range(levels)]
            assert ours(definition, full) == azure_range(definition, full), full
            prefix = full[: rng.randrange(1, levels)]
            low, high, min_inclusive, max_inclusive = ours(definition, prefix)
            assert (low, high, min_inclusive, max_inclusive) == azure_range(definition, prefix), prefix
            assert high == low + "FF" and not max_inclusive and len(low) == 32 * len(prefix)


def test_hash_v1_epk_equals_the_sdk_where_the_sdks_agree() -> None:
    rng = random.Random(3)
    definition = PartitionKey("/pk", version=1)
    for _ in range(200):
        value = random_value(rng, v1=True)
        assert ours(definition, value) == azure_range(definition, value), value


def test_feed_range_forms_are_azure_cosmos_forms() -> None:
    rng = random.Random(5)
    for _ in range(50):
        low = "".join(rng.choice("0123456789ABCDEF") for _ in range(2 * rng.randrange(0, 8)))
        high = low + "".join(rng.choice("0123456789ABCDEF") for _ in range(2 * rng.randrange(1, 4)))
        flags = (rng.choice([True, False]), rng.choice([True, False]))
        azure = FeedRangeInternalEpk(AzureRange(low, high, *flags))
        mine = FeedRange(low.lower(), high, *flags)  # hex is case-insensitive; upper-cased like the SDK
        assert mine.to_dict() == azure.to_dict() == mine  # a FeedRange is azure-cosmos's dict itself
        assert json.dumps(mine) == json.dumps(azure.to_dict())
        assert mine.to_string() == str(azure)
        assert FeedRange.from_json(str(azure)) == mine == FeedRange.from_json(azure.to_dict())
        normalized = azure.get_normalized_range()
        assert (mine.normalized().min, mine.normalized().max) == (normalized.min, normalized.max)


async def test_is_feed_range_subset_as_the_sdk(container: aiocosmos.ContainerProxy) -> None:
    rng = random.Random(9)
    for _ in range(100):
        a, b = sorted("".join(rng.choice("0123456789ABCDEF") for _ in range(2)) for _ in range(2))
        c, d = sorted("".join(rng.choice("0123456789ABCDEF") for _ in range(2)) for _ in range(2))
        parent, child = FeedRange(a, b), FeedRange(c, d, True, rng.choice([True, False]))
        expected = FeedRangeInternalEpk(AzureRange(child.min, child.max, True, child.is_max_inclusive)) \
            .get_normalized_range().is_subset(AzureRange(a, b, True, False))
        assert await container.is_feed_range_subset(parent.to_dict(), child) is expected


@pytest.mark.parametrize("bad", [
    {"min": "", "max": "FF"},  # not wrapped in "Range"
    {"Range": {"min": "", "max": "F"}},  # odd length
    {"Range": {"min": "XY", "max": "FF"}},  # not hex
    {"Range": {"min": "", "max": "FF", "isMinInclusive": "yes"}},
    "not base64 !",
    42,
])
def test_feed_range_refuses_what_is_not_one(bad: Any) -> None:
    with pytest.raises(aiocosmos.ValidationError):
        FeedRange.from_json(bad)


@pytest.mark.parametrize(("paths", "value"), [
    ("/pk", ["a", "b"]),  # too many components
    (["/a", "/b"], ["a", "b", "c"]),
    ("/pk", {"x": 1}),  # not a scalar
    ("/pk", float("nan")),
])
def test_feed_range_for_partition_key_refuses_bad_values(paths: Any, value: Any) -> None:
    with pytest.raises(aiocosmos.ValidationError):
        feed_range_for_partition_key(PartitionKey(paths), value)


# ---------------------------------------------------------------------------------------------------
# Wire parity with azure.cosmos.aio


def pkranges_shape(request: RecordedRequest) -> tuple[Any, ...]:
    assert signed_with(request, "get", "pkranges", LINK), f"{request!r} is not signed for pkranges"
    return (request.method, request.path.rstrip("/"), request.headers.get("A-IM"),
            request.headers.get("x-ms-max-item-count"), request.headers.get("If-None-Match"),
            request.headers.get("x-ms-version"))


async def test_read_feed_ranges_wire_parity_with_azure(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    async with AzureClient(server.url, credential=KEY) as azure_client:
        azure_container = azure_client.get_database_client(DB).get_container_client(COLL)
        sdk_ranges = [r async for r in azure_container.read_feed_ranges()]
    sdk_requests = server.pkranges_requests()
    start = len(server.requests)
    container = make_client().get_database_client(DB).get_container_client(COLL)
    our_ranges = await container.read_feed_ranges()
    our_requests = server.requests[start:]

    assert [r.to_dict() for r in our_ranges] == sdk_ranges
    assert our_ranges == [FeedRange("", "7F"), FeedRange("7F", "FF")]
    # A full read of the pkranges feed: from no etag, then the etag, until 304 (spec §6.11).
    expected = [("GET", PKRANGES_PATH, "Incremental Feed", "-1", None, "2020-07-15"),
                ("GET", PKRANGES_PATH, "Incremental Feed", "-1", '"pk1"', "2020-07-15")]
    assert [pkranges_shape(r) for r in sdk_requests] == expected
    assert [pkranges_shape(r) for r in our_requests] == expected
    assert [r.path for r in our_requests] == [PKRANGES_PATH] * 2
    assert [r.reply.status for r in our_requests if r.reply] == [200, 304]

    # `async for` works as with azure-cosmos, from the cache: no new request.
    before = len(server.requests)
    assert [r async for r in container.read_feed_ranges()] == our_ranges
    assert len(server.requests) == before


@pytest.mark.parametrize(("definition", "values"), [
    ({"paths": ["/pk"], "kind": "Hash", "version": 2}, ["x", 7, 2.5, True, None, "Ünïcødé 😀", NonePartitionKeyValue]),
    ({"paths": ["/pk"], "kind": "Hash", "version": 1}, ["x", 7, 2.5, False, "b" * 130]),
    ({"paths": ["/a", "/b", "/c"], "kind": "MultiHash", "version": 2},
     [["t", "u", 1], ["t"], ["t", None], [True, NonePartitionKeyValue, 0.5]]),
])
async def test_feed_range_from_partition_key_parity_with_azure(
    server: FakePartitionedServer, make_client: ClientFactory, definition: dict[str, Any], values: list[Any]
) -> None:
    server.containers[LINK] = definition
    async with AzureClient(server.url, credential=KEY) as azure_client:
        azure_container = azure_client.get_database_client(DB).get_container_client(COLL)
        expected = [await azure_container.feed_range_from_partition_key(to_azure(v)) for v in values]
    container = make_client().get_database_client(DB).get_container_client(COLL)
    start = len(server.requests)
    got = [await container.feed_range_from_partition_key(v) for v in values]
    assert [r.to_dict() for r in got] == expected
    # The definition is read once (then cached); nothing else is sent.
    assert [(r.method, r.path) for r in server.requests[start:]] == [("GET", f"/{LINK}")]


async def test_feed_range_from_partition_key_checks_the_value_before_any_io(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    with pytest.raises(aiocosmos.ValidationError):
        await container.feed_range_from_partition_key({"not": "a scalar"})
    assert server.requests == []
    with pytest.raises(aiocosmos.ValidationError, match="components"):
        await container.feed_range_from_partition_key(["a", "b"])  # checked against the definition


# ---------------------------------------------------------------------------------------------------
# The routing map cache


async def test_the_routing_map_is_shared_by_proxies_and_refreshed_incrementally(
    server: FakePartitionedServer, client: aiocosmos.CosmosClient
) -> None:
    first = client.get_database_client(DB).get_container_client(COLL)
    second = client.get_database_client(DB).get_container_client(COLL)
    assert len(await first.read_feed_ranges()) == 2
    assert len(await second.read_feed_ranges()) == 2
    assert len(server.pkranges_requests()) == 2  # one full read (200, then 304), shared

    # Nothing changed: a forced refresh asks from the last etag and gets 304.
    start = len(server.requests)
    assert await first.read_feed_ranges(force_refresh=True) == [FeedRange("", "7F"), FeedRange("7F", "FF")]
    assert [(r.headers.get("If-None-Match"), r.reply and r.reply.status) for r in server.requests[start:]] \
        == [('"pk1"', 304)]

    # A split: the incremental answer lists only the children (with parents); the map replaces the parent.
    left, right = server.split("0", "3F")
    start = len(server.requests)
    ranges = await second.read_feed_ranges(force_refresh=True)
    assert ranges == [FeedRange("", "3F"), FeedRange("3F", "7F"), FeedRange("7F", "FF")]
    assert [r.id for r in client._core.routing_maps.cached(LINK).ranges] == [left, right, "1"]  # type: ignore[union-attr]
    assert [(r.headers.get("If-None-Match"), r.reply and r.reply.status) for r in server.requests[start:]] \
        == [('"pk1"', 200), ('"pk2"', 304)]
    assert await first.read_feed_ranges() == ranges  # the other proxy sees it, without I/O
    assert len(server.requests) == start + 2


async def test_an_incremental_answer_with_a_gap_falls_back_to_a_full_read(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    await container.read_feed_ranges()
    # The service "forgets" to list a child (parents point at range 0): the merge leaves a gap.
    server.split("0", "3F")
    server.ranges["2"].version = 1  # the incremental feed now lists only child "3"
    start = len(server.requests)
    ranges = await container.read_feed_ranges(force_refresh=True)
    assert ranges == [FeedRange("", "3F"), FeedRange("3F", "7F"), FeedRange("7F", "FF")]
    assert [r.headers.get("If-None-Match") for r in server.requests[start:]] == ['"pk1"', '"pk2"', None, '"pk2"']


async def test_ranges_that_never_tile_the_key_space_are_an_error(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    del server.ranges["1"]
    with pytest.raises(aiocosmos.PagingError, match="do not cover the key space"):
        await container.read_feed_ranges()


async def test_concurrent_refreshes_send_one_read(
    server: FakePartitionedServer, client: aiocosmos.CosmosClient
) -> None:
    proxies = [client.get_database_client(DB).get_container_client(COLL) for _ in range(6)]
    server.pkranges_delay = 0.05
    results = await asyncio.gather(*(p.read_feed_ranges() for p in proxies))
    assert all(r == results[0] for r in results) and len(results[0]) == 2
    assert len(server.pkranges_requests()) == 2  # one drain (200 + 304), not six
    server.split("1", "BF")
    results = await asyncio.gather(*(p.read_feed_ranges(force_refresh=True) for p in proxies))
    assert all(len(r) == 3 for r in results)
    assert len(server.pkranges_requests()) == 4


async def test_a_cancelled_reader_hands_over_to_a_waiter(
    server: FakePartitionedServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client(DB).get_container_client(COLL)
    server.pkranges_delay = 0.2
    arrived = asyncio.Event()

    async def note(_: Any, record: RecordedRequest) -> None:
        arrived.set()

    server.before_reply.append(note)
    leader = asyncio.create_task(container.read_feed_ranges())
    await asyncio.wait_for(arrived.wait(), 5)
    waiter = asyncio.create_task(container.read_feed_ranges())
    await asyncio.sleep(0.01)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    server.pkranges_delay = 0.0
    assert len(await waiter) == 2  # the waiter read the map itself instead of failing
    assert client._core.routing_maps._inflight == {}


async def test_a_failed_read_reaches_every_waiter_and_is_not_cached(
    server: FakePartitionedServer, client: aiocosmos.CosmosClient
) -> None:
    container = client.get_database_client(DB).get_container_client(COLL)
    server.script(Reply.error(403, message="no"), method="GET", path=PKRANGES_PATH)
    server.pkranges_delay = 0.05
    results = await asyncio.gather(container.read_feed_ranges(), container.read_feed_ranges(),
                                   return_exceptions=True)
    assert all(isinstance(r, aiocosmos.Forbidden) for r in results)
    assert len(server.pkranges_requests()) == 1
    assert client._core.routing_maps.cached(LINK) is None
    assert len(await container.read_feed_ranges()) == 2  # the next call reads again


async def test_the_local_server_numeric_range_id_is_read_as_a_string(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    # What the local server answers: a numeric id, etag "1", then 304 for If-None-Match.
    server.script(Reply.json({"PartitionKeyRanges": [{"id": 0, "minInclusive": "", "maxExclusive": "FF"}]},
                             etag='"1"'), Reply(status=304, headers={"etag": '"1"'}), method="GET", path=PKRANGES_PATH)
    assert await container.read_feed_ranges() == [FeedRange.full()]
    assert container._core.routing_maps.cached(LINK).by_id("0") is not None  # type: ignore[union-attr]
