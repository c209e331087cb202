"""ARM errors: the ``{"error": {code, message, target, details}}`` envelope as an HttpResponseError."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, cast

import orjson

from ..exceptions import HttpResponseError, error_class_for

__all__ = ["ArmError", "LroFailedError", "arm_error_from_response", "parse_retry_after"]


class ArmError(HttpResponseError):
    """The management plane (Azure Resource Manager) answered with an error status.

    Besides the HttpResponseError attributes (``status_code``, ``code``, ``message``, ``headers``,
    ``attempts``...), it has the ARM envelope's ``target``, ``details`` (a list of
    ``{"code", "message", ...}`` dicts), ``additional_info`` and the request ids ARM returned
    (``request_id``, ``correlation_id``). An ``ArmError`` for 404 is also an ``aiocosmos.NotFound``,
    for 409 a ``Conflict``, and so on: catch whichever you like.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        sub_status: int = 0,
        code: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        additional_info: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, sub_status=sub_status, code=code, headers=headers,
                         body=body)
        self.target = target
        self.details: list[dict[str, Any]] = details or []
        self.additional_info: list[dict[str, Any]] = additional_info or []

    @property
    def retry_after(self) -> float | None:
        """Seconds ARM asked to wait (``Retry-After``, or ``retry-after-ms``/``x-ms-retry-after-ms``)."""
        return parse_retry_after(self.headers)

    @property
    def request_id(self) -> str | None:
        """The ``x-ms-request-id`` of the failed request (for a support ticket)."""
        return self.headers.get("x-ms-request-id")

    @property
    def correlation_id(self) -> str | None:
        """The ``x-ms-correlation-request-id`` of the failed request."""
        return self.headers.get("x-ms-correlation-request-id")

    def __str__(self) -> str:
        code = f"{self.code}: " if self.code else ""
        message = self.message or "(the service sent no message)"
        target = f" (target {self.target})" if self.target else ""
        ids = f"; request id {self.request_id}" if self.request_id else ""
        return f"[{self.status_code}] {code}{message}{target} ({self._attempts_text()}{ids})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, " \
               f"message={self.message!r}, attempts={self.attempts})"


class LroFailedError(ArmError):
    """A long-running operation ended as ``Failed`` or ``Canceled``; ``status`` says which,
    ``code``/``message``/``target``/``details`` come from the operation's ``error`` object and
    ``status_code`` is the HTTP status of the poll that reported the end (200 when a status monitor
    answered ``Failed``; the 4xx when a ``Location`` poll answered with an error)."""

    def __init__(self, message: str, *, status: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status


_CLASSES: dict[type[HttpResponseError], type[ArmError]] = {}


def _arm_class(status: int) -> type[ArmError]:
    base = error_class_for(status)
    if base is HttpResponseError:
        return ArmError
    cls = _CLASSES.get(base)
    if cls is None:
        # e.g. ArmNotFound(ArmError, NotFound): `except aiocosmos.NotFound` catches ARM 404s too.
        cls = cast("type[ArmError]", type(f"Arm{base.__name__}", (ArmError, base), {"__module__": __name__}))
        _CLASSES[base] = cls
    return cls


def parse_error_body(body: bytes) -> dict[str, Any]:
    """The ``error`` object of an ARM error body; tolerant of a missing wrapper or non-JSON text."""
    if not body:
        return {}
    try:
        parsed: Any = orjson.loads(body)
    except ValueError:
        return {"message": body[:500].decode("utf-8", "replace")}
    if isinstance(parsed, dict):
        inner = parsed.get("error")
        if isinstance(inner, dict):
            return inner
        return parsed
    return {}


def _kwargs_from_error(error: Mapping[str, Any]) -> dict[str, Any]:
    details = error.get("details")
    info = error.get("additionalInfo")
    target = error.get("target")
    return {
        "code": str(error.get("code") or ""),
        "target": str(target) if target else None,
        "details": [d for d in details if isinstance(d, dict)] if isinstance(details, list) else None,
        "additional_info": [d for d in info if isinstance(d, dict)] if isinstance(info, list) else None,
    }


def arm_error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> ArmError:
    error = parse_error_body(body)
    cls = _arm_class(status)
    return cls(str(error.get("message") or ""), status_code=status, headers=headers, body=body,
               **_kwargs_from_error(error))


def lro_failed_error(status: str, body: Mapping[str, Any], headers: Mapping[str, str], raw: bytes, *,
                     status_code: int | None) -> LroFailedError:
    """``status_code`` is the HTTP status of the poll that reported the failure (200 for a status
    monitor that answered ``{"status": "Failed", "error": ...}``; None when it is not known)."""
    error = body.get("error")
    if not isinstance(error, Mapping):
        error = {}
    message = str(error.get("message") or f"the long-running operation ended as {status}")
    return LroFailedError(message, status=status, status_code=status_code, headers=headers, body=raw,
                          **_kwargs_from_error(error))


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms``/``x-ms-retry-after-ms`` (ms), else ``Retry-After`` (seconds or an HTTP date)."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) / 1000.0)
            except ValueError:
                pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    date = headers.get("date")
    if date:
        try:
            return max(0.0, (when - parsedate_to_datetime(date)).total_seconds())
        except (TypeError, ValueError):
            return None
    return None
