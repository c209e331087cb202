"""azure-cosmos's ``CosmosClient(...)`` keywords, mapped onto ClientOptions (checked before any I/O).

Each keyword means what it means in azure-cosmos 4.17.1, and lands on the ClientOptions field that does it;
one aiocosmos cannot honour raises TypeError naming what to use instead, so nothing is silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from .options import ClientOptions

__all__ = ["AZURE_CLIENT_KEYWORDS", "apply_client_keywords"]

_UNSUPPORTED = {
    "connection_mode": "aiocosmos speaks the gateway protocol only (azure-cosmos's only mode too)",
    "proxy_config": "pass http_session=aiohttp.ClientSession(...) configured with your proxy (trust_env=True)",
    "ssl_config": "pass http_session=aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=...))",
    "connection_cert": "pass http_session=aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=...))",
    "connection_policy": "pass options=aiocosmos.ClientOptions(...) (timeouts, retry, regions)",
    "retry_on_status_codes": "aiocosmos retries by the service's rules (README, retries); only [] is taken",
    "retry_mode": "pass options=ClientOptions(retry=RetryPolicy(...))",
    "logger": "aiocosmos logs to the 'aiocosmos' logger hierarchy: configure logging.getLogger('aiocosmos')",
    "enable_diagnostics_logging": "configure logging.getLogger('aiocosmos') (README, logs)",
    "no_response_on_write": "pass no_response=True on each write",
    "availability_strategy_max_concurrency":
        "hedged reads go to one more region per step (ClientOptions.availability_strategy)",
    "enable_compact_utf8_item_writes": "aiocosmos always writes compact UTF-8 JSON",
}

_ALREADY_SO: dict[str, tuple[object, ...]] = {
    # Values that ask for what aiocosmos does anyway (accepted, nothing to change).
    "connection_mode": ("Gateway",),
    "enable_diagnostics_logging": (False,),
    "no_response_on_write": (False,),
    # orjson writes non-ASCII as UTF-8 (the compact form); the stored document is the same either way.
    "enable_compact_utf8_item_writes": (True, False),
    "retry_on_status_codes": ([], ()),
}

AZURE_CLIENT_KEYWORDS = frozenset({
    "consistency_level", "preferred_locations", "excluded_locations", "enable_endpoint_discovery",
    "multiple_write_locations", "connection_timeout", "read_timeout", "timeout", "connection_verify",
    "retry_total", "retry_backoff_max", "retry_fixed_interval", "retry_write", "user_agent_suffix",
    "availability_strategy", "retry_connect", "retry_read", "retry_status", "retry_backoff_factor",
    "throughput_bucket", "priority", *_UNSUPPORTED,
})


def _number(name: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def _count(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{name} must be a non-negative int, got {value!r}")
    return value


def _regions(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of region names, got {value!r}")
    return tuple(value)


def apply_client_keywords(options: ClientOptions, keywords: dict[str, Any]) -> ClientOptions:
    """``options`` with azure-cosmos's constructor keywords applied on top (only the ones given)."""
    for name, value in keywords.items():
        if name in _UNSUPPORTED and value not in _ALREADY_SO.get(name, ()):
            raise TypeError(f"CosmosClient(..., {name}=...) is azure-cosmos's; aiocosmos does not take it: "
                            f"{_UNSUPPORTED[name]}")
    changes: dict[str, Any] = {}
    timeouts: dict[str, Any] = {}
    retry: dict[str, Any] = {}
    per_kind: list[int] = []
    for name, value in keywords.items():
        if value is None or name in _UNSUPPORTED:
            continue  # azure-cosmos's "not set"; or a value that is already so
        if name == "consistency_level":
            changes["consistency_level"] = value
        elif name == "preferred_locations":
            changes["preferred_regions"] = _regions(name, value)
        elif name == "excluded_locations":
            changes["excluded_regions"] = _regions(name, value)
        elif name == "enable_endpoint_discovery":
            changes["enable_endpoint_discovery"] = bool(value)
        elif name == "multiple_write_locations":
            if not value:
                raise TypeError("multiple_write_locations=False: aiocosmos writes to the regions the account "
                                "offers; to keep writes out of a region use excluded_locations=[...]")
            # True is what aiocosmos does anyway on a multi-write account (writes go to the nearest region).
        elif name == "connection_timeout":
            timeouts["connect"] = _number(name, value)
        elif name == "read_timeout":
            timeouts["read"] = _number(name, value)
        elif name == "timeout":
            timeouts["operation"] = _number(name, value)
        elif name == "connection_verify":
            if not isinstance(value, bool):
                raise TypeError("connection_verify must be a bool; for a CA bundle pass http_session= with an "
                                "aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=...))")
            changes["verify_tls"] = value
        elif name == "retry_total":
            retry["max_throttle_retries"] = retry["max_transient_retries"] = _count(name, value)
        elif name in ("retry_connect", "retry_read", "retry_status"):
            per_kind.append(_count(name, value))
        elif name == "retry_backoff_factor":
            retry["backoff_base"] = _number(name, value)
        elif name == "throughput_bucket":
            changes["throughput_bucket"] = _count(name, value)
        elif name == "priority":
            changes["priority"] = value
        elif name == "retry_backoff_max":
            retry["max_throttle_wait"] = _number(name, value)
        elif name == "retry_fixed_interval":
            retry["throttle_fallback_wait"] = _number(name, value) / 1000.0  # milliseconds in azure-cosmos
        elif name == "retry_write":
            retry["replay_idempotent_writes"] = bool(value)
        elif name == "user_agent_suffix":
            if not isinstance(value, str):
                raise TypeError(f"user_agent_suffix must be a string, got {value!r}")
            changes["user_agent_suffix"] = value
        elif name == "availability_strategy":
            changes["availability_strategy"] = value
        else:  # pragma: no cover - AZURE_CLIENT_KEYWORDS and this chain list the same names
            raise TypeError(f"CosmosClient() got an unexpected keyword argument {name!r}")
    if per_kind:
        # One budget covers connection, read and retryable-status failures here: the largest one given,
        # within retry_total (urllib3's reading of azure-cosmos's keywords).
        total = retry.get("max_transient_retries")
        retry["max_transient_retries"] = max(per_kind) if total is None else min(total, max(per_kind))
    if timeouts:
        changes["timeouts"] = attrs.evolve(options.timeouts, **timeouts)
    if retry:
        changes["retry"] = attrs.evolve(options.retry, **retry)
    return attrs.evolve(options, **changes) if changes else options
