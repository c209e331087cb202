"""AsyncItemPaged with a scripted fetch: behaviours the local server cannot produce."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

import aiocosmos
from aiocosmos._feeds.paging import AsyncItemPaged


def scripted(pages: list[tuple[list[Any], str | None, float]]) -> tuple[AsyncItemPaged[Any], list[str | None]]:
    """A pager over fixed pages: (items, next service token, charge); records the tokens it was asked for."""
    asked: list[str | None] = []
    by_token = {None if i == 0 else pages[i - 1][1]: page for i, page in enumerate(pages)}

    async def fetch(token: str | None) -> tuple[list[Any], Mapping[str, str], int]:
        asked.append(token)
        items, next_token, charge = by_token[token]
        headers = {"x-ms-request-charge": str(charge)}
        if next_token is not None:
            headers["x-ms-continuation"] = next_token
        return items, headers, 200

    return AsyncItemPaged(fetch, "f" * 16), asked


async def test_empty_pages_with_a_continuation_are_followed_and_charged() -> None:
    pager, asked = scripted([([], "t1", 1.5), ([], "t2", 2.0), ([1, 2], "t3", 1.0), ([], None, 0.5)])
    pages = [p async for p in pager.by_page()]
    assert [p.items for p in pages] == [[1, 2], []]
    assert pages[0].request_charge == 4.5 and pages[1].request_charge == 0.5
    assert asked == [None, "t1", "t2", "t3"]
    assert [i async for i in scripted([([], "t1", 1), ([7], None, 1)])[0]] == [7]


async def test_a_repeated_token_is_a_paging_error_not_a_loop() -> None:
    pager, _ = scripted([([1], "same", 1.0), ([2], "same", 1.0)])
    with pytest.raises(aiocosmos.PagingError, match="same token"):
        _ = [p async for p in pager.by_page()]


async def test_tokens_round_trip_the_service_token_verbatim() -> None:
    service_token = '{"token":"+RID:~abc==#RT:1#TRC:100","range":{"min":"","max":"FF"}}'
    pager, asked = scripted([([1], service_token, 1.0), ([2], None, 1.0)])
    first = await anext(pager.by_page())
    assert first.continuation is not None and service_token not in first.continuation
    rest = [p.items async for p in pager.by_page(continuation_token=first.continuation)]
    assert rest == [[2]] and asked[-1] == service_token


async def test_pages_iterate_sync_and_async() -> None:
    pager, _ = scripted([([1, 2, 3], None, 1.0)])
    page = await anext(pager.by_page())
    assert list(page) == [1, 2, 3] and [i async for i in page] == [1, 2, 3] and len(page) == 3
