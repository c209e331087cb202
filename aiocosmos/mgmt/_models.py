"""Typed results of the management plane (attrs), each keeping the raw JSON in ``raw``."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "ArmResource",
    "DatabaseAccount",
    "ThroughputSettings",
    "DatabaseAccountKeys",
    "ConnectionString",
    "Usage",
    "TERMINAL_STATES",
]

TERMINAL_STATES = frozenset({"succeeded", "failed", "canceled"})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    """ARM sends some numbers as strings (``"minimumThroughput": "400"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


@attrs.frozen(kw_only=True)
class ArmResource:
    """An ARM resource: ``id``, ``name``, ``type``, ``location``, ``tags`` and ``properties``.

    For Cosmos child resources ``resource`` is ``properties.resource`` (the database, container,
    keyspace... definition with ``_rid``/``_ts``/``_etag``) and ``options`` is ``properties.options``.
    ``raw`` is the JSON exactly as received.
    """

    id: str | None
    name: str | None
    type: str | None
    location: str | None = None
    tags: dict[str, str] = attrs.field(factory=dict)
    properties: dict[str, Any] = attrs.field(factory=dict, repr=False)
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _fields_from(cls, body: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": _str(body.get("id")),
            "name": _str(body.get("name")),
            "type": _str(body.get("type")),
            "location": _str(body.get("location")),
            "tags": _dict(body.get("tags")),
            "properties": _dict(body.get("properties")),
            "raw": dict(body),
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ArmResource:
        """The resource of an ARM response body."""
        return cls(**cls._fields_from(body))

    def as_dict(self) -> dict[str, Any]:
        """The resource as ARM sent it (a deep copy of ``raw``), like azure-mgmt models' ``as_dict()``
        but with ARM's own camelCase names."""
        return copy.deepcopy(self.raw)

    @property
    def resource(self) -> dict[str, Any]:
        """``properties.resource``: the resource's own definition."""
        return _dict(self.properties.get("resource"))

    @property
    def options(self) -> dict[str, Any]:
        """``properties.options`` (throughput, autoscale), empty when absent."""
        return _dict(self.properties.get("options"))


@attrs.frozen(kw_only=True)
class DatabaseAccount(ArmResource):
    """A Cosmos DB account (``DatabaseAccountGetResults``)."""

    kind: str | None = None
    provisioning_state: str | None = None
    document_endpoint: str | None = None
    write_locations: list[dict[str, Any]] = attrs.field(factory=list, repr=False)
    read_locations: list[dict[str, Any]] = attrs.field(factory=list, repr=False)
    failover_policies: list[dict[str, Any]] = attrs.field(factory=list, repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> DatabaseAccount:
        """The account of an ARM response body."""
        fields = cls._fields_from(body)
        props = fields["properties"]

        def dicts(name: str) -> list[dict[str, Any]]:
            value = props.get(name)
            return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

        return cls(
            **fields,
            kind=_str(body.get("kind")),
            provisioning_state=_str(props.get("provisioningState")),
            document_endpoint=_str(props.get("documentEndpoint")),
            write_locations=dicts("writeLocations"),
            read_locations=dicts("readLocations"),
            failover_policies=dicts("failoverPolicies"),
        )

    @property
    def default_consistency_level(self) -> str | None:
        """The account's default consistency level (``Session``, ``Strong``, ...), or None."""
        return _str(_dict(self.properties.get("consistencyPolicy")).get("defaultConsistencyLevel"))


@attrs.frozen(kw_only=True)
class ThroughputSettings(ArmResource):
    """Dedicated throughput of a database, container, keyspace, table, collection or graph.

    ``throughput`` is the manual RU/s, ``max_throughput`` the autoscale maximum (one of them is set);
    the service's string-typed numbers (``minimumThroughput``, ``offerReplacePending``) are parsed.
    """

    throughput: int | None = None
    max_throughput: int | None = None
    minimum_throughput: int | None = None
    offer_replace_pending: bool | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ThroughputSettings:
        """The throughput settings of an ARM response body."""
        fields = cls._fields_from(body)
        resource = _dict(fields["properties"].get("resource"))
        return cls(
            **fields,
            throughput=_int(resource.get("throughput")),
            max_throughput=_int(_dict(resource.get("autoscaleSettings")).get("maxThroughput")),
            minimum_throughput=_int(resource.get("minimumThroughput")),
            offer_replace_pending=_bool(resource.get("offerReplacePending")),
        )

    @property
    def is_autoscale(self) -> bool:
        """Whether the throughput is autoscale (it has a maximum)."""
        return self.max_throughput is not None


@attrs.frozen(kw_only=True)
class DatabaseAccountKeys:
    """Account keys (``listKeys``; only the read-only pair for ``list_read_only_keys``).

    They are secrets: reprs show which keys are present, never their values.
    """

    primary_master_key: str | None = attrs.field(default=None, repr=False)
    secondary_master_key: str | None = attrs.field(default=None, repr=False)
    primary_readonly_master_key: str | None = attrs.field(default=None, repr=False)
    secondary_readonly_master_key: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> DatabaseAccountKeys:
        """The keys of a ``listKeys`` (or ``readonlykeys``) answer."""
        return cls(
            primary_master_key=_str(body.get("primaryMasterKey")),
            secondary_master_key=_str(body.get("secondaryMasterKey")),
            primary_readonly_master_key=_str(body.get("primaryReadonlyMasterKey")),
            secondary_readonly_master_key=_str(body.get("secondaryReadonlyMasterKey")),
        )

    def as_dict(self) -> dict[str, Any]:
        """The keys under ARM's names (``primaryMasterKey``...), for code that wants a plain dict.
        Unlike the repr, this holds the secrets themselves."""
        names = {"primary_master_key": "primaryMasterKey", "secondary_master_key": "secondaryMasterKey",
                 "primary_readonly_master_key": "primaryReadonlyMasterKey",
                 "secondary_readonly_master_key": "secondaryReadonlyMasterKey"}
        return {wire: getattr(self, name) for name, wire in names.items() if getattr(self, name) is not None}

    def __repr__(self) -> str:
        present = [f.name for f in attrs.fields(type(self)) if getattr(self, f.name)]
        return f"DatabaseAccountKeys(keys={present!r}, values=<redacted>)"

    __str__ = __repr__


@attrs.frozen(kw_only=True)
class ConnectionString:
    """One entry of ``listConnectionStrings``; ``connection_string`` holds a key and is never shown in reprs."""

    connection_string: str = attrs.field(repr=False)
    description: str | None = None
    key_kind: str | None = None
    type: str | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ConnectionString:
        """A connection string of a ``listConnectionStrings`` answer."""
        return cls(
            connection_string=_str(body.get("connectionString")) or "",
            description=_str(body.get("description")),
            key_kind=_str(body.get("keyKind")),
            type=_str(body.get("type")),
        )

    def as_dict(self) -> dict[str, Any]:
        """ARM's names (``connectionString``...); it holds the key, unlike the repr."""
        wire = {"connectionString": self.connection_string, "description": self.description,
                "keyKind": self.key_kind, "type": self.type}
        return {k: v for k, v in wire.items() if v is not None}


@attrs.frozen(kw_only=True)
class Usage:
    """One account usage metric (``usages``)."""

    name: str | None
    localized_name: str | None
    unit: str | None
    quota_period: str | None
    limit: int | None
    current_value: int | None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Usage:
        """A usage entry of a ``usages`` answer."""
        name = _dict(body.get("name"))
        return cls(
            name=_str(name.get("value")),
            localized_name=_str(name.get("localizedValue")),
            unit=_str(body.get("unit")),
            quota_period=_str(body.get("quotaPeriod")),
            limit=_int(body.get("limit")),
            current_value=_int(body.get("currentValue")),
            raw=dict(body),
        )

    def as_dict(self) -> dict[str, Any]:
        """The usage as ARM sent it (a deep copy of ``raw``)."""
        return copy.deepcopy(self.raw)
