"""State shared by a client and every database/container proxy it hands out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from . import _codec
from ._clock import Clock
from ._models import ResourceResponse
from ._paging import AsyncItemPaged, check_max_item_count, request_fingerprint
from ._paths import PartitionKey
from ._pipeline import Pipeline, RawResponse
from ._session_tokens import SessionTokens
from .exceptions import ClientClosedError, ValidationError

__all__ = ["ClientCore", "QUERY_HEADERS", "query_body"]

QUERY_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/query+json",
    "x-ms-documentdb-isquery": "True",
}


def query_body(query: str, parameters: Sequence[Mapping[str, Any]] | None) -> bytes:
    """The JSON body of a SQL query, validated before any I/O."""
    if not isinstance(query, str) or not query.strip():
        raise ValidationError(f"query must be a non-empty SQL string, got {query!r}")
    if parameters is None:
        return _codec.dumps({"query": query}, what="query")
    if isinstance(parameters, Mapping) or not isinstance(parameters, Sequence):
        raise ValidationError(
            'parameters must be a list like [{"name": "@x", "value": 1}], got ' + type(parameters).__name__
        )
    for parameter in parameters:
        name = parameter.get("name") if isinstance(parameter, Mapping) else None
        if not isinstance(name, str) or not name.startswith("@") or "value" not in parameter:
            raise ValidationError(f'each query parameter must be {{"name": "@...", "value": ...}}, got {parameter!r}')
    return _codec.dumps({"query": query, "parameters": list(parameters)}, what="query parameters")


class ClientCore:
    """The pipeline (opened lazily, inside the running loop), session tokens and container metadata."""

    __slots__ = ("_open", "clock", "default_timeout", "partition_keys", "pipeline", "session_tokens")

    def __init__(
        self, open_pipeline: Callable[[], Awaitable[Pipeline]], clock: Clock, default_timeout: float | None
    ) -> None:
        self.pipeline: Pipeline | None = None
        self.clock = clock
        self.default_timeout = default_timeout
        self.session_tokens = SessionTokens()
        self.partition_keys: dict[str, PartitionKey] = {}  # container link -> definition
        self._open = open_pipeline

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
        timeout: float | None = None,
    ) -> RawResponse:
        pipeline = self.pipeline
        if pipeline is None:
            pipeline = await self._open()  # raises ClientClosedError once closed
        return await pipeline.request(
            method, path, resource_type, resource_link,
            headers=headers, body=body, idempotent=idempotent, timeout=timeout,
        )

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
        timeout: float | None = None,
    ) -> ResourceResponse:
        status, response_headers, data = await self.request(
            method, path, resource_type, resource_link,
            headers=headers, body=body, idempotent=idempotent, timeout=timeout,
        )
        return ResourceResponse(_codec.loads(data) if data else {}, response_headers, status)

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
            status, response_headers, data = await self.request(
                method, path, resource_type, resource_link,
                headers=page_headers, body=body, idempotent=True, timeout=timeout,
            )
            parsed = _codec.loads(data) if data else {}
            items = parsed.get(feed_key, []) if isinstance(parsed, dict) else []
            return items, response_headers, status

        return AsyncItemPaged(fetch, fingerprint)

    def closed_error(self) -> ClientClosedError:
        return ClientClosedError("the CosmosClient is closed; create a new client")
