"""Resource ids, links, URL paths and partition-key values: validated before any I/O."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import quote

import attrs

from ..exceptions import ValidationError
from . import codec

__all__ = [
    "MAX_PARTITION_KEY_VALUE_BYTES",
    "check_text",
    "loose_partition_header",
    "validate_id",
    "quote_id",
    "PartitionKey",
    "NonePartitionKeyValue",
    "partition_key_header",
]

_FORBIDDEN: Final = frozenset("/\\?#\t\r\n")
MAX_ID_BYTES: Final = 1023
MAX_PARTITION_KEY_VALUE_BYTES: Final = 2048
"""The service's limit on a partition-key value (UTF-8 bytes of a string component)."""


def check_text(value: str, what: str) -> bytes:
    """``value`` as UTF-8; a lone surrogate (which UTF-8 cannot carry) raises ValidationError naming it."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"{what} {value!r:.200} holds a lone surrogate ({value[exc.start]!r} at {exc.start}), which is not "
            f"valid UTF-8 and cannot be sent"
        ) from None


def validate_id(value: object, what: str) -> str:
    """Return ``value`` if it is a usable id, else raise ValidationError naming it."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}: {value!r}")
    if not value:
        raise ValidationError(f"{what} must not be empty")
    if not _FORBIDDEN.isdisjoint(value):
        bad = sorted(set(value) & _FORBIDDEN)
        raise ValidationError(f"{what} {value!r} contains {bad!r}; ids may not contain / \\ ? # or tab/newline")
    if value[-1] == " ":
        raise ValidationError(f"{what} {value!r} ends with a space, which the service cannot address")
    if not value.isascii():
        check_text(value, what)
    if len(value) > MAX_ID_BYTES // 4 and len(value.encode()) > MAX_ID_BYTES:
        raise ValidationError(f"{what} is {len(value.encode())} bytes; the limit is {MAX_ID_BYTES}")
    return value


def quote_id(value: str) -> str:
    """Percent-encode one path segment (space -> %20, + -> %2B, non-ASCII as UTF-8)."""
    return quote(value, safe="")


class _NonePartitionKeyType:
    """The partition-key value of items that do not have the key property at all."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NonePartitionKeyValue"


NonePartitionKeyValue: Final = _NonePartitionKeyType()
"""Address items whose partition-key property is missing (sent as ``[{}]``); ``None`` means JSON null."""

_UNDEFINED: Final[dict[str, Any]] = {}


def _split_path(path: str) -> tuple[str, ...]:
    """'/a/b' -> ('a', 'b'); quoted segments may contain '/': '/"a/b"/c' -> ('a/b', 'c')."""
    segments: list[str] = []
    i, n = 1, len(path)
    while i < n:
        if path[i] == '"':
            end = path.index('"', i + 1)
            segments.append(path[i + 1 : end])
            i = end + 2
        else:
            end = path.find("/", i)
            end = n if end < 0 else end
            segments.append(path[i:end])
            i = end + 1
    return tuple(segments)


def _check_path(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or len(value) < 2:
        raise ValidationError(f"partition key path must look like '/property', got {value!r}")
    return value


def _paths_converter(value: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (_check_path(value),)
    paths = tuple(_check_path(p) for p in value)
    if not 1 <= len(paths) <= 3:
        raise ValidationError(f"a partition key has 1 to 3 paths, got {len(paths)}")
    return paths


@attrs.frozen(init=False)
class PartitionKey:
    """A container's partition-key definition.

    ``PartitionKey("/customerId")`` is an ordinary hash key; ``PartitionKey(["/tenant", "/user"])`` a
    hierarchical key (``kind="MultiHash"``, up to three levels).
    """

    paths: tuple[str, ...]
    kind: str
    version: int
    _segments: tuple[tuple[str, ...], ...] = attrs.field(eq=False, repr=False)

    def __init__(self, path: str | Sequence[str], kind: str | None = None, version: int = 2) -> None:
        paths = _paths_converter(path)
        if kind is None:
            kind = "MultiHash" if len(paths) > 1 else "Hash"
        if kind not in ("Hash", "MultiHash"):
            raise ValidationError(f"partition key kind must be 'Hash' or 'MultiHash', got {kind!r}")
        if kind == "Hash" and len(paths) != 1:
            raise ValidationError(f"a 'Hash' partition key has exactly one path, got {list(paths)}")
        if version not in (1, 2):
            raise ValidationError(f"partition key version must be 1 or 2, got {version!r}")
        self.__attrs_init__(paths, kind, version, tuple(_split_path(p) for p in paths))

    @property
    def path(self) -> str:
        """The first (for a single key, the only) path."""
        return self.paths[0]

    def to_json(self) -> dict[str, Any]:
        """The definition as the REST API takes it (``paths``, ``kind``, ``version``)."""
        return {"paths": list(self.paths), "kind": self.kind, "version": self.version}

    @classmethod
    def from_json(cls, definition: Any) -> PartitionKey:
        """The partition key of a container definition's ``partitionKey`` object."""
        if not isinstance(definition, dict) or not definition.get("paths"):
            raise ValidationError(f"not a partition key definition: {definition!r}")
        return cls(list(definition["paths"]), definition.get("kind", "Hash"), int(definition.get("version", 1)))

    def header_for(self, value: Any) -> str:
        """The ``x-ms-documentdb-partitionkey`` header for a caller's value, checking its arity."""
        if isinstance(value, list | tuple):
            if len(value) != len(self.paths):
                raise ValidationError(
                    f"partition key value {list(value)!r} has {len(value)} components; this container's "
                    f"key {list(self.paths)} needs exactly {len(self.paths)}"
                )
            return partition_key_header(list(value))
        if len(self.paths) != 1:
            raise ValidationError(
                f"partition key value {value!r} is a single value; this container's hierarchical key "
                f"{list(self.paths)} needs a list of {len(self.paths)} values"
            )
        return partition_key_header([value])

    def header_from_document(self, document: dict[str, Any]) -> str:
        """The partition-key header for a document, read from the document itself."""
        values = []
        for segments in self._segments:
            node: Any = document
            for segment in segments:
                node = node.get(segment, _UNDEFINED) if isinstance(node, dict) else _UNDEFINED
            # Objects and arrays cannot be key values; the service treats them as undefined.
            values.append(_UNDEFINED if isinstance(node, dict | list) else node)
        return partition_key_header(values)


def _check_scalar(value: Any) -> Any:
    if value is NonePartitionKeyValue:
        return _UNDEFINED
    if isinstance(value, str):
        size = len(value) if value.isascii() else len(check_text(value, "partition key value"))
        if size > MAX_PARTITION_KEY_VALUE_BYTES:
            raise ValidationError(
                f"partition key value {value!r:.80} is {size} bytes as UTF-8; the service's limit is "
                f"{MAX_PARTITION_KEY_VALUE_BYTES} bytes"
            )
        return value
    if value is None or isinstance(value, bool | int | float) or value is _UNDEFINED:
        return value
    raise ValidationError(
        f"a partition key value must be str, number, bool, None or NonePartitionKeyValue; got "
        f"{type(value).__name__}: {value!r}"
    )


def partition_key_header(values: list[Any]) -> str:
    """JSON array for ``x-ms-documentdb-partitionkey``; always ASCII (headers must be)."""
    checked = [_check_scalar(v) for v in values]
    data = codec.dumps(checked, what="partition key value")
    if data.isascii():
        return data.decode("ascii")
    return json.dumps(checked, ensure_ascii=True, separators=(",", ":"))


def loose_partition_header(value: Any) -> str:
    """The header for a value whose container definition is not known: checks the value only."""
    return partition_key_header(list(value) if isinstance(value, list | tuple) else [value])
