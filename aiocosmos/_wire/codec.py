"""The single orjson boundary: every JSON byte the client sends or reads goes through here.

Writes are strict on purpose. Cosmos DB stores JSON numbers as IEEE-754 doubles, so:

* NaN and +/-inf are refused (orjson would silently write them as ``null``);
* an integer beyond +/-2**53 is refused when the service would change it (:func:`returned_as`): the
  service keeps the nearest double and writes it back in its shortest round-trip form, so
  637268054321234567 comes back as 637268054321234600. An integer that is already in that form (every
  integer the service returns is) comes back unchanged and is sent as it is;
* values JSON has no type for are written as Cosmos users store them (models.py: aware datetimes as ISO 8601
  UTC, dates, UUIDs, Decimals as exact strings, enums, nested dataclass/attrs/pydantic models); a naive
  datetime, a set and anything else are refused, naming where they are. orjson asks ``encode_value`` only
  for such values, so a plain JSON document costs nothing more.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any, Final

import orjson

from ..exceptions import ValidationError
from .models import BUILTIN, encode_value, is_model_type

__all__ = ["dumps", "dumps_document", "loads", "returned_as", "MAX_DOCUMENT_BYTES"]

MAX_DOCUMENT_BYTES: Final = 2 * 1024 * 1024
"""The service's item size limit (UTF-8 bytes of the JSON); above it the service answers 413."""

_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_STRICT_INTEGER
_WIDE_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

loads = orjson.loads


def dumps(value: Any, *, what: str = "value") -> bytes:
    """Serialise ``value`` strictly; raise ValidationError naming ``what`` on a non-JSON value."""
    try:
        data = orjson.dumps(value, default=encode_value, option=_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        where = _locate(value, "")
        if where is None:  # only integers beyond 2**53 that the service returns unchanged: send them
            try:
                data = orjson.dumps(_widen(value), default=encode_value, option=_WIDE_OPTIONS)
            except TypeError as wide:  # e.g. nesting deeper than orjson allows
                raise ValidationError(f"{what} is not JSON-serialisable: {wide}") from None
        elif where[1].startswith("integer "):
            raise ValidationError(f"{what} holds at {where[0] or '/'} an {where[1]}") from None
        else:
            raise ValidationError(f"{what} is not JSON-serialisable at {where[0] or '/'} ({where[1]}): {exc}") \
                from None
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
_INT64_MIN: Final = -(2**63)
_UINT64_MAX: Final = 2**64 - 1


def returned_as(value: int) -> int | float | None:
    """What reading back the integer ``value`` gives once the service stored it (None: no double
    holds it, beyond ~1.8e308).

    The service parses a JSON number into the nearest double and writes it back in the shortest form
    that parses to the same double (as JavaScript and .NET print numbers): digits and trailing zeros.
    ``loads`` reads that as an int within the 64-bit range, as a float beyond. So an integer beyond
    2**53 comes back equal when it is already in that shortest form (every integer the service
    returns is), or, beyond 64 bits, when a double holds it exactly (it comes back as that float);
    637268054321234567 comes back as 637268054321234600, and 2**60, though a double holds it, as
    1152921504606847000.
    """
    if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        return value
    try:
        double = float(value)
    except OverflowError:
        return None
    shortest = Decimal(repr(double))  # Python's repr is the shortest round-trip form, as the service's
    return int(shortest) if _INT64_MIN <= shortest <= _UINT64_MAX else double


def _widen(value: Any) -> Any:
    """A copy of ``value`` fit for orjson without its 53-bit check: integers beyond 64 bits (only ones
    the service keeps unchanged get here) become the double they are, which orjson can write."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value) if not _INT64_MIN <= value <= _UINT64_MAX else value
    if isinstance(value, dict):
        return {key: _widen(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [_widen(child) for child in value]
    return value


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
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return None
        becomes = returned_as(value)
        if becomes is None:
            return path, f"integer of {value.bit_length()} bits, beyond 2**53 and beyond the largest double: send it " \
                "as a string"
        if becomes == value:
            return None
        return path, f"integer {value} beyond 2**53, which the service would return as {becomes} (it stores " \
            "numbers as doubles): send the value it would become, or a string"
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
    if isinstance(value, dt.datetime) and (value.tzinfo is None or value.utcoffset() is None):
        return path, f"naive datetime {value!r:.80} (give it a time zone, e.g. tzinfo=timezone.utc)"
    if isinstance(value, Decimal) and not value.is_finite():
        return path, f"non-finite Decimal {value!r}"
    if isinstance(value, dt.time) and value.tzinfo is not None:
        return path, f"time {value!r:.80} with a time zone (store a datetime instead)"
    if isinstance(value, dt.date | dt.time | uuid.UUID | Decimal | Enum):
        return None
    if not isinstance(value, type) and is_model_type(type(value)):
        return _locate(BUILTIN.to_document(value), path)
    return path, f"{type(value).__name__} value {value!r:.80}"
