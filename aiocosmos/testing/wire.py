"""What the fault proxy puts on the wire itself: synthesised answers, header hygiene and TCP resets."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Mapping
from typing import Any, Final

import orjson
from aiohttp import web
from multidict import CIMultiDict

__all__ = [
    "HOP_BY_HOP",
    "reset_connection",
    "clean_headers",
    "plain_response",
    "stream_response",
    "error_response",
    "json_response",
    "format_charge",
]

HOP_BY_HOP: Final = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
    "host", "content-length",
})

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


def reset_connection(request: web.BaseRequest) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), as a crashed or reset peer does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def clean_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


def plain_response(status: int, headers: Mapping[str, str], data: bytes) -> web.Response:
    return web.Response(status=status, headers=clean_headers(headers), body=data if status != 304 else None)


def stream_response(status: int, headers: Mapping[str, str], length: int) -> web.StreamResponse:
    response = web.StreamResponse(status=status, headers=clean_headers(headers))
    response.content_length = length
    return response


def error_response(
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


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(value, default=list),
                        headers={"Content-Type": "application/json"})


def format_charge(charge: float) -> str:
    return f"{charge:.2f}"
