"""The public options of throughput control, and its statistics."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import attrs

from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["GlobalThroughputControlConfig", "ThroughputControlGroupConfig", "ThroughputControlStats"]

MIN_RENEW_INTERVAL: Final = 1.0
"""Java's minimum is 5 s; a shorter one is allowed here (tests and short jobs), at more control-item RU."""
_PRIORITIES: Final = ("High", "Low")


def _check_name(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{attribute.name} must be a non-empty string, got {value!r}")


def _positive_or_none(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{attribute.name} must be a number > 0, got {value!r}")


@attrs.frozen
class ThroughputControlGroupConfig:
    """A named throughput budget on one container (Java's ``ThroughputControlGroupConfig``).

    ``target_throughput``: RU/s for the whole group. ``target_throughput_threshold``: a fraction (0, 1]
    of the container's provisioned throughput (read from its offer). With both, the smaller wins.
    ``priority``: ``"Low"`` makes the group's requests yield to high-priority ones when the budget is
    short (a request's own ``priority=`` keyword wins). ``is_default`` is kept for Java's control-item
    schema; a group enabled on a container covers every request of that container through that client.
    """

    name: str = attrs.field(validator=_check_name)
    target_throughput: float | None = attrs.field(default=None, validator=_positive_or_none)
    target_throughput_threshold: float | None = attrs.field(default=None, validator=_positive_or_none)
    is_default: bool = True
    priority: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.target_throughput is None and self.target_throughput_threshold is None:
            raise ConfigurationError(f"throughput control group {self.name!r} needs target_throughput (RU/s) "
                                     "or target_throughput_threshold (a fraction of the container's throughput)")
        if self.target_throughput_threshold is not None and self.target_throughput_threshold > 1:
            raise ConfigurationError("target_throughput_threshold must be in (0, 1], got "
                                     f"{self.target_throughput_threshold!r}")
        if self.priority is not None and self.priority not in _PRIORITIES:
            raise ConfigurationError(f"priority must be 'High' or 'Low', got {self.priority!r}")


@attrs.frozen
class GlobalThroughputControlConfig:
    """Share a group across processes through ``control_container`` (Java's
    ``GlobalThroughputControlConfig``): partitioned by ``/groupId``; every client renews its item every
    ``renew_interval`` seconds and a client silent for ``expire_interval`` (default ``2 x renew + 1``)
    is dropped from the sharing (its item also carries that ``ttl``)."""

    control_container: ContainerProxy
    renew_interval: float = 5.0
    expire_interval: float | None = None

    def __attrs_post_init__(self) -> None:
        renew = self.renew_interval
        if isinstance(renew, bool) or not isinstance(renew, (int, float)) or not renew >= MIN_RENEW_INTERVAL:
            raise ConfigurationError(f"renew_interval must be >= {MIN_RENEW_INTERVAL} s, got {renew!r}")
        expire = self.expire_interval
        if expire is not None and (isinstance(expire, bool) or not isinstance(expire, (int, float))
                                   or not expire > renew):
            raise ConfigurationError(f"expire_interval must be a number > renew_interval ({renew}), got {expire!r}")

    @property
    def expire_seconds(self) -> float:
        """Seconds after which a client that stopped renewing no longer counts (default ``2 x renew + 1``)."""
        return self.expire_interval if self.expire_interval is not None else 2 * self.renew_interval + 1


@attrs.frozen
class ThroughputControlStats:
    """One client's view of its group: the group's target (RU/s), this client's share (0..1] and
    budget (RU/s), the RU/s it used over the last cycles, and how many requests it sent and delayed."""

    group: str
    target_throughput: float
    share: float
    allocated_throughput: float
    ru_per_second: float
    requests: int
    requests_delayed: int
    clients: int
