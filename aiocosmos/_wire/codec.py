"""The single orjson boundary: every JSON byte the client sends or reads goes through here.

Writes are strict on purpose. Cosmos DB stores JSON numbers as IEEE-754 doubles, so:

* NaN and +/-inf are refused (orjson would silently write them as ``null``);
* integers outside +/-(2**53 - 1) are refused (the service would round them silently);
* datetimes, dataclasses, sets and other non-JSON values are refused rather than turned into strings
  behind the caller's back.
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson

from ..exceptions import ValidationError

__all__ = ["dumps", "dumps_document", "loads", "MAX_DOCUMENT_BYTES"]

MAX_DOCUMENT_BYTES: Final = 2 * 1024 * 1024
"""The service's item size limit (UTF-8 bytes of the JSON); above it the service answers 413."""

_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_STRICT_INTEGER

loads = orjson.loads


def dumps(value: Any, *, what: str = "value") -> bytes:
    """Serialise ``value`` strictly; raise ValidationError naming ``what`` on a non-JSON value."""
    try:
        data = orjson.dumps(value, option=_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        where = _locate(value, "")
        at = f" at {where[0] or '/'} ({where[1]})" if where else ""
        raise ValidationError(f"{what} is not JSON-serialisable{at}: {exc}") from None
    # orjson writes NaN/inf as null; only then can "null" appear where the caller had no None.
    # The byte search is C-speed, so the Python walk runs only for documents that contain null.
    if b"null" in data:
        bad = _locate(value, "")
        if bad is not None:
            raise ValidationError(f"{what} holds a non-finite number (NaN or infinity) at {bad[0] or '/'}")
    return data


def dumps_document(document: Any) -> bytes:
    """Serialise an item body and enforce the service's 2 MB item limit before any I/O."""
    data = dumps(document, what="document")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            f"document is {len(data)} bytes as JSON; the service limit is {MAX_DOCUMENT_BYTES} bytes"
        )
    return data


_MAX_SAFE_INTEGER: Final = 2**53 - 1


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _locate(value: Any, path: str) -> tuple[str, str] | None:
    """(path, description) of the first value strict JSON cannot carry; only runs on error paths."""
    if isinstance(value, str):
        return None if value.isascii() or _utf8(value) else (path, f"string {value!r:.80} with a lone surrogate")
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"non-finite number {value}")
    if isinstance(value, int):
        return None if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER else (path, f"integer {value} beyond 2**53")
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                return path, f"non-string key {key!r}"
            if not (key.isascii() or _utf8(key)):
                return path, f"key {key!r:.80} with a lone surrogate"
            found = _locate(child, f"{path}/{key}")
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, child in enumerate(value):
            found = _locate(child, f"{path}/{index}")
            if found is not None:
                return found
        return None
    return path, f"{type(value).__name__} value {value!r:.80}"
