"""CosmosManagementClient: the Cosmos DB resource provider on Azure Resource Manager."""

from __future__ import annotations

import enum
import platform
import warnings
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import aiohttp

from .._version import __version__
from .._wire.auth import TokenCredential
from .._wire.clock import Clock, SystemClock
from .._wire.options import ClientOptions
from .._wire.transport import Transport, open_http_session
from ..exceptions import ClientClosedError, ConfigurationError
from ._accounts import DatabaseAccountsOperations
from ._core import MgmtCore
from ._lro import RESULT_PARSERS, LROPoller
from ._models import ArmResource, DatabaseAccount, ThroughputSettings
from ._pipeline import ArmPipeline, BearerTokenCache, default_scope
from ._provider import LocationsOperations, OperationsOperations, RestorableDatabaseAccountsOperations
from ._rbac import RbacOperations, SqlRoleAssignmentsOperations
from ._resources import ResourceOperations

__all__ = ["CosmosManagementClient", "DEFAULT_API_VERSION", "DEFAULT_BASE_URL"]

DEFAULT_API_VERSION: Final = "2026-07-15"
DEFAULT_BASE_URL: Final = "https://management.azure.com"

RESULT_PARSERS.update({
    "account": DatabaseAccount.from_json,
    "resource": ArmResource.from_json,
    "throughput": ThroughputSettings.from_json,
})


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class CosmosManagementClient:
    """An asynchronous client for the Cosmos DB resource provider (``Microsoft.DocumentDB``) on ARM.

    ``async with CosmosManagementClient(credential, subscription_id) as mgmt:`` where ``credential``
    is an AAD credential (azure-identity's async credentials work; any object with
    ``async get_token(*scopes)`` returning ``(token, expires_on)``). Tokens are requested for
    ``credential_scopes`` (as in azure-mgmt); by default the ARM audience of ``base_url``'s cloud:
    ``https://management.azure.com/.default``, ``https://management.chinacloudapi.cn/.default`` or
    ``https://management.usgovcloudapi.net/.default``, else ``<base_url>/.default`` (Azure Stack).
    ``credential_scope=`` (one string) is the older spelling.

    Operation groups: ``database_accounts``, ``sql_databases``, ``sql_containers``,
    ``sql_stored_procedures``, ``sql_triggers``, ``sql_user_defined_functions``,
    ``cassandra_keyspaces``, ``cassandra_tables``, ``mongodb_databases``, ``mongodb_collections``,
    ``gremlin_databases``, ``gremlin_graphs``, ``tables``; data-plane RBAC: ``sql_role_definitions``,
    ``sql_role_assignments``, ``mongodb_role_definitions``, ``mongodb_user_definitions``,
    ``cassandra_role_definitions``, ``cassandra_role_assignments``; the provider's ``operations``,
    ``locations`` and ``restorable_database_accounts`` (point-in-time restore planning).

    ``options`` (a ``ClientOptions``) gives the pool limits, timeouts and the retry policy (429 waits
    ``Retry-After``; 412 "another operation in progress" is retried with backoff). ``polling_interval``
    is the wait between polls of a long-running operation when the service sends no ``Retry-After``.
    """

    _state = _State.UNOPENED

    def __init__(
        self,
        credential: TokenCredential,
        subscription_id: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        credential_scopes: Sequence[str] | None = None,
        credential_scope: str | None = None,
        options: ClientOptions | None = None,
        http_session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
        polling_interval: float = 30.0,
    ) -> None:
        if not isinstance(subscription_id, str) or not subscription_id.strip():
            raise ConfigurationError("subscription_id must be a non-empty string")
        if not isinstance(base_url, str):
            raise ConfigurationError(f"base_url must be a string, got {type(base_url).__name__}")
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(f"base_url must look like https://management.azure.com, got {base_url!r}")
        if not isinstance(api_version, str) or not api_version.strip():
            raise ConfigurationError("api_version must be a non-empty string such as '2026-07-15'")
        if options is not None and not isinstance(options, ClientOptions):
            raise ConfigurationError(f"options must be a ClientOptions, got {type(options).__name__}")
        if not isinstance(polling_interval, int | float) or polling_interval < 0:
            raise ConfigurationError(f"polling_interval must be >= 0 seconds, got {polling_interval!r}")
        self._base_url = f"{parts.scheme}://{parts.netloc}"
        self._options = options or ClientOptions()
        self._clock: Clock = clock or SystemClock()
        if credential_scopes is not None and credential_scope is not None:
            raise ConfigurationError("give credential_scopes or credential_scope, not both")
        if credential_scope is not None:
            credential_scopes = [credential_scope]
        if credential_scopes is None:
            scopes: tuple[str, ...] = (default_scope(self._base_url),)
        elif isinstance(credential_scopes, str) or not credential_scopes or \
                not all(isinstance(x, str) and x.strip() for x in credential_scopes):
            raise ConfigurationError(f"credential_scopes must be a non-empty list of scopes such as "
                                     f"['https://management.usgovcloudapi.net/.default'], got {credential_scopes!r}")
        else:
            scopes = tuple(credential_scopes)
        self._credential_scopes = scopes
        self._tokens = BearerTokenCache(credential, scopes, self._clock)
        self._http = http_session
        self._owns_http = http_session is None
        self._pipeline: ArmPipeline | None = None
        self._core = MgmtCore(self._open, base_url=self._base_url, subscription_id=subscription_id.strip(),
                              api_version=api_version.strip(), clock=self._clock,
                              polling_interval=float(polling_interval))
        core = self._core
        self.database_accounts = DatabaseAccountsOperations(core)
        self.sql_databases = ResourceOperations(core, ("sqlDatabases",), "SQL databases")
        self.sql_containers = ResourceOperations(core, ("sqlDatabases", "containers"), "SQL containers")
        self.sql_stored_procedures = ResourceOperations(
            core, ("sqlDatabases", "containers", "storedProcedures"), "stored procedures", throughput=False)
        self.sql_triggers = ResourceOperations(
            core, ("sqlDatabases", "containers", "triggers"), "triggers", throughput=False)
        self.sql_user_defined_functions = ResourceOperations(
            core, ("sqlDatabases", "containers", "userDefinedFunctions"), "user-defined functions", throughput=False)
        self.cassandra_keyspaces = ResourceOperations(core, ("cassandraKeyspaces",), "Cassandra keyspaces")
        self.cassandra_tables = ResourceOperations(core, ("cassandraKeyspaces", "tables"), "Cassandra tables")
        self.mongodb_databases = ResourceOperations(core, ("mongodbDatabases",), "MongoDB databases")
        self.mongodb_collections = ResourceOperations(core, ("mongodbDatabases", "collections"), "MongoDB collections")
        self.gremlin_databases = ResourceOperations(core, ("gremlinDatabases",), "Gremlin databases")
        self.gremlin_graphs = ResourceOperations(core, ("gremlinDatabases", "graphs"), "Gremlin graphs")
        self.tables = ResourceOperations(core, ("tables",), "Table API tables")
        self.operations = OperationsOperations(core)
        self.locations = LocationsOperations(core)
        self.restorable_database_accounts = RestorableDatabaseAccountsOperations(core)
        # Role-based access control for the data plane.
        self.sql_role_definitions = RbacOperations(core, "sqlRoleDefinitions", "SQL role definition")
        self.sql_role_assignments = SqlRoleAssignmentsOperations(core, "sqlRoleAssignments", "SQL role assignment")
        self.mongodb_role_definitions = RbacOperations(core, "mongodbRoleDefinitions", "MongoDB role definition")
        self.mongodb_user_definitions = RbacOperations(core, "mongodbUserDefinitions", "MongoDB user definition")
        self.cassandra_role_definitions = RbacOperations(core, "cassandraRoleDefinitions",
                                                         "Cassandra role definition")
        self.cassandra_role_assignments = RbacOperations(core, "cassandraRoleAssignments",
                                                         "Cassandra role assignment")
        self._state = _State.UNOPENED

    @property
    def api_version(self) -> str:
        """The Resource Provider API version sent with every request."""
        return self._core.api_version

    @property
    def base_url(self) -> str:
        """The Azure Resource Manager endpoint."""
        return self._base_url

    @property
    def credential_scopes(self) -> list[str]:
        """The scopes AAD tokens are requested for."""
        return list(self._credential_scopes)

    # -- lifecycle -------------------------------------------------------------------------------

    async def _open(self) -> ArmPipeline:
        if self._state is _State.CLOSED:
            raise ClientClosedError("the CosmosManagementClient is closed; create a new client")
        if self._pipeline is None:
            if self._http is None:
                self._http = open_http_session(self._options)
            suffix = f" {self._options.user_agent_suffix}" if self._options.user_agent_suffix else ""
            self._pipeline = ArmPipeline(
                Transport(self._http, "", self._options.timeouts),
                self._tokens,
                base_url=self._base_url,
                policy=self._options.retry,
                clock=self._clock,
                base_headers={
                    "Accept": "application/json",
                    "User-Agent": f"aiocosmos/{__version__} (mgmt) Python/{platform.python_version()}{suffix}",
                },
                default_timeout=self._options.timeouts.operation,
            )
            self._state = _State.OPEN
        return self._pipeline

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
        self._pipeline = None
        self._tokens.close()  # a token refresh in flight is not left running
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._state is _State.CLOSED

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._state is _State.OPEN and self._owns_http:
            self._state = _State.CLOSED
            _warn(f"unclosed {self!r}: use 'async with CosmosManagementClient(...)' or 'await client.close()'",
                  ResourceWarning, source=self, stacklevel=2)

    def __repr__(self) -> str:
        return f"CosmosManagementClient(base_url={self._base_url!r}, api_version={self.api_version!r}, " \
               f"state={self._state.value})"

    # -- long-running operations -------------------------------------------------------------------

    def resume_poller(self, continuation_token: str) -> LROPoller[Any]:
        """Rebuild a poller from ``LROPoller.continuation_token()`` (no I/O until you await it)."""
        return LROPoller.from_continuation_token(self._core, continuation_token)
