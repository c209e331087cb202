"""Multi-region accounts: what the database account says about its regions, and where to send what.

The ``LocationCache`` is pure state (no I/O): the account's writable and readable regions, the
user's preferred and excluded regions, and which regional endpoints recently failed. It answers, per
request, the ordered list of regions to try. ``RegionRouter`` adds what needs I/O: reading the account
(``GET /``) at first use, every ``account_refresh_interval`` seconds and on demand, one refresh at a
time, and one ``Transport`` per regional endpoint (all sharing the client's connection pool).

Routing (spec section 12):

* writes go to the account's first writable region; on a multi-write account, writes of items (and
  stored procedure runs) go to the first preferred writable region (then the others), with
  ``x-ms-cosmos-allow-tentative-writes: true``;
* reads go to the first preferred readable region, then the other readable regions;
* excluded regions are left out while any other one is left; with no regions at all (no account
  read yet, or discovery failed) everything goes to the endpoint the client was given;
* a region that failed (connection failure or 503) moves to the end of the list for
  ``region_cooldown`` seconds, then comes back in its place.

The pipeline's multi-region loop (``multi_region.py``) decides when to move on to the next region;
this module only orders them. A client without discovery never builds any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import aiohttp
import orjson

from .clock import Clock
from .options import ClientOptions
from .partition_health import PartitionHealth
from .transport import Transport

__all__ = [
    "MULTI_WRITE_RESOURCES", "AccountRegions", "LocationCache", "Region", "RegionRouter", "excluded_regions",
    "is_read", "make_router", "parse_account",
]

_log = logging.getLogger("aiocosmos.wire")

FAILED_REFRESH_RETRY: Final = 5.0
"""Seconds before the account is read again after a refresh that reached no endpoint."""
MULTI_WRITE_RESOURCES: Final = frozenset({"docs", "sprocs"})
"""Writes that a multi-write account takes in any write region; the rest go to the first one."""
_QUERY_HEADERS: Final = frozenset({"x-ms-documentdb-isquery", "x-ms-cosmos-is-query-plan-request"})


def is_read(method: str, headers: Mapping[str, str] | None) -> bool:
    """GETs, and POSTs that are queries, go to read regions; everything else to write regions."""
    if method == "GET" or method == "HEAD":
        return True
    if method == "POST" and headers:
        return any(name.lower() in _QUERY_HEADERS for name in headers)
    return False


def _key(name: str) -> str:
    """Region names compare without case and spaces ("West US 2" == "westus2")."""
    return "".join(name.split()).lower()


_EXCLUDED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("aiocosmos_excluded_regions",
                                                                        default=frozenset())


@contextlib.contextmanager
def excluded_regions(names: Iterable[str]) -> Iterator[None]:
    """Leave ``names`` out of routing for the operations run inside the block (this task only), on
    top of ``ClientOptions.excluded_regions``: ``with aiocosmos.excluded_regions(["East US"]): ...``.
    As with the client's own list, an excluded region is still used when no other one is left.
    Has no effect on a client without endpoint discovery."""
    if isinstance(names, str):
        raise TypeError("excluded_regions takes a list of region names, not a string")
    token = _EXCLUDED.set(_EXCLUDED.get() | {_key(name) for name in names})
    try:
        yield
    finally:
        _EXCLUDED.reset(token)


def exclude_for_call(names: Iterable[str]) -> contextvars.Token[frozenset[str]]:
    """``excluded_regions`` for one call without a ``with`` block: reset the token when the call is done."""
    return _EXCLUDED.set(_EXCLUDED.get() | {_key(name) for name in names})


def end_exclusion(token: contextvars.Token[frozenset[str]]) -> None:
    _EXCLUDED.reset(token)


def request_exclusions() -> frozenset[str]:
    """The regions excluded for the current task's operations (normalised names)."""
    return _EXCLUDED.get()


class Region:
    """One regional endpoint: its name (as the account spells it) and its base URL (no trailing /)."""

    __slots__ = ("endpoint", "name")

    def __init__(self, name: str, endpoint: str) -> None:
        self.name = name
        self.endpoint = endpoint.rstrip("/")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Region) and (self.name, self.endpoint) == (other.name, other.endpoint)

    def __hash__(self) -> int:
        return hash((self.name, self.endpoint))

    def __repr__(self) -> str:
        return f"Region({self.name!r}, {self.endpoint!r})"


class AccountRegions:
    """The parts of the database account that routing needs (and a few callers may want)."""

    __slots__ = ("default_consistency", "multiple_write_locations", "per_partition_failover",
                 "query_engine_configuration", "readable", "writable")

    def __init__(
        self,
        writable: Sequence[Region],
        readable: Sequence[Region],
        *,
        multiple_write_locations: bool = False,
        default_consistency: str | None = None,
        query_engine_configuration: Mapping[str, Any] | None = None,
        per_partition_failover: bool = False,
    ) -> None:
        self.writable = tuple(writable)
        self.per_partition_failover = per_partition_failover
        self.readable = tuple(readable)
        self.multiple_write_locations = multiple_write_locations
        self.default_consistency = default_consistency
        self.query_engine_configuration = dict(query_engine_configuration or {})


def _locations(value: Any) -> list[Region]:
    regions = []
    for location in value or ():
        if not isinstance(location, Mapping):
            continue
        name, endpoint = location.get("name"), location.get("databaseAccountEndpoint")
        if isinstance(name, str) and isinstance(endpoint, str) and endpoint.startswith(("http://", "https://")):
            regions.append(Region(name, endpoint))
    return regions


def parse_account(body: Any) -> AccountRegions:
    """The account document of ``GET /`` (spec section 12); missing or odd fields are left empty."""
    if not isinstance(body, Mapping):
        return AccountRegions((), ())
    policy = body.get("userConsistencyPolicy")
    consistency = policy.get("defaultConsistencyLevel") if isinstance(policy, Mapping) else None
    config: Any = body.get("queryEngineConfiguration")
    if isinstance(config, str):  # a JSON-encoded string, not an object
        try:
            config = orjson.loads(config)
        except orjson.JSONDecodeError:
            config = None
    return AccountRegions(
        _locations(body.get("writableLocations")),
        _locations(body.get("readableLocations")),
        multiple_write_locations=body.get("enableMultipleWriteLocations") is True,
        default_consistency=consistency if isinstance(consistency, str) else None,
        query_engine_configuration=config if isinstance(config, Mapping) else None,
        per_partition_failover=body.get("enablePerPartitionFailoverBehavior") is True,
    )


class LocationCache:
    """Ordered region lists for reads and writes; no I/O. See the module docstring for the rules."""

    def __init__(
        self,
        default_endpoint: str,
        *,
        clock: Clock,
        preferred: Sequence[str] = (),
        excluded: Sequence[str] = (),
        cooldown: float = 300.0,
    ) -> None:
        self.default = Region("(default)", default_endpoint)
        self._clock = clock
        self._preferred = [_key(name) for name in preferred]
        self._excluded = frozenset(_key(name) for name in excluded)
        self._cooldown = cooldown
        self.account: AccountRegions | None = None
        self._reads: list[Region] = [self.default]
        self._writes: list[Region] = [self.default]
        self._hub_writes: list[Region] = [self.default]  # the account's order (metadata writes)
        self._unavailable: dict[str, float] = {}  # endpoint -> monotonic time it may be used again

    # -- the account -----------------------------------------------------------------------------

    def update(self, account: AccountRegions) -> None:
        self.account = account
        self._writes = self._order(account.writable, by_preference=account.multiple_write_locations)
        self._hub_writes = self._order(account.writable, by_preference=False)
        self._reads = self._order(account.readable or account.writable, by_preference=True)

    def _order(self, regions: Sequence[Region], *, by_preference: bool) -> list[Region]:
        regions = list(regions)
        if by_preference and self._preferred:
            rank = {name: i for i, name in reversed(list(enumerate(self._preferred)))}
            regions.sort(key=lambda r: rank.get(_key(r.name), len(rank)))  # stable: account order after
        allowed = [r for r in regions if _key(r.name) not in self._excluded]
        return allowed or regions[:1] or [self.default]

    @property
    def multiple_write_locations(self) -> bool:
        return self.account is not None and self.account.multiple_write_locations

    @property
    def per_partition_failover(self) -> bool:
        """The account's ``enablePerPartitionFailoverBehavior`` (per-partition automatic failover)."""
        return self.account is not None and self.account.per_partition_failover

    # -- health ----------------------------------------------------------------------------------

    def mark_unavailable(self, endpoint: str) -> None:
        self._unavailable[endpoint] = self._clock.monotonic() + self._cooldown
        _log.info("aiocosmos: region endpoint %s marked unavailable for %.0fs", endpoint, self._cooldown,
                  extra={"cosmos_event": "region_unavailable", "cosmos_endpoint": endpoint,
                         "cosmos_cooldown": self._cooldown})

    def is_unavailable(self, endpoint: str) -> bool:
        until = self._unavailable.get(endpoint)
        if until is None:
            return False
        if self._clock.monotonic() >= until:
            del self._unavailable[endpoint]
            return False
        return True

    # -- routing ---------------------------------------------------------------------------------

    def read_regions(self) -> list[Region]:
        """Where to send a read, best first (failed regions last, while they cool down)."""
        return self._available(self._reads)

    def write_regions(self, *, hub: bool = False) -> list[Region]:
        """Where to send a write, best first (the first is the write region of a single-write account).
        ``hub``: in the account's order even on a multi-write account (writes of metadata: databases,
        containers, users, ... go to the first write region, as the official SDKs send them)."""
        return self._available(self._hub_writes if hub else self._writes)

    def without(self, regions: list[Region], excluded: frozenset[str]) -> list[Region]:
        """``regions`` without the ``excluded`` names (normalised), unless that leaves none."""
        allowed = [r for r in regions if _key(r.name) not in excluded]
        return allowed or regions

    def _available(self, regions: list[Region]) -> list[Region]:
        if not self._unavailable:
            return regions
        healthy = [r for r in regions if not self.is_unavailable(r.endpoint)]
        if len(healthy) == len(regions):
            return regions
        return healthy + [r for r in regions if r not in healthy]

    def endpoints_for_discovery(self) -> list[str]:
        """Where to read the account from: the given endpoint, then every known regional one."""
        seen: dict[str, None] = {self.default.endpoint: None}
        for region in (*self._writes, *self._reads):
            seen.setdefault(region.endpoint, None)
        return list(seen)


AccountFetcher = Callable[[Transport, float | None], Awaitable[Any]]
"""Reads ``GET /`` through one transport (signed by the pipeline); returns the parsed JSON or raises."""


class RegionRouter:
    """The location cache plus the I/O it needs: account refreshes and one transport per endpoint."""

    def __init__(
        self,
        cache: LocationCache,
        transport_for: Callable[[str], Transport],
        *,
        clock: Clock,
        refresh_interval: float = 300.0,
        refresh_timeout: float = 3.0,
        health: PartitionHealth | None = None,
    ) -> None:
        self.cache = cache
        self.health = health
        """The per-partition circuit breaker (None: off, the default)."""
        self._transport_for = transport_for
        self._transports: dict[str, Transport] = {}
        self._clock = clock
        self._interval = refresh_interval
        self._refresh_timeout = refresh_timeout
        self._next_refresh = float("-inf")
        self._lock: asyncio.Lock | None = None
        self.refreshes = 0
        """How many times the account was read successfully (diagnostics and tests)."""

    def transport(self, endpoint: str) -> Transport:
        transport = self._transports.get(endpoint)
        if transport is None:
            transport = self._transports[endpoint] = self._transport_for(endpoint)
        return transport

    def due(self) -> bool:
        return self._clock.monotonic() >= self._next_refresh

    async def refresh(self, fetch: AccountFetcher, *, force: bool = False, deadline: float | None = None) -> None:
        """Read the account if it is due (or ``force``), one refresh at a time. Never raises for a
        failed read: routing keeps its last known regions (or the given endpoint)."""
        generation = self.refreshes
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if force:
                if self.refreshes != generation:
                    return  # someone else read it while we waited
            elif not self.due():
                return
            for endpoint in self.cache.endpoints_for_discovery():
                timeout = self._refresh_timeout
                if deadline is not None:
                    timeout = min(timeout, deadline - self._clock.monotonic())
                    if timeout <= 0:
                        break
                try:
                    body = await fetch(self.transport(endpoint), timeout)
                except Exception as exc:  # noqa: BLE001 - any failure: try the next endpoint
                    _log.debug("aiocosmos: reading the database account from %s failed: %r", endpoint, exc,
                               extra={"cosmos_event": "account_read_failed", "cosmos_endpoint": endpoint,
                                      "cosmos_error": type(exc).__name__})
                    continue
                self.cache.update(parse_account(body))
                self._next_refresh = self._clock.monotonic() + self._interval
                self.refreshes += 1
                return
            self._next_refresh = self._clock.monotonic() + min(self._interval, FAILED_REFRESH_RETRY)


def make_router(
    endpoint: str, options: ClientOptions, http: aiohttp.ClientSession, clock: Clock
) -> RegionRouter | None:
    """The client's router, or None when endpoint discovery is off (the single-endpoint fast path)."""
    if not options.discovery:
        return None
    cache = LocationCache(endpoint, clock=clock, preferred=options.preferred_regions,
                          excluded=options.excluded_regions, cooldown=options.region_cooldown)
    breaker = options.partition_circuit_breaker
    return RegionRouter(cache, lambda url: Transport(http, url, options.timeouts, options.detailed_timings),
                        clock=clock, refresh_interval=options.account_refresh_interval,
                        health=None if breaker is None else PartitionHealth(breaker, clock))
