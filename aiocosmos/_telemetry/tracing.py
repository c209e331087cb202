"""OpenTelemetry spans, events and metrics of a client, built only when ``ClientOptions`` turns them on.

* ``TracedPipeline`` is the client's pipeline when tracing is on: one CLIENT span per request (a point
  operation, one page of a query or change feed, a transactional batch, one bulk flush, a management
  call), named ``{db.operation.name} {target}`` and carrying the Cosmos DB conventions' attributes; one
  event per retry or failover (``Pipeline``'s ``on_retry`` hook); the operation metrics.
* ``PagerTrace`` is the whole-query span: a child of the context the pager was *created* in, started
  when the first page is asked for, ended at the last page, an error or when iteration is abandoned.
  Each page is fetched with that span attached, so page spans (and the tasks a cross-partition query
  starts) are its children, whichever task consumes the pages.

opentelemetry is imported when a ``Telemetry`` is built, never when aiocosmos is. No attribute or event
carries a header value, a key, a token, a signature, a query text or a document.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Mapping
from time import perf_counter
from typing import Any, Final

from .._version import __version__
from .._wire.options import HedgingStrategy
from .._wire.pipeline import REGIONS_HEADER, Pipeline, RawResponse
from .._wire.results import Page
from ..exceptions import ConfigurationError, HttpResponseError, TooManyRequests, TransportError
from . import names as n
from .gauges import CONNECTION_COUNT, Gauges, PoolSource

__all__ = ["Telemetry", "TracedPipeline", "PagerTrace", "BATCH_SIZE"]

_BATCH_OPERATIONS: Final = frozenset({"execute_batch", "execute_bulk"})
_DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_CHARGE_BUCKETS: Final = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)


class _Attempts:
    __slots__ = ("retries", "throttles")

    def __init__(self) -> None:
        self.retries = 0
        self.throttles = 0


_attempts: contextvars.ContextVar[_Attempts | None] = contextvars.ContextVar("aiocosmos_attempts", default=None)

BATCH_SIZE: Final[contextvars.ContextVar[int | None]] = contextvars.ContextVar("aiocosmos_batch_size", default=None)
"""Operations in the batch or bulk request about to be sent (set by its sender when tracing is on):
``db.operation.batch.size`` without parsing the body again."""

_CACHE_LIMIT: Final = 4096
"""Entries of the per-target and per-outcome attribute caches; past it they start over (links are
few in practice; this only bounds a client that addresses unboundedly many containers)."""


def error_type(exc: BaseException) -> str:
    """The convention's ``error.type``: the status code of a service answer, else the exception's class."""
    if isinstance(exc, HttpResponseError):
        return str(exc.status_code)
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


class Telemetry:
    """The tracer, meter and instruments of one client, and the attributes every operation shares."""

    def __init__(
        self, *, host: str, port: int | None, consistency_level: str | None, tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> None:
        try:
            from opentelemetry import context, metrics, trace
        except ImportError as exc:  # pragma: no cover - the dev extra installs it
            raise ConfigurationError("tracing needs opentelemetry-api: pip install 'aiocosmos[otel]'") from exc
        self.trace = trace
        self.context = context
        self.client_kind = trace.SpanKind.CLIENT
        self.internal_kind = trace.SpanKind.INTERNAL
        self.error_status = trace.StatusCode.ERROR
        self.tracer = trace.get_tracer("aiocosmos", __version__, tracer_provider=tracer_provider,
                                       schema_url=n.SCHEMA_URL)
        meter = metrics.get_meter("aiocosmos", __version__, meter_provider=meter_provider, schema_url=n.SCHEMA_URL)
        self.duration = meter.create_histogram(
            n.OPERATION_DURATION, unit="s", description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS))
        self.request_units = meter.create_histogram(
            n.OPERATION_REQUEST_CHARGE, unit="{request_unit}",
            description="Request units consumed by the operation.",
            explicit_bucket_boundaries_advisory=list(_CHARGE_BUCKETS))
        self.retries = meter.create_counter(
            "aiocosmos.client.operation.retries", unit="{attempt}",
            description="Attempts sent again after a retryable failure (including failovers to another region).")
        self.throttles = meter.create_counter(
            "aiocosmos.client.operation.throttles", unit="{response}",
            description="429 (request rate too large) answers, retried or not.")
        self.gauges = Gauges(meter, metrics.Observation)
        self._pools: list[PoolSource] = []
        common: dict[str, Any] = {n.DB_SYSTEM_NAME: n.SYSTEM, n.SERVER_ADDRESS: host, n.CONNECTION_MODE: "gateway"}
        if port is not None:
            common[n.SERVER_PORT] = port
        if consistency_level:
            common[n.CONSISTENCY_LEVEL] = consistency_level
        self.common: Mapping[str, Any] = common
        self.host = host
        # Built once per (operation, link) and per outcome, then shared (never mutated): no dict is
        # built per request. The span gets the base at its start and only the outcome at its end.
        self._bases: dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, Any]]] = {}
        self._outcomes: dict[tuple[int, int | None, int | None, str | None],
                             tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}

    def watch_pool(self, connector: Any) -> None:
        """Observe the connections of the client's pool (``db.client.connection.count``)."""
        port = self.common.get(n.SERVER_PORT)
        source = PoolSource(connector, self.host if port is None else f"{self.host}:{port}")
        self._pools.append(source)
        self.gauges.watch(CONNECTION_COUNT, source.points)

    def base(self, operation: str, resource_link: str) -> tuple[str, dict[str, Any]]:
        """The span name and the low-cardinality attributes (those metrics carry too) of one operation
        (shared: not to be changed)."""
        name, attributes, _ = self._base(operation, resource_link)
        return name, attributes

    def _base(self, operation: str, resource_link: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(span name, span attributes, metric attributes) of (operation, link), cached."""
        key = (operation, resource_link)
        cached = self._bases.get(key)
        if cached is not None:
            return cached
        database, container = n.target(resource_link)
        attributes = dict(self.common)
        attributes[n.DB_OPERATION_NAME] = operation
        if database is not None:
            attributes[n.DB_NAMESPACE] = database
        if container is not None:
            attributes[n.DB_COLLECTION_NAME] = container
        metric = {k: v for k, v in attributes.items() if k != n.CONNECTION_MODE}
        if len(self._bases) >= _CACHE_LIMIT:
            self._bases.clear()
        cached = self._bases[key] = (f"{operation} {container or database or self.host}", attributes, metric)
        return cached

    def _outcome(self, metric: dict[str, Any], status: int | None, sub_status: int | None,
                 error: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the span's outcome attributes, the metric attributes) of one outcome of one base, cached."""
        key = (id(metric), status, sub_status, error)
        cached = self._outcomes.get(key)
        if cached is not None:
            return cached[0], cached[1]
        outcome: dict[str, Any] = {}
        if error is not None:
            outcome[n.ERROR_TYPE] = error
        if status is not None:
            outcome[n.DB_RESPONSE_STATUS_CODE] = str(status)
        if sub_status is not None:
            outcome[n.SUB_STATUS_CODE] = sub_status
        if len(self._outcomes) >= _CACHE_LIMIT:
            self._outcomes.clear()
        # The entry holds ``metric`` itself, so the id in its key stays that dict's while it exists.
        entry = self._outcomes[key] = (outcome, {**metric, **outcome}, metric)
        return entry[0], entry[1]

    def on_retry(self, region: str | None, error: HttpResponseError | TransportError, attempt: int,
                 wait: float) -> None:
        """``Pipeline``'s retry hook: an event on the request's span, and the counters."""
        counts = _attempts.get()
        if counts is not None:
            counts.retries += 1
            if isinstance(error, TooManyRequests):
                counts.throttles += 1
        event: dict[str, Any] = {"aiocosmos.attempt": attempt, n.ERROR_TYPE: error_type(error)}
        if isinstance(error, HttpResponseError):
            event[n.DB_RESPONSE_STATUS_CODE] = str(error.status_code)
            event[n.SUB_STATUS_CODE] = error.sub_status
        if region is not None:
            event["aiocosmos.region"] = region
        if wait >= 0:
            event["aiocosmos.retry.wait"] = wait
        self.trace.get_current_span().add_event("aiocosmos.failover" if wait < 0 else "aiocosmos.retry", event)

    def finish(self, span: Any, metric_base: dict[str, Any], started: float, counts: _Attempts,
               status: int | None, headers: Mapping[str, str] | None, exc: BaseException | None) -> None:
        """Record the outcome of one request on its span and in the metrics."""
        elapsed = perf_counter() - started
        charge: float | None = None
        regions: tuple[str, ...] = ()
        sub_status: int | None = None
        error: str | None = None
        if exc is not None:
            if isinstance(exc, HttpResponseError):
                status, sub_status, charge = exc.status_code, exc.sub_status, exc.request_charge
            if isinstance(exc, TooManyRequests):
                counts.throttles += 1
            regions = tuple(getattr(exc, "regions", ()) or ())
            error = error_type(exc)
        elif headers is not None:
            raw = headers.get("x-ms-request-charge")
            charge = float(raw) if raw else None
            raw = headers.get("x-ms-substatus")
            sub_status = int(raw) if raw and raw.isdigit() else None
            contacted = headers.get(REGIONS_HEADER)
            regions = tuple(contacted.split(", ")) if contacted else ()
        outcome, metric_attributes = self._outcome(metric_base, status, sub_status, error)
        span.set_attributes(outcome)  # the base attributes were set when the span started
        if charge is not None:
            span.set_attribute(n.REQUEST_CHARGE, charge)
        if regions:
            span.set_attribute(n.CONTACTED_REGIONS, regions)
        if error is not None:
            span.set_status(self.error_status, error)
        self.duration.record(elapsed, metric_attributes)
        if charge is not None:
            self.request_units.record(charge, metric_attributes)
        if counts.retries:
            self.retries.add(counts.retries, metric_attributes)
        if counts.throttles:
            self.throttles.add(counts.throttles, metric_attributes)


class TracedPipeline(Pipeline):
    """The pipeline with one span per request around the retry loop (``Pipeline.request``)."""

    __slots__ = ("_telemetry",)

    def __init__(self, *args: Any, telemetry: Telemetry, **kwargs: Any) -> None:
        super().__init__(*args, on_retry=telemetry.on_retry, **kwargs)
        self._telemetry = telemetry

    @property
    def telemetry(self) -> Telemetry:
        return self._telemetry

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
        hedging: HedgingStrategy | bool | None = None,
        partition: str | None = None,
    ) -> RawResponse:
        telemetry = self._telemetry
        operation = n.operation_name(method, resource_type, resource_link, headers)
        name, span_attributes, metric_base = telemetry._base(operation, resource_link)
        if body:
            span_attributes = {**span_attributes, n.REQUEST_BODY_SIZE: len(body)}  # (the cached one is shared)
            if operation in _BATCH_OPERATIONS:
                size = BATCH_SIZE.get()
                if size is not None:
                    span_attributes[n.BATCH_SIZE] = size
        counts = _Attempts()
        reset = _attempts.set(counts)
        started = perf_counter()
        # start_span and attach, not start_as_current_span: the same span and context without the
        # SDK's context-manager layers (a generator and use_span's handlers) on every request.
        span = telemetry.tracer.start_span(name, kind=telemetry.client_kind, attributes=span_attributes)
        token = telemetry.context.attach(telemetry.trace.set_span_in_context(span))
        try:
            try:
                response = await super().request(
                    method, path, resource_type, resource_link, headers=headers, body=body,
                    idempotent=idempotent, replayable=replayable, timeout=timeout, hedging=hedging,
                    partition=partition,
                )
            except BaseException as exc:
                telemetry.finish(span, metric_base, started, counts, None, None, exc)
                raise
            telemetry.finish(span, metric_base, started, counts, response[0], response[1], None)
            return response
        finally:
            telemetry.context.detach(token)
            span.end()
            _attempts.reset(reset)


class PagerTrace:
    """The span of a whole query or read feed: see the module docstring."""

    __slots__ = ("_attributes", "_name", "_parent", "_telemetry")

    def __init__(self, telemetry: Telemetry, operation: str, resource_link: str) -> None:
        self._telemetry = telemetry
        self._name, self._attributes = telemetry.base(operation, resource_link)
        self._parent = telemetry.context.get_current()  # the caller's context, when the pager is made

    async def wrap(self, pages: AsyncIterator[Page[Any]]) -> AsyncIterator[Page[Any]]:
        telemetry = self._telemetry
        span = telemetry.tracer.start_span(self._name, context=self._parent, kind=telemetry.internal_kind,
                                           attributes=self._attributes)
        inside = telemetry.trace.set_span_in_context(span, self._parent)
        charge, count = 0.0, 0
        try:
            while True:
                token = telemetry.context.attach(inside)
                try:
                    page = await anext(pages)
                except StopAsyncIteration:
                    return
                finally:
                    telemetry.context.detach(token)
                count += 1
                charge += page.request_charge
                yield page
        except GeneratorExit:
            span.set_attribute("aiocosmos.abandoned", True)  # the caller stopped before the last page
            raise
        except BaseException as exc:
            span.set_attribute(n.ERROR_TYPE, error_type(exc))
            if isinstance(exc, HttpResponseError):
                span.set_attribute(n.DB_RESPONSE_STATUS_CODE, str(exc.status_code))
            span.set_status(telemetry.error_status, error_type(exc))
            raise
        finally:
            span.set_attribute(n.REQUEST_CHARGE, charge)
            span.set_attribute("aiocosmos.pages", count)
            span.end()
            close = getattr(pages, "aclose", None)
            if close is not None:
                await close()
