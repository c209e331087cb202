"""Provider- and subscription-level operations: the RP's operation list, Cosmos DB locations, and the
restorable (continuous-backup) accounts with their restorable databases, containers and resources,
for point-in-time restore planning; ``restore_parameters`` builds the account restore body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._feeds.paging import AsyncItemPaged
from ..exceptions import ValidationError
from ._core import MgmtCore, segment
from ._models import ArmResource

__all__ = ["LocationsOperations", "OperationsOperations", "RestorableDatabaseAccountsOperations",
           "restore_parameters"]

# restorable{X} collection under a restorable account, by API: (databases, containers, resources).
_RESTORABLE = {
    "sql": ("restorableSqlDatabases", "restorableSqlContainers", "restorableSqlResources"),
    "mongodb": ("restorableMongodbDatabases", "restorableMongodbCollections", "restorableMongodbResources"),
    "gremlin": ("restorableGremlinDatabases", "restorableGremlinGraphs", "restorableGremlinResources"),
    "table": (None, "restorableTables", "restorableTableResources"),
}


class OperationsOperations:
    """``client.operations``: the operations the ``Microsoft.DocumentDB`` provider offers (``Operations_List``)."""

    __slots__ = ("_core",)

    def __init__(self, core: MgmtCore) -> None:
        self._core = core

    def list(self, *, timeout: float | None = None) -> AsyncItemPaged[dict[str, Any]]:
        """Raw ``Operation`` dicts: ``{"name", "display": {"Provider", "Resource", "Operation", "Description"}}``."""
        return self._core.pager(self._core.url("/providers/Microsoft.DocumentDB/operations"), dict, timeout=timeout)


class LocationsOperations:
    """``client.locations``: the Azure regions Cosmos DB offers this subscription (``Locations_List/Get``)."""

    __slots__ = ("_core",)

    def __init__(self, core: MgmtCore) -> None:
        self._core = core

    def _path(self, location: str | None = None) -> str:
        path = f"{self._core.subscription_path()}/providers/Microsoft.DocumentDB/locations"
        return path if location is None else f"{path}/{segment(location, 'location')}"

    def list(self, *, timeout: float | None = None) -> AsyncItemPaged[ArmResource]:
        """The Azure locations Cosmos DB is offered in, with their capabilities."""
        return self._core.pager(self._core.url(self._path()), ArmResource.from_json, timeout=timeout)

    async def get(self, location: str, *, timeout: float | None = None) -> ArmResource:
        """One location's Cosmos DB properties."""
        return ArmResource.from_json(await self._core.get_json(self._core.url(self._path(location)),
                                                               timeout=timeout))


class RestorableDatabaseAccountsOperations:
    """``client.restorable_database_accounts``: accounts with continuous backup, live or deleted, that can
    be restored, and what each held over time. ``instance_id`` is the account's ``name`` in these results
    (a GUID), ``location`` the region it lives in."""

    __slots__ = ("_core",)

    def __init__(self, core: MgmtCore) -> None:
        self._core = core

    def _path(self, location: str | None = None, instance_id: str | None = None) -> str:
        path = f"{self._core.subscription_path()}/providers/Microsoft.DocumentDB"
        if location is None:
            return f"{path}/restorableDatabaseAccounts"
        path += f"/locations/{segment(location, 'location')}/restorableDatabaseAccounts"
        return path if instance_id is None else f"{path}/{segment(instance_id, 'instance id')}"

    def list(self, *, timeout: float | None = None) -> AsyncItemPaged[ArmResource]:
        """Every restorable account of the subscription (``RestorableDatabaseAccounts_List``)."""
        return self._core.pager(self._core.url(self._path()), ArmResource.from_json, timeout=timeout)

    def list_by_location(self, location: str, *, timeout: float | None = None) -> AsyncItemPaged[ArmResource]:
        """The restorable (continuous-backup) accounts of a location."""
        return self._core.pager(self._core.url(self._path(location)), ArmResource.from_json, timeout=timeout)

    async def get_by_location(self, location: str, instance_id: str, *,
                              timeout: float | None = None) -> ArmResource:
        """One restorable account, by location and instance id."""
        url = self._core.url(self._path(location, instance_id))
        return ArmResource.from_json(await self._core.get_json(url, timeout=timeout))

    def _events(self, location: str, instance_id: str, api: str, which: int, query: Mapping[str, str | None],
                timeout: float | None) -> AsyncItemPaged[ArmResource]:
        collections = _RESTORABLE.get(api)
        if collections is None or collections[which] is None:
            raise ValidationError(f"api must be one of {sorted(_RESTORABLE)} (tables have no databases), got {api!r}")
        params = {k: v for k, v in query.items() if v is not None}
        url = self._core.url(f"{self._path(location, instance_id)}/{collections[which]}", params)
        return self._core.pager(url, ArmResource.from_json, timeout=timeout)

    def list_databases(self, location: str, instance_id: str, *, api: str = "sql",
                       timeout: float | None = None) -> AsyncItemPaged[ArmResource]:
        """Create/replace/delete events of the account's databases (``RestorableSqlDatabases_List``...)."""
        return self._events(location, instance_id, api, 0, {}, timeout)

    def list_containers(
        self, location: str, instance_id: str, *, api: str = "sql", database_rid: str | None = None,
        start_time: str | None = None, end_time: str | None = None, timeout: float | None = None,
    ) -> AsyncItemPaged[ArmResource]:
        """Events of the containers (collections, graphs, tables) of one database (by its ``_rid``),
        optionally between ``start_time`` and ``end_time`` (ISO 8601)."""
        key = "restorableMongodbDatabaseRid" if api == "mongodb" else \
            "restorableGremlinDatabaseRid" if api == "gremlin" else "restorableSqlDatabaseRid"
        query = {key: database_rid, "startTime": start_time, "endTime": end_time}
        if api == "table":
            query = {"startTime": start_time, "endTime": end_time}
        return self._events(location, instance_id, api, 1, query, timeout)

    def list_resources(
        self, location: str, instance_id: str, *, api: str = "sql", restore_location: str | None = None,
        restore_timestamp_in_utc: str | None = None, timeout: float | None = None,
    ) -> AsyncItemPaged[ArmResource]:
        """What a restore to ``restore_timestamp_in_utc`` in ``restore_location`` would bring back: the
        databases and their containers (what ``restore_parameters(databases_to_restore=...)`` takes)."""
        query = {"restoreLocation": restore_location, "restoreTimestampInUtc": restore_timestamp_in_utc}
        return self._events(location, instance_id, api, 2, query, timeout)


def restore_parameters(
    location: str,
    restore_source: str,
    restore_timestamp_in_utc: str,
    *,
    locations: Sequence[str | Mapping[str, Any]] | None = None,
    kind: str | None = None,
    databases_to_restore: Sequence[Mapping[str, Any]] | None = None,
    restore_with_ttl_disabled: bool | None = None,
    properties: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The body of ``database_accounts.begin_create_or_update`` that restores an account to a point in
    time (``createMode: Restore``): ``restore_source`` is the restorable account's id
    (``/subscriptions/.../locations/{location}/restorableDatabaseAccounts/{instanceId}``),
    ``databases_to_restore`` e.g. ``[{"databaseName": "db1", "collectionNames": ["c1"]}]`` (all when
    omitted). ``locations`` defaults to ``[location]``; ``properties`` adds or overrides properties."""
    for name, value in (("location", location), ("restore_source", restore_source),
                        ("restore_timestamp_in_utc", restore_timestamp_in_utc)):
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
    regions: list[dict[str, Any]] = []
    for priority, entry in enumerate(locations or [location]):
        regions.append({"locationName": entry, "failoverPriority": priority} if isinstance(entry, str)
                       else dict(entry))
    restore: dict[str, Any] = {"restoreMode": "PointInTime", "restoreSource": restore_source,
                               "restoreTimestampInUtc": restore_timestamp_in_utc}
    if databases_to_restore is not None:
        restore["databasesToRestore"] = [dict(d) for d in databases_to_restore]
    if restore_with_ttl_disabled is not None:
        restore["restoreWithTtlDisabled"] = bool(restore_with_ttl_disabled)
    props: dict[str, Any] = {"databaseAccountOfferType": "Standard", "locations": regions,
                             "createMode": "Restore", "restoreParameters": restore}
    props.update(properties or {})
    body: dict[str, Any] = {"location": location}
    if kind is not None:
        body["kind"] = kind
    if tags is not None:
        body["tags"] = dict(tags)
    body["properties"] = props
    return body
