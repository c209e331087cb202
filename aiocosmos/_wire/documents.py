"""Item bodies, ids, patches, etags and write headers, checked before any I/O.

Every feature that sends items (point operations, batch, bulk, attachments, conflicts, the change
feed) checks them here, so that a bad value fails the same way, naming the value, wherever it enters.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..exceptions import ValidationError
from .models import BUILTIN, ModelSerializer
from .paths import validate_id

__all__ = ["PATCH_OPERATIONS", "SYSTEM_PROPERTIES", "check_document", "check_etag", "check_item_id", "check_patch",
           "same_item", "write_options"]

SYSTEM_PROPERTIES: Final = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"})
"""Properties the service adds to every item; left out when a stored item is compared with a body."""


def same_item(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """Whether ``stored`` (as read back) is the item ``sent`` (as the service parsed it), system
    properties aside: how a replayed create answered 409 tells its own item from someone else's."""
    return {k: v for k, v in stored.items() if k not in SYSTEM_PROPERTIES} == \
        {k: v for k, v in sent.items() if k not in SYSTEM_PROPERTIES}

PATCH_OPERATIONS: Final = frozenset({"add", "set", "replace", "remove", "incr", "move"})
_MAX_PATCH_OPERATIONS: Final = 10


def check_item_id(item: str | Mapping[str, Any]) -> str:
    if isinstance(item, Mapping):
        return validate_id(item.get("id"), "item id")
    return validate_id(item, "item id")


def check_document(body: object, *, auto_id: bool = False, serializer: ModelSerializer | None = None) -> dict[str, Any]:
    """The item as a dict: a dict as it is (the hot path: one type test), any other body (a dataclass, an
    attrs class, a pydantic model, a mapping) through ``serializer`` (models.py)."""
    if not isinstance(body, dict):
        try:
            body = (serializer or BUILTIN).to_document(body)
        except TypeError as exc:
            raise ValidationError(str(exc)) from None
        if not isinstance(body, dict):
            raise ValidationError(f"the serializer turned an item body into {type(body).__name__}, not a dict")
    if "id" not in body:
        if not auto_id:
            raise ValidationError(
                "the item has no 'id' (pass enable_automatic_id_generation=True to have one generated)"
            )
        body = {**body, "id": str(uuid.uuid4())}  # the caller's dict is left untouched
    validate_id(body["id"], "item id")
    return body


def check_patch(operations: object) -> list[dict[str, Any]]:
    if not isinstance(operations, Sequence) or isinstance(operations, str | bytes) or not operations:
        raise ValidationError("patch_operations must be a non-empty list of operations")
    if len(operations) > _MAX_PATCH_OPERATIONS:
        raise ValidationError(
            f"a patch takes at most {_MAX_PATCH_OPERATIONS} operations, got {len(operations)}"
        )
    checked = []
    for operation in operations:
        if not isinstance(operation, Mapping):
            raise ValidationError(f"a patch operation must be a dict, got {operation!r}")
        op, path = operation.get("op"), operation.get("path")
        if op not in PATCH_OPERATIONS:
            raise ValidationError(f"patch op must be one of {sorted(PATCH_OPERATIONS)}, got {op!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValidationError(f"patch path must start with '/', got {path!r} in {dict(operation)!r}")
        if op in ("add", "set", "replace", "incr") and "value" not in operation:
            raise ValidationError(f"patch op {op!r} needs a 'value': {dict(operation)!r}")
        if op == "incr" and (not isinstance(operation["value"], int | float) or isinstance(operation["value"], bool)):
            raise ValidationError(f"patch op 'incr' needs a number, got {operation['value']!r}")
        if op == "move" and not (isinstance(operation.get("from"), str) and operation["from"].startswith("/")):
            raise ValidationError(f"patch op 'move' needs a 'from' path: {dict(operation)!r}")
        checked.append(dict(operation))
    return checked


def check_etag(etag: object) -> str:
    if not isinstance(etag, str) or not etag:
        raise ValidationError(f"etag must be the non-empty string the service returned, got {etag!r}")
    return etag


_INDEXING_DIRECTIVES: Final = {0: "Default", 1: "Exclude", 2: "Include"}
"""azure-cosmos's IndexingDirective integers (aiocosmos.documents) and the names the service takes."""


def write_options(
    indexing_directive: str | int | None,
    pre_trigger_include: str | Sequence[str] | None,
    post_trigger_include: str | Sequence[str] | None,
) -> dict[str, str]:
    headers: dict[str, str] = {}
    if indexing_directive is not None:
        name = _INDEXING_DIRECTIVES.get(indexing_directive) if type(indexing_directive) is int else indexing_directive
        if name not in ("Include", "Exclude", "Default"):
            raise ValidationError(f"indexing_directive must be 'Include', 'Exclude' or 'Default' (or "
                                  f"documents.IndexingDirective's 2, 1, 0), got {indexing_directive!r}")
        headers["x-ms-indexing-directive"] = name
    for header, triggers, what in (
        ("x-ms-documentdb-pre-trigger-include", pre_trigger_include, "pre-trigger id"),
        ("x-ms-documentdb-post-trigger-include", post_trigger_include, "post-trigger id"),
    ):
        if triggers is None:
            continue
        if isinstance(triggers, str | bytes | bytearray) or not isinstance(triggers, Sequence):
            # One id (a str; anything else is refused by validate_id).
            headers[header] = validate_id(triggers, what)
            continue
        # Several ids: sent comma-separated, as azure-cosmos does, so an id in a list may not hold a comma.
        if not triggers:
            raise ValidationError(f"{what}s: the list is empty (pass None for no trigger)")
        for trigger in triggers:
            if "," in validate_id(trigger, what):
                raise ValidationError(f"{what} {trigger!r} contains ',', which separates the ids of a list")
        headers[header] = ",".join(triggers)
    return headers
