"""Non-streaming ORDER BY: vector search (``SELECT TOP k ... ORDER BY VectorDistance(c.embedding, @v)``),
planned by the service with ``hasNonStreamingOrderBy`` (query feature ``NonStreamingOrderBy``).

Each range answers the rewritten query (``TOP k`` rows of ``{_rid, orderByItems, payload}``, best first);
every range is drained, in parallel, and only the best ``k`` rows seen so far are kept, in a heap whose
top is the worst kept candidate: memory O(k) for the candidates plus one page per range in flight. The
order is the streaming ORDER BY's (``ordering.SortKey``: the score in the plan's direction, then the
document number as the service orders ties, then the range), so ties at the k-th place are decided the
same way on every run. DISTINCT/OFFSET/TOP then apply as for ORDER BY.

The service gives no continuation for these queries and the official SDKs refuse to resume them (.NET:
"Continuation tokens are not supported for the non streaming order by pipeline"): pages carry a token
that only says more pages follow in this iteration; resuming from it raises InvalidContinuationToken.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import InvalidContinuationToken
from .ordering import SortKey, document_number

if TYPE_CHECKING:
    from .fanout import Run

__all__ = ["NON_STREAMING_TOKEN", "best_rows", "non_streaming_pages", "refuse_resume"]

NON_STREAMING_TOKEN: Final = "aqns:"


class _Candidate:
    """A kept row; ``<`` puts the worst first (the heap's top is what the next better row replaces)."""

    __slots__ = ("key", "row")

    def __init__(self, key: SortKey, row: Any) -> None:
        self.key = key
        self.row = row

    def __lt__(self, other: _Candidate) -> bool:
        return other.key < self.key


def refuse_resume() -> InvalidContinuationToken:
    return InvalidContinuationToken(
        "a vector search (non-streaming ORDER BY) cannot be resumed from a continuation token: the service "
        "gives none for it (azure-cosmos refuses it too); run the query again, or read all its pages at once")


async def best_rows(run: Run, wanted: int) -> list[Any]:
    """The best ``wanted`` rows (``{_rid, orderByItems, ...}``) of every range of a prepared run, best first."""
    state = run.state
    assert state is not None
    directions = run.directions
    heap: list[_Candidate] = []
    while True:
        todo = [r for r in state.ranges if not r.done]
        if not todo:
            break
        for query_range in todo:
            run.start(query_range)
        results = await run.gather([run.take(r) for r in todo])
        for query_range, children in zip(todo, results, strict=True):
            if children is not None:
                await run.replace_split(query_range, children)
                continue
            for row in query_range.buffer:
                if not isinstance(row, dict):
                    continue
                candidate = _Candidate(SortKey(row.get("orderByItems") or [], directions, query_range.low,
                                               document_number(row.get("_rid", ""))), row)
                if len(heap) < wanted:
                    heapq.heappush(heap, candidate)
                elif candidate.key < heap[0].key:
                    heapq.heapreplace(heap, candidate)
            query_range.buffer = []
    best = sorted(heap, reverse=True)  # best first
    return [candidate.row for candidate in best]


async def non_streaming_pages(run: Run) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
    """The pages of a non-streaming ORDER BY run (module docstring)."""
    state = run.state
    assert state is not None
    wanted = run.wanted
    assert wanted is not None  # QueryPlan.from_json refuses a non-streaming plan without TOP or LIMIT
    best = await best_rows(run, wanted)
    out: list[Any] = []
    for index, row in enumerate(best):
        if run.finished():
            break
        # A row without "payload" is an undefined SELECT VALUE: the service returns nothing for it.
        if "payload" in row and run.admit(row["payload"]):
            out.append(row["payload"])
        if len(out) >= state.page_size and index + 1 < len(best) and not run.finished():
            yield out, run.charge_headers(), NON_STREAMING_TOKEN
            out = []
    yield out, run.charge_headers(), None
