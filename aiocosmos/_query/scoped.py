"""What ``ContainerProxy.query_items`` builds: a query in one logical partition or hierarchical-key
prefix (``_feeds/partition_query``), in one feed range, or across the container (``engine``).

``feed_range=`` (as in azure-cosmos, exclusive with ``partition_key``): the range is read one physical
partition at a time, in EPK order, each request addressed with ``x-ms-documentdb-partitionkeyrangeid``
and ``x-ms-read-key-type: EffectivePartitionKeyRange``, plus ``x-ms-start-epk``/``x-ms-end-epk`` where
the range is narrower than the partition, exactly as azure-cosmos sends it. When the range lies in one
partition the service evaluates the whole query there (every shape is exact). When it spans several,
the query plan is asked for first: a plan with nothing to do client-side keeps those per-partition
requests; ORDER BY, aggregates, GROUP BY, DISTINCT, TOP, OFFSET/LIMIT and vector search run through the
cross-partition pipeline restricted to the feed range (azure-cosmos concatenates the partitions'
answers there, which is wrong for those shapes). A full-text or hybrid search always does, even in one
partition: its scores take the whole container's statistics. Tokens of either path resume only the same query on
the same feed range.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._feeds.core import query_body, query_spec
from .._feeds.paging import AsyncItemPaged
from .._feeds.partition_query import epk_range_query_pager, partition_query_pager
from .._feeds.routing import FeedRange
from .._wire.results import Page
from ..exceptions import InvalidContinuationToken, ValidationError
from .engine import QueryPaged, check_max_concurrency, closing, cross_partition_pager
from .fanout import QueryTarget
from .hybrid import HYBRID_TOKEN, refuse_hybrid_resume
from .plan import QueryPlan
from .tokens import ENGINE_TOKEN_PREFIX, OLD_ENGINE_TOKEN_PREFIXES, State
from .vector import NON_STREAMING_TOKEN, refuse_resume

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["FeedRangeQueryPaged", "query_pager"]

_CROSS_PARTITION: Final = "x-ms-documentdb-query-enablecrosspartition"


class FeedRangeQueryPaged(QueryPaged):
    """The pager of ``query_items(feed_range=...)`` (module docstring)."""

    __slots__ = ()

    async def _iter_pages(self, token: str | None) -> AsyncIterator[Page[Any]]:
        target = self._target
        assert target.scope is not None
        low, high = target.scope
        plan: QueryPlan | None = None
        state: State | None = None
        charge = 0.0
        if token is not None and token.startswith(NON_STREAMING_TOKEN):
            raise refuse_resume()
        if token is not None and token.startswith(HYBRID_TOKEN):
            raise refuse_hybrid_resume()
        if token is not None and token.startswith(OLD_ENGINE_TOKEN_PREFIXES):
            raise InvalidContinuationToken("the query continuation token comes from an older aiocosmos; restart "
                                           "the query")
        if token is not None and token.startswith(ENGINE_TOKEN_PREFIX):
            state = State.decode(token)
            if not all(low <= r.low < r.high <= high for r in state.ranges):
                raise InvalidContinuationToken("the continuation token holds ranges outside this feed range")
            plan, charge = await self._plan(None)
        elif token is None:
            routing = await target.core.routing_maps.get(target.link, target.coll_path + "/pkranges",
                                                         timeout=target.timeout)
            # A ranked search in one partition too: its scores need the whole container's statistics.
            if len(routing.overlapping(low, high)) > 1 or target.ranked_search:
                plan, charge = await self._plan(None)
                if plan.passthrough:
                    plan = None  # the partitions' answers one after another are the answer
        if plan is None:
            async with closing(AsyncItemPaged._iter_pages(self, token)) as direct_pages:
                async for page in direct_pages:
                    yield page
            return
        async with closing(self._engine_pages(plan, state, charge)) as pages:
            async for page in pages:
                yield page


def query_pager(
    container: ContainerProxy,
    query: str | Mapping[str, Any],
    *,
    parameters: Sequence[Mapping[str, Any]] | None,
    partition_key: Any,
    feed_range: Any,
    max_item_count: int | None,
    enable_scan_in_query: bool | None,
    populate_query_metrics: bool | None,
    timeout: float | None,
    max_concurrency: int | None,
    headers: dict[str, str] | None = None,
) -> AsyncItemPaged[Any]:
    """The pager ``ContainerProxy.query_items`` returns (its docstring); no I/O. ``headers``: the call's own
    (azure-cosmos's per-call keywords), sent on every request of the query."""
    query, parameters = query_spec(query, parameters)
    headers = {} if headers is None else headers
    if enable_scan_in_query is not None:
        headers["x-ms-documentdb-query-enable-scan"] = str(bool(enable_scan_in_query))
    if populate_query_metrics is not None:
        headers["x-ms-documentdb-populatequerymetrics"] = str(bool(populate_query_metrics))
    if partition_key is not None and feed_range is not None:
        # azure-cosmos's words, so that code matching on them keeps working.
        raise ValidationError("'feed_range' and 'partition_key' are exclusive parameters, please only set one of them.")
    if partition_key is not None:  # a full key or a hierarchical prefix (_feeds/partition_query.py)
        return partition_query_pager(container, query, parameters=parameters, partition_key=partition_key,
                                     headers=headers, max_item_count=max_item_count, timeout=timeout)
    core = container._core
    if feed_range is not None:
        scope = FeedRange.from_json(feed_range).normalized()
        body = query_body(query, parameters)
        direct = epk_range_query_pager(container, body, scope.min, scope.max, headers=headers,
                                       max_item_count=max_item_count, timeout=timeout)
        target = QueryTarget(core, container._link, container._path, container._docs_path, query, parameters, body,
                             headers, max_item_count, check_max_concurrency(max_concurrency), timeout,
                             (scope.min, scope.max))
        return FeedRangeQueryPaged(direct, target)
    headers[_CROSS_PARTITION] = "True"
    pager = core.feed(container._docs_path, "docs", container._link, "Documents", query=query, parameters=parameters,
                      max_item_count=max_item_count, headers=headers, session_container=container._link,
                      timeout=timeout)
    return cross_partition_pager(core, container._link, container._path, container._docs_path, pager, query,
                                 parameters, headers, max_item_count, max_concurrency, timeout)
