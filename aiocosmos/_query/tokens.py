"""The composite continuation of the client-side pipeline: per EPK range its backend continuation
and last consumed ORDER BY key, plus the DISTINCT/OFFSET/TOP/GROUP BY counters (``aq1:`` + JSON)."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from .._wire import codec
from ..exceptions import InvalidContinuationToken

__all__ = ["ENGINE_TOKEN_PREFIX", "Range", "State"]

ENGINE_TOKEN_PREFIX: Final = "aq1:"


class Range:
    """One EPK range of the query: its backend continuation, whether it is exhausted, the last
    consumed ORDER BY key (``last``), and (streaming) the rows fetched but not consumed yet."""

    __slots__ = ("buffer", "done", "high", "last", "low", "next_token", "pending", "token")

    def __init__(self, low: str, high: str, token: str | None, done: bool = False,
                 last: tuple[list[Any], str] | None = None) -> None:
        self.low = low
        self.high = high
        self.token = token  # the continuation that produced the rows in `buffer` (what a resume re-reads)
        self.next_token: str | None = token
        self.done = done
        self.last = last
        self.buffer: list[Any] = []
        self.pending: asyncio.Task[tuple[list[Any], str | None, list[Range] | None]] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"a": self.low, "b": self.high}
        if self.token is not None:
            data["t"] = self.token
        if self.done and not self.buffer:
            data["d"] = 1
        if self.last is not None:
            data["l"] = [self.last[0], self.last[1]]
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
        data: dict[str, Any] = {"v": 1, "p": self.page_size, "n": self.passed,
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
            if not isinstance(data, dict) or data.get("v") != 1:
                raise ValueError("version")
            ranges = []
            for raw in data["r"]:
                last = raw.get("l")
                ranges.append(Range(str(raw["a"]), str(raw["b"]), raw.get("t"), bool(raw.get("d")),
                                     (list(last[0]), str(last[1])) if last is not None else None))
            state = cls(ranges, int(data["p"]))
            state.passed = int(data["n"])
            state.distinct_last = data.get("dl")
            state.distinct_seen = set(data.get("ds") or ())
            state.groups_done = int(data.get("gd") or 0)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise InvalidContinuationToken("the query continuation token is damaged") from exc
        return state
