"""The query plan (spec §8.3): what the service says about a query, the plan request's headers and
features, the plan cache, and the plan a 400/1004 answer carries."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import attrs

from .._wire import codec
from ..exceptions import BadRequest, PagingError, UnsupportedQuery

if TYPE_CHECKING:
    from .._feeds.core import ClientCore

__all__ = [
    "SUPPORTED_QUERY_FEATURES",
    "QUERY_VERSION",
    "QueryPlan",
    "plan_request_headers",
    "plan_from_not_servable",
    "cached_plan",
    "remember_plan",
]

SUPPORTED_QUERY_FEATURES: Final = (
    "Aggregate,CompositeAggregate,Distinct,GroupBy,MultipleAggregates,MultipleOrderBy,OffsetAndLimit,OrderBy,Top"
)
"""The features this pipeline implements (azure-cosmos also lists NonStreamingOrderBy, HybridSearch,
CountIf and WeightedRankFusion, which we do not)."""
QUERY_VERSION: Final = "1.0"
_ORDER_BY_FILTER: Final = "{documentdb-formattableorderbyquery-filter}"
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
    if not isinstance(raw, Mapping) or "queryInfo" not in raw:
        return None
    return QueryPlan.from_json(raw)
