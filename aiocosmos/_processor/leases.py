"""Lease documents in the format the .NET v3 and Java v4 change feed processors share.

Pure code: parse a lease document into a :class:`Lease`, write one back, name it, and tell whether
it has expired. Three forms are read:

* **v0, partition-key-range leases** (.NET ``DocumentServiceLeaseCore``, Java ``pkversion``):
  ``version`` 0 or absent, ``LeaseToken`` = the range id (legacy V2 leases: ``PartitionId``),
  ``ContinuationToken`` = the raw change feed etag (``"\\"42\\""``), ``FeedRange`` optional.
* **.NET v1, EPK leases** (``DocumentServiceLeaseCoreEpk``): ``version`` 1, ``LeaseToken`` =
  ``"{min}-{max}"``, ``FeedRange`` = ``{"Range": {"min", "max"}}``, continuation a raw etag.
* **Java EPK leases** (``epkversion.ServiceItemLeaseV1``): ``version`` 1 too, but the range is
  ``feedRange`` and the continuation a base64 ``ChangeFeedStateV1`` JSON document that carries the
  etag inside (see :mod:`.java_leases`).

A new lease set is written as v0 (readable by both SDKs). Every later write keeps a lease's form
(:attr:`Lease.form`): a Java EPK lease is written back field by field as Java writes it, its etag in
its own ``ChangeFeedStateV1``; the children of a split lease take their parent's form.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs

from .._feeds.routing import FeedRange
from ..exceptions import ValidationError
from .java_leases import (
    java_child_state,
    java_document_range,
    java_etag,
    java_fresh_state,
    java_state,
    java_timestamp,
    java_with_etag,
)

__all__ = [
    "DOTNET",
    "JAVA",
    "Lease",
    "MODES",
    "format_timestamp",
    "lease_id",
    "lease_prefix",
    "parse_lease",
    "parse_timestamp",
]

SEPARATOR: Final = ".."
MODES: Final = {"LatestVersion": "Incremental Feed", "AllVersionsAndDeletes": "Full-Fidelity Feed"}
"""The change feed mode and the ``Mode`` value (the A-IM header) a lease store records."""
_SYSTEM: Final = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"})
_KNOWN: Final = frozenset({"id", "partitionKey", "version", "LeaseToken", "PartitionId", "FeedRange", "feedRange",
                           "Owner", "ContinuationToken", "timestamp", "properties", "Mode"})
DOTNET: Final = "dotnet"
"""The .NET layout (``DocumentServiceLeaseCore``/``…CoreEpk``); v0 leases of both SDKs are read as it."""
JAVA: Final = "java"
"""The Java EPK layout (``ServiceItemLeaseV1``)."""
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def lease_prefix(processor_name: str, account_host: str, database_rid: str, container_rid: str) -> str:
    """``{processorName}{accountHost}_{databaseRid}_{containerRid}``: the ids of one processor's leases
    all start with it (plus ``..``), its store marker is ``prefix + ".info"`` and its lock ``.lock``."""
    return f"{processor_name}{account_host}_{database_rid}_{container_rid}"


def lease_id(prefix: str, token: str) -> str:
    return prefix + SEPARATOR + token


# ---------------------------------------------------------------------------------------------------
# Timestamps: .NET writes DateTime.UtcNow as "2024-05-01T12:00:00.1234567Z"; Java writes Instant.toString().

_TS: Final = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)?(?:\[[A-Za-z0-9_/+-]+\])?$")
"""ISO-8601; Java's ``ZonedDateTime.toString()`` (a new Java lease) adds the zone id: ``…Z[UTC]``."""


def format_timestamp(epoch_seconds: float) -> str:
    """The .NET form, seven fractional digits and ``Z``."""
    whole = int(epoch_seconds // 1)
    ticks = round((epoch_seconds - whole) * 10_000_000)
    if ticks >= 10_000_000:
        whole, ticks = whole + 1, 0
    stamp = (_EPOCH + dt.timedelta(seconds=whole)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ticks:07d}Z"


def parse_timestamp(value: object) -> float | None:
    """Epoch seconds from an ISO-8601 timestamp (None for anything else). No zone means UTC."""
    if not isinstance(value, str):
        return None
    match = _TS.match(value.strip())
    if match is None:
        return None
    base = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    zone = match.group(3)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        base -= sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    fraction = match.group(2) or ""
    return (base - _EPOCH).total_seconds() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


# ---------------------------------------------------------------------------------------------------
# The lease


@attrs.define
class Lease:
    """One lease document, as read (``etag`` is its ``_etag``; ``server_ts`` its ``_ts``)."""

    id: str
    token: str
    version: int = 0
    feed_range: FeedRange | None = None
    owner: str | None = None
    continuation: str | None = None
    """As stored: a raw etag, or (Java EPK leases) a base64 ChangeFeedStateV1."""
    timestamp: float | None = None
    properties: dict[str, str] = attrs.field(factory=dict)
    mode: str | None = None
    etag: str | None = None
    server_ts: int = 0
    partition_key: str | None = None
    legacy_partition_id: bool = False
    extra: dict[str, Any] = attrs.field(factory=dict)
    form: str = DOTNET
    """The SDK layout the document keeps when written back: :data:`DOTNET` or :data:`JAVA`."""

    @property
    def is_epk(self) -> bool:
        return self.version == 1

    @property
    def is_java_epk(self) -> bool:
        return self.form == JAVA

    @property
    def last_updated(self) -> float:
        """The explicit ``timestamp``, else the server's ``_ts`` (as the SDKs do)."""
        return self.timestamp if self.timestamp is not None else float(self.server_ts)

    def is_expired(self, now: float, expiration: float) -> bool:
        return self.last_updated + expiration < now

    def is_available(self, now: float, expiration: float) -> bool:
        """Free to take: no owner, or the owner has not renewed it within ``expiration`` seconds."""
        return not (self.owner and self.owner.strip()) or self.is_expired(now, expiration)

    @property
    def etag_continuation(self) -> str | None:
        """The change feed etag to resume from (None: the processor's start point)."""
        if self.continuation is None or self.continuation == "":
            return None
        state = java_state(self.continuation)
        if state is not None:
            return java_etag(state[0])
        return self.continuation

    @property
    def container_rid(self) -> str:
        """The monitored container's rid: the last ``_`` part of the lease prefix."""
        return self.id.rsplit(SEPARATOR, 1)[0].rsplit("_", 1)[-1]

    def with_etag_continuation(self, etag: str) -> str:
        """The ``ContinuationToken`` value that records ``etag``, in this lease's own form."""
        if java_state(self.continuation) is not None:
            return java_with_etag(self.continuation or "", etag)
        if self.form != JAVA:
            return etag
        interval = self.feed_range or FeedRange.full()
        return java_fresh_state(self.container_rid, self.mode, interval.min, interval.max, etag)

    def child_continuation(self, child: FeedRange, etag: str | None) -> str | None:
        """The continuation of a lease over ``child`` that replaces this one after a split, resuming
        from ``etag`` (this lease's last safe position), in this lease's form."""
        if java_state(self.continuation) is not None:
            return java_child_state(self.continuation or "", child.min, child.max, etag)
        if self.form != JAVA:
            return etag
        if etag is None:
            return None  # as Java does: the parent had no continuation, nor has the child
        return java_fresh_state(self.container_rid, self.mode, child.min, child.max, etag)

    def to_document(self) -> dict[str, Any]:
        """The lease document to write, field by field as the SDK of its :attr:`form` writes it."""
        if self.form == JAVA:
            return self._java_document()
        doc: dict[str, Any] = {"id": self.id}
        if self.partition_key is not None:
            doc["partitionKey"] = self.partition_key
        doc["version"] = self.version
        doc["LeaseToken"] = self.token
        if self.legacy_partition_id:
            doc["PartitionId"] = self.token
        if self.feed_range is not None:
            doc["FeedRange"] = {"Range": {"min": self.feed_range.min, "max": self.feed_range.max}}
        doc["Owner"] = self.owner
        doc["ContinuationToken"] = self.continuation
        doc["timestamp"] = format_timestamp(self.timestamp) if self.timestamp is not None else None
        doc["properties"] = dict(self.properties)
        if self.mode is not None:
            doc["Mode"] = self.mode
        for key, value in self.extra.items():
            doc.setdefault(key, value)
        return doc

    def _java_document(self) -> dict[str, Any]:
        """``ServiceItemLeaseV1JsonSerializer``'s fields in its order (``_etag`` is the server's)."""
        interval = self.feed_range or FeedRange.full()
        doc: dict[str, Any] = {"id": self.id}
        if self.partition_key is not None:
            doc["partitionKey"] = self.partition_key
        doc["LeaseToken"] = self.token
        doc["ContinuationToken"] = self.continuation
        doc["timestamp"] = java_timestamp(self.timestamp) if self.timestamp is not None else None
        doc["Owner"] = self.owner
        doc["version"] = self.version
        doc["feedRange"] = java_document_range(interval.min, interval.max)
        for key, value in self.extra.items():
            doc.setdefault(key, value)
        return doc


def _feed_range(value: object) -> FeedRange | None:
    if not isinstance(value, Mapping):
        return None
    inner = value.get("Range")
    if not isinstance(inner, Mapping) or not isinstance(inner.get("min"), str) or not isinstance(inner.get("max"), str):
        return None
    return FeedRange(inner["min"].upper(), inner["max"].upper())


def parse_lease(doc: Mapping[str, Any]) -> Lease:
    """A lease from its document (any of the three forms); ValidationError if it is not a lease."""
    lease_doc_id = doc.get("id")
    if not isinstance(lease_doc_id, str):
        raise ValidationError(f"a lease document needs a string id, got {doc!r:.200}")
    version = doc.get("version", 0)
    if version not in (0, 1):
        raise ValidationError(f"lease {lease_doc_id!r} has version {version!r}; only 0 and 1 are known")
    token = doc.get("LeaseToken")
    legacy = False
    if not isinstance(token, str) or not token:
        token = doc.get("PartitionId")
        legacy = isinstance(token, str) and bool(token)
    java_range = "feedRange" in doc and "FeedRange" not in doc
    feed_range = _feed_range(doc.get("feedRange") if java_range else doc.get("FeedRange"))
    if (not isinstance(token, str) or not token) and version == 1 and feed_range is not None:
        token = f"{feed_range.min}-{feed_range.max}"
    if not isinstance(token, str) or not token:
        raise ValidationError(f"lease {lease_doc_id!r} has no LeaseToken")
    if version == 1 and feed_range is None:
        raise ValidationError(f"EPK lease {lease_doc_id!r} has no FeedRange")
    owner = doc.get("Owner")
    continuation = doc.get("ContinuationToken")
    java = version == 1 and (java_range or java_state(continuation if isinstance(continuation, str) else None))
    properties = doc.get("properties")
    ts = doc.get("_ts")
    mode = doc.get("Mode")
    return Lease(
        id=lease_doc_id,
        token=token,
        version=int(version),
        feed_range=feed_range,
        owner=owner if isinstance(owner, str) else None,
        continuation=continuation if isinstance(continuation, str) else None,
        timestamp=parse_timestamp(doc.get("timestamp")),
        properties={str(k): str(v) for k, v in properties.items()} if isinstance(properties, Mapping) else {},
        mode=mode if isinstance(mode, str) else None,
        etag=doc.get("_etag") if isinstance(doc.get("_etag"), str) else None,
        server_ts=int(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else 0,
        partition_key=doc.get("partitionKey") if isinstance(doc.get("partitionKey"), str) else None,
        legacy_partition_id=legacy and not isinstance(doc.get("LeaseToken"), str),
        extra={k: v for k, v in doc.items() if k not in _KNOWN and k not in _SYSTEM},
        form=JAVA if java else DOTNET,
    )


def mode_of(value: str | None) -> str | None:
    """The change feed mode a lease's ``Mode`` names (None: not recorded)."""
    if value is None:
        return None
    lowered = value.replace("-", "").replace(" ", "").lower()
    if lowered in ("incrementalfeed", "incremental", "latestversion"):
        return "LatestVersion"
    if lowered in ("fullfidelityfeed", "fullfidelity", "allversionsanddeletes"):
        return "AllVersionsAndDeletes"
    return value
