"""``.diagnostics`` of a cross-partition query's pages, over real local-server shards (the sharded front
of test_query_engine_shards.py): a page merged from several range requests lists each of them (range,
status, charge, activity id, attempts), every range request of the query appears on exactly one page,
and the list is bounded (``MAX_RANGE_REQUESTS``)."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos import diagnostics
from tests.integration.test_query_engine_shards import World, shapes, world  # noqa: F401 (the fixture)


async def test_each_merged_page_lists_the_range_requests_it_was_made_of(world: World) -> None:  # noqa: F811
    shape = shapes()[0]  # ORDER BY: every page merges the four ranges
    async with world.front_client() as client:
        container = world.sharded(client)
        before = len(world.front.range_requests)
        pages = [page async for page in container.query_items(shape.text, max_item_count=10).by_page()]
        sent = world.front.range_requests[before:]

    described = [request for page in pages for request in page.diagnostics.as_dict()["requests"]]
    assert len(described) == len(sent)  # each range request on exactly one page
    assert sorted(r["range"] for r in described) == sorted(r for r, _ in sent)
    first = pages[0].diagnostics.as_dict()
    assert {r["range"] for r in first["requests"]} == {"0", "1", "2", "3"}
    assert first["requests_left_off"] == 0
    for page in pages:
        data = page.diagnostics.as_dict()
        # The page's own charge is its range requests' (the first page also carries the query plan's).
        own = float(page.headers["x-ms-request-charge"])
        assert sum(r["request_charge"] for r in data["requests"]) == pytest.approx(own, abs=0.01)
        for request in data["requests"]:
            assert request["status_code"] == 200 and request["attempts"] == 1 and request["failed"] == []
            assert "activity_id" in request and request["request_charge"] > 0  # (the front sends no activity ids)
            assert request["duration"] is not None and request["duration"] >= 0


async def test_the_list_is_bounded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr("aiocosmos._query.fanout.MAX_RANGE_REQUESTS", 2)
    async with world.front_client() as client:
        container = world.sharded(client)
        page = await container.query_items(shapes()[0].text, max_item_count=10).by_page().__anext__()
    data = page.diagnostics.as_dict()
    # Four ranges (and any page already prefetched since): two described, the rest counted.
    assert len(data["requests"]) == 2 and data["requests_left_off"] >= 2
    assert diagnostics.MAX_RANGE_REQUESTS == 50
    assert isinstance(page.diagnostics, aiocosmos.diagnostics.Diagnostics)


def test_a_range_request_after_retries_lists_them() -> None:
    """The range entry of a request that succeeded after failures (the pipeline's attempts header)."""
    error = aiocosmos.exceptions.TooManyRequests("throttled", status_code=429, sub_status=3200,
                                                 headers={"x-ms-activity-id": "a1"})
    failed = diagnostics.encode_failures([diagnostics.failure_record(None, error, 0.1, 0)])
    headers = {"x-ms-request-charge": "2.5", "x-ms-activity-id": "a2", diagnostics.ATTEMPTS_HEADER: failed}
    page_headers = diagnostics.RangeRequests({"x-ms-request-charge": "2.50"}, [(headers, None, "7")], 0)
    data = diagnostics.from_response(page_headers, 200, None).as_dict()
    assert data["requests"] == [{"range": "7", "status_code": 200, "sub_status": 0, "request_charge": 2.5,
                                 "activity_id": "a2", "attempts": 2, "failed": [[429, 3200, "TooManyRequests"]],
                                 "duration": None}]
    earlier = diagnostics.RangeRequests({}, [(headers, None, "5")], 1)
    merged = diagnostics.RangeRequests({}, [(headers, None, "6")], 0).absorb(earlier)
    assert [r[2] for r in merged.requests] == ["5", "6"] and merged.left_off == 1
