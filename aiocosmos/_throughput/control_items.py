"""The control container's items, in the Java SDK's schema, and the share computation.

A Java client (or a Spark job using the Java connector) and an aiocosmos client can share one group:
the ids, partition keys (``groupId``) and fields are the same.

* ``groupId`` of every item of a group starts with ``{database}/{container}/{group}``.
* The config item: id ``base64url(group) + ".info"``, groupId ``prefix + ".config"``;
  ``targetThroughput``, ``targetThroughputThreshold``, ``isDefault``. Created if absent; the copy in
  the container wins, so every client of the group enforces the same target.
* One client item per client: id ``base64url(group) + uuid``, groupId ``prefix + ".client"``;
  ``loadFactor``, ``allocatedThroughput``, ``initializeTime``, and ``ttl`` = the expire interval.

Difference: a client counts another as alive only while the other's ``_ts`` is within the expire
interval of its own last renewal's ``_ts`` (both stamped by the service's clock, so host clocks may
differ). Java relies on ``ttl`` alone; this also works where the container's TTL is off or slow to act.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["client_item", "config_item", "group_prefix", "item_ids", "live_load_factors", "share_of",
           "target_from_config"]


def group_prefix(database: str, container: str, group: str) -> str:
    return f"{database}/{container}/{group}"


def _encoded(group: str) -> str:
    return base64.urlsafe_b64encode(group.encode()).decode()


def item_ids(prefix: str, group: str, client_id: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """((config id, config groupId), (client id, client groupId))."""
    encoded = _encoded(group)
    return (encoded + ".info", prefix + ".config"), (encoded + client_id, prefix + ".client")


def config_item(prefix: str, group: str, target: float | None, threshold: float | None,
                is_default: bool) -> dict[str, Any]:
    (config_id, config_pk), _ = item_ids(prefix, group, "")
    return {"id": config_id, "groupId": config_pk, "targetThroughput": "" if target is None else str(target),
            "targetThroughputThreshold": "" if threshold is None else str(threshold), "isDefault": is_default}


def target_from_config(item: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(targetThroughput, targetThroughputThreshold) of a config item (Java writes them as strings)."""
    def number(value: Any) -> float | None:
        if value in (None, ""):
            return None
        try:
            parsed = float(value)
        except (TypeError, ValueError):
            return None
        return parsed if parsed > 0 else None
    return number(item.get("targetThroughput")), number(item.get("targetThroughputThreshold"))


def client_item(prefix: str, group: str, client_id: str, load_factor: float, allocated: float,
                initialized: float, expire_seconds: float) -> dict[str, Any]:
    _, (item_id, pk) = item_ids(prefix, group, client_id)
    started = datetime.fromtimestamp(initialized, UTC).isoformat().replace("+00:00", "Z")
    return {"id": item_id, "groupId": pk, "loadFactor": load_factor, "allocatedThroughput": allocated,
            "initializeTime": started, "ttl": max(1, round(expire_seconds))}


def live_load_factors(items: Iterable[Mapping[str, Any]], me: str, now_ts: float,
                      expire_seconds: float) -> list[float]:
    """The load factors of the other clients renewed within ``expire_seconds`` of ``now_ts`` (the
    service's ``_ts`` of this client's own renewal)."""
    factors = []
    for item in items:
        if item.get("id") == me:
            continue
        ts = item.get("_ts")
        load = item.get("loadFactor")
        if not isinstance(ts, (int, float)) or not isinstance(load, (int, float)) or isinstance(load, bool):
            continue
        if now_ts - ts <= expire_seconds:
            factors.append(float(load))
    return factors


def share_of(mine: float, others: Iterable[float]) -> float:
    """This client's fraction of the group: its load factor over the sum of all live clients'."""
    total = mine + sum(max(0.0, f) for f in others)
    return 1.0 if total <= 0 else mine / total
