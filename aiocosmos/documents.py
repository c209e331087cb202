"""The constants of ``azure.cosmos.documents`` that ported code imports, with azure-cosmos's values.

``from aiocosmos import documents`` replaces ``from azure.cosmos import documents``: the classes hold
plain strings and ints, usable wherever aiocosmos takes the value (``ClientOptions(consistency_level=
documents.ConsistencyLevel.Session)``, ``create_item(..., indexing_directive=documents.IndexingDirective
.Exclude)``, an indexing policy's ``"indexingMode": documents.IndexingMode.Consistent``). azure-cosmos's
classes that hold state (``ConnectionPolicy``, ``DatabaseAccount``) are not offered here.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ConsistencyLevel",
    "DataType",
    "IndexKind",
    "IndexingDirective",
    "IndexingMode",
    "PartitionKind",
    "PermissionMode",
    "TriggerOperation",
    "TriggerType",
]


class ConsistencyLevel:
    """Consistency levels (``ClientOptions.consistency_level`` may only relax the account's)."""

    Strong: Final = "Strong"
    BoundedStaleness: Final = "BoundedStaleness"
    Session: Final = "Session"
    Eventual: Final = "Eventual"
    ConsistentPrefix: Final = "ConsistentPrefix"


class IndexingMode:
    """A container indexing policy's ``indexingMode``."""

    Consistent: Final = "consistent"
    Lazy: Final = "lazy"
    NoIndex: Final = "none"


class IndexingDirective:
    """Per-write indexing (``indexing_directive=``): azure-cosmos's integers. aiocosmos also takes the
    service's names (``"Default"``, ``"Exclude"``, ``"Include"``) and sends the name either way."""

    Default: Final = 0
    Exclude: Final = 1
    Include: Final = 2


class IndexKind:
    """Index kinds of an indexing policy's ``indexes`` (azure-cosmos names)."""

    Hash: Final = "Hash"
    Range: Final = "Range"
    MultiHash: Final = "MultiHash"


class PartitionKind:
    """Partition key kinds: ``Hash`` for one path, ``MultiHash`` for a hierarchical key."""

    Hash: Final = "Hash"
    MultiHash: Final = "MultiHash"


class DataType:
    """Data types of an indexing policy's index entries and spatial indexes."""

    Number: Final = "Number"
    String: Final = "String"
    Point: Final = "Point"
    LineString: Final = "LineString"
    Polygon: Final = "Polygon"
    MultiPolygon: Final = "MultiPolygon"


class PermissionMode:
    """What a permission grants on its resource: nothing, reads, or everything."""

    NoneMode: Final = "none"
    Read: Final = "read"
    All: Final = "all"


class TriggerType:
    """When a trigger runs: before (``pre``) or after (``post``) the operation."""

    Pre: Final = "pre"
    Post: Final = "post"


class TriggerOperation:
    """The operations a trigger runs for."""

    All: Final = "all"
    Create: Final = "create"
    Update: Final = "update"
    Delete: Final = "delete"
    Replace: Final = "replace"
