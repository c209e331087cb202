"""Hybrid and full-text search on the four-range query gateway (tests/client/fake_query_partitions.py).

The plans are the service's, as the .NET SDK's QueryPlanRetrieverTests record them
(tests/client/fixtures/hybrid_plans.json). The gateway answers as the service does:

* the original query sent as it is → **500** (what azure-cosmos meets and then asks for the plan), or
  400/1004 with the plan (``ranked_direct_status = 400``); the plan request → the plan (refused without
  HybridSearch, and WeightedRankFusion for weights, in the supported-features header);
* the global statistics query on a range → one row: ``documentCount`` and, for a full-text component,
  ``totalWordCount`` (absent on an empty range: a SUM over nothing) and ``hitCounts`` per term;
* a component query → only when its placeholders hold the container's true statistics (any other text is
  an unknown query: 400). Scores: ``_FullTextScore`` is BM25 over the global statistics, ``_VectorScore``
  a dot product (small integer vectors, so scores tie). Each range returns its ``TOP n`` rows in the
  text's ORDER BY (a vector score without a direction: best first), ties in document-number order
  (descending when the score is), as ``{_rid, orderByItems, payload: {payload, componentScores}}``
  (the plain plan) or ``{_rid, payload, componentScores}`` (the optimised one), paged with resume keys.

The oracle (:func:`hybrid_query`'s ``reference``) is written apart from the engine: each component's
candidates (the global top ``n`` for an ORDER BY component, every range's top ``n`` otherwise), a
document's rank as 1 + the number of distinct better scores, RRF with k = 60 and the plan's weights, then
(-score, ``_rid``) order, skip and take.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.client.fake_query_partitions import (
    FULL_RANGE,
    FakeQuery,
    FakeQueryServer,
    Row,
    _plan,
    cosmos_cmp,
    document_number,
)
from tests.client.recording_server import Reply

__all__ = ["HYBRID_PLANS", "FakeHybridServer", "HybridFakeQuery", "hybrid_documents", "hybrid_query"]

HYBRID_PLANS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "hybrid_plans.json").read_text())["plans"]
VOCABULARY = ("swim", "run", "bike", "walk")
_TOTAL = "{documentdb-formattablehybridsearchquery-totaldocumentcount}"
_WORDS = "{{documentdb-formattablehybridsearchquery-totalwordcount-{0}}}"
_HITS = "{{documentdb-formattablehybridsearchquery-hitcountsarray-{0}}}"
_FULL_TEXT = re.compile(r'_FullTextScore\(c\.(\w+), (\[[^\]]*\])')
_VECTOR = re.compile(r"_VectorScore\(c\.(\w+), (\[[^\]]*\])\)")


def hybrid_documents(count: int, seed: int, spread: int = 2) -> list[dict[str, Any]]:
    """Short texts over four words and small integer vectors: scores tie often, within and across ranges."""
    rng = random.Random(seed)
    return [{"id": f"h{i}", "pk": f"p{rng.randrange(60)}",
             "text": " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 5))),
             "image": [rng.randrange(-spread, spread + 1) for _ in range(3)],
             "backup_image": [rng.randrange(-spread, spread + 1) for _ in range(3)]} for i in range(count)]


@dataclass
class _Statistics:
    documents: int
    words: int
    hits: list[int]


def _statistics(query: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """One range's answer to the global statistics query."""
    terms = re.findall(r'FullTextContains\(c\.\w+, "([^"]+)"\)', query)
    row: dict[str, Any] = {"documentCount": len(docs), "fullTextStatistics": []}
    if "_FullTextWordCount" in query:
        entry: dict[str, Any] = {"hitCounts": [sum(t in d["text"].split() for d in docs) for t in terms]}
        if docs:
            entry["totalWordCount"] = sum(len(d["text"].split()) for d in docs)
        row["fullTextStatistics"] = [entry]
    return row


def _score(expression: str, document: Mapping[str, Any], stats: _Statistics) -> float:
    match = _FULL_TEXT.search(expression)
    if match is not None:  # BM25 over the container's statistics
        words = document[match.group(1)].split()
        average = stats.words / stats.documents
        score = 0.0
        for term, hits in zip(json.loads(match.group(2)), stats.hits, strict=True):
            tf = words.count(term)
            idf = math.log(1 + (stats.documents - hits + 0.5) / (hits + 0.5))
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(words) / average))
        return score
    match = _VECTOR.search(expression)
    assert match is not None, expression
    return float(sum(a * b for a, b in zip(document[match.group(1)], json.loads(match.group(2)), strict=True)))


def _split_scores(listed: str) -> list[str]:
    """The entries of a ``[(a ?? x), (-1 * (b ?? y))]`` list, at parenthesis depth 0."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(listed):
        depth += char in "(["
        depth -= char in ")]"
        if char == "," and depth == 0:
            parts.append(listed[start:index].strip())
            start = index + 1
    parts.append(listed[start:].strip())
    return parts


def _component_scorer(text: str, stats: _Statistics) -> Callable[[Mapping[str, Any]], list[float]]:
    if "[(" not in text:  # "componentScores": [] (the optimised plan of one full-text component)
        return lambda document: []
    start = text.index("[(")
    depth, end = 0, start
    for end in range(start, len(text)):
        depth += text[end] == "["
        depth -= text[end] == "]"
        if depth == 0:
            break
    entries = _split_scores(text[start + 1:end])

    def scores(document: Mapping[str, Any]) -> list[float]:
        out = []
        for entry in entries:
            sign = -1.0 if entry.startswith("(-1 * ") else 1.0
            out.append(sign * _score(entry, document, stats))
        return out

    return scores


def hybrid_query(entry: Mapping[str, Any], documents: list[dict[str, Any]], *, take: int | None = None,
                 skip: int = 0, top: int | None = None) -> tuple[FakeQuery, list[FakeQuery]]:
    """The hybrid search of a recorded plan over ``documents`` (all of the container's): the original query and
    the statistics and component queries the gateway answers. ``take``/``skip``/``top`` replace the recorded
    take (10), skip (none) and components' TOP 120."""
    info = json.loads(json.dumps(entry["hybridSearchQueryInfo"]))
    text = entry["query"]
    take = info["take"] if take is None else take
    text = text.replace("TOP 10", f"TOP {take}") if not skip else \
        text.replace("SELECT TOP 10", "SELECT") + f" OFFSET {skip} LIMIT {take}"
    info["take"], info["skip"] = take, skip or None
    for component in info["componentQueryInfos"]:
        if top is not None:
            component["rewrittenQuery"] = component["rewrittenQuery"].replace("TOP 120", f"TOP {top}")
            if component["top"] is not None:
                component["top"] = top
    cut = int(re.search(r"SELECT TOP (\d+)", info["componentQueryInfos"][0]["rewrittenQuery"]).group(1))  # type: ignore[union-attr]
    plan = {"hybridSearchQueryInfo": info, "queryRanges": FULL_RANGE}
    whole = _statistics(info["globalStatisticsQuery"], documents)
    terms = whole["fullTextStatistics"]
    stats = _Statistics(len(documents), terms[0].get("totalWordCount", 0) if terms else 0,
                        terms[0]["hitCounts"] if terms else [])
    subqueries = [FakeQuery(info["globalStatisticsQuery"], _plan(), lambda docs: [(0, _statistics(
        info["globalStatisticsQuery"], docs))], lambda a, b: (a > b) - (a < b), lambda docs, range_of: [])]
    weights = info["componentWeights"] or [1.0] * len(info["componentQueryInfos"])
    fusion_descending = [not c["orderBy"] or c["orderBy"][0] != "Ascending" for c in info["componentQueryInfos"]]
    candidates: list[Callable[[list[dict[str, Any]], Callable[[dict[str, Any]], str]], list[dict[str, Any]]]] = []
    for index, component in enumerate(info["componentQueryInfos"]):
        query = component["rewrittenQuery"].replace("{documentdb-formattableorderbyquery-filter}", "true")
        query = query.replace(_TOTAL, str(stats.documents))
        query = query.replace(_WORDS.format(0), str(stats.words))
        query = query.replace(_HITS.format(0), "[" + ",".join(map(str, stats.hits)) + "]")
        order = query[query.rindex("\nORDER BY ") + len("\nORDER BY "):]
        # ORDER BY a vector score without a direction is best first (the service's vector order).
        descending = order.endswith(" DESC") or (not order.endswith(" ASC") and "_VectorScore" in order)
        order_expression = order.removesuffix(" DESC").removesuffix(" ASC")
        scorer = _component_scorer(query, stats)
        nested = "AS orderByItems" in query
        subqueries.append(_component_query(query, order_expression, descending, scorer, nested, cut, stats))
        candidates.append(_candidates(order_expression, descending, cut, component["top"] is not None, stats,
                                      index))

    def reference(docs: list[dict[str, Any]], range_of: Callable[[dict[str, Any]], str]) -> list[Any]:
        chosen = [pick(docs, range_of) for pick in candidates]
        if len(chosen) == 1 and info["componentQueryInfos"][0]["top"] is not None:
            ordered = chosen[0]
        else:
            unique = {d["_rid"]: d for picked in chosen for d in picked}
            scorer = _component_scorer(subqueries[1].text, stats)
            scores = {rid: scorer(d) for rid, d in unique.items()}
            fused = {}
            for rid in unique:
                total = 0.0
                for j, weight in enumerate(weights):
                    mine = scores[rid][j]
                    better = {s[j] for s in scores.values() if (s[j] > mine if fusion_descending[j] else s[j] < mine)}
                    total += weight / (60 + 1 + len(better))
                fused[rid] = total
            ordered = [unique[rid] for rid in sorted(unique, key=lambda r: (-fused[r], r))]
        return ordered[skip:skip + take]

    original = HybridFakeQuery(text, plan, lambda docs: [], lambda a, b: 0, reference)
    return original, subqueries


@dataclass
class HybridFakeQuery(FakeQuery):
    """The original hybrid query (its plan has no ``queryInfo``; nothing is rewritten)."""

    @property
    def backend_text(self) -> str:
        return self.text


def _order_key(descending: bool) -> Callable[[Any, Any], int]:
    def key_cmp(a: Any, b: Any) -> int:
        result = cosmos_cmp(a[0][0], b[0][0])
        if result:
            return -result if descending else result
        if a[1] != b[1]:
            return (-1 if a[1] < b[1] else 1) * (-1 if descending else 1)
        return 0
    return key_cmp


def _ordered(docs: list[dict[str, Any]], expression: str, descending: bool,
             stats: _Statistics) -> list[tuple[Any, dict[str, Any]]]:
    keyed = [(((_score(expression, d, stats),), document_number(d["_rid"]), 0), d) for d in docs]
    keyed.sort(key=functools.cmp_to_key(lambda x, y: _order_key(descending)(x[0], y[0])))
    return keyed


def _component_query(text: str, expression: str, descending: bool, scorer: Callable[[Mapping[str, Any]], list[float]],
                     nested: bool, cut: int, stats: _Statistics) -> FakeQuery:
    def run(docs: list[dict[str, Any]]) -> list[Row]:
        rows: list[Row] = []
        for key, d in _ordered(docs, expression, descending, stats)[:cut]:
            if nested:
                row = {"_rid": d["_rid"], "orderByItems": [{"item": key[0][0]}],
                       "payload": {"payload": d, "componentScores": scorer(d)}}
            else:
                row = {"_rid": d["_rid"], "payload": d, "componentScores": scorer(d)}
            rows.append((key, row))
        return rows

    return FakeQuery(text, _plan(), run, _order_key(descending), lambda docs, range_of: [])


def _candidates(expression: str, descending: bool, cut: int, merged: bool, stats: _Statistics,
                index: int) -> Callable[[list[dict[str, Any]], Callable[[dict[str, Any]], str]], list[dict[str, Any]]]:
    def pick(docs: list[dict[str, Any]], range_of: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
        if merged:  # the component's best rows across ranges
            return [d for _, d in _ordered(docs, expression, descending, stats)[:cut]]
        out = []
        for low in sorted({range_of(d) for d in docs}):
            out += [d for _, d in _ordered([d for d in docs if range_of(d) == low], expression, descending,
                                           stats)[:cut]]
        return out
    return pick


class FakeHybridServer(FakeQueryServer):
    """The query gateway, answering a hybrid search sent as it is with a 500 (or 400/1004)."""

    def __init__(self, boundaries: tuple[str, ...] = ("10", "20", "30")) -> None:
        super().__init__(boundaries)
        self.ranked_direct_status = 500
        self._ranked: set[str] = set()

    def register_hybrid(self, entry: Mapping[str, Any], **kwargs: Any) -> FakeQuery:
        original, subqueries = hybrid_query(entry, self.documents, **kwargs)
        for query in subqueries:
            self.register(query)
        self._ranked.add(original.text)
        return self.register(original)

    def _query(self, headers: Mapping[str, str], body: dict[str, Any]) -> Reply:
        if (body["query"] in self._ranked and self.ranked_direct_status == 500
                and "x-ms-documentdb-partitionkeyrangeid" not in headers
                and headers.get("x-ms-cosmos-is-query-plan-request") != "True"):
            return Reply.error(500, code="InternalServerError", message="Unknown server error occurred when "
                               "processing this request.")
        return super()._query(headers, body)
