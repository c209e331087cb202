"""The query plan (spec §8.3): what the service says about a query, the plan request's headers and
features, the plan cache, and the plan a 400/1004 answer carries."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import attrs

from .._wire import codec
from ..exceptions import BadRequest, PagingError, UnsupportedQuery
from .partials import AGGREGATES

if TYPE_CHECKING:
    from .._feeds.core import ClientCore

__all__ = [
    "SUPPORTED_QUERY_FEATURES",
    "QUERY_VERSION",
    "QueryPlan",
    "HybridPlan",
    "HybridComponent",
    "plan_request_headers",
    "plan_from_not_servable",
    "cached_plan",
    "remember_plan",
]

SUPPORTED_QUERY_FEATURES: Final = (
    "Aggregate,CompositeAggregate,DCount,Distinct,GroupBy,HybridSearch,MultipleAggregates,MultipleOrderBy,"
    "NonStreamingOrderBy,NonValueAggregate,OffsetAndLimit,OrderBy,Top,WeightedRankFusion"
)
"""Exactly the features this pipeline implements (the gateway refuses the plan of a query that needs
another one). Not implemented: CountIf and ListAndSetAggregate (MAKELIST/MAKESET)."""
MAX_NON_STREAMING_ROWS: Final = 50_000
"""The most rows (TOP, or OFFSET + LIMIT) a vector search may ask for, azure-cosmos's default
(``AZURE_COSMOS_MAX_ITEM_BUFFER_VECTOR_SEARCH``)."""
MAX_HYBRID_ROWS: Final = 1000
"""The most rows (TOP or LIMIT) a hybrid search may ask for, azure-cosmos's default
(``AZURE_COSMOS_HYBRID_SEARCH_MAX_ITEMS``)."""
QUERY_VERSION: Final = "1.0"
_ORDER_BY_FILTER: Final = "{documentdb-formattableorderbyquery-filter}"
_PLAN_CACHE_SIZE: Final = 256
_FEATURE_OF_AGGREGATE: Final = {"CountIf": "CountIf", "MakeList": "ListAndSetAggregate",
                                "MakeSet": "ListAndSetAggregate"}


def plan_request_headers() -> dict[str, str]:
    """The headers of a query-plan request, as azure-cosmos sends them (no ``isquery`` header)."""
    return {
        "Content-Type": "application/json",
        "x-ms-cosmos-is-query-plan-request": "True",
        "x-ms-cosmos-supported-query-features": SUPPORTED_QUERY_FEATURES,
        "x-ms-cosmos-query-version": QUERY_VERSION,
    }



@attrs.frozen
class HybridComponent:
    """One component query of a hybrid search (``componentQueryInfos``): its text with the statistics
    placeholders still in it, its order and how many rows it keeps across ranges."""

    query: str
    descending: bool
    """The component's score order (``orderBy[0]``; descending when the plan gives none)."""
    top: int | None
    """``hasNonStreamingOrderBy``: the best ``top`` rows across ranges; None: every range's rows."""


@attrs.frozen
class HybridPlan:
    """What ``hybridSearchQueryInfo`` says (aiocosmos/_query/hybrid.py runs it)."""

    statistics_query: str | None
    """The global statistics query (None when ``requiresGlobalStatistics`` is false)."""
    components: tuple[HybridComponent, ...]
    weights: tuple[float, ...]
    skip: int
    take: int

    @classmethod
    def from_json(cls, raw: object) -> HybridPlan:
        """Parse and check a ``hybridSearchQueryInfo`` (before any per-range request)."""
        if not isinstance(raw, Mapping):
            raise PagingError(f"the query plan has a malformed hybridSearchQueryInfo: {raw!r:.300}")
        take = _opt_int(raw.get("take"))
        if take is None:
            raise UnsupportedQuery("a hybrid search (ORDER BY RANK; query feature HybridSearch) needs TOP or "
                                   "OFFSET/LIMIT: without them it would read every document")
        if take > MAX_HYBRID_ROWS:
            raise UnsupportedQuery(f"a hybrid search may ask for at most {MAX_HYBRID_ROWS} rows (TOP or LIMIT); "
                                   f"this one asks for {take}")
        if raw.get("projectionQueryInfo") or raw.get("componentWithoutPayloadQueryInfos"):
            raise UnsupportedQuery("a hybrid search plan with a separate projection query (query feature "
                                   "HybridSearch: projectionQueryInfo) is not supported across partitions")
        infos = raw.get("componentQueryInfos")
        if not isinstance(infos, list) or not infos:
            raise PagingError(f"the hybrid search plan has no componentQueryInfos: {raw!r:.300}")
        components = tuple(_component(info) for info in infos)
        raw_weights = raw.get("componentWeights") or []
        if not isinstance(raw_weights, list) or (raw_weights and len(raw_weights) != len(components)) or not all(
                isinstance(w, int | float) and not isinstance(w, bool) for w in raw_weights):
            raise PagingError(f"the hybrid search plan has malformed componentWeights: {raw_weights!r:.200}")
        statistics = raw.get("globalStatisticsQuery") if raw.get("requiresGlobalStatistics") else None
        if statistics is not None and not isinstance(statistics, str):
            raise PagingError(f"the hybrid search plan has a malformed globalStatisticsQuery: {statistics!r:.200}")
        return cls(statistics or None, components,
                   tuple(float(w) for w in raw_weights) or (1.0,) * len(components),
                   _opt_int(raw.get("skip")) or 0, take)


def _component(info: object) -> HybridComponent:
    if not isinstance(info, Mapping) or not isinstance(info.get("rewrittenQuery"), str):
        raise PagingError(f"the hybrid search plan has a malformed component query: {info!r:.300}")
    if (info.get("groupByExpressions") or info.get("aggregates") or info.get("dCountInfo")
            or str(info.get("distinctType") or "None") != "None" or any(
                t is not None for t in (info.get("groupByAliasToAggregateType") or {}).values())):
        raise UnsupportedQuery("a hybrid search component with DISTINCT, GROUP BY or aggregates (query feature "
                               "HybridSearch) is not supported across partitions")
    order = info.get("orderBy") or []
    top = _opt_int(info.get("top")) if info.get("hasNonStreamingOrderBy") and order else None
    if info.get("hasNonStreamingOrderBy") and order:
        if top is None:
            raise UnsupportedQuery("a hybrid search component without TOP (query feature HybridSearch) would "
                                   "read every document")
        if top > MAX_NON_STREAMING_ROWS:
            raise UnsupportedQuery(f"a hybrid search component may keep at most {MAX_NON_STREAMING_ROWS} rows; "
                                   f"this one keeps {top}")
    return HybridComponent(str(info["rewrittenQuery"]), not order or order[0] != "Ascending", top)


@attrs.frozen
class QueryPlan:
    """What the service's ``_PartitionedQueryExecutionInfo`` says about one query.

    The shapes, as the gateway plans them (tests/client/fixtures/query_plans.json):

    * GROUP BY (``group_by`` not empty): rows ``{"groupByItems": [...], "payload": ...}``. With
      ``SELECT VALUE`` there are no aliases: the payload is ``[{"item": <partial>}]`` when
      ``aggregates`` names one aggregate, else the value itself. Otherwise the payload is an object
      keyed by ``group_aliases``, aggregates as ``{"item": ...}`` partials.
    * Aggregates without GROUP BY: ``SELECT VALUE`` rows ``[{"item": <partial>}]`` (``aggregates``),
      or, without VALUE, ``{"payload": {alias: {"item": ...}}}`` keyed by ``group_aliases`` (one
      object comes out, even when every column is undefined).
    * DCOUNT (``dcount_alias`` not None): the rewritten query is the DISTINCT inner query; the
      client counts what DISTINCT/OFFSET/TOP let through (a number, or ``{alias: n}``).
    """

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
    dcount_alias: str | None = None
    """DCOUNT: None (not a DCOUNT), ``""`` (``SELECT VALUE``) or the alias of the count."""
    non_streaming: bool = False
    """Vector search (``hasNonStreamingOrderBy``): every range drained, the best rows merged (vector.py)."""
    hybrid: HybridPlan | None = None
    """Hybrid / full-text ranked search (``hybridSearchQueryInfo``; hybrid.py): no ``queryInfo``."""

    @property
    def aggregated(self) -> bool:
        """An aggregate query without GROUP BY (one row out, combined from every range)."""
        return not self.group_by and (bool(self.aggregates) or any(t is not None for _, t in self.group_alias_types))

    @property
    def passthrough(self) -> bool:
        """Nothing for the client to do: the ranges' rows, one range after another, are the answer."""
        return not (self.order_by or self.aggregated or self.group_by or self.dcount_alias is not None
                    or self.distinct != "None" or self.top is not None or self.offset is not None
                    or self.limit is not None or self.hybrid is not None)

    @classmethod
    def from_json(cls, raw: object) -> QueryPlan:
        if isinstance(raw, Mapping) and raw.get("hybridSearchQueryInfo"):
            return cls(rewritten_query=None, order_by=(), top=None, offset=None, limit=None, distinct="None",
                       aggregates=(), has_select_value=False, ranges=_ranges(raw),
                       hybrid=HybridPlan.from_json(raw["hybridSearchQueryInfo"]))
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
        aggregates = tuple(str(a) for a in info.get("aggregates") or ())
        _check_aggregates([*aggregates, *(t for _, t in alias_types if t is not None)])
        has_select_value = bool(info.get("hasSelectValue"))
        if has_select_value and len(aggregates) > 1:
            raise PagingError(f"the query plan has several SELECT VALUE aggregates: {aggregates}")
        if not has_select_value and not group_aliases and (aggregates or group_by):
            raise PagingError("the query plan has aggregates or GROUP BY without VALUE and without groupByAliases")
        dcount = info.get("dCountInfo")
        dcount_alias = None
        if dcount is not None:
            if not isinstance(dcount, Mapping):
                raise PagingError(f"the query plan has a malformed dCountInfo: {dcount!r:.200}")
            dcount_alias = str(dcount.get("dCountAlias") or "")
        non_streaming = bool(info.get("hasNonStreamingOrderBy"))
        if non_streaming:
            _check_non_streaming(info)
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
            ranges=_ranges(raw),
            group_by=group_by,
            group_aliases=group_aliases,
            group_alias_types=alias_types,
            dcount_alias=dcount_alias,
            non_streaming=non_streaming,
        )


def _ranges(raw: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    ranges = []
    query_ranges = raw.get("queryRanges") or ({"min": "", "max": "FF"},)
    if not isinstance(query_ranges, list | tuple):
        raise PagingError(f"the query plan has malformed query ranges: {query_ranges!r:.200}")
    for query_range in query_ranges:
        if not isinstance(query_range, Mapping):
            raise PagingError(f"the query plan has a malformed query range: {query_range!r:.200}")
        low, high = str(query_range.get("min", "")).upper(), str(query_range.get("max", "FF")).upper()
        if query_range.get("isMaxInclusive"):
            high = high + "00"  # [a, b] -> [a, b + smallest suffix)
        if query_range.get("isMinInclusive") is False:
            low = low + "00"
        ranges.append((low, high))
    return tuple(ranges)


def _check_non_streaming(info: Mapping[str, object]) -> None:
    """What a vector search needs (as azure-cosmos checks it, before any per-range request)."""
    top, offset, limit = _opt_int(info.get("top")), _opt_int(info.get("offset")), _opt_int(info.get("limit"))
    rows = top if top is not None else None if limit is None else limit + (offset or 0)
    if not rows:
        raise UnsupportedQuery("a vector search (ORDER BY VectorDistance; query feature NonStreamingOrderBy) "
                               "needs TOP or OFFSET/LIMIT: without them it would read every document")
    if rows > MAX_NON_STREAMING_ROWS:
        raise UnsupportedQuery(f"a vector search may ask for at most {MAX_NON_STREAMING_ROWS} rows (TOP or "
                               f"OFFSET + LIMIT); this one asks for {rows}")
    if str(info.get("distinctType") or "None") != "None":
        raise UnsupportedQuery("DISTINCT with a vector search (query feature NonStreamingOrderBy) is not "
                               "supported across partitions")


def _check_aggregates(names: list[str]) -> None:
    for name in names:
        if name not in AGGREGATES:
            feature = _FEATURE_OF_AGGREGATE.get(name, name)
            raise UnsupportedQuery(f"the aggregate {name.upper()} (query feature {feature}) is not supported across "
                                   "partitions")


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PagingError(f"the query plan has an invalid count: {value!r}")
    return value


_plan_cache: OrderedDict[tuple[int, str, bytes], tuple[ClientCore, QueryPlan]] = OrderedDict()


def cached_plan(core: ClientCore, link: str, body: bytes) -> QueryPlan | None:
    entry = _plan_cache.get((id(core), link, body))
    if entry is None or entry[0] is not core:
        return None
    _plan_cache.move_to_end((id(core), link, body))
    return entry[1]


def remember_plan(core: ClientCore, link: str, body: bytes, plan: QueryPlan) -> None:
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
    if not isinstance(raw, Mapping) or ("queryInfo" not in raw and "hybridSearchQueryInfo" not in raw):
        return None
    return QueryPlan.from_json(raw)
