"""Change feed positions: the start point, the scope (container, feed range or partition key), the
per-sub-range etags, and the ``acf1.`` continuation token that carries them (decoded and checked
before any I/O)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import zlib
from email.utils import formatdate
from typing import Final

import attrs

from .._wire import codec
from ..exceptions import InvalidContinuationToken, ValidationError
from .routing import FeedRange

__all__ = ["BEGINNING", "CHANGE_FEED_MODES", "NOW", "FeedScope", "FeedState", "RangeState", "StartPoint",
           "decode_token", "is_bare_etag", "parse_start_time"]

_PREFIX: Final = "acf1."
BEGINNING: Final = "Beginning"
NOW: Final = "Now"
CHANGE_FEED_MODES: Final = ("LatestVersion", "AllVersionsAndDeletes")


# ---------------------------------------------------------------------------------------------------
# Start point, scope and state


@attrs.frozen
class StartPoint:
    """Where a sub-range that has no etag yet starts: ``Beginning``, ``Now`` or a time (epoch ms)."""

    kind: str
    ms: int = 0

    def to_json(self) -> str | int:
        return self.ms if self.kind == "PointInTime" else self.kind

    @classmethod
    def from_json(cls, value: object) -> StartPoint:
        if value in (BEGINNING, NOW):
            return cls(str(value))
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return cls("PointInTime", value)
        raise ValueError(value)

    def if_modified_since(self) -> str | None:
        if self.kind != "PointInTime":
            return None
        return formatdate(self.ms // 1000, usegmt=True)


def parse_start_time(value: object) -> StartPoint:
    if value is None:
        return StartPoint(NOW)  # azure-cosmos's default
    if isinstance(value, str):
        lowered = value.lower()
        if lowered == "now":
            return StartPoint(NOW)
        if lowered == "beginning":
            return StartPoint(BEGINNING)
    elif isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"start_time {value!r} has no time zone; pass an aware datetime, e.g. "
                "datetime.now(timezone.utc) or dt.replace(tzinfo=timezone.utc)"
            )
        ms = math.floor(value.timestamp() * 1000)
        if ms < 0:
            raise ValidationError(f"start_time {value!r} is before 1970")
        return StartPoint("PointInTime", ms)
    raise ValidationError(f"start_time must be 'Beginning', 'Now' or an aware datetime, got {value!r}")


@attrs.frozen
class FeedScope:
    """What a change feed reads: the container (``c``), one logical partition (``pk``, by its
    header) or one feed range (``r``, normalised to ``[min, max)``)."""

    kind: str
    pk_header: str = ""
    low: str = ""
    high: str = "FF"

    def to_json(self) -> dict[str, str]:
        if self.kind == "pk":
            return {"k": "pk", "h": self.pk_header}
        if self.kind == "r":
            return {"k": "r", "a": self.low, "b": self.high}
        return {"k": "c"}

    @classmethod
    def from_json(cls, value: object) -> FeedScope:
        if not isinstance(value, dict):
            raise ValueError(value)
        kind = value.get("k")
        if kind == "c":
            return cls("c")
        if kind == "pk" and isinstance(value.get("h"), str):
            return cls("pk", pk_header=value["h"])
        if kind == "r" and isinstance(value.get("a"), str) and isinstance(value.get("b"), str):
            feed_range = FeedRange(value["a"], value["b"])
            return cls("r", low=feed_range.min, high=feed_range.max)
        raise ValueError(value)

    def describe(self) -> str:
        if self.kind == "pk":
            return f"partition key {self.pk_header}"
        if self.kind == "r":
            return f"feed range [{self.low!r}, {self.high!r})"
        return "the whole container"


class RangeState:
    """One EPK sub-range ``[low, high)`` of the feed and its position (``etag``; None: not read yet)."""

    __slots__ = ("caught_up", "etag", "high", "low")

    def __init__(self, low: str, high: str, etag: str | None) -> None:
        self.low = low
        self.high = high
        self.etag = etag
        self.caught_up = False


class FeedState:
    """A feed's position: mutable, owned by one page iterator."""

    __slots__ = ("carried", "cursor", "mode", "ranges", "scope", "start")

    def __init__(
        self, mode: str, scope: FeedScope, start: StartPoint, ranges: list[RangeState], cursor: int = 0
    ) -> None:
        self.mode = mode
        self.scope = scope
        self.start = start
        self.ranges = ranges
        self.cursor = cursor
        self.carried = 0.0

    @classmethod
    def initial(cls, mode: str, scope: FeedScope, start: StartPoint) -> FeedState:
        if scope.kind == "pk":
            return cls(mode, scope, start, [RangeState("", "", None)])
        return cls(mode, scope, start, [RangeState(scope.low, scope.high, None)])

    def encode(self, container_fingerprint: str) -> str:
        payload = codec.dumps({
            "v": 1,
            "m": self.mode,
            "s": self.scope.to_json(),
            "t": self.start.to_json(),
            "r": [[r.low, r.high, r.etag] for r in self.ranges],
            "c": self.cursor,
        })
        encoded = base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")
        return f"{_PREFIX}{container_fingerprint}.{zlib.crc32(payload):08x}.{encoded}"


def _preview(token: object) -> str:
    text = repr(token)
    return text if len(text) <= 60 else text[:57] + "..."


def is_bare_etag(token: object) -> bool:
    """azure-cosmos's v1 continuation: a change feed response's etag (an LSN, maybe quoted) as the token."""
    return isinstance(token, str) and token.strip("'\"").isdigit()


def decode_token(token: object, container_fingerprint: str) -> FeedState:
    """The state a continuation token holds; InvalidContinuationToken for anything else."""
    if not isinstance(token, str) or not token.startswith(_PREFIX):
        raise InvalidContinuationToken(
            f"change feed continuation {_preview(token)} was not issued by aiocosmos (tokens come from "
            "Page.continuation or the page iterator's .continuation of query_items_change_feed/watch_changes)"
        )
    fingerprint, _, rest = token[len(_PREFIX):].partition(".")
    checksum, _, encoded = rest.partition(".")
    if fingerprint != container_fingerprint:
        raise InvalidContinuationToken(
            f"change feed continuation {_preview(token)} belongs to another container; it cannot resume this one"
        )
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if not payload or f"{zlib.crc32(payload):08x}" != checksum:
            raise ValueError("checksum")
        data = codec.loads(payload)
        if not isinstance(data, dict) or data.get("v") != 1 or data.get("m") not in CHANGE_FEED_MODES:
            raise ValueError("header")
        scope = FeedScope.from_json(data.get("s"))
        start = StartPoint.from_json(data.get("t"))
        ranges = _decode_ranges(data.get("r"), scope)
        cursor = data.get("c")
        if not isinstance(cursor, int) or isinstance(cursor, bool) or not 0 <= cursor < len(ranges):
            raise ValueError("cursor")
    except (ValueError, TypeError, binascii.Error, ValidationError):
        raise InvalidContinuationToken(
            f"change feed continuation {_preview(token)} is damaged (truncated or edited)"
        ) from None
    return FeedState(str(data["m"]), scope, start, ranges, cursor)


def _decode_ranges(raw: object, scope: FeedScope) -> list[RangeState]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("ranges")
    ranges = []
    for entry in raw:
        if not isinstance(entry, list) or len(entry) != 3:
            raise ValueError("range")
        low, high, etag = entry
        if not isinstance(low, str) or not isinstance(high, str) or not (etag is None or isinstance(etag, str)):
            raise ValueError("range")
        ranges.append(RangeState(low, high, etag))
    if scope.kind == "pk":
        if len(ranges) != 1:
            raise ValueError("pk ranges")
        return ranges
    # The sub-ranges tile the scope exactly, in order.
    expected = scope.low
    for r in ranges:
        FeedRange(r.low, r.high)  # hex check
        if r.low != expected or not r.low < r.high:
            raise ValueError("tiling")
        expected = r.high
    if expected != scope.high:
        raise ValueError("tiling")
    return ranges
