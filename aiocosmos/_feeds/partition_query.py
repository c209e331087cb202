"""Queries scoped to one partition-key value, or to a prefix of a hierarchical key (spec §8.5, §11).

``query_items(partition_key=...)`` builds a lazy pager. Which of the two a value is depends on the
container's definition, so the first page reads it (once per client, cached; within that page's
deadline) unless it is cached already; the outcome is the same either way:

* **A full key** (every component, or the one value of a single-path key): the query runs in that
  logical partition, addressed with ``x-ms-documentdb-partitionkey``.
* **A prefix of a hierarchical (MultiHash) key**, e.g. ``["tenant"]`` on ``/tenantId/userId``: every
  key under it lies in the effective-partition-key (EPK) range ``[hash(prefix), hash(prefix) + "FF")``.
  As azure-cosmos does, the query runs over that range one physical partition at a time, in EPK order:
  each request is addressed with ``x-ms-documentdb-partitionkeyrangeid`` and
  ``x-ms-read-key-type: EffectivePartitionKeyRange``, plus ``x-ms-start-epk``/``x-ms-end-epk`` where
  the range is narrower than the partition, and no partition-key header. A split or merge (410 with
  sub-status 1002/1007/1008) re-reads the routing map and resumes the same position. The pager's
  continuation tokens carry what is left: EPK sub-ranges, each with the service token it resumes
  from (after a split every child resumes from its parent's token).

Anything else (a scalar or too many components for a hierarchical key, an empty list) is a
ValidationError: at once when the definition is cached, otherwise when the first page is fetched,
before any query request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._wire import codec
from .._wire.paths import PartitionKey, loose_partition_header
from ..exceptions import Gone, InvalidContinuationToken, PagingError
from .core import QUERY_HEADERS, query_body
from .paging import AsyncItemPaged, check_max_item_count, request_fingerprint
from .routing import feed_range_for_partition_key, is_split_or_merge

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["epk_range_query_pager", "partition_query_pager", "query_scope"]

_PK: Final = "x-ms-documentdb-partitionkey"
_RANGE_ID: Final = "x-ms-documentdb-partitionkeyrangeid"
_CONTINUATION: Final = "x-ms-continuation"
_TOKEN_PREFIX: Final = "epk2."
"""epk2: a list of [low, high, service token]; epk1 tokens (one position) are refused."""
_MAX_GONE_RETRIES: Final = 3


def query_scope(definition: PartitionKey, value: Any) -> str | tuple[str, str]:
    """The partition-key header of a full key, or the EPK range ``(low, high)`` of a prefix of a
    hierarchical key. Raises ValidationError for anything else."""
    if definition.kind == "MultiHash" and isinstance(value, list | tuple) and 0 < len(value) < len(definition.paths):
        feed_range = feed_range_for_partition_key(definition, list(value)).normalized()
        return feed_range.min, feed_range.max
    return definition.header_for(value)


class _PartitionQuery:
    __slots__ = ("_body", "_container", "_scope", "_static", "_timeout", "_value")

    def __init__(self, container: ContainerProxy, value: Any, body: bytes, static: dict[str, str],
                 timeout: float | None, scope: tuple[str, str] | None = None) -> None:
        self._container = container
        self._value = value
        self._body = body
        self._static = static
        self._timeout = timeout
        definition = container._core.partition_keys.get(container._link)
        self._scope = scope if scope is not None or definition is None else query_scope(definition, value)

    async def fetch(self, continuation: str | None) -> tuple[list[Any], Mapping[str, str], int]:
        container = self._container
        core = container._core
        timeout = self._timeout if self._timeout is not None else core.default_timeout
        deadline = None if timeout is None else core.clock.monotonic() + timeout
        if self._scope is None:
            definition = core.partition_keys.get(container._link)
            if definition is None:
                definition, _ = await container._load_definition(timeout)
            self._scope = query_scope(definition, self._value)
        scope = self._scope
        if isinstance(scope, str):
            headers = self._headers(continuation)
            headers[_PK] = scope
            status, response_headers, data = await core.feed_page(
                "POST", container._docs_path, "docs", container._link, headers=headers, body=self._body,
                timeout=_remaining(core, deadline))
            return _documents(data), response_headers, status
        return await self._fetch_range(scope, continuation, deadline)

    def _headers(self, continuation: str | None) -> dict[str, str]:
        headers = dict(self._static)
        if continuation is not None:
            headers[_CONTINUATION] = continuation
        session = self._container._core.session_tokens.get(self._container._link)
        if session is not None:
            headers["x-ms-session-token"] = session
        return headers

    async def _fetch_range(
        self, scope: tuple[str, str], continuation: str | None, deadline: float | None
    ) -> tuple[list[Any], Mapping[str, str], int]:
        container = self._container
        core = container._core
        low, high = scope
        # What is left to read: EPK sub-ranges in order, each with the service token to resume it from.
        left: list[tuple[str, str, str | None]] = \
            [(low, high, None)] if continuation is None else _decode(continuation, low, high)
        stale = None
        gone = 0
        while True:
            routing = await core.routing_maps.get(container._link, container._path + "/pkranges", stale=stale,
                                                  timeout=_remaining(core, deadline))
            at, end, service_token = left[0]
            parts = routing.overlapping(at, end)
            if not parts:  # pragma: no cover - the routing map always tiles the key space
                raise PagingError(f"no partition key range covers [{at!r}, {end!r})")
            if len(parts) > 1:
                # The sub-range spans several partitions (the first read, or after a split): one entry
                # per partition, each resuming from the same token, since the parent's token holds its
                # position for the documents of every child (as the official SDKs resume after a split).
                cuts = [at, *(part.max_exclusive for part in parts[:-1]), end]
                left[:1] = [(cuts[k], cuts[k + 1], service_token) for k in range(len(parts))]
                continue
            pkrange = parts[0]
            headers = self._headers(service_token)
            headers[_RANGE_ID] = pkrange.id
            headers["x-ms-read-key-type"] = "EffectivePartitionKeyRange"
            if (at, end) != (pkrange.min_inclusive, pkrange.max_exclusive):
                headers["x-ms-start-epk"] = at
                headers["x-ms-end-epk"] = end
            try:
                status, response_headers, data = await core.request(
                    "POST", container._docs_path, "docs", container._link, headers=headers, body=self._body,
                    idempotent=True, timeout=_remaining(core, deadline))
            except Gone as exc:
                gone += 1
                if not is_split_or_merge(exc) or gone > _MAX_GONE_RETRIES:
                    raise
                stale = routing  # the partition moved: re-read the ranges, resume from the same position
                continue
            break
        next_service_token = response_headers.get(_CONTINUATION) or None
        result_headers = {k: v for k, v in response_headers.items() if k.lower() != _CONTINUATION}
        rest = left[1:]
        if next_service_token is not None:
            rest.insert(0, (at, end, next_service_token))
        if rest:
            result_headers[_CONTINUATION] = _encode(rest)
        return _documents(data), result_headers, status


def _remaining(core: Any, deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - core.clock.monotonic())


def _documents(data: bytes) -> list[Any]:
    parsed = codec.loads(data) if data else {}
    items = parsed.get("Documents", []) if isinstance(parsed, dict) else []
    return list(items) if isinstance(items, list) else []


def _encode(left: list[tuple[str, str, str | None]]) -> str:
    return _TOKEN_PREFIX + codec.dumps([list(entry) for entry in left]).decode()


def _decode(token: str, low: str, high: str) -> list[tuple[str, str, str | None]]:
    entries: Any = None
    if token.startswith(_TOKEN_PREFIX):
        try:
            entries = codec.loads(token[len(_TOKEN_PREFIX):])
        except ValueError:
            entries = None
    left: list[tuple[str, str, str | None]] = []
    previous = low
    for entry in entries if isinstance(entries, list) and entries else [None]:
        if (not isinstance(entry, list) or len(entry) != 3 or not all(isinstance(e, str) for e in entry[:2])
                or not previous <= entry[0] < entry[1] <= high or not isinstance(entry[2], str | None)):
            raise InvalidContinuationToken("the continuation token does not hold a position in this "
                                           "partition-key prefix's range")
        left.append((entry[0], entry[1], entry[2]))
        previous = entry[1]
    return left


def partition_query_pager(
    container: ContainerProxy,
    query: str,
    *,
    parameters: Sequence[Mapping[str, Any]] | None,
    partition_key: Any,
    headers: Mapping[str, str],
    max_item_count: int | None,
    timeout: float | None,
) -> AsyncItemPaged[Any]:
    """The lazy pager of a query scoped to ``partition_key`` (a full key or a hierarchical prefix)."""
    max_item_count = check_max_item_count(max_item_count)
    loose = loose_partition_header(partition_key)  # the value itself, before any I/O
    body = query_body(query, parameters)
    static = dict(QUERY_HEADERS)
    static.update(headers)
    if max_item_count is not None:
        static["x-ms-max-item-count"] = str(max_item_count)
    fingerprint = request_fingerprint("POST", container._docs_path, body, loose)
    pager = AsyncItemPaged(_PartitionQuery(container, partition_key, body, static, timeout).fetch, fingerprint)
    return container._core.traced(pager, "query_items", container._link)


def epk_range_query_pager(
    container: ContainerProxy,
    body: bytes,
    low: str,
    high: str,
    *,
    headers: Mapping[str, str],
    max_item_count: int | None,
    timeout: float | None,
) -> AsyncItemPaged[Any]:
    """The lazy pager of a query over the EPK range ``[low, high)`` (``query_items(feed_range=...)``):
    one physical partition at a time, addressed as for a hierarchical prefix (module docstring)."""
    max_item_count = check_max_item_count(max_item_count)
    static = dict(QUERY_HEADERS)
    static.update(headers)
    if max_item_count is not None:
        static["x-ms-max-item-count"] = str(max_item_count)
    fingerprint = request_fingerprint("POST", container._docs_path, body, "epk", low, high)
    pager = AsyncItemPaged(_PartitionQuery(container, None, body, static, timeout, (low, high)).fetch, fingerprint)
    return container._core.traced(pager, "query_items", container._link)
