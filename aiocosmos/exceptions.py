"""The one exception hierarchy of aiocosmos.

::

    CosmosError                                   base of everything raised on purpose
    ├── ConfigurationError (ValueError)           bad options, key or connection string; raised at construction
    ├── ValidationError (ValueError)              bad input to an operation; raised before any I/O
    │   └── InvalidContinuationToken              a saved token that is not ours, or belongs to another query
    ├── ClientClosedError (RuntimeError)          the client was closed (or never opened)
    ├── PagingError                               the service broke the paging protocol (e.g. repeated a token)
    ├── UnsupportedQuery (ValueError)             a cross-partition query shape the client pipeline cannot run yet
    ├── OperationTimeout (TimeoutError)           the per-operation deadline passed (all attempts included)
    ├── CredentialError                           the AAD credential gave no token: the request was not sent
    ├── TransportError                            no HTTP response was obtained
    │   ├── ConnectError                          the request never reached the server
    │   │   └── ConnectTimeout (TimeoutError)
    │   └── ReadError                             sent, but no usable answer: it MAY have been applied
    │       ├── ReadTimeout (TimeoutError)
    │       └── StaleConnectionError              a reused pooled connection dropped before any answer
    └── HttpResponseError                         the service answered with status >= 400
        ├── BatchOperationError                   an operation of a transactional batch failed: none was committed
        ├── BadRequest 400
        ├── Unauthorized 401
        ├── Forbidden 403
        │   └── WriteForbidden 403/3
        ├── NotFound 404
        │   └── ReadSessionNotAvailable 404/1002
        ├── RequestTimeout 408
        ├── Conflict 409
        ├── Gone 410
        ├── PreconditionFailed 412
        ├── RequestEntityTooLarge 413
        ├── Locked 423
        ├── FailedDependency 424
        ├── TooManyRequests 429
        ├── RetryWith 449
        ├── InternalServerError 500
        └── ServiceUnavailable 503

Every error raised after I/O says how many attempts were made (``attempts``), how long the client waited between
them (``total_wait``) and the activity ids of the attempts (``activity_ids``), so one message is enough to open a
support case. ``may_have_been_applied`` (on every CosmosError) says whether a failed request may still have been
applied: True for ``ReadError`` and for 408/500/502/503/504 answers, whose text then says so, and for any error of
a write the client replayed after such a failure (``replayed``: an earlier attempt may have been applied). Only the
writes that are safe to replay are replayed (``RetryPolicy.replay_idempotent_writes``; README, "Retries"). Secrets
(keys, tokens, the Authorization header) are never part of an error: the client does not put request headers into
exceptions at all.

The names used by ``azure.cosmos.exceptions`` exist as aliases (``CosmosHttpResponseError``,
``CosmosResourceNotFoundError``, ``CosmosResourceExistsError``, ``CosmosAccessConditionFailedError``,
``CosmosClientTimeoutError``) so ported ``except`` clauses keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import orjson

from .diagnostics import Diagnostics, Timing, from_error

__all__ = [
    "CosmosError", "ConfigurationError", "ValidationError", "InvalidContinuationToken", "ClientClosedError",
    "PagingError", "UnsupportedQuery", "OperationTimeout", "CredentialError", "TransportError", "ConnectError",
    "ConnectTimeout", "ReadError", "ReadTimeout", "StaleConnectionError", "HttpResponseError", "BadRequest",
    "Unauthorized", "Forbidden", "WriteForbidden", "NotFound", "ReadSessionNotAvailable", "RequestTimeout",
    "Conflict", "Gone", "PreconditionFailed", "RequestEntityTooLarge", "Locked", "FailedDependency",
    "TooManyRequests", "RetryWith", "InternalServerError", "ServiceUnavailable", "BatchOperationError",
    "error_class_for", "CosmosHttpResponseError", "CosmosResourceNotFoundError", "CosmosResourceExistsError",
    "CosmosAccessConditionFailedError", "CosmosClientTimeoutError", "CosmosBatchOperationError", "AzureError",
]


class CosmosError(Exception):
    """Base class of every error aiocosmos raises on purpose."""

    @property
    def may_have_been_applied(self) -> bool:
        """True when the failed request may nevertheless have been applied by the service: no
        answer came back after it was sent (``ReadError``), or the service answered 408, 500, 502,
        503 or 504. Writes are never replayed after such a failure; check (read the item, or use an
        upsert or ``etag``) before writing again. Always False for bad input, 4xx answers and 429."""
        return False


class ConfigurationError(CosmosError, ValueError):
    """Bad client options, key, credential or connection string (raised at construction)."""


class ValidationError(CosmosError, ValueError):
    """Bad input to an operation, detected before any I/O."""


class InvalidContinuationToken(ValidationError):
    """A continuation token that aiocosmos did not issue, or that belongs to a different request."""


class ClientClosedError(CosmosError, RuntimeError):
    """The client is closed (or was never opened with ``async with`` / first use)."""


class PagingError(CosmosError):
    """The service broke the paging protocol, e.g. answered a token with the same token."""


class UnsupportedQuery(CosmosError, ValueError):
    """A cross-partition query whose plan needs a feature the client pipeline lacks (COUNTIF, MAKELIST/MAKESET,
    a vector or hybrid search without TOP/LIMIT). Raised before any per-range request, naming the feature."""


class _AttemptsMixin:
    """What the retry loop knows when it gives up; filled in by the pipeline."""

    attempts: int = 1
    total_wait: float = 0.0
    activity_ids: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    """With endpoint discovery on: the regions the attempts went to, in order (else empty)."""
    replayed: bool = False
    """The write was sent again after an attempt that may have been applied (an ambiguous failure):
    whatever this error says, that earlier attempt may have taken effect."""
    failed_attempts: tuple[dict[str, Any], ...] = ()
    """The attempts before the last one, as the pipeline recorded them (``aiocosmos.diagnostics``)."""
    timing: Timing | None = None
    """Start and end of the operation on the client's clock (set by the client's core)."""

    @property
    def diagnostics(self) -> Diagnostics:
        """Every attempt (region, status, substatus, duration, charge, activity id, retry-after, the
        wait after it), replayed or not, and the timings; built when read (``aiocosmos.diagnostics``)."""
        return from_error(self)

    def _attempts_text(self) -> str:
        parts = [f"attempts={self.attempts}"]
        if self.replayed:
            parts.append("replayed after an ambiguous failure: an earlier attempt may have been applied")
        if self.total_wait:
            parts.append(f"waited {self.total_wait:.3f}s")
        if self.regions:
            parts.append("regions: " + ", ".join(self.regions))
        if self.activity_ids:
            parts.append("activity ids: " + ", ".join(self.activity_ids))
        return "; ".join(parts)


class OperationTimeout(_AttemptsMixin, CosmosError, TimeoutError):
    """The per-operation deadline passed; the last failure is the ``__cause__``."""

    def __init__(self, message: str, *, attempts: int = 1, total_wait: float = 0.0,
                 activity_ids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.total_wait = total_wait
        self.activity_ids = activity_ids

    def __str__(self) -> str:
        return f"{self.message} ({self._attempts_text()})"

    @property
    def may_have_been_applied(self) -> bool:
        """Whether an attempt cut off by the deadline, or an earlier one, may have been applied."""
        cause = self.__cause__
        return self.replayed or (isinstance(cause, CosmosError) and cause.may_have_been_applied)


class CredentialError(_AttemptsMixin, CosmosError):
    """The AAD credential raised (its exception is ``cause`` and the ``__cause__``) or returned no
    token, so the attempt that needed the token was never sent. Every request waiting for the same
    token fetch gets its own CredentialError for that one failure; the next request asks again.

    ``may_have_been_applied`` is False unless an earlier attempt of the same write may have been
    applied (``replayed``). The text names the cause's type only: a credential's messages are its own
    and never put into this one (read ``cause`` for them)."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause

    def __str__(self) -> str:
        cause = f" ({type(self.cause).__name__}; see .cause)" if self.cause is not None else ""
        return f"{self.message}{cause}: the request was not sent ({self._attempts_text()})"

    @property
    def may_have_been_applied(self) -> bool:
        """True only when an earlier attempt may have been applied (this one was not sent)."""
        return self.replayed


class TransportError(_AttemptsMixin, CosmosError):
    """No HTTP response was obtained.

    ``may_have_reached_server`` says whether the service may have received (and applied) the request.
    """

    may_have_reached_server: ClassVar[bool] = True

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        reached = "may have reached the server" if self.may_have_reached_server else "was not sent"
        return f"{self.message}{where}: the request {reached} ({self._attempts_text()})"

    @property
    def may_have_been_applied(self) -> bool:
        """Whether the request may have reached the server (or an earlier attempt was replayed)."""
        return self.may_have_reached_server or self.replayed


class ConnectError(TransportError):
    """The connection could not be made: the request never reached the server, so a retry is safe."""

    may_have_reached_server = False


class ConnectTimeout(ConnectError, TimeoutError):
    """Connecting took longer than the connect timeout."""


class ReadError(TransportError):
    """The request was sent but no usable response came back: it may have been applied."""


class ReadTimeout(ReadError, TimeoutError):
    """The response did not arrive within the read timeout: the request may have been applied."""


class StaleConnectionError(ReadError):
    """A pooled keep-alive connection was reused and failed before any byte of an answer came back:
    most likely the server closed it while it sat idle. The request may still have reached the
    server, so it is resent (once, at once) only when it is safe to replay."""


class HttpResponseError(_AttemptsMixin, CosmosError):
    """The service answered with an error status.

    Attributes: ``status_code``, ``sub_status``, ``message`` (the service's own text; also
    ``http_error_message``, azure-cosmos's name), ``reason`` (the HTTP reason phrase), ``code``
    (the service's error code such as ``"Conflict"``), ``headers`` (response headers), ``body``
    (raw response bytes), ``attempts``, ``total_wait``, ``activity_ids``.
    """

    status_code: ClassVar[int] = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        sub_status: int = 0,
        code: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code  # type: ignore[misc]  # instance overrides the class default
        self.sub_status = sub_status
        self.message = message
        self.code = code
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.body = body

    @property
    def activity_id(self) -> str | None:
        """Activity id of the last attempt."""
        return self.activity_ids[-1] if self.activity_ids else self.headers.get("x-ms-activity-id")

    @property
    def request_charge(self) -> float:
        """The request units the failed request cost (``x-ms-request-charge``)."""
        return float(self.headers.get("x-ms-request-charge") or 0.0)

    @property
    def http_error_message(self) -> str:
        """The service's message (azure-cosmos's name for ``message``)."""
        return self.message

    @property
    def reason(self) -> str:
        """The HTTP reason phrase of ``status_code`` (``"Not Found"``), as azure-core errors give it."""
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    @property
    def retry_after(self) -> float | None:
        """Seconds the service asked to wait (``x-ms-retry-after-ms``), if it said."""
        raw = self.headers.get("x-ms-retry-after-ms")
        return int(raw) / 1000.0 if raw else None

    def __str__(self) -> str:
        message = self.message or "(the service sent no message)"
        applied = "; the request may have been applied" if self.may_have_been_applied else ""
        return f"[{self.status_code}/{self.sub_status}] {message}{applied} ({self._attempts_text()})"

    @property
    def may_have_been_applied(self) -> bool:
        """Whether the service may have applied the request (408, 5xx, or a replay)."""
        return self.replayed or self.status_code in _MAY_HAVE_BEEN_APPLIED

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, sub_status={self.sub_status}, " \
               f"message={self.message!r}, attempts={self.attempts})"


_MAY_HAVE_BEEN_APPLIED = frozenset({408, 500, 502, 503, 504})
"""Answers after which the service may have applied the request (the retry policy's AMBIGUOUS)."""


class BadRequest(HttpResponseError):
    """400: the service refused the request as malformed (a bad query, header, id or body)."""

    status_code = 400


class Unauthorized(HttpResponseError):
    """401: the signature or token was refused (wrong key, clock skew, an expired resource token)."""

    status_code = 401


class Forbidden(HttpResponseError):
    """403: the caller may not do this (a permission, a firewall, a quota or a region that takes no writes)."""

    status_code = 403


class WriteForbidden(Forbidden):
    """403/3: a write reached a region that does not take writes (e.g. during a failover)."""


class NotFound(HttpResponseError):
    """404: the resource (or its database or container) does not exist."""

    status_code = 404


class ReadSessionNotAvailable(NotFound):
    """404/1002: the replica has not caught up with the session token yet."""


class RequestTimeout(HttpResponseError):
    """408: the service timed the request out; a write may have been applied."""

    status_code = 408


class Conflict(HttpResponseError):
    """409: a resource with this id (or unique key) already exists."""

    status_code = 409


class Gone(HttpResponseError):
    """410: the partition moved (split or merge); the client re-routes and retries these itself."""

    status_code = 410


class PreconditionFailed(HttpResponseError):
    """412: the ``If-Match`` etag no longer matches: someone else changed the resource."""

    status_code = 412


class RequestEntityTooLarge(HttpResponseError):
    """413: the request or document is over the service's size limit (2 MB a document)."""

    status_code = 413


class Locked(HttpResponseError):
    """423: the resource is locked by an operation still in progress; try again later."""

    status_code = 423


class FailedDependency(HttpResponseError):
    """424: an operation of a batch was not run because another one failed."""

    status_code = 424


class TooManyRequests(HttpResponseError):
    """429: throttled (request units spent, or a metadata limit); the retry policy honours ``Retry-After``."""

    status_code = 429


class RetryWith(HttpResponseError):
    """449: a transient write conflict on the replica; safe to retry (the retry policy does)."""

    status_code = 449


class InternalServerError(HttpResponseError):
    """500: the service failed; a write may have been applied."""

    status_code = 500


class ServiceUnavailable(HttpResponseError):
    """503: the service or region is unavailable; a write may have been applied."""

    status_code = 503


_BY_CODE: dict[tuple[int, int], type[HttpResponseError]] = {
    (403, 3): WriteForbidden,
    (404, 1002): ReadSessionNotAvailable,
}
for _cls in HttpResponseError.__subclasses__():  # the status classes above (BatchOperationError comes later)
    _BY_CODE[(_cls.status_code, 0)] = _cls


def error_class_for(status: int, sub_status: int = 0) -> type[HttpResponseError]:
    """The exception class for a status/substatus pair (most specific first, then by status)."""
    return _BY_CODE.get((status, sub_status)) or _BY_CODE.get((status, 0)) or HttpResponseError


def _parse_error_body(body: bytes) -> tuple[str, str]:
    """(code, message) from a Cosmos error body; tolerant of empty or non-JSON bodies."""
    if not body:
        return "", ""
    try:
        parsed: Any = orjson.loads(body)
    except ValueError:
        return "", body[:500].decode("utf-8", "replace")
    if isinstance(parsed, dict):
        return str(parsed.get("code") or ""), str(parsed.get("message") or "")
    return "", ""


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> HttpResponseError:
    """Build the right HttpResponseError for a response (used on the error path only)."""
    raw_sub = headers.get("x-ms-substatus")
    try:
        sub_status = int(raw_sub) if raw_sub else 0
    except ValueError:
        sub_status = 0
    code, message = _parse_error_body(body)
    cls = error_class_for(status, sub_status)
    return cls(message, status_code=status, sub_status=sub_status, code=code, headers=headers, body=body)


# azure.cosmos.exceptions names, so that ported code keeps its except clauses.
CosmosHttpResponseError = HttpResponseError
CosmosResourceNotFoundError = NotFound
CosmosResourceExistsError = Conflict
CosmosAccessConditionFailedError = PreconditionFailed
CosmosClientTimeoutError = OperationTimeout
AzureError = CosmosError
"""azure.core's root error, which azure.cosmos.exceptions re-exports: here the root of aiocosmos's errors."""


class BatchOperationError(HttpResponseError):
    """A transactional batch was refused because one of its operations failed; none was committed.

    ``status_code``, ``sub_status`` and ``code`` are the failed operation's own (e.g. 409 for a create
    whose id exists); ``error_index`` is its position in the batch and ``operation_type``
    (``"Create"``, ``"Replace"``, ...) and ``item_id`` say what it was. ``operation_responses`` holds
    the result of every operation (the others show 424 Failed Dependency): it is the batch's
    ``BatchResponse``, a sequence of ``BatchOperationResult`` with the response's ``request_charge``,
    ``activity_id`` and ``session_token``. Raised whatever the HTTP status of the response (200, 207).
    """

    def __init__(
        self,
        message: str,
        *,
        error_index: int,
        operation_type: str,
        item_id: str,
        operation_responses: Sequence[Any],
        status_code: int,
        sub_status: int = 0,
        code: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message, status_code=status_code, sub_status=sub_status, code=code, headers=headers,
                         body=body)
        self.error_index = error_index
        self.operation_type = operation_type
        self.item_id = item_id
        self.operation_responses = operation_responses


CosmosBatchOperationError = BatchOperationError
