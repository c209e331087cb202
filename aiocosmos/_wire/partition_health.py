"""Per-partition circuit breaker (PPCB) and per-partition automatic failover (PPAF), as azure-cosmos
4.15+ and the .NET SDK have them: one partition key range failing in one region moves that partition's
requests to the next region, while the region stays in use for every other partition.

Pure policy (no I/O); the multi-region loop (``multi_region.py``) asks it how to order the regions
of a request scoped to one partition and tells it how each attempt ended. A *partition* here is an
opaque string (``ClientCore`` makes it: container link + partition key range id).

The rules (azure-cosmos ``_partition_health_tracker.py`` and the PPAF endpoint manager, read, not copied):

* Counted failures: 408, every 5xx (503 included) and transport failures (timeouts, resets, refused
  connections). 429, 404/1002, 410 and the other 4xx say nothing about the partition's health.
* Consecutive counts per (partition, region), reads and writes apart, reset by a success (status < 400).
  ``consecutive_error_count_tolerated_for_read`` (10) or ``..._for_write`` (5) of them in a row make the
  partition unavailable in that region: its requests go to the other regions first (the region is
  still the last resort, as excluded regions are).
* After ``unavailable_for`` seconds (60) one request is let through to the region (the probe; the
  others keep avoiding it meanwhile). Its success makes the partition healthy there again; its failure
  makes it unavailable again for twice the previous window, up to ``max_unavailable_for`` (20 min).
* PPCB applies to reads, and to item writes on multi-write accounts. On a single-write account, item
  writes (and stored-procedure runs) of a partition move by PPAF instead, when the account has
  ``enablePerPartitionFailoverBehavior`` (or ``per_partition_automatic_failover=True``): 503 and
  403/3 move the partition's writes to the next region at once; 408, other 5xx and transport
  failures do so after ``timeout_error_threshold_for_ppaf`` (10) of them without a success between.
  Unlike azure-cosmos (which stays in the new region until it fails too) the old region is probed
  again after the same recovery window, so a partition returns to the account's write region.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Protocol, TypeVar

import attrs

from ..exceptions import ConfigurationError
from .clock import Clock

__all__ = ["PartitionCircuitBreaker", "PartitionHealth", "circuit_breaker_option", "counts_as_failure"]

_log = logging.getLogger("aiocosmos.wire")

DEFAULT_READ_FAILURES: Final = 10
DEFAULT_WRITE_FAILURES: Final = 5
DEFAULT_UNAVAILABLE_FOR: Final = 60.0
DEFAULT_MAX_UNAVAILABLE_FOR: Final = 1200.0
DEFAULT_PPAF_FAILURES: Final = 10


def _count(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{type(instance).__name__}.{attribute.name} must be an integer >= 1, got {value!r}")


def _seconds(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{type(instance).__name__}.{attribute.name} must be > 0 seconds, got {value!r}")


def _optional_bool(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(f"{type(instance).__name__}.{attribute.name} must be True, False or None, "
                                 f"got {value!r}")


@attrs.frozen(kw_only=True)
class PartitionCircuitBreaker:
    """The thresholds of the per-partition circuit breaker (``ClientOptions.partition_circuit_breaker``).

    The count names are azure-cosmos's environment variables (``AZURE_COSMOS_CONSECUTIVE_ERROR_COUNT_
    TOLERATED_FOR_READ`` ...), which this client does not read: pass them here. Defaults as azure-cosmos.
    ``per_partition_automatic_failover``: None follows the account's ``enablePerPartitionFailoverBehavior``
    (as azure-cosmos); True or False overrides it."""

    consecutive_error_count_tolerated_for_read: int = attrs.field(default=DEFAULT_READ_FAILURES, validator=_count)
    consecutive_error_count_tolerated_for_write: int = attrs.field(default=DEFAULT_WRITE_FAILURES, validator=_count)
    unavailable_for: float = attrs.field(default=DEFAULT_UNAVAILABLE_FOR, validator=_seconds)
    """Seconds a tripped partition avoids the region before one request probes it again."""
    max_unavailable_for: float = attrs.field(default=DEFAULT_MAX_UNAVAILABLE_FOR, validator=_seconds)
    """The window doubles after each failed probe, up to this."""
    timeout_error_threshold_for_ppaf: int = attrs.field(default=DEFAULT_PPAF_FAILURES, validator=_count)
    per_partition_automatic_failover: bool | None = attrs.field(default=None, validator=_optional_bool)

    @max_unavailable_for.validator
    def _check_max(self, attribute: attrs.Attribute[Any], value: float) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool) and value < self.unavailable_for:
            raise ConfigurationError(f"PartitionCircuitBreaker.max_unavailable_for ({value!r}) must be >= "
                                     f"unavailable_for ({self.unavailable_for!r})")


def circuit_breaker_option(value: Any) -> PartitionCircuitBreaker | None:
    """``ClientOptions.partition_circuit_breaker``: True (the defaults), False/None (off, the default,
    as in azure-cosmos) or a ``PartitionCircuitBreaker``."""
    if value is None or value is False:
        return None
    if value is True:
        return PartitionCircuitBreaker()
    if isinstance(value, PartitionCircuitBreaker):
        return value
    raise ConfigurationError(f"partition_circuit_breaker must be True, False or a PartitionCircuitBreaker, "
                             f"got {value!r}")


def counts_as_failure(status: int) -> bool:
    """Whether an HTTP answer counts against the partition's health in its region (408 and 5xx)."""
    return status == 408 or status >= 500


class _Endpoint(Protocol):
    @property
    def endpoint(self) -> str: ...


R = TypeVar("R", bound=_Endpoint)


class _Health:
    """One partition in one region."""

    __slots__ = ("interval", "probing", "read_failures", "until", "write_failures")

    def __init__(self) -> None:
        self.read_failures = 0
        self.write_failures = 0
        self.until: float | None = None  # None: healthy; else when one request may probe the region
        self.interval = 0.0
        self.probing = False


class _Tracker:
    """Health per (partition, region endpoint); entries exist only for partitions that failed."""

    __slots__ = ("_clock", "_first", "_label", "_max", "partitions")

    def __init__(self, clock: Clock, first: float, maximum: float, label: str) -> None:
        self._clock = clock
        self._first = first
        self._max = maximum
        self._label = label
        self.partitions: dict[str, dict[str, _Health]] = {}

    def order(self, partition: str, regions: list[R]) -> list[R]:
        by_endpoint = self.partitions.get(partition)
        if not by_endpoint:
            return regions
        now = self._clock.monotonic()
        unavailable: set[str] = set()
        for endpoint, health in by_endpoint.items():
            if health.until is None:
                continue
            if now >= health.until:
                # The window is over (or a probe went unanswered for as long): this request probes
                # the region; the others keep avoiding it until the probe's answer.
                health.probing = True
                health.until = now + health.interval
                continue
            unavailable.add(endpoint)
        if not unavailable:
            return regions
        return [r for r in regions if r.endpoint not in unavailable] + \
            [r for r in regions if r.endpoint in unavailable]

    def failure(self, partition: str, endpoint: str, *, write: bool, limit: int) -> None:
        health = self.partitions.setdefault(partition, {}).setdefault(endpoint, _Health())
        if write:
            health.write_failures += 1
            count = health.write_failures
        else:
            health.read_failures += 1
            count = health.read_failures
        if health.probing or (health.until is None and count >= limit):
            self.trip(partition, endpoint)

    def trip(self, partition: str, endpoint: str) -> None:
        health = self.partitions.setdefault(partition, {}).setdefault(endpoint, _Health())
        if health.until is not None and not health.probing:
            return  # already unavailable (an attempt that was under way when it tripped)
        health.interval = min(health.interval * 2, self._max) if health.probing else self._first
        health.probing = False
        health.until = self._clock.monotonic() + health.interval
        _log.warning("aiocosmos: partition %s unavailable in %s for %.0fs (%s)", partition, endpoint,
                     health.interval, self._label,
                     extra={"cosmos_event": "partition_unavailable", "cosmos_endpoint": endpoint,
                            "cosmos_partition": partition, "cosmos_cooldown": health.interval})

    def success(self, partition: str, endpoint: str) -> None:
        by_endpoint = self.partitions.get(partition)
        if by_endpoint is None or endpoint not in by_endpoint:
            return  # the common case: nothing ever failed here
        health = by_endpoint.pop(endpoint)
        if health.until is not None:
            _log.info("aiocosmos: partition %s available again in %s (%s)", partition, endpoint, self._label,
                      extra={"cosmos_event": "partition_available", "cosmos_endpoint": endpoint,
                             "cosmos_partition": partition})
        if not by_endpoint:
            del self.partitions[partition]

    def unavailable(self, partition: str) -> list[str]:
        now = self._clock.monotonic()
        return [endpoint for endpoint, health in self.partitions.get(partition, {}).items()
                if health.until is not None and now < health.until]


class PartitionHealth:
    """The client's breaker state: PPCB for reads (and multi-write writes), PPAF for single-write writes.

    A success clears the partition's counts in that region (reads and writes both: the replica
    answered). ``order`` is called once per attempt; ``record_*`` once per answer."""

    __slots__ = ("_breaker", "_failover", "options")

    def __init__(self, options: PartitionCircuitBreaker, clock: Clock) -> None:
        self.options = options
        self._breaker = _Tracker(clock, options.unavailable_for, options.max_unavailable_for, "circuit breaker")
        self._failover = _Tracker(clock, options.unavailable_for, options.max_unavailable_for,
                                  "automatic failover")

    def automatic_failover(self, account_flag: bool) -> bool:
        """Whether single-write item writes move per partition (PPAF), given the account's flag."""
        setting = self.options.per_partition_automatic_failover
        return account_flag if setting is None else setting

    def order(self, partition: str, regions: list[R], *, failover: bool = False) -> list[R]:
        """``regions`` with those where ``partition`` is unavailable moved to the end."""
        return (self._failover if failover else self._breaker).order(partition, regions)

    def record_failure(self, partition: str, endpoint: str, *, write: bool, failover: bool = False) -> None:
        """A counted failure (``counts_as_failure``, or a transport failure) of one attempt."""
        if failover:
            self._failover.failure(partition, endpoint, write=True,
                                   limit=self.options.timeout_error_threshold_for_ppaf)
        else:
            limit = self.options.consecutive_error_count_tolerated_for_write if write else \
                self.options.consecutive_error_count_tolerated_for_read
            self._breaker.failure(partition, endpoint, write=write, limit=limit)

    def fail_over(self, partition: str, endpoint: str) -> None:
        """PPAF: the region refused the partition's write (503, 403/3): move its writes at once."""
        self._failover.trip(partition, endpoint)

    def record_success(self, partition: str, endpoint: str, *, failover: bool = False) -> None:
        (self._failover if failover else self._breaker).success(partition, endpoint)

    def unavailable(self, partition: str, *, failover: bool = False) -> list[str]:
        """The endpoints ``partition`` avoids now (diagnostics and tests)."""
        return (self._failover if failover else self._breaker).unavailable(partition)
