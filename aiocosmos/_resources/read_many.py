"""``read_items`` (alias ``read_many``): many ``(id, partition_key)`` pairs, one query per logical
partition (a point read when a partition has a single id), a few at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from multidict import CIMultiDict, CIMultiDictProxy

from .._feeds.core import QUERY_HEADERS, query_body
from .._feeds.paging import AsyncItemPaged
from .._wire import codec
from .._wire.paths import loose_partition_header, quote_id, validate_id
from .._wire.regions import end_exclusion, exclude_for_call
from .._wire.request_options import query_option_headers, with_call_headers
from ..exceptions import NotFound, PagingError, ValidationError

if TYPE_CHECKING:
    from .container import ContainerProxy

__all__ = ["READ_ITEMS_CONCURRENCY", "ReadManyResult", "read_all_items", "read_items", "read_items_call"]

_CONSISTENCY_LEVELS: Final = ("Strong", "BoundedStaleness", "Session", "Eventual", "ConsistentPrefix")

_PK: Final = "x-ms-documentdb-partitionkey"
READ_ITEMS_CONCURRENCY: Final = 5
"""Default number of read_items requests in flight at once (as azure-cosmos)."""
_IDS_PER_QUERY: Final = 1000
"""Ids per read_items query (as azure-cosmos); more ids in one partition make more queries."""


class ReadManyResult(list[dict[str, Any]]):
    """The items ``read_items`` found, in the order they were asked for (missing ones are left out).

    A real list of item dicts (as azure-cosmos's ``CosmosList``), plus ``request_charge`` (the total
    of every request made), ``activity_ids`` (one per request), ``activity_id`` and ``session_token``
    (of the last response) and ``headers``: combined headers, as azure-cosmos gives them
    (``x-ms-request-charge`` is the total), also returned (a copy) by ``get_response_headers()``.
    """

    __slots__ = ("activity_ids", "headers", "request_charge")

    def __init__(
        self,
        items: list[dict[str, Any]],
        request_charge: float,
        activity_ids: tuple[str, ...],
        session_token: str | None = None,
    ) -> None:
        super().__init__(items)
        self.request_charge = request_charge
        self.activity_ids = activity_ids
        headers = CIMultiDict({"x-ms-request-charge": str(request_charge)})
        if activity_ids:
            headers["x-ms-activity-id"] = activity_ids[-1]
        if session_token:
            headers["x-ms-session-token"] = session_token
        self.headers: Mapping[str, str] = CIMultiDictProxy(headers)

    @property
    def status_code(self) -> int:
        """200: read_many answers as a whole even when some ids were not found."""
        return 200

    @property
    def activity_id(self) -> str | None:
        """The activity id of the last request made, or None."""
        return self.activity_ids[-1] if self.activity_ids else None

    @property
    def session_token(self) -> str | None:
        """The session token of the combined responses, or None."""
        return self.headers.get("x-ms-session-token")

    def get_response_headers(self) -> CIMultiDict[str]:
        """A copy of the combined headers (as azure-cosmos's ``CosmosList.get_response_headers``)."""
        return CIMultiDict(self.headers)

    def __repr__(self) -> str:
        return f"ReadManyResult(items={len(self)}, request_charge={self.request_charge})"


def _check_read_items(items: object) -> list[tuple[str, Any]]:
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise ValidationError(f"items must be a list of (id, partition_key) tuples, got {type(items).__name__}")
    checked = []
    for index, entry in enumerate(items):
        if not isinstance(entry, tuple | list) or len(entry) != 2:
            raise ValidationError(f"items[{index}] must be an (id, partition_key) tuple, got {entry!r:.200}")
        item_id = validate_id(entry[0], f"items[{index}] id")
        try:
            loose_partition_header(entry[1])
        except ValidationError as exc:
            raise ValidationError(f"items[{index}] ({item_id!r}): {exc}") from None
        checked.append((item_id, entry[1]))
    return checked


def read_all_items(
    container: ContainerProxy, *, max_item_count: int | None, timeout: float | None,
    session_token: str | None, initial_headers: Mapping[str, str] | None, priority: str | None,
    throughput_bucket: int | None, max_integrated_cache_staleness_in_ms: int | None,
) -> AsyncItemPaged[dict[str, Any]]:
    """The container's read feed, with azure-cosmos's keywords sent on every page's request."""
    headers = with_call_headers(query_option_headers(
        {}, continuation_token_limit=None, populate_index_metrics=None, populate_query_advice=None,
        max_integrated_cache_staleness_in_ms=max_integrated_cache_staleness_in_ms,
    ), session_token=session_token, initial_headers=initial_headers, priority=priority,
        throughput_bucket=throughput_bucket)
    # A given session_token replaces the tracked one (the pager would send the tracked one otherwise).
    return container._core.feed(container._docs_path, "docs", container._link, "Documents",
                                max_item_count=max_item_count, headers=headers, timeout=timeout,
                                session_container=container._link if session_token is None else None)


async def read_items_call(
    container: ContainerProxy, items: object, *, max_concurrency: int | None, timeout: float | None,
    consistency_level: str | None, session_token: str | None, initial_headers: Mapping[str, str] | None,
    priority: str | None, throughput_bucket: int | None, excluded_locations: Sequence[str] | None,
) -> ReadManyResult:
    """``read_items`` with azure-cosmos's per-call keywords: headers on every request it makes, the
    excluded regions for all of them (its tasks inherit the task-local exclusion)."""
    if consistency_level is not None and consistency_level not in _CONSISTENCY_LEVELS:
        raise ValidationError(f"consistency_level must be one of {', '.join(_CONSISTENCY_LEVELS)}, "
                              f"got {consistency_level!r}")
    if excluded_locations is not None and (isinstance(excluded_locations, str)
                                           or not isinstance(excluded_locations, Sequence)):
        raise ValidationError(f"excluded_locations must be a list of region names, got {excluded_locations!r}")
    extra = with_call_headers({} if consistency_level is None else {"x-ms-consistency-level": consistency_level},
                              session_token=session_token, initial_headers=initial_headers, priority=priority,
                              throughput_bucket=throughput_bucket)
    excluded = exclude_for_call(excluded_locations) if excluded_locations else None
    try:
        return await read_items(container, items, max_concurrency=max_concurrency, timeout=timeout, extra=extra)
    finally:
        if excluded is not None:
            end_exclusion(excluded)


async def read_items(
    container: ContainerProxy, items: object, *, max_concurrency: int | None, timeout: float | None,
    extra: Mapping[str, str] | None = None,
) -> ReadManyResult:
    requested = _check_read_items(items)
    if max_concurrency is None:
        max_concurrency = READ_ITEMS_CONCURRENCY
    elif not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
        raise ValidationError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
    if not requested:
        return ReadManyResult([], 0.0, ())
    core = container._core
    if timeout is None:
        timeout = core.default_timeout
    deadline = None if timeout is None else core.clock.monotonic() + timeout
    definition = core.partition_keys.get(container._link)
    if definition is None:
        definition, _ = await container._load_definition(timeout)

    # Group by logical partition (its header), each id once, remembering where it was asked for.
    groups: dict[str, dict[str, int]] = {}
    for index, (item_id, partition_key) in enumerate(requested):
        try:
            header = definition.header_for(partition_key)
        except ValidationError as exc:
            raise ValidationError(f"items[{index}] ({item_id!r}): {exc}") from None
        groups.setdefault(header, {}).setdefault(item_id, index)
    jobs = [
        (header, dict(list(ids.items())[start : start + _IDS_PER_QUERY]))
        for header, ids in groups.items()
        for start in range(0, len(ids), _IDS_PER_QUERY)
    ]

    found: dict[int, dict[str, Any]] = {}
    charges: list[float] = []
    activity_ids: list[str] = []
    session_tokens: list[str] = []
    limit = asyncio.Semaphore(max_concurrency)

    def remaining() -> float | None:
        return None if deadline is None else max(0.0, deadline - core.clock.monotonic())

    def account(headers: Mapping[str, str]) -> None:
        raw = headers.get("x-ms-request-charge")
        charges.append(float(raw) if raw else 0.0)
        activity_id = headers.get("x-ms-activity-id")
        if activity_id:
            activity_ids.append(activity_id)
        session_token = headers.get("x-ms-session-token")
        if session_token:
            session_tokens.append(session_token)

    async def point_read(header: str, item_id: str, index: int) -> None:
        headers = {_PK: header}
        session = core.session_tokens.get(container._link)
        if session is not None:
            headers["x-ms-session-token"] = session
        if extra:
            headers.update(extra)
        try:
            _, response_headers, body = await core.request(
                "GET", container._docs_path + "/" + quote_id(item_id), "docs", container._docs_link + item_id,
                headers=headers, idempotent=True, timeout=remaining(),
            )
        except NotFound as exc:
            if exc.sub_status != 0:  # e.g. 404/1002 (session not available) or 404/1003 (no container)
                raise
            account(exc.headers)
            return
        account(response_headers)
        document = codec.loads(body) if body else None
        if isinstance(document, dict):
            found[index] = document

    async def query(header: str, ids: dict[str, int]) -> None:
        names = [f"@id{n}" for n in range(len(ids))]
        body = query_body(
            f"SELECT * FROM c WHERE c.id IN ({', '.join(names)})",
            [{"name": name, "value": item_id} for name, item_id in zip(names, ids, strict=True)],
        )
        static = {**QUERY_HEADERS, _PK: header, "x-ms-max-item-count": str(len(ids))}
        continuation: str | None = None
        while True:
            headers = dict(static)
            if continuation is not None:
                headers["x-ms-continuation"] = continuation
            session = core.session_tokens.get(container._link)
            if session is not None:
                headers["x-ms-session-token"] = session
            if extra:
                headers.update(extra)
            _, response_headers, data = await core.request(
                "POST", container._docs_path, "docs", container._link,
                headers=headers, body=body, idempotent=True, timeout=remaining(),
            )
            account(response_headers)
            parsed = codec.loads(data) if data else {}
            documents = parsed.get("Documents", []) if isinstance(parsed, dict) else []
            for document in documents:
                found_id = document.get("id") if isinstance(document, dict) else None
                index = ids.get(found_id) if isinstance(found_id, str) else None
                if index is not None:
                    found[index] = document
            next_token = response_headers.get("x-ms-continuation") or None
            if next_token is None:
                return
            if next_token == continuation:
                raise PagingError("the service answered a continuation token with the same token")
            continuation = next_token

    async def run(header: str, ids: dict[str, int]) -> None:
        async with limit:
            if len(ids) == 1:
                [(item_id, index)] = ids.items()
                await point_read(header, item_id, index)  # 1 RU, cheaper than a query
            else:
                await query(header, ids)

    if len(jobs) == 1:
        await run(*jobs[0])
    else:
        tasks = [asyncio.create_task(run(header, ids)) for header, ids in jobs]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    return ReadManyResult([found[index] for index in sorted(found)], sum(charges), tuple(activity_ids),
                          session_tokens[-1] if session_tokens else None)
