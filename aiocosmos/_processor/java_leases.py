"""The Java v4 SDK's EPK lease form (``epkversion.ServiceItemLeaseV1``), read and written as Java does.

Java's EPK lease differs from .NET's (``DocumentServiceLeaseCoreEpk``) in three ways that matter to a
Java host reading what we wrote:

* the range is ``feedRange`` (lower-case ``f``) = ``{"Range": {"min", "max", "isMinInclusive": true,
  "isMaxInclusive": false}}``; Java's reader does not see .NET's ``FeedRange``;
* ``ContinuationToken`` is a base64 ``ChangeFeedStateV1`` JSON document (URL-safe alphabet, padded)
  whose ``Continuation.Continuation`` holds the raw change feed etag per sub-range; Java cannot read a
  bare etag there;
* Java's serializer writes only ``id``, ``LeaseToken``, ``ContinuationToken``, ``timestamp``
  (``Instant.toString()``), ``Owner``, ``version`` and ``feedRange``: no ``properties``, no ``Mode``.

A child lease after a split (Java's ``FeedRangeGoneSplitHandler``) copies its parent's state and
narrows its continuation to the child's range, keeping the parent's etag.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Final

from ..exceptions import ValidationError

__all__ = [
    "java_child_state",
    "java_document_range",
    "java_etag",
    "java_fresh_state",
    "java_state",
    "java_timestamp",
    "java_with_etag",
]

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
JAVA_MODES: Final = {"Full-Fidelity Feed": "FULL_FIDELITY"}
"""The ``Mode`` of a ChangeFeedStateV1 for a lease-store mode; anything else is ``INCREMENTAL``."""


def _b64decode(text: str) -> tuple[dict[str, Any], bool] | None:
    """(the JSON object, whether it was URL-safe base64) or None when ``text`` is not one."""
    for urlsafe in (False, True):
        try:
            if urlsafe:
                raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            else:
                raw = base64.b64decode(text, validate=True)
            value = json.loads(raw)
        except (binascii.Error, ValueError, UnicodeError):
            continue
        if isinstance(value, dict):
            return value, urlsafe
    return None


def _encode(state: Mapping[str, Any], urlsafe: bool) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode("ascii")


def _tokens(state: Mapping[str, Any]) -> list[Any] | None:
    inner = state.get("Continuation")
    tokens = inner.get("Continuation") if isinstance(inner, Mapping) else None
    return tokens if isinstance(tokens, list) else None


def java_state(continuation: str | None) -> tuple[dict[str, Any], bool] | None:
    """The decoded ``ChangeFeedStateV1`` of a Java EPK lease's continuation (and whether it was
    URL-safe base64), or None when ``continuation`` is not one."""
    if not continuation or continuation.startswith('"'):
        return None
    decoded = _b64decode(continuation)
    if decoded is None or decoded[0].get("V") != 1 or not isinstance(decoded[0].get("Rid"), str):
        return None
    return decoded


def java_etag(state: Mapping[str, Any]) -> str | None:
    """The etag a state resumes from (None: its start point, no continuation yet)."""
    tokens = _tokens(state)
    if not tokens:
        return None
    if len(tokens) != 1 or not isinstance(tokens[0], Mapping):
        # A Java lease continuation covers its lease's one range; several sub-ranges are not read here.
        raise ValidationError(f"a Java EPK lease continuation with {len(tokens)} sub-ranges is not supported")
    token = tokens[0].get("token")
    return token if isinstance(token, str) and token else None


def _range(low: str, high: str) -> dict[str, Any]:
    return {"min": low, "max": high, "isMinInclusive": True, "isMaxInclusive": False}


def java_document_range(low: str, high: str) -> dict[str, Any]:
    """The ``feedRange`` value of a Java EPK lease (``FeedRangeEpkImpl`` as Java serializes it)."""
    return {"Range": _range(low, high)}


def _narrowed(state: dict[str, Any], low: str, high: str, etag: str | None) -> dict[str, Any]:
    """``state`` with its continuation set to one token over [low, high) (Java's
    ``FeedRangeContinuation.create`` + ``replaceContinuation``)."""
    copy: dict[str, Any] = json.loads(json.dumps(state))
    inner = copy.get("Continuation")
    if not isinstance(inner, dict):
        inner = {"V": 1, "Rid": copy["Rid"]}
        copy["Continuation"] = inner
        copy.pop("Range", None)  # Java writes the top-level Range only when there is no continuation
    inner["Continuation"] = [{"token": etag, "range": {"min": low, "max": high}}]
    inner["Range"] = _range(low, high)
    return copy


def java_with_etag(continuation: str, etag: str) -> str:
    """A Java lease's continuation that resumes from ``etag``, the rest of its state kept."""
    decoded = java_state(continuation)
    if decoded is None:
        raise ValidationError("not a Java ChangeFeedStateV1 continuation")
    state, urlsafe = decoded
    tokens = _tokens(state)
    if tokens and len(tokens) == 1 and isinstance(tokens[0], dict):
        updated: dict[str, Any] = json.loads(json.dumps(state))
        updated["Continuation"]["Continuation"][0]["token"] = etag
        return _encode(updated, urlsafe)
    inner = state.get("Range")
    bounds: Mapping[str, Any] = inner if isinstance(inner, Mapping) else {}
    low, high = str(bounds.get("min", "")), str(bounds.get("max", "FF"))
    return _encode(_narrowed(state, low, high, etag), urlsafe)


def java_child_state(parent: str, low: str, high: str, etag: str | None) -> str:
    """The continuation of a child lease over [low, high): the parent's state narrowed to the child,
    resuming from ``etag`` (the parent's last safe position)."""
    decoded = java_state(parent)
    if decoded is None:
        raise ValidationError("not a Java ChangeFeedStateV1 continuation")
    state, urlsafe = decoded
    return _encode(_narrowed(state, low, high, etag), urlsafe)


def java_fresh_state(container_rid: str, mode: str | None, low: str, high: str, etag: str) -> str:
    """A complete ChangeFeedStateV1 for a Java lease that had no continuation yet."""
    state = {"V": 1, "Rid": container_rid, "Mode": JAVA_MODES.get(mode or "", "INCREMENTAL"),
             "StartFrom": {"Type": "BEGINNING"}}
    return _encode(_narrowed(state, low, high, etag), True)


def java_timestamp(epoch_seconds: float) -> str:
    """``Instant.toString()``: UTC, ``Z``, the fraction in groups of three digits, none when zero."""
    micros = round(epoch_seconds * 1_000_000)
    whole, fraction = divmod(micros, 1_000_000)
    stamp = (_EPOCH + dt.timedelta(seconds=whole)).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction == 0:
        return stamp + "Z"
    if fraction % 1000 == 0:
        return f"{stamp}.{fraction // 1000:03d}Z"
    return f"{stamp}.{fraction:06d}Z"
