"""Results: one object per response, holding the parsed body and the raw headers, never a copy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Final, Generic, TypeVar

from multidict import CIMultiDict, CIMultiDictProxy

from ..diagnostics import TIMING, Diagnostics, Timing, from_response, took

__all__ = ["ResourceResponse", "Page", "ResponseMetadata", "REPLAYED_HEADER", "APPLIED_EARLIER", "with_header"]

REPLAYED_HEADER: Final = "x-aiocosmos-replayed"
"""Added by the client to the response of a write it sent again after an attempt that may have been
applied: ``true``, or ``APPLIED_EARLIER`` when the replay found that attempt's effect. Absent
otherwise (the success path copies no headers)."""
APPLIED_EARLIER: Final = "applied-earlier"


def with_header(headers: Mapping[str, str], name: str, value: str) -> CIMultiDictProxy[str]:
    """A copy of ``headers`` with one more header (failure paths only: the success path copies nothing)."""
    copy = CIMultiDict(headers)
    copy[name] = value
    return CIMultiDictProxy(copy)

T = TypeVar("T")


class ResponseMetadata:
    """What every response says about itself. Values are read from the headers on access;
    ``get_response_headers()`` is a copy of them."""

    __slots__ = ()
    headers: Mapping[str, str]
    status_code: int
    _timing: Timing | None

    @property
    def diagnostics(self) -> Diagnostics:
        """What the operation did: every attempt (region, status, substatus, duration, charge, activity
        id, retry-after, the wait after it), replayed or hedged, the session token sent, the timings.
        Built when read, from the headers and the core's timing record (``aiocosmos.diagnostics``)."""
        return from_response(self.headers, self.status_code, self._timing)

    @property
    def request_charge(self) -> float:
        """Request units the service charged (``x-ms-request-charge``)."""
        raw = self.headers.get("x-ms-request-charge")
        return float(raw) if raw else 0.0

    @property
    def activity_id(self) -> str | None:
        return self.headers.get("x-ms-activity-id")

    @property
    def session_token(self) -> str | None:
        return self.headers.get("x-ms-session-token")

    @property
    def regions(self) -> tuple[str, ...]:
        """With endpoint discovery on: the regions this operation contacted, in order (else empty)."""
        raw = self.headers.get("x-aiocosmos-regions")
        return tuple(raw.split(", ")) if raw else ()

    def get_response_headers(self) -> CIMultiDict[str]:
        """A copy of the response headers, case-insensitive (azure-cosmos's ``get_response_headers``)."""
        return CIMultiDict(self.headers)


class ResourceResponse(ResponseMetadata, dict[str, Any]):
    """The result of a single operation: a ``dict`` of the returned JSON that also carries its metadata.

    It is a real dict (as azure-cosmos's ``CosmosDict``): mutate it, ``json.dumps`` it, pass it back
    as a body (``item["n"] += 1; await container.replace_item(item, item)``). ``result.request_charge``,
    ``.etag``, ``.session_token``, ``.activity_id``, ``.status_code``, ``.regions``, ``.replayed``,
    ``.applied_earlier`` and ``.headers`` describe the response; ``get_response_headers()`` returns a
    copy of the headers (azure-cosmos's spelling). Building it copies the parsed body's top level once
    (a shallow copy; nested values are shared, not copied). ``result.body`` is the result itself,
    kept for code written when results were read-only views. Operations that return no body (delete)
    give an empty dict with the same metadata.
    """

    __slots__ = ("_timing", "headers", "status_code")

    headers: Mapping[str, str]

    def __init__(self, body: Mapping[str, Any], headers: Mapping[str, str], status_code: int) -> None:
        dict.__init__(self, body)
        self.headers = headers
        self.status_code = status_code
        timing = self._timing = TIMING.get()  # the task's last operation; used only if it has these headers
        if timing is not None and timing[4] is not None:  # detailed timings: the parsing ends here
            took(timing, headers)

    @property
    def body(self) -> dict[str, Any]:
        """The result itself (it is the body's dict); kept so code that read ``result.body`` still works."""
        return self

    @property
    def etag(self) -> str | None:
        """The resource's etag (for ``if_match=``), or None."""
        return self.headers.get("etag") or self.get("_etag")

    @property
    def replayed(self) -> bool:
        """True when the client sent this write again after an attempt that may have been applied
        (a connection lost after sending, a truncated answer, a read timeout, 408/500/502/503/504)."""
        return REPLAYED_HEADER in self.headers

    @property
    def applied_earlier(self) -> bool:
        """True when the replay found the effect of an earlier attempt: a create answered 409 whose
        stored item equals what was sent (the result is then that item, as read back), or a delete
        answered 404 (the result is then empty). Implies ``replayed``."""
        return self.headers.get(REPLAYED_HEADER) == APPLIED_EARLIER

    def __repr__(self) -> str:
        # The document, as azure-cosmos's CosmosDict prints (the metadata is one attribute away).
        return dict.__repr__(self)


class Page(ResponseMetadata, Generic[T]):
    """One page of a listing or query.

    ``items`` is the page's list; ``continuation`` resumes *after* this page (None on the last page);
    ``request_charge`` includes the charge of any empty pages the pager skipped on the way here.
    Iterate it with ``for`` (or ``async for``, as azure-cosmos pages are).
    """

    __slots__ = ("_carried_charge", "_continuation", "_timing", "headers", "items", "status_code")

    def __init__(
        self,
        items: list[T],
        headers: Mapping[str, str],
        status_code: int,
        continuation: str | None,
        carried_charge: float = 0.0,
    ) -> None:
        self.items = items
        self.headers = headers
        self.status_code = status_code
        self._continuation = continuation
        self._carried_charge = carried_charge
        timing = self._timing = TIMING.get()
        if timing is not None and timing[4] is not None:
            took(timing, headers)

    @property
    def continuation(self) -> str | None:
        """Pass to ``by_page(continuation_token=...)`` of the same query to get the pages after this one."""
        return self._continuation

    @property
    def request_charge(self) -> float:
        """The request units of this page, the charges carried from refused attempts included."""
        raw = self.headers.get("x-ms-request-charge")
        return (float(raw) if raw else 0.0) + self._carried_charge

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    async def __aiter__(self) -> AsyncIterator[T]:
        for item in self.items:
            yield item

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Page(items={len(self.items)}, request_charge={self.request_charge}, " \
               f"more={self._continuation is not None})"
