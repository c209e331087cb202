"""The fault proxy itself: ``FaultProxy``, an ``aiohttp.web`` server that forwards requests to a
Cosmos endpoint and injects the faults its rules choose (see the ``aiocosmos.testing`` docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import math
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .admin import ADMIN_PREFIX, admin_response
from .faults import Fault
from .rules import ProxyRequest, ProxyRule, choose, derive_activity_id, request_kind
from .splits import container_of, split_ranges
from .state import ProxyState
from .wire import HOP_BY_HOP, error_response, format_charge, plain_response, reset_connection, stream_response

__all__ = ["FaultProxy"]

_IDENTITY_HEADERS: Final = (
    "x-ms-continuation", "x-ms-documentdb-partitionkey", "x-ms-documentdb-partitionkeyrangeid",
    "x-ms-documentdb-is-upsert", "if-match", "if-none-match", "a-im",
)
_PKRANGE_HEADER: Final = "x-ms-documentdb-partitionkeyrangeid"
_SINGLE_RANGE: Final[list[Any]] = [{"id": "0", "minInclusive": "", "maxExclusive": "FF"}]

_Upstream = tuple[int, CIMultiDict[str], bytes]


class FaultProxy(ProxyState):
    """``async with FaultProxy(upstream_url, seed=1) as proxy:`` then point clients at ``proxy.url``.

    See the ``aiocosmos.testing`` docstring for what it injects; ``add_rule`` for how to script it; ``log`` for
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
        super().__init__(seed=seed, max_log=max_log)
        self.upstream = upstream.rstrip("/")
        self._shutdown_timeout = shutdown_timeout
        self.host = host
        self.port = port
        self._keepalive_timeout = keepalive_timeout
        self.observers: list[Callable[[ProxyRequest], None]] = []
        """Called with every proxied request (not admin requests) before any fault is applied."""
        self.account_rewriter: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        """Applied to the account document of ``GET /`` after the endpoints point at this proxy."""
        self._stale: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's URL (give it to the client as the endpoint); raises until started."""
        if not self.port:
            raise RuntimeError("the fault proxy is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        """Start listening; returns the proxy's URL."""
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
        """Stop listening and close the connections to the upstream server."""
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

    # -- serving ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await admin_response(self, request)
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
                            request_kind(request.method, raw_path, headers), headers, body, attempt, identity.hex())
        self.requests += 1
        for observer in self.observers:
            observer(info)

        if request.transport is not None and request.transport in self._stale:
            self._stale.discard(request.transport)
            self._record("stale", Fault.stale_connection(), info, status=None, activity_id=None, applied=False)
            reset_connection(request)
            return web.Response(status=500)

        gone = self._gone_range(info)
        if gone is not None:
            activity_id = derive_activity_id(self.seed, identity, attempt, "gone")
            self._record("split", Fault.gone(1002), info, status=410, activity_id=activity_id, applied=False,
                         kind="gone_range", label="410/1002")
            return error_response(410, 1002, None, f"Partition key range {gone} is gone (split).", activity_id)

        chosen = choose(self.rules, info, identity, self.seed)
        if chosen is None:
            throttled = self._check_budget(info)
            if throttled is not None:
                activity_id = derive_activity_id(self.seed, identity, attempt, "budget")
                self._record("budget", Fault.throttle(throttled), info, status=429, activity_id=activity_id,
                             applied=False, kind="budget", label="budget")
                return error_response(429, 3200, throttled, None, activity_id)
            return await self._relay(request, info, await self._forward(request, body))
        rule, fault = chosen
        return await self._inject(request, info, identity, rule, fault, body)

    async def _inject(
        self, request: web.Request, info: ProxyRequest, identity: bytes, rule: ProxyRule, fault: Fault, body: bytes
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind == "status":
            if fault.apply:
                await self._forward(request, body)
            if fault.split_into:
                container = container_of(info.path)
                if container is not None and container not in rule.split_containers:
                    rule.split_containers.add(container)
                    self.split(container, fault.split_into)
            synthesised = derive_activity_id(self.seed, identity, info.attempt, f"rule{rule.id}")
            self._record(rule.name, fault, info, status=fault.status, activity_id=synthesised, applied=fault.apply)
            return error_response(fault.status, fault.sub_status, fault.retry_after_ms, fault.message, synthesised)
        if kind == "reset_before":
            self._record(rule.name, fault, info, status=None, activity_id=None, applied=False)
            reset_connection(request)
            return web.Response(status=500)  # never sent: the connection is gone

        upstream = await self._forward(request, body)
        status, headers, data = self._rewrite(info, upstream)
        activity_id = headers.get("x-ms-activity-id")
        if kind == "reset_after":
            self._record(rule.name, fault, info, status=None, activity_id=None, applied=True)
            reset_connection(request)
            return web.Response(status=500)
        if kind in ("reset_mid_body", "truncate"):
            self._record(rule.name, fault, info, status=None, activity_id=activity_id, applied=True)
            response = stream_response(status, headers, len(data))
            with contextlib.suppress(ConnectionError):  # the client may be gone already
                await response.prepare(request)
                await response.write(data[: len(data) // 2])
                await asyncio.sleep(0.005)  # let the client take the headers before the connection goes
            if kind == "truncate":
                if request.transport is not None:
                    request.transport.close()
            else:
                reset_connection(request)
            return response
        # A stale_connection fault is logged twice: armed here, and when it drops the next request.
        self._record(rule.name, fault, info, status=status, activity_id=activity_id, applied=True,
                     label="stale_connection:armed" if kind == "stale_connection" else None)
        if kind == "slow_headers":
            await asyncio.sleep(fault.delay)
            return plain_response(status, headers, data)
        if kind == "slow_body":
            response = stream_response(status, headers, len(data))
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
            response = stream_response(status, headers, len(data))
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
        return plain_response(status, headers, data)

    async def _forward(self, request: web.Request, body: bytes) -> _Upstream:
        assert self._http is not None, "the fault proxy is not started"
        url = URL(self.upstream + request.raw_path, encoded=True)
        skip = HOP_BY_HOP
        if request.method == "GET" and container_of(request.raw_path) in self._splits and \
                request_kind("GET", request.raw_path, request.headers) == "pkranges":
            # After a split the proxy answers conditional reads itself (its own etag): ask for everything.
            skip = HOP_BY_HOP | {"if-none-match", "a-im"}
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
            headers["x-ms-request-charge"] = format_charge(self.budget.charge_of(info))
        return plain_response(status, headers, data)

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
        container = container_of(info.path)
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
        ranges, _ = split_ranges(ranges, splits)
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
        container = container_of(info.path)
        if raw is None or container is None or container not in self._splits:
            return None
        # The ranges the upstream served before (the local server has one, id 0, if never asked).
        ranges = self._upstream_ranges.get(container, _SINGLE_RANGE)
        gone = split_ranges(ranges, self._splits[container])[1]
        range_id = raw.rpartition(",")[2].strip()
        return range_id if range_id in gone else None
