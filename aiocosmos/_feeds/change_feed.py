"""The change feed (spec §9, §15.4): ``query_items_change_feed`` and the long-lived ``watch_changes``.

On the wire a change feed is a ``GET …/docs`` read feed with ``A-IM: Incremental Feed``, aimed at
one physical partition (``x-ms-documentdb-partitionkeyrangeid``, plus ``x-ms-start-epk`` /
``x-ms-end-epk`` for part of one) or at one logical partition (``x-ms-documentdb-partitionkey``).
Its position is the response ``etag``, sent back as ``If-None-Match``; the start point is no
``If-None-Match`` (the beginning), ``If-None-Match: *`` (now) or ``If-Modified-Since`` (a point in
time); ``304 Not Modified`` means "caught up".

A feed over the whole container (or over a feed range) is one such feed per EPK sub-range. The
state is the list of sub-ranges with their etags. Each sub-range is resolved against the client's
routing map before it is read: a sub-range that now spans several physical partitions (the first
read, or after a split) is replaced by its parts, each continuing from the same etag; a sub-range
inside one partition (after a merge) is read with EPK bounds. A 410 with sub-status 1002, 1007 or
1008 makes the client re-read the routing map and resolve again.

One pass reads the sub-ranges round-robin until every one has answered 304; the pager's iteration
ends there. ``watch_changes`` (``watch.py``) runs passes for ever, sleeping ``poll_interval`` (on the
client's clock) between them and riding out transient failures.

Continuation tokens are aiocosmos tokens (``acf1.``): the state above plus the mode, the scope and
the start point, bound to the container and checksummed; anything else is refused before any I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeAlias, TypeVar

from multidict import CIMultiDict, CIMultiDictProxy

from .._wire import codec
from .._wire.last_response import LAST_RESPONSE_HEADERS
from .._wire.paths import loose_partition_header
from .._wire.results import Page
from ..exceptions import Gone, InvalidContinuationToken, PagingError, ValidationError
from .change_feed_state import (
    CHANGE_FEED_MODES,
    NOW,
    FeedScope,
    FeedState,
    RangeState,
    StartPoint,
    decode_token,
    is_bare_etag,
    parse_start_time,
)
from .paging import check_max_item_count, request_fingerprint
from .routing import FeedRange, is_split_or_merge

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = [
    "ChangeFeedPaged",
    "ChangeFeedPages",
    "ChangeFeedStart",
    "CHANGE_FEED_MODES",
    "query_items_change_feed",
]

T = TypeVar("T")

ChangeFeedStart: TypeAlias = "str | dt.datetime | None"
"""``"Beginning"``, ``"Now"`` (the default) or an aware datetime."""

_AIM: Final = {"LatestVersion": "Incremental Feed", "AllVersionsAndDeletes": "Full-Fidelity Feed"}
_WIRE_FORMAT_HEADER: Final = "x-ms-cosmos-changefeed-wire-format-version"
_WIRE_FORMAT: Final = "2021-09-15"
_PK: Final = "x-ms-documentdb-partitionkey"
_RANGE_ID: Final = "x-ms-documentdb-partitionkeyrangeid"
_MAX_GONE_RETRIES: Final = 3
"""Re-reads of the routing map (or re-sends, for a partition-key feed) after 410s in a row."""



# ---------------------------------------------------------------------------------------------------
# The feed


class _Feed:
    """Everything a change feed needs to fetch: fixed at ``query_items_change_feed``/``watch_changes``."""

    __slots__ = ("_container", "_extra", "_fingerprint", "_max_item_count", "_pk_value", "_pk_verified", "_timeout")

    def __init__(
        self,
        container: ContainerProxy,
        *,
        max_item_count: int | None,
        pk_value: Any,
        timeout: float | None,
    ) -> None:
        self._container = container
        self._fingerprint = container_fingerprint(container)
        self._max_item_count = max_item_count
        self._pk_value = pk_value
        self._pk_verified = pk_value is _NO_VALUE
        self._timeout = timeout
        self._extra: Mapping[str, str] | None = None  # the call's own headers (azure's priority, throughput_bucket)

    def encode(self, state: FeedState) -> str:
        return state.encode(self._fingerprint)

    async def pass_pages(self, state: FeedState) -> AsyncGenerator[Page[Any], None]:
        """Read every sub-range round-robin until each has answered 304; yield the non-empty pages."""
        for r in state.ranges:
            r.caught_up = False
        while True:
            count = len(state.ranges)
            index = next((i % count for i in range(state.cursor, state.cursor + count)
                          if not state.ranges[i % count].caught_up), None)
            if index is None:
                return
            items, headers, status, index = await self._fetch(state, index)
            state.cursor = (index + 1) % len(state.ranges)
            token = self.encode(state)
            # Porting aid: as azure-cosmos does, last_response_headers["etag"] is the feed's continuation.
            with_token = CIMultiDict(headers)
            with_token["etag"] = token
            LAST_RESPONSE_HEADERS.set(CIMultiDictProxy(with_token))
            if items:
                page = Page(items, headers, status, token, state.carried)
                state.carried = 0.0
                yield page
            else:
                raw = headers.get("x-ms-request-charge")
                state.carried += float(raw) if raw else 0.0

    async def _fetch(self, state: FeedState, index: int) -> tuple[list[Any], Mapping[str, str], int, int]:
        """Fetch one page of ``state.ranges[index]`` (splitting it first if it now spans several
        partitions); update its etag and caught-up flag. Returns the index the fetched range has."""
        container = self._container
        core = container._core
        headers: dict[str, str] = {"A-IM": _AIM[state.mode]}
        if self._extra:
            headers.update(self._extra)
        if state.mode == "AllVersionsAndDeletes":
            headers[_WIRE_FORMAT_HEADER] = _WIRE_FORMAT
        if self._max_item_count is not None:
            headers["x-ms-max-item-count"] = str(self._max_item_count)
        if state.scope.kind == "pk":
            headers[_PK] = await self._pk_header(state)
        since = state.start.if_modified_since()
        if since is not None:
            # Sent on every request, as the SDK does: after a merge, a child's LSN order may hold
            # documents older than the start time.
            headers["If-Modified-Since"] = since

        stale = None
        gone = 0
        while True:
            r = state.ranges[index]
            request_headers = dict(headers)
            if r.etag is not None:
                request_headers["If-None-Match"] = r.etag
            elif state.start.kind == NOW:
                request_headers["If-None-Match"] = "*"
            routing = None
            if state.scope.kind != "pk":
                routing = await core.routing_maps.get(container._link, container._path + "/pkranges",
                                                      stale=stale, timeout=self._timeout)
                overlapping = routing.overlapping(r.low, r.high)
                if len(overlapping) > 1:
                    # The sub-range spans several partitions (first read, or a split): read each
                    # part on its own, from the same position.
                    state.ranges[index:index + 1] = [
                        RangeState(max(r.low, p.min_inclusive), min(r.high, p.max_exclusive), r.etag)
                        for p in overlapping
                    ]
                    continue
                if not overlapping:  # pragma: no cover - the routing map always tiles the key space
                    raise PagingError(f"no partition key range covers [{r.low!r}, {r.high!r})")
                pkrange = overlapping[0]
                request_headers[_RANGE_ID] = pkrange.id
                if (r.low, r.high) != (pkrange.min_inclusive, pkrange.max_exclusive):
                    # Part of one partition (a feed range, or a range that was merged).
                    request_headers["x-ms-read-key-type"] = "EffectivePartitionKeyRange"
                    request_headers["x-ms-start-epk"] = r.low
                    request_headers["x-ms-end-epk"] = r.high
            session = core.session_tokens.get(container._link)
            if session is not None:
                request_headers["x-ms-session-token"] = session
            try:
                status, response_headers, body = await core.request(
                    "GET", container._docs_path, "docs", container._link,
                    headers=request_headers, idempotent=True, timeout=self._timeout,
                )
            except Gone as exc:
                gone += 1
                if not is_split_or_merge(exc) or gone > _MAX_GONE_RETRIES:
                    raise
                stale = routing  # re-read the routing map (once, whoever else needs it) and resolve again
                continue
            break

        new_etag = response_headers.get("etag") or None
        if status == 304:
            r.caught_up = True
            if new_etag is not None:
                r.etag = new_etag
            return [], response_headers, status, index
        parsed = codec.loads(body) if body else {}
        items = parsed.get("Documents", []) if isinstance(parsed, dict) else []
        if not isinstance(items, list):
            raise PagingError("a change feed page has no 'Documents' list")
        if items:
            if new_etag is None or new_etag == r.etag:
                raise PagingError("the service sent change feed items without moving the feed's etag")
            r.etag = new_etag
        elif new_etag is None or new_etag == r.etag:
            r.caught_up = True  # an empty page that does not move the position: nothing more for now
        else:
            r.etag = new_etag  # e.g. the first page of a point-in-time start: read on from here
        return items, response_headers, status, index

    async def _pk_header(self, state: FeedState) -> str:
        if self._pk_verified:
            return state.scope.pk_header
        # The header was built without the definition (no I/O when the pager is made); check the
        # value against the container's key now.
        header, _ = await self._container._partition_header(self._pk_value, self._timeout)
        if header != state.scope.pk_header:  # pragma: no cover - both come from partition_key_header
            raise ValidationError(f"partition key {header} does not match the feed's {state.scope.pk_header}")
        self._pk_verified = True
        return header


class _NoValue:
    __slots__ = ()


_NO_VALUE: Final = _NoValue()


def container_fingerprint(container: ContainerProxy) -> str:
    return request_fingerprint("change feed", container._link)


class ChangeFeedPages(Generic[T]):
    """The pages of one change feed pass: ``async for page in pages``. Each :class:`Page` has the
    changed items and a ``continuation`` that resumes right after it. ``pages.continuation`` is the
    position after everything read so far (also after a pass that found no changes at all)."""

    __slots__ = ("_feed", "_iterator", "_state")

    def __init__(self, feed: _Feed, state: FeedState) -> None:
        self._feed = feed
        self._state = state
        self._iterator = feed.pass_pages(state)

    @property
    def continuation(self) -> str:
        """The position after everything read so far: pass it as ``continuation=`` to resume there."""
        return self._feed.encode(self._state)

    def __aiter__(self) -> ChangeFeedPages[T]:
        return self

    async def __anext__(self) -> Page[T]:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        """Stop the pass and release its open request, if any."""
        await self._iterator.aclose()

    def __repr__(self) -> str:
        return f"ChangeFeedPages(ranges={len(self._state.ranges)}, mode={self._state.mode!r})"


class ChangeFeedPaged(Generic[T]):
    """The changes since a start point: ``async for item in feed`` gives the changed items, and
    ``feed.by_page()`` the pages. Iteration ends when the feed has caught up with every partition
    (each answered 304); ``by_page(...).continuation`` or the last page's ``continuation`` resumes
    later from exactly there. Nothing is fetched until iteration starts; iterating twice reads twice.
    """

    __slots__ = ("_feed", "_mode", "_scope", "_start", "_token")

    def __init__(self, feed: _Feed, mode: str, scope: FeedScope, start: StartPoint, token: str | None) -> None:
        self._feed = feed
        self._mode = mode
        self._scope = scope
        self._start = start
        self._token = token

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.by_page():
            for item in page.items:
                yield item

    def by_page(self, continuation_token: str | None = None) -> ChangeFeedPages[T]:
        """The pages of one pass, from the feed's start (or its ``continuation``), or from
        ``continuation_token``: raises InvalidContinuationToken at once (before any I/O) for a token
        of another container, mode or scope."""
        token = continuation_token if continuation_token is not None else self._token
        if token is None:
            return ChangeFeedPages(self._feed, FeedState.initial(self._mode, self._scope, self._start))
        return ChangeFeedPages(self._feed, _state_of(token, self._feed, self._mode, self._scope, self._start))

    def __repr__(self) -> str:
        return f"ChangeFeedPaged(scope={self._scope.describe()!r}, mode={self._mode!r})"


def _state_of(token: str, feed: _Feed, mode: str | None, scope: FeedScope | None, start: StartPoint) -> FeedState:
    if is_bare_etag(token):
        # azure-cosmos's v1 token (a response's etag, e.g. last_response_headers["etag"]): the whole scope
        # resumes from it, which is meaningful for one physical partition, as there.
        state = FeedState.initial(mode or "LatestVersion", scope or FeedScope("c"), start)
        state.ranges[0].etag = token
        return state
    state = decode_token(token, feed._fingerprint)
    _check_matches(state, mode, scope)  # given explicitly, they must match; else the token's hold
    return state


def _check_matches(state: FeedState, mode: str | None, scope: FeedScope | None) -> None:
    if mode is not None and state.mode != mode:
        raise InvalidContinuationToken(
            f"the change feed continuation belongs to mode {state.mode!r}, not {mode!r}"
        )
    if scope is not None and state.scope != scope:
        raise InvalidContinuationToken(
            f"the change feed continuation belongs to {state.scope.describe()}, not to {scope.describe()}"
        )


# ---------------------------------------------------------------------------------------------------
# Entry points (ContainerProxy.query_items_change_feed / watch_changes)


def _resolve(
    container: ContainerProxy,
    *,
    start_time: object,
    partition_key: Any,
    feed_range: Any,
    continuation: str | None,
    max_item_count: int | None,
    mode: str | None,
    timeout: float | None,
) -> tuple[_Feed, str, FeedScope, StartPoint, FeedState | None]:
    """Check every argument (before any I/O) and work out the feed's mode, scope and start."""

    max_item_count = check_max_item_count(max_item_count)
    if mode is not None and mode not in CHANGE_FEED_MODES:
        raise ValidationError(f"mode must be one of {list(CHANGE_FEED_MODES)}, got {mode!r}")
    if partition_key is not None and feed_range is not None:
        raise ValidationError("partition_key and feed_range are exclusive: give one of them (or neither)")
    scope: FeedScope | None = None
    pk_value: Any = _NO_VALUE
    if partition_key is not None:
        scope = FeedScope("pk", pk_header=loose_partition_header(partition_key))
        pk_value = partition_key
    elif feed_range is not None:
        normalized = FeedRange.from_json(feed_range).normalized()
        if not normalized.min < normalized.max:
            raise ValidationError(f"feed range {feed_range!r} is empty")
        scope = FeedScope("r", low=normalized.min, high=normalized.max)
    start = parse_start_time(start_time)
    feed = _Feed(container, max_item_count=max_item_count, pk_value=pk_value, timeout=timeout)
    state = None
    if continuation is not None:
        state = _state_of(continuation, feed, mode, scope, start)
        if pk_value is _NO_VALUE:
            feed._pk_verified = True
        return feed, state.mode, state.scope, state.start, state
    resolved_mode = mode or "LatestVersion"
    if resolved_mode == "AllVersionsAndDeletes" and start.kind != NOW:
        raise ValidationError(
            "mode 'AllVersionsAndDeletes' starts from 'Now' or a continuation, not from "
            f"{start_time!r} (the service keeps no history of deletes to read from)"
        )
    return feed, resolved_mode, scope or FeedScope("c"), start, None


def query_items_change_feed(
    container: ContainerProxy,
    *,
    start_time: object,
    partition_key: Any,
    feed_range: Any,
    continuation: str | None,
    max_item_count: int | None,
    mode: str | None,
    timeout: float | None,
    headers: Mapping[str, str] | None = None,
) -> ChangeFeedPaged[dict[str, Any]]:
    feed, resolved_mode, scope, start, _ = _resolve(
        container, start_time=start_time, partition_key=partition_key, feed_range=feed_range,
        continuation=continuation, max_item_count=max_item_count, mode=mode, timeout=timeout,
    )
    feed._extra = headers
    return ChangeFeedPaged(feed, resolved_mode, scope, start, continuation)
