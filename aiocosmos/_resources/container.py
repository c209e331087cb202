"""ContainerProxy: items of one container (point operations in items.py, read feed and queries)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .._bulk.executor import BulkExecution
from .._bulk.upsert import bulk_upsert
from .._feeds.change_feed import query_items_change_feed
from .._feeds.feed_range import latest_session_token
from .._feeds.paging import AsyncItemPaged
from .._feeds.routing import FeedRange, feed_range_for_partition_key, feed_range_listing
from .._feeds.typed import ModelPaged
from .._feeds.watch import watch_changes
from .._query.scoped import query_pager
from .._wire.documents import PATCH_OPERATIONS
from .._wire.last_response import CLIENT_CONNECTION, ClientConnection
from .._wire.paths import PartitionKey, loose_partition_header, quote_id
from .._wire.request_options import ResponseHook, call_hook, check_hook, query_option_headers, with_call_headers
from .._wire.results import ResourceResponse
from ..exceptions import ValidationError
from .attachments import get_attachments_client
from .batch import BatchCall, delete_all_items_by_partition_key, execute_item_batch
from .conflicts import ConflictOperations
from .items import ItemOperations
from .offers import get_throughput, replace_throughput
from .read_many import read_all_items, read_items_call
from .scripts import ScriptsProxy
from .throughput_control import ThroughputControl, enable_global, enable_local

if TYPE_CHECKING:
    from .._bulk.executor import BulkSummary
    from .._feeds.change_feed import ChangeFeedPaged, ChangeFeedStart
    from .._feeds.core import ClientCore
    from .._feeds.routing import FeedRangeListing
    from .._feeds.watch import ChangeFeedWatcher, WatchBackoff
    from .._throughput.config import GlobalThroughputControlConfig, ThroughputControlGroupConfig
    from .attachments import AttachmentsProxy
    from .batch import BatchResponse
    from .database import DatabaseProxy
    from .offers import ThroughputProperties, ThroughputResponse
    from .read_many import ReadManyResult

__all__ = ["ContainerProxy", "PATCH_OPERATIONS"]

M = TypeVar("M")

class ContainerProxy(ItemOperations, ConflictOperations):
    """A container. Cheap to create (no I/O); get one with ``database.get_container_client(id)``.

    The container's partition-key definition is read once (on first need) and cached per client.
    """

    __slots__ = ("_core", "_docs_link", "_docs_path", "_link", "_path", "database", "id", "properties")

    def __init__(self, core: ClientCore, database: DatabaseProxy, id: str) -> None:
        self._core = core
        self.database = database
        self.id = id
        self._link = f"{database._link}/colls/{id}"
        self._path = f"{database._path}/colls/{quote_id(id)}"
        self._docs_path = self._path + "/docs"
        self._docs_link = self._link + "/docs/"
        self.properties: ResourceResponse | None = None
        """The last container definition this proxy read or created, if any."""

    def __repr__(self) -> str:
        return f"<ContainerProxy [{self._link}]>"  # azure-cosmos's form

    @property
    def container_link(self) -> str:
        """The container's name-based link, ``dbs/<db>/colls/<id>`` (as azure-cosmos's ``container_link``)."""
        return self._link

    @property
    def client_connection(self) -> ClientConnection:
        """Porting aid: ``client_connection.last_response_headers`` is task-local (README, porting)."""
        return CLIENT_CONNECTION

    # -- container metadata ----------------------------------------------------------------------

    async def read(self, *, timeout: float | None = None, priority: str | None = None,
                   initial_headers: Mapping[str, str] | None = None, response_hook: ResponseHook | None = None,
                   populate_partition_key_range_statistics: object = None, populate_quota_info: object = None,
                   ) -> ResourceResponse:
        """Read the container's properties (partition key, indexing policy, ttl, ...)."""
        if populate_partition_key_range_statistics is not None or populate_quota_info is not None:
            raise TypeError("read(populate_partition_key_range_statistics=, populate_quota_info=) are not taken: "
                            "container.read_feed_ranges() lists the ranges, get_throughput() the quota")
        check_hook(response_hook)
        headers = None if priority is None and not initial_headers else with_call_headers(
            {}, session_token=None, initial_headers=initial_headers, priority=priority)
        response = await self._core.resource("GET", self._path, "colls", self._link, idempotent=True,
                                             headers=headers, timeout=timeout)
        call_hook(response_hook, response.headers, response)
        if "partitionKey" in response:
            self._core.partition_keys[self._link] = PartitionKey.from_json(response["partitionKey"])
        self._core.session_tokens.bind(self._link, response.get("_rid"))  # re-created: a fresh session
        self.properties = response
        return response

    async def partition_key_definition(self, *, timeout: float | None = None) -> PartitionKey:
        """The container's partition key (read from the service once, then cached)."""
        definition = self._core.partition_keys.get(self._link)
        if definition is None:
            definition, _ = await self._load_definition(timeout)
        return definition

    async def _load_definition(self, timeout: float | None) -> tuple[PartitionKey, float | None]:
        """Read the definition within the operation's deadline; return it and the time left."""
        if timeout is None:
            timeout = self._core.default_timeout
        started = self._core.clock.monotonic()
        await self.read(timeout=timeout)
        if timeout is not None:
            timeout = max(0.0, timeout - (self._core.clock.monotonic() - started))
        return self._core.partition_keys[self._link], timeout

    # -- point operations: create_item, upsert_item, replace_item, read_item, delete_item, patch_item
    #    (items.py)

    # -- feeds and queries -----------------------------------------------------------------------

    def read_all_items(
        self, *, max_item_count: int | None = None, timeout: float | None = None, session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None, priority: str | None = None,
        throughput_bucket: int | None = None, max_integrated_cache_staleness_in_ms: int | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Every item of the container, page by page (``max_item_count`` per page)."""
        return read_all_items(self, max_item_count=max_item_count, timeout=timeout, session_token=session_token,
                              initial_headers=initial_headers, priority=priority, throughput_bucket=throughput_bucket,
                              max_integrated_cache_staleness_in_ms=max_integrated_cache_staleness_in_ms)

    @overload
    def query_items(
        self, query: str | Mapping[str, Any], *,
        parameters: Sequence[Mapping[str, Any]] | None = None, partition_key: Any = None, feed_range: Any = None,
        max_item_count: int | None = None, enable_scan_in_query: bool | None = None,
        populate_query_metrics: bool | None = None, timeout: float | None = None,
        max_concurrency: int | None = None, continuation_token_limit: int | None = None,
        populate_index_metrics: bool | None = None, populate_query_advice: bool | None = None,
        max_integrated_cache_staleness_in_ms: int | None = None, priority: str | None = None,
        throughput_bucket: int | None = None, session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None,
        excluded_locations: object = None, response_hook: ResponseHook | None = None,
        enable_cross_partition_query: bool | None = None, full_text_score_scope: str | None = None,
        model: None = None,
    ) -> AsyncItemPaged[Any]: ...
    @overload
    def query_items(
        self, query: str | Mapping[str, Any], *,
        parameters: Sequence[Mapping[str, Any]] | None = None, partition_key: Any = None, feed_range: Any = None,
        max_item_count: int | None = None, enable_scan_in_query: bool | None = None,
        populate_query_metrics: bool | None = None, timeout: float | None = None,
        max_concurrency: int | None = None, continuation_token_limit: int | None = None,
        populate_index_metrics: bool | None = None, populate_query_advice: bool | None = None,
        max_integrated_cache_staleness_in_ms: int | None = None, priority: str | None = None,
        throughput_bucket: int | None = None, session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None,
        excluded_locations: object = None, response_hook: ResponseHook | None = None,
        enable_cross_partition_query: bool | None = None, full_text_score_scope: str | None = None,
        model: type[M],
    ) -> ModelPaged[M]: ...

    def query_items(
        self,
        query: str | Mapping[str, Any],
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        partition_key: Any = None,
        feed_range: Any = None,
        max_item_count: int | None = None,
        enable_scan_in_query: bool | None = None,
        populate_query_metrics: bool | None = None,
        timeout: float | None = None,
        max_concurrency: int | None = None,
        continuation_token_limit: int | None = None,
        populate_index_metrics: bool | None = None,
        populate_query_advice: bool | None = None,
        max_integrated_cache_staleness_in_ms: int | None = None,
        priority: str | None = None,
        throughput_bucket: int | None = None,
        session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None,
        excluded_locations: object = None, response_hook: ResponseHook | None = None,
        enable_cross_partition_query: bool | None = None, full_text_score_scope: str | None = None,
        model: type[M] | None = None,
    ) -> AsyncItemPaged[Any] | ModelPaged[M]:
        """Run a SQL query. With ``partition_key`` it runs in that logical partition (or, for a prefix of a
        hierarchical key, over every key under it); with ``feed_range`` (a FeedRange or its azure-cosmos
        forms, e.g. from ``read_feed_ranges``) over that range only; with neither, across all partitions.
        Items are dicts, or bare values for ``SELECT VALUE`` queries.

        ``partition_key=None`` means "all partitions" (as in azure-cosmos); to query the partition
        whose key is JSON null, pass ``[None]``. Cross-partition queries the gateway cannot serve
        (ORDER BY, TOP, OFFSET/LIMIT, DISTINCT, aggregates, GROUP BY, vector search) run in the client, on
        up to ``max_concurrency`` partitions at once (default 8; aiocosmos/_query/).

        azure-cosmos's keywords ``continuation_token_limit`` (KB), ``populate_index_metrics``,
        ``populate_query_advice``, ``max_integrated_cache_staleness_in_ms``, ``priority``, ``throughput_bucket``,
        ``session_token`` and ``initial_headers`` send the headers azure-cosmos sends, on every page's request.
        ``model=Order`` builds each item as ``Order`` (``ClientOptions.serializer``); pages keep the metadata.
        ``enable_cross_partition_query`` is taken and changes nothing (azure.cosmos.aio ignores it too).
        ``response_hook(headers, items)`` is called for each page fetched, with that page's headers and items.
        """
        if full_text_score_scope is not None and full_text_score_scope != "Global":
            raise TypeError(f"query_items(full_text_score_scope={full_text_score_scope!r}): aiocosmos computes "
                            "FullTextScore's statistics over the whole container: pass 'Global' or nothing")
        if excluded_locations is not None:
            raise TypeError("query_items(excluded_locations=...): wrap the iteration in "
                            "`with aiocosmos.excluded_regions([...]):` (a pager runs after this call returns)")
        check_hook(response_hook)
        if model is not None and not isinstance(model, type):
            raise ValidationError(f"model must be a class (dataclass, attrs or pydantic), got {model!r}")
        headers = with_call_headers(query_option_headers(
            {}, continuation_token_limit=continuation_token_limit, populate_index_metrics=populate_index_metrics,
            populate_query_advice=populate_query_advice,
            max_integrated_cache_staleness_in_ms=max_integrated_cache_staleness_in_ms,
        ), session_token=session_token, initial_headers=initial_headers, priority=priority,
            throughput_bucket=throughput_bucket)
        pager = query_pager(self, query, parameters=parameters, partition_key=partition_key, feed_range=feed_range,
                            max_item_count=max_item_count, enable_scan_in_query=enable_scan_in_query,
                            populate_query_metrics=populate_query_metrics, timeout=timeout,
                            max_concurrency=max_concurrency, headers=headers)
        pager._hook = response_hook  # called per page with its headers and items (README, porting)
        if model is None:
            return pager
        models, target = self._core.models, model
        return ModelPaged(pager, lambda document: models.from_document(document, target))

    # -- server-side scripts ---------------------------------------------------------------------

    @property
    def scripts(self) -> ScriptsProxy:
        """Stored procedures, triggers and user-defined functions of this container (no I/O)."""
        return ScriptsProxy(self)

    # -- attachments (attachments.py) ----------------------------------------------------------

    def get_attachments_client(self, item: str | Mapping[str, Any], partition_key: Any) -> AttachmentsProxy:
        """The attachments of one item, a legacy feature (no I/O): create, upsert, read, replace, delete,
        list and query reference attachments, or upload media. ``partition_key`` is the item's."""
        return get_attachments_client(self, item, partition_key)

    # -- throughput (offers.py) ----------------------------------------------------------------

    async def get_throughput(
        self, *, timeout: float | None = None, response_hook: ResponseHook | None = None
    ) -> ThroughputResponse:
        """The container's dedicated throughput (NotFound, sub-status 10004, if it has none)."""
        check_hook(response_hook)
        result = await get_throughput(self, timeout=timeout)
        call_hook(response_hook, result.headers, result)
        return result

    async def replace_throughput(
        self, throughput: int | ThroughputProperties, *, timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> ThroughputResponse:
        """Set the container's dedicated throughput: an int (manual RU/s, >= 400 in steps of 100) or
        ``ThroughputProperties(auto_scale_max_throughput=...)`` for an autoscale container."""
        check_hook(response_hook)
        result = await replace_throughput(self, throughput, timeout=timeout)
        call_hook(response_hook, result.headers, result)
        return result

    async def enable_local_throughput_control_group(self, group: ThroughputControlGroupConfig) -> ThroughputControl:
        """Throttle this client's requests to this container to the group's target, in this process
        (README, "Throughput control"). Returns the handle: ``stats()``, ``close()``."""
        return await enable_local(self, group)

    async def enable_global_throughput_control_group(
        self, group: ThroughputControlGroupConfig, global_config: GlobalThroughputControlConfig
    ) -> ThroughputControl:
        """As ``enable_local_throughput_control_group``, the target shared with every client of the group
        (in any process or host) through ``global_config.control_container``."""
        return await enable_global(self, group, global_config)

    # -- transactional batch, read-many, delete by partition key (batch.py, read_many.py) ------

    async def execute_item_batch(
        self,
        batch_operations: Sequence[Sequence[Any]],
        partition_key: Any,
        *,
        timeout: float | None = None,
        pre_trigger_include: str | Sequence[str] | None = None, post_trigger_include: str | Sequence[str] | None = None,
        session_token: str | None = None, priority: str | None = None, throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None, response_hook: ResponseHook | None = None,
    ) -> BatchResponse:
        """Run 1 to 100 operations of one logical partition atomically: all are committed or none.

        Operations are azure-cosmos tuples: ``("create", (item,))``, ``("upsert", (item,))``,
        ``("read", (id,))``, ``("delete", (id,))``, ``("replace", (id, item))`` and
        ``("patch", (id, patch_operations), {"filter_predicate": ...})``; each may take
        ``{"if_match_etag": etag}`` or ``{"if_none_match_etag": etag}``. Everything (count, ids,
        JSON, the 2 MB body limit, each item's partition key) is checked before the batch is sent.
        Raises BatchOperationError naming the failed operation when the service refuses the batch.
        """
        call = BatchCall(pre_trigger_include, post_trigger_include, session_token, priority, throughput_bucket,
                         excluded_locations, response_hook)
        result: BatchResponse = await call.run(
            execute_item_batch(self, batch_operations, partition_key, timeout=timeout, call=call))
        return result

    async def read_items(
        self,
        items: Sequence[tuple[str, Any]],
        *,
        max_concurrency: int | None = None,
        timeout: float | None = None,
        response_hook: ResponseHook | None = None,
        consistency_level: str | None = None, session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None, priority: str | None = None,
        throughput_bucket: int | None = None, excluded_locations: Sequence[str] | None = None,
    ) -> ReadManyResult:
        """Read many items by ``(id, partition_key)``: the found items in the order asked (missing ones
        are left out), with the total ``request_charge``. One query per logical partition (a point
        read when a partition has one id), at most ``max_concurrency`` (default 5) at a time.
        ``timeout`` is one deadline for all of them. ``response_hook(headers, result)`` is called once, with
        the aggregated headers and the returned list, as azure-cosmos calls it."""
        result = await read_items_call(
            self, items, max_concurrency=max_concurrency, timeout=timeout, consistency_level=consistency_level,
            session_token=session_token, initial_headers=initial_headers, priority=priority,
            throughput_bucket=throughput_bucket, excluded_locations=excluded_locations)
        call_hook(response_hook, result.get_response_headers(), result)
        return result

    read_many = read_items

    # -- bulk (aiocosmos/_bulk/) -------------------------------------------------------------------

    def bulk(
        self,
        operations: Iterable[Any] | AsyncIterable[Any],
        *,
        max_concurrency_per_range: int = 50,
        max_pending: int = 10_000,
        flush_interval: float = 0.1,
        max_operation_retries: int = 100,
        timeout: float | None = None,
    ) -> BulkExecution:
        """Run any number of independent operations, grouped by partition key range into non-atomic
        batches, with congestion control per range: ``async for result in container.bulk(ops)`` yields
        exactly one BulkOperationResult per operation (``result.index`` is its input position).
        Operations are batch tuples; read, delete and patch take ``{"partition_key": value}`` as option.
        ``timeout`` applies to each request."""
        return BulkExecution(self, operations, max_concurrency_per_range=max_concurrency_per_range,
                             max_pending=max_pending, flush_interval=flush_interval,
                             max_operation_retries=max_operation_retries, timeout=timeout)

    async def bulk_upsert(self, items: Iterable[Any] | AsyncIterable[Any], **options: Any) -> BulkSummary:
        """Upsert every item with the bulk executor; return a BulkSummary (counts, RU, failures)."""
        return await bulk_upsert(self, items, **options)

    async def delete_all_items_by_partition_key(
        self, partition_key: Any, *, timeout: float | None = None,
        pre_trigger_include: str | Sequence[str] | None = None, post_trigger_include: str | Sequence[str] | None = None,
        session_token: str | None = None, throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None, response_hook: ResponseHook | None = None,
    ) -> ResourceResponse:
        """Ask the service to delete every item of one logical partition, in the background (it may
        need to be enabled on the account). Never retried after an ambiguous failure."""
        call = BatchCall(pre_trigger_include, post_trigger_include, session_token, None, throughput_bucket,
                         excluded_locations, response_hook)
        result: ResourceResponse = await call.run(
            delete_all_items_by_partition_key(self, partition_key, timeout=timeout, call=call), hook_result=False)
        return result

    # -- feed ranges and the change feed (aiocosmos/_feeds/) ----------------------------------

    def read_feed_ranges(self, *, force_refresh: bool = False, timeout: float | None = None) -> FeedRangeListing:
        """One FeedRange per physical partition, in key order: ``await`` it for a list, or ``async for``
        over it as with azure-cosmos. Served from the client's cached routing map (read on first use;
        ``force_refresh=True`` re-reads it)."""

        return feed_range_listing(self._core, self._link, self._path, refresh=bool(force_refresh), timeout=timeout)

    async def feed_range_from_partition_key(self, partition_key: Any, *, timeout: float | None = None) -> FeedRange:
        """The feed range of one partition-key value (``None`` is JSON null): the point of its
        effective-partition-key hash, or for a prefix of a hierarchical key the range of every key
        under it. Reads the container's definition once (cached); no other I/O."""

        loose_partition_header(partition_key)  # the value itself, before any I/O
        definition = self._core.partition_keys.get(self._link)
        if definition is None:
            definition, _ = await self._load_definition(timeout)
        return feed_range_for_partition_key(definition, partition_key)

    async def get_latest_session_token(
        self, feed_ranges_to_session_tokens: Sequence[tuple[Any, str]], target_feed_range: Any
    ) -> str:
        """The most recent session token for ``target_feed_range`` from ``(feed range, session token)``
        pairs you kept (azure-cosmos's method): the overlapping ones, merged. No I/O."""
        return latest_session_token(feed_ranges_to_session_tokens, target_feed_range)

    async def is_feed_range_subset(self, parent_feed_range: Any, child_feed_range: Any) -> bool:
        """Whether ``child_feed_range`` lies within ``parent_feed_range`` (FeedRanges or their
        azure-cosmos forms). No I/O."""
        return FeedRange.from_json(child_feed_range).is_subset_of(FeedRange.from_json(parent_feed_range))

    def query_items_change_feed(
        self,
        *,
        start_time: ChangeFeedStart = None,
        partition_key: Any = None,
        feed_range: Any = None,
        continuation: str | None = None,
        max_item_count: int | None = None,
        mode: str | None = None,
        is_start_from_beginning: bool = False,
        timeout: float | None = None,
        priority: str | None = None,
        throughput_bucket: int | None = None,
        excluded_locations: object = None,
        response_hook: object = None,
    ) -> ChangeFeedPaged[dict[str, Any]]:
        """The items changed since ``start_time`` (``"Now"``, the default as in azure-cosmos;
        ``"Beginning"``; or an aware datetime), in the order they changed within each partition.
        ``is_start_from_beginning=True`` is azure-cosmos's older spelling of ``start_time="Beginning"``;
        ``priority`` and ``throughput_bucket`` are sent on every request of the feed, as azure-cosmos sends them.

        Scope: the whole container, one ``partition_key`` (``[None]`` for JSON null; ``None`` means the
        whole container, as in ``query_items``), or one ``feed_range``. ``mode`` is ``"LatestVersion"``
        or ``"AllVersionsAndDeletes"`` (from "Now" or a continuation only). Iteration ends once every
        partition is caught up; resume later with ``continuation=`` (a page's or the page iterator's
        ``continuation``), which carries the scope, mode and position. Nothing is fetched until
        iteration starts; every argument and token is checked here, before any I/O.
        """
        if excluded_locations is not None:
            raise TypeError("query_items_change_feed(excluded_locations=...): wrap the iteration in "
                            "`with aiocosmos.excluded_regions([...]):` (the feed runs after this call returns)")
        if response_hook is not None:
            raise TypeError("query_items_change_feed(response_hook=...): iterate .by_page(); each page has its "
                            "headers, request_charge and continuation")
        headers = with_call_headers({}, session_token=None, initial_headers=None, priority=priority,
                                    throughput_bucket=throughput_bucket)
        if is_start_from_beginning:
            if start_time is not None and start_time != "Beginning":
                raise ValueError(f"is_start_from_beginning=True contradicts start_time={start_time!r}; pass one")
            start_time = "Beginning"
        return query_items_change_feed(
            self, start_time=start_time, partition_key=partition_key, feed_range=feed_range,
            continuation=continuation, max_item_count=max_item_count, mode=mode, timeout=timeout,
            headers=headers or None,
        )

    def watch_changes(
        self,
        *,
        poll_interval: float = 1.0,
        start_time: ChangeFeedStart = None,
        partition_key: Any = None,
        feed_range: Any = None,
        continuation: str | None = None,
        max_item_count: int | None = None,
        mode: str | None = None,
        timeout: float | None = None,
        backoff: WatchBackoff | None = None,
    ) -> ChangeFeedWatcher:
        """Follow the change feed for ever: ``async for page in container.watch_changes(...)`` gives
        each non-empty Page of changes; save ``page.continuation`` to resume after it (a given
        ``continuation`` wins over ``start_time``). Between passes it sleeps ``poll_interval`` seconds on
        the client's clock. Transient failures are ridden out (``backoff``; counted in ``.stats``); other
        errors end it. Cancel the consuming task, or ``aclose()``, to stop (no request is left behind)."""
        return watch_changes(
            self, poll_interval=poll_interval, start_time=start_time, partition_key=partition_key,
            feed_range=feed_range, continuation=continuation, max_item_count=max_item_count, mode=mode,
            timeout=timeout, backoff=backoff,
        )
