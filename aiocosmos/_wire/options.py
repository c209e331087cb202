"""Frozen client options, with defaults a production service can run on unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from ..exceptions import ConfigurationError
from .models import ModelSerializer
from .partition_health import PartitionCircuitBreaker, circuit_breaker_option
from .retry import RetryPolicy

__all__ = ["ConnectionLimits", "Timeouts", "ThresholdOptions", "ClientOptions", "HedgingOption", "HedgingStrategy",
           "PartitionCircuitBreaker", "availability_strategy", "parse_connection_string"]


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigurationError(f"{type(instance).__name__}.{attribute.name} must be > 0, got {value!r}")


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ConfigurationError(f"{type(instance).__name__}.{attribute.name} must be >= 0, got {value!r}")


def _region_names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(name, str) and name.strip() for name in value):
        raise ConfigurationError(f"regions must be a list of region names like ['West US 2'], got {value!r}")
    return tuple(name.strip() for name in value)


@attrs.frozen(kw_only=True)
class ConnectionLimits:
    """The aiohttp connection pool.

    ``max_connections`` caps open connections in total; ``max_connections_per_host`` caps them per
    endpoint (0 = only the total cap). ``keepalive_timeout`` is how long an idle pooled connection is
    kept; ``dns_cache_ttl`` how long a resolved address is reused.

    ``keepalive_timeout`` must stay below the idle timeout of the server (the gateway), so that the
    client, not the server, closes an idle connection: a connection the server closes while it sits
    in the pool fails the next request sent on it. The gateway's own idle timeout is not published;
    the official SDKs keep idle gateway connections for up to 60 s (azure-cosmos-java
    ``GatewayConnectionConfig.DEFAULT_IDLE_CONNECTION_TIMEOUT`` = 60 s; the .NET SDK uses
    ``SocketsHttpHandler``, whose ``PooledConnectionIdleTimeout`` defaults to 1 minute), so the
    gateway keeps them at least that long. The default, 30 s, is half of that. Servers with a shorter
    idle timeout (Node's ``http`` server: 5 s) need a smaller value.
    """

    max_connections: int = attrs.field(default=100, validator=_positive)
    max_connections_per_host: int = attrs.field(default=0, validator=_non_negative)
    keepalive_timeout: float = attrs.field(default=30.0, validator=_positive)  # below the gateway's 60 s: see above
    dns_cache_ttl: int = attrs.field(default=300, validator=_non_negative)


@attrs.frozen(kw_only=True)
class Timeouts:
    """``connect``: TCP+TLS connect per attempt. ``read``: wait for the response per attempt.
    ``operation``: default overall deadline of one operation, across all its retries (None = none;
    each call may pass its own ``timeout=``)."""

    connect: float = attrs.field(default=5.0, validator=_positive)
    read: float = attrs.field(default=65.0, validator=_positive)
    operation: float | None = attrs.field(default=None, validator=_positive)


@attrs.frozen(kw_only=True)
class ThresholdOptions:
    """Log an operation once, at WARNING on ``aiocosmos.wire.thresholds``, with its diagnostics, when it
    takes longer, costs more or carries more than this (.NET's ``CosmosThresholdOptions``; the latency
    defaults are .NET's). Latencies in seconds, on the client's clock: ``point_operation_latency`` for
    operations on one item (read, create, upsert, replace, patch, delete), ``non_point_operation_latency``
    for every other request (each query or feed page, batches, management); ``request_charge`` in
    request units; ``payload_size`` in bytes, of the request or the response body. None: not checked."""

    point_operation_latency: float | None = attrs.field(default=1.0, validator=_positive)
    non_point_operation_latency: float | None = attrs.field(default=3.0, validator=_positive)
    request_charge: float | None = attrs.field(default=None, validator=_positive)
    payload_size: int | None = attrs.field(default=None, validator=_positive)


def _thresholds(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, ThresholdOptions):
        raise ConfigurationError(f"ClientOptions.thresholds must be a ThresholdOptions or None, got {value!r}")


DEFAULT_THRESHOLD: Final = 0.5
DEFAULT_STEP: Final = 0.1


@attrs.frozen(kw_only=True)
class HedgingStrategy:
    """Cross-region hedging (azure-cosmos's ``CrossRegionHedgingStrategy``), in seconds:
    ``threshold`` before the second region is tried too, then ``step`` before each further one."""

    threshold: float = attrs.field(default=DEFAULT_THRESHOLD, validator=_positive)
    step: float = attrs.field(default=DEFAULT_STEP, validator=_positive)


HedgingOption = bool | Mapping[str, Any] | HedgingStrategy | None
"""What ``availability_strategy`` takes: azure-cosmos's shapes (True: the defaults, 500 ms then
100 ms; False: off, also overriding the client's; a dict with ``threshold_ms`` and
``threshold_steps_ms``) or a ``HedgingStrategy``; None: the client's setting."""


def availability_strategy(value: HedgingOption) -> HedgingStrategy | bool | None:
    """Validate an ``availability_strategy`` value: a strategy, False (off) or None (not set)."""
    if value is None or value is False or isinstance(value, HedgingStrategy):
        return value
    if value is True:
        return HedgingStrategy()
    if isinstance(value, Mapping):
        unknown = set(value) - {"threshold_ms", "threshold_steps_ms"}
        if unknown:
            raise ConfigurationError(f"availability_strategy: unknown keys {sorted(unknown)} "
                                     "(expected threshold_ms, threshold_steps_ms)")
        threshold, step = value.get("threshold_ms", 500), value.get("threshold_steps_ms", 100)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (threshold, step)):
            raise ConfigurationError(f"availability_strategy: threshold_ms and threshold_steps_ms must be "
                                     f"numbers of milliseconds, got {dict(value)!r}")
        return HedgingStrategy(threshold=threshold / 1000, step=step / 1000)
    raise ConfigurationError(f"availability_strategy must be True, False, a dict with threshold_ms and "
                             f"threshold_steps_ms, or a HedgingStrategy; got {value!r}")


def _client_strategy(value: Any) -> HedgingStrategy | None:
    strategy = availability_strategy(value)
    return strategy if isinstance(strategy, HedgingStrategy) else None


@attrs.frozen(kw_only=True)
class ClientOptions:
    """Everything about a client that is not the endpoint or the credential.

    ``verify_tls=False`` turns off certificate checks: only for the emulator's self-signed
    certificate, never in production. ``consistency_level`` relaxes the account's default consistency
    (``"Session"``, ``"Eventual"``, ``"ConsistentPrefix"``, ``"BoundedStaleness"``).
    """

    limits: ConnectionLimits = attrs.field(factory=ConnectionLimits)
    timeouts: Timeouts = attrs.field(factory=Timeouts)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    verify_tls: bool = True
    consistency_level: str | None = attrs.field(default=None)
    user_agent_suffix: str = ""
    preferred_regions: tuple[str, ...] = attrs.field(default=(), converter=_region_names)
    """Regions to read from (and, on multi-write accounts, write to), best first, e.g.
    ``("West US 2", "East US")``. Setting it turns endpoint discovery on."""
    excluded_regions: tuple[str, ...] = attrs.field(default=(), converter=_region_names)
    """Regions never to use while another one is available."""
    enable_endpoint_discovery: bool | None = None
    """Read the database account (``GET /``) and route by its regions. None (default): on exactly
    when ``preferred_regions`` is set; False: always use the given endpoint."""
    account_refresh_interval: float = attrs.field(default=300.0, validator=_positive)
    """Seconds between reads of the database account (it is also re-read after 403/3 and 403/1008)."""
    region_cooldown: float = attrs.field(default=300.0, validator=_positive)
    """Seconds a region that failed (connection failure, 503) is used only as a last resort."""
    availability_strategy: HedgingStrategy | None = attrs.field(default=None, converter=_client_strategy)
    """Hedge reads across regions (azure-cosmos's option and shapes: True, a dict with ``threshold_ms``
    and ``threshold_steps_ms``, or a ``HedgingStrategy``): a read that has not answered in its first
    region within the threshold is also sent to the next one (``aiocosmos._wire.hedging``). Needs
    endpoint discovery; writes are hedged only on multi-write accounts and only when safe to replay.
    Each read may override it (``availability_strategy=`` on ``read_item``; False turns it off)."""
    throughput_bucket: int | None = attrs.field(default=None)
    """Throughput bucket of every request (``x-ms-cosmos-throughput-bucket``, as azure-cosmos's client keyword);
    a call's own ``throughput_bucket=`` wins."""
    priority: str | None = attrs.field(default=None)
    """Priority-based execution level of every request, ``"High"`` or ``"Low"``; a call's own ``priority=`` wins."""
    serializer: ModelSerializer | None = attrs.field(default=None, eq=False)
    """Turns item bodies that are not dicts into dicts and stored items into ``model=`` types (``to_document``,
    ``from_document``); None: dataclasses, attrs classes and pydantic v2 models (``aiocosmos._wire.models``)."""
    partition_circuit_breaker: PartitionCircuitBreaker | None = attrs.field(default=None,
                                                                           converter=circuit_breaker_option)
    """Per-partition circuit breaker and automatic failover (``aiocosmos._wire.partition_health``): True
    or a ``PartitionCircuitBreaker`` with thresholds. Off by default, as in azure-cosmos; needs endpoint
    discovery. A partition key range that keeps failing in one region moves to the next region while
    the region keeps serving the others."""
    tracing: bool = False
    """OpenTelemetry spans and metrics (needs ``pip install 'aiocosmos[otel]'``), with the global tracer
    and meter providers. Off by default: a globally configured provider alone does not turn it on."""
    tracer_provider: Any = attrs.field(default=None, eq=False)
    """An OpenTelemetry ``TracerProvider`` to use instead of the global one; setting it turns tracing on."""
    meter_provider: Any = attrs.field(default=None, eq=False)
    """An OpenTelemetry ``MeterProvider`` to use instead of the global one; setting it turns tracing on."""
    thresholds: ThresholdOptions | None = attrs.field(default=None, validator=_thresholds)
    """Log slow, costly or large operations with their diagnostics (``ThresholdOptions``); None: off."""
    detailed_timings: bool = False
    """``.diagnostics`` timings split into queueing, connecting, signing, sending, waiting, receiving and
    parsing (``aiocosmos.diagnostics.Breakdown``). Off by default: it installs aiohttp trace hooks on
    the client's own session (a session passed in keeps its own) and costs a few µs per request."""

    @property
    def telemetry(self) -> bool:
        """Whether spans and metrics are on (``tracing`` or a provider given)."""
        return self.tracing or self.tracer_provider is not None or self.meter_provider is not None

    @property
    def discovery(self) -> bool:
        """Whether endpoint discovery (multi-region routing) is on."""
        if self.enable_endpoint_discovery is None:
            return bool(self.preferred_regions)
        return self.enable_endpoint_discovery

    @throughput_bucket.validator
    def _check_bucket(self, attribute: attrs.Attribute[Any], value: int | None) -> None:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigurationError(f"throughput_bucket must be a non-negative int, got {value!r}")

    @priority.validator
    def _check_priority(self, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None and value not in ("High", "Low"):
            raise ConfigurationError(f"priority must be 'High' or 'Low', got {value!r}")

    @consistency_level.validator
    def _check_consistency(self, attribute: attrs.Attribute[Any], value: str | None) -> None:
        allowed = ("Strong", "BoundedStaleness", "Session", "ConsistentPrefix", "Eventual")
        if value is not None and value not in allowed:
            raise ConfigurationError(f"consistency_level must be one of {allowed}, got {value!r}")


def parse_connection_string(connection_string: str) -> tuple[str, str]:
    """``AccountEndpoint=...;AccountKey=...;`` -> (endpoint, key). The key never appears in errors."""
    if not isinstance(connection_string, str) or not connection_string.strip():
        raise ConfigurationError("connection string is empty")
    fields: dict[str, str] = {}
    for part in connection_string.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise ConfigurationError(f"connection string part {name[:40]!r} has no '='")
        fields[name.strip().lower()] = value.strip()  # values may end in '=' (base64): partition keeps it
    endpoint = fields.get("accountendpoint")
    key = fields.get("accountkey")
    if not endpoint:
        raise ConfigurationError("connection string has no AccountEndpoint")
    if not key:
        raise ConfigurationError("connection string has no AccountKey")
    return endpoint, key
