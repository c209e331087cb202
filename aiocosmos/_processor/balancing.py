"""Equal-partitions balancing and the processor's timing options: pure code, no I/O, no clock reads.

The rule is the one the .NET v3 (``EqualPartitionsBalancingStrategy``) and Java v4 processors run
every acquire interval, so hosts of all three share one lease set fairly:

1. A lease is *available* when it has no owner or its owner has not renewed it within the
   expiration interval; every other lease counts for its owner. This host counts with 0 leases.
2. ``target = ceil(leases / hosts)`` (1 when there are no more leases than hosts), clamped to
   ``[min_leases, max_leases]`` (0 = no bound).
3. A host below its target takes that many available leases; when none is available it steals
   **one** lease from the host that has the most, provided that host has more than
   ``target - (1 if it needs more than one else 0)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import attrs

from ..exceptions import ValidationError
from .leases import Lease

__all__ = ["LeaseTimings", "leases_to_take", "target_count"]


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValidationError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def _count(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{attribute.name} must be a whole number >= 0 (0 = no bound), got {value!r}")


@attrs.frozen
class LeaseTimings:
    """How often a host balances (acquires), renews its leases, when an unrenewed lease expires, and
    how long a caught-up lease waits before it polls again. The defaults are the official SDKs'."""

    acquire_interval: float = attrs.field(default=13.0, validator=_positive)
    renew_interval: float = attrs.field(default=17.0, validator=_positive)
    expiration_interval: float = attrs.field(default=60.0, validator=_positive)
    poll_interval: float = attrs.field(default=5.0, validator=_positive)
    min_leases: int = attrs.field(default=0, validator=_count)
    max_leases: int = attrs.field(default=0, validator=_count)

    def __attrs_post_init__(self) -> None:
        if self.renew_interval >= self.expiration_interval:
            raise ValidationError(
                f"renew_interval ({self.renew_interval} s) must be shorter than expiration_interval "
                f"({self.expiration_interval} s), or a host loses the leases it holds"
            )
        if self.max_leases and self.min_leases > self.max_leases:
            raise ValidationError(f"min_leases ({self.min_leases}) is above max_leases ({self.max_leases})")


def target_count(leases: int, hosts: int, min_leases: int = 0, max_leases: int = 0) -> int:
    target = 1
    if leases > hosts:
        target = math.ceil(leases / hosts)
    if max_leases > 0 and target > max_leases:
        target = max_leases
    if min_leases > 0 and target < min_leases:
        target = min_leases
    return target


def leases_to_take(
    leases: Iterable[Lease],
    me: str,
    *,
    now: float,
    expiration: float,
    min_leases: int = 0,
    max_leases: int = 0,
) -> list[Lease]:
    """The leases host ``me`` should try to acquire now (available ones first, else one to steal)."""
    all_leases: dict[str, Lease] = {}
    available: list[Lease] = []
    per_host: dict[str, int] = {}
    for lease in leases:
        all_leases[lease.token] = lease
        if lease.is_available(now, expiration):
            available.append(lease)
        else:
            assert lease.owner is not None
            per_host[lease.owner] = per_host.get(lease.owner, 0) + 1
    per_host.setdefault(me, 0)
    if not all_leases:
        return []
    target = target_count(len(all_leases), len(per_host), min_leases, max_leases)
    needed = target - per_host[me]
    if needed <= 0:
        return []
    if available:
        return available[:needed]
    victim = _busiest(per_host)
    if victim is not None and per_host[victim] > target - (1 if needed > 1 else 0):
        return [next(lease for lease in all_leases.values() if lease.owner == victim)]
    return []


def _busiest(per_host: dict[str, int]) -> str | None:
    """The host with the most leases (the last such one in order, as the SDKs pick it)."""
    best: str | None = None
    best_count = 0
    for host, count in per_host.items():
        if best_count <= count:
            best, best_count = host, count
    return best


def owned_by(leases: Sequence[Lease], me: str, *, now: float, expiration: float) -> list[Lease]:
    """The leases the store says ``me`` holds and that have not expired."""
    return [lease for lease in leases if lease.owner == me and not lease.is_expired(now, expiration)]
