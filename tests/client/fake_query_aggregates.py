"""More query shapes for the partitioned fake (tests/client/fake_query_partitions.py), in the plan
formats the gateway uses (tests/client/fixtures/query_plans.json): aggregates without VALUE outside
GROUP BY (one or several columns) and DCOUNT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.client.fake_query_partitions import (
    MISSING,
    NAMES,
    FakeQuery,
    Row,
    _of,
    _plan,
    compute,
    document_number,
    partial,
    partial_text,
    streaming_query,
)

__all__ = ["non_value_aggregate_query", "dcount_query"]


def non_value_aggregate_query(columns: list[tuple[str, str, str | None]]) -> FakeQuery:
    """``SELECT FUNC(c.x) AS alias, ... FROM c``: columns are (alias, FUNC, field or None for
    COUNT(1)). The plan has the aliases and no GROUP BY expressions; each range returns one row
    ``{"payload": {alias: partial}}``; the answer is one object (missing the undefined columns)."""
    text = "SELECT " + ", ".join(f"{f}({_of(o)}) AS {a}" for a, f, o in columns) + " FROM c"
    payload = "{" + ", ".join(f'"{a}": {partial_text(f, _of(o))}' for a, f, o in columns) + "}"
    plan = _plan(groupByAliases=[a for a, _, _ in columns],
                 groupByAliasToAggregateType={a: NAMES[f] for a, f, _ in columns},
                 rewrittenQuery=f"SELECT {payload} AS payload\nFROM c")

    def run(docs: list[dict[str, Any]]) -> list[Row]:
        return [(0, {"payload": {a: partial(f, docs, o) for a, f, o in columns}})]

    def reference(docs: list[dict[str, Any]], range_of: Callable[[dict[str, Any]], str]) -> list[Any]:
        results = {a: compute(f, docs, o) for a, f, o in columns}
        return [{a: r for a, r in results.items() if r is not MISSING}]

    return FakeQuery(text, plan, run, lambda a, b: (a > b) - (a < b), reference)


def dcount_query(field: str, *, alias: str | None = None) -> FakeQuery:
    """``SELECT VALUE COUNT(1) FROM (SELECT DISTINCT VALUE c.f FROM c)`` (or ``SELECT COUNT(1) AS
    alias FROM (...)``), planned as the .NET SDK's DCount pipeline stage expects: ``dCountInfo``
    with the alias ("" for VALUE) and the DISTINCT inner query as the rewritten query, which each
    range answers with its distinct values. (No recorded DCOUNT plan exists in the SDKs' fixtures;
    this shape follows DCountQueryPipelineStage and DCountInfo.)"""
    inner = streaming_query(distinct_field=field)
    head = "SELECT VALUE COUNT(1)" if alias is None else f"SELECT COUNT(1) AS {alias}"
    text = f"{head} FROM (SELECT DISTINCT VALUE c.{field} FROM c)"
    plan = _plan(distinctType="Unordered", hasSelectValue=True, rewrittenQuery=inner.text,
                 dCountInfo={"dCountAlias": alias or ""})

    def reference(docs: list[dict[str, Any]], range_of: Callable[[dict[str, Any]], str]) -> list[Any]:
        distinct: list[Any] = []
        for d in sorted(docs, key=lambda d: document_number(d["_rid"])):
            value = d.get(field, MISSING)
            if value is not MISSING and not any(v == value and type(v) is type(value) for v in distinct):
                distinct.append(value)
        return [len(distinct) if alias is None else {alias: len(distinct)}]

    return FakeQuery(text, plan, inner.run, inner.key_cmp, reference)
