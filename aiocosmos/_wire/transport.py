"""The one seam to aiohttp: open a pooled session, send one request, map its errors by type."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from ..diagnostics import BREAKDOWN, Breakdown
from ..exceptions import ConnectError, ConnectTimeout, ReadError, ReadTimeout, StaleConnectionError
from .options import ClientOptions, Timeouts

__all__ = ["PoolConnector", "Transport", "open_http_session", "timing_hooks"]

_LARGE_BODY = 2**20


class PoolConnector(aiohttp.TCPConnector):
    """aiohttp's connector, counting the connections it opens (``opened``).

    aiohttp itself drops a pooled connection whose close it has seen (``is_connected()`` on reuse);
    what it cannot see is a close that arrives while the request is being written. To tell such a
    stale connection from a fresh one that failed, ``Transport.send`` notes ``opened`` before a
    request: if no connection at all was opened while the request ran, the one it used was reused.
    (Counting in the rare path, opening, keeps the hot path, reuse, free of any extra work.)"""

    opened = 0

    async def _create_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.opened += 1
        return await super()._create_connection(*args, **kwargs)


def _hook(mark: Any) -> Any:
    async def hook(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
        breakdown = context.trace_request_ctx
        if isinstance(breakdown, Breakdown):
            mark(breakdown)
    return hook


def timing_hooks() -> aiohttp.TraceConfig:
    """aiohttp's trace hooks marking the operation's ``Breakdown`` (passed as ``trace_request_ctx``):
    installed only with ``ClientOptions.detailed_timings``, as aiohttp then makes a context object and
    awaits the hooks on every request."""
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_hook(Breakdown.request_start))
    config.on_connection_queued_start.append(_hook(Breakdown.queue_start))
    config.on_connection_queued_end.append(_hook(Breakdown.queue_end))
    config.on_connection_create_start.append(_hook(Breakdown.connect_start))
    config.on_connection_create_end.append(_hook(Breakdown.connect_end))
    config.on_request_headers_sent.append(_hook(Breakdown.sent))
    config.on_request_chunk_sent.append(_hook(Breakdown.sent))
    config.on_request_end.append(_hook(Breakdown.headers_received))
    return config


def open_http_session(options: ClientOptions) -> aiohttp.ClientSession:
    """A ClientSession with the client's pool limits and timeouts (call inside the running loop)."""
    limits = options.limits
    connector = PoolConnector(
        limit=limits.max_connections,
        limit_per_host=limits.max_connections_per_host,
        keepalive_timeout=limits.keepalive_timeout,
        ttl_dns_cache=limits.dns_cache_ttl or None,
        use_dns_cache=limits.dns_cache_ttl > 0,
        ssl=options.verify_tls,
    )
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=options.timeouts.connect, sock_read=options.timeouts.read
    )
    # Cosmos bodies are JSON the client parses itself; aiohttp need not add cookies or raise.
    session = aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False,
        trace_configs=[timing_hooks()] if options.detailed_timings else None,
    )
    # aiohttp silently resends PUT and DELETE once when a pooled connection drops. For Cosmos a PUT
    # (replace) or DELETE may already have been applied, so only our retry policy may decide to
    # replay; this attribute has no public switch (aiohttp 3.9 - 3.14).
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


class Transport:
    """Sends one request and returns ``(status, headers, body)``; raises only TransportError."""

    __slots__ = ("_base", "_connect_timeout", "_detailed", "_http", "_pool", "_read_timeout")

    def __init__(self, http: aiohttp.ClientSession, endpoint: str, timeouts: Timeouts, detailed: bool = False) -> None:
        self._http = http
        self._detailed = detailed  # ClientOptions.detailed_timings: mark the operation's Breakdown
        self._base = endpoint.rstrip("/")
        self._connect_timeout = timeouts.connect
        self._read_timeout = timeouts.read
        connector = http.connector
        # Stale connections are told apart only on the client's own pool (a borrowed session keeps
        # aiohttp's behaviour, including its own resend of idempotent methods).
        self._pool = connector if isinstance(connector, PoolConnector) else None

    async def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        # The path is already percent-encoded; encoded=True stops yarl from re-quoting it.
        url = URL(self._base + path, encoded=True)
        data: bytes | io.BytesIO | None = body
        if body is not None and len(body) > _LARGE_BODY:
            # aiohttp warns about raw bytes over 1 MiB; a fresh BytesIO per attempt streams it instead.
            data = io.BytesIO(body)
        pool = self._pool
        opened = pool.opened if pool is not None else -1
        answered = False
        breakdown = BREAKDOWN.get() if self._detailed else None
        try:
            if breakdown is not None:  # detailed timings (off by default: the branch below is the hot path)
                extra: dict[str, Any] = {"trace_request_ctx": breakdown}
                if timeout is not None:
                    extra["timeout"] = aiohttp.ClientTimeout(
                        total=timeout, sock_connect=self._connect_timeout, sock_read=self._read_timeout)
                async with self._http.request(method, url, headers=headers, data=data, **extra) as resp:
                    answered = True
                    read = await resp.read()
                    breakdown.body_received()
                    return resp.status, resp.headers, read
            if timeout is None:
                async with self._http.request(method, url, headers=headers, data=data) as resp:
                    answered = True
                    return resp.status, resp.headers, await resp.read()
            # A per-request ClientTimeout replaces the session's whole timeout, so restate the
            # per-attempt connect/read limits next to the operation's remaining time.
            per_request = aiohttp.ClientTimeout(
                total=timeout, sock_connect=self._connect_timeout, sock_read=self._read_timeout
            )
            async with self._http.request(method, url, headers=headers, data=data, timeout=per_request) as resp:
                answered = True
                return resp.status, resp.headers, await resp.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise ConnectTimeout(f"connect timed out: {exc}", method=method, url=str(url)) from exc
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"could not connect: {exc}", method=method, url=str(url)) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
            raise ReadTimeout("no response within the timeout", method=method, url=str(url)) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            # Dropped before the status line arrived. On a reused connection (no connection was
            # opened meanwhile) the server most likely closed it while it sat in the pool.
            stale = not answered and pool is not None and pool.opened == opened
            error = StaleConnectionError if stale else ReadError
            raise error(f"{type(exc).__name__}: {exc}", method=method, url=str(url)) from exc
        except aiohttp.ClientError as exc:
            # Disconnects, payload errors, resets after the request was written: it may have been applied.
            raise ReadError(f"{type(exc).__name__}: {exc}", method=method, url=str(url)) from exc
        except OSError as exc:
            raise ReadError(f"{type(exc).__name__}: {exc}", method=method, url=str(url)) from exc

