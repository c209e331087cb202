"""``.diagnostics`` of every result, page and error: what one operation did on the wire.

Nothing is built while the operation runs. A success at the first attempt leaves only what the
pipeline has anyway (the response headers) and one small timing record of the core (start and end on
the client's clock, and the request's own headers dict, uncopied); a failed attempt leaves one small
dict (``failure_record``), kept in the operation's ``RetryState`` and, when a later attempt
succeeds, carried in the response's ``ATTEMPTS_HEADER``. ``Diagnostics`` is made from those when
``.diagnostics`` is read.

What it never holds: request headers other than the session token sent, the Authorization header,
keys, resource or AAD tokens, bodies, query texts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from time import perf_counter
from typing import Any, Final

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["Diagnostics", "Breakdown", "ATTEMPTS_HEADER", "HEDGED_HEADER", "MAX_RANGE_REQUESTS"]

ATTEMPTS_HEADER: Final = "x-aiocosmos-attempts"
"""Added by the client to a response that succeeded after failed attempts: those attempts, as JSON
(absent otherwise: the first-attempt success copies no headers)."""
HEDGED_HEADER: Final = "x-aiocosmos-hedged"
"""Added to the response of a hedged operation (an availability strategy sent it to more than one region)."""



class Breakdown:
    """Where one operation's time went (``ClientOptions.detailed_timings``), in seconds of
    ``time.perf_counter``, summed over its attempts: ``queueing`` (waiting for a pooled connection),
    ``connecting`` (opening one), ``signing`` (the Authorization header), ``sending`` (writing the
    request), ``waiting`` (from the request written to the response's headers: the service's time
    and the network's), ``receiving`` (reading the body), ``parsing`` (the JSON into the result).
    Made once per operation only when the option is on; aiohttp's trace hooks (``_wire/transport.py``)
    and the pipeline mark it. ``queued``: attempts that had to wait for a connection."""

    __slots__ = ("_connect_at", "_headers_at", "_last", "_queue_at", "_sent_at", "_start", "_this_connect",
                 "_this_queue", "connecting", "parsing", "queued", "queueing", "receiving", "sending", "signing",
                 "waiting")

    def __init__(self) -> None:
        self.queueing = self.connecting = self.signing = self.sending = 0.0
        self.waiting = self.receiving = 0.0
        self.parsing: float | None = None
        self.queued = 0
        self._start = self._queue_at = self._connect_at = self._sent_at = self._headers_at = 0.0
        self._this_queue = self._this_connect = 0.0
        self._last: float | None = None

    # aiohttp's trace hooks, one attempt at a time (``_wire/transport.py``).
    def request_start(self) -> None:
        """An attempt starts (aiohttp trace hook)."""
        self._start = self._sent_at = perf_counter()
        self._this_queue = self._this_connect = 0.0

    def queue_start(self) -> None:
        """The attempt waits for a pooled connection."""
        self._queue_at = perf_counter()
        self.queued += 1

    def queue_end(self) -> None:
        """The attempt got a connection."""
        self._this_queue += perf_counter() - self._queue_at

    def connect_start(self) -> None:
        """A new connection is being opened."""
        self._connect_at = perf_counter()

    def connect_end(self) -> None:
        """The new connection is open."""
        self._this_connect += perf_counter() - self._connect_at

    def sent(self) -> None:
        """A part of the request (headers or a body chunk) was written."""
        self._sent_at = perf_counter()  # the headers, then each body chunk: the last one counts

    def headers_received(self) -> None:
        """The response headers arrived: sending and waiting are settled."""
        now = self._headers_at = perf_counter()
        sent = max(self._sent_at, self._start)
        self.queueing += self._this_queue
        self.connecting += self._this_connect
        self.sending += max(0.0, sent - self._start - self._this_queue - self._this_connect)
        self.waiting += max(0.0, now - sent)

    def body_received(self) -> None:
        """The response body has been read."""
        now = self._last = perf_counter()
        if self._headers_at:
            self.receiving += now - self._headers_at

    def signed(self, started: float) -> None:
        """Signing took from ``started`` (a ``perf_counter()`` value) until now."""
        self.signing += perf_counter() - started

    def parsed(self) -> None:
        """The result was built from the response (once: the first result that takes it)."""
        if self.parsing is None and self._last is not None:
            self.parsing = perf_counter() - self._last

    def as_dict(self) -> dict[str, float | int | None]:
        """The phases in seconds, and how often a connection was waited for."""
        return {"queueing": self.queueing, "connecting": self.connecting, "signing": self.signing,
                "sending": self.sending, "waiting": self.waiting, "receiving": self.receiving,
                "parsing": self.parsing, "queued": self.queued}


Timing = tuple[Any, float, float, "Mapping[str, str] | None", "Breakdown | None"]
"""(response headers it belongs to, started, ended on the client's clock, the request's own headers,
the operation's ``Breakdown`` when ``ClientOptions.detailed_timings`` is on)."""

TIMING: Final[ContextVar[Timing | None]] = ContextVar("aiocosmos_timing", default=None)
"""The last operation's timing in this task; a result takes it when its headers are the same object."""

BREAKDOWN: Final[ContextVar[Breakdown | None]] = ContextVar("aiocosmos_breakdown", default=None)
"""The running operation's ``Breakdown`` (set by the core only when detailed timings are on)."""


def took(timing: Timing | None, headers: Any) -> None:
    """A result was built from ``headers``: with detailed timings, the parsing ends here."""
    if timing is not None and timing[4] is not None and timing[0] is headers:
        timing[4].parsed()

_SESSION: Final = "x-ms-session-token"


def failure_record(region: str | None, error: Any, wait: float, at: float) -> dict[str, Any]:
    """One failed attempt (failure paths only). ``wait``: seconds waited before the next attempt, or
    -1.0 when the next attempt went at once to another region (a failover)."""
    status = getattr(error, "status_code", None)
    headers = getattr(error, "headers", None) if status is not None else None
    return {
        "region": region,
        "status_code": status,
        "sub_status": getattr(error, "sub_status", None) if status is not None else None,
        "error": type(error).__name__,
        "activity_id": getattr(error, "activity_id", None),
        "request_charge": _charge(headers) if headers is not None else 0.0,
        "retry_after": getattr(error, "retry_after", None),
        "wait": max(wait, 0.0),
        "failover": wait < 0,
        "at": at,
    }


def encode_failures(failures: Sequence[Mapping[str, Any]]) -> str:
    return orjson.dumps(list(failures)).decode()


MAX_RANGE_REQUESTS: Final = 50
"""Range requests a merged query page describes one by one (the rest are counted, ``requests_left_off``)."""


class RangeRequests(dict[str, str]):
    """The headers of a page merged from several range requests (a cross-partition query), holding
    each request's headers, timing and range id (``requests``, at most ``MAX_RANGE_REQUESTS``) for its
    ``.diagnostics``: no copy, one tuple per request."""

    __slots__ = ("left_off", "requests")

    def __init__(self, headers: Mapping[str, str], requests: list[tuple[Mapping[str, str], Timing | None, str]],
                 left_off: int) -> None:
        super().__init__(headers)
        self.requests = requests
        self.left_off = left_off

    def absorb(self, earlier: Mapping[str, str]) -> RangeRequests:
        """These headers, with the range requests of an earlier page that was not given out (empty)."""
        if isinstance(earlier, RangeRequests) and (earlier.requests or earlier.left_off):
            room = MAX_RANGE_REQUESTS - len(earlier.requests)
            self.left_off += earlier.left_off + max(0, len(self.requests) - room)
            self.requests = [*earlier.requests, *self.requests[:max(0, room)]]
        return self


def _range_request(headers: Mapping[str, str], timing: Timing | None, range_id: str) -> dict[str, Any]:
    failures = _failures(headers.get(ATTEMPTS_HEADER))
    sub = headers.get("x-ms-substatus")
    duration = None
    if timing is not None and timing[0] is headers:
        duration = max(0.0, timing[2] - timing[1])
    return {"range": range_id, "status_code": 200, "sub_status": int(sub) if sub and sub.isdigit() else 0,
            "request_charge": _charge(headers), "activity_id": headers.get("x-ms-activity-id"),
            "attempts": len(failures) + 1, "failed": [[f.get("status_code"), f.get("sub_status"), f.get("error")]
                                                     for f in failures],
            "duration": duration}


def with_failures(headers: Mapping[str, str], failures: Sequence[Mapping[str, Any]]) -> Any:
    """A copy of ``headers`` whose attempts start with ``failures`` (failure paths only)."""
    copy = CIMultiDict(headers)
    copy[ATTEMPTS_HEADER] = encode_failures([*failures, *_failures(headers.get(ATTEMPTS_HEADER))])
    return CIMultiDictProxy(copy)


def _charge(headers: Mapping[str, str]) -> float:
    raw = headers.get("x-ms-request-charge")
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        return 0.0


def _session_sent(request_headers: Mapping[str, str] | None) -> str | None:
    if not request_headers:
        return None
    for name, value in request_headers.items():
        if name.lower() == _SESSION:
            return value
    return None


class Diagnostics:
    """What one operation did: its attempts, in order, and where the time went.

    ``attempts``: one dict per attempt sent (region, status_code, sub_status, error, activity_id,
    request_charge, retry_after, duration, and ``wait``: the seconds waited before the next attempt,
    ``failover``: the next one went at once to another region). ``timings``: ``total`` (the operation,
    on the client's clock), ``retry_wait`` (the waits between attempts) and ``attempts`` (the rest:
    signing, sending, the answer and its parsing), None when not known. ``as_dict()`` is JSON-ready,
    ``to_json()`` is that JSON."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def attempts(self) -> list[dict[str, Any]]:
        """One dict per attempt: its region, status, substatus, error, activity id and charge, and the wait after it."""
        return [dict(a) for a in self._data["attempts"]]

    @property
    def replayed(self) -> bool:
        """Whether a write was sent again after an answer that left its outcome unknown."""
        return bool(self._data["replayed"])

    @property
    def hedged(self) -> bool:
        """Whether a hedged read was sent to a second region."""
        return bool(self._data["hedged"])

    @property
    def duration(self) -> float | None:
        """Seconds from the first attempt to the answer, or None if not timed."""
        total: float | None = self._data["timings"]["total"]
        return total

    @property
    def request_charge(self) -> float:
        """Request units of every attempt together (of a bulk operation: its own charge)."""
        own = self._data.get("request_charge")
        if own is not None:
            return float(own)
        return float(sum(a["request_charge"] for a in self._data["attempts"]))

    def as_dict(self) -> dict[str, Any]:
        """A copy, made of JSON types only."""
        data: dict[str, Any] = orjson.loads(orjson.dumps(self._data))
        return data

    def to_json(self) -> str:
        """The whole record as a JSON string (for a log line or a support ticket)."""
        return orjson.dumps(self._data).decode()

    def __repr__(self) -> str:
        return f"Diagnostics({self.to_json()})"


def _finish(attempts: list[dict[str, Any]], timing: Timing | None, *, status: int | None, activity_id: str | None,
            regions: tuple[str, ...], replayed: bool, hedged: bool, session_received: str | None,
            total_wait: float | None = None) -> Diagnostics:
    """Per-attempt durations from the failure times (each attempt starts where the previous one's wait
    ends, the first at the operation's start), and the operation's timings."""
    started = ended = None
    session_sent = None
    breakdown = None
    if timing is not None:
        _, started, ended, request_headers, breakdown = timing
        session_sent = _session_sent(request_headers)
    begin = started
    waits = 0.0
    for attempt in attempts:
        at = attempt.pop("at", None)
        end = at if at is not None else ended
        attempt["duration"] = None if begin is None or end is None else max(0.0, end - begin)
        begin = None if end is None else end + attempt.get("wait", 0.0)
        waits += attempt.get("wait", 0.0)
    if total_wait is not None:
        waits = total_wait
    total = None if started is None or ended is None else max(0.0, ended - started)
    timings: dict[str, Any] = {"total": total, "retry_wait": waits,
                               "attempts": None if total is None else max(0.0, total - waits)}
    if breakdown is not None:
        timings.update(breakdown.as_dict())
    return Diagnostics({
        "status_code": status,
        "activity_id": activity_id,
        "regions": list(regions),
        "replayed": replayed,
        "hedged": hedged,
        "session_token_sent": session_sent,
        "session_token_received": session_received,
        "attempts": [{"attempt": n, **a} for n, a in enumerate(attempts, 1)],
        "timings": timings,
    })


def _failures(raw: str | None) -> list[dict[str, Any]]:
    if not raw:
        return []
    try:
        loaded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    return [dict(a) for a in loaded if isinstance(a, dict)] if isinstance(loaded, list) else []


def from_response(headers: Mapping[str, str], status: int, timing: Timing | None) -> Diagnostics:
    """The diagnostics of a successful response, from its headers (and the core's timing record when
    it belongs to these headers)."""
    if timing is not None and timing[0] is not headers:
        timing = None
    raw_regions = headers.get("x-aiocosmos-regions")
    regions = tuple(raw_regions.split(", ")) if raw_regions else ()
    sub = headers.get("x-ms-substatus")
    activity_id = headers.get("x-ms-activity-id")
    last: dict[str, Any] = {
        "region": regions[-1] if regions else None,
        "status_code": status,
        "sub_status": int(sub) if sub and sub.isdigit() else 0,
        "error": None,
        "activity_id": activity_id,
        "request_charge": _charge(headers),
        "retry_after": None,
        "wait": 0.0,
        "failover": False,
    }
    attempts = [*_failures(headers.get(ATTEMPTS_HEADER)), last]
    diagnostics = _finish(attempts, timing, status=status, activity_id=activity_id, regions=regions,
                          replayed="x-aiocosmos-replayed" in headers, hedged=HEDGED_HEADER in headers,
                          session_received=headers.get(_SESSION))
    if isinstance(headers, RangeRequests):  # a page merged from range requests: each of them
        diagnostics._data["requests"] = [_range_request(*request) for request in headers.requests]
        diagnostics._data["requests_left_off"] = headers.left_off
    return diagnostics


def _was_sent(error: Any) -> bool:
    return getattr(error, "status_code", None) is not None or hasattr(error, "may_have_reached_server")


def from_error(error: Any) -> Diagnostics:
    """The diagnostics of an error: the failed attempts the pipeline recorded, then the error's own
    attempt (for a deadline, its cause's), when it was sent."""
    attempts = [dict(a) for a in getattr(error, "failed_attempts", ())]
    # An HTTP answer or a transport failure is an attempt itself; a deadline's is its cause (if the
    # attempt was sent); a credential failure sent nothing.
    last = error if _was_sent(error) else error.__cause__ if _was_sent(error.__cause__) else None
    if last is not None:
        record = failure_record(None, last, 0.0, 0.0)
        record.pop("at")
        regions = getattr(error, "regions", ())
        record["region"] = regions[-1] if regions else None
        attempts.append(record)
    timing: Timing | None = getattr(error, "timing", None)
    headers = getattr(error, "headers", None)
    return _finish(attempts, timing, status=getattr(error, "status_code", None),
                   activity_id=getattr(error, "activity_id", None), regions=tuple(getattr(error, "regions", ())),
                   replayed=bool(getattr(error, "replayed", False)), hedged=False,
                   session_received=headers.get(_SESSION) if headers is not None else None,
                   total_wait=getattr(error, "total_wait", None))
