"""A multi-range gateway for the cross-partition query engine's tests (aiocosmos/_query/).

:class:`FakeQueryServer` extends the partitioned fake (tests/client/fake_partitions.py: ranges that
split, a routing feed) with documents and a gateway that behaves like the real one for the queries a
test registers:

* the original query, cross-partition, without a range id → **400, sub-status 1004** and the plan in
  ``additionalErrorInfo`` (as in spec §15.3), or without it (``plan_in_error=False``);
* a query-plan request (``x-ms-cosmos-is-query-plan-request``) → the plan;
* the plan's rewritten query (or the original when the plan has none) with
  ``x-ms-documentdb-partitionkeyrangeid`` → that range's rows, paged by ``x-ms-max-item-count``; 410/1002
  once the range is gone.

Why a Python fake and not several local servers behind a router: the local server answers every query
itself (it never says 1004) and cannot run the rewritten ORDER BY form (``orderByItems``/``payload``)
or the partial-aggregate form, which is exactly what the engine consumes. The rows here are what the
service returns for those rewritten queries (shapes from the spec §8.4 and azure-cosmos's pipeline).
The oracle is independent of the engine: a plain Python evaluation of the original query over all
documents (:func:`reference`), and in tests/integration the local server itself.

The fake models what the service does that a tidier fake would hide:

* ``_rid`` in the service's format: base64 (``/`` written ``-``) of 16 bytes, database (4) +
  collection (4, top bit set) + document (8, little-endian, top nibble 0 = "document"), as the .NET
  SDK's ``ResourceIdentifier`` parses it. Document numbers increase with insertion; their base64
  strings do not sort like the numbers.
* ORDER BY ties within a range come in document-number order, ascending when the first ORDER BY
  column is ascending and descending when it is descending (what the .NET SDK's resume filter
  expects); the rows of one document (JOIN) keep their array order.
* ``x-ms-read-key-type: EffectivePartitionKeyRange`` with ``x-ms-start-epk``/``x-ms-end-epk``
  narrows a range to those EPKs (after a merge, an old range is a part of the merged partition);
  without them the whole physical partition answers.

Continuations are resume keys (the position of the last row returned: sort key, document number
and the row's place within its document), so a parent's continuation stays valid on its children
after a split and on the merged partition after a merge, as the service's are.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tests.client.conftest import DOCS_PATH
from tests.client.fake_partitions import FakePartitionedServer, epk_of
from tests.client.recording_server import Reply

__all__ = ["FakeQuery", "FakeQueryServer", "cosmos_cmp", "order_by_query", "aggregate_query", "streaming_query",
           "group_by_query", "MISSING", "partial", "partial_text", "compute", "needed_features", "vector_query"]

FULL_RANGE = [{"min": "", "max": "FF", "isMinInclusive": True, "isMaxInclusive": False}]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""An undefined property (the document does not have it)."""


def _rank(value: Any) -> int:
    if value is MISSING:
        return 0
    if value is None:
        return 1
    if isinstance(value, bool):
        return 2
    if isinstance(value, int | float):
        return 3
    return 4


def cosmos_cmp(a: Any, b: Any) -> int:
    """Cosmos's ORDER BY order: undefined < null < booleans < numbers < strings."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return ra - rb
    if ra <= 1 or a == b:
        return 0
    return -1 if a < b else 1


_DATABASE = bytes.fromhex("4a5f1f00")  # as in a real account: "Sl8fAA==" is a database _rid
_COLLECTION = bytes.fromhex("fc996d9a")  # the top bit marks a collection


def document_rid(number: int) -> str:
    """A document ``_rid`` in the service's format."""
    raw = _DATABASE + _COLLECTION + number.to_bytes(8, "little")
    return base64.b64encode(raw).decode().replace("/", "-")


def document_number(rid: str) -> int:
    """The document part of a ``_rid`` (the fake's own decoding, independent of the engine's)."""
    raw = base64.b64decode(rid.replace("-", "/"))
    assert len(raw) == 16 and raw[15] >> 4 == 0, rid
    return int.from_bytes(raw[8:16], "little")


def get(doc: Mapping[str, Any], field: str) -> Any:
    return doc.get(field, MISSING)


def _item(value: Any) -> dict[str, Any]:
    return {} if value is MISSING else {"item": value}


def _plan(**info: Any) -> dict[str, Any]:
    query_info = {"distinctType": "None", "top": None, "offset": None, "limit": None, "orderBy": [],
                  "orderByExpressions": [], "groupByExpressions": [], "groupByAliases": [], "aggregates": [],
                  "groupByAliasToAggregateType": {}, "rewrittenQuery": "", "hasSelectValue": False,
                  "dCountInfo": None, "hasNonStreamingOrderBy": False}
    query_info.update(info)
    return {"partitionedQueryExecutionInfoVersion": 2, "queryInfo": query_info, "queryRanges": FULL_RANGE}


Row = tuple[Any, Any]
"""(resume key, row) in the order the backend returns them."""


@dataclass
class FakeQuery:
    text: str
    plan: dict[str, Any]
    run: Callable[[list[dict[str, Any]]], list[Row]]
    """One range's rows for the rewritten query, sorted (resume keys strictly increasing)."""
    key_cmp: Callable[[Any, Any], int]
    reference: Callable[[list[dict[str, Any]], Callable[[dict[str, Any]], str]], list[Any]]
    """The original query over all documents (the oracle); the second argument gives the low EPK of
    the range a document lives in (streaming queries emit ranges in EPK order)."""

    @property
    def backend_text(self) -> str:
        rewritten = self.plan["queryInfo"]["rewrittenQuery"]
        return rewritten.replace("{documentdb-formattableorderbyquery-filter}", "true") if rewritten else self.text


def order_by_query(
    fields: list[tuple[str, bool]],
    *,
    top: int | None = None,
    offset: int | None = None,
    limit: int | None = None,
    distinct_value: bool = False,
    join: str | None = None,
) -> FakeQuery:
    """``SELECT [DISTINCT] [TOP n] * | VALUE c.<f0> FROM c ORDER BY c.f0 [DESC], ... [OFFSET o LIMIT l]``;
    with ``join``: ``SELECT c.id, t AS tag FROM c JOIN t IN c.<join> ORDER BY ...`` (one row per
    element, all with the document's ``_rid``)."""
    order = ", ".join(f"c.{f}{' DESC' if d else ''}" for f, d in fields)
    projection = f"DISTINCT VALUE c.{fields[0][0]}" if distinct_value else "*"
    head = f"SELECT {projection}" if top is None else f"SELECT {'DISTINCT ' if distinct_value else ''}TOP {top} " \
        f"{'VALUE c.' + fields[0][0] if distinct_value else '*'}"
    source = "c"
    payload = f"c.{fields[0][0]}" if distinct_value else "c"
    if join is not None:
        head = "SELECT c.id, t AS tag"
        source = f"c JOIN t IN c.{join}"
        payload = '{"id": c.id, "tag": t}'
    tail = f" OFFSET {offset} LIMIT {limit}" if offset is not None else ""
    text = f"{head} FROM {source} ORDER BY {order}{tail}"
    items = ", ".join(f'{{"item": c.{f}}}' for f, _ in fields)
    rewritten = (f"SELECT {'DISTINCT ' if distinct_value else ''}{'' if top is None else f'TOP {top} '}c._rid, "
                 f"[{items}] AS orderByItems, {payload} AS payload\nFROM {source}\n"
                 f"WHERE ({{documentdb-formattableorderbyquery-filter}})\nORDER BY {order}")
    if offset is not None:
        rewritten += f"\nOFFSET 0 LIMIT {offset + (limit or 0)}"
    plan = _plan(orderBy=["Descending" if d else "Ascending" for _, d in fields],
                 orderByExpressions=[f"c.{f}" for f, _ in fields], top=top, offset=offset, limit=limit,
                 distinctType="Ordered" if distinct_value else "None", hasSelectValue=distinct_value,
                 rewrittenQuery=rewritten)
    ties_descending = fields[0][1]

    def key_cmp(a: Any, b: Any) -> int:
        """(sort values, document number, place within the document): the service's order."""
        for (_, descending), x, y in zip(fields, a[0], b[0], strict=True):
            result = cosmos_cmp(x, y)
            if result:
                return -result if descending else result
        if a[1] != b[1]:
            return (-1 if a[1] < b[1] else 1) * (-1 if ties_descending else 1)
        return (a[2] > b[2]) - (a[2] < b[2])

    def keyed_rows(docs: list[dict[str, Any]]) -> list[tuple[Any, Any, dict[str, Any]]]:
        """(key, value the query returns, document) of every row, in the service's order."""
        rows: list[tuple[Any, Any, dict[str, Any]]] = []
        for d in docs:
            values = tuple(get(d, f) for f, _ in fields)
            number = document_number(d["_rid"])
            if join is not None:
                rows.extend(((values, number, place), {"id": d["id"], "tag": element}, d)
                            for place, element in enumerate(d.get(join) or ()))
            elif distinct_value:
                rows.append(((values, number, 0), get(d, fields[0][0]), d))
            else:
                rows.append(((values, number, 0), d, d))
        rows.sort(key=functools.cmp_to_key(lambda a, b: key_cmp(a[0], b[0])))
        return rows

    def run(docs: list[dict[str, Any]]) -> list[Row]:
        rows = []
        for key, value, d in keyed_rows(docs):
            row = {"_rid": d["_rid"], "orderByItems": [_item(get(d, f)) for f, _ in fields]}
            if value is not MISSING:
                row["payload"] = value
            rows.append((key, row))
        cut = top if top is not None else (offset + (limit or 0) if offset is not None else None)
        # (a per-range TOP/LIMIT is applied by the backend)
        return rows[:cut] if cut is not None else rows

    def reference(docs: list[dict[str, Any]], range_of: Callable[[dict[str, Any]], str]) -> list[Any]:
        out: list[Any] = []
        for _, value, _ in keyed_rows(docs):
            if distinct_value:
                if value is MISSING:
                    continue
                if out and out[-1] == value and type(out[-1]) is type(value):
                    continue
            out.append(value)
        out = out[offset or 0:]
        if top is not None:
            out = out[:top]
        if limit is not None:
            out = out[:limit]
        return out

    return FakeQuery(text, plan, run, key_cmp, reference)


NAMES = {"COUNT": "Count", "SUM": "Sum", "MIN": "Min", "MAX": "Max", "AVG": "Average"}


def partial_text(function: str, of: str) -> str:
    """The partial the gateway's rewritten query projects for one aggregate (as recorded in
    tests/client/fixtures/query_plans.json)."""
    if function == "AVG":
        return f'{{"item": {{"sum": SUM({of}), "count": COUNT({of})}}}}'
    if function in ("MIN", "MAX"):
        low = function.lower()
        return f'{{"item": {function}({of}), "item2": {{"{low}": {function}({of}), "count": COUNT({of})}}}}'
    return f'{{"item": {function}({of})}}'


def compute(function: str, docs: list[dict[str, Any]], field: str | None) -> Any:
    """What the service computes for FUNCTION(c.field) (COUNT(1) when field is None) over ``docs``:
    undefined values are skipped; SUM and AVG are undefined when a value is not a number; MIN and
    MAX follow the type order and are undefined when a value is an object or an array."""
    found = list(docs) if field is None else [d[field] for d in docs if field in d]
    if function == "COUNT":
        return len(found)
    if function in ("SUM", "AVG"):
        if any(not isinstance(v, int | float) or isinstance(v, bool) for v in found):
            return MISSING
        if function == "SUM":
            return sum(found)
        return sum(found) / len(found) if found else MISSING
    if not found or any(isinstance(v, dict | list) for v in found):
        return MISSING
    best = found[0]
    for v in found[1:]:
        r = cosmos_cmp(v, best)
        if (function == "MIN" and r < 0) or (function == "MAX" and r > 0):
            best = v
    return best


def partial(function: str, docs: list[dict[str, Any]], field: str | None) -> dict[str, Any]:
    """One range's partial for FUNCTION(c.field), in the shape of :func:`partial_text`."""
    if function == "AVG":
        found = [d[field] for d in docs if field in d] if field is not None else docs
        total = compute("SUM", docs, field)
        return {"item": {"count": len(found), **({} if total is MISSING else {"sum": total})}}
    result = _item(compute(function, docs, field))
    if function in ("MIN", "MAX"):
        result["item2"] = {"count": compute("COUNT", docs, field),
                           **({} if "item" not in result else {function.lower(): result["item"]})}
    return result


def _of(field: str | None) -> str:
    return "1" if field is None else f"c.{field}"


def aggregate_query(function: str, field: str | None) -> FakeQuery:
    """``SELECT VALUE <FUNCTION>(c.field) FROM c`` (``COUNT(1)`` with field None)."""
    text = f"SELECT VALUE {function}({_of(field)}) FROM c"
    rewritten = f"SELECT VALUE [{partial_text(function, _of(field))}]\nFROM c"
    plan = _plan(aggregates=[NAMES[function]], hasSelectValue=True, rewrittenQuery=rewritten)

    def run(docs: list[dict[str, Any]]) -> list[Row]:
        return [(0, [partial(function, docs, field)])]

    def reference(docs: list[dict[str, Any]], range_of: Callable[[dict[str, Any]], str]) -> list[Any]:
        result = compute(function, docs, field)
        return [] if result is MISSING else [result]

    return FakeQuery(text, plan, run, lambda a, b: (a > b) - (a < b), reference)


def group_by_query(field: str, aggregates: list[tuple[str, str, str | None]], *,
                   select_value: bool = False) -> FakeQuery:
    """``SELECT c.<field>, FUNC(c.x) AS alias, ... FROM c GROUP BY c.<field>`` (or ``SELECT VALUE
    FUNC(..)`` with one aggregate); ``aggregates`` are (alias, FUNC, field or None for COUNT(1)).
    Plans in the gateway's recorded shapes: with VALUE no aliases and an array payload. Groups come
    out in the Cosmos order of their key (what the engine promises; the service's own order across
    partitions is unspecified)."""
    if select_value:
        _, function, of = aggregates[0]
        text = f"SELECT VALUE {function}({_of(of)}) FROM c GROUP BY c.{field}"
        payload_text = f"[{partial_text(function, _of(of))}]"
        plan_info: dict[str, Any] = {"groupByAliases": [], "aggregates": [NAMES[function]],
                                     "groupByAliasToAggregateType": {}}
    else:
        columns = ", ".join(f"{function}({_of(of)}) AS {alias}" for alias, function, of in aggregates)
        text = f"SELECT c.{field}, {columns} FROM c GROUP BY c.{field}"
        payload_text = "{" + ", ".join([f'"{field}": c.{field}'] + [f'"{a}": {partial_text(f, _of(o))}'
                                                                       for a, f, o in aggregates]) + "}"
        plan_info = {"groupByAliases": [field] + [a for a, _, _ in aggregates],
                     "groupByAliasToAggregateType": {field: None, **{a: NAMES[f] for a, f, _ in aggregates}}}
    rewritten = (f'SELECT [{{"item": c.{field}}}] AS groupByItems, {payload_text} AS payload\nFROM c\n'
                 f"GROUP BY c.{field}")
    plan = _plan(groupByExpressions=[f"c.{field}"], hasSelectValue=select_value, rewrittenQuery=rewritten,
                 **plan_info)

    def groups(docs: list[dict[str, Any]]) -> list[tuple[Any, list[dict[str, Any]]]]:
        found: list[tuple[Any, list[dict[str, Any]]]] = []
        for d in sorted(docs, key=lambda d: document_number(d["_rid"])):
            key = get(d, field)
            for existing, members in found:
                if cosmos_cmp(existing, key) == 0 and type(existing) is type(key):
                    members.append(d)
                    break
            else:
                found.append((key, [d]))
        found.sort(key=functools.cmp_to_key(lambda a, b: cosmos_cmp(a[0], b[0]) or
                                            (_rank_type(a[0]) - _rank_type(b[0]))))
        return found

    def run(docs: list[dict[str, Any]]) -> list[Row]:
        rows: list[Row] = []
        for index, (key, members) in enumerate(groups(docs)):
            if select_value:
                payload: Any = [partial(aggregates[0][1], members, aggregates[0][2])]
            else:
                payload = {a: partial(f, members, o) for a, f, o in aggregates}
                if key is not MISSING:
                    payload[field] = key
            rows.append((index, {"groupByItems": [_item(key)], "payload": payload}))
        return rows

    def reference(docs: list[dict[str, Any]], range_of: Callable[[dict[str, Any]], str]) -> list[Any]:
        out: list[Any] = []
        for key, members in groups(docs):
            results = {a: compute(f, members, o) for a, f, o in aggregates}
            if select_value:
                out.extend(r for r in results.values() if r is not MISSING)
                continue
            row = {} if key is MISSING else {field: key}
            row.update({a: r for a, r in results.items() if r is not MISSING})
            out.append(row)
        return out

    return FakeQuery(text, plan, run, lambda a, b: (a > b) - (a < b), reference)


def vector_query(entry: Mapping[str, Any], *, top: int | None = None) -> FakeQuery:
    """A vector search from a recorded plan (tests/client/fixtures/query_plans.json, format ``json``: the
    service's plan as .NET's QueryPlanRetrieverTests recorded it), e.g. ``SELECT TOP 10 c._ts FROM c ORDER
    BY VectorDistance([...], c.vector1, true, {dataType:'Float32', distanceFunction:'Euclidean'})``; with
    ``top`` the recorded ``TOP 10`` becomes ``TOP top`` (query, rewritten query and plan alike).

    Each range answers the rewritten query as the service does: its best ``TOP`` (or ``OFFSET +
    LIMIT``) rows ``{_rid, orderByItems: [{item: score}], payload: {_ts}}``, best first, ties in
    document-number order (descending when the score is), paged with resume keys like ORDER BY."""
    info = dict(entry["queryInfo"])
    text = entry["query"]
    if top is not None:
        assert info["top"] == 10
        text = text.replace("TOP 10", f"TOP {top}")
        info["rewrittenQuery"] = info["rewrittenQuery"].replace("TOP 10", f"TOP {top}")
        info["top"] = top
    expression = info["orderByExpressions"][0]
    vector = orjson.loads(expression[expression.index("["):expression.index("]") + 1])
    function = next(f for f in ("DotProduct", "Euclidean", "Cosine") if f in expression)
    descending = info["orderBy"] == ["Descending"]
    plan = {"partitionedQueryExecutionInfoVersion": 2, "queryInfo": info, "queryRanges": FULL_RANGE}
    cut = info["top"] if info["top"] is not None else (info["offset"] or 0) + info["limit"]

    def score(document: Mapping[str, Any]) -> float:
        embedding = document["vector1"]
        if function == "DotProduct":
            return float(sum(a * b for a, b in zip(embedding, vector, strict=True)))
        if function == "Euclidean":
            return math.sqrt(sum((a - b) ** 2 for a, b in zip(embedding, vector, strict=True)))
        norm = math.sqrt(sum(a * a for a in embedding)) * math.sqrt(sum(b * b for b in vector))
        return sum(a * b for a, b in zip(embedding, vector, strict=True)) / norm

    def key_cmp(a: Any, b: Any) -> int:
        result = cosmos_cmp(a[0][0], b[0][0])
        if result:
            return -result if descending else result
        if a[1] != b[1]:
            return (-1 if a[1] < b[1] else 1) * (-1 if descending else 1)
        return 0

    def ordered(docs: list[dict[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
        keyed = [(((score(d),), document_number(d["_rid"]), 0), d) for d in docs if "vector1" in d]
        keyed.sort(key=functools.cmp_to_key(lambda x, y: key_cmp(x[0], y[0])))
        return keyed

    def run(docs: list[dict[str, Any]]) -> list[Row]:
        return [(key, {"_rid": d["_rid"], "orderByItems": [{"item": key[0][0]}], "payload": {"_ts": d["_ts"]}})
                for key, d in ordered(docs)[:cut]]

    def reference(docs: list[dict[str, Any]], range_of: Callable[[dict[str, Any]], str]) -> list[Any]:
        payloads = [{"_ts": d["_ts"]} for _, d in ordered(docs)]
        start = info["offset"] or 0
        return payloads[start:start + (info["top"] if info["top"] is not None else info["limit"])]

    return FakeQuery(text, plan, run, key_cmp, reference)


def needed_features(plan: Mapping[str, Any]) -> list[str]:
    """The query features a plan needs, as the gateway checks them against
    ``x-ms-cosmos-supported-query-features`` (the rules of the .NET SDK's QueryPlanSupportChecker,
    plus the newer features a plan can carry)."""
    if plan.get("hybridSearchQueryInfo"):
        return ["HybridSearch"] + (["WeightedRankFusion"] if plan["hybridSearchQueryInfo"].get("componentWeights")
                                   else [])
    info = plan["queryInfo"]
    needed: list[str] = []
    typed = [t for t in (info.get("groupByAliasToAggregateType") or {}).values() if t is not None]
    aggregates = list(info.get("aggregates") or ()) + typed
    if aggregates:
        if len(aggregates) == 1:
            needed.append("Aggregate" if info.get("hasSelectValue") else "NonValueAggregate")
        else:
            needed += ["NonValueAggregate", "MultipleAggregates"]
        needed += sorted({{"CountIf": "CountIf", "MakeList": "ListAndSetAggregate",
                           "MakeSet": "ListAndSetAggregate"}[a] for a in aggregates
                          if a in ("CountIf", "MakeList", "MakeSet")})
    if info.get("distinctType", "None") != "None":
        needed.append("Distinct")
    if info.get("groupByExpressions"):
        needed.append("GroupBy")
    if info.get("offset") is not None or info.get("limit") is not None:
        needed.append("OffsetAndLimit")
    if info.get("orderBy"):
        needed.append("OrderBy" if len(info["orderBy"]) == 1 else "MultipleOrderBy")
    if info.get("top") is not None:
        needed.append("Top")
    if info.get("dCountInfo") is not None:
        needed.append("DCount")
    if info.get("hasNonStreamingOrderBy"):
        needed.append("NonStreamingOrderBy")
    return needed


def unsupported_features_reply(missing: list[str]) -> Reply:
    """The gateway's refusal of a plan request that lacks features (its message as the service sends
    it, features after a "None" placeholder)."""
    return Reply.error(400, code="BadRequest", message="Query contains the following features, which the calling "
                       f"client does not support:\nNone {' '.join(missing)} \r\nActivityId: "
                       "7ad6b275-69f9-4b36-929b-7e29b4bc873b")


def _rank_type(value: Any) -> int:
    return 1 if isinstance(value, bool) else 0


def streaming_query(*, top: int | None = None, distinct_field: str | None = None) -> FakeQuery:
    """``SELECT TOP n * FROM c``, ``SELECT * FROM c`` (``top=None``) or ``SELECT DISTINCT VALUE c.f FROM
    c`` (no ORDER BY)."""
    if distinct_field is not None:
        text = f"SELECT DISTINCT VALUE c.{distinct_field} FROM c"
        plan = _plan(distinctType="Unordered", hasSelectValue=True)
    elif top is None:
        text = "SELECT * FROM c"
        plan = _plan()
    else:
        text = f"SELECT TOP {top} * FROM c"
        plan = _plan(top=top)

    def run(docs: list[dict[str, Any]]) -> list[Row]:
        ordered = sorted(docs, key=lambda d: document_number(d["_rid"]))
        if distinct_field is not None:
            seen: list[Any] = []
            rows = []
            for d in ordered:
                if distinct_field in d and not any(s == d[distinct_field] and type(s) is type(d[distinct_field])
                                                   for s in seen):
                    seen.append(d[distinct_field])
                    rows.append((document_number(d["_rid"]), d[distinct_field]))
            return rows
        return [(document_number(d["_rid"]), d) for d in ordered][:top]

    def reference(docs: list[dict[str, Any]], range_of: Callable[[dict[str, Any]], str]) -> list[Any]:
        # Ranges in EPK order, each in document order (the order the engine promises for streaming).
        ordered = sorted(docs, key=lambda d: (range_of(d), document_number(d["_rid"])))
        if distinct_field is not None:
            out: list[Any] = []
            for d in ordered:
                value = d.get(distinct_field, MISSING)
                if value is not MISSING and not any(o == value and type(o) is type(value) for o in out):
                    out.append(value)
            return out
        return ordered[:top]

    return FakeQuery(text, plan, run, lambda a, b: (a > b) - (a < b), reference)


class FakeQueryServer(FakePartitionedServer):
    def __init__(self, boundaries: tuple[str, ...] = ("10", "20", "30")) -> None:
        super().__init__(boundaries)
        self.documents: list[dict[str, Any]] = []
        self.queries: dict[str, FakeQuery] = {}
        self.plan_in_error = True
        self.range_delay = 0.0
        self.split_after: tuple[int, str, str] | None = None
        """(n, range id, at): split that range once n range-targeted queries have been answered."""
        self.merge_after: tuple[int, str, str] | None = None
        """(n, left, right): merge those neighbours once n range-targeted queries have been answered."""
        self.answered = 0
        self._rows: dict[tuple[str, str, int], list[Row]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_range: dict[str, int] = {}
        """{range id: n}: the n-th request to that range (from 1) is refused with a 400 at once."""
        self._range_answers: dict[str, int] = {}

    async def __aenter__(self) -> FakeQueryServer:
        await self.start()
        return self

    def add_documents(self, documents: list[dict[str, Any]]) -> None:
        for document in documents:
            stored = {**document, "_rid": document_rid(len(self.documents) + 1)}
            self.documents.append(stored)

    def expected(self, query: FakeQuery) -> list[Any]:
        """The oracle's answer (JSON-normalised) for the current documents and ranges."""

        def range_of(document: dict[str, Any]) -> str:
            epk = epk_of(document["pk"])
            return next(r.low for r in self.live_ranges() if r.low <= epk < r.high)

        return list(orjson.loads(orjson.dumps(query.reference(self.documents, range_of))))

    def register(self, query: FakeQuery) -> FakeQuery:
        self.queries[query.text] = query
        self.queries[query.backend_text] = query
        return query

    def query_requests(self) -> list[Any]:
        return [r for r in self.requests if r.method == "POST" and r.path.rstrip("/") == DOCS_PATH]

    def range_requests(self) -> list[Any]:
        return [r for r in self.query_requests() if "x-ms-documentdb-partitionkeyrangeid" in r.headers]

    def plan_requests(self) -> list[Any]:
        return [r for r in self.query_requests() if "x-ms-cosmos-is-query-plan-request" in r.headers]

    async def _handle(self, request: Any) -> Any:  # count concurrent range requests
        ranged = "x-ms-documentdb-partitionkeyrangeid" in request.headers
        if ranged:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await super()._handle(request)
        finally:
            if ranged:
                self.in_flight -= 1

    def _default_reply(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if method == "POST" and path.rstrip("/") == DOCS_PATH:
            return self._query(headers, orjson.loads(body))
        return super()._default_reply(method, path, headers, body)

    def _epk_bounds(self, range_id: str, headers: Mapping[str, str]) -> tuple[str, str]:
        """The EPKs a range request reads: the partition's, or the ``x-ms-start-epk``/``x-ms-end-epk``
        part of it (only with ``x-ms-read-key-type: EffectivePartitionKeyRange``, which azure-cosmos
        also sends alone for a whole partition)."""
        live = self.ranges[range_id]
        if "x-ms-start-epk" in headers or "x-ms-end-epk" in headers:
            assert headers.get("x-ms-read-key-type") == "EffectivePartitionKeyRange"
            low, high = headers["x-ms-start-epk"], headers["x-ms-end-epk"]
            assert live.low <= low < high <= live.high, "EPK bounds outside the addressed range"
            return low, high
        return live.low, live.high

    def _original_on_range(self, query: FakeQuery, range_id: str, headers: Mapping[str, str]) -> Reply:
        """The service evaluating the whole original query in one partition (or part of one)."""
        assert "x-ms-documentdb-query-enablecrosspartition" not in headers
        low, high = self._epk_bounds(range_id, headers)
        docs = [d for d in self.documents if low <= epk_of(d["pk"]) < high]
        values = list(orjson.loads(orjson.dumps(query.reference(docs, lambda d: low))))
        self.answered += 1
        return _page_of(values, headers)

    def _query(self, headers: Mapping[str, str], body: dict[str, Any]) -> Reply:
        text = body["query"]
        query = self.queries.get(text)
        if query is None:
            return Reply.error(400, message=f"the fake has no query {text!r}")
        if headers.get("x-ms-cosmos-is-query-plan-request") == "True":
            assert headers.get("Content-Type") == "application/json"
            assert "x-ms-documentdb-isquery" not in headers
            supported = set(headers.get("x-ms-cosmos-supported-query-features", "").replace(" ", "").split(","))
            missing = [f for f in needed_features(query.plan) if f not in supported]
            if missing:
                return unsupported_features_reply(missing)
            return Reply.json(query.plan)
        range_id = headers.get("x-ms-documentdb-partitionkeyrangeid")
        if range_id is None:
            assert headers.get("x-ms-documentdb-query-enablecrosspartition") == "True"
            extra = {"additionalErrorInfo": orjson.dumps(query.plan).decode()} if self.plan_in_error else {}
            return Reply(status=400, headers={"x-ms-substatus": "1004"},
                         body={"code": "BadRequest", "message": "The provided cross partition query can not be "
                               "directly served by the gateway.", **extra})
        if range_id in self.gone or range_id not in self.ranges:
            return Reply.error(410, sub_status=1002, message=f"partition key range {range_id} is gone")
        if text != query.backend_text:  # the original query sent to one partition (query_items(feed_range=...))
            return self._original_on_range(query, range_id, headers)
        self._range_answers[range_id] = self._range_answers.get(range_id, 0) + 1
        if self.fail_range.get(range_id) == self._range_answers[range_id]:
            return Reply.error(400, code="BadRequest", message=f"range {range_id} refused this request (fault)")
        low, high = self._epk_bounds(range_id, headers)
        cache_key = (text, range_id, low, high, len(self.documents))
        rows = self._rows.get(cache_key)
        if rows is None:
            docs = [d for d in self.documents if low <= epk_of(d["pk"]) < high]
            rows = self._rows[cache_key] = query.run(docs)
        token = headers.get("x-ms-continuation")
        if token is not None:
            after = _decode_key(orjson.loads(token))
            rows = [r for r in rows if query.key_cmp(r[0], after) > 0]
        size = int(headers.get("x-ms-max-item-count", "100"))
        page = rows[:size] if size > 0 else rows
        more = len(rows) > len(page)
        self.answered += 1
        if self.split_after is not None and self.answered >= self.split_after[0]:
            _, split_id, at = self.split_after
            self.split_after = None
            self.split(split_id, at)
        if self.merge_after is not None and self.answered >= self.merge_after[0]:
            _, left, right = self.merge_after
            self.merge_after = None
            self.merge(left, right)
        reply = Reply.json({"_rid": "rid", "Documents": [r[1] for r in page], "_count": len(page)},
                           **({"x_ms_continuation": orjson.dumps(_encode_key(page[-1][0])).decode()} if more else {}))
        reply.delay = self.range_delay
        return reply


def _page_of(values: list[Any], headers: Mapping[str, str]) -> Reply:
    """A page of a list of answers, continued by index (the original query run on one partition)."""
    start = int(headers.get("x-ms-continuation", "0"))
    size = int(headers.get("x-ms-max-item-count", "100"))
    end = len(values) if size <= 0 else start + size
    more = {"x_ms_continuation": str(end)} if end < len(values) else {}
    return Reply.json({"_rid": "rid", "Documents": values[start:end], "_count": len(values[start:end])}, **more)


def _encode_key(key: Any) -> Any:
    if key is MISSING:
        return {"$u": 1}
    if isinstance(key, tuple | list):
        return [_encode_key(k) for k in key]
    return key


def _decode_key(raw: Any) -> Any:
    if isinstance(raw, dict) and raw == {"$u": 1}:
        return MISSING
    if isinstance(raw, list):
        return tuple(_decode_key(k) for k in raw)
    return raw
