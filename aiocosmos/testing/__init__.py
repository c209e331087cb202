"""Test helpers that aiocosmos users may use too.

* ``FakeClock``: a clock whose sleeps are instant and recorded, for deterministic retries.
* ``FaultProxy`` (with ``Fault``, ``ProxyRule``, ``RequestUnitBudget``, ``Injection``): a
  fault-injecting reverse proxy to put in front of a Cosmos endpoint (429, 449, 408, 5xx, 410 with
  partition splits, connection resets, truncated and slow responses, stale keep-alive connections,
  and a request-unit budget), scripted per test and deterministic under a seed. The details follow;
  ``python -m aiocosmos.testing --help`` runs it on its own.

**The fault proxy.** ``FaultProxy`` is an ``aiohttp.web`` server on 127.0.0.1 that forwards every
request to a real (or local) Cosmos endpoint byte for byte, signatures untouched, and injects the
failures a real account produces but a local server never does::

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

The package, from the bottom up: ``faults`` (``Fault``, ``Injection``), ``rules`` (``request_kind``,
``ProxyRequest``, ``ProxyRule`` and the deterministic draws), ``budget`` (``RequestUnitBudget``),
``splits`` (partition key range arithmetic), ``wire`` (synthesised answers, resets), ``state`` (the
scripted state and its methods), ``admin`` (the admin API), ``proxy`` (``FaultProxy``, the server),
``cli`` (``python -m aiocosmos.testing``); ``clock`` holds ``FakeClock``. Import from
``aiocosmos.testing`` itself: the modules' layout is not part of the API.
"""

from __future__ import annotations

from .budget import RequestUnitBudget
from .clock import FakeClock
from .faults import Fault, Injection
from .proxy import FaultProxy
from .rules import ProxyRequest, ProxyRule, request_kind

__all__ = [
    "FakeClock",
    "Fault",
    "FaultProxy",
    "Injection",
    "ProxyRequest",
    "ProxyRule",
    "RequestUnitBudget",
    "request_kind",
]
