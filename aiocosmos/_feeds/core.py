"""State shared by a client and every database/container proxy it hands out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from .._telemetry.names import operation_name
from .._telemetry.thresholds import ThresholdLog
from .._telemetry.tracing import PagerTrace, Telemetry
from .._throughput.throttler import ThroughputGates
from .._wire import codec
from .._wire.clock import Clock
from .._wire.last_response import LAST_RESPONSE_HEADERS
from .._wire.models import BUILTIN, ModelSerializer
from .._wire.options import HedgingOption, availability_strategy
from .._wire.paths import PartitionKey
from .._wire.pipeline import Pipeline, RawResponse
from .._wire.results import ResourceResponse
from .._wire.session_tokens import SESSION_HEADER, SESSION_RESOURCES, SessionTokens, container_of
from ..diagnostics import BREAKDOWN, TIMING, Breakdown, failure_record, with_failures
from ..exceptions import (
    CredentialError,
    Gone,
    HttpResponseError,
    OperationTimeout,
    TransportError,
    ValidationError,
)
from .paging import AsyncItemPaged, check_max_item_count, request_fingerprint
from .partition_scope import SCOPED_RESOURCES, partition_scope
from .routing import SPLIT_SUB_STATUSES, RoutingMaps

__all__ = ["ClientCore", "QUERY_HEADERS", "query_body", "query_spec", "FEED_GONE_RETRIES"]

_log = logging.getLogger("aiocosmos.query")

FEED_GONE_RETRIES: Final = 3
"""Times a feed or query page is fetched again after 410/1002, 1007 or 1008 (spec §11.2)."""

QUERY_HEADERS: Mapping[str, str] = {
    "Content-Type": "application/query+json",
    "x-ms-documentdb-isquery": "True",
}


def query_spec(
    query: str | Mapping[str, Any], parameters: Sequence[Mapping[str, Any]] | None
) -> tuple[str, Sequence[Mapping[str, Any]] | None]:
    """A query as SQL text and parameters: azure-cosmos's ``{"query": ..., "parameters": [...]}`` form
    is taken apart (its parameters, or ``parameters=``, not both)."""
    if not isinstance(query, Mapping):
        return query, parameters
    if set(query) - {"query", "parameters"} or "query" not in query:
        raise ValidationError(
            f'a query given as a dict is {{"query": sql, "parameters": [...]}}, got {dict(query)!r:.200}'
        )
    if "parameters" in query and parameters is not None:
        raise ValidationError('pass the parameters in the query dict or as parameters=, not both')
    return query["query"], query.get("parameters", parameters)


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


COLLECTION_RID_MISMATCH: Final = 1024
"""400/1024: the container named in the request is not the one the client knew (re-created)."""


def _stale_session(error: HttpResponseError, headers: Mapping[str, str] | None, single_region: bool) -> bool:
    """400/1024 (re-created container), or 404/1002 on a read that sent a session token after the
    pipeline's own retry (single region; with endpoint discovery the write region was tried and the
    token dropped already)."""
    if error.status_code == 400 and error.sub_status == COLLECTION_RID_MISMATCH:
        return True
    return single_region and error.status_code == 404 and error.sub_status == 1002 and bool(headers) \
        and any(name.lower() == SESSION_HEADER for name in headers or ())


def _stale_record(stale: HttpResponseError) -> dict[str, Any]:
    """The stale-session answer as a failed attempt followed at once by the re-send."""
    regions = stale.regions
    timing = stale.timing
    return failure_record(regions[-1] if regions else None, stale, 0.0, timing[2] if timing else 0.0)


class ClientCore:
    """The pipeline (opened lazily, inside the running loop), session tokens and container metadata."""

    __slots__ = ("_open", "account_host", "clock", "default_timeout", "detailed_timings", "models",
                 "partition_keys", "pipeline", "routing_maps", "session_tokens", "telemetry", "thresholds",
                 "throughput")

    def __init__(
        self, open_pipeline: Callable[[], Awaitable[Pipeline]], clock: Clock, default_timeout: float | None
    ) -> None:
        self.pipeline: Pipeline | None = None
        self.account_host = ""
        """The account endpoint's host name (the change feed processor's lease prefix uses it)."""
        self.clock = clock
        self.default_timeout = default_timeout
        self.session_tokens = SessionTokens()
        self.models: ModelSerializer = BUILTIN  # ClientOptions.serializer (_wire/models.py)
        self.partition_keys: dict[str, PartitionKey] = {}  # container link -> definition
        self._open = open_pipeline
        self.routing_maps = RoutingMaps(self)  # container link -> partition key ranges (routing.py)
        self.telemetry: Telemetry | None = None  # spans and metrics, when ClientOptions turns them on
        self.thresholds: ThresholdLog | None = None  # slow or costly operations logged (ClientOptions.thresholds)
        self.detailed_timings = False  # ClientOptions.detailed_timings: a Breakdown per operation
        self.throughput = ThroughputGates()  # throughput control groups by container (the pipeline's gates)

    def traced(self, pager: AsyncItemPaged[Any], operation: str, resource_link: str) -> AsyncItemPaged[Any]:
        """``pager`` with a whole-operation span around its pages when tracing is on (one flag check)."""
        if self.telemetry is not None:
            pager._trace = PagerTrace(self.telemetry, operation, resource_link)
        return pager

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
        hedging: HedgingOption = None,
    ) -> RawResponse:
        """Send one operation through the pipeline. Every answer to a request on a container's items
        (``SESSION_RESOURCES``: success or error, read or write) feeds the container's session token;
        a stale session (400/1024, or 404/1002 without endpoint discovery) is retried once without it."""
        pipeline = self.pipeline
        if pipeline is None:
            pipeline = await self._open()  # raises ClientClosedError once closed
        strategy = None if hedging is None else availability_strategy(hedging)  # validated before any I/O
        if timeout is None:
            timeout = self.default_timeout
        started = self.clock.monotonic()
        breakdown: Breakdown | None = None
        if self.detailed_timings:
            breakdown = Breakdown()
            BREAKDOWN.set(breakdown)  # the pipeline and the transport's trace hooks mark it
        partition = None
        if pipeline.partition_health is not None and resource_type in SCOPED_RESOURCES and headers:
            partition = await partition_scope(self, path, resource_link, headers, timeout)
        try:
            response = await pipeline.request(
                method, path, resource_type, resource_link, headers=headers, body=body, idempotent=idempotent,
                replayable=replayable, timeout=timeout, hedging=strategy, partition=partition,
            )
        except HttpResponseError as exc:
            exc.timing = (exc.headers, started, self.clock.monotonic(), headers, breakdown)  # for .diagnostics
            if self.thresholds is not None:
                self.thresholds.check_error(method, resource_type, resource_link, headers, body, exc)
            LAST_RESPONSE_HEADERS.set(exc.headers)  # the task-local porting aid (last_response.py)
            if resource_type not in SESSION_RESOURCES:
                raise
            self.session_tokens.capture(container_of(resource_link), exc.headers.get(SESSION_HEADER))
            if not _stale_session(exc, headers, pipeline.regions is None):
                raise
            remaining = None if timeout is None else max(0.0, timeout - (self.clock.monotonic() - started))
            response = await self._without_session(pipeline, exc, method, path, resource_type, resource_link,
                                                   headers, body, idempotent, replayable, remaining)
        except (TransportError, OperationTimeout) as exc:
            exc.timing = (None, started, self.clock.monotonic(), headers, breakdown)
            if self.thresholds is not None:  # a slow failure is logged as a slow answer is
                self.thresholds.check_error(method, resource_type, resource_link, headers, body, exc)
            raise
        except CredentialError as exc:  # nothing was sent
            exc.timing = (None, started, self.clock.monotonic(), headers, breakdown)
            raise
        timing = (response[1], started, self.clock.monotonic(), headers, breakdown)
        TIMING.set(timing)  # the result built from this response takes it (diagnostics.py)
        if self.thresholds is not None:
            self.thresholds.check(method, resource_type, resource_link, headers, body, response, timing)
        LAST_RESPONSE_HEADERS.set(response[1])
        token = response[1].get(SESSION_HEADER)
        if token is not None and resource_type in SESSION_RESOURCES:
            self.session_tokens.capture(container_of(resource_link), token)
        return response

    async def _without_session(
        self, pipeline: Pipeline, stale: HttpResponseError, method: str, path: str, resource_type: str,
        resource_link: str, headers: Mapping[str, str] | None, body: bytes | None, idempotent: bool,
        replayable: bool, timeout: float | None,
    ) -> RawResponse:
        """The container's session is stale (re-created under the same name, or the token is ahead of
        every replica): drop its token, rid and partition-key definition; send the request once more,
        without a session token."""
        container = container_of(resource_link)
        _log.info("%s %s: %d/%d with this client's session token; dropping the session of %s and "
                  "sending the request once more without it", method, path, stale.status_code, stale.sub_status,
                  container)
        self.session_tokens.forget(container)
        if stale.sub_status == COLLECTION_RID_MISMATCH:
            self.partition_keys.pop(container, None)
        fresh = {name: value for name, value in (headers or {}).items() if name.lower() != SESSION_HEADER}
        try:
            status, response_headers, data = await pipeline.request(
                method, path, resource_type, resource_link,
                headers=fresh, body=body, idempotent=idempotent, replayable=replayable, timeout=timeout,
            )
        except HttpResponseError as exc:
            exc.failed_attempts = (*stale.failed_attempts, _stale_record(stale), *exc.failed_attempts)
            raise
        # The stale answer (and the attempts before it) are attempts of this operation (diagnostics.py).
        return status, with_failures(response_headers, [*stale.failed_attempts, _stale_record(stale)]), data

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
        query: str | Mapping[str, Any] | None = None,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        headers: Mapping[str, str] | None = None,
        session_container: str | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[Any]:
        """A lazy pager over a read feed (GET) or a query (POST) of one feed resource."""
        max_item_count = check_max_item_count(max_item_count)
        if query is not None:
            query, parameters = query_spec(query, parameters)
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

        pager: AsyncItemPaged[Any] = AsyncItemPaged(fetch, fingerprint)
        if self.telemetry is None:
            return pager
        return self.traced(pager, operation_name(method, resource_type, resource_link, static), resource_link)

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
                           method, path, exc.sub_status, retries, FEED_GONE_RETRIES,
                           extra={"cosmos_event": "page_gone_retry", "cosmos_status": 410,
                                  "cosmos_sub_status": exc.sub_status, "cosmos_retry": retries})
