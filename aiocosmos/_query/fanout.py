"""One execution of the pipeline over the query's EPK ranges: bounded, prefetching per-range fetches,
splits, DISTINCT/OFFSET/TOP, the streaming path (ranges in EPK order) and the ORDER BY k-way merge."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from .._feeds.core import QUERY_HEADERS
from .._feeds.routing import RoutingMap, is_split_or_merge
from .._wire import codec
from ..diagnostics import MAX_RANGE_REQUESTS, TIMING, RangeRequests, Timing
from ..exceptions import Gone, PagingError
from .ordering import SortKey, canonical_hash, compare_items, document_number, resume_index
from .plan import QueryPlan
from .tokens import Last, Range, State

if TYPE_CHECKING:
    from .._feeds.core import ClientCore

__all__ = ["QueryTarget", "Run"]

_RANGE_ID: Final = "x-ms-documentdb-partitionkeyrangeid"
_DEFAULT_PAGE: Final = 100
_MAX_SPLIT_RETRIES: Final = 3
_RANKED_SEARCH_MARKERS: Final = ("rrf", "fulltextcontains", "fulltextscore")
"""The functions whose queries azure-cosmos sends to the plan after the service's 500 (all case-insensitive)."""
_T = TypeVar("_T")


@attrs.define
class QueryTarget:
    """Where and how one query runs (built by ``ContainerProxy.query_items``)."""

    core: ClientCore
    link: str
    coll_path: str
    docs_path: str
    query: str
    parameters: Sequence[Mapping[str, Any]] | None
    body: bytes
    headers: Mapping[str, str]
    max_item_count: int | None
    max_concurrency: int
    timeout: float | None
    scope: tuple[str, str] | None = None
    """``query_items(feed_range=...)``: only this EPK range ``[low, high)`` is read."""
    ranked_search: bool = attrs.field(init=False)
    """The query names a full-text or hybrid search function (its plan is asked for first)."""

    def __attrs_post_init__(self) -> None:
        lowered = self.query.lower()
        self.ranked_search = any(marker in lowered for marker in _RANKED_SEARCH_MARKERS)


class Run:
    """One execution of the pipeline (one ``by_page`` iteration). ``aggregation`` drives it through
    ``drain``, ``start``, ``take``, ``replace_split``, ``admit``, ``finished`` and ``charge_headers``."""

    def __init__(self, target: QueryTarget, plan: QueryPlan, state: State | None) -> None:
        self.target = target
        self.plan = plan
        self.state = state
        self.body = target.body
        if plan.rewritten_query is not None:
            parsed = codec.loads(target.body)
            parsed["query"] = plan.rewritten_query
            self.body = codec.dumps(parsed, what="query")
        self.directions = [o == "Descending" for o in plan.order_by]
        self.semaphore = asyncio.Semaphore(max(1, target.max_concurrency))
        self.charge = 0.0
        self.requests: list[tuple[Mapping[str, str], Timing | None, str]] = []  # since the last page (diagnostics)
        self.left_off = 0
        self.routing: RoutingMap | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        """Every task of this run still running (page fetches, and the takes of ``gather``)."""
        self.closed = False

    async def close(self) -> None:
        """Stop: no page is fetched from now on, and every task of the run is cancelled and awaited
        (no task outlives the iteration, whether it ended, failed, was cancelled or was closed)."""
        self.closed = True
        while self.tasks:
            tasks = list(self.tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.tasks.difference_update(tasks)

    def _track(self, awaitable: Awaitable[_T]) -> asyncio.Task[_T]:
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def gather(self, awaitables: Sequence[Awaitable[_T]]) -> list[_T]:
        """All results, like ``asyncio.gather``; but when one fails (or the caller is cancelled) the
        others are cancelled and awaited before the error goes on, so none of them sends a request
        (or starts a prefetch) after the run has failed."""
        tasks = [self._track(a) for a in awaitables]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in tasks:
                if task in done and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            return [task.result() for task in tasks]
        finally:
            pending = [task for task in tasks if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    # -- limits --------------------------------------------------------------------------------

    @property
    def wanted(self) -> int | None:
        """How many rows OFFSET/TOP/LIMIT let through DISTINCT in all (None: all)."""
        plan = self.plan
        take = plan.top if plan.top is not None else plan.limit
        if take is None:
            return None
        return (plan.offset or 0) + take

    def admit(self, row: Any) -> bool:
        """DISTINCT, then OFFSET: whether ``row`` is emitted (and count it)."""
        state = self.state
        assert state is not None
        if self.plan.distinct != "None":
            digest = canonical_hash(row)
            if self.plan.distinct == "Ordered":
                if digest == state.distinct_last:
                    return False
                state.distinct_last = digest
            else:
                if digest in state.distinct_seen:
                    return False
                state.distinct_seen.add(digest)
        state.passed += 1
        return state.passed > (self.plan.offset or 0)

    def finished(self) -> bool:
        wanted = self.wanted
        assert self.state is not None
        return wanted is not None and self.state.passed >= wanted

    # -- ranges --------------------------------------------------------------------------------

    async def _routing_map(self, stale: RoutingMap | None = None) -> RoutingMap:
        target = self.target
        self.routing = await target.core.routing_maps.get(target.link, target.coll_path + "/pkranges", stale=stale,
                                                          timeout=target.timeout)
        return self.routing

    async def _initial_state(self) -> State:
        routing = await self._routing_map()
        ranges: list[Range] = []
        seen: set[str] = set()
        scope = self.target.scope
        for low, high in self.plan.ranges:
            if scope is not None:
                low, high = max(low, scope[0]), min(high, scope[1])
                if low >= high:
                    continue
            for pk_range in routing.overlapping(low, high):
                if pk_range.id not in seen:
                    seen.add(pk_range.id)
                    if scope is None:
                        ranges.append(Range(pk_range.min_inclusive, pk_range.max_exclusive, None))
                    else:  # only the feed range's part of the partition (sent with EPK bounds)
                        ranges.append(Range(max(pk_range.min_inclusive, scope[0]),
                                            min(pk_range.max_exclusive, scope[1]), None))
        ranges.sort(key=lambda r: r.low)
        page_size = self.target.max_item_count
        return State(ranges, page_size if page_size and page_size > 0 else _DEFAULT_PAGE)

    async def _fetch_range(self, query_range: Range) -> tuple[list[Any], str | None, list[Range] | None]:
        """One page of ``query_range`` from its ``next_token``: (rows, next continuation, None), or
        (``[]``, None, children) when the range split and must be replaced by ``children``."""
        target = self.target
        assert self.state is not None
        for attempt in range(_MAX_SPLIT_RETRIES + 1):
            routing = self.routing or await self._routing_map()
            parts = routing.overlapping(query_range.low, query_range.high)
            if len(parts) > 1:  # a split: continue on the parts, from the same continuation
                children = [query_range.child(max(p.min_inclusive, query_range.low),
                                              min(p.max_exclusive, query_range.high)) for p in parts]
                return [], None, children
            if not parts:
                raise PagingError(f"no partition key range covers [{query_range.low!r}, {query_range.high!r})")
            headers = dict(QUERY_HEADERS)
            headers.update(target.headers)
            part = parts[0]
            headers[_RANGE_ID] = part.id
            if (query_range.low, query_range.high) != (part.min_inclusive, part.max_exclusive):
                # Part of one partition (after a merge): only the range's own EPKs, as the SDKs send it.
                headers["x-ms-read-key-type"] = "EffectivePartitionKeyRange"
                headers["x-ms-start-epk"] = query_range.low
                headers["x-ms-end-epk"] = query_range.high
            headers["x-ms-max-item-count"] = str(self.state.page_size)
            if query_range.next_token is not None:
                headers["x-ms-continuation"] = query_range.next_token
            session = target.core.session_tokens.get(target.link)
            if session is not None:
                headers["x-ms-session-token"] = session
            try:
                async with self.semaphore:
                    _, response_headers, data = await target.core.request(
                        "POST", target.docs_path, "docs", target.link, headers=headers, body=self.body,
                        idempotent=True, timeout=target.timeout,
                    )
            except Gone as exc:
                if not is_split_or_merge(exc) or attempt == _MAX_SPLIT_RETRIES:
                    raise
                await self._routing_map(stale=routing)
                continue
            raw_charge = response_headers.get("x-ms-request-charge")
            self.charge += float(raw_charge) if raw_charge else 0.0
            if len(self.requests) < MAX_RANGE_REQUESTS:
                self.requests.append((response_headers, TIMING.get(), part.id))
            else:
                self.left_off += 1
            parsed = codec.loads(data) if data else {}
            rows = parsed.get("Documents", []) if isinstance(parsed, dict) else []
            return list(rows), response_headers.get("x-ms-continuation") or None, None
        raise AssertionError("unreachable")

    def start(self, query_range: Range) -> None:
        if query_range.pending is None and not query_range.done and not self.closed:
            query_range.pending = self._track(self._fetch_range(query_range))

    async def take(self, query_range: Range) -> list[Range] | None:
        """Wait for the range's pending page and put it in its buffer (or return its children)."""
        self.start(query_range)
        if query_range.pending is None:
            raise asyncio.CancelledError("the query was closed")
        task, query_range.pending = query_range.pending, None
        rows, next_token, children = await task
        if children is not None:
            return children
        query_range.token = query_range.next_token
        query_range.next_token = next_token
        query_range.buffer = rows
        last = query_range.last
        if last is not None and not query_range.resuming:
            last.skip = 0  # nothing consumed from this page yet
        if next_token is None:
            query_range.done = True
        else:
            self.start(query_range)  # keep one page in flight per range while this one is consumed
        return None

    def charge_headers(self) -> dict[str, str]:
        """The headers of the next page: the charge of the range requests since the last one, and
        those requests (``RangeRequests``, for the page's ``.diagnostics``)."""
        headers = RangeRequests({"x-ms-request-charge": f"{self.charge:.2f}"}, self.requests, self.left_off)
        self.charge = 0.0
        self.requests, self.left_off = [], 0
        return headers

    # -- pipelines -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """The state of a new run (the ranges the plan covers), or the routing map of a resumed one."""
        if self.state is None:
            self.state = await self._initial_state()
        else:
            await self._routing_map()

    async def replace_split(self, query_range: Range, children: list[Range]) -> None:
        assert self.state is not None
        index = self.state.ranges.index(query_range)
        self.state.ranges[index:index + 1] = children

    async def streaming(self) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
        """Ranges in EPK order, one backend page per page; the next ranges are fetched ahead."""
        state = self.state
        assert state is not None
        while True:
            if self.finished():
                yield [], self.charge_headers(), None
                return
            live = [r for r in state.ranges if not r.done or r.buffer]
            if not live:
                yield [], self.charge_headers(), None
                return
            for ahead in live[: self.target.max_concurrency]:
                self.start(ahead)
            current = live[0]
            children = await self.take(current)
            if children is not None:
                await self.replace_split(current, children)
                continue
            rows, current.buffer = current.buffer, []
            out = []
            for row in rows:
                if self.finished():
                    break
                if self.admit(row):
                    out.append(row)
            # The range's token now points after the page just emitted.
            current.token = current.next_token
            more = not self.finished() and any(not r.done for r in state.ranges)
            yield out, self.charge_headers(), state.encode() if more else None
            if not more:
                return

    async def ordered(self) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
        """k-way merge on orderByItems (a heap of each range's next row); each range's buffer holds its
        fetched, unconsumed rows, and one more page per range is in flight."""
        state = self.state
        assert state is not None
        directions = self.directions
        heap: list[tuple[SortKey, int, Range]] = []
        counter = 0

        def push(query_range: Range) -> None:
            nonlocal counter
            if query_range.buffer:
                row = query_range.buffer[0]
                key = SortKey(row.get("orderByItems") or [], directions, query_range.low,
                              document_number(row.get("_rid", "")))
                heapq.heappush(heap, (key, counter, query_range))
                counter += 1

        # Fill every range (in parallel, bounded by the semaphore), dropping what a resumed range
        # had already consumed.
        for query_range in await self._fill([r for r in state.ranges if not r.done]):
            push(query_range)
        for query_range in state.ranges:
            if query_range.buffer and not any(entry[2] is query_range for entry in heap):
                push(query_range)
        out: list[Any] = []
        while True:
            if not heap or self.finished():
                yield out, self.charge_headers(), None
                return
            key, _, query_range = heapq.heappop(heap)
            row = query_range.buffer.pop(0)
            last = query_range.last
            if last is not None and last.document == key.document and not compare_items(key.items, last.items,
                                                                                        directions):
                last.skip += 1  # another row of the same document with the same values (a JOIN)
            else:
                query_range.last = Last(list(key.items), row["_rid"], key.document, 1)
            # A row without "payload" is an undefined SELECT VALUE: the service returns nothing for it.
            if isinstance(row, dict) and "payload" in row and self.admit(row["payload"]):
                out.append(row["payload"])
            if query_range.buffer:
                push(query_range)
            elif not query_range.done:
                for refilled in await self._fill([query_range]):
                    push(refilled)
            if len(out) >= state.page_size:
                more = not self.finished() and any(r.buffer or not r.done for r in state.ranges)
                yield out, self.charge_headers(), state.encode() if more else None
                if not more:
                    return
                out = []

    async def _fill(self, ranges: list[Range]) -> list[Range]:
        """Fetch a page for each range whose buffer is empty, until it has rows or is done (a split
        range is replaced by its children). Returns the ranges that now have rows."""
        state = self.state
        assert state is not None
        todo = [r for r in ranges if not r.buffer and not r.done]
        filled: list[Range] = []
        while todo:
            for query_range in todo:
                self.start(query_range)
            results = await self.gather([self.take(r) for r in todo])
            again: list[Range] = []
            for query_range, children in zip(todo, results, strict=True):
                if children is not None:
                    await self.replace_split(query_range, children)
                    again.extend(children)
                    continue
                last = query_range.last
                if query_range.resuming and last is not None:
                    # A resumed range re-reads its page: skip what was consumed from it.
                    index, skipped = resume_index(query_range.buffer, last.items, last.document, last.skip,
                                                  self.directions)
                    if index is None:  # all consumed: the rest of the skip applies to the next page
                        query_range.buffer = []
                        last.skip -= skipped
                    else:  # `skipped` rows like the last one were consumed from this page
                        del query_range.buffer[:index]
                        last.skip = skipped
                        query_range.resuming = False
                if query_range.buffer:
                    filled.append(query_range)
                elif not query_range.done:
                    again.append(query_range)
            todo = again
        return filled

    async def drain(self) -> list[Any]:
        """Every row of every range (fetched in parallel, bounded by the semaphore)."""
        state = self.state
        assert state is not None
        rows: list[Any] = []
        while True:
            todo = [r for r in state.ranges if not r.done]
            if not todo:
                return rows
            for query_range in todo:
                self.start(query_range)
            results = await self.gather([self.take(r) for r in todo])
            for query_range, children in zip(todo, results, strict=True):
                if children is not None:
                    await self.replace_split(query_range, children)
                    continue
                rows.extend(query_range.buffer)
                query_range.buffer = []
