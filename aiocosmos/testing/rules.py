"""Which requests get which faults: ``request_kind``, ``ProxyRequest``, ``ProxyRule`` and the
deterministic draws that decide whether a rule fires and which fault it picks."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from multidict import CIMultiDictProxy

from .faults import Fault

__all__ = [
    "REQUEST_KINDS",
    "request_kind",
    "ProxyRequest",
    "Predicate",
    "ProxyRule",
    "choose",
    "draw",
    "derive_activity_id",
]

REQUEST_KINDS: Final = frozenset({"account", "pkranges", "read", "feed", "query", "write", "batch"})


# -- requests --------------------------------------------------------------------------------------


def request_kind(method: str, raw_path: str, headers: Mapping[str, str]) -> str:
    """Classify a Cosmos request: ``account`` (``GET /``), ``pkranges``, ``read`` (GET of one
    resource), ``feed`` (GET of a feed), ``query``, ``batch`` or ``write`` (everything else).
    ``headers`` should be case-insensitive (as aiohttp's are), or use lower-case names."""
    path = raw_path.partition("?")[0].strip("/")
    if not path:
        return "account"
    segments = path.split("/")
    if segments[-1] == "pkranges":
        return "pkranges"
    method = method.upper()
    if method == "POST" and (
        headers.get("x-ms-documentdb-isquery", "").lower() == "true"
        or headers.get("content-type", "").startswith("application/query+json")
    ):
        return "query"
    if method in ("GET", "HEAD"):
        return "read" if len(segments) % 2 == 0 else "feed"
    if method == "POST" and headers.get("x-ms-cosmos-is-batch-request", "").lower() == "true":
        return "batch"
    return "write"


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """What rules (``where=``) and observers see of one proxied request."""

    method: str
    path: str
    """The raw (percent-encoded) path, without the query string."""
    query_string: str
    kind: str
    headers: CIMultiDictProxy[str]
    body: bytes
    attempt: int
    """How many times the proxy has seen a request with this identity, this one included (1 = first)."""
    identity: str = ""
    """Hex digest of what makes a request the same request again (method, path, the headers that
    address it, the body): equal for every attempt of one operation."""

    @property
    def continuation(self) -> str | None:
        """The request's ``x-ms-continuation``, or None."""
        return self.headers.get("x-ms-continuation")


Predicate = Callable[[ProxyRequest], bool]


class ProxyRule:
    """Which requests get which faults; made by ``FaultProxy.add_rule`` (see its arguments)."""

    def __init__(
        self,
        faults: Sequence[Fault],
        *,
        rule_id: int,
        name: str | None = None,
        weights: Sequence[float] | None = None,
        probability: float = 1.0,
        times: int | None = None,
        skip: int = 0,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        path_regex: str | None = None,
        kinds: str | Iterable[str] | None = None,
        continuation: bool | None = None,
        where: Predicate | None = None,
    ) -> None:
        if not faults or not all(isinstance(f, Fault) for f in faults):
            raise ValueError("a rule needs at least one Fault")
        if weights is not None and (len(weights) != len(faults) or any(w < 0 for w in weights) or not sum(weights)):
            raise ValueError("weights must be one non-negative number per fault, not all zero")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {probability!r}")
        if (times is not None and times < 0) or skip < 0:
            raise ValueError("times and skip must be >= 0")
        kind_set = frozenset([kinds] if isinstance(kinds, str) else kinds) if kinds is not None else None
        if kind_set is not None and not kind_set <= REQUEST_KINDS:
            raise ValueError(f"unknown request kinds {sorted(kind_set - REQUEST_KINDS)}; use {sorted(REQUEST_KINDS)}")
        self.id = rule_id
        self.name = name or f"rule{rule_id}"
        self.faults = tuple(faults)
        self._cumulative = _cumulative(weights if weights is not None else [1.0] * len(faults))
        self.probability = probability
        self.times = times
        self.skip = skip
        self.method = method.upper() if method else None
        self.path = path
        self.path_prefix = path_prefix
        self.path_regex = re.compile(path_regex) if path_regex else None
        self.kinds = kind_set
        self.continuation = continuation
        self.where = where
        self.matched = 0
        self.fired = 0
        self.split_containers: set[str] = set()

    def matches(self, request: ProxyRequest) -> bool:
        """Whether the request is one this rule is about (method, path, kind, headers...)."""
        if self.method is not None and request.method != self.method:
            return False
        if self.path is not None and request.path != self.path:
            return False
        if self.path_prefix is not None and not request.path.startswith(self.path_prefix):
            return False
        if self.path_regex is not None and not self.path_regex.search(request.path):
            return False
        if self.kinds is not None and request.kind not in self.kinds:
            return False
        if self.continuation is not None and (request.continuation is not None) != self.continuation:
            return False
        return self.where is None or self.where(request)

    def pick(self, draw: float) -> Fault:
        """The fault for a random ``draw`` in [0, 1), by the faults' weights."""
        for fault, bound in zip(self.faults, self._cumulative, strict=True):
            if draw < bound:
                return fault
        return self.faults[-1]

    def describe(self) -> dict[str, Any]:
        """The rule and its counters (matched, fired) as a plain dict."""
        return {"id": self.id, "name": self.name, "faults": [f.label for f in self.faults],
                "probability": self.probability, "times": self.times, "skip": self.skip,
                "matched": self.matched, "fired": self.fired}

    def __repr__(self) -> str:
        return f"ProxyRule({self.name!r}, faults={[f.label for f in self.faults]}, fired={self.fired})"


def _cumulative(weights: Sequence[float]) -> list[float]:
    total = float(sum(weights))
    bounds, running = [], 0.0
    for weight in weights:
        running += weight / total
        bounds.append(running)
    return bounds



# -- deterministic draws ---------------------------------------------------------------------------


def draw(seed: int, salt: str, identity: bytes, attempt: int) -> float:
    """A number in [0, 1) that depends only on the seed, the salt, the request identity and the attempt."""
    digest = hashlib.blake2b(f"{seed}|{salt}|{attempt}|".encode() + identity, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def derive_activity_id(seed: int, identity: bytes, attempt: int, salt: str) -> str:
    """The activity id of an answer the proxy synthesises, derived like ``draw``."""
    digest = hashlib.blake2b(f"{seed}|activity|{salt}|{attempt}|".encode() + identity,
                             digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def choose(
    rules: Iterable[ProxyRule], info: ProxyRequest, identity: bytes, seed: int
) -> tuple[ProxyRule, Fault] | None:
    """The first rule that matches ``info`` and fires, and the fault it picks (None: no rule fires)."""
    for rule in rules:
        if not rule.matches(info):
            continue
        rule.matched += 1
        if rule.matched <= rule.skip or (rule.times is not None and rule.fired >= rule.times):
            continue
        if rule.probability < 1.0 and draw(seed, f"fire{rule.id}", identity, info.attempt) >= rule.probability:
            continue
        fault = rule.faults[0] if len(rule.faults) == 1 else rule.pick(
            draw(seed, f"pick{rule.id}", identity, info.attempt))
        rule.fired += 1
        return rule, fault
    return None
