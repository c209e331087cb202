"""Database accounts: get, list, create/update, patch, delete, keys, connection strings, failover,
regions, name check and usages."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._feeds.paging import AsyncItemPaged
from .._resources.client import CosmosClient
from ..exceptions import ConfigurationError, ValidationError
from ._core import MgmtCore, segment
from ._lro import LROPoller
from ._models import ConnectionString, DatabaseAccount, DatabaseAccountKeys, Usage

if TYPE_CHECKING:
    from .._wire.options import ClientOptions

__all__ = ["DatabaseAccountsOperations", "KEY_KINDS"]

KEY_KINDS = ("primary", "secondary", "primaryReadonly", "secondaryReadonly")


def _mapping(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be a mapping, got {type(value).__name__}")
    return dict(value)


class DatabaseAccountsOperations:
    """``client.database_accounts``: the operations of ``Microsoft.DocumentDB/databaseAccounts``."""

    __slots__ = ("_core",)

    def __init__(self, core: MgmtCore) -> None:
        self._core = core

    def _url(self, resource_group: str, account_name: str, action: str = "",
             query: Mapping[str, str] | None = None) -> str:
        path = self._core.account_path(resource_group, account_name)
        return self._core.url(f"{path}/{action}" if action else path, query)

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, resource_group: str, account_name: str, *, timeout: float | None = None) -> DatabaseAccount:
        """The database account."""
        return DatabaseAccount.from_json(await self._core.get_json(self._url(resource_group, account_name),
                                                                   timeout=timeout))

    def list(self, *, timeout: float | None = None) -> AsyncItemPaged[DatabaseAccount]:
        """Every Cosmos DB account of the subscription."""
        url = self._core.url(f"{self._core.subscription_path()}/providers/Microsoft.DocumentDB/databaseAccounts")
        return self._core.pager(url, DatabaseAccount.from_json, timeout=timeout)

    def list_by_resource_group(self, resource_group: str, *,
                               timeout: float | None = None) -> AsyncItemPaged[DatabaseAccount]:
        """The database accounts of a resource group."""
        group = segment(resource_group, "resource group")
        url = self._core.url(f"{self._core.subscription_path()}/resourceGroups/{group}"
                             "/providers/Microsoft.DocumentDB/databaseAccounts")
        return self._core.pager(url, DatabaseAccount.from_json, timeout=timeout)

    def list_usages(self, resource_group: str, account_name: str, *, filter: str | None = None,
                    timeout: float | None = None) -> AsyncItemPaged[Usage]:
        """Usage metrics; ``filter`` is OData, e.g. ``"name.value eq 'Storage'"``."""
        query = {"$filter": filter} if filter else None
        return self._core.pager(self._url(resource_group, account_name, "usages", query), Usage.from_json,
                                timeout=timeout)

    def list_metrics(self, resource_group: str, account_name: str, filter: str, *,
                     timeout: float | None = None) -> AsyncItemPaged[dict[str, Any]]:
        """Account metrics as raw ``Metric`` dicts. ``filter`` (OData) is required, e.g.
        ``"(name.value eq 'Total Requests') and timeGrain eq duration'PT5M' and startTime eq
        '2026-01-01T00:00:00Z' and endTime eq '2026-01-01T01:00:00Z'"``."""
        if not isinstance(filter, str) or not filter.strip():
            raise ValidationError("list_metrics needs an OData filter (metric names, timeGrain, start and end)")
        return self._core.pager(self._url(resource_group, account_name, "metrics", {"$filter": filter}), dict,
                                timeout=timeout)

    def list_metric_definitions(self, resource_group: str, account_name: str, *,
                                timeout: float | None = None) -> AsyncItemPaged[dict[str, Any]]:
        """The metrics the account offers (raw ``MetricDefinition`` dicts)."""
        return self._core.pager(self._url(resource_group, account_name, "metricDefinitions"), dict, timeout=timeout)

    async def check_name_exists(self, account_name: str, *, timeout: float | None = None) -> bool:
        """True when the account name is taken (the name is global: it becomes a DNS name)."""
        name = segment(account_name, "account name")
        url = self._core.url(f"/providers/Microsoft.DocumentDB/databaseAccountNames/{name}")
        status, _, _ = await self._core.send("HEAD", url, idempotent=True, timeout=timeout, accept=(404,))
        return status != 404

    # -- keys --------------------------------------------------------------------------------------

    async def list_keys(self, resource_group: str, account_name: str, *,
                        timeout: float | None = None) -> DatabaseAccountKeys:
        """The four account keys (a secret: its repr never shows them)."""
        body = await self._core.get_json(self._url(resource_group, account_name, "listKeys"), method="POST",
                                         timeout=timeout)
        return DatabaseAccountKeys.from_json(body)

    async def get_read_only_keys(self, resource_group: str, account_name: str, *,
                                 timeout: float | None = None) -> DatabaseAccountKeys:
        """The read-only key pair by GET (``DatabaseAccounts_GetReadOnlyKeys``; the POST is ``list_read_only_keys``)."""
        body = await self._core.get_json(self._url(resource_group, account_name, "readonlykeys"), timeout=timeout)
        return DatabaseAccountKeys.from_json(body)

    async def list_read_only_keys(self, resource_group: str, account_name: str, *,
                                  timeout: float | None = None) -> DatabaseAccountKeys:
        """The account's read-only keys."""
        body = await self._core.get_json(self._url(resource_group, account_name, "readonlykeys"), method="POST",
                                         timeout=timeout)
        return DatabaseAccountKeys.from_json(body)

    async def list_connection_strings(self, resource_group: str, account_name: str, *,
                                      timeout: float | None = None) -> builtins.list[ConnectionString]:
        """The account's connection strings."""
        body = await self._core.get_json(self._url(resource_group, account_name, "listConnectionStrings"),
                                         method="POST", timeout=timeout)
        entries = body.get("connectionStrings")
        return [ConnectionString.from_json(e) for e in entries if isinstance(e, dict)] \
            if isinstance(entries, list) else []

    async def begin_regenerate_key(
        self, resource_group: str, account_name: str, key_kind: str, *,
        skip_account_keys_last_usage_check: bool | None = None, timeout: float | None = None,
        polling: bool = True, continuation_token: str | None = None,
    ) -> LROPoller[None]:
        """Regenerate one key: ``"primary"``, ``"secondary"``, ``"primaryReadonly"`` or ``"secondaryReadonly"``."""
        if key_kind not in KEY_KINDS:
            raise ValidationError(f"key_kind must be one of {KEY_KINDS}, got {key_kind!r}")
        body: dict[str, Any] = {"keyKind": key_kind}
        if skip_account_keys_last_usage_check is not None:
            body["skipAccountKeysLastUsageCheck"] = bool(skip_account_keys_last_usage_check)
        # Not idempotent: a replayed regenerate would replace the key twice.
        return await self._core.begin("POST", self._url(resource_group, account_name, "regenerateKey"), body=body,
                                      idempotent=False, timeout=timeout, polling=polling,
                                      continuation_token=continuation_token)

    # -- create, update, delete --------------------------------------------------------------------

    async def begin_create_or_update(self, resource_group: str, account_name: str, parameters: Mapping[str, Any],
                                     *, timeout: float | None = None, polling: bool = True,
                                     continuation_token: str | None = None) -> LROPoller[DatabaseAccount]:
        """PUT the account: ``{"location": ..., "kind"?, "tags"?, "identity"?, "properties": {"locations":
        [...], "databaseAccountOfferType": "Standard", ...}}`` (the ARM ``DatabaseAccountCreateUpdateParameters``)."""
        url = self._url(resource_group, account_name)
        if continuation_token is not None:
            return self._core.resume(continuation_token, "PUT", url)
        body = _mapping(parameters, "parameters")
        props = body.get("properties")
        if not isinstance(props, Mapping) or "locations" not in props or "databaseAccountOfferType" not in props:
            raise ValidationError("parameters.properties must have locations and databaseAccountOfferType")
        return await self._core.begin("PUT", url, body=body, final_url=url, kind="account", timeout=timeout,
                                      polling=polling)

    async def begin_update(self, resource_group: str, account_name: str, parameters: Mapping[str, Any],
                           *, timeout: float | None = None, polling: bool = True,
                           continuation_token: str | None = None) -> LROPoller[DatabaseAccount]:
        """PATCH the account (merge): ``{"tags"?, "location"?, "identity"?, "properties"?}``."""
        url = self._url(resource_group, account_name)
        if continuation_token is not None:
            return self._core.resume(continuation_token, "PATCH", url)
        body = _mapping(parameters, "parameters")
        return await self._core.begin("PATCH", url, body=body, final_url=url, kind="account", timeout=timeout,
                                      polling=polling)

    async def begin_delete(self, resource_group: str, account_name: str, *, timeout: float | None = None,
                           polling: bool = True, continuation_token: str | None = None) -> LROPoller[None]:
        """Start deleting the account; the poller finishes when it is gone."""
        return await self._core.begin("DELETE", self._url(resource_group, account_name), timeout=timeout,
                                      polling=polling, continuation_token=continuation_token)

    # -- regions and failover ----------------------------------------------------------------------

    async def begin_failover_priority_change(
        self, resource_group: str, account_name: str, failover_policies: Sequence[Mapping[str, Any]] | Sequence[str],
        *, timeout: float | None = None, polling: bool = True, continuation_token: str | None = None,
    ) -> LROPoller[None]:
        """New failover priorities: ``[{"locationName": "eastus", "failoverPriority": 0}, ...]``, or just the
        region names in priority order (the first becomes the write region). Every region of the account
        must be listed."""
        if isinstance(failover_policies, str) or not isinstance(failover_policies, Sequence) or not failover_policies:
            raise ValidationError("failover_policies must be a non-empty list")
        policies: list[dict[str, Any]] = []
        for priority, entry in enumerate(failover_policies):
            if isinstance(entry, str):
                policies.append({"locationName": entry, "failoverPriority": priority})
            else:
                policies.append(_mapping(entry, "a failover policy"))
        body = {"failoverPolicies": policies}
        return await self._core.begin("POST", self._url(resource_group, account_name, "failoverPriorityChange"),
                                      body=body, idempotent=False, timeout=timeout, polling=polling,
                                      continuation_token=continuation_token)

    async def begin_offline_region(self, resource_group: str, account_name: str, region: str, *,
                                   timeout: float | None = None, polling: bool = True,
                                   continuation_token: str | None = None) -> LROPoller[None]:
        """Start taking a region of the account offline."""
        return await self._region(resource_group, account_name, region, "offlineRegion", timeout, polling,
                                  continuation_token)

    async def begin_online_region(self, resource_group: str, account_name: str, region: str, *,
                                  timeout: float | None = None, polling: bool = True,
                                  continuation_token: str | None = None) -> LROPoller[None]:
        """Start bringing an offline region of the account back online."""
        return await self._region(resource_group, account_name, region, "onlineRegion", timeout, polling,
                                  continuation_token)

    async def _region(self, resource_group: str, account_name: str, region: str, action: str,
                      timeout: float | None, polling: bool, continuation_token: str | None) -> LROPoller[None]:
        if not isinstance(region, str) or not region.strip():
            raise ValidationError(f"region must be a non-empty string, got {region!r}")
        return await self._core.begin("POST", self._url(resource_group, account_name, action),
                                      body={"region": region}, idempotent=False, timeout=timeout, polling=polling,
                                      continuation_token=continuation_token)

    # -- the bridge to the data plane -----------------------------------------------------------------

    async def get_cosmos_client(
        self, resource_group: str, account_name: str, *, read_only: bool = False,
        options: ClientOptions | None = None, timeout: float | None = None,
    ) -> CosmosClient:
        """A data-plane ``CosmosClient`` for the account: reads its endpoint and a key (the primary key, or
        the primary read-only key with ``read_only=True``). Close it (``async with``) when done."""

        account = await self.get(resource_group, account_name, timeout=timeout)
        if not account.document_endpoint:
            raise ConfigurationError(f"account {account_name!r} has no documentEndpoint (is it still being created?)")
        if read_only:
            keys = await self.list_read_only_keys(resource_group, account_name, timeout=timeout)
            key = keys.primary_readonly_master_key
        else:
            keys = await self.list_keys(resource_group, account_name, timeout=timeout)
            key = keys.primary_master_key
        if not key:
            raise ConfigurationError(f"the service returned no key for account {account_name!r}")
        return CosmosClient(account.document_endpoint, credential=key, options=options)
