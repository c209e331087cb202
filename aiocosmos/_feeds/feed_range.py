"""FeedRange: a range of the effective-partition-key space, in azure-cosmos's dict form.

A FeedRange *is* the dict azure-cosmos hands out and takes (``{"Range": {"min", "max", "isMinInclusive",
"isMaxInclusive"}}``), so code that ``json.dumps`` a feed range, stores it or compares it with a dict keeps
working; it is also immutable and hashable, with typed ``min``/``max`` and the range arithmetic.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from .._wire.session_tokens import merge_session_tokens
from ..exceptions import ValidationError
from .epk import MAX_EPK, MIN_EPK, add_to_epk

__all__ = ["FeedRange", "latest_session_token"]


def _check_epk(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"feed range {what} must be a hex string, got {value!r}")
    upper = value.upper()
    if len(upper) % 2 or (upper and not all(c in "0123456789ABCDEF" for c in upper)):
        raise ValidationError(f"feed range {what} must be an even-length hex string, got {value!r}")
    return upper


def _immutable(*_: object, **__: object) -> NoReturn:
    """Refused: a FeedRange is immutable (it is a dict only so that it serializes as the service's)."""
    raise TypeError("a FeedRange is immutable; make a new one (FeedRange(min, max, ...))")


class _Bounds(dict[str, Any]):
    """The inner ``"Range"`` dict: read-only too, so the FeedRange it belongs to cannot drift."""

    __slots__ = ()
    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _immutable


class FeedRange(dict[str, Any]):
    """A range of the effective-partition-key space, e.g. one physical partition's or one partition
    key value's: the azure-cosmos dict itself (``json.dumps``-able, equal to that dict), immutable and
    hashable. ``to_string()`` is the base64 string form older azure-cosmos releases used;
    ``FeedRange.from_json`` accepts either form (or a FeedRange).
    """

    __slots__ = ("is_max_inclusive", "is_min_inclusive", "max", "min")
    min: str
    max: str
    is_min_inclusive: bool
    is_max_inclusive: bool

    def __init__(self, min: str, max: str, is_min_inclusive: bool = True, is_max_inclusive: bool = False) -> None:
        low, high = _check_epk(min, "min"), _check_epk(max, "max")
        for name, value in (("min", low), ("max", high), ("is_min_inclusive", is_min_inclusive),
                            ("is_max_inclusive", is_max_inclusive)):
            object.__setattr__(self, name, value)
        dict.__init__(self, Range=_Bounds(min=low, max=high, isMinInclusive=is_min_inclusive,
                                          isMaxInclusive=is_max_inclusive))

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _immutable

    def __setattr__(self, name: str, value: object) -> NoReturn:
        _immutable()

    def __delattr__(self, name: str) -> NoReturn:
        _immutable()

    def __hash__(self) -> int:  # type: ignore[override]  # dict is unhashable; an immutable range is not
        return hash((self.min, self.max, self.is_min_inclusive, self.is_max_inclusive))

    def __reduce__(self) -> tuple[Any, ...]:
        return FeedRange, (self.min, self.max, self.is_min_inclusive, self.is_max_inclusive)

    @classmethod
    def full(cls) -> FeedRange:
        """The whole container: ``["", "FF")``."""
        return cls(MIN_EPK, MAX_EPK)

    def to_dict(self) -> dict[str, Any]:
        """The azure-cosmos form as a plain (mutable) dict."""
        return {"Range": dict(self["Range"])}

    def to_string(self) -> str:
        """The base64 JSON string form (older azure-cosmos releases handed feed ranges out as these)."""
        return base64.b64encode(json.dumps(self).encode()).decode("ascii")

    __str__ = dict.__repr__  # print() shows the dict, as it does for azure-cosmos's feed ranges

    @classmethod
    def from_json(cls, value: object) -> FeedRange:
        """A FeedRange from itself, an azure-cosmos feed-range dict or its base64 string form."""
        if isinstance(value, FeedRange):
            return value
        data = value
        if isinstance(value, str):
            try:
                data = json.loads(base64.b64decode(value.encode("ascii"), validate=True))
            except (binascii.Error, ValueError, UnicodeError):
                raise ValidationError(f"not a feed range string: {value!r:.80}") from None
        inner = data.get("Range") if isinstance(data, Mapping) else None
        if not isinstance(inner, Mapping):
            raise ValidationError(
                f"a feed range is a FeedRange, a dict like {{'Range': {{'min': ..., 'max': ...}}}} or its "
                f"string form; got {value!r:.200}"
            )
        try:
            low, high = inner["min"], inner["max"]
        except KeyError:
            raise ValidationError(f"a feed range needs 'min' and 'max', got {dict(inner)!r:.200}") from None
        min_inclusive = inner.get("isMinInclusive", True)
        max_inclusive = inner.get("isMaxInclusive", False)
        if not isinstance(min_inclusive, bool) or not isinstance(max_inclusive, bool):
            raise ValidationError(f"isMinInclusive and isMaxInclusive must be booleans: {dict(inner)!r:.200}")
        return cls(low, high, min_inclusive, max_inclusive)

    def normalized(self) -> FeedRange:
        """The same range as ``[min, max)`` (inclusive bounds moved by one byte, as the SDKs do)."""
        if self.is_min_inclusive and not self.is_max_inclusive:
            return self
        low = self.min if self.is_min_inclusive else add_to_epk(self.min, -1)
        high = add_to_epk(self.max, 1) if self.is_max_inclusive else self.max
        return FeedRange(low, high)

    def is_subset_of(self, other: FeedRange) -> bool:
        """Whether every EPK of this range is in ``other``."""
        mine, theirs = self.normalized(), other.normalized()
        return theirs.min <= mine.min and mine.max <= theirs.max

    def overlaps(self, other: FeedRange) -> bool:
        """Whether the two ranges share any effective partition key."""
        mine, theirs = self.normalized(), other.normalized()
        return mine.min < theirs.max and theirs.min < mine.max

    def __repr__(self) -> str:
        left = "[" if self.is_min_inclusive else "("
        right = "]" if self.is_max_inclusive else ")"
        return f"FeedRange({left}{self.min!r}, {self.max!r}{right})"


def latest_session_token(pairs: Iterable[tuple[Any, str]], target: Any) -> str:
    """azure-cosmos's ``get_latest_session_token``: of ``(feed range, session token)`` pairs, the tokens of
    the ranges that overlap ``target``, merged (the highest version and LSN per partition key range; a
    compound token when they name several, e.g. after a split). ValueError when none overlaps, as there."""
    wanted = FeedRange.from_json(target)
    merged: str | None = None
    for feed_range, token in pairs:
        if not isinstance(token, str) or not token:
            raise ValidationError(f"a session token must be a non-empty string, got {token!r}")
        if FeedRange.from_json(feed_range).overlaps(wanted):
            merged = token if merged is None else merge_session_tokens(merged, token)
    if merged is None:
        raise ValidationError("There were no overlapping feed ranges with the target.")
    return merged
