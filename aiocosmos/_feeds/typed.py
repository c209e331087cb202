"""``query_items(..., model=Order)``: the same pager, its items built as ``Order`` (``ClientOptions.serializer``).

The metadata stays where it is on any pager: ``by_page()`` gives the pages (``request_charge``, ``headers``,
``continuation``), ``get_response_headers()`` the last page's headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from multidict import CIMultiDict

from .._wire.results import Page

__all__ = ["ModelPaged", "ModelPages"]

M = TypeVar("M")


class ModelPages(AsyncIterator[Page[M]], Generic[M]):
    """The pages of one pass, their items built as the model; ``continuation_token`` as on any page iterator."""

    __slots__ = ("_load", "_pages")

    def __init__(self, pages: Any, load: Callable[[Any], M]) -> None:
        self._pages = pages
        self._load = load

    @property
    def continuation_token(self) -> str | None:
        token: str | None = self._pages.continuation_token
        return token

    continuation = continuation_token

    def get_response_headers(self) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = self._pages.get_response_headers()
        return headers

    def __aiter__(self) -> ModelPages[M]:
        return self

    async def __anext__(self) -> Page[M]:
        page = await self._pages.__anext__()
        page.items[:] = [self._load(item) for item in page.items]  # a fresh page: built in place
        return page  # type: ignore[no-any-return]


class ModelPaged(Generic[M]):
    """A query's items built as a model: ``async for order in pager``; ``pager.by_page()`` for the pages."""

    __slots__ = ("_load", "_pager")

    def __init__(self, pager: Any, load: Callable[[Any], M]) -> None:
        self._pager = pager
        self._load = load

    def __aiter__(self) -> AsyncIterator[M]:
        return self._items()

    async def _items(self) -> AsyncIterator[M]:
        async for page in self.by_page():
            for item in page.items:
                yield item

    def by_page(self, continuation_token: str | None = None) -> ModelPages[M]:
        return ModelPages(self._pager.by_page(continuation_token), self._load)

    def get_response_headers(self) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = self._pager.get_response_headers()
        return headers

    def __repr__(self) -> str:
        return f"ModelPaged({self._pager!r})"
