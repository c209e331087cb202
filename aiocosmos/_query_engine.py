"""The client-side cross-partition query pipeline (spec §8.3-§8.6, §15.3).

``query_items`` without a partition key first sends the query as it is (the cheap direct path: the
gateway streams simple cross-partition queries itself). Only when the gateway answers **400 with
sub-status 1004** ("can not be directly served by the gateway") does this module take over:

1. **Plan.** The query plan comes from the 1004 answer's ``additionalErrorInfo`` when it carries one,
   otherwise from a query-plan request (``x-ms-cosmos-is-query-plan-request: True``, the features
   below, ``x-ms-cosmos-query-version: 1.0``, ``Content-Type: application/json``, no
   ``x-ms-documentdb-isquery``), exactly as azure-cosmos sends it. Plans are cached per (client,
   container, query body).
2. **Fan-out.** The plan's ``queryRanges`` are mapped onto the container's partition key ranges (the
   client's routing map); the rewritten query (``{documentdb-formattableorderbyquery-filter}``
   replaced by ``true``) goes to each range with ``x-ms-documentdb-partitionkeyrangeid``. Up to
   ``max_concurrency`` ranges are fetched at once, each at most one page ahead of what is consumed.
3. **Merge.** ORDER BY is a k-way merge (a heap) on ``orderByItems`` (Cosmos type order: undefined <
   null < false/true < numbers < strings; ties broken by ``_rid``); other queries emit ranges in
   EPK order, one backend page per page. Then DISTINCT (ordered or unordered), OFFSET, TOP/LIMIT.
   ``SELECT VALUE`` COUNT/SUM/MIN/MAX/AVG partials are combined into one page. GROUP BY reads every
   range to the end, combines the per-range groups (``groupByItems``/``payload``, aggregates per
   ``groupByAliasToAggregateType``) and emits the groups in the Cosmos order of their keys.
4. **Continuation.** A composite token (``aq1:`` + JSON, wrapped by the pager's fingerprint and
   checksum like every aiocosmos token) holds, per EPK range, the backend continuation and, for
   ORDER BY, the sort key and ``_rid`` of the last item consumed from it; plus the items passed
   through DISTINCT/OFFSET/TOP (and the hashes DISTINCT has seen). Resuming re-reads each range from
   its continuation and drops what was already consumed, so it is exact at every page boundary, also
   after a split. A GROUP BY token counts the groups taken: resuming recomputes the groups.
5. **Splits.** A range that answers 410/1002/1007/1008 makes the client re-read the routing map and
   continue on the children from the same continuation.

Not supported yet (refused with :class:`~aiocosmos.exceptions.UnsupportedQuery` before any
per-range request): aggregates without ``VALUE`` outside GROUP BY, DCOUNT-style aggregates,
non-streaming (vector) ORDER BY and hybrid search; a range inside a merged partition (EPK-bounded
requests).
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._feeds.core import QUERY_HEADERS, query_body
from ._feeds.paging import AsyncItemPaged
from ._feeds.routing import RoutingMap, is_split_or_merge
from ._wire import codec
from ._wire.results import Page
from .exceptions import BadRequest, Gone, InvalidContinuationToken, PagingError, UnsupportedQuery, ValidationError

if TYPE_CHECKING:
    from ._feeds.core import ClientCore

__all__ = [
    "QueryPaged",
    "QueryPlan",
    "SUPPORTED_QUERY_FEATURES",
    "ENGINE_TOKEN_PREFIX",
    "compare_order_by_values",
    "plan_request_headers",
]

SUPPORTED_QUERY_FEATURES: Final = (
    "Aggregate,CompositeAggregate,Distinct,GroupBy,MultipleAggregates,MultipleOrderBy,OffsetAndLimit,OrderBy,Top"
)
"""The features this pipeline implements (azure-cosmos also lists NonStreamingOrderBy, HybridSearch,
CountIf and WeightedRankFusion, which we do not)."""
QUERY_VERSION: Final = "1.0"
ENGINE_TOKEN_PREFIX: Final = "aq1:"
_NOT_SERVABLE: Final = 1004
_RANGE_ID: Final = "x-ms-documentdb-partitionkeyrangeid"
_ORDER_BY_FILTER: Final = "{documentdb-formattableorderbyquery-filter}"
_DEFAULT_PAGE: Final = 100
_MAX_SPLIT_RETRIES: Final = 3
_PLAN_CACHE_SIZE: Final = 256
_AGGREGATES: Final = frozenset({"Count", "Sum", "Min", "Max", "Average"})


def plan_request_headers() -> dict[str, str]:
    """The headers of a query-plan request, as azure-cosmos sends them (no ``isquery`` header)."""
    return {
        "Content-Type": "application/json",
        "x-ms-cosmos-is-query-plan-request": "True",
        "x-ms-cosmos-supported-query-features": SUPPORTED_QUERY_FEATURES,
        "x-ms-cosmos-query-version": QUERY_VERSION,
    }


# ---------------------------------------------------------------------------------------------------
# The plan


@attrs.frozen
class QueryPlan:
    """What the service's ``_PartitionedQueryExecutionInfo`` says about one query."""

    rewritten_query: str | None
    order_by: tuple[str, ...]
    top: int | None
    offset: int | None
    limit: int | None
    distinct: str
    aggregates: tuple[str, ...]
    has_select_value: bool
    ranges: tuple[tuple[str, str], ...]
    group_by: tuple[str, ...] = ()
    group_aliases: tuple[str, ...] = ()
    group_alias_types: tuple[tuple[str, str | None], ...] = ()
    """(alias, aggregate or None) in the order of ``groupByAliases``."""

    @classmethod
    def from_json(cls, raw: object) -> QueryPlan:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("queryInfo"), Mapping):
            raise PagingError(f"the service sent a query plan without queryInfo: {raw!r:.300}")
        info = raw["queryInfo"]
        group_by = tuple(str(e) for e in info.get("groupByExpressions") or ())
        group_aliases = tuple(str(a) for a in info.get("groupByAliases") or ())
        raw_types = info.get("groupByAliasToAggregateType") or {}
        if not isinstance(raw_types, Mapping):
            raise PagingError(f"the query plan has a malformed groupByAliasToAggregateType: {raw_types!r:.200}")
        alias_types = tuple((alias, None if raw_types.get(alias) is None else str(raw_types[alias]))
                            for alias in group_aliases)
        unknown_group = [t for _, t in alias_types if t is not None and t not in _AGGREGATES]
        if unknown_group:
            raise UnsupportedQuery(f"GROUP BY with aggregates {unknown_group} is not supported")
        if group_by and not group_aliases:
            raise UnsupportedQuery("a GROUP BY plan without groupByAliases is not supported")
        if info.get("hasNonStreamingOrderBy") or raw.get("hybridSearchQueryInfo"):
            raise UnsupportedQuery("vector (non-streaming ORDER BY) and hybrid search queries are not supported yet")
        aggregates = tuple(str(a) for a in info.get("aggregates") or ())
        unknown = [a for a in aggregates if a not in _AGGREGATES]
        if unknown:
            raise UnsupportedQuery(f"cross-partition aggregates {unknown} are not supported")
        has_select_value = bool(info.get("hasSelectValue"))
        if aggregates and not has_select_value and not group_by:
            raise UnsupportedQuery("cross-partition aggregates are supported in 'SELECT VALUE <aggregate>' form only "
                                   "(e.g. SELECT VALUE COUNT(1) FROM c)")
        ranges = []
        for query_range in raw.get("queryRanges") or ({"min": "", "max": "FF"},):
            if not isinstance(query_range, Mapping):
                raise PagingError(f"the query plan has a malformed query range: {query_range!r:.200}")
            low, high = str(query_range.get("min", "")).upper(), str(query_range.get("max", "FF")).upper()
            if query_range.get("isMaxInclusive"):
                high = high + "00"  # [a, b] -> [a, b + smallest suffix)
            if query_range.get("isMinInclusive") is False:
                low = low + "00"
            ranges.append((low, high))
        rewritten = info.get("rewrittenQuery") or None
        if isinstance(rewritten, str):
            rewritten = rewritten.replace(_ORDER_BY_FILTER, "true")
        return cls(
            rewritten_query=rewritten,
            order_by=tuple(str(o) for o in info.get("orderBy") or ()),
            top=_opt_int(info.get("top")),
            offset=_opt_int(info.get("offset")),
            limit=_opt_int(info.get("limit")),
            distinct=str(info.get("distinctType") or "None"),
            aggregates=aggregates,
            has_select_value=has_select_value,
            ranges=tuple(ranges),
            group_by=group_by,
            group_aliases=group_aliases,
            group_alias_types=alias_types,
        )


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PagingError(f"the query plan has an invalid count: {value!r}")
    return value


_plan_cache: OrderedDict[tuple[int, str, bytes], tuple[ClientCore, QueryPlan]] = OrderedDict()


def _cached_plan(core: ClientCore, link: str, body: bytes) -> QueryPlan | None:
    entry = _plan_cache.get((id(core), link, body))
    if entry is None or entry[0] is not core:
        return None
    _plan_cache.move_to_end((id(core), link, body))
    return entry[1]


def _remember_plan(core: ClientCore, link: str, body: bytes, plan: QueryPlan) -> None:
    _plan_cache[(id(core), link, body)] = (core, plan)
    while len(_plan_cache) > _PLAN_CACHE_SIZE:
        _plan_cache.popitem(last=False)


def plan_from_not_servable(error: BadRequest) -> QueryPlan | None:
    """The plan the gateway put in a 400/1004 answer's ``additionalErrorInfo``, if it did."""
    try:
        body = codec.loads(error.body) if error.body else None
        info = body.get("additionalErrorInfo") if isinstance(body, dict) else None
        raw = codec.loads(info.encode()) if isinstance(info, str) else info
    except Exception:  # noqa: BLE001 - any garbage here just means "ask for the plan"
        return None
    if not isinstance(raw, Mapping) or "queryInfo" not in raw:
        return None
    return QueryPlan.from_json(raw)


# ---------------------------------------------------------------------------------------------------
# Ordering (Cosmos's type order)


def _type_rank(value: object, present: bool) -> int:
    if not present:
        return 0  # undefined
    if value is None:
        return 1
    if isinstance(value, bool):
        return 2
    if isinstance(value, int | float):
        return 4
    if isinstance(value, str):
        return 5
    return 6  # arrays and objects: after strings (only equality is meaningful)


def compare_order_by_values(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    """Compare two ``{"item": v}`` entries (``{}`` is undefined) in Cosmos's order."""
    present_a, present_b = "item" in a, "item" in b
    va, vb = a.get("item"), b.get("item")
    rank_a, rank_b = _type_rank(va, present_a), _type_rank(vb, present_b)
    if rank_a != rank_b:
        return -1 if rank_a < rank_b else 1
    if rank_a in (0, 1, 6):
        return 0
    if va == vb:
        return 0
    return -1 if va < vb else 1  # type: ignore[operator]


class _SortKey:
    """The ORDER BY key of one row: its ``orderByItems``, the directions, the range and ``_rid``."""

    __slots__ = ("directions", "items", "range_index", "rid")

    def __init__(self, items: Sequence[Mapping[str, Any]], directions: Sequence[bool], range_index: int,
                 rid: str) -> None:
        self.items = items
        self.directions = directions
        self.range_index = range_index
        self.rid = rid

    def compare_values(self, other: _SortKey) -> int:
        for a, b, descending in zip(self.items, other.items, self.directions, strict=False):
            result = compare_order_by_values(a, b)
            if result:
                return -result if descending else result
        return 0

    def __lt__(self, other: _SortKey) -> bool:
        result = self.compare_values(other)
        if result:
            return result < 0
        return (self.rid, self.range_index) < (other.rid, other.range_index)


def _after(items: Sequence[Mapping[str, Any]], rid: str, last: tuple[list[Any], str],
           directions: Sequence[bool]) -> bool:
    """Whether a row of one range comes after that range's last consumed row (``last``)."""
    key = _SortKey(items, directions, 0, rid)
    result = key.compare_values(_SortKey(last[0], directions, 0, last[1]))
    return result > 0 or (result == 0 and rid > last[1])


def _hash(value: Any) -> str:
    return hashlib.blake2b(codec.dumps(_canonical(value), what="query result"), digest_size=8).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return [[k, _canonical(value[k])] for k in sorted(value)]
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------
# State


class _Range:
    """One EPK range of the query: its backend continuation, whether it is exhausted, the last
    consumed ORDER BY key (``last``), and (streaming) the rows fetched but not consumed yet."""

    __slots__ = ("buffer", "done", "high", "last", "low", "next_token", "pending", "token")

    def __init__(self, low: str, high: str, token: str | None, done: bool = False,
                 last: tuple[list[Any], str] | None = None) -> None:
        self.low = low
        self.high = high
        self.token = token  # the continuation that produced the rows in `buffer` (what a resume re-reads)
        self.next_token: str | None = token
        self.done = done
        self.last = last
        self.buffer: list[Any] = []
        self.pending: asyncio.Task[tuple[list[Any], str | None, list[_Range] | None]] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"a": self.low, "b": self.high}
        if self.token is not None:
            data["t"] = self.token
        if self.done and not self.buffer:
            data["d"] = 1
        if self.last is not None:
            data["l"] = [self.last[0], self.last[1]]
        return data


class _State:
    __slots__ = ("distinct_last", "distinct_seen", "groups_done", "page_size", "passed", "ranges")

    def __init__(self, ranges: list[_Range], page_size: int) -> None:
        self.ranges = ranges
        self.page_size = page_size
        self.passed = 0  # rows that came out of DISTINCT (OFFSET/TOP/LIMIT count these)
        self.distinct_last: str | None = None
        self.distinct_seen: set[str] = set()
        self.groups_done = 0  # GROUP BY: groups already taken (a resume recomputes them and skips these)

    def encode(self) -> str:
        data: dict[str, Any] = {"v": 1, "p": self.page_size, "n": self.passed,
                                "r": [r.to_json() for r in self.ranges]}
        if self.distinct_last is not None:
            data["dl"] = self.distinct_last
        if self.distinct_seen:
            data["ds"] = sorted(self.distinct_seen)
        if self.groups_done:
            data["gd"] = self.groups_done
        return ENGINE_TOKEN_PREFIX + codec.dumps(data, what="continuation").decode()

    @classmethod
    def decode(cls, token: str) -> _State:
        try:
            data = codec.loads(token[len(ENGINE_TOKEN_PREFIX):].encode())
            if not isinstance(data, dict) or data.get("v") != 1:
                raise ValueError("version")
            ranges = []
            for raw in data["r"]:
                last = raw.get("l")
                ranges.append(_Range(str(raw["a"]), str(raw["b"]), raw.get("t"), bool(raw.get("d")),
                                     (list(last[0]), str(last[1])) if last is not None else None))
            state = cls(ranges, int(data["p"]))
            state.passed = int(data["n"])
            state.distinct_last = data.get("dl")
            state.distinct_seen = set(data.get("ds") or ())
            state.groups_done = int(data.get("gd") or 0)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise InvalidContinuationToken("the query continuation token is damaged") from exc
        return state


# ---------------------------------------------------------------------------------------------------
# The pager


@asynccontextmanager
async def _closing(iterator: AsyncIterator[Any]) -> AsyncIterator[AsyncIterator[Any]]:
    """Close an async generator when the ``async with`` ends (an abandoned page iteration closes the
    inner one at once, which cancels and awaits the pages it was fetching ahead)."""
    try:
        yield iterator
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


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


class QueryPaged(AsyncItemPaged[Any]):
    """The pager of a cross-partition query: the direct path first; the client-side pipeline after
    a 400/1004 (or when resuming one of its tokens)."""

    __slots__ = ("_target",)

    def __init__(self, direct: AsyncItemPaged[Any], target: QueryTarget) -> None:
        super().__init__(direct._fetch, direct._fingerprint)
        self._target = target

    async def _iter_pages(self, token: str | None) -> AsyncIterator[Page[Any]]:
        if token is not None:
            if token.startswith(ENGINE_TOKEN_PREFIX):
                state = _State.decode(token)
                async with _closing(self._engine_pages(await self._plan(None), state)) as pages:
                    async for page in pages:
                        yield page
                return
            async with _closing(super()._iter_pages(token)) as direct_pages:
                async for page in direct_pages:
                    yield page
            return
        fetch = self._fetch
        try:
            first = await fetch(None)
        except BadRequest as exc:
            if exc.sub_status != _NOT_SERVABLE:
                raise
            plan = await self._plan(exc)
            async with _closing(self._engine_pages(plan, None)) as pages:
                async for page in pages:
                    yield page
            return
        replayed = [first]

        async def replay(continuation: str | None) -> tuple[list[Any], Mapping[str, str], int]:
            if continuation is None and replayed:
                return replayed.pop()
            return await fetch(continuation)

        async with _closing(AsyncItemPaged(replay, self._fingerprint)._iter_pages(None)) as replayed_pages:
            async for page in replayed_pages:
                yield page

    async def _plan(self, error: BadRequest | None) -> QueryPlan:
        target = self._target
        plan = _cached_plan(target.core, target.link, target.body)
        if plan is not None:
            return plan
        plan = plan_from_not_servable(error) if error is not None else None
        if plan is None:
            _, _, data = await target.core.request(
                "POST", target.docs_path, "docs", target.link, headers=plan_request_headers(), body=target.body,
                idempotent=True, timeout=target.timeout,
            )
            plan = QueryPlan.from_json(codec.loads(data) if data else None)
        _remember_plan(target.core, target.link, target.body, plan)
        return plan

    async def _engine_pages(self, plan: QueryPlan, state: _State | None) -> AsyncIterator[Page[Any]]:
        run = _Run(self._target, plan, state)
        carried = 0.0
        try:
            async for items, headers, next_state in run.pages():
                if not items and next_state is not None:
                    carried += float(headers.get("x-ms-request-charge") or 0.0)
                    continue
                yield Page(items, headers, 200, None if next_state is None else self._encode(next_state), carried)
                carried = 0.0
        finally:
            await run.close()


class _Run:
    """One execution of the pipeline (one ``by_page`` iteration)."""

    def __init__(self, target: QueryTarget, plan: QueryPlan, state: _State | None) -> None:
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
        self.routing: RoutingMap | None = None

    async def close(self) -> None:
        """Cancel the pages fetched ahead and wait for them (no task outlives the iteration)."""
        if self.state is None:
            return
        tasks = [r.pending for r in self.state.ranges if r.pending is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- limits --------------------------------------------------------------------------------

    @property
    def wanted(self) -> int | None:
        """How many rows OFFSET/TOP/LIMIT let through DISTINCT in all (None: all)."""
        plan = self.plan
        take = plan.top if plan.top is not None else plan.limit
        if take is None:
            return None
        return (plan.offset or 0) + take

    def _admit(self, row: Any) -> bool:
        """DISTINCT, then OFFSET: whether ``row`` is emitted (and count it)."""
        state = self.state
        assert state is not None
        if self.plan.distinct != "None":
            digest = _hash(row)
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

    def _finished(self) -> bool:
        wanted = self.wanted
        assert self.state is not None
        return wanted is not None and self.state.passed >= wanted

    # -- ranges --------------------------------------------------------------------------------

    async def _routing_map(self, stale: RoutingMap | None = None) -> RoutingMap:
        target = self.target
        self.routing = await target.core.routing_maps.get(target.link, target.coll_path + "/pkranges", stale=stale,
                                                          timeout=target.timeout)
        return self.routing

    async def _initial_state(self) -> _State:
        routing = await self._routing_map()
        ranges: list[_Range] = []
        seen: set[str] = set()
        for low, high in self.plan.ranges:
            for pk_range in routing.overlapping(low, high):
                if pk_range.id not in seen:
                    seen.add(pk_range.id)
                    ranges.append(_Range(pk_range.min_inclusive, pk_range.max_exclusive, None))
        ranges.sort(key=lambda r: r.low)
        page_size = self.target.max_item_count
        return _State(ranges, page_size if page_size and page_size > 0 else _DEFAULT_PAGE)

    async def _fetch_range(self, query_range: _Range) -> tuple[list[Any], str | None, list[_Range] | None]:
        """One page of ``query_range`` from its ``next_token``: (rows, next continuation, None), or
        (``[]``, None, children) when the range split and must be replaced by ``children``."""
        target = self.target
        assert self.state is not None
        for attempt in range(_MAX_SPLIT_RETRIES + 1):
            routing = self.routing or await self._routing_map()
            parts = routing.overlapping(query_range.low, query_range.high)
            if len(parts) > 1 or (parts and (parts[0].min_inclusive > query_range.low
                                             or parts[0].max_exclusive < query_range.high)):
                if len(parts) == 1:
                    raise UnsupportedQuery("a query range inside a merged partition needs EPK-bounded requests, "
                                           "which are not supported yet")
                children = [_Range(max(p.min_inclusive, query_range.low), min(p.max_exclusive, query_range.high),
                                   query_range.next_token, False, query_range.last) for p in parts]
                return [], None, children
            if not parts:
                raise PagingError(f"no partition key range covers [{query_range.low!r}, {query_range.high!r})")
            headers = dict(QUERY_HEADERS)
            headers.update(target.headers)
            headers[_RANGE_ID] = parts[0].id
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
            parsed = codec.loads(data) if data else {}
            rows = parsed.get("Documents", []) if isinstance(parsed, dict) else []
            return list(rows), response_headers.get("x-ms-continuation") or None, None
        raise AssertionError("unreachable")

    def _start(self, query_range: _Range) -> None:
        if query_range.pending is None and not query_range.done:
            query_range.pending = asyncio.ensure_future(self._fetch_range(query_range))

    async def _take(self, query_range: _Range) -> list[_Range] | None:
        """Wait for the range's pending page and put it in its buffer (or return its children)."""
        self._start(query_range)
        assert query_range.pending is not None
        task, query_range.pending = query_range.pending, None
        rows, next_token, children = await task
        if children is not None:
            return children
        query_range.token = query_range.next_token
        query_range.next_token = next_token
        query_range.buffer = rows
        if next_token is None:
            query_range.done = True
        else:
            self._start(query_range)  # keep one page in flight per range while this one is consumed
        return None

    def _headers(self) -> dict[str, str]:
        headers = {"x-ms-request-charge": f"{self.charge:.2f}"}
        self.charge = 0.0
        return headers

    # -- pipelines -----------------------------------------------------------------------------

    async def pages(self) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
        if self.state is None:
            self.state = await self._initial_state()
        else:
            await self._routing_map()
        if self.plan.group_by:
            async for page in self._group_by():
                yield page
        elif self.plan.aggregates:
            async for page in self._aggregate():
                yield page
        elif self.plan.order_by:
            async for page in self._ordered():
                yield page
        else:
            async for page in self._streaming():
                yield page

    async def _replace_split(self, query_range: _Range, children: list[_Range]) -> None:
        assert self.state is not None
        index = self.state.ranges.index(query_range)
        self.state.ranges[index:index + 1] = children

    async def _streaming(self) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
        """Ranges in EPK order, one backend page per page; the next ranges are fetched ahead."""
        state = self.state
        assert state is not None
        while True:
            if self._finished():
                yield [], self._headers(), None
                return
            live = [r for r in state.ranges if not r.done or r.buffer]
            if not live:
                yield [], self._headers(), None
                return
            for ahead in live[: self.target.max_concurrency]:
                self._start(ahead)
            current = live[0]
            children = await self._take(current)
            if children is not None:
                await self._replace_split(current, children)
                continue
            rows, current.buffer = current.buffer, []
            out = []
            for row in rows:
                if self._finished():
                    break
                if self._admit(row):
                    out.append(row)
            # The range's token now points after the page just emitted.
            current.token = current.next_token
            more = not self._finished() and any(not r.done for r in state.ranges)
            yield out, self._headers(), state.encode() if more else None
            if not more:
                return

    async def _ordered(self) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
        """k-way merge on orderByItems (a heap of each range's next row); each range's buffer holds its
        fetched, unconsumed rows, and one more page per range is in flight."""
        state = self.state
        assert state is not None
        directions = self.directions
        heap: list[tuple[_SortKey, int, _Range]] = []
        counter = 0

        def push(query_range: _Range) -> None:
            nonlocal counter
            if query_range.buffer:
                row = query_range.buffer[0]
                key = _SortKey(row.get("orderByItems") or [], directions, counter, str(row.get("_rid", "")))
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
            if not heap or self._finished():
                yield out, self._headers(), None
                return
            key, _, query_range = heapq.heappop(heap)
            row = query_range.buffer.pop(0)
            query_range.last = (list(key.items), key.rid)
            # A row without "payload" is an undefined SELECT VALUE: the service returns nothing for it.
            if isinstance(row, dict) and "payload" in row and self._admit(row["payload"]):
                out.append(row["payload"])
            if query_range.buffer:
                push(query_range)
            elif not query_range.done:
                for refilled in await self._fill([query_range]):
                    push(refilled)
            if len(out) >= state.page_size:
                more = not self._finished() and any(r.buffer or not r.done for r in state.ranges)
                yield out, self._headers(), state.encode() if more else None
                if not more:
                    return
                out = []

    async def _fill(self, ranges: list[_Range]) -> list[_Range]:
        """Fetch a page for each range whose buffer is empty, until it has rows or is done (a split
        range is replaced by its children). Returns the ranges that now have rows."""
        state = self.state
        assert state is not None
        todo = [r for r in ranges if not r.buffer and not r.done]
        filled: list[_Range] = []
        while todo:
            for query_range in todo:
                self._start(query_range)
            results = await asyncio.gather(*(self._take(r) for r in todo))
            again: list[_Range] = []
            for query_range, children in zip(todo, results, strict=True):
                if children is not None:
                    await self._replace_split(query_range, children)
                    again.extend(children)
                    continue
                if query_range.last is not None and query_range.buffer:
                    last = query_range.last
                    query_range.buffer = [
                        row for row in query_range.buffer
                        if _after(row.get("orderByItems") or [], str(row.get("_rid", "")), last, self.directions)
                    ]
                if query_range.buffer:
                    filled.append(query_range)
                elif not query_range.done:
                    again.append(query_range)
            todo = again
        return filled

    async def _drain(self) -> list[Any]:
        """Every row of every range (fetched in parallel, bounded by the semaphore)."""
        state = self.state
        assert state is not None
        rows: list[Any] = []
        while True:
            todo = [r for r in state.ranges if not r.done]
            if not todo:
                return rows
            for query_range in todo:
                self._start(query_range)
            results = await asyncio.gather(*(self._take(r) for r in todo))
            for query_range, children in zip(todo, results, strict=True):
                if children is not None:
                    await self._replace_split(query_range, children)
                    continue
                rows.extend(query_range.buffer)
                query_range.buffer = []

    async def _group_by(self) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
        """GROUP BY: every range is read to the end and the per-range groups are combined; groups come
        out in the Cosmos order of their keys. A continuation counts the groups taken; resuming reads
        the ranges again (from the start) and skips them."""
        state = self.state
        assert state is not None
        plan = self.plan
        skip = state.groups_done
        for query_range in state.ranges:  # a GROUP BY always recomputes from the start
            query_range.token = query_range.next_token = None
            query_range.done = False
        groups: dict[str, tuple[list[Any], dict[str, list[Any]]]] = {}
        for row in await self._drain():
            if not isinstance(row, dict):
                continue
            keys = row.get("groupByItems") or []
            digest = _hash(keys)
            entry = groups.get(digest)
            if entry is None:
                entry = groups[digest] = (list(keys), {alias: [] for alias in plan.group_aliases})
            payload = row.get("payload")
            for alias, aggregate in plan.group_alias_types:
                if plan.has_select_value:
                    present, value = payload is not None or "payload" in row, payload
                elif isinstance(payload, dict):
                    present, value = alias in payload, payload.get(alias)
                else:
                    present, value = False, None
                if not present:
                    continue
                if aggregate is not None:
                    if isinstance(value, dict):
                        if "item" in value:
                            entry[1][alias].append(value["item"])
                    else:
                        entry[1][alias].append(value)
                else:
                    entry[1][alias].append(value)
        directions = [False] * len(plan.group_by)
        ordered = sorted(groups.values(), key=lambda g: _SortKey(g[0], directions, 0, ""))
        results: list[Any] = []
        for _, values in ordered:
            result: dict[str, Any] = {}
            for alias, aggregate in plan.group_alias_types:
                if aggregate is None:
                    if values[alias]:
                        result[alias] = values[alias][0]
                    continue
                combined = _combine(aggregate, values[alias])
                if combined is not _UNDEFINED:
                    result[alias] = combined
            if plan.has_select_value:
                if plan.group_aliases and plan.group_aliases[0] in result:
                    results.append(result[plan.group_aliases[0]])
                else:
                    results.append(_UNDEFINED)  # an undefined VALUE is not returned, but it is a group
            else:
                results.append(result)
        for query_range in state.ranges:
            query_range.done = True
            query_range.token = query_range.next_token = None
        out: list[Any] = []
        index = skip
        while index < len(results) and not self._finished():
            value = results[index]
            index += 1
            if value is not _UNDEFINED and self._admit(value):
                out.append(value)
            if len(out) >= state.page_size:
                break
        state.groups_done = index
        more = index < len(results) and not self._finished()
        yield out, self._headers(), state.encode() if more else None
        if not more:
            return
        # The rest, from memory (a resume of these pages would recompute them).
        while True:
            out = []
            while index < len(results) and not self._finished() and len(out) < state.page_size:
                value = results[index]
                index += 1
                if value is not _UNDEFINED and self._admit(value):
                    out.append(value)
            state.groups_done = index
            more = index < len(results) and not self._finished()
            yield out, self._headers(), state.encode() if more else None
            if not more:
                return

    async def _aggregate(self) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
        state = self.state
        assert state is not None
        partials: list[list[Any]] = [[] for _ in self.plan.aggregates]
        while True:
            todo = [r for r in state.ranges if not r.done]
            if not todo:
                break
            for query_range in todo:
                self._start(query_range)
            results = await asyncio.gather(*(self._take(r) for r in todo))
            for query_range, children in zip(todo, results, strict=True):
                if children is not None:
                    await self._replace_split(query_range, children)
                    continue
                for row in query_range.buffer:
                    entries = row if isinstance(row, list) else [row]
                    for slot, entry in enumerate(entries[: len(partials)]):
                        if isinstance(entry, dict):
                            if "item" in entry:
                                partials[slot].append(entry["item"])
                        else:
                            partials[slot].append(entry)
                query_range.buffer = []
        out = []
        for name, values in zip(self.plan.aggregates, partials, strict=True):
            result = _combine(name, values)
            if result is not _UNDEFINED:
                out.append(result)
        yield out, self._headers(), None


_UNDEFINED: Final = object()


def _combine(name: str, values: list[Any]) -> Any:
    if name == "Count":
        return sum(v for v in values if isinstance(v, int | float))
    if name == "Sum":
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        return sum(numbers) if numbers else _UNDEFINED
    if name == "Average":
        total, count = 0.0, 0
        for value in values:
            if isinstance(value, dict) and "sum" in value and value.get("count"):
                total += value["sum"]
                count += value["count"]
        return total / count if count else _UNDEFINED
    present = [v for v in values if v is not _UNDEFINED]
    if not present:
        return _UNDEFINED
    best = present[0]
    for value in present[1:]:
        result = compare_order_by_values({"item": value}, {"item": best})
        if (name == "Min" and result < 0) or (name == "Max" and result > 0):
            best = value
    return best


DEFAULT_MAX_CONCURRENCY: Final = 8


def cross_partition_pager(
    core: ClientCore,
    link: str,
    coll_path: str,
    docs_path: str,
    direct: AsyncItemPaged[Any],
    query: str,
    parameters: Sequence[Mapping[str, Any]] | None,
    headers: Mapping[str, str],
    max_item_count: int | None,
    max_concurrency: int | None,
    timeout: float | None,
) -> QueryPaged:
    """The pager of a cross-partition query (arguments already validated by ``core.feed``)."""
    if max_concurrency is None:
        max_concurrency = DEFAULT_MAX_CONCURRENCY
    if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
        raise ValidationError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
    target = QueryTarget(core, link, coll_path, docs_path, query, parameters, query_body(query, parameters),
                         dict(headers), max_item_count, max_concurrency, timeout)
    return QueryPaged(direct, target)
