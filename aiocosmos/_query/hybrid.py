"""Hybrid and full-text ranked search: ``SELECT TOP k ... ORDER BY RANK FullTextScore(...)`` and ``ORDER BY
RANK RRF(...)`` (weighted too), planned by the service as ``hybridSearchQueryInfo`` (query features
HybridSearch and WeightedRankFusion).

As the official SDKs run it (the .NET ``HybridSearchCrossPartitionQueryPipelineStage``, azure-cosmos's
``hybrid_search_aggregator``):

1. **Global statistics** (when ``requiresGlobalStatistics``): the statistics query goes to every range of
   the container (the SDKs' default "Global" score scope, also under ``feed_range=``); the ranges'
   ``documentCount``, and per full-text component ``totalWordCount`` and ``hitCounts`` (one per term), are
   summed.
2. **Component queries**: the statistics replace the placeholders (``{documentdb-formattablehybridsearch
   query-totaldocumentcount}``, ``...-totalwordcount-i``, ``...-hitcountsarray-i``, as the SDKs' current
   "workaround": the i-th placeholder present in a query takes the i-th statistics entry). A component
   planned as a non-streaming ORDER BY keeps its best ``top`` rows across ranges (vector.py's merge, as
   .NET's pipeline does); one planned without ORDER BY (the gateway's optimised plan) keeps every range's
   rows. One component at a time, each fanned out over the ranges (bounded by ``max_concurrency``).
3. **Fusion**: one component alone keeps its order. Otherwise the rows are sorted by ``_rid`` (ordinal)
   and deduplicated; per component the documents are ranked by their ``componentScores`` entry (in the
   component's order, equal scores share a rank, ranks dense from 1); the score is
   ``sum(weight_i / (60 + rank_i))`` and the rows are sorted by it, highest first (a stable sort: ties stay
   in ``_rid`` order, as azure-cosmos leaves them). Then ``skip``/``take``, and the inner payload is what
   comes out (both row formats: ``payload.componentScores``/``payload.payload`` and top-level
   ``componentScores``/``payload``).

The service gives no continuation for these queries and the SDKs refuse to resume them (.NET:
"Continuation tokens are not supported for hybrid search"): pages carry a token that only says more
follow in this iteration; resuming from it raises InvalidContinuationToken.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from ..exceptions import InvalidContinuationToken, PagingError
from .fanout import Run
from .plan import HybridComponent, HybridPlan, QueryPlan
from .vector import best_rows

if TYPE_CHECKING:
    from .fanout import QueryTarget

__all__ = ["HYBRID_TOKEN", "RRF_K", "Statistics", "format_component", "fuse", "hybrid_pages", "refuse_hybrid_resume"]

HYBRID_TOKEN: Final = "aqhs:"
RRF_K: Final = 60
"""The reciprocal rank fusion constant the service and the SDKs use."""
_TOTAL_DOCUMENTS: Final = "{documentdb-formattablehybridsearchquery-totaldocumentcount}"
_WORD_COUNT: Final = "{{documentdb-formattablehybridsearchquery-totalwordcount-{0}}}"
_HIT_COUNTS: Final = "{{documentdb-formattablehybridsearchquery-hitcountsarray-{0}}}"
_ORDER_BY_FILTER: Final = "{documentdb-formattableorderbyquery-filter}"
_EMPTY_SCORE: Final = -999999.0
"""The score azure-cosmos gives every component of a row whose ``componentScores`` is empty."""
_MISSING: Final = object()


def refuse_hybrid_resume() -> InvalidContinuationToken:
    return InvalidContinuationToken(
        "a hybrid or full-text search (ORDER BY RANK) cannot be resumed from a continuation token: the service "
        "gives none for it (azure-cosmos and the .NET SDK refuse it too); run the query again, or read all its "
        "pages at once")


@attrs.define
class Statistics:
    """The summed global statistics: documents, and per full-text component (total words, hits per term)."""

    documents: int = 0
    terms: list[tuple[int, list[int]]] | None = None

    def add(self, row: object) -> None:
        """Add one range's statistics row ``{documentCount, fullTextStatistics: [{totalWordCount, hitCounts}]}``."""
        if not isinstance(row, Mapping):
            raise PagingError(f"the hybrid search statistics row is malformed: {row!r:.200}")
        self.documents += _count(row.get("documentCount", 0))
        raw_terms = row.get("fullTextStatistics") or []
        if not isinstance(raw_terms, list):
            raise PagingError(f"the hybrid search statistics are malformed: {raw_terms!r:.200}")
        terms = []
        for entry in raw_terms:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("hitCounts", []), list):
                raise PagingError(f"the hybrid search statistics are malformed: {entry!r:.200}")
            terms.append((_count(entry.get("totalWordCount", 0)), [_count(h) for h in entry.get("hitCounts", [])]))
        if self.terms is None:
            self.terms = terms
            return
        if len(terms) != len(self.terms) or any(len(a[1]) != len(b[1]) for a, b in zip(terms, self.terms,
                                                                                        strict=True)):
            raise PagingError("the ranges' hybrid search statistics have different shapes")
        self.terms = [(words + more_words, [h + m for h, m in zip(hits, more_hits, strict=True)])
                      for (words, hits), (more_words, more_hits) in zip(self.terms, terms, strict=True)]


def _count(value: object) -> int:
    # A SUM over no documents may come back undefined (absent): nothing to add.
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != int(value):
        raise PagingError(f"the hybrid search statistics hold an invalid count: {value!r}")
    return int(value)


def format_component(query: str, statistics: Statistics | None, component_count: int) -> str:
    """A component query with the statistics in place of the placeholders (module docstring, step 2)."""
    query = query.replace(_ORDER_BY_FILTER, "true")
    if statistics is None:
        return query
    query = query.replace(_TOTAL_DOCUMENTS, str(statistics.documents))
    terms = statistics.terms or []
    used = 0
    for index in range(component_count):
        words, hits = _WORD_COUNT.format(index), _HIT_COUNTS.format(index)
        if words not in query:
            continue
        if used >= len(terms):
            raise PagingError("the hybrid search statistics have fewer full-text entries than the query needs")
        total, counts = terms[used]
        query = query.replace(words, str(total)).replace(hits, "[" + ",".join(map(str, counts)) + "]")
        used += 1
    return query


def _parts(row: object, components: int) -> tuple[str, list[float], Any]:
    """(``_rid``, component scores, payload or _MISSING) of one component row, in either format."""
    if not isinstance(row, Mapping) or not isinstance(row.get("_rid"), str):
        raise PagingError(f"a hybrid search row has no _rid: {row!r:.200}")
    outer = row.get("payload", _MISSING)
    if isinstance(outer, Mapping) and "componentScores" in outer:  # {payload: {componentScores, payload}}
        scores, payload = outer["componentScores"], outer.get("payload", _MISSING)
    elif "componentScores" in row:  # {componentScores, payload}
        scores, payload = row["componentScores"], outer
    else:
        raise PagingError(f"a hybrid search row has no componentScores: {row!r:.200}")
    if not isinstance(scores, list) or not all(isinstance(s, int | float) and not isinstance(s, bool)
                                               for s in scores):
        raise PagingError(f"componentScores must be an array of numbers: {scores!r:.200}")
    if not scores:
        scores = [_EMPTY_SCORE] * components
    if len(scores) != components:
        raise PagingError(f"a hybrid search row has {len(scores)} component scores, the plan {components}")
    return row["_rid"], [float(s) for s in scores], payload


def fuse(rows: Sequence[Sequence[object]], plan: HybridPlan) -> list[Any]:
    """The answer from the component queries' rows (one list per component; module docstring, step 3)."""
    count = len(plan.components)
    if count == 1 and plan.components[0].top is not None:
        entries = [_parts(row, count) for row in rows[0]]
    else:
        entries = sorted((_parts(row, count) for component in rows for row in component), key=lambda e: e[0])
        entries = [e for i, e in enumerate(entries) if i == 0 or e[0] != entries[i - 1][0]]
        fused = [0.0] * len(entries)
        for index, (component, weight) in enumerate(zip(plan.components, plan.weights, strict=True)):
            order = sorted(range(len(entries)), key=lambda i: entries[i][1][index], reverse=component.descending)
            rank, previous = 0, None
            for position in order:
                score = entries[position][1][index]
                if previous is None or score != previous:
                    rank += 1
                    previous = score
                fused[position] += weight / (RRF_K + rank)
        ranking = sorted(range(len(entries)), key=lambda i: -fused[i])
        entries = [entries[i] for i in ranking]
    window = entries[plan.skip:plan.skip + plan.take]
    return [payload for _, _, payload in window if payload is not _MISSING]


def _sub_run(target: QueryTarget, query: str, ranges: tuple[tuple[str, str], ...],
             component: HybridComponent | None) -> Run:
    """A run of the statistics query (``component`` None) or of one component query over ``ranges``."""
    if component is None or component.top is None:  # every range's rows, as they come
        plan = QueryPlan(rewritten_query=query, order_by=(), top=None, offset=None, limit=None, distinct="None",
                         aggregates=(), has_select_value=False, ranges=ranges)
    else:  # the best `top` rows across ranges, in the component's order
        plan = QueryPlan(rewritten_query=query, order_by=("Descending" if component.descending else "Ascending",),
                         top=component.top, offset=None, limit=None, distinct="None", aggregates=(),
                         has_select_value=False, ranges=ranges, non_streaming=True)
    return Run(target, plan, None)


async def _rows(run: Run, component: HybridComponent | None) -> tuple[list[Any], float]:
    try:
        await run.prepare()
        if component is not None and component.top is not None:
            rows = await best_rows(run, component.top)
        else:
            rows = await run.drain()
        return rows, run.charge
    finally:
        await run.close()


async def hybrid_pages(run: Run) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
    """The pages of a hybrid search run (module docstring)."""
    plan = run.plan.hybrid
    state = run.state
    assert plan is not None and state is not None
    charge = 0.0
    if plan.take == 0:
        yield [], run.charge_headers(), None
        return
    statistics = None
    if plan.statistics_query is not None:
        # Statistics over the whole container (the SDKs' default score scope), also under feed_range=.
        rows, spent = await _rows(_sub_run(attrs.evolve(run.target, scope=None), plan.statistics_query,
                                           (("", "FF"),), None), None)
        charge += spent
        statistics = Statistics()
        for row in rows:
            statistics.add(row)
    component_rows = []
    for component in plan.components:
        query = format_component(component.query, statistics, len(plan.components))
        rows, spent = await _rows(_sub_run(run.target, query, run.plan.ranges, component), component)
        charge += spent
        component_rows.append(rows)
    results = fuse(component_rows, plan)
    component_rows.clear()
    size = state.page_size
    headers = {"x-ms-request-charge": f"{charge:.2f}"}
    for start in range(0, max(len(results), 1), size):
        more = start + size < len(results)
        yield results[start:start + size], headers, HYBRID_TOKEN if more else None
        headers = {"x-ms-request-charge": "0.00"}
