"""Models in and out: items written as dataclasses, attrs classes or pydantic v2 models, read back as them.

Writing: a plain ``dict`` goes straight to orjson (nothing here runs for it). Any other body is turned into
a dict by the client's :class:`ModelSerializer` (``ClientOptions.serializer``; :class:`BuiltinModels` by
default). Inside any body, values JSON has no type for are written as Cosmos users store them:

* an aware ``datetime``: ISO 8601 in UTC with 7 fractional digits and ``Z`` (``2024-05-01T12:00:00.0000000Z``,
  the service's own ``GetCurrentDateTime()`` form, so strings sort and compare in time order); a naive one
  is refused (its time zone is unknown);
* a ``date``: ``YYYY-MM-DD``; a ``time``: ``HH:MM:SS[.ffffff]``;
* a ``UUID``: its canonical string; a ``Decimal``: its exact digits as a string (a JSON number would become
  a double in the service); an ``Enum``: its value.

Reading with ``model=``: the serializer builds the model from the stored dict. Built in: pydantic models via
``model_validate`` (extra system properties such as ``_rid`` are ignored unless the model forbids them);
dataclasses and attrs classes from their fields, turning ISO strings back into ``datetime``/``date``/
``UUID``/``Decimal`` where the field says so (nested models and lists of them too). pydantic is never imported
here: models are recognised by their methods.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

__all__ = ["BuiltinModels", "ModelSerializer", "encode_value", "is_model_type"]

M = TypeVar("M")


@runtime_checkable
class ModelSerializer(Protocol):
    """How a client turns item bodies that are not dicts into dicts, and stored dicts into ``model=`` types
    (e.g. a msgspec or cattrs adapter)."""

    def to_document(self, value: object) -> dict[str, Any]:
        """The document (a JSON-ready dict) for a model instance."""

    def from_document(self, document: dict[str, Any], model: type[M]) -> M:
        """An instance of ``model`` built from a stored document."""


def _iso_utc(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise TypeError(f"naive datetime {value!r}: give it a time zone (e.g. tzinfo=timezone.utc)")
    utc = value.astimezone(dt.UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"


def encode_value(value: Any) -> Any:
    """orjson's ``default``: only values orjson does not write itself reach here."""
    if isinstance(value, dt.datetime):
        return _iso_utc(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        if value.tzinfo is not None:
            raise TypeError(f"time {value!r} with a time zone: store a datetime instead")
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"non-finite Decimal {value!r}")
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if _is_model(value):
        return BUILTIN.to_document(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _is_pydantic(cls: type) -> bool:
    return callable(getattr(cls, "model_dump", None)) and callable(getattr(cls, "model_validate", None))


def is_model_type(cls: object) -> bool:
    """Whether the built-in serializer knows ``cls``: a dataclass, an attrs class or a pydantic v2 model."""
    return isinstance(cls, type) and (dataclasses.is_dataclass(cls) or attrs.has(cls) or _is_pydantic(cls))


def _is_model(value: object) -> bool:
    return not isinstance(value, type) and is_model_type(type(value))


class BuiltinModels:
    """The default :class:`ModelSerializer`: dataclasses, attrs classes and pydantic v2 models."""

    __slots__ = ()

    def to_document(self, value: object) -> dict[str, Any]:
        cls = type(value)
        if _is_pydantic(cls):
            dumped = value.model_dump(by_alias=True)  # type: ignore[attr-defined]
            return dict(dumped)
        if dataclasses.is_dataclass(cls):
            return {field.name: getattr(value, field.name) for field in dataclasses.fields(cls)}
        if attrs.has(cls):
            return {field.name: getattr(value, field.name) for field in attrs.fields(cls)}
        if isinstance(value, Mapping):
            return dict(value)
        raise TypeError(f"an item body must be a dict, a dataclass, an attrs class or a pydantic model, "
                        f"got {cls.__name__}")

    def from_document(self, document: dict[str, Any], model: type[M]) -> M:
        if _is_pydantic(model):
            return model.model_validate(document)  # type: ignore[attr-defined,no-any-return]
        if dataclasses.is_dataclass(model):
            names = [f.name for f in dataclasses.fields(model) if f.init]
        elif attrs.has(model):
            names = [f.alias or f.name for f in attrs.fields(model) if f.init]
        else:
            raise TypeError(f"model must be a dataclass, an attrs class or a pydantic model, got {model!r}")
        hints = typing.get_type_hints(model)
        values = {name: _decode(document[name], hints.get(name, Any)) for name in names if name in document}
        return typing.cast(M, model(**values))


BUILTIN = BuiltinModels()


def _decode(value: Any, hint: Any) -> Any:
    """``value`` as stored, turned into the field type ``hint`` where JSON had no type for it."""
    if value is None or hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _decode(value, options[0]) if len(options) == 1 else value
    if origin in (list, tuple, set, frozenset) and isinstance(value, list):
        args = typing.get_args(hint)
        item = args[0] if args else Any
        decoded = [_decode(v, item) for v in value]
        return decoded if origin is list else origin(decoded)
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(hint)
        return {k: _decode(v, args[1] if len(args) == 2 else Any) for k, v in value.items()}
    if not isinstance(hint, type):
        return value
    if isinstance(value, str):
        if issubclass(hint, dt.datetime):
            return dt.datetime.fromisoformat(value)  # 3.11+: "Z" and 7 fractional digits (the 7th dropped)
        if issubclass(hint, dt.date):
            return dt.date.fromisoformat(value)
        if issubclass(hint, dt.time):
            return dt.time.fromisoformat(value)
        if issubclass(hint, uuid.UUID):
            return uuid.UUID(value)
        if issubclass(hint, Decimal):
            return Decimal(value)
    if issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(value, dict) and is_model_type(hint):
        return BUILTIN.from_document(value, hint)
    return value
