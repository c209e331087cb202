"""Aggregates, GROUP BY and DCOUNT: every range is read to the end (through the run's fetches) and
the per-range partials or groups are combined in the client (``partials``), in the shapes the
gateway plans them (``plan.QueryPlan``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from .fanout import Run
from .ordering import SortKey, canonical_hash
from .partials import UNDEFINED, Accumulator, partial_item
from .plan import QueryPlan

__all__ = ["group_by_pages", "aggregate_pages", "dcount_pages"]

Pages = AsyncIterator[tuple[list[Any], dict[str, str], str | None]]


class _Group:
    """One group (or the single group of an aggregate query without GROUP BY): an accumulator per
    aggregate column and the first value of each plain column (the grouping keys)."""

    __slots__ = ("accumulators", "keys", "scalars")

    def __init__(self, plan: QueryPlan, keys: list[Any]) -> None:
        self.keys = keys
        if plan.has_select_value:
            kinds = plan.aggregates[:1]
            self.accumulators = [Accumulator(kind) for kind in kinds]
            self.scalars: dict[str, Any] = {}
        else:
            self.accumulators = [Accumulator(t) for _, t in plan.group_alias_types if t is not None]
            self.scalars = {}

    def add(self, plan: QueryPlan, payload: Any, present: bool) -> None:
        if plan.has_select_value:
            if self.accumulators:
                self.accumulators[0].add(partial_item(payload))
            elif present and "" not in self.scalars:
                self.scalars[""] = payload
            return
        if not isinstance(payload, Mapping):
            return
        slot = 0
        for alias, kind in plan.group_alias_types:
            if kind is None:
                if alias not in self.scalars and alias in payload:
                    self.scalars[alias] = payload[alias]
                continue
            self.accumulators[slot].add(partial_item(payload.get(alias)))
            slot += 1

    def result(self, plan: QueryPlan) -> Any:
        """The row (UNDEFINED: no row, an undefined ``SELECT VALUE``)."""
        if plan.has_select_value:
            return self.accumulators[0].result() if self.accumulators else self.scalars.get("", UNDEFINED)
        row: dict[str, Any] = {}
        slot = 0
        for alias, kind in plan.group_alias_types:
            if kind is None:
                value = self.scalars.get(alias, UNDEFINED)
            else:
                value = self.accumulators[slot].result()
                slot += 1
            if value is not UNDEFINED:
                row[alias] = value
        return row


async def group_by_pages(run: Run) -> Pages:
    """GROUP BY: every range is read to the end and the per-range groups are combined; groups come
    out in the Cosmos order of their keys. A continuation counts the groups taken; resuming reads
    the ranges again (from the start) and skips them."""
    state = run.state
    assert state is not None
    plan = run.plan
    skip = state.groups_done
    for query_range in state.ranges:  # a GROUP BY always recomputes from the start
        query_range.token = query_range.next_token = None
        query_range.done = False
    groups: dict[str, _Group] = {}
    for row in await run.drain():
        if not isinstance(row, dict):
            continue
        keys = row.get("groupByItems") or []
        digest = canonical_hash(keys)
        group = groups.get(digest)
        if group is None:
            group = groups[digest] = _Group(plan, list(keys))
        group.add(plan, row.get("payload"), "payload" in row)
    directions = [False] * len(plan.group_by)
    ordered = sorted(groups.values(), key=lambda g: SortKey(g.keys, directions, "", 0))
    results = [group.result(plan) for group in ordered]  # UNDEFINED: not returned, but it is a group
    for query_range in state.ranges:
        query_range.done = True
        query_range.token = query_range.next_token = None
    index = skip
    while True:  # the first page, then the rest from memory (a resume of these pages recomputes them)
        out: list[Any] = []
        while index < len(results) and not run.finished() and len(out) < state.page_size:
            value = results[index]
            index += 1
            if value is not UNDEFINED and run.admit(value):
                out.append(value)
        state.groups_done = index
        more = index < len(results) and not run.finished()
        yield out, run.charge_headers(), state.encode() if more else None
        if not more:
            return


async def aggregate_pages(run: Run) -> Pages:
    """Aggregates without GROUP BY: one row per range (``[{"item": ...}]`` for ``SELECT VALUE``, else
    ``{"payload": {alias: {"item": ...}}}``), combined into one result."""
    plan = run.plan
    group = _Group(plan, [])
    for row in await run.drain():
        if plan.has_select_value:
            group.add(plan, row, True)
        elif isinstance(row, Mapping):
            group.add(plan, row.get("payload"), "payload" in row)
    result = group.result(plan)
    out = [] if result is UNDEFINED or not run.admit(result) else [result]
    yield out, run.charge_headers(), None


async def dcount_pages(run: Run) -> Pages:
    """DCOUNT: the rows of the DISTINCT inner query, through DISTINCT/OFFSET/TOP, counted."""
    plan = run.plan
    state = run.state
    assert state is not None
    count = 0
    seen: set[str] = set()
    wanted = run.wanted
    for row in await run.drain():
        if plan.distinct != "None":
            digest = canonical_hash(row)
            if digest in seen:
                continue
            seen.add(digest)
        count += 1
    count = max(0, count - (plan.offset or 0))
    if wanted is not None:
        count = min(count, wanted - (plan.offset or 0))
    result: Any = count if not plan.dcount_alias else {plan.dcount_alias: count}
    yield [result], run.charge_headers(), None
