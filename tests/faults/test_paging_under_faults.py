"""Queries and read feeds under faults and across a simulated partition split: exactly the expected
items, no duplicates, and resuming from a saved continuation is still exact.

About 410 (partition moved): the queries aiocosmos sends today are served by the gateway, which is not
pinned to a partition key range, so there is no routing map to refresh. Following the official SDKs
(spec §11.2: their query and feed page fetchers retry 410/1002 up to 3 times after a routing refresh,
resuming from the last continuation), a page that gets 410 with substatus 1002, 1007 or 1008 is
fetched again with the same continuation, at most 3 more times, then the Gone is raised. A point
read or write that gets 410 raises at once (the request-level policy does not retry it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import aiocosmos
from aiocosmos._feeds.core import FEED_GONE_RETRIES
from aiocosmos.testing import Fault, FaultProxy, ProxyRequest
from tests.faults.conftest import ClientFactory, check_escape, through

N = 600
PAGE = 40

READ_MIX = [
    Fault.throttle(retry_after_ms=2), Fault.retry_with(), Fault.timeout(), Fault.internal_error(),
    Fault.unavailable(), Fault.reset_before(), Fault.reset_after(), Fault.reset_mid_body(), Fault.truncate(),
    Fault.slow_headers(0.01), Fault.slow_body(0.002), Fault.session_not_available(), Fault.gone(1002),
    Fault.gone(1007), Fault.gone(1008), Fault.stale_connection(), Fault.close_after(),
]

Pager = Callable[[], aiocosmos.AsyncItemPaged[Any]]


@pytest.fixture
async def filled(fresh_container: aiocosmos.ContainerProxy) -> aiocosmos.ContainerProxy:
    semaphore = asyncio.Semaphore(32)

    async def create(n: int) -> None:
        async with semaphore:
            await fresh_container.create_item({"id": f"item-{n:04d}", "pk": f"p{n % 10}", "n": n})

    await asyncio.gather(*(create(n) for n in range(N)))
    return fresh_container


def pagers(container: aiocosmos.ContainerProxy) -> dict[str, Pager]:
    return {
        "read_all_items": lambda: container.read_all_items(max_item_count=PAGE),
        "query": lambda: container.query_items(
            "SELECT * FROM c WHERE c.n >= @min", parameters=[{"name": "@min", "value": 0}], max_item_count=PAGE),
        "order_by": lambda: container.query_items("SELECT * FROM c ORDER BY c.n DESC", max_item_count=PAGE),
    }


async def collect(
    pager: Pager, proxy: FaultProxy, policy: aiocosmos.RetryPolicy, token: str | None = None
) -> tuple[list[str], list[str | None], list[str]]:
    """Items, the continuation after each page, and the errors that escaped (each checked against
    the retry policy). Like an application, it resumes from the last continuation after an error."""
    ids: list[str] = []
    tokens: list[str | None] = []
    escaped: list[str] = []
    while True:
        try:
            async for page in pager().by_page(continuation_token=token):
                ids.extend(item["id"] for item in page)
                token = page.continuation
                tokens.append(token)
            return ids, tokens, escaped
        except aiocosmos.CosmosError as exc:
            injections = {i.activity_id: i for i in proxy.log if i.activity_id}
            escaped.append(check_escape(exc, idempotent=True, policy=policy, injections=injections))
            assert len(escaped) < 10


@pytest.mark.parametrize("source", ["read_all_items", "query", "order_by"])
async def test_every_item_exactly_once_under_faults_and_resume_is_exact(
    proxy: FaultProxy, make_client: ClientFactory, filled: aiocosmos.ContainerProxy, source: str
) -> None:
    policy = aiocosmos.RetryPolicy()
    container = through(make_client(retry=policy), filled)
    await container.read()
    proxy.add_rule(*READ_MIX, kinds=("query", "feed"), probability=0.3, name="mix")

    ids, tokens, escaped = await collect(pagers(container)[source], proxy, policy)

    expected = [f"item-{n:04d}" for n in range(N)]
    assert len(ids) == N and sorted(ids) == expected
    if source == "order_by":
        assert ids == expected[::-1]
    # Resume from several saved continuations, still under faults: exactly the rest, in order.
    for index in (0, 4, len(tokens) // 2, len(tokens) - 2):
        rest, _, more = await collect(pagers(container)[source], proxy, policy, tokens[index])
        assert rest == ids[(index + 1) * PAGE:]
        escaped += more
    assert len(proxy.log) >= 4, "the pages were faulted"
    print(f"\n{source}: {proxy.requests} requests, {len(proxy.log)} faults {dict(proxy.counts())}; "
          f"escaped as the policy says: {escaped}")


@pytest.mark.parametrize("source", ["read_all_items", "query", "order_by"])
async def test_a_split_during_paging_refetches_the_same_page(
    proxy: FaultProxy, make_client: ClientFactory, filled: aiocosmos.ContainerProxy, source: str
) -> None:
    """410/1002 on page 3, and the container's pkranges now show two ranges with parent 0: the page is
    fetched again with the same continuation and the result is exact."""
    client = make_client()
    container = through(client, filled)
    await container.read()
    sent: list[ProxyRequest] = []
    proxy.observers.append(lambda r: sent.append(r) if r.kind in ("query", "feed") else None)
    proxy.add_rule(Fault.gone(1002, split_into=2), kinds=("query", "feed"), continuation=True, skip=1, times=1)
    proxy.add_rule(Fault.gone(1007), kinds=("query", "feed"), continuation=True, skip=6, times=2)

    ids, _, escaped = await collect(pagers(container)[source], proxy, aiocosmos.RetryPolicy())

    assert escaped == []
    assert sorted(ids) == [f"item-{n:04d}" for n in range(N)]
    gone = [i for i in proxy.log if i.status == 410]
    assert [i.fault for i in gone] == ["410/1002+split2", "410/1007", "410/1007"]
    for injection in gone:  # the next request for a page repeated the continuation that got 410
        index = next(n for n, r in enumerate(sent) if r.continuation == injection.continuation)
        assert sent[index + 1].continuation == injection.continuation
    assert len(sent) == N // PAGE + 3

    link = f"dbs/{container.database.id}/colls/{container.id}"
    _, _, body = await client._core.request("GET", f"/{link}/pkranges", "pkranges", link, idempotent=True)
    assert body.count(b'"parents":["0"]') == 2


async def test_a_page_that_keeps_getting_410_raises_and_resumes_exactly(
    proxy: FaultProxy, make_client: ClientFactory, filled: aiocosmos.ContainerProxy
) -> None:
    container = through(make_client(), filled)
    await container.read()
    pager = pagers(container)["query"]
    proxy.add_rule(Fault.gone(1008), kinds="query", continuation=True, skip=3, times=FEED_GONE_RETRIES + 1)

    ids: list[str] = []
    token = None
    with pytest.raises(aiocosmos.Gone) as info:
        async for page in pager().by_page():
            ids.extend(item["id"] for item in page)
            token = page.continuation

    error = info.value
    assert (error.sub_status, error.attempts) == (1008, FEED_GONE_RETRIES + 1)
    assert list(error.activity_ids) == [i.activity_id for i in proxy.log]
    assert "[410/1008]" in str(error) and "attempts=4" in str(error)
    assert not error.may_have_been_applied
    assert len(ids) == 4 * PAGE
    rest = [item["id"] async for page in pager().by_page(continuation_token=token) for item in page]
    assert sorted(ids + rest) == [f"item-{n:04d}" for n in range(N)]


async def test_other_410s_and_point_operations_are_not_refetched(
    proxy: FaultProxy, make_client: ClientFactory, filled: aiocosmos.ContainerProxy
) -> None:
    container = through(make_client(), filled)
    await container.read()
    proxy.add_rule(Fault.gone(1000), kinds="query", times=1)  # name cache stale: not a partition move
    with pytest.raises(aiocosmos.Gone) as info:
        [item async for item in pagers(container)["query"]()]
    assert (info.value.sub_status, info.value.attempts) == (1000, 1)

    proxy.add_rule(Fault.gone(1002), kinds="read", times=1)
    with pytest.raises(aiocosmos.Gone) as info:
        await container.read_item("item-0001", "p1")
    assert info.value.attempts == 1
