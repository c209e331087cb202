"""Lazy, resumable paging over Cosmos feeds and queries.

Continuation tokens handed to callers are aiocosmos tokens: the service's own token wrapped with a
fingerprint of the request it belongs to (resource, query text, parameters, partition key). A token
that was not issued by aiocosmos, was damaged, or belongs to a different query is refused before any
I/O, instead of the service silently starting over from the first page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final, Generic, TypeVar

from multidict import CIMultiDict

from .._telemetry.tracing import PagerTrace
from .._wire.results import Page
from ..exceptions import InvalidContinuationToken, PagingError, ValidationError

__all__ = ["AsyncItemPaged", "PageIterator", "FetchPage", "request_fingerprint", "check_max_item_count"]

T = TypeVar("T")

FetchPage = Callable[[str | None], Awaitable[tuple[list[T], Mapping[str, str], int]]]
"""Fetches the page for a service continuation (None = first page): (items, headers, status)."""

_PREFIX: Final = "ac1."


def request_fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def check_max_item_count(value: int | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not (value > 0 or value == -1):
        raise ValidationError(f"max_item_count must be a positive int (or -1 for service-chosen), got {value!r}")
    return value


class PageIterator(AsyncIterator[Page[T]]):
    """The pages of one pass (``pager.by_page()``): ``async for page in pages``.

    ``continuation_token`` (azure-cosmos's name; also ``continuation``) resumes after the last page
    this iterator gave (None before the first page and after the last); ``get_response_headers()``
    is a copy of the last page's headers.
    """

    __slots__ = ("_owner", "_pages", "continuation_token")

    def __init__(self, pages: AsyncIterator[Page[T]], owner: AsyncItemPaged[T], start: str | None) -> None:
        self._pages = pages
        self._owner = owner
        self.continuation_token: str | None = start

    @property
    def continuation(self) -> str | None:
        """The token after the last page read (the same as ``continuation_token``)."""
        return self.continuation_token

    def __aiter__(self) -> PageIterator[T]:
        return self

    async def __anext__(self) -> Page[T]:
        page = await self._pages.__anext__()
        self.continuation_token = page.continuation
        self._owner._headers = page.headers
        return page

    async def aclose(self) -> None:
        """Stop paging and release the open request, if any."""
        aclose = getattr(self._pages, "aclose", None)
        if aclose is not None:
            await aclose()

    def get_response_headers(self) -> CIMultiDict[str]:
        """The headers of the last page read."""
        return self._owner.get_response_headers()


class AsyncItemPaged(Generic[T]):
    """Items of a listing or query: ``async for item in pager``, or ``pager.by_page()`` for pages.

    Nothing is fetched until iteration starts; one page is held in memory at a time. Iterating the
    same pager twice runs the request twice. ``get_response_headers()`` (as azure-cosmos's pagers)
    is a copy of the headers of the last page fetched (empty before the first).
    """

    __slots__ = ("_fetch", "_fingerprint", "_headers", "_hook", "_trace")

    def __init__(self, fetch: FetchPage[T], fingerprint: str) -> None:
        self._fetch = fetch
        self._fingerprint = fingerprint
        self._trace: PagerTrace | None = None  # the whole-query span, when tracing is on
        self._headers: Mapping[str, Any] = {}
        # azure-cosmos's query response_hook: hook(page headers, page items), once per page fetched
        self._hook: Callable[[Mapping[str, str], list[Any]], object] | None = None

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iter_items()

    def _pages(self, token: str | None) -> AsyncIterator[Page[T]]:
        pages = self._iter_pages(token) if self._hook is None else self._hooked(token, self._hook)
        return pages if self._trace is None else self._trace.wrap(pages)

    async def _hooked(self, token: str | None,
                      hook: Callable[[Mapping[str, str], list[Any]], object]) -> AsyncIterator[Page[T]]:
        async for page in self._iter_pages(token):
            hook(page.headers, page.items)
            yield page

    async def _iter_items(self) -> AsyncIterator[T]:
        async for page in self._pages(None):
            self._headers = page.headers
            for item in page.items:
                yield item

    def get_response_headers(self) -> CIMultiDict[str]:
        """A copy of the last fetched page's response headers (case-insensitive)."""
        return CIMultiDict(self._headers)

    def by_page(self, continuation_token: str | None = None) -> PageIterator[T]:
        """Pages from the start, or from the page after the one whose ``continuation`` is given.

        Raises InvalidContinuationToken at once (before any I/O) for a token that does not belong
        to this request.
        """
        start = None if continuation_token is None else self._decode(continuation_token)
        return PageIterator(self._pages(start), self, continuation_token)

    async def _iter_pages(self, token: str | None) -> AsyncIterator[Page[T]]:
        carried = 0.0
        while True:
            items, headers, status = await self._fetch(token)
            next_token = headers.get("x-ms-continuation") or None
            if next_token is not None and next_token == token:
                raise PagingError("the service answered a continuation token with the same token")
            if not items and next_token is not None:
                # Empty pages with a continuation are normal (filters, time slicing): follow them,
                # but keep their charge so the caller's accounting stays true.
                raw = headers.get("x-ms-request-charge")
                carried += float(raw) if raw else 0.0
                token = next_token
                continue
            yield Page(items, headers, status, None if next_token is None else self._encode(next_token), carried)
            if next_token is None:
                return
            carried = 0.0
            token = next_token

    def _encode(self, service_token: str) -> str:
        raw = service_token.encode()
        payload = base64.urlsafe_b64encode(raw).decode("ascii")
        return f"{_PREFIX}{self._fingerprint}.{zlib.crc32(raw):08x}.{payload}"

    def _decode(self, token: object) -> str:
        if not isinstance(token, str) or not token.startswith(_PREFIX):
            raise InvalidContinuationToken(
                f"continuation token {_preview(token)} was not issued by aiocosmos (tokens come from "
                "Page.continuation)"
            )
        fingerprint, _, rest = token[len(_PREFIX):].partition(".")
        checksum, _, payload = rest.partition(".")
        if fingerprint != self._fingerprint:
            raise InvalidContinuationToken(
                f"continuation token {_preview(token)} belongs to a different request (another query, "
                "parameters, container or partition key); it cannot resume this one"
            )
        service_token = ""
        try:
            raw = base64.b64decode(payload.encode("ascii"), altchars=b"-_", validate=True)
            intact = bool(raw) and f"{zlib.crc32(raw):08x}" == checksum
            service_token = raw.decode()
        except (binascii.Error, ValueError):
            intact = False
        if not intact:
            raise InvalidContinuationToken(f"continuation token {_preview(token)} is damaged (truncated or edited)")
        return service_token


def _preview(token: object) -> str:
    text = repr(token)
    return text if len(text) <= 60 else text[:57] + "..."
