"""State shared by a client and every database/container proxy it hands out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from .._wire import codec
from .._wire.clock import Clock
from .._wire.last_response import LAST_RESPONSE_HEADERS
from .._wire.paths import PartitionKey
from .._wire.pipeline import Pipeline, RawResponse
from .._wire.results import ResourceResponse
from .._wire.session_tokens import SessionTokens
from ..exceptions import ClientClosedError, Gone, HttpResponseError, ValidationError
from .paging import AsyncItemPaged, check_max_item_count, request_fingerprint
from .routing import SPLIT_SUB_STATUSES, RoutingMaps

__all__ = ["ClientCore", "QUERY_HEADERS", "query_body", "FEED_GONE_RETRIES"]

_log = logging.getLogger("aiocosmos")

FEED_GONE_RETRIES: Final = 3
"""Times a feed or query page is fetched again after 410/1002, 1007 or 1008 (spec §11.2)."""

QUERY_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/query+json",
    "x-ms-documentdb-isquery": "True",
}


def query_body(query: str, parameters: Sequence[Mapping[str, Any]] | None) -> bytes:
    """The JSON body of a SQL query, validated before any I/O."""
    if not isinstance(query, str) or not query.strip():
        raise ValidationError(f"query must be a non-empty SQL string, got {query!r}")
    if parameters is None:
        return codec.dumps({"query": query}, what="query")
    if isinstance(parameters, Mapping) or not isinstance(parameters, Sequence):
        raise ValidationError(
            'parameters must be a list like [{"name": "@x", "value": 1}], got ' + type(parameters).__name__
        )
    for parameter in parameters:
        name = parameter.get("name") if isinstance(parameter, Mapping) else None
        if not isinstance(name, str) or not name.startswith("@") or "value" not in parameter:
            raise ValidationError(f'each query parameter must be {{"name": "@...", "value": ...}}, got {parameter!r}')
    return codec.dumps({"query": query, "parameters": list(parameters)}, what="query parameters")


class ClientCore:
    """The pipeline (opened lazily, inside the running loop), session tokens and container metadata."""

    __slots__ = ("_open", "account_host", "clock", "default_timeout", "partition_keys", "pipeline", "routing_maps",
                 "session_tokens")

    def __init__(
        self, open_pipeline: Callable[[], Awaitable[Pipeline]], clock: Clock, default_timeout: float | None
    ) -> None:
        self.pipeline: Pipeline | None = None
        self.account_host = ""
        """The account endpoint's host name (the change feed processor's lease prefix uses it)."""
        self.clock = clock
        self.default_timeout = default_timeout
        self.session_tokens = SessionTokens()
        self.partition_keys: dict[str, PartitionKey] = {}  # container link -> definition
        self._open = open_pipeline
        self.routing_maps = RoutingMaps(self)  # container link -> partition key ranges (routing.py)

    async def request(
        self,
        method: str,
        path: str,
        resource_type: str,
        resource_link: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        idempotent: bool,
        replayable: bool = False,
        timeout: float | None = None,
    ) -> RawResponse:
        pipeline = self.pipeline
        if pipeline is None:
            pipeline = await self._open()  # raises ClientClosedError once closed
        try:
            response = await pipeline.request(
                method, path, resource_type, resource_link,
                headers=headers, body=body, idempotent=idempotent, replayable=replayable, timeout=timeout,
            )
        except HttpResponseError as exc:
            LAST_RESPONSE_HEADERS.set(exc.headers)  # the task-local porting aid (last_response.py)
            raise
        LAST_RESPONSE_HEADERS.set(response[1])
        return response

    async def resource(
        self,
        method: str,
        path: str,
        resource_type: str,
        resource_link: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        idempotent: bool,
        replayable: bool = False,
        timeout: float | None = None,
    ) -> ResourceResponse:
        status, response_headers, data = await self.request(
            method, path, resource_type, resource_link,
            headers=headers, body=body, idempotent=idempotent, replayable=replayable, timeout=timeout,
        )
        return ResourceResponse(codec.loads(data) if data else {}, response_headers, status)

    def feed(
        self,
        path: str,
        resource_type: str,
        resource_link: str,
        feed_key: str,
        *,
        query: str | None = None,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        headers: Mapping[str, str] | None = None,
        session_container: str | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[Any]:
        """A lazy pager over a read feed (GET) or a query (POST) of one feed resource."""
        max_item_count = check_max_item_count(max_item_count)
        body = None if query is None else query_body(query, parameters)
        static: dict[str, str] = dict(QUERY_HEADERS) if body is not None else {}
        if headers:
            static.update(headers)
        if max_item_count is not None:
            static["x-ms-max-item-count"] = str(max_item_count)
        method = "GET" if body is None else "POST"
        fingerprint = request_fingerprint(
            method, path, body or b"", static.get("x-ms-documentdb-partitionkey", "")
        )
        tokens = self.session_tokens

        async def fetch(continuation: str | None) -> tuple[list[Any], Mapping[str, str], int]:
            page_headers = static
            session = tokens.get(session_container) if session_container is not None else None
            if continuation is not None or session is not None:
                page_headers = dict(static)
                if continuation is not None:
                    page_headers["x-ms-continuation"] = continuation
                if session is not None:
                    page_headers["x-ms-session-token"] = session
            status, response_headers, data = await self.feed_page(
                method, path, resource_type, resource_link, headers=page_headers, body=body, timeout=timeout,
            )
            parsed = codec.loads(data) if data else {}
            items = parsed.get(feed_key, []) if isinstance(parsed, dict) else []
            return items, response_headers, status

        return AsyncItemPaged(fetch, fingerprint)

    async def feed_page(
        self,
        method: str,
        path: str,
        resource_type: str,
        resource_link: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> RawResponse:
        """One page of a read feed or query (idempotent), within one deadline.

        410 Gone with substatus 1002/1007/1008 means the partition that served the request moved
        (split, merge or migration) and is no failure of the page: like the official SDKs' page
        fetchers, fetch the same page again (same continuation) at once, at most FEED_GONE_RETRIES
        times; then raise the last Gone, its ``attempts``/``activity_ids`` covering every try.
        """
        if timeout is None:
            timeout = self.default_timeout
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        attempts, waited, retries = 0, 0.0, 0
        activity_ids: tuple[str, ...] = ()
        while True:
            remaining = None if deadline is None else max(0.0, deadline - self.clock.monotonic())
            try:
                return await self.request(method, path, resource_type, resource_link,
                                          headers=headers, body=body, idempotent=True, timeout=remaining)
            except Gone as exc:
                attempts += exc.attempts
                waited += exc.total_wait
                activity_ids += exc.activity_ids
                if exc.sub_status not in SPLIT_SUB_STATUSES or retries >= FEED_GONE_RETRIES:
                    exc.attempts, exc.total_wait, exc.activity_ids = attempts, waited, activity_ids
                    raise
                retries += 1
                _log.debug("%s %s: 410/%d (partition moved); fetching the same page again (%d of %d)",
                           method, path, exc.sub_status, retries, FEED_GONE_RETRIES)

    def closed_error(self) -> ClientClosedError:
        return ClientClosedError("the CosmosClient is closed; create a new client")
