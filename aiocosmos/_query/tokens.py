"""The composite continuation of the client-side pipeline: per EPK range its backend continuation
and last consumed ORDER BY row, plus the DISTINCT/OFFSET/TOP/GROUP BY counters (``aq2:`` + JSON).

For ORDER BY, a range's entry holds the continuation of the backend page it is consuming (``t``) and
the last row consumed from it (``l``: its ``orderByItems``, its ``_rid``, and how many rows of that
document with those values were consumed from that page, for JOINs). A resume re-reads the page and
skips up to and including that row (``ordering.resume_index``). ``aq1:`` tokens (which kept no such
count and could not be resumed exactly) are refused."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from .._wire import codec
from ..exceptions import InvalidContinuationToken, PagingError
from .ordering import document_number

__all__ = ["ENGINE_TOKEN_PREFIX", "OLD_ENGINE_TOKEN_PREFIXES", "Last", "Range", "State"]

ENGINE_TOKEN_PREFIX: Final = "aq2:"
OLD_ENGINE_TOKEN_PREFIXES: Final = ("aq1:",)


class Last:
    """The last row consumed from a range (see the module docstring)."""

    __slots__ = ("document", "items", "rid", "skip")

    def __init__(self, items: list[Any], rid: str, document: int, skip: int) -> None:
        self.items = items
        self.rid = rid
        self.document = document
        self.skip = skip


class Range:
    """One EPK range of the query: its backend continuation, whether it is exhausted, the last
    consumed ORDER BY row (``last``: items, ``_rid``, document number, rows of it consumed from the
    current page), whether a resume still has to skip what was consumed (``resuming``), and the rows
    fetched but not consumed yet."""

    __slots__ = ("buffer", "done", "high", "last", "low", "next_token", "pending", "resuming", "token")

    def __init__(self, low: str, high: str, token: str | None, done: bool = False,
                 last: Last | None = None, resuming: bool = False) -> None:
        self.low = low
        self.high = high
        self.token = token  # the continuation that produced the rows in `buffer` (what a resume re-reads)
        self.next_token: str | None = token
        self.done = done
        self.last = last
        self.resuming = resuming
        self.buffer: list[Any] = []
        self.pending: asyncio.Task[tuple[list[Any], str | None, list[Range] | None]] | None = None

    def child(self, low: str, high: str) -> Range:
        """A part of this range (after a split), from the continuation of its next page."""
        last = self.last
        if last is not None:  # each part counts its own skip (a resumed one: what is left to skip)
            last = Last(last.items, last.rid, last.document, last.skip if self.resuming else 0)
        return Range(low, high, self.next_token, False, last, self.resuming)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"a": self.low, "b": self.high}
        if self.token is not None:
            data["t"] = self.token
        if self.done and not self.buffer:
            data["d"] = 1
        if self.last is not None:
            data["l"] = [self.last.items, self.last.rid, self.last.skip]
        return data


class State:
    __slots__ = ("distinct_last", "distinct_seen", "groups_done", "page_size", "passed", "ranges")

    def __init__(self, ranges: list[Range], page_size: int) -> None:
        self.ranges = ranges
        self.page_size = page_size
        self.passed = 0  # rows that came out of DISTINCT (OFFSET/TOP/LIMIT count these)
        self.distinct_last: str | None = None
        self.distinct_seen: set[str] = set()
        self.groups_done = 0  # GROUP BY: groups already taken (a resume recomputes them and skips these)

    def encode(self) -> str:
        data: dict[str, Any] = {"v": 2, "p": self.page_size, "n": self.passed,
                                "r": [r.to_json() for r in self.ranges]}
        if self.distinct_last is not None:
            data["dl"] = self.distinct_last
        if self.distinct_seen:
            data["ds"] = sorted(self.distinct_seen)
        if self.groups_done:
            data["gd"] = self.groups_done
        return ENGINE_TOKEN_PREFIX + codec.dumps(data, what="continuation").decode()

    @classmethod
    def decode(cls, token: str) -> State:
        try:
            data = codec.loads(token[len(ENGINE_TOKEN_PREFIX):].encode())
            if not isinstance(data, dict) or data.get("v") != 2:
                raise ValueError("version")
            ranges = []
            for raw in data["r"]:
                last = raw.get("l")
                if last is not None:
                    items, rid, skip = last
                    if not isinstance(items, list) or not isinstance(skip, int) or skip < 0:
                        raise ValueError("last")
                    last = Last(items, str(rid), document_number(str(rid)), skip)
                ranges.append(Range(str(raw["a"]), str(raw["b"]), raw.get("t"), bool(raw.get("d")), last,
                                    last is not None))
            state = cls(ranges, int(data["p"]))
            state.passed = int(data["n"])
            state.distinct_last = data.get("dl")
            state.distinct_seen = set(data.get("ds") or ())
            state.groups_done = int(data.get("gd") or 0)
        except (ValueError, KeyError, TypeError, IndexError, PagingError) as exc:
            raise InvalidContinuationToken("the query continuation token is damaged") from exc
        return state
