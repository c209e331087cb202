"""The per-partition circuit breaker's state machine (``aiocosmos._wire.partition_health``), on a fake clock."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos._wire.partition_health import PartitionCircuitBreaker, PartitionHealth, counts_as_failure
from aiocosmos._wire.regions import Region
from aiocosmos.exceptions import ConfigurationError
from aiocosmos.testing import FakeClock

WEST, EAST, NORTH = Region("West US", "http://west"), Region("East US", "http://east"), \
    Region("North US", "http://north")
REGIONS = [WEST, EAST, NORTH]
P1, P2 = "dbs/d/colls/c#1", "dbs/d/colls/c#2"


def breaker(clock: FakeClock, **options: object) -> PartitionHealth:
    return PartitionHealth(PartitionCircuitBreaker(**options), clock)  # type: ignore[arg-type]


def fail(health: PartitionHealth, times: int, partition: str = P1, region: Region = WEST, *,
         write: bool = False, failover: bool = False) -> None:
    for _ in range(times):
        health.record_failure(partition, region.endpoint, write=write, failover=failover)


def test_defaults_are_azure_cosmos_defaults() -> None:
    options = PartitionCircuitBreaker()
    assert (options.consecutive_error_count_tolerated_for_read, options.consecutive_error_count_tolerated_for_write,
            options.unavailable_for, options.max_unavailable_for, options.timeout_error_threshold_for_ppaf) == \
        (10, 5, 60.0, 1200.0, 10)
    assert options.per_partition_automatic_failover is None
    assert aiocosmos.ClientOptions().partition_circuit_breaker is None  # off by default, as in azure-cosmos
    assert aiocosmos.ClientOptions(partition_circuit_breaker=True).partition_circuit_breaker == options
    assert aiocosmos.ClientOptions(partition_circuit_breaker=False).partition_circuit_breaker is None


@pytest.mark.parametrize("options, named", [
    ({"consecutive_error_count_tolerated_for_read": 0}, "consecutive_error_count_tolerated_for_read"),
    ({"consecutive_error_count_tolerated_for_write": 2.5}, "consecutive_error_count_tolerated_for_write"),
    ({"unavailable_for": -1}, "unavailable_for"),
    ({"unavailable_for": 30, "max_unavailable_for": 10}, "max_unavailable_for"),
    ({"timeout_error_threshold_for_ppaf": True}, "timeout_error_threshold_for_ppaf"),
    ({"per_partition_automatic_failover": "yes"}, "per_partition_automatic_failover"),
])
def test_bad_thresholds_are_refused_naming_the_value(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        PartitionCircuitBreaker(**options)  # type: ignore[arg-type]


def test_bad_option_value_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"partition_circuit_breaker.*'on'"):
        aiocosmos.ClientOptions(partition_circuit_breaker="on")


def test_counted_statuses() -> None:
    assert [s for s in (400, 403, 404, 408, 409, 410, 412, 429, 449, 500, 502, 503, 504) if counts_as_failure(s)] \
        == [408, 500, 502, 503, 504]


def test_read_threshold_moves_only_that_partition_in_that_region() -> None:
    clock = FakeClock()
    health = breaker(clock, consecutive_error_count_tolerated_for_read=3)
    fail(health, 2)
    assert health.order(P1, REGIONS) == REGIONS  # below the threshold: nothing moves
    fail(health, 1)
    assert health.order(P1, REGIONS) == [EAST, NORTH, WEST]  # the region is still the last resort
    assert health.order(P2, REGIONS) == REGIONS  # another partition: the region is fine
    assert health.unavailable(P1) == [WEST.endpoint]
    fail(health, 3, region=EAST)
    assert health.order(P1, REGIONS) == [NORTH, WEST, EAST]


def test_a_success_resets_the_consecutive_count() -> None:
    clock = FakeClock()
    health = breaker(clock, consecutive_error_count_tolerated_for_read=3)
    fail(health, 2)
    health.record_success(P1, WEST.endpoint)
    fail(health, 2)
    assert health.order(P1, REGIONS) == REGIONS  # 2 + 2, but never 3 in a row
    fail(health, 1)
    assert health.order(P1, REGIONS) == [EAST, NORTH, WEST]


def test_reads_and_writes_have_their_own_thresholds() -> None:
    clock = FakeClock()
    health = breaker(clock, consecutive_error_count_tolerated_for_read=4, consecutive_error_count_tolerated_for_write=2)
    fail(health, 3)  # reads
    fail(health, 1, write=True)
    assert health.order(P1, REGIONS) == REGIONS  # 3 reads < 4, 1 write < 2: counted apart
    fail(health, 1, write=True)
    assert health.order(P1, REGIONS) == [EAST, NORTH, WEST]


def test_recovery_window_then_one_probe() -> None:
    clock = FakeClock()
    health = breaker(clock, consecutive_error_count_tolerated_for_read=2, unavailable_for=60)
    fail(health, 2)
    clock.advance(59.9)
    assert health.order(P1, REGIONS)[0] == EAST
    clock.advance(0.2)
    assert health.order(P1, REGIONS)[0] == WEST  # the window is over: this request probes West
    assert health.order(P1, REGIONS)[0] == EAST  # ... and the others keep away until it answers
    health.record_success(P1, WEST.endpoint)
    assert health.order(P1, REGIONS) == REGIONS  # back
    assert health.unavailable(P1) == []
    fail(health, 1)
    assert health.order(P1, REGIONS) == REGIONS  # counting starts over after the recovery


def test_a_failed_probe_doubles_the_window_up_to_the_maximum() -> None:
    clock = FakeClock()
    health = breaker(clock, consecutive_error_count_tolerated_for_read=5, unavailable_for=60, max_unavailable_for=200)
    fail(health, 5)
    windows = []
    for _ in range(4):
        start = clock.monotonic()
        while health.order(P1, REGIONS)[0] != WEST:  # wait for the probe, one second at a time
            clock.advance(1)
        windows.append(round(clock.monotonic() - start))
        fail(health, 1)  # the probe fails: one failure is enough
    assert windows == [60, 120, 200, 200]
    assert health.order(P1, REGIONS)[0] == EAST


def test_an_unanswered_probe_lets_another_request_probe_after_the_window() -> None:
    clock = FakeClock()
    health = breaker(clock, consecutive_error_count_tolerated_for_read=1, unavailable_for=10)
    fail(health, 1)
    clock.advance(10)
    assert health.order(P1, REGIONS)[0] == WEST  # a probe, never answered (e.g. cancelled)
    clock.advance(5)
    assert health.order(P1, REGIONS)[0] == EAST
    clock.advance(5)
    assert health.order(P1, REGIONS)[0] == WEST


def test_failures_while_tripped_do_not_extend_the_window() -> None:
    clock = FakeClock()
    health = breaker(clock, consecutive_error_count_tolerated_for_read=2, unavailable_for=60)
    fail(health, 2)
    clock.advance(30)
    fail(health, 5)  # attempts that were under way when it tripped
    clock.advance(30)
    assert health.order(P1, REGIONS)[0] == WEST


def test_automatic_failover_trips_at_once_and_counts_timeouts_apart() -> None:
    clock = FakeClock()
    health = breaker(clock, timeout_error_threshold_for_ppaf=3, consecutive_error_count_tolerated_for_write=1)
    health.fail_over(P1, WEST.endpoint)  # 503 or 403/3 from the write region
    assert health.order(P1, REGIONS, failover=True) == [EAST, NORTH, WEST]
    assert health.order(P1, REGIONS) == REGIONS  # the breaker's own state is apart
    fail(health, 2, P2, failover=True)
    assert health.order(P2, REGIONS, failover=True) == REGIONS
    health.record_success(P2, WEST.endpoint, failover=True)
    fail(health, 2, P2, failover=True)
    assert health.order(P2, REGIONS, failover=True) == REGIONS  # a success between: not 3 in a row
    fail(health, 1, P2, failover=True)
    assert health.order(P2, REGIONS, failover=True) == [EAST, NORTH, WEST]
    health.fail_over(P1, EAST.endpoint)
    assert health.order(P1, REGIONS, failover=True) == [NORTH, WEST, EAST]


@pytest.mark.parametrize("setting, account, expected", [
    (None, True, True), (None, False, False), (True, False, True), (False, True, False),
])
def test_automatic_failover_follows_the_account_unless_set(setting: bool | None, account: bool,
                                                           expected: bool) -> None:
    health = breaker(FakeClock(), per_partition_automatic_failover=setting)
    assert health.automatic_failover(account) is expected
