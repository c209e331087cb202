"""The operation format transactional batch and bulk share: azure-cosmos operation tuples checked
and encoded as the service's batch JSON, before any I/O (spec §6.6)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Final

from .._wire import codec
from .._wire.documents import check_document, check_etag, check_item_id, check_patch
from ..exceptions import ValidationError

__all__ = [
    "BULK_HEADERS",
    "BatchOperation",
    "MAX_BATCH_OPERATIONS",
    "MAX_BATCH_BYTES",
    "build_batch",
    "encode_operation",
    "source_entries",
    "split_partition_key_option",
]

BatchOperation = tuple[str, Sequence[Any]] | tuple[str, Sequence[Any], Mapping[str, Any]]
"""``(kind, args)`` or ``(kind, args, options)``, as azure-cosmos takes them:

``("create", (item,))``, ``("upsert", (item,))``, ``("read", (id,))``, ``("delete", (id,))``,
``("replace", (id, item))``, ``("patch", (id, patch_operations), {"filter_predicate": "FROM c WHERE ..."})``.
Every kind takes the options ``if_match_etag`` or ``if_none_match_etag``. (``execute_item_batch`` is typed
to take any sequences, so that a list of mixed tuples type-checks as written; each one is checked at run time.)
"""

MAX_BATCH_OPERATIONS: Final = 100
"""The service's limit on operations per transactional batch (spec §6.6, §13)."""
MAX_BATCH_BYTES: Final = 2 * 1024 * 1024
"""The service's limit on a transactional batch request body: 2 MB = 2,097,152 bytes (spec §6.6, §13)."""

BULK_HEADERS: Final[Mapping[str, str]] = {
    "x-ms-cosmos-is-batch-request": "True",
    "x-ms-cosmos-batch-atomic": "False",
    "x-ms-cosmos-batch-continue-on-error": "True",
    "Content-Type": "application/json",
}
"""A bulk request: a non-atomic batch that goes on after a failed operation."""

_KINDS: Final[Mapping[str, str]] = {
    "create": "Create", "upsert": "Upsert", "read": "Read", "delete": "Delete", "replace": "Replace", "patch": "Patch",
}
_SIGNATURES: Final[Mapping[str, str]] = {
    "create": "(item,)", "upsert": "(item,)", "read": "(id,)", "delete": "(id,)",
    "replace": "(id, item)", "patch": "(id, patch_operations)",
}
_ETAG_OPTIONS: Final = frozenset({"if_match_etag", "if_none_match_etag"})
_PATCH_OPTIONS: Final = _ETAG_OPTIONS | {"filter_predicate"}


def build_batch(operations: object) -> tuple[bytes, list[dict[str, Any]], list[tuple[str, str]]]:
    """The JSON body of a batch, its operations as JSON objects, and ``(operationType, id)`` per
    operation; raises ValidationError
    (naming the operation and the value) for anything the service would refuse. No I/O."""
    if isinstance(operations, str | bytes | Mapping) or not isinstance(operations, Sequence):
        raise ValidationError(
            f"batch_operations must be a list of operation tuples, got {type(operations).__name__}"
        )
    if not 1 <= len(operations) <= MAX_BATCH_OPERATIONS:
        raise ValidationError(
            f"a transactional batch takes 1 to {MAX_BATCH_OPERATIONS} operations, got {len(operations)}"
        )
    wire: list[dict[str, Any]] = []
    described: list[tuple[str, str]] = []
    for index, entry in enumerate(operations):
        try:
            operation = encode_operation(entry)
        except ValidationError as exc:
            raise ValidationError(f"batch operation {index}{_label(entry)}: {exc}") from None
        wire.append(operation)
        described.append((operation["operationType"], _operation_id(operation)))
    try:
        data = codec.dumps(wire, what="batch")
    except ValidationError:
        _raise_first_unserialisable(wire, described)
        raise
    if len(data) > MAX_BATCH_BYTES:
        raise ValidationError(
            f"the batch is {len(data)} bytes as JSON; the service limit for a transactional batch "
            f"request is {MAX_BATCH_BYTES} bytes (2 MB)"
        )
    return data, wire, described


def _label(entry: object) -> str:
    if isinstance(entry, tuple | list) and entry and isinstance(entry[0], str):
        return f" ({entry[0]!r})"
    return ""


def _operation_id(operation: Mapping[str, Any]) -> str:
    if "id" in operation:
        return str(operation["id"])
    return str(operation["resourceBody"]["id"])


def encode_operation(entry: object) -> dict[str, Any]:
    """One operation tuple as the wire JSON (key order as azure-cosmos writes it)."""
    if not isinstance(entry, tuple | list) or not 2 <= len(entry) <= 3:
        raise ValidationError(
            "an operation is a tuple (kind, args) or (kind, args, options), e.g. ('read', ('id1',)); "
            f"got {entry!r:.200}"
        )
    kind = entry[0]
    lowered = kind.lower() if isinstance(kind, str) else ""
    operation_type = _KINDS.get(lowered)
    if operation_type is None:
        raise ValidationError(f"unknown operation {kind!r}; the kinds are {', '.join(_KINDS)}")
    args = entry[1]
    arity = 2 if lowered in ("replace", "patch") else 1
    if isinstance(args, str | bytes | Mapping) or not isinstance(args, Sequence) or len(args) != arity:
        hint = " (a string, not a tuple: write ('x',) with the comma)" if isinstance(args, str) else ""
        raise ValidationError(f"{lowered!r} takes the arguments {_SIGNATURES[lowered]}, got {args!r:.200}{hint}")
    options = entry[2] if len(entry) == 3 else {}
    if not isinstance(options, Mapping):
        raise ValidationError(f"the options of an operation must be a dict, got {options!r:.200}")
    allowed = _PATCH_OPTIONS if lowered == "patch" else _ETAG_OPTIONS
    unknown = [name for name in options if name not in allowed]
    if unknown:
        raise ValidationError(f"unknown option(s) {unknown!r} for {lowered!r}; it takes {sorted(allowed)}")

    operation: dict[str, Any] = {"operationType": operation_type}
    if lowered in ("create", "upsert"):
        operation["resourceBody"] = check_document(args[0])
    elif lowered in ("read", "delete"):
        operation["id"] = check_item_id(args[0])
    elif lowered == "replace":
        item_id = check_item_id(args[0])
        document = check_document(args[1])
        if document["id"] != item_id:
            raise ValidationError(f"the item's id {document['id']!r} differs from the id {item_id!r} to replace")
        operation["id"] = item_id
        operation["resourceBody"] = document
    else:  # patch
        operation["id"] = check_item_id(args[0])
        patch: dict[str, Any] = {"operations": check_patch(args[1])}
        predicate = options.get("filter_predicate")
        if predicate is not None:
            if not isinstance(predicate, str) or not predicate.strip():
                raise ValidationError(f"filter_predicate must be a SQL filter string, got {predicate!r}")
            patch["condition"] = predicate
        operation["resourceBody"] = patch
    if_match, if_none_match = options.get("if_match_etag"), options.get("if_none_match_etag")
    if if_match is not None and if_none_match is not None:
        raise ValidationError("give if_match_etag or if_none_match_etag, not both")
    if if_match is not None:
        operation["ifMatch"] = check_etag(if_match)
    elif if_none_match is not None:
        operation["ifNoneMatch"] = check_etag(if_none_match)
    return operation


def _raise_first_unserialisable(wire: list[dict[str, Any]], described: list[tuple[str, str]]) -> None:
    """Error path only: say which operation holds the value JSON cannot carry."""
    for index, operation in enumerate(wire):
        try:
            codec.dumps(operation.get("resourceBody"), what="its body")
        except ValidationError as exc:
            operation_type, item_id = described[index]
            raise ValidationError(f"batch operation {index} ({operation_type} {item_id!r}): {exc}") from None


def split_partition_key_option(entry: object) -> tuple[object, Any, bool]:
    """The operation without its ``partition_key`` option, that value, and whether one was given."""
    if isinstance(entry, tuple | list) and len(entry) == 3 and isinstance(entry[2], Mapping) \
            and "partition_key" in entry[2]:
        options = {k: v for k, v in entry[2].items() if k != "partition_key"}
        return (entry[0], entry[1], options), entry[2]["partition_key"], True
    return entry, None, False


async def source_entries(source: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    """The entries of a sync or async iterable, each pulled only when asked for."""
    if isinstance(source, AsyncIterable):
        async for entry in source:
            yield entry
    else:
        for entry in source:
            yield entry
