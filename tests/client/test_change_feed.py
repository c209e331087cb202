"""The change feed at the recording server (playing a partitioned container, tests/client/fake_partitions.py).

* Wire parity with azure.cosmos.aio 4.17: from the beginning, now, a point in time, a feed range, a
  partition key (a documented difference) and a continuation.
* Behaviour: two ranges read round-robin until 304; a split (410/1002) and a merge in the middle of
  a feed with every change delivered exactly once, and continuations from before the split resuming
  exactly; 304 = caught up; tokens checked before any I/O; ``watch_changes`` on a fake clock,
  through 429s, and cancelled cleanly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos import FeedRange
from aiocosmos.testing import FakeClock
from tests.client.azure_parity import signed_with
from tests.client.conftest import COLL, DB, DOCS_PATH, KEY, ClientFactory
from tests.client.fake_partitions import FakePartitionedServer, epk_of
from tests.client.recording_server import RecordedRequest, Reply

LINK = f"dbs/{DB}/colls/{COLL}"

# Which range each value falls in with the default boundary "20" (range "0" is ["", "20")); the
# split of range "0" at "10" puts LEFT_PKS on one side and RIGHT_OF_SPLIT on the other.
LEFT_PKS = ["p0", "p1", "p4", "p6", "p9"]  # EPK < "10"
RIGHT_OF_SPLIT = ["p7", "p8"]  # "10" <= EPK < "20"
RANGE_1_PKS = ["p2", "p3", "p5", "p10", "p11"]  # EPK >= "20"


@pytest.fixture
async def server() -> AsyncIterator[FakePartitionedServer]:
    async with FakePartitionedServer() as fake:
        yield fake


def test_the_fixture_values_fall_where_the_tests_expect() -> None:
    assert all(epk_of(pk) < "10" for pk in LEFT_PKS)
    assert all("10" <= epk_of(pk) < "20" for pk in RIGHT_OF_SPLIT)
    assert all(epk_of(pk) >= "20" for pk in RANGE_1_PKS)


def docs(*pks: str, prefix: str = "d") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{n}", "pk": pk, "n": n} for n, pk in enumerate(pks)]


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


async def all_pages(pages: aiocosmos.ChangeFeedPages[dict[str, Any]]) -> list[aiocosmos.Page[dict[str, Any]]]:
    return [page async for page in pages]


# ---------------------------------------------------------------------------------------------------
# Wire parity with azure.cosmos.aio

SHAPE_HEADERS = (
    "A-IM", "If-None-Match", "If-Modified-Since", "x-ms-documentdb-partitionkeyrangeid",
    "x-ms-documentdb-partitionkey", "x-ms-max-item-count", "x-ms-version", "x-ms-read-key-type",
    "x-ms-start-epk", "x-ms-end-epk", "x-ms-cosmos-changefeed-wire-format-version",
)


def shape(request: RecordedRequest) -> tuple[str | None, ...]:
    """What a change-feed request says, after checking its signature (get, docs, container link)."""
    assert signed_with(request, "get", "docs", LINK), f"{request!r} is not signed as a docs feed read"
    return (request.method, request.path.rstrip("/"), *(request.headers.get(h) for h in SHAPE_HEADERS))


def shapes(requests: list[RecordedRequest]) -> list[tuple[str | None, ...]]:
    """The distinct request shapes (azure-cosmos repeats some requests, e.g. an empty first
    point-in-time fetch; the order across ranges differs)."""
    return sorted(set(map(shape, requests)), key=repr)


async def sdk_change_feed(server: FakePartitionedServer, **kwargs: Any) -> tuple[list[Any], list[RecordedRequest]]:
    before = len(server.change_feed_requests())
    async with AzureClient(server.url, credential=KEY) as azure_client:
        azure_container = azure_client.get_database_client(DB).get_container_client(COLL)
        items = [item async for item in azure_container.query_items_change_feed(**kwargs)]
    return items, server.change_feed_requests()[before:]


async def our_change_feed(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy, **kwargs: Any
) -> tuple[list[Any], list[RecordedRequest]]:
    before = len(server.change_feed_requests())
    items = [item async for item in container.query_items_change_feed(**kwargs)]
    requests = server.change_feed_requests()[before:]
    assert all(r.path == DOCS_PATH for r in requests)
    return items, requests


def by_lsn(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in sorted(items, key=lambda item: item["_lsn"])]


@pytest.mark.parametrize("case", ["beginning", "now", "point_in_time", "feed_range", "all_versions"])
async def test_change_feed_wire_parity_with_azure(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy, case: str
) -> None:
    server.write(*docs("p0", "p2", "p7", "p3", "p1", "p5"))
    cutoff = dt.datetime.fromtimestamp(server.now + 1, dt.UTC)
    server.write(*docs("p4", "p10", prefix="late"))
    kwargs: dict[str, Any] = {
        "beginning": {"start_time": "Beginning", "max_item_count": 2},
        "now": {"start_time": "Now"},
        "point_in_time": {"start_time": cutoff},
        "feed_range": {"start_time": "Beginning", "feed_range": FeedRange("08", "1A").to_dict()},
        "all_versions": {"start_time": "Now", "mode": "AllVersionsAndDeletes"},
    }[case]
    sdk_items, sdk_requests = await sdk_change_feed(server, **kwargs)
    our_items, our_requests = await our_change_feed(server, container, **kwargs)
    assert shapes(our_requests) == shapes(sdk_requests)
    assert by_lsn(our_items) == by_lsn(sdk_items)
    expected = {
        "beginning": 8, "now": 0, "point_in_time": 2, "all_versions": 0,
        "feed_range": sum(1 for item in server.changes if "08" <= item.epk < "1A"),
    }[case]
    assert len(our_items) == expected
    if case == "point_in_time":
        assert sorted(ids(our_items)) == ["late0", "late1"]
        assert all(r.headers["If-Modified-Since"] == cutoff.strftime("%a, %d %b %Y %H:%M:%S GMT") for r in our_requests)
    if case == "feed_range":  # part of one partition: its id plus the EPK bounds
        assert {(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers["x-ms-start-epk"],
                 r.headers["x-ms-end-epk"]) for r in our_requests} == {("0", "08", "1A")}


async def test_a_feed_range_across_partitions_reads_only_that_range(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.write(*docs("p0", "p2", "p7", "p3", "p1", "p5", "p4", "p10"))
    feed_range = FeedRange("10", "30")
    sdk_items, _ = await sdk_change_feed(server, start_time="Beginning", feed_range=feed_range.to_dict())
    our_items, our_requests = await our_change_feed(server, container, start_time="Beginning", feed_range=feed_range)
    inside = sorted(c.document["id"] for c in server.changes if "10" <= c.epk < "30")
    assert sorted(ids(our_items)) == inside == ["d2", "d3", "d7"]
    # Each part is read with the EPK bounds of its intersection with a partition. (azure-cosmos 4.17
    # reads the whole partitions the range touches, so it also returns changes outside the range.)
    assert {(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers["x-ms-start-epk"],
             r.headers["x-ms-end-epk"]) for r in our_requests} == {("0", "10", "20"), ("1", "20", "30")}
    assert set(ids(our_items)) <= set(ids(sdk_items))


async def test_partition_key_feed_parity_with_azure_and_the_documented_difference(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.write(*docs("p0", "p2", "p0", "p7"))
    sdk_items, sdk_requests = await sdk_change_feed(server, start_time="Beginning", partition_key="p0")
    pkrange_reads = len(server.pkranges_requests())
    our_items, our_requests = await our_change_feed(server, container, start_time="Beginning", partition_key="p0")
    assert len(server.pkranges_requests()) == pkrange_reads  # aiocosmos needs no routing map for this
    assert by_lsn(our_items) == by_lsn(sdk_items) == ["d0", "d2"]
    # azure-cosmos addresses the partition key by its EPK inside its physical range; aiocosmos sends
    # the partition-key header and lets the gateway route it (no routing map, nothing to split).
    epk = (await container.feed_range_from_partition_key("p0")).min
    assert {(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers["x-ms-start-epk"]) for r in sdk_requests} \
        == {("0", epk)}
    assert all(r.headers["x-ms-documentdb-partitionkey"] == '["p0"]' for r in our_requests)
    assert all("x-ms-documentdb-partitionkeyrangeid" not in r.headers for r in our_requests)
    for sdk, ours in zip(sdk_requests, our_requests, strict=False):
        for name in ("A-IM", "If-None-Match", "x-ms-version"):
            assert sdk.headers.get(name) == ours.headers.get(name)
    assert [r.headers.get("If-None-Match") for r in our_requests] == [None, '"3"']


async def test_resuming_from_a_continuation_has_parity_with_azure(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.write(*docs("p0", "p2", "p1", "p3"))
    async with AzureClient(server.url, credential=KEY) as azure_client:
        azure_container = azure_client.get_database_client(DB).get_container_client(COLL)
        pages = azure_container.query_items_change_feed(start_time="Beginning", max_item_count=1).by_page()
        # Two pages: one from each range. (azure-cosmos 4.17 cannot resume from a token taken before
        # every range was read once: it refuses its own token, "Invalid composite token [Missing token]".)
        first = [item async for item in await pages.__anext__()] + [item async for item in await pages.__anext__()]
        sdk_token = pages.continuation_token
        start = len(server.change_feed_requests())
        sdk_rest = [item async for item in azure_container.query_items_change_feed(continuation=sdk_token,
                                                                                    max_item_count=1)]
        sdk_requests = server.change_feed_requests()[start:]
    our_pages = container.query_items_change_feed(start_time="Beginning", max_item_count=1).by_page()
    our_first = [await our_pages.__anext__(), await our_pages.__anext__()]
    assert ids(our_first[0].items + our_first[1].items) == ids(first) == ["d0", "d1"]
    token = our_first[1].continuation
    assert token is not None
    start = len(server.change_feed_requests())
    our_rest = [item async for item in container.query_items_change_feed(continuation=token, max_item_count=1)]
    our_requests = server.change_feed_requests()[start:]
    assert by_lsn(our_rest) == by_lsn(sdk_rest) == ["d2", "d3"]
    assert shapes(our_requests) == shapes(sdk_requests)
    # Each range continues from its own etag: the LSN of d0 (range 0) and of d1 (range 1).
    assert {(r.headers.get("If-None-Match"), r.headers.get("x-ms-documentdb-partitionkeyrangeid"))
            for r in our_requests} >= {('"1"', "0"), ('"2"', "1")}


async def test_a_token_taken_before_every_range_was_read_resumes_the_others_from_the_start(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.write(*docs("p0", "p2", "p1", "p3"))
    pages = container.query_items_change_feed(start_time="Beginning", max_item_count=1).by_page()
    first = await pages.__anext__()
    assert ids(first.items) == ["d0"] and first.continuation is not None
    start = len(server.change_feed_requests())
    rest = [item async for item in container.query_items_change_feed(continuation=first.continuation)]
    assert sorted(ids(rest)) == ["d1", "d2", "d3"]
    # Range 1 had not been read: it starts where the feed started (the beginning); range 0 from d0.
    assert [(r.headers.get("x-ms-documentdb-partitionkeyrangeid"), r.headers.get("If-None-Match"))
            for r in server.change_feed_requests()[start:start + 2]] == [("1", None), ("0", '"1"')]


# ---------------------------------------------------------------------------------------------------
# Behaviour


async def test_two_ranges_are_read_round_robin_until_each_answers_304(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    written = server.write(*docs("p0", "p2", "p1", "p3", "p4", "p5", "p6"))
    pages = container.query_items_change_feed(start_time="Beginning", max_item_count=2).by_page()
    got = await all_pages(pages)
    items = [item for page in got for item in page]
    assert sorted(ids(items)) == sorted(ids(written)) and len(items) == len(written)
    assert all(1 <= len(page) <= 2 and page.continuation and page.status_code == 200 for page in got)
    requests = server.change_feed_requests()
    ranges = [r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in requests]
    statuses = [r.reply.status for r in requests if r.reply]
    # Range 0 has 4 changes (2 pages), range 1 has 3 (2 pages): alternate, then one 304 each.
    assert list(zip(ranges, statuses, strict=True)) == [
        ("0", 200), ("1", 200), ("0", 200), ("1", 200), ("0", 304), ("1", 304)]
    # Within a range, changes come in LSN order; positions follow the etags.
    for range_id in ("0", "1"):
        in_range = [item for item in items if server.range_of(item["pk"]) == range_id]
        assert [item["_lsn"] for item in in_range] == sorted(item["_lsn"] for item in in_range)
    # Range 0 holds LSNs 1 3 5 7, range 1 holds 2 4 6: each page's etag is the LSN of its last change.
    assert [r.headers.get("If-None-Match") for r in requests] == [None, None, '"3"', '"4"', '"7"', '"6"']
    # The iterator's continuation after the pass resumes with nothing new; after writes, only them.
    assert [item async for item in container.query_items_change_feed(continuation=pages.continuation)] == []
    new = server.write(*docs("p9", "p10", prefix="new"))
    assert sorted(ids([item async for item in container.query_items_change_feed(
        continuation=pages.continuation)])) == sorted(ids(new))


async def test_a_split_in_the_middle_of_a_feed_loses_and_repeats_nothing(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    container = make_client().get_database_client(DB).get_container_client(COLL)
    written = server.write(*docs(*LEFT_PKS[:3], *RIGHT_OF_SPLIT, *RANGE_1_PKS[:2]))
    pages = container.query_items_change_feed(start_time="Beginning", max_item_count=2).by_page()
    before = [await pages.__anext__(), await pages.__anext__()]  # range 0: d0 d1; range 1: d5 d6
    token_before_split = before[-1].continuation
    assert token_before_split is not None
    seen_before = ids([item for page in before for item in page])
    assert seen_before == ["d0", "d1", "d5", "d6"]

    left, right = server.split("0", "10")
    written += server.write(*docs(LEFT_PKS[3], RIGHT_OF_SPLIT[0], RANGE_1_PKS[2], prefix="after"))
    start = len(server.requests)
    rest = [item for page in await all_pages(pages) for item in page]
    all_ids = seen_before + ids(rest)
    assert sorted(all_ids) == sorted(ids(written)) and len(all_ids) == len(set(all_ids))

    log = server.requests[start:]
    feed = [r for r in log if r in server.change_feed_requests()]
    gone = [r for r in feed if r.reply and r.reply.status == 410]
    assert [r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in gone] == ["0"]
    # One incremental refresh of the routing map, right after the 410.
    refresh = [r for r in log if r.path.rstrip("/").endswith("/pkranges")]
    assert [r.headers.get("If-None-Match") for r in refresh] == ['"pk1"', '"pk2"']
    # Both children continue from the parent's position ("2": the LSN of d1).
    first_child_reads = {}
    for r in feed:
        first_child_reads.setdefault(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.headers.get("If-None-Match"))
    assert first_child_reads[left] == first_child_reads[right] == '"2"'
    assert "x-ms-start-epk" not in {h.lower() for r in feed for h in r.headers}  # children are whole ranges

    # The token from before the split resumes exactly, on the same client (its map already knows
    # the children) and on a fresh client (which reads the children at once, with no 410).
    for client_container in (container, make_client().get_database_client(DB).get_container_client(COLL)):
        start = len(server.requests)
        resumed = [item async for item in client_container.query_items_change_feed(continuation=token_before_split)]
        assert sorted(ids(resumed)) == sorted(set(ids(written)) - set(seen_before))
        assert len(resumed) == len(set(ids(resumed)))
        assert all(r.reply and r.reply.status != 410 for r in server.requests[start:])


async def test_a_merge_reads_each_sub_range_with_its_epk_bounds(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.write(*docs("p0", "p2"))
    pages = container.query_items_change_feed(start_time="Beginning").by_page()
    assert len([item for page in await all_pages(pages) for item in page]) == 2
    merged = server.merge("0", "1")
    new = server.write(*docs("p1", "p3", "p7", prefix="m"))
    start = len(server.change_feed_requests())
    got = [item async for item in container.query_items_change_feed(continuation=pages.continuation)]
    assert sorted(ids(got)) == sorted(ids(new))
    feed = server.change_feed_requests()[start:]
    assert feed[0].reply is not None and feed[0].reply.status == 410
    bounded = {(r.headers.get("x-ms-start-epk"), r.headers.get("x-ms-end-epk"), r.headers.get("If-None-Match"))
               for r in feed[1:]}
    assert all(r.headers["x-ms-documentdb-partitionkeyrangeid"] == merged for r in feed[1:])
    assert {(low, high) for low, high, _ in bounded} == {("", "20"), ("20", "FF")}
    assert ("", "20", '"1"') in bounded and ("20", "FF", '"2"') in bounded  # each from its own position


async def test_gone_too_often_is_raised(server: FakePartitionedServer, container: aiocosmos.ContainerProxy) -> None:
    server.script(forever=Reply.error(410, sub_status=1002), method="GET", path=DOCS_PATH)
    with pytest.raises(aiocosmos.Gone) as info:
        [item async for item in container.query_items_change_feed(start_time="Beginning")]
    assert info.value.sub_status == 1002
    assert len(server.change_feed_requests()) == 4  # the first try and three after a refresh
    server.reset()
    server.script(Reply.error(410, sub_status=1000), method="GET", path=DOCS_PATH)  # name cache: not a split
    with pytest.raises(aiocosmos.Gone):
        [item async for item in container.query_items_change_feed(start_time="Beginning")]
    assert len(server.change_feed_requests()) == 1


async def test_304_is_caught_up_and_now_resumes_from_the_position_it_was_given(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.write(*docs("p0", "p2", "p1"))
    pages = container.query_items_change_feed().by_page()  # start_time defaults to "Now"
    assert await all_pages(pages) == []
    requests = server.change_feed_requests()
    assert [(r.headers.get("If-None-Match"), r.reply and r.reply.status) for r in requests] == [("*", 304)] * 2
    token = pages.continuation
    new = server.write(*docs("p4", "p3", prefix="n"))
    start = len(server.change_feed_requests())
    got = [item async for item in container.query_items_change_feed(continuation=token)]
    assert sorted(ids(got)) == sorted(ids(new))
    # The 304 carried the position ("3"); "Now" was not asked again, so nothing in between was lost.
    assert {r.headers.get("If-None-Match") for r in server.change_feed_requests()[start:]} >= {'"3"'}
    assert "*" not in {r.headers.get("If-None-Match") for r in server.change_feed_requests()[start:]}


async def test_a_partition_key_feed_and_its_token(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.write(*docs("p0", "p2", "p0", "p0"))
    pages = container.query_items_change_feed(start_time="Beginning", partition_key="p0", max_item_count=2).by_page()
    got = await all_pages(pages)
    assert [ids(page.items) for page in got] == [["d0", "d2"], ["d3"]]
    assert server.pkranges_requests() == []
    # The token carries the scope: it resumes on its own, and a different scope refuses it.
    server.write(*docs("p0", "p2", prefix="x"))
    resumed = [item async for item in container.query_items_change_feed(continuation=pages.continuation)]
    assert ids(resumed) == ["x0"]
    assert server.change_feed_requests()[-1].headers["x-ms-documentdb-partitionkey"] == '["p0"]'
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="partition key"):
        container.query_items_change_feed(continuation=pages.continuation, partition_key="p2")
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="whole container"):
        container.query_items_change_feed().by_page(pages.continuation)
    # A wrong number of components is found once the definition is known (on the first fetch).
    with pytest.raises(aiocosmos.ValidationError, match="components"):
        [item async for item in container.query_items_change_feed(partition_key=["p0", "x"])]


async def test_feed_range_from_partition_key_scopes_a_feed_to_that_key(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.write(*docs("p7", "p8", "p7", "p0"))
    feed_range = await container.feed_range_from_partition_key("p7")
    got = [item async for item in container.query_items_change_feed(start_time="Beginning", feed_range=feed_range)]
    assert ids(got) == ["d0", "d2"]
    request = server.change_feed_requests()[0]
    assert request.headers["x-ms-start-epk"] == feed_range.min
    assert request.headers["x-ms-end-epk"] == feed_range.normalized().max
    assert await container.is_feed_range_subset((await container.read_feed_ranges())[0], feed_range)


async def test_the_session_token_rides_on_change_feed_reads(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(Reply.json({"id": "a", "pk": "p0"}, 201, x_ms_session_token="0:1#42"), method="POST",
                  path=DOCS_PATH)
    await container.create_item({"id": "a", "pk": "p0"})
    [item async for item in container.query_items_change_feed(start_time="Beginning")]
    assert {r.headers.get("x-ms-session-token") for r in server.change_feed_requests()} == {"0:1#42"}


async def test_all_versions_and_deletes_sends_the_full_fidelity_headers(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    pages = container.query_items_change_feed(mode="AllVersionsAndDeletes").by_page()
    await all_pages(pages)
    assert {(r.headers["A-IM"], r.headers["x-ms-cosmos-changefeed-wire-format-version"], r.headers["If-None-Match"])
            for r in server.change_feed_requests()} == {("Full-Fidelity Feed", "2021-09-15", "*")}
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="mode 'AllVersionsAndDeletes'"):
        container.query_items_change_feed(continuation=pages.continuation, mode="LatestVersion")


async def test_continuation_tokens_are_checked_before_any_io(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    client = make_client()
    container = client.get_database_client(DB).get_container_client(COLL)
    other = client.get_database_client(DB).get_container_client("other")
    server.write(*docs("p0"))
    pages = container.query_items_change_feed(start_time="Beginning").by_page()
    await all_pages(pages)
    token = pages.continuation
    paging_token = "ac1.0011223344556677.00000000.AAAA"  # a query token: not a change feed's
    head, _, payload = token.rpartition(".")
    flipped = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
    start = len(server.requests)
    for bad, message in [
        ("eyJ2IjogInYyIn0=", "not issued by aiocosmos"),
        (paging_token, "not issued by aiocosmos"),
        (12345, "not issued by aiocosmos"),
        (f"{head}.{flipped}", "damaged"),
        (token[:-6], "damaged"),
        (token.replace(".", ".x", 1), "another container"),
    ]:
        with pytest.raises(aiocosmos.InvalidContinuationToken, match=message):
            container.query_items_change_feed(continuation=bad)  # type: ignore[arg-type]
        with pytest.raises(aiocosmos.InvalidContinuationToken, match=message):
            container.query_items_change_feed().by_page(bad)  # type: ignore[arg-type]
        with pytest.raises(aiocosmos.InvalidContinuationToken, match=message):
            container.watch_changes(continuation=bad)  # type: ignore[arg-type]
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="another container"):
        other.query_items_change_feed(continuation=token)
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="feed range"):
        container.query_items_change_feed(continuation=token, feed_range=FeedRange("", "20"))
    assert server.requests[start:] == []
    assert isinstance(aiocosmos.InvalidContinuationToken("x"), aiocosmos.ValidationError)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"start_time": "yesterday"}, "start_time"),
    ({"start_time": dt.datetime(2024, 1, 1)}, "time zone"),
    ({"start_time": 1700000000}, "start_time"),
    ({"mode": "Incremental"}, "mode"),
    ({"mode": "AllVersionsAndDeletes", "start_time": "Beginning"}, "AllVersionsAndDeletes"),
    ({"partition_key": "p0", "feed_range": FeedRange.full()}, "exclusive"),
    ({"feed_range": {"min": "", "max": "FF"}}, "feed range"),
    ({"feed_range": FeedRange("10", "10")}, "empty"),
    ({"max_item_count": 0}, "max_item_count"),
    ({"partition_key": {"a": 1}}, "partition key"),
])
async def test_arguments_are_checked_before_any_io(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(aiocosmos.ValidationError, match=message):
        container.query_items_change_feed(**kwargs)
    with pytest.raises(aiocosmos.ValidationError, match=message):
        container.watch_changes(**kwargs)
    assert server.requests == []


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf"), True, "1"])
def test_watch_changes_needs_a_positive_poll_interval(container: aiocosmos.ContainerProxy, interval: Any) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="poll_interval"):
        container.watch_changes(poll_interval=interval)


# ---------------------------------------------------------------------------------------------------
# watch_changes


class ScriptedClock(FakeClock):
    """A FakeClock that runs ``on_sleep(number of sleeps so far)`` after each sleep."""

    def __init__(self, on_sleep: Callable[[int], None]) -> None:
        super().__init__()
        self.on_sleep = on_sleep

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self.on_sleep(len(self.sleeps))


async def test_watch_changes_polls_on_the_clock_and_yields_only_batches(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    def on_sleep(count: int) -> None:
        if count == 2:
            server.write(*docs("p1", "p3", prefix="later"))

    clock = ScriptedClock(on_sleep)
    container = make_client(clock=clock).get_database_client(DB).get_container_client(COLL)
    first = server.write(*docs("p0", "p2", "p4"))
    watch = container.watch_changes(poll_interval=2.5, start_time="Beginning", max_item_count=2)
    batches = []
    charges: list[float] = []
    async for batch in watch:
        assert batch.items, "watch_changes yields non-empty batches only"
        batches.append((list(clock.sleeps), ids(batch.items), batch.continuation))
        charges.append(batch.request_charge)
        if sum(len(b[1]) for b in batches) == 5:
            break
    # The first pass reads everything at once; two idle polls 2.5 s apart; then the new changes.
    assert [(sleeps, sorted(batch)) for sleeps, batch, _ in batches] == [
        ([], ["d0", "d2"]), ([], ["d1"]), ([2.5, 2.5], ["later0"]), ([2.5, 2.5], ["later1"])]
    polls = [(r.headers["x-ms-documentdb-partitionkeyrangeid"], r.reply and r.reply.status)
             for r in server.change_feed_requests()]
    # The end of the first pass and the idle second pass: one 304 per range each.
    assert polls.count(("0", 304)) == 2 and polls.count(("1", 304)) == 2
    # Each reply costs 1 RU at the recording server; the four 304s are charged to the next batch.
    assert charges == [1.0, 1.0, 5.0, 1.0]
    assert {doc["id"] for doc in first} == {"d0", "d1", "d2"}
    # A batch's continuation resumes right after it, in query_items_change_feed too.
    rest = [item async for item in container.query_items_change_feed(continuation=batches[2][2])]
    assert ids(rest) == ["later1"]


async def test_watch_changes_backs_off_on_429_through_the_retry_policy(
    server: FakePartitionedServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    container = make_client().get_database_client(DB).get_container_client(COLL)
    server.write(*docs("p0"))
    server.script(Reply.error(429, retry_after_ms=700), Reply.error(429, retry_after_ms=300), method="GET",
                  path=DOCS_PATH)
    watch = container.watch_changes(start_time="Beginning")
    batch = await watch.__anext__()
    assert ids(batch.items) == ["d0"]
    assert clock.sleeps == [0.7, 0.3]
    assert [r.reply.status for r in server.change_feed_requests() if r.reply] == [429, 429, 200]


async def test_watch_changes_rides_out_an_outage_and_delivers_what_changed_during_it_once(
    server: FakePartitionedServer, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Two ranges, real etags. After the first batches the feed answers 503 eight times (two failed
    # passes under the default policy, four attempts each) while new changes are written; the watcher
    # backs off on the clock, resumes from its position and delivers each change exactly once.
    outage = [Reply.error(503)] * 8

    def on_sleep(count: int) -> None:
        if count == 1:  # the first poll interval
            server.script(*outage, method="GET", path=DOCS_PATH)
            server.write(*docs("p0", "p2", prefix="during"))

    clock = ScriptedClock(on_sleep)
    container = make_client(clock=clock).get_database_client(DB).get_container_client(COLL)
    server.write(*docs("p0", "p2", "p4"))
    watch = container.watch_changes(poll_interval=1.0, start_time="Beginning",
                                    backoff=aiocosmos.WatchBackoff(base_delay=8.0, max_delay=10.0))
    seen: list[str] = []
    async for batch in watch:
        seen.extend(ids(batch.items))
        if len(seen) >= 5:
            break
    await watch.aclose()
    assert sorted(seen) == ["d0", "d1", "d2", "during0", "during1"]
    assert watch.stats.transient_failures == 2 and watch.stats.consecutive_failures == 0
    backoffs = [s for s in clock.sleeps if s >= 4.0]
    assert len(backoffs) == 2 and 4.0 <= backoffs[0] <= 8.0 and 5.0 <= backoffs[1] <= 10.0
    assert [r.reply.status for r in server.change_feed_requests() if r.reply].count(503) == 8
    assert sum("watch_changes" in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 2


async def test_watch_changes_ends_at_a_non_transient_error(
    server: FakePartitionedServer, make_client: ClientFactory
) -> None:
    container = make_client().get_database_client(DB).get_container_client(COLL)
    server.script(Reply.error(403, message="forbidden"), method="GET", path=DOCS_PATH)
    watch = container.watch_changes(start_time="Beginning")
    with pytest.raises(aiocosmos.Forbidden):
        await watch.__anext__()
    assert watch.stats.transient_failures == 0
    with pytest.raises(StopAsyncIteration):
        await watch.__anext__()  # it has ended


def traced_session() -> tuple[aiohttp.ClientSession, dict[str, int]]:
    counts = {"started": 0, "ended": 0, "failed": 0}
    trace = aiohttp.TraceConfig()

    async def started(*_: Any) -> None:
        counts["started"] += 1

    async def ended(*_: Any) -> None:
        counts["ended"] += 1

    async def failed(*_: Any) -> None:
        counts["failed"] += 1

    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    trace.on_request_exception.append(failed)
    return aiohttp.ClientSession(trace_configs=[trace]), counts


async def test_cancelling_a_watch_mid_request_leaves_nothing_behind(server: FakePartitionedServer) -> None:
    session, counts = traced_session()
    clock = FakeClock()
    client = aiocosmos.CosmosClient(server.url, credential=KEY, clock=clock, http_session=session)
    try:
        container = client.get_database_client(DB).get_container_client(COLL)
        server.write(*docs("p0", "p2"))
        received: list[aiocosmos.Page[dict[str, Any]]] = []
        arrived = asyncio.Event()

        async def hold(_: Any, record: RecordedRequest) -> None:
            if "a-im" in record.headers and len(received) == 2:
                arrived.set()

        async def consume() -> None:
            async for batch in container.watch_changes(start_time="Beginning", poll_interval=1.0):
                received.append(batch)
                if len(received) == 2:
                    server.feed_delay = 0.3  # the next poll hangs at the server

        server.before_reply.append(hold)
        task = asyncio.create_task(consume())
        await asyncio.wait_for(arrived.wait(), 5)
        assert counts["started"] - counts["ended"] - counts["failed"] == 1  # one request in flight
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert counts["started"] == counts["ended"] + counts["failed"]  # nothing pending
        connector = session.connector
        assert connector is not None and not connector._acquired  # no connection still held
        assert client._core.routing_maps._inflight == {}
        sent = len(server.requests)
        await asyncio.sleep(0.4)
        assert len(server.requests) == sent  # and nothing polls on in the background
        assert [len(batch) for batch in received] == [1, 1]
    finally:
        await client.close()
        await session.close()


async def test_cancelling_a_watch_while_it_sleeps_leaves_nothing_behind(server: FakePartitionedServer) -> None:
    sleeping = asyncio.Event()

    class BlockingClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)
            sleeping.set()
            await asyncio.Event().wait()  # until cancelled

    session, counts = traced_session()
    clock = BlockingClock()
    client = aiocosmos.CosmosClient(server.url, credential=KEY, clock=clock, http_session=session)
    try:
        container = client.get_database_client(DB).get_container_client(COLL)

        async def consume() -> None:
            async for _ in container.watch_changes(poll_interval=5.0):
                raise AssertionError("no changes were written")

        task = asyncio.create_task(consume())
        await asyncio.wait_for(sleeping.wait(), 5)
        assert clock.sleeps == [5.0]
        assert [r.headers.get("If-None-Match") for r in server.change_feed_requests()] == ["*", "*"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # pkranges (200, then 304) and one "Now" read per range; every one of them finished.
        assert counts["started"] == counts["ended"] == 4 and counts["failed"] == 0
        connector = session.connector
        assert connector is not None and not connector._acquired
    finally:
        await client.close()
        await session.close()


async def test_priority_rides_on_every_change_feed_request_as_in_azure(
    server: FakePartitionedServer, container: aiocosmos.ContainerProxy
) -> None:
    server.write(*docs("p0", "p2"))
    _, theirs = await sdk_change_feed(server, start_time="Beginning", priority="Low")
    _, ours = await our_change_feed(server, container, start_time="Beginning", priority="Low", throughput_bucket=3)
    assert {r.headers.get("x-ms-cosmos-priority-level") for r in theirs} == {"Low"}
    assert {r.headers.get("x-ms-cosmos-priority-level") for r in ours} == {"Low"}
    assert {r.headers.get("x-ms-cosmos-throughput-bucket") for r in ours} == {"3"}
    with pytest.raises(TypeError, match="excluded_regions"):
        container.query_items_change_feed(excluded_locations=["East US"])
    with pytest.raises(aiocosmos.ValidationError, match="priority"):
        container.query_items_change_feed(priority="Urgent")
