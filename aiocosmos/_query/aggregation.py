"""``SELECT VALUE`` aggregates and GROUP BY: every range is read to the end (through the run's
fetches) and the per-range partials or groups are combined in the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from .fanout import Run
from .ordering import SortKey, canonical_hash, compare_order_by_values

__all__ = ["group_by_pages", "aggregate_pages"]

_UNDEFINED: Final = object()


async def group_by_pages(run: Run) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
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
    groups: dict[str, tuple[list[Any], dict[str, list[Any]]]] = {}
    for row in await run.drain():
        if not isinstance(row, dict):
            continue
        keys = row.get("groupByItems") or []
        digest = canonical_hash(keys)
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
    ordered = sorted(groups.values(), key=lambda g: SortKey(g[0], directions, "", 0))
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
    while index < len(results) and not run.finished():
        value = results[index]
        index += 1
        if value is not _UNDEFINED and run.admit(value):
            out.append(value)
        if len(out) >= state.page_size:
            break
    state.groups_done = index
    more = index < len(results) and not run.finished()
    yield out, run.charge_headers(), state.encode() if more else None
    if not more:
        return
    # The rest, from memory (a resume of these pages would recompute them).
    while True:
        out = []
        while index < len(results) and not run.finished() and len(out) < state.page_size:
            value = results[index]
            index += 1
            if value is not _UNDEFINED and run.admit(value):
                out.append(value)
        state.groups_done = index
        more = index < len(results) and not run.finished()
        yield out, run.charge_headers(), state.encode() if more else None
        if not more:
            return

async def aggregate_pages(run: Run) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
    state = run.state
    assert state is not None
    partials: list[list[Any]] = [[] for _ in run.plan.aggregates]
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
                entries = row if isinstance(row, list) else [row]
                for slot, entry in enumerate(entries[: len(partials)]):
                    if isinstance(entry, dict):
                        if "item" in entry:
                            partials[slot].append(entry["item"])
                    else:
                        partials[slot].append(entry)
            query_range.buffer = []
    out = []
    for name, values in zip(run.plan.aggregates, partials, strict=True):
        result = _combine(name, values)
        if result is not _UNDEFINED:
            out.append(result)
    yield out, run.charge_headers(), None


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

