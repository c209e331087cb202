"""azure-cosmos's per-call keywords of the point operations, checked before any I/O and turned into
headers: ``etag`` + ``match_condition``, ``if_match`` / ``if_none_match``, ``session_token``,
``initial_headers``, ``priority`` and ``response_hook``. Each is sent as azure-cosmos sends it."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, Final

from ..exceptions import ValidationError

__all__ = ["HeadersHook", "MatchConditions", "ResponseHook", "call_hook", "check_hook", "check_priority", "conditions",
           "initial", "query_option_headers", "with_call_headers"]

ResponseHook = Callable[[Mapping[str, str], Any], object]
"""Called as ``hook(response_headers, result)`` after the operation succeeded (as azure-cosmos does)."""
HeadersHook = Callable[[Mapping[str, str]], object]
"""``create_database``/``delete_database``'s: called as ``hook(response_headers)``, as azure-cosmos does."""


class MatchConditions(enum.Enum):
    """azure.core's ``MatchConditions`` (same names and values), without depending on azure-core;
    azure.core's own members are accepted too (matched by name)."""

    Unconditionally = 1
    IfNotModified = 2
    IfModified = 3
    IfPresent = 4
    IfMissing = 5


_PRIORITIES: Final = ("High", "Low")
_CLIENT_HEADERS: Final = frozenset({"authorization", "x-ms-date", "x-ms-version", "content-length", "host"})
"""Headers the client computes for every request (signature, date, version, framing): refused in
``initial_headers``."""


def _check_tag(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} must be the non-empty etag string the service returned (or '*'), got {value!r}")
    return value


def conditions(
    etag: str | None,
    match_condition: object,
    if_match: str | None,
    if_none_match: str | None,
) -> dict[str, str]:
    """The If-Match / If-None-Match header of one operation (empty dict: unconditional).

    ``etag`` alone means If-Match (aiocosmos's long-standing meaning; azure-cosmos requires
    ``match_condition``). With ``match_condition``: IfNotModified -> If-Match etag, IfModified ->
    If-None-Match etag, IfPresent -> If-Match ``*``, IfMissing -> If-None-Match ``*``, as azure-cosmos.
    """
    headers: dict[str, str] = {}
    if if_match is not None:
        headers["If-Match"] = _check_tag(if_match, "if_match")
    if if_none_match is not None:
        headers["If-None-Match"] = _check_tag(if_none_match, "if_none_match")
    if match_condition is None:
        if etag is not None:
            headers.setdefault("If-Match", _check_tag(etag, "etag"))
            if headers["If-Match"] != etag:
                raise ValidationError("pass either etag or if_match, not both")
        return headers
    name = getattr(match_condition, "name", None)
    if not isinstance(match_condition, enum.Enum) or name not in MatchConditions.__members__:
        raise ValidationError(f"match_condition must be a MatchConditions member, got {match_condition!r}")
    if headers:
        raise ValidationError("pass either match_condition (with etag) or if_match/if_none_match, not both")
    if name in ("IfNotModified", "IfModified"):
        if etag is None:
            raise ValidationError(f"match_condition={name} needs etag= (the version to compare with)")
        headers["If-Match" if name == "IfNotModified" else "If-None-Match"] = _check_tag(etag, "etag")
    elif etag is not None:
        raise ValidationError(f"etag has no meaning with match_condition={name}")
    elif name == "IfPresent":
        headers["If-Match"] = "*"
    elif name == "IfMissing":
        headers["If-None-Match"] = "*"
    return headers


def check_priority(priority: object) -> str:
    if priority not in _PRIORITIES:
        raise ValidationError(f"priority must be 'High' or 'Low' (priority-based execution), got {priority!r}")
    return str(priority)


def _positive_int(name: str, value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"{name} must be a non-negative int, got {value!r}")
    return str(value)


def with_call_headers(
    headers: dict[str, str],
    *,
    session_token: str | None,
    initial_headers: Mapping[str, str] | None,
    priority: str | None,
    throughput_bucket: int | None = None,
) -> dict[str, str]:
    """``headers`` (the operation's own) plus the per-call ones. An initial header the operation or
    the client sets itself is refused, naming the keyword to use, rather than silently overridden."""
    if throughput_bucket:  # azure-cosmos sends nothing for 0 or None
        headers["x-ms-cosmos-throughput-bucket"] = _positive_int("throughput_bucket", throughput_bucket)
    if session_token is not None:
        if not isinstance(session_token, str) or not session_token:
            raise ValidationError(f"session_token must be a non-empty session token string, got {session_token!r}")
        headers["x-ms-session-token"] = session_token
    if priority is not None:
        headers["x-ms-cosmos-priority-level"] = check_priority(priority)
    if not initial_headers:
        return headers
    if not isinstance(initial_headers, Mapping):
        raise ValidationError(f"initial_headers must be a mapping of header names to strings, got "
                              f"{type(initial_headers).__name__}")
    own = {name.lower() for name in headers}
    merged: dict[str, str] = {}
    for name, value in initial_headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValidationError(f"initial_headers: {name!r}: names and values must be strings, got {value!r}")
        lowered = name.lower()
        if lowered in _CLIENT_HEADERS:
            raise ValidationError(f"initial_headers may not set {name!r}: the client computes it for every request")
        if lowered in own:
            raise ValidationError(f"initial_headers sets {name!r}, which this call already sets (from its own "
                                  "arguments, e.g. partition_key, etag, session_token, priority)")
        merged[name] = value
    merged.update(headers)
    return merged


def query_option_headers(
    headers: dict[str, str],
    *,
    continuation_token_limit: int | None,
    populate_index_metrics: bool | None,
    populate_query_advice: bool | None,
    max_integrated_cache_staleness_in_ms: int | None,
) -> dict[str, str]:
    """azure-cosmos's query keywords as the headers it sends (only when set: a falsy value sends nothing there
    either). ``continuation_token_limit`` is in KB; the staleness is for the dedicated gateway's cache."""
    if continuation_token_limit:
        headers["x-ms-documentdb-responsecontinuationtokenlimitinkb"] = _positive_int(
            "continuation_token_limit", continuation_token_limit)
    if populate_index_metrics:
        headers["x-ms-cosmos-populateindexmetrics"] = "True"
    if populate_query_advice:
        headers["x-ms-cosmos-populatequeryadvice"] = "True"
    if max_integrated_cache_staleness_in_ms:
        headers["x-ms-dedicatedgateway-max-age"] = _positive_int(
            "max_integrated_cache_staleness_in_ms", max_integrated_cache_staleness_in_ms)
    return headers


def initial(headers: dict[str, str] | None, initial_headers: Mapping[str, str] | None,
            throughput_bucket: int | None = None) -> dict[str, str] | None:
    """A resource operation's ``headers`` plus the per-call ones (checked as above); no copy when none is given."""
    if not initial_headers and throughput_bucket is None:
        return headers
    return with_call_headers(dict(headers or {}), session_token=None, initial_headers=initial_headers,
                             priority=None, throughput_bucket=throughput_bucket)


def check_hook(hook: object) -> None:
    """A ``response_hook`` that is not callable fails before any I/O."""
    if hook is not None and not callable(hook):
        raise ValidationError(f"response_hook must be callable as hook(headers, result), got {hook!r}")


def call_hook(hook: ResponseHook | None, headers: Mapping[str, str], result: Any) -> None:
    if hook is not None:
        hook(headers, result)
