"""A scriptable, recording stand-in for the Cosmos DB gateway, on 127.0.0.1 (random port).

Every request is recorded (method, raw percent-encoded path, headers, body, and the reply sent).
Replies come from scripts: queues of :class:`Reply` matched by method and path, each optionally with
a reply to repeat ``forever`` once its queue is empty. Requests no script answers get a sensible
default: container reads return a partition-key definition (``/pk`` unless ``containers`` says
otherwise), item reads echo the id, creates echo the body, queries return an empty page.

::

    async with RecordingServer() as server:
        server.script(Reply.error(429, retry_after_ms=120), method="GET", path="/")
        ...
        assert len(server.requests_to("GET", "/")) == 2

A :class:`Reply` may also drop the connection without answering (``Reply.drop()``) or answer after a
real delay (``delay=``). ``before_reply`` hooks let later tests inject faults of their own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["DEFAULT_PARTITION_KEY", "RecordedRequest", "RecordingServer", "Reply", "Script"]

DEFAULT_PARTITION_KEY: dict[str, Any] = {"paths": ["/pk"], "kind": "Hash", "version": 2}


@dataclass
class Reply:
    """One scripted answer. ``body`` is JSON-serialised unless it is bytes; None means no body."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    drop: bool = False
    """Close the connection without sending a response."""
    delay: float = 0.0
    """Real seconds to wait before answering (keep it tiny)."""

    @classmethod
    def json(cls, body: Any, status: int = 200, **headers: str) -> Reply:
        return cls(status=status, headers=_header_kwargs(headers), body=body)

    @classmethod
    def error(
        cls,
        status: int,
        *,
        code: str = "",
        message: str = "",
        sub_status: int | None = None,
        retry_after_ms: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A Cosmos-style error: ``{"code": ..., "message": ...}`` plus the usual headers."""
        all_headers = dict(headers or {})
        if sub_status is not None:
            all_headers["x-ms-substatus"] = str(sub_status)
        if retry_after_ms is not None:
            all_headers["x-ms-retry-after-ms"] = str(retry_after_ms)
        return cls(status=status, headers=all_headers,
                   body={"code": code or _REASONS.get(status, "Error"), "message": message or f"status {status}"})

    @classmethod
    def dropped(cls) -> Reply:
        """Read the request, then close the connection without answering."""
        return cls(drop=True)


_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 408: "RequestTimeout",
    409: "Conflict", 412: "PreconditionFailed", 429: "TooManyRequests", 449: "RetryWith",
    500: "InternalServerError", 503: "ServiceUnavailable",
}


def _header_kwargs(headers: Mapping[str, str]) -> dict[str, str]:
    """``x_ms_session_token="..."`` -> ``{"x-ms-session-token": "..."}``."""
    return {name.replace("_", "-"): value for name, value in headers.items()}


@dataclass(repr=False)
class RecordedRequest:
    method: str
    path: str
    """The raw (percent-encoded) path, without the query string."""
    query_string: str
    headers: CIMultiDictProxy[str]
    body: bytes
    reply: Reply | None = None
    """What the server answered (None while the request is being handled)."""
    reply_headers: dict[str, str] = field(default_factory=dict)
    """The headers the server actually sent (including its generated activity id)."""

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    def __repr__(self) -> str:
        answer = "pending" if self.reply is None else "dropped" if self.reply.drop else self.reply.status
        return f"<{self.method} {self.path} -> {answer}>"


class Script:
    """A queue of replies for requests that match ``method`` and ``path`` (None matches anything)."""

    def __init__(
        self,
        replies: Iterable[Reply],
        *,
        method: str | None,
        path: str | None,
        path_prefix: str | None,
        forever: Reply | None,
    ) -> None:
        self.queue: deque[Reply] = deque(replies)
        self.method = method.upper() if method else None
        self.path = path
        self.path_prefix = path_prefix
        self.forever = forever
        self.used = 0

    def matches(self, request: web.Request) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        raw_path = request.raw_path.partition("?")[0]
        if self.path is not None and raw_path != self.path:
            return False
        return self.path_prefix is None or raw_path.startswith(self.path_prefix)

    def take(self) -> Reply | None:
        if self.queue:
            self.used += 1
            return self.queue.popleft()
        if self.forever is not None:
            self.used += 1
            return self.forever
        return None

    @property
    def exhausted(self) -> bool:
        return not self.queue and self.forever is None


Hook = Callable[[web.Request, RecordedRequest], Awaitable[None]]


class RecordingServer:
    """``async with RecordingServer() as server: server.url`` (see the module docstring)."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self.scripts: list[Script] = []
        self.containers: dict[str, dict[str, Any]] = {}
        """Partition-key definitions by container link (``"dbs/db/colls/c"``); default ``/pk``."""
        self.before_reply: list[Hook] = []
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("the recording server is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> RecordingServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- scripting -------------------------------------------------------------------------------

    def script(
        self,
        *replies: Reply,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        forever: Reply | None = None,
    ) -> Script:
        """Answer matching requests with ``replies`` in order, then with ``forever`` (if given), then
        fall through to later scripts and finally to the defaults. Earlier scripts win."""
        script = Script(replies, method=method, path=path, path_prefix=path_prefix, forever=forever)
        self.scripts.append(script)
        return script

    def reset(self) -> None:
        """Forget recorded requests and scripts (container definitions stay)."""
        self.requests.clear()
        self.scripts.clear()

    # -- inspection ------------------------------------------------------------------------------

    def requests_to(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests
                if (method is None or r.method == method.upper()) and (path is None or r.path == path)]

    def authorizations(self) -> list[str]:
        return [r.authorization for r in self.requests if r.authorization]

    # -- serving ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        raw_path, _, query = request.raw_path.partition("?")
        record = RecordedRequest(request.method, raw_path, query, CIMultiDictProxy(CIMultiDict(request.headers)), body)
        self.requests.append(record)
        reply = None
        for script in self.scripts:
            if script.matches(request):
                reply = script.take()
                if reply is not None:
                    break
        if reply is None:
            reply = self._default_reply(request.method, raw_path, request.headers, body)
        record.reply = reply
        for hook in self.before_reply:
            await hook(request, record)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never reaches the client: the transport is closed
        headers = {"x-ms-activity-id": str(uuid.uuid4()), "x-ms-request-charge": "1.0"}
        headers.update(reply.headers)
        if reply.body is None:
            data = b""
        elif isinstance(reply.body, bytes):
            data = reply.body
        else:
            data = orjson.dumps(reply.body)
            headers.setdefault("Content-Type", "application/json")
        record.reply_headers = headers
        return web.Response(status=reply.status, headers=headers, body=data)

    def _default_reply(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        segments = [s for s in path.split("/") if s]
        depth = len(segments)
        if depth == 0:
            return Reply.json({"id": "localaccount", "writableLocations": [], "readableLocations": []})
        leaf = depth % 2 == 0  # /dbs/x, /dbs/x/colls/y, .../docs/z address one resource
        link = "/".join(segments)
        if method == "GET" and depth == 4 and segments[2] == "colls":
            # A _rid of its own per container (the client keys session tokens by it), as on the service.
            return Reply.json({"id": segments[3], "_rid": "rid-" + "-".join(segments[1::2]), "_self": link + "/",
                               "partitionKey": self.containers.get(link, DEFAULT_PARTITION_KEY)})
        if method == "GET" and leaf:
            return Reply.json({"id": segments[-1]})
        if method == "DELETE":
            return Reply(status=204)
        if method == "POST" and headers.get("x-ms-documentdb-isquery", "").lower() == "true":
            return Reply.json({"_rid": "rid", "Documents": [], "_count": 0})
        if method == "GET":  # a read feed
            return Reply.json({"_rid": "rid", "Documents": [], "DocumentCollections": [], "Databases": [],
                               "_count": 0})
        if method in ("POST", "PUT"):
            try:
                echoed = orjson.loads(body) if body else {}
            except orjson.JSONDecodeError:
                echoed = {}
            return Reply.json(echoed, status=201 if method == "POST" else 200)
        if method == "PATCH":
            return Reply.json({"id": segments[-1]})
        return Reply.error(400, message=f"the recording server has no default for {method} {path}")
