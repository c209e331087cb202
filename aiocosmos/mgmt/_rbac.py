"""Role-based access control for the data plane: SQL role definitions and assignments, MongoDB role
and user definitions, Cassandra role definitions and assignments.

Each is a collection directly under the account (``{acct}/sqlRoleDefinitions/{id}``...) with the
same four operations, ``list``, ``get``, ``begin_create_update`` (PUT ``{"properties": {...}}``) and
``begin_delete``; the long-running ones follow ``final-state-via: location`` like every Cosmos
operation. ``sql_role_assignments.begin_grant`` is the short way to let an AAD identity use the
data plane (``CosmosClient(endpoint, credential=DefaultAzureCredential())``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from .._feeds.paging import AsyncItemPaged
from ..exceptions import ValidationError
from ._core import MgmtCore, segment
from ._lro import LROPoller
from ._models import ArmResource

__all__ = [
    "SQL_DATA_CONTRIBUTOR",
    "SQL_DATA_READER",
    "RbacOperations",
    "SqlRoleAssignmentsOperations",
]

SQL_DATA_READER: Final = "00000000-0000-0000-0000-000000000001"
"""The id of the built-in "Cosmos DB Built-in Data Reader" SQL role definition."""
SQL_DATA_CONTRIBUTOR: Final = "00000000-0000-0000-0000-000000000002"
"""The id of the built-in "Cosmos DB Built-in Data Contributor" SQL role definition."""


class RbacOperations:
    """``list``, ``get``, ``begin_create_update`` and ``begin_delete`` for one RBAC collection of an
    account (``sqlRoleDefinitions``, ``sqlRoleAssignments``, ``mongodbRoleDefinitions``,
    ``mongodbUserDefinitions``, ``cassandraRoleDefinitions``, ``cassandraRoleAssignments``).
    Results are ``ArmResource``; the definition itself is ``result.properties``."""

    __slots__ = ("_collection", "_core", "_what")

    def __init__(self, core: MgmtCore, collection: str, what: str) -> None:
        self._core = core
        self._collection = collection
        self._what = what

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._collection})"

    def _url(self, resource_group: str, account_name: str, item_id: str | None = None) -> str:
        path = f"{self._core.account_path(resource_group, account_name)}/{self._collection}"
        if item_id is not None:
            path += f"/{segment(item_id, self._what + ' id')}"
        return self._core.url(path)

    def list(self, resource_group: str, account_name: str, *,
             timeout: float | None = None) -> AsyncItemPaged[ArmResource]:
        """The definitions (or assignments) of the account."""
        return self._core.pager(self._url(resource_group, account_name), ArmResource.from_json, timeout=timeout)

    async def get(self, resource_group: str, account_name: str, item_id: str, *,
                  timeout: float | None = None) -> ArmResource:
        """One definition (or assignment) by its id."""
        return ArmResource.from_json(await self._core.get_json(self._url(resource_group, account_name, item_id),
                                                               timeout=timeout))

    async def begin_create_update(
        self, resource_group: str, account_name: str, item_id: str, properties: Mapping[str, Any] | None = None,
        *, timeout: float | None = None, polling: bool = True, continuation_token: str | None = None,
    ) -> LROPoller[ArmResource]:
        """PUT ``{"properties": properties}`` (the swagger's ``...CreateUpdateParameters``)."""
        url = self._url(resource_group, account_name, item_id)
        if continuation_token is not None:
            return self._core.resume(continuation_token, "PUT", url)
        if not isinstance(properties, Mapping):
            raise ValidationError(f"properties must be a mapping (the {self._what}), got {type(properties).__name__}")
        return await self._core.begin("PUT", url, body={"properties": dict(properties)}, final_url=url,
                                      kind="resource", timeout=timeout, polling=polling)

    async def begin_delete(self, resource_group: str, account_name: str, item_id: str, *,
                           timeout: float | None = None, polling: bool = True,
                           continuation_token: str | None = None) -> LROPoller[None]:
        """Start deleting a definition (or assignment)."""
        return await self._core.begin("DELETE", self._url(resource_group, account_name, item_id), timeout=timeout,
                                      polling=polling, continuation_token=continuation_token)


class SqlRoleAssignmentsOperations(RbacOperations):
    """``client.sql_role_assignments``: who may use which SQL role definition, on which scope."""

    __slots__ = ()

    async def begin_grant(
        self, resource_group: str, account_name: str, principal_id: str, *,
        role_definition: str = SQL_DATA_CONTRIBUTOR, scope: str = "/", assignment_id: str | None = None,
        timeout: float | None = None,
    ) -> LROPoller[ArmResource]:
        """Let the AAD principal (its object id) use the data plane: assigns ``role_definition`` (a role
        definition id such as ``SQL_DATA_READER``/``SQL_DATA_CONTRIBUTOR``, or a full resource id) on
        ``scope``, relative to the account (``"/"``: the whole account; ``"/dbs/shop"``;
        ``"/dbs/shop/colls/orders"``) or a full resource id. ``assignment_id`` defaults to a new UUID."""
        if not isinstance(principal_id, str) or not principal_id.strip():
            raise ValidationError(f"principal_id must be the identity's object id, got {principal_id!r}")
        for name, value in (("role_definition", role_definition), ("scope", scope)):
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
        account = self._core.account_path(resource_group, account_name)
        if not role_definition.startswith("/"):
            role_definition = f"{account}/sqlRoleDefinitions/{segment(role_definition, 'role definition id')}"
        if not scope.startswith("/subscriptions/"):
            scope = account + ("" if scope == "/" else "/" + scope.strip("/"))
        properties = {"roleDefinitionId": role_definition, "scope": scope, "principalId": principal_id}
        return await self.begin_create_update(resource_group, account_name, assignment_id or str(uuid.uuid4()),
                                              properties, timeout=timeout)
