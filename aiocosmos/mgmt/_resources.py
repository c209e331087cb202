"""One generic implementation of the per-API resources (SQL, MongoDB, Cassandra, Gremlin, Table).

Every family is a chain of collection names under the account, e.g. ``("sqlDatabases", "containers")``
for SQL containers; the operations are the same for all of them:

=====================================  ========================================================
``list(rg, account, *parents)``        GET ``{acct}/sqlDatabases/{db}/containers`` (pageable)
``get(rg, account, *names)``           GET ``.../containers/{name}``
``begin_create_update(...)``           PUT ``.../containers/{name}`` (long-running)
``begin_delete(rg, account, *names)``  DELETE ``.../containers/{name}`` (long-running)
``get_throughput``                     GET ``.../{name}/throughputSettings/default``
``begin_update_throughput``            PUT ``.../{name}/throughputSettings/default`` (long-running)
``begin_migrate_to_autoscale``         POST ``.../throughputSettings/default/migrateToAutoscale``
``begin_migrate_to_manual_throughput`` POST ``.../throughputSettings/default/migrateToManualThroughput``
=====================================  ========================================================

Stored procedures, triggers and UDFs have no throughput operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._feeds.paging import AsyncItemPaged
from ..exceptions import ValidationError
from ._core import MgmtCore, segment
from ._lro import LROPoller
from ._models import ArmResource, ThroughputSettings

__all__ = ["ResourceOperations", "throughput_options"]


def throughput_options(throughput: int | None, max_throughput: int | None) -> dict[str, Any]:
    """``properties.options`` for a create: manual RU/s, autoscale maximum, or neither (shared/serverless)."""
    if throughput is not None and max_throughput is not None:
        raise ValidationError("give throughput (manual) or max_throughput (autoscale), not both")
    for name, value in (("throughput", throughput), ("max_throughput", max_throughput)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ValidationError(f"{name} must be a positive int, got {value!r}")
    if throughput is not None:
        return {"throughput": throughput}
    if max_throughput is not None:
        return {"autoscaleSettings": {"maxThroughput": max_throughput}}
    return {}


def _envelope(properties: dict[str, Any], location: str | None, tags: Mapping[str, str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if location is not None:
        body["location"] = location
    if tags is not None:
        body["tags"] = dict(tags)
    body["properties"] = properties
    return body


class ResourceOperations:
    """Operations on one kind of Cosmos child resource (see the module docstring).

    ``names`` are the resource's name and its parents' names, outermost first, e.g.
    ``sql_containers.get("rg1", "ddb1", "db", "orders")``.
    """

    __slots__ = ("_collections", "_core", "_has_throughput", "_what")

    def __init__(self, core: MgmtCore, collections: tuple[str, ...], what: str, *, throughput: bool = True) -> None:
        self._core = core
        self._collections = collections
        self._what = what
        self._has_throughput = throughput

    def __repr__(self) -> str:
        return f"ResourceOperations({'/'.join(self._collections)})"

    def _path(self, resource_group: str, account_name: str, names: tuple[str, ...], *, parents_only: bool) -> str:
        expected = len(self._collections) - (1 if parents_only else 0)
        if len(names) != expected:
            labels = [c.rstrip("s") for c in self._collections[:expected]]
            raise ValidationError(f"{self._what}: expected {expected} name(s) after the account "
                                  f"({', '.join(labels) or 'none'}), got {len(names)}")
        path = self._core.account_path(resource_group, account_name)
        for collection, name in zip(self._collections, names, strict=False):
            path += f"/{collection}/{segment(name, collection + ' name')}"
        if parents_only:
            path += f"/{self._collections[-1]}"
        return path

    def _throughput_path(self, resource_group: str, account_name: str, names: tuple[str, ...]) -> str:
        if not self._has_throughput:
            raise ValidationError(f"{self._what} have no throughput settings")
        return self._path(resource_group, account_name, names, parents_only=False) + "/throughputSettings/default"

    # -- resources -------------------------------------------------------------------------------

    def list(self, resource_group: str, account_name: str, *parents: str,
             timeout: float | None = None) -> AsyncItemPaged[ArmResource]:
        """The resources of this kind under the given parents (e.g. the containers of a database)."""
        path = self._path(resource_group, account_name, parents, parents_only=True)
        return self._core.pager(self._core.url(path), ArmResource.from_json, timeout=timeout)

    async def get(self, resource_group: str, account_name: str, *names: str,
                  timeout: float | None = None) -> ArmResource:
        """One resource, named by its parents and its own name."""
        path = self._path(resource_group, account_name, names, parents_only=False)
        return ArmResource.from_json(await self._core.get_json(self._core.url(path), timeout=timeout))

    async def begin_create_update(
        self,
        resource_group: str,
        account_name: str,
        *names: str,
        resource: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        throughput: int | None = None,
        max_throughput: int | None = None,
        location: str | None = None,
        tags: Mapping[str, str] | None = None,
        timeout: float | None = None,
        polling: bool = True,
        continuation_token: str | None = None,
    ) -> LROPoller[ArmResource]:
        """Create or replace the resource. ``resource`` is its definition (``{"id": name, ...}``; the id
        defaults to the name). Dedicated throughput applies at creation only: ``throughput=`` (manual
        RU/s), ``max_throughput=`` (autoscale) or a raw ``options`` mapping; none = shared/serverless."""
        path = self._path(resource_group, account_name, names, parents_only=False)
        url = self._core.url(path)
        if continuation_token is not None:
            return self._core.resume(continuation_token, "PUT", url)
        if not isinstance(resource, Mapping):
            raise ValidationError(f"resource must be a mapping (the resource's definition), "
                                  f"got {type(resource).__name__}")
        definition = dict(resource)
        definition.setdefault("id", names[-1])
        if definition["id"] != names[-1]:
            raise ValidationError(f"resource id {definition['id']!r} differs from the name {names[-1]!r} in the URL")
        if options is not None and (throughput is not None or max_throughput is not None):
            raise ValidationError("give options or throughput/max_throughput, not both")
        opts = dict(options) if options is not None else throughput_options(throughput, max_throughput)
        body = _envelope({"resource": definition, "options": opts}, location, tags)
        return await self._core.begin("PUT", url, body=body, final_url=url, kind="resource", timeout=timeout,
                                      polling=polling)

    async def begin_delete(self, resource_group: str, account_name: str, *names: str, timeout: float | None = None,
                           polling: bool = True, continuation_token: str | None = None) -> LROPoller[None]:
        """Start deleting a resource; the poller finishes when it is gone."""
        path = self._path(resource_group, account_name, names, parents_only=False)
        return await self._core.begin("DELETE", self._core.url(path), timeout=timeout, polling=polling,
                                      continuation_token=continuation_token)

    # -- throughput ------------------------------------------------------------------------------

    async def get_throughput(self, resource_group: str, account_name: str, *names: str,
                             timeout: float | None = None) -> ThroughputSettings:
        """The dedicated throughput; ``aiocosmos.NotFound`` when the resource has none (shared or serverless)."""
        url = self._core.url(self._throughput_path(resource_group, account_name, names))
        return ThroughputSettings.from_json(await self._core.get_json(url, timeout=timeout))

    async def begin_update_throughput(
        self,
        resource_group: str,
        account_name: str,
        *names: str,
        throughput: int | None = None,
        max_throughput: int | None = None,
        location: str | None = None,
        tags: Mapping[str, str] | None = None,
        timeout: float | None = None,
        polling: bool = True,
        continuation_token: str | None = None,
    ) -> LROPoller[ThroughputSettings]:
        """Set manual RU/s (``throughput=``) or the autoscale maximum (``max_throughput=``). To switch
        between manual and autoscale, migrate first."""
        url = self._core.url(self._throughput_path(resource_group, account_name, names))
        if continuation_token is not None:
            return self._core.resume(continuation_token, "PUT", url)
        settings = throughput_options(throughput, max_throughput)
        if not settings:
            raise ValidationError("give throughput (manual RU/s) or max_throughput (autoscale)")
        body = _envelope({"resource": settings}, location, tags)
        return await self._core.begin("PUT", url, body=body, final_url=url, kind="throughput", timeout=timeout,
                                      polling=polling)

    async def begin_migrate_to_autoscale(
        self, resource_group: str, account_name: str, *names: str, timeout: float | None = None,
        polling: bool = True, continuation_token: str | None = None,
    ) -> LROPoller[ThroughputSettings]:
        """Start moving the resource's throughput to autoscale."""
        return await self._migrate(resource_group, account_name, names, "migrateToAutoscale", timeout, polling,
                                   continuation_token)

    async def begin_migrate_to_manual_throughput(
        self, resource_group: str, account_name: str, *names: str, timeout: float | None = None,
        polling: bool = True, continuation_token: str | None = None,
    ) -> LROPoller[ThroughputSettings]:
        """Start moving the resource's throughput from autoscale to manual."""
        return await self._migrate(resource_group, account_name, names, "migrateToManualThroughput", timeout,
                                   polling, continuation_token)

    async def _migrate(self, resource_group: str, account_name: str, names: tuple[str, ...], action: str,
                       timeout: float | None, polling: bool,
                       continuation_token: str | None) -> LROPoller[ThroughputSettings]:
        path = self._throughput_path(resource_group, account_name, names)
        # Nothing is applied twice by a replayed migrate: it is idempotent (it ends in the same mode).
        # The result comes from the Location URL (final-state-via: location); the throughput settings
        # are read directly only when the service sends no Location.
        return await self._core.begin("POST", self._core.url(f"{path}/{action}"), final_url=self._core.url(path),
                                      kind="throughput", idempotent=True, timeout=timeout, polling=polling,
                                      continuation_token=continuation_token)
