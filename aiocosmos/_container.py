"""ContainerProxy: items of one container (point operations, patch, read feed and queries)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from . import _codec
from ._models import ResourceResponse
from ._paging import AsyncItemPaged
from ._paths import PartitionKey, partition_key_header, quote_id, validate_id
from .exceptions import ValidationError

if TYPE_CHECKING:
    from ._attachments import AttachmentsProxy
    from ._batch import BatchResponse, ReadManyResult
    from ._bulk import BulkExecution, BulkSummary
    from ._change_feed import ChangeFeedPaged, ChangeFeedStart, ChangeFeedWatch
    from ._core import ClientCore
    from ._database import DatabaseProxy, ThroughputProperties
    from ._offers import ThroughputResponse
    from ._routing import FeedRange, FeedRangeListing
    from ._scripts import ScriptsProxy

__all__ = ["ContainerProxy", "PATCH_OPERATIONS"]

PATCH_OPERATIONS: Final = frozenset({"add", "set", "replace", "remove", "incr", "move"})
_MAX_PATCH_OPERATIONS: Final = 10
_PK: Final = "x-ms-documentdb-partitionkey"
_JSON: Final = "application/json"


def _item_id(item: str | Mapping[str, Any]) -> str:
    if isinstance(item, Mapping):
        return validate_id(item.get("id"), "item id")
    return validate_id(item, "item id")


def _document(body: object, *, auto_id: bool = False) -> dict[str, Any]:
    if isinstance(body, ResourceResponse):
        body = body.body
    if not isinstance(body, dict):
        raise ValidationError(f"an item body must be a dict, got {type(body).__name__}")
    if "id" not in body:
        if not auto_id:
            raise ValidationError(
                "the item has no 'id' (pass enable_automatic_id_generation=True to have one generated)"
            )
        body = {**body, "id": str(uuid.uuid4())}  # the caller's dict is left untouched
    validate_id(body["id"], "item id")
    return body


def _check_patch(operations: object) -> list[dict[str, Any]]:
    if not isinstance(operations, Sequence) or isinstance(operations, str | bytes) or not operations:
        raise ValidationError("patch_operations must be a non-empty list of operations")
    if len(operations) > _MAX_PATCH_OPERATIONS:
        raise ValidationError(
            f"a patch takes at most {_MAX_PATCH_OPERATIONS} operations, got {len(operations)}"
        )
    checked = []
    for operation in operations:
        if not isinstance(operation, Mapping):
            raise ValidationError(f"a patch operation must be a dict, got {operation!r}")
        op, path = operation.get("op"), operation.get("path")
        if op not in PATCH_OPERATIONS:
            raise ValidationError(f"patch op must be one of {sorted(PATCH_OPERATIONS)}, got {op!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValidationError(f"patch path must start with '/', got {path!r} in {dict(operation)!r}")
        if op in ("add", "set", "replace", "incr") and "value" not in operation:
            raise ValidationError(f"patch op {op!r} needs a 'value': {dict(operation)!r}")
        if op == "incr" and (not isinstance(operation["value"], int | float) or isinstance(operation["value"], bool)):
            raise ValidationError(f"patch op 'incr' needs a number, got {operation['value']!r}")
        if op == "move" and not (isinstance(operation.get("from"), str) and operation["from"].startswith("/")):
            raise ValidationError(f"patch op 'move' needs a 'from' path: {dict(operation)!r}")
        checked.append(dict(operation))
    return checked


class ContainerProxy:
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
        return f"ContainerProxy(database={self.database.id!r}, id={self.id!r})"

    # -- container metadata ----------------------------------------------------------------------

    async def read(self, *, timeout: float | None = None) -> ResourceResponse:
        response = await self._core.resource("GET", self._path, "colls", self._link, idempotent=True,
                                             timeout=timeout)
        if "partitionKey" in response:
            self._core.partition_keys[self._link] = PartitionKey.from_json(response["partitionKey"])
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

    # -- point operations ------------------------------------------------------------------------

    async def _write(
        self,
        method: str,
        path: str,
        link: str,
        document: dict[str, Any],
        extra: dict[str, str],
        timeout: float | None,
    ) -> ResourceResponse:
        data = _codec.dumps_document(document)  # NaN, non-JSON values and the 2 MB limit: before I/O
        definition = self._core.partition_keys.get(self._link)
        if definition is None:
            definition, timeout = await self._load_definition(timeout)
        extra[_PK] = definition.header_from_document(document)
        extra["Content-Type"] = _JSON
        status, headers, body = await self._core.request(
            method, path, "docs", link, headers=extra, body=data, idempotent=False, timeout=timeout
        )
        self._core.session_tokens.capture(self._link, headers.get("x-ms-session-token"))
        return ResourceResponse(_codec.loads(body) if body else {}, headers, status)

    async def create_item(
        self,
        body: dict[str, Any],
        *,
        enable_automatic_id_generation: bool = False,
        indexing_directive: str | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Create an item; 409 Conflict if its id exists in its logical partition."""
        document = _document(body, auto_id=enable_automatic_id_generation)
        extra = _write_options(indexing_directive, pre_trigger_include, post_trigger_include)
        return await self._write("POST", self._docs_path, self._link, document, extra, timeout)

    async def upsert_item(
        self,
        body: dict[str, Any],
        *,
        etag: str | None = None,
        indexing_directive: str | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Create the item, or replace it if its id exists (``etag``: only if unchanged since)."""
        document = _document(body)
        extra = _write_options(indexing_directive, pre_trigger_include, post_trigger_include)
        extra["x-ms-documentdb-is-upsert"] = "True"
        if etag is not None:
            extra["If-Match"] = _check_etag(etag)
        return await self._write("POST", self._docs_path, self._link, document, extra, timeout)

    async def replace_item(
        self,
        item: str | Mapping[str, Any],
        body: dict[str, Any],
        *,
        etag: str | None = None,
        indexing_directive: str | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Replace an existing item (404 if missing). With ``etag``, only if it is unchanged since
        that version (412 PreconditionFailed otherwise)."""
        item_id = _item_id(item)
        document = _document(body)
        if document["id"] != item_id:
            raise ValidationError(f"replace_item: body id {document['id']!r} differs from item id {item_id!r}")
        extra = _write_options(indexing_directive, pre_trigger_include, post_trigger_include)
        if etag is not None:
            extra["If-Match"] = _check_etag(etag)
        return await self._write("PUT", self._docs_path + "/" + quote_id(item_id), self._docs_link + item_id,
                                 document, extra, timeout)

    async def _partition_header(self, partition_key: Any, timeout: float | None) -> tuple[str, float | None]:
        """The partition-key header (and the time left, if the definition had to be read first)."""
        definition = self._core.partition_keys.get(self._link)
        if definition is None:
            definition, timeout = await self._load_definition(timeout)
        return definition.header_for(partition_key), timeout

    async def read_item(
        self, item: str | Mapping[str, Any], partition_key: Any, *, timeout: float | None = None
    ) -> ResourceResponse:
        """Read one item by id and partition-key value (404 NotFound if missing)."""
        item_id = _item_id(item)
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        headers = {_PK: pk_header}
        session = self._core.session_tokens.get(self._link)
        if session is not None:
            headers["x-ms-session-token"] = session
        status, response_headers, body = await self._core.request(
            "GET", self._docs_path + "/" + quote_id(item_id), "docs", self._docs_link + item_id,
            headers=headers, idempotent=True, timeout=timeout,
        )
        return ResourceResponse(_codec.loads(body), response_headers, status)

    async def delete_item(
        self,
        item: str | Mapping[str, Any],
        partition_key: Any,
        *,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Delete one item (404 if missing; with ``etag``, 412 if it changed since)."""
        item_id = _item_id(item)
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        headers = {_PK: pk_header}
        if etag is not None:
            headers["If-Match"] = _check_etag(etag)
        status, response_headers, body = await self._core.request(
            "DELETE", self._docs_path + "/" + quote_id(item_id), "docs", self._docs_link + item_id,
            headers=headers, idempotent=False, timeout=timeout,
        )
        self._core.session_tokens.capture(self._link, response_headers.get("x-ms-session-token"))
        return ResourceResponse(_codec.loads(body) if body else {}, response_headers, status)

    async def patch_item(
        self,
        item: str | Mapping[str, Any],
        partition_key: Any,
        patch_operations: Sequence[Mapping[str, Any]],
        *,
        filter_predicate: str | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Apply up to 10 patch operations (add, set, replace, remove, incr, move) atomically.

        ``filter_predicate`` (e.g. ``"FROM c WHERE c.status = 'open'"``) and ``etag`` make the patch
        conditional: 412 PreconditionFailed when they do not hold. Never retried after an ambiguous
        failure: an ``incr`` applied twice would count twice.
        """
        item_id = _item_id(item)
        request: dict[str, Any] = {"operations": _check_patch(patch_operations)}
        if filter_predicate is not None:
            if not isinstance(filter_predicate, str) or not filter_predicate.strip():
                raise ValidationError(f"filter_predicate must be a SQL filter string, got {filter_predicate!r}")
            request["condition"] = filter_predicate
        data = _codec.dumps(request, what="patch operations")
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        headers = {_PK: pk_header, "Content-Type": "application/json-patch+json"}
        if etag is not None:
            headers["If-Match"] = _check_etag(etag)
        status, response_headers, body = await self._core.request(
            "PATCH", self._docs_path + "/" + quote_id(item_id), "docs", self._docs_link + item_id,
            headers=headers, body=data, idempotent=False, timeout=timeout,
        )
        self._core.session_tokens.capture(self._link, response_headers.get("x-ms-session-token"))
        return ResourceResponse(_codec.loads(body) if body else {}, response_headers, status)

    # -- feeds and queries -----------------------------------------------------------------------

    def read_all_items(
        self, *, max_item_count: int | None = None, timeout: float | None = None
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Every item of the container, page by page (``max_item_count`` per page)."""
        return self._core.feed(self._docs_path, "docs", self._link, "Documents",
                               max_item_count=max_item_count, session_container=self._link, timeout=timeout)

    def query_items(
        self,
        query: str,
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        partition_key: Any = None,
        max_item_count: int | None = None,
        enable_scan_in_query: bool | None = None,
        populate_query_metrics: bool | None = None,
        timeout: float | None = None,
        max_concurrency: int | None = None,
    ) -> AsyncItemPaged[Any]:
        """Run a SQL query. With ``partition_key`` it runs in that logical partition; without, across
        all partitions. Items are dicts, or bare values for ``SELECT VALUE`` queries.

        ``partition_key=None`` means "all partitions" (as in azure-cosmos); to query the partition
        whose key is JSON null, pass ``[None]``. Cross-partition queries the gateway cannot serve
        (ORDER BY, TOP, OFFSET/LIMIT, DISTINCT, VALUE aggregates, GROUP BY) run in the client, on up
        to ``max_concurrency`` partitions at once (default 8; aiocosmos/_query/).
        """
        headers: dict[str, str] = {}
        if partition_key is None:
            headers["x-ms-documentdb-query-enablecrosspartition"] = "True"
        else:
            definition = self._core.partition_keys.get(self._link)
            # Without the definition (no I/O here: the pager is lazy) only the value itself is checked.
            headers[_PK] = (definition.header_for(partition_key) if definition is not None
                            else _loose_partition_header(partition_key))
        if enable_scan_in_query is not None:
            headers["x-ms-documentdb-query-enable-scan"] = str(bool(enable_scan_in_query))
        if populate_query_metrics is not None:
            headers["x-ms-documentdb-populatequerymetrics"] = str(bool(populate_query_metrics))
        pager = self._core.feed(self._docs_path, "docs", self._link, "Documents", query=query,
                                parameters=parameters, max_item_count=max_item_count, headers=headers,
                                session_container=self._link, timeout=timeout)
        if partition_key is not None:
            return pager
        from ._query.engine import cross_partition_pager

        return cross_partition_pager(self._core, self._link, self._path, self._docs_path, pager, query,
                                     parameters, headers, max_item_count, max_concurrency, timeout)

    # -- server-side scripts ---------------------------------------------------------------------

    @property
    def scripts(self) -> ScriptsProxy:
        """Stored procedures, triggers and user-defined functions of this container (no I/O)."""
        from ._scripts import ScriptsProxy

        return ScriptsProxy(self)

    # -- attachments (aiocosmos/_attachments.py) -------------------------------------------------

    def get_attachments_client(self, item: str | Mapping[str, Any], partition_key: Any) -> AttachmentsProxy:
        """The attachments of one item, a legacy feature (no I/O): create, upsert, read, replace, delete,
        list and query reference attachments, or upload media. ``partition_key`` is the item's."""
        from ._attachments import get_attachments_client

        return get_attachments_client(self, item, partition_key)

    # -- conflicts (aiocosmos/_conflicts.py) -----------------------------------------------------

    def list_conflicts(
        self, *, max_item_count: int | None = None, timeout: float | None = None
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Every conflict that multi-region writes left in the container, page by page."""
        from ._conflicts import list_conflicts

        return list_conflicts(self, max_item_count=max_item_count, timeout=timeout)

    def query_conflicts(
        self,
        query: str,
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        partition_key: Any = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Conflicts matching a SQL query; with ``partition_key``, only that logical partition's."""
        from ._conflicts import query_conflicts

        return query_conflicts(self, query, parameters=parameters, partition_key=partition_key,
                               max_item_count=max_item_count, timeout=timeout)

    async def get_conflict(
        self, conflict: str | Mapping[str, Any], partition_key: Any, *, timeout: float | None = None
    ) -> ResourceResponse:
        """Read one conflict by id and the partition key of its item (404 NotFound if missing)."""
        from ._conflicts import get_conflict

        return await get_conflict(self, conflict, partition_key, timeout=timeout)

    async def delete_conflict(
        self, conflict: str | Mapping[str, Any], partition_key: Any, *, timeout: float | None = None
    ) -> ResourceResponse:
        """Delete one conflict (404 if missing); returns an empty mapping with the metadata."""
        from ._conflicts import delete_conflict

        return await delete_conflict(self, conflict, partition_key, timeout=timeout)

    # -- throughput (aiocosmos/_offers.py) -------------------------------------------------------

    async def get_throughput(self, *, timeout: float | None = None) -> ThroughputResponse:
        """The container's dedicated throughput (NotFound, sub-status 10004, if it has none)."""
        from ._offers import get_throughput

        return await get_throughput(self, timeout=timeout)

    async def replace_throughput(
        self, throughput: int | ThroughputProperties, *, timeout: float | None = None
    ) -> ThroughputResponse:
        """Set the container's dedicated throughput: an int (manual RU/s, >= 400 in steps of 100) or
        ``ThroughputProperties(auto_scale_max_throughput=...)`` for an autoscale container."""
        from ._offers import replace_throughput

        return await replace_throughput(self, throughput, timeout=timeout)

    # -- transactional batch, read-many, delete by partition key (aiocosmos/_batch.py) -----------

    async def execute_item_batch(
        self,
        batch_operations: Sequence[Sequence[Any]],
        partition_key: Any,
        *,
        timeout: float | None = None,
    ) -> BatchResponse:
        """Run 1 to 100 operations of one logical partition atomically: all are committed or none.

        Operations are azure-cosmos tuples: ``("create", (item,))``, ``("upsert", (item,))``,
        ``("read", (id,))``, ``("delete", (id,))``, ``("replace", (id, item))`` and
        ``("patch", (id, patch_operations), {"filter_predicate": ...})``; each may take
        ``{"if_match_etag": etag}`` or ``{"if_none_match_etag": etag}``. Everything (count, ids,
        JSON, the 2 MB body limit, each item's partition key) is checked before the batch is sent.
        Raises BatchOperationError naming the failed operation when the service refuses the batch.
        """
        from ._batch import execute_item_batch

        return await execute_item_batch(self, batch_operations, partition_key, timeout=timeout)

    async def read_items(
        self,
        items: Sequence[tuple[str, Any]],
        *,
        max_concurrency: int | None = None,
        timeout: float | None = None,
    ) -> ReadManyResult:
        """Read many items by ``(id, partition_key)``: the found items in the order asked (missing ones
        are left out), with the total ``request_charge``. One query per logical partition (a point
        read when a partition has one id), at most ``max_concurrency`` (default 5) at a time.
        ``timeout`` is one deadline for all of them."""
        from ._batch import read_items

        return await read_items(self, items, max_concurrency=max_concurrency, timeout=timeout)

    read_many = read_items

    # -- bulk (aiocosmos/_bulk.py) ------------------------------------------------------------------

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
        from ._bulk import BulkExecution

        return BulkExecution(self, operations, max_concurrency_per_range=max_concurrency_per_range,
                             max_pending=max_pending, flush_interval=flush_interval,
                             max_operation_retries=max_operation_retries, timeout=timeout)

    async def bulk_upsert(self, items: Iterable[Any] | AsyncIterable[Any], **options: Any) -> BulkSummary:
        """Upsert every item with the bulk executor; return a BulkSummary (counts, RU, failures)."""
        from ._bulk import bulk_upsert

        return await bulk_upsert(self, items, **options)

    async def delete_all_items_by_partition_key(
        self, partition_key: Any, *, timeout: float | None = None
    ) -> ResourceResponse:
        """Ask the service to delete every item of one logical partition, in the background (it may
        need to be enabled on the account). Never retried after an ambiguous failure."""
        from ._batch import delete_all_items_by_partition_key

        return await delete_all_items_by_partition_key(self, partition_key, timeout=timeout)

    # -- feed ranges and the change feed (aiocosmos/_routing.py, aiocosmos/_change_feed.py) -------

    def read_feed_ranges(self, *, force_refresh: bool = False, timeout: float | None = None) -> FeedRangeListing:
        """One FeedRange per physical partition, in key order: ``await`` it for a list, or ``async for``
        over it as with azure-cosmos. Served from the client's cached routing map (read on first use;
        ``force_refresh=True`` re-reads it)."""
        from ._routing import FeedRangeListing

        async def load() -> list[FeedRange]:
            routing = await self._core.routing_maps.get(
                self._link, self._path + "/pkranges", refresh=bool(force_refresh), timeout=timeout
            )
            return [pkrange.feed_range for pkrange in routing.ranges]

        return FeedRangeListing(load)

    async def feed_range_from_partition_key(self, partition_key: Any, *, timeout: float | None = None) -> FeedRange:
        """The feed range of one partition-key value (``None`` is JSON null): the point of its
        effective-partition-key hash, or for a prefix of a hierarchical key the range of every key
        under it. Reads the container's definition once (cached); no other I/O."""
        from ._routing import feed_range_for_partition_key

        _loose_partition_header(partition_key)  # the value itself, before any I/O
        definition = self._core.partition_keys.get(self._link)
        if definition is None:
            definition, _ = await self._load_definition(timeout)
        return feed_range_for_partition_key(definition, partition_key)

    async def is_feed_range_subset(self, parent_feed_range: Any, child_feed_range: Any) -> bool:
        """Whether ``child_feed_range`` lies within ``parent_feed_range`` (FeedRanges or their
        azure-cosmos forms). No I/O."""
        from ._routing import FeedRange

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
        timeout: float | None = None,
    ) -> ChangeFeedPaged[dict[str, Any]]:
        """The items changed since ``start_time`` (``"Now"``, the default as in azure-cosmos;
        ``"Beginning"``; or an aware datetime), in the order they changed within each partition.

        Scope: the whole container, one ``partition_key`` (``[None]`` for JSON null; ``None`` means the
        whole container, as in ``query_items``), or one ``feed_range``. ``mode`` is ``"LatestVersion"``
        or ``"AllVersionsAndDeletes"`` (from "Now" or a continuation only). Iteration ends once every
        partition is caught up; resume later with ``continuation=`` (a page's or the page iterator's
        ``continuation``), which carries the scope, mode and position. Nothing is fetched until
        iteration starts; every argument and token is checked here, before any I/O.
        """
        from ._change_feed import query_items_change_feed

        return query_items_change_feed(
            self, start_time=start_time, partition_key=partition_key, feed_range=feed_range,
            continuation=continuation, max_item_count=max_item_count, mode=mode, timeout=timeout,
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
    ) -> ChangeFeedWatch:
        """Follow the change feed for ever: ``async for page in container.watch_changes(...)`` gives
        each non-empty Page of changes; save ``page.continuation`` to resume after it (a given
        ``continuation`` wins over ``start_time``). Between passes over the partitions it sleeps
        ``poll_interval`` seconds on the client's clock; throttling is retried as for every read.
        Cancel the consuming task to stop (no request is left behind)."""
        from ._change_feed import watch_changes

        return watch_changes(
            self, poll_interval=poll_interval, start_time=start_time, partition_key=partition_key,
            feed_range=feed_range, continuation=continuation, max_item_count=max_item_count, mode=mode,
            timeout=timeout,
        )


def _loose_partition_header(value: Any) -> str:
    return partition_key_header(list(value) if isinstance(value, list | tuple) else [value])


def _check_etag(etag: object) -> str:
    if not isinstance(etag, str) or not etag:
        raise ValidationError(f"etag must be the non-empty string the service returned, got {etag!r}")
    return etag


def _write_options(
    indexing_directive: str | None,
    pre_trigger_include: str | Sequence[str] | None,
    post_trigger_include: str | Sequence[str] | None,
) -> dict[str, str]:
    headers: dict[str, str] = {}
    if indexing_directive is not None:
        if indexing_directive not in ("Include", "Exclude", "Default"):
            raise ValidationError(f"indexing_directive must be 'Include', 'Exclude' or 'Default', "
                                  f"got {indexing_directive!r}")
        headers["x-ms-indexing-directive"] = indexing_directive
    for header, triggers, what in (
        ("x-ms-documentdb-pre-trigger-include", pre_trigger_include, "pre-trigger id"),
        ("x-ms-documentdb-post-trigger-include", post_trigger_include, "post-trigger id"),
    ):
        if triggers is None:
            continue
        if isinstance(triggers, str | bytes | bytearray) or not isinstance(triggers, Sequence):
            # One id (a str; anything else is refused by validate_id).
            headers[header] = validate_id(triggers, what)
            continue
        # Several ids: sent comma-separated, as azure-cosmos does, so an id in a list may not hold a comma.
        if not triggers:
            raise ValidationError(f"{what}s: the list is empty (pass None for no trigger)")
        for trigger in triggers:
            if "," in validate_id(trigger, what):
                raise ValidationError(f"{what} {trigger!r} contains ',', which separates the ids of a list")
        headers[header] = ",".join(triggers)
    return headers
