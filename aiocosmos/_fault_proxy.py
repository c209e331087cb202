"""A fault-injecting reverse proxy for Cosmos DB, scripted per test (re-exported by ``aiocosmos.testing``).

``FaultProxy`` is an ``aiohttp.web`` server on 127.0.0.1 that forwards every request to a real (or
local) Cosmos endpoint byte for byte, signatures untouched, and injects the failures a real account
produces but a local server never does::

    from aiocosmos.testing import Fault, FaultProxy

    async with FaultProxy("http://127.0.0.1:8081", seed=7) as proxy:
        proxy.add_rule(Fault.throttle(retry_after_ms=50), kinds="read", times=2)      # two 429/3200
        proxy.add_rule(Fault.unavailable(apply=True), Fault.reset_after(), kinds="write",
                       probability=0.2)                                               # 20 % of writes
        async with CosmosClient(proxy.url, credential=key) as client:
            ...
        print(proxy.counts())        # what was injected: Counter({"429/3200": 2, "reset_after": 13, ...})

What it can inject (``Fault`` constructors):

* any status answered by the proxy itself, with ``x-ms-substatus``, ``x-ms-retry-after-ms`` and an
  activity id: ``throttle`` (429/3200), ``retry_with`` (449), ``timeout`` (408), ``internal_error``
  (500), ``unavailable`` (503), ``session_not_available`` (404/1002), ``write_forbidden`` (403/3),
  ``gone`` (410 with substatus 1002/1007/1008, optionally with a partition **split**: from then on
  the container's ``pkranges`` answer has more ranges, with ``parents``, a new etag (``If-None-Match``
  with it gives 304), and requests addressed to a parent range id get 410/1002; ``proxy.split()``
  does the same without a 410), and ``status_code(code, ...)`` for anything else. With
  ``apply=True`` the request is forwarded (and applied) first and its answer thrown away, which is
  what a 408 or 503 after a write that did happen looks like;
* connection faults: ``reset_before`` (TCP RST before forwarding: not applied), ``reset_after``
  (forwarded and applied, then RST instead of an answer), ``reset_mid_body`` (headers and half the
  body, then RST), ``truncate`` (``Content-Length`` promises more than is sent, then FIN);
* time: ``slow_headers(delay)`` (applied at once, answered ``delay`` seconds later) and
  ``slow_body(delay, chunks)`` (the body in ``chunks`` pieces, ``delay`` apart);
* pooled keep-alive connections closed by the server: ``close_after`` (answer, then close the now
  idle connection: a client that reuses it before it notices gets a dropped request, which the proxy
  never sees) and ``stale_connection`` (answer; the *next* request on that connection is dropped
  unread: the worst case of that race, made deterministic; logged as ``stale_connection:armed`` on
  the answered request and ``stale_connection`` on the dropped one).

A split only changes what the proxy says about ranges: requests for the new ranges are forwarded as
they are, so a local server with a single range still serves every document from each of them. It
tests that a client refreshes its routing and resumes; it does not divide the data.

A ``RequestUnitBudget`` (``proxy.set_budget(ru_per_second=..., burst=..., charges=...)``) throttles
like a provisioned container: a token bucket refilled at ``ru_per_second`` up to ``burst``; a
request that costs more than is left gets 429/3200 with the ``x-ms-retry-after-ms`` after which the
bucket will hold enough; an admitted one is charged and its ``x-ms-request-charge`` says so. The
default charges are read 1, feed 2, query 3, write 6 and batch 10 RU (the account and ``pkranges`` are
free); a request dearer than the whole burst is admitted into debt once the bucket is full.

Rules are tried in order; the first that matches and fires decides. A rule matches on ``method``,
``path`` (exact raw path), ``path_prefix``, ``path_regex``, request ``kinds`` (``account``,
``pkranges``, ``read``, ``feed``, ``query``, ``write``, ``batch``; see :func:`request_kind`),
``continuation`` (True: only page 2 onwards) and ``where`` (any predicate on a ``ProxyRequest``).
It fires with ``probability``, after ``skip`` matches, at most ``times`` times, and picks among its
faults by ``weights``.

**Determinism.** Whether a rule fires and which fault it picks is a pure function of the seed, the
rule, the request's identity (method, path, body, continuation, partition key and conditional
headers) and how many times the proxy has seen that identity before. The same seed gives the same
faults to the same requests whatever order concurrent requests arrive in, and a retried request gets
a fresh draw. (``skip``/``times`` count in arrival order, and the budget depends on real time.)
Synthesised answers carry activity ids derived the same way.

**The log.** Every injection is recorded in ``proxy.log`` as an :class:`Injection` (what, to which
request, the status the client got, its activity id, whether the upstream applied the request), so
tests can compare what the client saw with what happened (``counts()`` sums it by fault; set
``max_log`` to keep only the latest entries in long runs). The proxy never records or logs request
headers, so no key, token or signature ends up in it; ``observers`` (callables given every
``ProxyRequest``, headers included) are the test's own code.

``GET /`` is rewritten so every ``databaseAccountEndpoint`` points at the proxy, or clients that do
endpoint discovery would go around it. ``proxy.account_rewriter`` (a callable given the account
document, returning the one to send) then lets a test present a multi-region account: several
proxies on distinct ports, each answering with region lists that point at the proxies.

**Admin API** (same port, JSON): ``GET /_proxy/log``, ``GET|POST|DELETE /_proxy/rules`` (a rule is
``{"faults": [{"kind": "throttle", "retry_after_ms": 50}], "kinds": ["read"], "probability": 0.2,
"times": 3, ...}`` with the ``add_rule`` argument names), ``PUT|DELETE /_proxy/budget``,
``POST /_proxy/split`` (``{"container": "dbs/db/colls/c", "into": 2}``) and ``POST /_proxy/reset``.
Standalone: ``python -m aiocosmos.testing --upstream http://127.0.0.1:8081 --port 0 --seed 1``
prints ``LISTENING http://127.0.0.1:<port>``.

This is a test utility: it is not imported by the client and never on its request path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import logging
import math
import re
import signal
import socket
import struct
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Final
from urllib.parse import unquote

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = [
    "Fault",
    "FaultProxy",
    "Injection",
    "ProxyRequest",
    "ProxyRule",
    "RequestUnitBudget",
    "REQUEST_KINDS",
    "request_kind",
    "main",
]

_log = logging.getLogger("aiocosmos.testing")

REQUEST_KINDS: Final = frozenset({"account", "pkranges", "read", "feed", "query", "write", "batch"})
_ADMIN: Final = "/_proxy/"
_HOP_BY_HOP: Final = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
    "host", "content-length",
})
_IDENTITY_HEADERS: Final = (
    "x-ms-continuation", "x-ms-documentdb-partitionkey", "x-ms-documentdb-partitionkeyrangeid",
    "x-ms-documentdb-is-upsert", "if-match", "if-none-match", "a-im",
)
_PKRANGE_HEADER: Final = "x-ms-documentdb-partitionkeyrangeid"
_SINGLE_RANGE: Final[list[Any]] = [{"id": "0", "minInclusive": "", "maxExclusive": "FF"}]
_CONTAINER_PATH: Final = re.compile(r"^/dbs/([^/]+)/colls/([^/]+)(?:/|$)")

_REASONS: Final = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 408: "RequestTimeout",
    409: "Conflict", 410: "Gone", 412: "PreconditionFailed", 413: "RequestEntityTooLarge",
    429: "TooManyRequests", 449: "RetryWith", 500: "InternalServerError", 502: "BadGateway",
    503: "ServiceUnavailable", 504: "GatewayTimeout",
}
_MESSAGES: Final[dict[tuple[int, int], str]] = {
    (429, 0): "Request rate is large. More Request Units may be needed, so no changes were made. "
              "Please retry this request later.",
    (449, 0): "Conflicting request to resource has been attempted. Retry to avoid conflicts.",
    (408, 0): "The request timed out before the service could complete it.",
    (500, 0): "An unknown error occurred while processing this request.",
    (503, 0): "The service is currently unavailable. Please retry.",
    (404, 1002): "The read session is not available for the input session token.",
    (403, 3): "The requested operation cannot be performed at this region.",
    (410, 0): "The requested resource is no longer available at the server.",
}


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

    @property
    def continuation(self) -> str | None:
        return self.headers.get("x-ms-continuation")


# -- faults ----------------------------------------------------------------------------------------

_FAULT_KINDS: Final = frozenset({
    "status", "reset_before", "reset_after", "reset_mid_body", "truncate", "slow_headers", "slow_body",
    "close_after", "stale_connection",
})


@dataclass(frozen=True, slots=True)
class Fault:
    """One failure to inject; build it with the class methods (``Fault.throttle()``, ...)."""

    kind: str
    """``status``, ``reset_before``, ``reset_after``, ``reset_mid_body``, ``truncate``, ``slow_headers``,
    ``slow_body``, ``close_after`` or ``stale_connection``."""
    status: int = 0
    sub_status: int | None = None
    retry_after_ms: int | None = None
    message: str | None = None
    apply: bool = False
    """For ``status``: forward (and so apply) the request first, then answer the error instead."""
    delay: float = 0.0
    chunks: int = 4
    split_into: int = 0
    """For ``gone``: split the container's partition key ranges into this many children (0 = no split)."""

    def __post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(_FAULT_KINDS)}")
        if self.kind == "status" and not 100 <= self.status <= 599:
            raise ValueError(f"a status fault needs an HTTP status code, got {self.status!r}")
        if self.delay < 0 or self.chunks < 1 or self.split_into < 0 or self.split_into == 1:
            raise ValueError(f"bad fault parameters: {self!r}")

    # -- constructors ----------------------------------------------------------------------------

    @classmethod
    def status_code(
        cls,
        status: int,
        *,
        sub_status: int | None = None,
        retry_after_ms: int | None = None,
        message: str | None = None,
        apply: bool = False,
    ) -> Fault:
        """Answer ``status`` (with ``x-ms-substatus``/``x-ms-retry-after-ms`` if given) from the proxy."""
        return cls("status", status=status, sub_status=sub_status, retry_after_ms=retry_after_ms,
                   message=message, apply=apply)

    @classmethod
    def throttle(cls, retry_after_ms: int | None = 100, *, sub_status: int = 3200) -> Fault:
        """429 Too Many Requests, substatus 3200, asking to wait ``retry_after_ms``. Never applied."""
        return cls.status_code(429, sub_status=sub_status, retry_after_ms=retry_after_ms)

    @classmethod
    def retry_with(cls) -> Fault:
        """449 Retry With: the service refused to apply the request."""
        return cls.status_code(449)

    @classmethod
    def timeout(cls, *, apply: bool = False) -> Fault:
        """408 Request Timeout (``apply=True``: after the request was applied)."""
        return cls.status_code(408, apply=apply)

    @classmethod
    def internal_error(cls, *, apply: bool = False) -> Fault:
        """500 Internal Server Error (``apply=True``: after the request was applied)."""
        return cls.status_code(500, apply=apply)

    @classmethod
    def unavailable(cls, *, apply: bool = False) -> Fault:
        """503 Service Unavailable (``apply=True``: after the request was applied)."""
        return cls.status_code(503, apply=apply)

    @classmethod
    def session_not_available(cls) -> Fault:
        """404/1002: the replica has not caught up with the request's session token."""
        return cls.status_code(404, sub_status=1002)

    @classmethod
    def write_forbidden(cls) -> Fault:
        """403/3: a write sent to a region that does not take writes."""
        return cls.status_code(403, sub_status=3)

    @classmethod
    def gone(cls, sub_status: int = 1002, *, split_into: int = 0) -> Fault:
        """410 Gone with ``sub_status`` (1002 range gone, 1007 completing split, 1008 completing
        migration). ``split_into=2`` also splits the container's partition key ranges, the first time
        the rule fires for that container."""
        return cls("status", status=410, sub_status=sub_status, split_into=split_into)

    @classmethod
    def reset_before(cls) -> Fault:
        """Read the request, then reset the connection without forwarding it: not applied."""
        return cls("reset_before")

    @classmethod
    def reset_after(cls) -> Fault:
        """Forward the request (so it is applied), then reset the connection instead of answering."""
        return cls("reset_after")

    @classmethod
    def reset_mid_body(cls) -> Fault:
        """Forward, send the headers and half of the body, then reset the connection."""
        return cls("reset_mid_body")

    @classmethod
    def truncate(cls) -> Fault:
        """Forward, promise the whole body in ``Content-Length``, send half of it and close."""
        return cls("truncate")

    @classmethod
    def slow_headers(cls, delay: float) -> Fault:
        """Forward at once (the request is applied), but send the answer ``delay`` seconds later."""
        return cls("slow_headers", delay=delay)

    @classmethod
    def slow_body(cls, delay: float, chunks: int = 4) -> Fault:
        """Send the headers at once and the body in ``chunks`` pieces, ``delay`` seconds apart."""
        return cls("slow_body", delay=delay, chunks=chunks)

    @classmethod
    def close_after(cls) -> Fault:
        """Answer normally, then close the (now idle, pooled) keep-alive connection."""
        return cls("close_after")

    @classmethod
    def stale_connection(cls) -> Fault:
        """Answer normally; the next request on the same connection is dropped unread (and logged)."""
        return cls("stale_connection")

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> Fault:
        """``{"kind": "throttle", "retry_after_ms": 50}``: a constructor name and its arguments."""
        arguments = dict(spec)
        name = arguments.pop("kind", None)
        constructors: dict[str, Callable[..., Fault]] = {
            "status": cls.status_code, "throttle": cls.throttle, "retry_with": cls.retry_with,
            "timeout": cls.timeout, "internal_error": cls.internal_error, "unavailable": cls.unavailable,
            "session_not_available": cls.session_not_available, "write_forbidden": cls.write_forbidden,
            "gone": cls.gone, "reset_before": cls.reset_before, "reset_after": cls.reset_after,
            "reset_mid_body": cls.reset_mid_body, "truncate": cls.truncate, "slow_headers": cls.slow_headers,
            "slow_body": cls.slow_body, "close_after": cls.close_after, "stale_connection": cls.stale_connection,
        }
        if not isinstance(name, str) or name not in constructors:
            raise ValueError(f"unknown fault {name!r}; expected one of {sorted(constructors)}")
        return constructors[name](**arguments)

    # -- description -----------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """A short name for logs and counters: ``"429/3200"``, ``"503/0+applied"``, ``"reset_after"``."""
        if self.kind == "status":
            text = f"{self.status}/{self.sub_status or 0}"
            if self.apply:
                text += "+applied"
            if self.split_into:
                text += f"+split{self.split_into}"
            return text
        return self.kind

    @property
    def applies(self) -> bool:
        """Whether the upstream receives (and so may apply) the request this fault hits."""
        if self.kind == "status":
            return self.apply
        return self.kind != "reset_before"


@dataclass(frozen=True, slots=True)
class Injection:
    """One injected fault, as recorded in ``FaultProxy.log``."""

    seq: int
    rule: str
    fault: str
    """The fault's label (``"429/3200"``, ``"reset_after"``, ``"budget"`` for the RU budget, ...)."""
    kind: str
    """The fault kind (``status``, ``reset_after``, ... ``budget``, ``gone_range``)."""
    method: str
    path: str
    request_kind: str
    attempt: int
    status: int | None
    """The status the client was sent, or None when it got no answer (a connection fault)."""
    sub_status: int | None
    retry_after_ms: int | None
    activity_id: str | None
    applied: bool
    """Whether the upstream received the request (and so may have applied it)."""
    continuation: str | None
    time: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
        for fault, bound in zip(self.faults, self._cumulative, strict=True):
            if draw < bound:
                return fault
        return self.faults[-1]

    def describe(self) -> dict[str, Any]:
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


# -- the request-unit budget -----------------------------------------------------------------------

DEFAULT_CHARGES: Final[Mapping[str, float]] = {
    "read": 1.0, "feed": 2.0, "query": 3.0, "write": 6.0, "batch": 10.0, "account": 0.0, "pkranges": 0.0,
}


class RequestUnitBudget:
    """A token bucket of request units: ``ru_per_second`` refill, ``burst`` capacity (default one
    second's worth), and a charge per request (by kind, or a function of the request)."""

    def __init__(
        self,
        ru_per_second: float,
        *,
        burst: float | None = None,
        charges: Mapping[str, float] | Callable[[ProxyRequest], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ru_per_second > 0:
            raise ValueError(f"ru_per_second must be > 0, got {ru_per_second!r}")
        self.ru_per_second = float(ru_per_second)
        self.burst = float(burst) if burst is not None else self.ru_per_second
        if not self.burst > 0:
            raise ValueError(f"burst must be > 0, got {burst!r}")
        self._charges = charges if charges is not None else DEFAULT_CHARGES
        self._clock = clock
        self.tokens = self.burst
        self._last = clock()
        self.admitted = 0
        self.throttled = 0
        self.charged = 0.0

    def charge_of(self, request: ProxyRequest) -> float:
        if callable(self._charges):
            return float(self._charges(request))
        return float(self._charges.get(request.kind, 0.0))

    def take(self, charge: float) -> int | None:
        """Charge ``charge`` RU and return None, or return the wait in ms before it would fit."""
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._last) * self.ru_per_second)
        self._last = now
        if charge <= 0:
            return None
        if self.tokens >= min(charge, self.burst):
            self.tokens -= charge  # a request dearer than the burst is admitted into debt, as the service does
            self.admitted += 1
            self.charged += charge
            return None
        self.throttled += 1
        return max(1, math.ceil((min(charge, self.burst) - self.tokens) / self.ru_per_second * 1000))


# -- the proxy -------------------------------------------------------------------------------------


_Upstream = tuple[int, CIMultiDict[str], bytes]


class FaultProxy:
    """``async with FaultProxy(upstream_url, seed=1) as proxy:`` then point clients at ``proxy.url``.

    See the module docstring for what it injects; ``add_rule`` for how to script it; ``log`` for
    what it did. ``keepalive_timeout`` is how long an idle client connection is kept open;
    ``shutdown_timeout`` how long ``stop()`` lets answers still in flight (slow ones) finish;
    ``max_log`` bounds the memory of long runs (see the attribute).
    """

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        keepalive_timeout: float = 75.0,
        shutdown_timeout: float = 0.25,
        max_log: int | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self._shutdown_timeout = shutdown_timeout
        self.max_log = max_log
        """Keep only about this many of the latest injections in ``log`` (None: all), for long runs;
        ``counts()`` still covers every injection."""
        self._counts: Counter[str] = Counter()
        self.injected = 0
        """How many faults were injected in all."""
        self.seed = seed
        self.host = host
        self.port = port
        self._keepalive_timeout = keepalive_timeout
        self.rules: list[ProxyRule] = []
        self.log: list[Injection] = []
        self.observers: list[Callable[[ProxyRequest], None]] = []
        """Called with every proxied request (not admin requests) before any fault is applied."""
        self.account_rewriter: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        """Applied to the account document of ``GET /`` after the endpoints point at this proxy."""
        self.budget: RequestUnitBudget | None = None
        self.forwarded = 0
        self.requests = 0
        self._rule_ids = 0
        self._seen: dict[bytes, int] = {}
        self._splits: dict[str, list[int]] = {}  # container link -> split factors, in order
        self._upstream_ranges: dict[str, list[Any]] = {}
        self._stale: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("the fault proxy is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     keepalive_timeout=self._keepalive_timeout,
                                     shutdown_timeout=self._shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def open_connections(self) -> int:
        """Client connections the proxy currently has open (in use or idle in the client's pool)."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    def __repr__(self) -> str:
        where = self.url if self.port else "not started"
        return f"FaultProxy({where} -> {self.upstream}, seed={self.seed}, rules={len(self.rules)})"

    # -- scripting -------------------------------------------------------------------------------

    def add_rule(
        self,
        *faults: Fault,
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
    ) -> ProxyRule:
        """Inject one of ``faults`` (chosen by ``weights``) into matching requests, with ``probability``,
        after ``skip`` matches, at most ``times`` times. Rules are tried in the order they were added."""
        self._rule_ids += 1
        rule = ProxyRule(faults, rule_id=self._rule_ids, name=name, weights=weights, probability=probability,
                         times=times, skip=skip, method=method, path=path, path_prefix=path_prefix,
                         path_regex=path_regex, kinds=kinds, continuation=continuation, where=where)
        self.rules.append(rule)
        return rule

    def remove_rule(self, rule: ProxyRule) -> None:
        self.rules.remove(rule)

    def clear_rules(self) -> None:
        self.rules.clear()

    def set_budget(
        self,
        ru_per_second: float,
        *,
        burst: float | None = None,
        charges: Mapping[str, float] | Callable[[ProxyRequest], float] | None = None,
    ) -> RequestUnitBudget:
        """Throttle like a container provisioned with ``ru_per_second`` (see RequestUnitBudget)."""
        self.budget = RequestUnitBudget(ru_per_second, burst=burst, charges=charges)
        return self.budget

    def clear_budget(self) -> None:
        self.budget = None

    def split(self, container_link: str, into: int = 2) -> None:
        """Split every current partition key range of ``dbs/{db}/colls/{coll}`` into ``into`` children."""
        if into < 2:
            raise ValueError(f"a split needs at least 2 children, got {into!r}")
        link = container_link.strip("/")
        if not _CONTAINER_PATH.match("/" + link + "/"):
            raise ValueError(f"not a container link: {container_link!r} (expected dbs/<db>/colls/<coll>)")
        self._splits.setdefault(unquote(link), []).append(into)

    def reset(self) -> None:
        """Forget rules, the budget, splits, the log and the request identities seen."""
        self.rules.clear()
        self.budget = None
        self.log.clear()
        self._counts.clear()
        self.injected = 0
        self._seen.clear()
        self._splits.clear()
        self._upstream_ranges.clear()
        self.forwarded = 0
        self.requests = 0

    def counts(self) -> Counter[str]:
        """How many times each fault (by label) was injected."""
        return Counter(self._counts)

    # -- deterministic draws ---------------------------------------------------------------------

    def _draw(self, salt: str, identity: bytes, attempt: int) -> float:
        digest = hashlib.blake2b(f"{self.seed}|{salt}|{attempt}|".encode() + identity, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    def _activity_id(self, identity: bytes, attempt: int, salt: str) -> str:
        digest = hashlib.blake2b(f"{self.seed}|activity|{salt}|{attempt}|".encode() + identity,
                                 digest_size=16).digest()
        return str(uuid.UUID(bytes=digest, version=4))

    # -- serving ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(_ADMIN):
            return await self._admin(request)
        body = await request.read()
        raw_path, _, query_string = request.raw_path.partition("?")
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        hasher = hashlib.blake2b(digest_size=16)
        for part in (request.method, request.raw_path, *(headers.get(h, "") for h in _IDENTITY_HEADERS)):
            hasher.update(part.encode())
            hasher.update(b"\x00")
        hasher.update(body)
        identity = hasher.digest()
        attempt = self._seen.pop(identity, 0) + 1
        self._seen[identity] = attempt  # re-inserted: the dict's order is least recently seen first
        if self.max_log is not None and len(self._seen) > 10 * self.max_log:
            for stale in list(itertools.islice(self._seen, len(self._seen) - 5 * self.max_log)):
                del self._seen[stale]
        info = ProxyRequest(request.method, raw_path, query_string,
                            request_kind(request.method, raw_path, headers), headers, body, attempt)
        self.requests += 1
        for observer in self.observers:
            observer(info)

        if request.transport is not None and request.transport in self._stale:
            self._stale.discard(request.transport)
            self._record("stale", Fault.stale_connection(), info, status=None, activity_id=None, applied=False)
            _reset(request)
            return web.Response(status=500)

        gone = self._gone_range(info)
        if gone is not None:
            activity_id = self._activity_id(identity, attempt, "gone")
            self._record("split", Fault.gone(1002), info, status=410, activity_id=activity_id, applied=False,
                         kind="gone_range", label="410/1002")
            return _error_response(410, 1002, None, f"Partition key range {gone} is gone (split).", activity_id)

        chosen = self._choose(info, identity)
        if chosen is None:
            throttled = self._check_budget(info)
            if throttled is not None:
                activity_id = self._activity_id(identity, attempt, "budget")
                self._record("budget", Fault.throttle(throttled), info, status=429, activity_id=activity_id,
                             applied=False, kind="budget", label="budget")
                return _error_response(429, 3200, throttled, None, activity_id)
            return await self._relay(request, info, await self._forward(request, body))
        rule, fault = chosen
        return await self._inject(request, info, identity, rule, fault, body)

    def _choose(self, info: ProxyRequest, identity: bytes) -> tuple[ProxyRule, Fault] | None:
        for rule in self.rules:
            if not rule.matches(info):
                continue
            rule.matched += 1
            if rule.matched <= rule.skip or (rule.times is not None and rule.fired >= rule.times):
                continue
            if rule.probability < 1.0 and self._draw(f"fire{rule.id}", identity, info.attempt) >= rule.probability:
                continue
            fault = rule.faults[0] if len(rule.faults) == 1 else rule.pick(
                self._draw(f"pick{rule.id}", identity, info.attempt))
            rule.fired += 1
            return rule, fault
        return None

    def _check_budget(self, info: ProxyRequest) -> int | None:
        budget = self.budget
        if budget is None:
            return None
        return budget.take(budget.charge_of(info))

    async def _inject(
        self, request: web.Request, info: ProxyRequest, identity: bytes, rule: ProxyRule, fault: Fault, body: bytes
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind == "status":
            if fault.apply:
                await self._forward(request, body)
            if fault.split_into:
                container = _container_of(info.path)
                if container is not None and container not in rule.split_containers:
                    rule.split_containers.add(container)
                    self.split(container, fault.split_into)
            synthesised = self._activity_id(identity, info.attempt, f"rule{rule.id}")
            self._record(rule.name, fault, info, status=fault.status, activity_id=synthesised, applied=fault.apply)
            return _error_response(fault.status, fault.sub_status, fault.retry_after_ms, fault.message, synthesised)
        if kind == "reset_before":
            self._record(rule.name, fault, info, status=None, activity_id=None, applied=False)
            _reset(request)
            return web.Response(status=500)  # never sent: the connection is gone

        upstream = await self._forward(request, body)
        status, headers, data = self._rewrite(info, upstream)
        activity_id = headers.get("x-ms-activity-id")
        if kind == "reset_after":
            self._record(rule.name, fault, info, status=None, activity_id=None, applied=True)
            _reset(request)
            return web.Response(status=500)
        if kind in ("reset_mid_body", "truncate"):
            self._record(rule.name, fault, info, status=None, activity_id=activity_id, applied=True)
            response = _stream_response(status, headers, len(data))
            with contextlib.suppress(ConnectionError):  # the client may be gone already
                await response.prepare(request)
                await response.write(data[: len(data) // 2])
                await asyncio.sleep(0.005)  # let the client take the headers before the connection goes
            if kind == "truncate":
                if request.transport is not None:
                    request.transport.close()
            else:
                _reset(request)
            return response
        # A stale_connection fault is logged twice: armed here, and when it drops the next request.
        self._record(rule.name, fault, info, status=status, activity_id=activity_id, applied=True,
                     label="stale_connection:armed" if kind == "stale_connection" else None)
        if kind == "slow_headers":
            await asyncio.sleep(fault.delay)
            return _plain_response(status, headers, data)
        if kind == "slow_body":
            response = _stream_response(status, headers, len(data))
            with contextlib.suppress(ConnectionError):  # a client that gave up closed the connection
                await response.prepare(request)
                step = max(1, math.ceil(len(data) / fault.chunks))
                for offset in range(0, max(len(data), 1), step):
                    await asyncio.sleep(fault.delay)
                    if data:
                        await response.write(data[offset:offset + step])
                await response.write_eof()
            return response
        if kind == "close_after":
            response = _stream_response(status, headers, len(data))
            with contextlib.suppress(ConnectionError):
                await response.prepare(request)
                await response.write(data)
                await response.write_eof()
            if request.transport is not None:
                request.transport.close()
            return response
        # stale_connection: answer normally; the next request on this connection is dropped.
        if request.transport is not None:
            self._stale.add(request.transport)
        return _plain_response(status, headers, data)

    async def _forward(self, request: web.Request, body: bytes) -> _Upstream:
        assert self._http is not None, "the fault proxy is not started"
        url = URL(self.upstream + request.raw_path, encoded=True)
        skip = _HOP_BY_HOP
        if request.method == "GET" and _container_of(request.raw_path) in self._splits and \
                request_kind("GET", request.raw_path, request.headers) == "pkranges":
            # After a split the proxy answers conditional reads itself (its own etag): ask for everything.
            skip = _HOP_BY_HOP | {"if-none-match", "a-im"}
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in skip)
        data = body if body or request.method in ("POST", "PUT", "PATCH") else None
        self.forwarded += 1
        try:
            async with self._http.request(request.method, url, headers=headers, data=data,
                                          allow_redirects=False) as response:
                return response.status, CIMultiDict(response.headers), await response.read()
        except aiohttp.ClientError as exc:
            message = orjson.dumps({"code": "BadGateway", "message": f"fault proxy: upstream failed: {exc}"})
            return 502, CIMultiDict({"Content-Type": "application/json"}), message

    async def _relay(self, request: web.Request, info: ProxyRequest, upstream: _Upstream) -> web.StreamResponse:
        status, headers, data = self._rewrite(info, upstream)
        if self.budget is not None and 200 <= status < 300:
            headers["x-ms-request-charge"] = _format_charge(self.budget.charge_of(info))
        return _plain_response(status, headers, data)

    def _rewrite(self, info: ProxyRequest, upstream: _Upstream) -> _Upstream:
        status, headers, data = upstream
        if info.kind == "account" and info.method == "GET" and status == 200:
            return status, headers, self._rewrite_account(data)
        if info.kind == "pkranges" and info.method == "GET":
            return self._rewrite_pkranges(info, upstream)
        return upstream

    def _rewrite_account(self, data: bytes) -> bytes:
        try:
            account = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
        if not isinstance(account, dict):
            return data
        for key in ("writableLocations", "readableLocations"):
            for location in account.get(key) or ():
                if isinstance(location, dict) and "databaseAccountEndpoint" in location:
                    location["databaseAccountEndpoint"] = self.url + "/"
        if self.account_rewriter is not None:
            account = self.account_rewriter(account)
        return orjson.dumps(account)

    def _rewrite_pkranges(self, info: ProxyRequest, upstream: _Upstream) -> _Upstream:
        status, headers, data = upstream
        container = _container_of(info.path)
        if container is None or status != 200:
            return upstream
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            return upstream
        ranges = answer.get("PartitionKeyRanges") if isinstance(answer, dict) else None
        if not isinstance(ranges, list):
            return upstream
        self._upstream_ranges.setdefault(container, ranges)
        splits = self._splits.get(container)
        if not splits:
            return upstream
        ranges, _ = _split_ranges(ranges, splits)
        etag = f'"aiocosmos-fault-proxy-pkranges-{len(splits)}"'
        headers = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in ("etag", "content-length"))
        headers["etag"] = etag
        if info.headers.get("if-none-match") == etag:
            return 304, headers, b""
        answer["PartitionKeyRanges"] = ranges
        answer["_count"] = len(ranges)
        headers["x-ms-item-count"] = str(len(ranges))
        return status, headers, orjson.dumps(answer)

    def _gone_range(self, info: ProxyRequest) -> str | None:
        raw = info.headers.get(_PKRANGE_HEADER)
        container = _container_of(info.path)
        if raw is None or container is None or container not in self._splits:
            return None
        # The ranges the upstream served before (the local server has one, id 0, if never asked).
        ranges = self._upstream_ranges.get(container, _SINGLE_RANGE)
        gone = _split_ranges(ranges, self._splits[container])[1]
        range_id = raw.rpartition(",")[2].strip()
        return range_id if range_id in gone else None

    def _record(
        self,
        rule: str,
        fault: Fault,
        info: ProxyRequest,
        *,
        status: int | None,
        activity_id: str | None,
        applied: bool,
        kind: str | None = None,
        label: str | None = None,
    ) -> None:
        injection = Injection(
            seq=self.injected + 1, rule=rule, fault=label or fault.label, kind=kind or fault.kind,
            method=info.method, path=info.path, request_kind=info.kind, attempt=info.attempt, status=status,
            sub_status=fault.sub_status if status is not None and fault.kind == "status" else None,
            retry_after_ms=fault.retry_after_ms if status is not None else None, activity_id=activity_id,
            applied=applied, continuation=info.continuation, time=time.monotonic(),
        )
        self.log.append(injection)
        self.injected += 1
        self._counts[injection.fault] += 1
        if self.max_log is not None and len(self.log) > 2 * self.max_log:
            del self.log[: len(self.log) - self.max_log]
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("fault proxy: %s on %s %s (attempt %d, rule %s)", injection.fault, info.method, info.path,
                       info.attempt, rule)

    # -- admin API -------------------------------------------------------------------------------

    async def _admin(self, request: web.Request) -> web.StreamResponse:
        what = request.path[len(_ADMIN):].strip("/")
        try:
            payload: Any = orjson.loads(await request.read() or b"{}")
            if what == "log" and request.method == "GET":
                return _json({"injections": [i.to_json() for i in self.log], "counts": dict(self.counts()),
                              "requests": self.requests, "forwarded": self.forwarded})
            if what == "rules" and request.method == "GET":
                return _json({"rules": [rule.describe() for rule in self.rules]})
            if what == "rules" and request.method == "POST":
                spec = dict(payload)
                faults = [Fault.from_json(f) for f in spec.pop("faults", ())]
                unknown = set(spec) - _RULE_OPTIONS
                if unknown:
                    raise ValueError(f"unknown rule options {sorted(unknown)}; use {sorted(_RULE_OPTIONS)}")
                return _json({"id": self.add_rule(*faults, **spec).id}, status=201)
            if what == "rules" and request.method == "DELETE":
                self.clear_rules()
                return _json({"rules": []})
            if what == "budget" and request.method == "PUT":
                budget = self.set_budget(**payload)
                return _json({"ru_per_second": budget.ru_per_second, "burst": budget.burst})
            if what == "budget" and request.method == "DELETE":
                self.clear_budget()
                return _json({})
            if what == "split" and request.method == "POST":
                self.split(payload["container"], int(payload.get("into", 2)))
                return _json({"splits": self._splits})
            if what == "reset" and request.method == "POST":
                self.reset()
                return _json({})
        except (ValueError, TypeError, KeyError) as exc:
            return _json({"code": "BadRequest", "message": f"{type(exc).__name__}: {exc}"}, status=400)
        return _json({"code": "NotFound", "message": f"no admin route {request.method} {request.path}"}, status=404)


# -- helpers ---------------------------------------------------------------------------------------

_RULE_OPTIONS: Final = frozenset({
    "name", "weights", "probability", "times", "skip", "method", "path", "path_prefix", "path_regex", "kinds",
    "continuation",
})


def _container_of(raw_path: str) -> str | None:
    match = _CONTAINER_PATH.match(raw_path)
    if match is None:
        return None
    return f"dbs/{unquote(match.group(1))}/colls/{unquote(match.group(2))}"


def _split_ranges(ranges: list[Any], splits: Sequence[int]) -> tuple[list[Any], set[str]]:
    """Apply ``splits`` (each splits every current range into n children) to a pkranges list.
    Returns the new leaf ranges (children carry ``parents``) and the ids of the ranges that are gone."""
    current = [dict(r, id=str(r.get("id")), parents=list(r.get("parents") or []))
               for r in ranges if isinstance(r, dict)]
    next_id = max((int(r["id"]) for r in current if r["id"].isdigit()), default=-1) + 1
    gone: set[str] = set()
    for into in splits:
        children = []
        for parent in current:
            gone.add(parent["id"])
            low_high = _split_epk(str(parent.get("minInclusive", "")), str(parent.get("maxExclusive", "FF")), into)
            for low, high in low_high:
                child = {k: v for k, v in parent.items() if not k.startswith("_")}
                child.update(id=str(next_id), minInclusive=low, maxExclusive=high,
                             parents=[*parent["parents"], parent["id"]], status="online", ridPrefix=next_id)
                if isinstance(parent.get("throughputFraction"), int | float):
                    child["throughputFraction"] = parent["throughputFraction"] / into
                children.append(child)
                next_id += 1
        current = children
    return current, gone


def _split_epk(low: str, high: str, into: int) -> list[tuple[str, str]]:
    """Cut the hex effective-partition-key interval [low, high) into ``into`` contiguous parts."""
    width = max(len(low), len(high), 2)
    width += width % 2
    while True:
        start = int(low.ljust(width, "0") or "0", 16)
        end = int(high.ljust(width, "0"), 16)
        if end - start >= into:
            break
        width += 2
    cuts = [start + (end - start) * k // into for k in range(into + 1)]
    bounds = [f"{value:0{width}X}" for value in cuts]
    bounds[0], bounds[-1] = low, high
    return list(itertools.pairwise(bounds))


def _reset(request: web.BaseRequest) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), as a crashed or reset peer does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _clean_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in _HOP_BY_HOP)


def _plain_response(status: int, headers: Mapping[str, str], data: bytes) -> web.Response:
    return web.Response(status=status, headers=_clean_headers(headers), body=data if status != 304 else None)


def _stream_response(status: int, headers: Mapping[str, str], length: int) -> web.StreamResponse:
    response = web.StreamResponse(status=status, headers=_clean_headers(headers))
    response.content_length = length
    return response


def _error_response(
    status: int, sub_status: int | None, retry_after_ms: int | None, message: str | None, activity_id: str
) -> web.Response:
    headers = {"Content-Type": "application/json", "x-ms-activity-id": activity_id, "x-ms-request-charge": "0"}
    if sub_status is not None:
        headers["x-ms-substatus"] = str(sub_status)
    if retry_after_ms is not None:
        headers["x-ms-retry-after-ms"] = str(retry_after_ms)
    text = message or _MESSAGES.get((status, sub_status or 0)) or _MESSAGES.get((status, 0)) or f"status {status}"
    body = orjson.dumps({"code": _REASONS.get(status, "Error"), "message": f"{text} (injected by the fault proxy)"})
    return web.Response(status=status, headers=headers, body=body)


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(value, default=list),
                        headers={"Content-Type": "application/json"})


def _format_charge(charge: float) -> str:
    return f"{charge:.2f}"


# -- command line ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aiocosmos.testing --upstream URL [--host H] [--port P] [--seed S]``."""
    parser = argparse.ArgumentParser(prog="python -m aiocosmos.testing",
                                     description="A fault-injecting proxy in front of a Cosmos DB endpoint.")
    parser.add_argument("--upstream", required=True, help="the Cosmos endpoint to forward to")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with FaultProxy(arguments.upstream, seed=arguments.seed, host=arguments.host,
                              port=arguments.port) as proxy:
            print(f"LISTENING {proxy.url}", flush=True)
            await stop.wait()

    asyncio.run(serve())
    return 0
