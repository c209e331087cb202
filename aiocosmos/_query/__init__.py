"""The client-side cross-partition query pipeline (spec §8.3-§8.6, §15.3).

``query_items`` without a partition key first sends the query as it is (the cheap direct path: the
gateway streams simple cross-partition queries itself). Only when the gateway answers **400 with
sub-status 1004** ("can not be directly served by the gateway") does this package take over:

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
   null < false/true < numbers < strings; ties broken by the document number in ``_rid``, in the
   direction of the first ORDER BY column, as the service orders each range); other queries emit ranges in
   EPK order, one backend page per page. Then DISTINCT (ordered or unordered), OFFSET, TOP/LIMIT.
   Aggregates (COUNT/SUM/MIN/MAX/AVG, with or without VALUE, several per query) read every range and
   combine its partials (``partials``: MIN/MAX in both the ``item`` and ``item2`` forms; AVG from
   sums and counts; an undefined partial makes the answer undefined, as on the service). GROUP BY
   reads every range to the end, combines the per-range groups (``groupByItems``/``payload``, in the
   gateway's shapes: ``SELECT VALUE`` payloads without aliases) and emits the groups in the Cosmos
   order of their keys. DCOUNT counts what DISTINCT/OFFSET/TOP let through.
4. **Continuation.** A composite token (``aq2:`` + JSON, wrapped by the pager's fingerprint and
   checksum like every aiocosmos token) holds, per EPK range, the backend continuation of the page
   being consumed and, for ORDER BY, the sort key, ``_rid`` and JOIN skip count of the last item
   consumed from it; plus the items passed through DISTINCT/OFFSET/TOP (and the hashes DISTINCT has
   seen). Only a resumed range is filtered: it re-reads its page and skips up to the last consumed row
   (sort key, then document number, then the skip count), as the official SDKs resume, so it is exact
   at every page boundary, also after a split or merge. ``aq1:`` tokens are refused. A GROUP BY token
   counts the groups taken: resuming recomputes the groups.
5. **Splits and merges.** A range that answers 410/1002/1007/1008 makes the client re-read the routing
   map and continue on the children from the same continuation. A range narrower than its physical
   partition (after a merge, or a token saved before one) is sent to that partition with
   ``x-ms-read-key-type: EffectivePartitionKeyRange`` and ``x-ms-start-epk``/``x-ms-end-epk``.

Vector search (non-streaming ORDER BY) is ``vector``; full-text and hybrid search (``ORDER BY RANK``,
the plan's ``hybridSearchQueryInfo``: global statistics, component queries, RRF fusion) is ``hybrid``.
A query naming RRF/FullTextScore/FullTextContains asks for its plan first (the service answers it sent
as it is with a 500).

Not supported (refused with :class:`~aiocosmos.exceptions.UnsupportedQuery` before any per-range
request, naming the query feature): MAKELIST/MAKESET and COUNTIF. The plan request advertises exactly
the features implemented (``plan.SUPPORTED_QUERY_FEATURES``).

The modules, each importing only modules listed before it: ``ordering`` (type order, sort keys,
DISTINCT hashes), ``partials`` (combining partial aggregates), ``plan`` (the plan, its request and
cache), ``tokens`` (the composite continuation), ``fanout`` (the per-range fetches, splits,
streaming and ORDER BY merge), ``aggregation`` (aggregates, GROUP BY and DCOUNT), ``vector``
(non-streaming ORDER BY), ``hybrid`` (ranked search), ``engine`` (the pager that
``ContainerProxy.query_items`` builds), ``scoped`` (``query_items(feed_range=...)``).
"""
