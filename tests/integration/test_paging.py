"""Paging: 1,000 items in pages of 100, no loss, no duplicates, resumable from every page boundary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import aiocosmos

N = 1000
PAGE = 100


@pytest.fixture
async def filled(container: aiocosmos.ContainerProxy) -> AsyncIterator[aiocosmos.ContainerProxy]:
    semaphore = asyncio.Semaphore(32)

    async def create(n: int) -> None:
        async with semaphore:
            await container.create_item({"id": f"item-{n:04d}", "pk": f"p{n % 10}", "n": n})

    await asyncio.gather(*(create(n) for n in range(N)))
    yield container


async def collect_pages(pager: aiocosmos.AsyncItemPaged[dict[str, object]],
                        token: str | None = None) -> list[aiocosmos.Page[dict[str, object]]]:
    return [page async for page in pager.by_page(continuation_token=token)]


@pytest.mark.parametrize("source", ["read_all_items", "query", "order_by"])
async def test_every_item_exactly_once_and_resume_from_every_boundary(
    filled: aiocosmos.ContainerProxy, source: str
) -> None:
    def pager() -> aiocosmos.AsyncItemPaged[dict[str, object]]:
        if source == "read_all_items":
            return filled.read_all_items(max_item_count=PAGE)
        if source == "query":
            return filled.query_items("SELECT * FROM c WHERE c.n >= @min", parameters=[{"name": "@min", "value": 0}],
                                      max_item_count=PAGE)
        return filled.query_items("SELECT * FROM c ORDER BY c.n DESC", max_item_count=PAGE)

    pages = await collect_pages(pager())
    assert [len(p) for p in pages] == [PAGE] * (N // PAGE)
    ids = [item["id"] for page in pages for item in page]
    assert len(ids) == N and len(set(ids)) == N
    if source == "order_by":
        assert [item["n"] for page in pages for item in page] == list(range(N - 1, -1, -1))
    assert all(p.continuation for p in pages[:-1]) and pages[-1].continuation is None
    assert all(p.request_charge > 0 and p.activity_id for p in pages)

    # Resume from every page boundary with a fresh pager: exactly the remaining items, in order.
    for index, page in enumerate(pages[:-1]):
        rest = await collect_pages(pager(), page.continuation)
        assert [item["id"] for p in rest for item in p] == ids[(index + 1) * PAGE:]

    # Iterating items directly gives the same items.
    assert [item["id"] async for item in pager()] == ids


async def test_page_size_may_change_on_resume(filled: aiocosmos.ContainerProxy) -> None:
    first = await anext(filled.read_all_items(max_item_count=PAGE).by_page())
    rest = await collect_pages(filled.read_all_items(max_item_count=250), first.continuation)
    assert [len(p) for p in rest] == [250, 250, 250, 150]
    assert len({i["id"] for p in rest for i in p} | {i["id"] for i in first}) == N


async def test_partition_scoped_query_pages(filled: aiocosmos.ContainerProxy) -> None:
    pager = filled.query_items("SELECT * FROM c", partition_key="p3", max_item_count=30)
    pages = await collect_pages(pager)
    items = [i for p in pages for i in p]
    assert [len(p) for p in pages] == [30, 30, 30, 10]
    assert len(items) == 100 and {i["pk"] for i in items} == {"p3"}
    count = [c async for c in filled.query_items("SELECT VALUE COUNT(1) FROM c", partition_key="p3")]
    assert count == [100]


async def test_bad_continuation_tokens_fail_before_any_io(filled: aiocosmos.ContainerProxy) -> None:
    pager = filled.query_items("SELECT * FROM c", max_item_count=PAGE)
    first = await anext(pager.by_page())
    assert first.continuation is not None

    with pytest.raises(aiocosmos.InvalidContinuationToken, match="not issued by aiocosmos"):
        pager.by_page(continuation_token="garbage")
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="not issued by aiocosmos"):
        pager.by_page(continuation_token="")
    other_query = filled.query_items("SELECT * FROM c WHERE c.n > 5", max_item_count=PAGE)
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="different request"):
        other_query.by_page(continuation_token=first.continuation)
    other_partition = filled.query_items("SELECT * FROM c", partition_key="p1", max_item_count=PAGE)
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="different request"):
        other_partition.by_page(continuation_token=first.continuation)
    damaged = first.continuation[:-4] + "!!!!"
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="damaged"):
        pager.by_page(continuation_token=damaged)


async def test_max_item_count_is_validated(container: aiocosmos.ContainerProxy) -> None:
    for bad in (0, -5, 2.5, True):
        with pytest.raises(aiocosmos.ValidationError, match="max_item_count"):
            container.read_all_items(max_item_count=bad)  # type: ignore[arg-type]
    assert [i async for i in container.query_items("SELECT * FROM c", max_item_count=-1)] == []


async def test_select_value_and_aggregates(filled: aiocosmos.ContainerProxy) -> None:
    assert [v async for v in filled.query_items("SELECT VALUE COUNT(1) FROM c")] == [N]
    top = [v async for v in filled.query_items("SELECT TOP 3 VALUE c.n FROM c ORDER BY c.n")]
    assert top == [0, 1, 2]
