"""What the fault proxy injects (``Fault`` and its constructors) and what it records (``Injection``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

__all__ = ["Fault", "Injection"]

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
    identity: str = ""
    """``ProxyRequest.identity`` of the request it hit: tells which operation it was (an observer can
    map identities to documents)."""

    def to_json(self) -> dict[str, Any]:
        """The injection as a plain dict."""
        return asdict(self)
