"""CosmosClient: the account-level entry point; owns the connection pool and the pipeline."""

from __future__ import annotations

import enum
import platform
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self, overload
from urllib.parse import urlsplit

import aiohttp

from .._feeds.core import ClientCore
from .._feeds.paging import AsyncItemPaged
from .._telemetry.thresholds import ThresholdLog
from .._telemetry.tracing import Telemetry, TracedPipeline
from .._version import __version__
from .._wire import codec
from .._wire.auth import AadTokenCache, MasterKeySigner, ResourceTokenSigner, Signer, TokenCredential
from .._wire.client_keywords import apply_client_keywords
from .._wire.clock import Clock, SystemClock
from .._wire.last_response import CLIENT_CONNECTION, ClientConnection
from .._wire.options import ClientOptions, parse_connection_string
from .._wire.paths import validate_id
from .._wire.pipeline import API_VERSION, Pipeline
from .._wire.regions import make_router
from .._wire.request_options import HeadersHook, check_hook, initial
from .._wire.results import ResourceResponse
from .._wire.transport import Transport, open_http_session
from ..exceptions import ClientClosedError, ConfigurationError, Conflict, NotFound
from .database import DatabaseProxy
from .offers import throughput_headers

__all__ = ["CosmosClient", "Credential"]

Credential = str | Mapping[str, str] | TokenCredential
"""An account key; a resource token (``"type=resource&..."``) or ``{resource link: token}``;
``{"masterKey": key}``; or an AAD credential with ``async get_token(*scopes)``."""

class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"

class CosmosClient:
    """An asynchronous client for one Cosmos DB account.

    Use it as ``async with CosmosClient(endpoint, credential=key) as client:``. The client owns an
    aiohttp connection pool (unless you pass ``http_session``, which it then borrows and never
    closes). Database and container clients it hands out are cheap views that share that pool.
    """

    _state = _State.UNOPENED  # class-level default keeps __del__ safe if __init__ failed

    def __init__(
        self,
        url: str,
        credential: Credential,
        *,
        options: ClientOptions | None = None,
        http_session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
        # azure-cosmos's keywords (porting): applied on top of ``options`` (_wire/client_keywords.py).
        consistency_level: str | None = None,
        preferred_locations: Sequence[str] | None = None,
        excluded_locations: Sequence[str] | None = None,
        enable_endpoint_discovery: bool | None = None,
        multiple_write_locations: bool | None = None,
        connection_timeout: float | None = None,
        read_timeout: float | None = None,
        timeout: float | None = None,
        connection_verify: bool | None = None,
        retry_total: int | None = None,
        retry_backoff_max: float | None = None,
        retry_fixed_interval: float | None = None,
        retry_write: bool | int | None = None,
        user_agent_suffix: str | None = None,
        availability_strategy: bool | Mapping[str, Any] | None = None,
        # azure-cosmos's keywords aiocosmos does not take: each raises TypeError naming what to use.
        connection_mode: object = None, proxy_config: object = None, ssl_config: object = None,
        connection_cert: object = None, connection_policy: object = None, retry_connect: object = None,
        retry_read: object = None, retry_status: object = None, retry_on_status_codes: object = None,
        retry_backoff_factor: object = None, retry_mode: object = None, logger: object = None,
        enable_diagnostics_logging: object = None, throughput_bucket: object = None, priority: object = None,
        no_response_on_write: object = None, availability_strategy_max_concurrency: object = None,
        enable_compact_utf8_item_writes: object = None,
    ) -> None:
        azure_keywords = {name: value for name, value in (
            ("consistency_level", consistency_level), ("preferred_locations", preferred_locations),
            ("excluded_locations", excluded_locations), ("enable_endpoint_discovery", enable_endpoint_discovery),
            ("multiple_write_locations", multiple_write_locations), ("connection_timeout", connection_timeout),
            ("read_timeout", read_timeout), ("timeout", timeout), ("connection_verify", connection_verify),
            ("retry_total", retry_total), ("retry_backoff_max", retry_backoff_max),
            ("retry_fixed_interval", retry_fixed_interval), ("retry_write", retry_write),
            ("user_agent_suffix", user_agent_suffix), ("availability_strategy", availability_strategy),
            ("connection_mode", connection_mode), ("proxy_config", proxy_config), ("ssl_config", ssl_config),
            ("connection_cert", connection_cert), ("connection_policy", connection_policy),
            ("retry_connect", retry_connect), ("retry_read", retry_read), ("retry_status", retry_status),
            ("retry_on_status_codes", retry_on_status_codes), ("retry_backoff_factor", retry_backoff_factor),
            ("retry_mode", retry_mode), ("logger", logger), ("enable_diagnostics_logging", enable_diagnostics_logging),
            ("throughput_bucket", throughput_bucket), ("priority", priority),
            ("no_response_on_write", no_response_on_write),
            ("availability_strategy_max_concurrency", availability_strategy_max_concurrency),
            ("enable_compact_utf8_item_writes", enable_compact_utf8_item_writes),
        ) if value is not None}
        if not isinstance(url, str):
            raise ConfigurationError(f"the account URL must be a string, got {type(url).__name__}")
        parts = urlsplit(url.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(f"the account URL must look like https://<account>.documents.azure.com:443/, "
                                     f"got {url!r}")
        if options is not None and not isinstance(options, ClientOptions):
            raise ConfigurationError(f"options must be a ClientOptions, got {type(options).__name__}")
        self._url = f"{parts.scheme}://{parts.netloc}"
        self._options = apply_client_keywords(options or ClientOptions(), azure_keywords)
        self._clock: Clock = clock or SystemClock()
        self._aad: AadTokenCache | None = None
        self._signer = self._make_signer(credential, parts.hostname)
        self._http = http_session
        self._owns_http = http_session is None
        self._core = ClientCore(self._open, self._clock, self._options.timeouts.operation)
        self._core.account_host = parts.hostname
        self._core.detailed_timings = self._options.detailed_timings
        if self._options.thresholds is not None:
            self._core.thresholds = ThresholdLog(self._options.thresholds)
        if self._options.serializer is not None:
            self._core.models = self._options.serializer
        if self._options.telemetry:  # opentelemetry is imported here, and only here
            self._core.telemetry = Telemetry(
                host=parts.hostname, port=parts.port, consistency_level=self._options.consistency_level,
                tracer_provider=self._options.tracer_provider, meter_provider=self._options.meter_provider,
            )
        self._state = _State.UNOPENED

    def _make_signer(self, credential: Credential, host: str) -> Signer:
        if isinstance(credential, str):
            if credential.startswith("type=resource"):
                return ResourceTokenSigner(credential)
            return MasterKeySigner(credential)
        if isinstance(credential, Mapping):
            if "masterKey" in credential:
                return MasterKeySigner(credential["masterKey"])
            return ResourceTokenSigner(credential)
        if callable(getattr(credential, "get_token", None)):
            self._aad = AadTokenCache(credential, f"https://{host}/.default", self._clock)
            return self._aad
        raise ConfigurationError(
            "credential must be an account key, resource token(s), or an AAD credential with get_token(); "
            f"got {type(credential).__name__}"
        )

    @classmethod
    def from_connection_string(
        cls,
        conn_str: str,
        credential: Credential | None = None,
        *,
        options: ClientOptions | None = None,
        http_session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
        consistency_level: str | None = None, preferred_locations: Sequence[str] | None = None,
        excluded_locations: Sequence[str] | None = None, enable_endpoint_discovery: bool | None = None,
        multiple_write_locations: bool | None = None, connection_timeout: float | None = None,
        read_timeout: float | None = None, timeout: float | None = None, connection_verify: bool | None = None,
        retry_total: int | None = None, retry_backoff_max: float | None = None,
        retry_fixed_interval: float | None = None, retry_write: bool | int | None = None,
        user_agent_suffix: str | None = None, availability_strategy: bool | Mapping[str, Any] | None = None,
        connection_mode: object = None, proxy_config: object = None, ssl_config: object = None,
        connection_cert: object = None, connection_policy: object = None, retry_connect: object = None,
        retry_read: object = None, retry_status: object = None, retry_on_status_codes: object = None,
        retry_backoff_factor: object = None, retry_mode: object = None, logger: object = None,
        enable_diagnostics_logging: object = None, throughput_bucket: object = None, priority: object = None,
        no_response_on_write: object = None, availability_strategy_max_concurrency: object = None,
        enable_compact_utf8_item_writes: object = None,
    ) -> CosmosClient:
        """``AccountEndpoint=https://...;AccountKey=...;`` (``credential`` overrides the key); the other
        keywords are the constructor's (azure-cosmos forwards them too)."""
        endpoint, key = parse_connection_string(conn_str)
        return cls(
            endpoint, credential if credential is not None else key, options=options, http_session=http_session,
            clock=clock, consistency_level=consistency_level, preferred_locations=preferred_locations,
            excluded_locations=excluded_locations, enable_endpoint_discovery=enable_endpoint_discovery,
            multiple_write_locations=multiple_write_locations, connection_timeout=connection_timeout,
            read_timeout=read_timeout, timeout=timeout, connection_verify=connection_verify, retry_total=retry_total,
            retry_backoff_max=retry_backoff_max, retry_fixed_interval=retry_fixed_interval, retry_write=retry_write,
            user_agent_suffix=user_agent_suffix, availability_strategy=availability_strategy,
            connection_mode=connection_mode, proxy_config=proxy_config, ssl_config=ssl_config,
            connection_cert=connection_cert, connection_policy=connection_policy, retry_connect=retry_connect,
            retry_read=retry_read, retry_status=retry_status, retry_on_status_codes=retry_on_status_codes,
            retry_backoff_factor=retry_backoff_factor, retry_mode=retry_mode, logger=logger,
            enable_diagnostics_logging=enable_diagnostics_logging, throughput_bucket=throughput_bucket,
            priority=priority, no_response_on_write=no_response_on_write,
            availability_strategy_max_concurrency=availability_strategy_max_concurrency,
            enable_compact_utf8_item_writes=enable_compact_utf8_item_writes,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def _open(self) -> Pipeline:
        if self._state is _State.CLOSED:
            raise ClientClosedError("the CosmosClient is closed; create a new client")
        if self._core.pipeline is None:
            if self._http is None:
                self._http = open_http_session(self._options)
            suffix = f" {self._options.user_agent_suffix}" if self._options.user_agent_suffix else ""
            base_headers = {
                "x-ms-version": API_VERSION,
                "Accept": "application/json",
                "Cache-Control": "no-cache",
                "User-Agent": f"aiocosmos/{__version__} Python/{platform.python_version()}{suffix}",
            }
            if self._options.consistency_level:
                base_headers["x-ms-consistency-level"] = self._options.consistency_level
            if self._options.throughput_bucket:  # azure-cosmos sends neither when unset (or 0)
                base_headers["x-ms-cosmos-throughput-bucket"] = str(self._options.throughput_bucket)
            if self._options.priority:
                base_headers["x-ms-cosmos-priority-level"] = self._options.priority
            telemetry = self._core.telemetry
            extra: dict[str, Any] = {} if telemetry is None else {"telemetry": telemetry}
            if telemetry is not None:
                telemetry.watch_pool(self._http.connector)
            self._core.pipeline = (Pipeline if telemetry is None else TracedPipeline)(
                Transport(self._http, self._url, self._options.timeouts, self._options.detailed_timings),
                self._signer,
                policy=self._options.retry,
                clock=self._clock,
                base_headers=base_headers,
                default_timeout=self._options.timeouts.operation,
                aad=self._aad,
                regions=make_router(self._url, self._options, self._http, self._clock),
                on_session_lost=self._core.session_tokens.forget,
                hedging=self._options.availability_strategy,
                detailed_timings=self._options.detailed_timings,
                gates=self._core.throughput.gates,
                **extra,
            )
            self._state = _State.OPEN
        return self._core.pipeline

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool (if the client owns it). Safe to call more than once."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        await self._core.throughput.close()  # leave throughput control groups (needs the pipeline still)
        self._core.pipeline = None
        if self._aad is not None:
            self._aad.close()  # a token refresh in flight is not left running
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a closed client sends nothing)."""
        return self._state is _State.CLOSED

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._state is _State.OPEN and self._owns_http:
            self._state = _State.CLOSED  # warn once
            _warn(f"unclosed {self!r}: use 'async with CosmosClient(...)' or 'await client.close()'",
                  ResourceWarning, source=self, stacklevel=2)

    def __repr__(self) -> str:
        return f"CosmosClient(url={self._url!r}, state={self._state.value})"

    @property
    def client_connection(self) -> ClientConnection:
        """Porting aid for azure-cosmos code: ``client.client_connection.last_response_headers`` is the
        headers of the last response *the current task* received (a ``contextvars`` variable, so
        concurrent tasks never see each other's). New code reads each result's own metadata."""
        return CLIENT_CONNECTION

    # -- account and databases -------------------------------------------------------------------

    async def get_database_account(self, *, timeout: float | None = None) -> ResourceResponse:
        """The database account document (``GET /``): regions, consistency, query engine settings."""
        return await self._core.resource("GET", "/", "", "", idempotent=True, timeout=timeout)

    def get_database_client(self, database: str | DatabaseProxy | Mapping[str, Any]) -> DatabaseProxy:
        """A client for one database (no I/O)."""
        if isinstance(database, DatabaseProxy):
            return database
        database_id = database.get("id") if isinstance(database, Mapping) else database
        return DatabaseProxy(self._core, validate_id(database_id, "database id"))

    @overload
    async def create_database(self, id: str, *, offer_throughput: int | Any = None, timeout: float | None = None,
                              return_properties: Literal[False] = False,
                              initial_headers: Mapping[str, str] | None = None,
                              throughput_bucket: int | None = None, response_hook: HeadersHook | None = None,
                              ) -> DatabaseProxy: ...
    @overload
    async def create_database(self, id: str, *, offer_throughput: int | Any = None, timeout: float | None = None,
                              return_properties: Literal[True], initial_headers: Mapping[str, str] | None = None,
                              throughput_bucket: int | None = None, response_hook: HeadersHook | None = None,
                              ) -> tuple[DatabaseProxy, ResourceResponse]: ...

    async def create_database(
        self, id: str, *, offer_throughput: int | Any = None, timeout: float | None = None,
        return_properties: bool = False, initial_headers: Mapping[str, str] | None = None,
        throughput_bucket: int | None = None, response_hook: HeadersHook | None = None,
    ) -> DatabaseProxy | tuple[DatabaseProxy, ResourceResponse]:
        """Create a database (409 Conflict if it exists). ``offer_throughput`` provisions shared RU/s.
        ``return_properties=True`` returns ``(proxy, properties)``, as azure-cosmos does; ``response_hook``
        is called as ``hook(headers)``, as azure-cosmos calls it here."""
        validate_id(id, "database id")
        check_hook(response_hook)
        headers = throughput_headers(offer_throughput)
        headers["Content-Type"] = "application/json"
        response = await self._core.resource(
            "POST", "/dbs", "dbs", "", headers=initial(headers, initial_headers, throughput_bucket),
            body=codec.dumps({"id": id}), idempotent=False, timeout=timeout,
        )
        if response_hook is not None:
            response_hook(response.headers)
        database = DatabaseProxy(self._core, id, properties=response)
        return (database, response) if return_properties else database

    @overload
    async def create_database_if_not_exists(
        self, id: str, *, offer_throughput: int | Any = None, timeout: float | None = None,
        return_properties: Literal[False] = False, initial_headers: Mapping[str, str] | None = None,
        throughput_bucket: int | None = None, response_hook: Callable[..., object] | None = None,
    ) -> DatabaseProxy: ...
    @overload
    async def create_database_if_not_exists(
        self, id: str, *, offer_throughput: int | Any = None, timeout: float | None = None,
        return_properties: Literal[True], initial_headers: Mapping[str, str] | None = None,
        throughput_bucket: int | None = None, response_hook: Callable[..., object] | None = None,
    ) -> tuple[DatabaseProxy, ResourceResponse]: ...

    async def create_database_if_not_exists(
        self, id: str, *, offer_throughput: int | Any = None, timeout: float | None = None,
        return_properties: bool = False, initial_headers: Mapping[str, str] | None = None,
        throughput_bucket: int | None = None, response_hook: Callable[..., object] | None = None,
    ) -> DatabaseProxy | tuple[DatabaseProxy, ResourceResponse]:
        """Read the database, or create it if it does not exist (safe against concurrent creators).
        ``return_properties=True`` returns ``(proxy, properties)`` (the read's or the create's); the
        per-call keywords apply to each request. ``response_hook`` is called once, as azure-cosmos calls
        it: ``hook(headers, properties)`` when the database existed, ``hook(headers)`` when it was created."""
        database = self.get_database_client(id)
        throughput_headers(offer_throughput)  # validate before any I/O
        check_hook(response_hook)
        initial(None, initial_headers, throughput_bucket)
        created = False
        try:
            properties = await database.read(timeout=timeout, initial_headers=initial(
                None, initial_headers, throughput_bucket))
        except NotFound:
            try:
                database = await self.create_database(id, offer_throughput=offer_throughput, timeout=timeout,
                                                      initial_headers=initial_headers,
                                                      throughput_bucket=throughput_bucket)
                assert database.properties is not None
                properties, created = database.properties, True
            except Conflict:  # someone else created it between our read and create
                properties = await database.read(timeout=timeout, initial_headers=initial(
                    None, initial_headers, throughput_bucket))
        if response_hook is not None:
            response_hook(properties.headers) if created else response_hook(properties.headers, properties)
        return (database, properties) if return_properties else database

    async def delete_database(
        self, database: str | DatabaseProxy | Mapping[str, Any], *, timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None, throughput_bucket: int | None = None,
        response_hook: HeadersHook | None = None,
    ) -> ResourceResponse:
        """Delete a database and all it holds; ``response_hook(headers)`` as azure-cosmos calls it."""
        proxy = self.get_database_client(database)
        check_hook(response_hook)
        response = await self._core.resource(
            "DELETE", proxy._path, "dbs", proxy._link, idempotent=False, timeout=timeout,
            headers=initial(None, initial_headers, throughput_bucket),
        )
        if response_hook is not None:
            response_hook(response.headers)
        proxy._forget_containers()
        return response

    def list_databases(
        self, *, max_item_count: int | None = None, timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None, throughput_bucket: int | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """All databases of the account, page by page."""
        return self._core.feed("/dbs", "dbs", "", "Databases", max_item_count=max_item_count, timeout=timeout,
                               headers=initial(None, initial_headers, throughput_bucket))

    def query_databases(
        self,
        query: str | Mapping[str, Any],
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
        initial_headers: Mapping[str, str] | None = None,
        throughput_bucket: int | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """The databases a SQL query over the account's databases selects."""
        return self._core.feed("/dbs", "dbs", "", "Databases", query=query, parameters=parameters,
                               max_item_count=max_item_count, timeout=timeout,
                               headers=initial(None, initial_headers, throughput_bucket))

    # -- offers (throughput) ---------------------------------------------------------------------

    def list_offers(
        self, *, max_item_count: int | None = None, timeout: float | None = None
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Every offer (provisioned throughput) of the account. For one database or container,
        ``get_throughput()`` on its proxy is simpler."""
        return self._core.feed("/offers", "offers", "", "Offers", max_item_count=max_item_count, timeout=timeout)

    def query_offers(
        self,
        query: str | Mapping[str, Any],
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Offers matching a SQL query, e.g. ``SELECT * FROM r WHERE r.offerResourceId = @rid``."""
        return self._core.feed("/offers", "offers", "", "Offers", query=query, parameters=parameters,
                               max_item_count=max_item_count, timeout=timeout)

