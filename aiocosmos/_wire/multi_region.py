"""The multi-region loop of the pipeline: routing, failover between regions and hedged requests.

``Pipeline`` (``pipeline.py``) inherits this class; a client with endpoint discovery (a
``RegionRouter``) sends every request through ``_request_regions`` (or ``_hedged`` under an
availability strategy) instead of the single-region loop. Kept apart so that each loop reads on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from multidict import CIMultiDict, CIMultiDictProxy

from ..diagnostics import ATTEMPTS_HEADER, BREAKDOWN, HEDGED_HEADER, encode_failures
from ..exceptions import (
    ConnectError,
    CredentialError,
    HttpResponseError,
    OperationTimeout,
    StaleConnectionError,
    TransportError,
    error_from_response,
)
from . import codec
from .auth import AadTokenCache, Signer, token_error
from .clock import Clock, DateCache
from .hedging import HedgingStrategy, hedge_regions, run_hedged
from .outcomes import deadline_error, describe, finish, note, with_regions
from .partition_health import PartitionHealth, counts_as_failure
from .regions import MULTI_WRITE_RESOURCES as _MULTI_WRITE_RESOURCES
from .regions import LocationCache, Region, RegionRouter, request_exclusions
from .regions import is_read as _is_read
from .results import REPLAYED_HEADER
from .retry import FailureKind, RetryPolicy, RetryState, classify_status
from .session_tokens import container_of
from .transport import Transport

if TYPE_CHECKING:
    from .._throughput.throttler import RequestThrottler

__all__ = ["MultiRegionRequests", "RawResponse", "RetryHook", "REGIONS_HEADER"]

_log = logging.getLogger("aiocosmos.wire")

RawResponse = tuple[int, CIMultiDictProxy[str], bytes]

RetryHook = Callable[[str | None, "HttpResponseError | TransportError", int, float], None]
"""Told of each attempt that is sent again: (region or None, its error, attempt number, wait in s; -1.0
for a failover to the next region). The telemetry's recorder; None (no cost) when tracing is off."""

REGIONS_HEADER: Final = "x-aiocosmos-regions"
"""Added to responses of a client with endpoint discovery: the regions contacted, in order."""
MAX_WRITE_FAILOVERS: Final = 120
"""403/3 (write forbidden) or 403/1008 answers absorbed per operation by re-reading the account."""
WRITE_FAILOVER_WAIT: Final = 1.0
"""Wait before retrying a write after 403/3 when the account still names the same write region."""
_FAILOVER_SUB_STATUSES: Final = frozenset({3, 1008})


class MultiRegionRequests:
    """The region-aware half of ``Pipeline``; the attributes are ``Pipeline``'s own."""

    __slots__ = ()

    _aad: AadTokenCache | None
    _base_headers: dict[str, str]
    _clock: Clock
    _dates: DateCache
    _default_timeout: float | None
    _detailed: bool
    _gates: dict[str, RequestThrottler]
    _hedging: HedgingStrategy | None
    _on_retry: RetryHook | None
    _on_session_lost: Callable[[str], None] | None
    _policy: RetryPolicy
    _random: Callable[[], float]
    _regions: RegionRouter | None
    _signer: Signer

    async def _hedged(
        self, strategy: HedgingStrategy | bool | None, method: str, path: str, resource_type: str,
        resource_link: str, headers: Mapping[str, str] | None, body: bytes | None, idempotent: bool,
        replayable: bool, timeout: float | None, partition: str | None = None,
    ) -> RawResponse:
        """``_request_regions`` under an availability strategy (``hedging.py``): reads, and on
        multi-write accounts item writes that are safe to replay, go to several regions in turn."""
        router = self._regions
        assert router is not None and isinstance(strategy, HedgingStrategy)
        if timeout is None:
            timeout = self._default_timeout
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        if router.due():
            await router.refresh(self.fetch_account, deadline=deadline)
        regions = hedge_regions(router, method, headers, resource_type,
                                safe_write=idempotent or (replayable and self._policy.replay_idempotent_writes))
        if partition is not None and router.health is not None:
            regions = router.health.order(partition, regions)  # start where the partition is healthy
        if len(regions) < 2:
            return await self._request_regions(method, path, resource_type, resource_link, headers=headers,
                                               body=body, idempotent=idempotent, replayable=replayable,
                                               timeout=timeout, partition=partition)

        def attempt(region: Region) -> Awaitable[RawResponse]:
            remaining = None if deadline is None else max(0.0, deadline - self._clock.monotonic())
            return self._request_regions(method, path, resource_type, resource_link, headers=headers, body=body,
                                         idempotent=idempotent, replayable=replayable, timeout=remaining,
                                         partition=partition)

        def stamp(response: RawResponse, started: list[str]) -> RawResponse:
            headers = CIMultiDict(response[1])
            headers[REGIONS_HEADER] = ", ".join(started)
            if len(started) > 1:
                headers[HEDGED_HEADER] = "true"
            return response[0], CIMultiDictProxy(headers), response[2]

        return await run_hedged(strategy, regions, self._clock, attempt, stamp)

    async def fetch_account(self, transport: Transport, timeout: float | None) -> Any:
        """One signed ``GET /`` through ``transport``, no retries: the parsed account, or raise."""
        date, date_lower = self._dates.get()
        if self._aad is not None:
            await self._aad.ensure_fresh(None if timeout is None else self._clock.monotonic() + timeout)
        headers = dict(self._base_headers)
        headers["x-ms-date"] = date
        headers["authorization"] = self._signer.sign("get", "", "", date_lower)
        status, response_headers, data = await transport.send("GET", "/", headers, None, timeout)
        if status >= 400:
            raise error_from_response(status, response_headers, data)
        return codec.loads(data) if data else {}

    async def _request_regions(
        self,
        method: str,
        path: str,
        resource_type: str,
        resource_link: str,
        *,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        idempotent: bool,
        replayable: bool,
        timeout: float | None,
        partition: str | None = None,
    ) -> RawResponse:
        """``request`` for a client with endpoint discovery: the same retry rule, plus regions.

        * The account is read first if it is due (first use, then every refresh interval).
        * Reads go to the read regions in order, writes to the write regions (``LocationCache``).
        * 403/3 and 403/1008: re-read the account and send the write again, to the new write region
          (the request was refused, so it was not applied); at most ``MAX_WRITE_FAILOVERS`` times.
        * A connection failure or 503 marks the region unavailable for the cool-down (a write whose
          connection could not be made also re-reads the account). A request that
          may be replayed (any read, a replayable write; a write whose connection could not be made)
          then goes at once to the next region not yet tried by this operation, and after
          408/500/502/504 too. Once every region was tried, the retry policy decides as for a single
          region: a write that is not replayable is still never replayed.
        * 404/1002 on a read: once more at once, to the write region; if that fails too, the
          container's session token is dropped and the error raised.
        * ``partition`` (given only when the circuit breaker is on, ``partition_health.py``): the
          partition's unavailable regions go last; its 503s count against it, not the region; on a
          single-write account with per-partition failover its writes may go to any read region, and
          503 or 403/3 moves them on at once.
        """
        router = self._regions
        assert router is not None
        may_replay = idempotent or (replayable and self._policy.replay_idempotent_writes)
        cache = router.cache
        verb = method.lower()
        if timeout is None:
            timeout = self._default_timeout
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        if router.due():
            await router.refresh(self.fetch_account, deadline=deadline)
        is_read = _is_read(method, headers)
        hub = not is_read and resource_type not in _MULTI_WRITE_RESOURCES
        if not is_read and not hub and cache.multiple_write_locations:
            headers = {**headers, "x-ms-cosmos-allow-tentative-writes": "true"} if headers else \
                {"x-ms-cosmos-allow-tentative-writes": "true"}
        use_write_regions = not is_read
        excluded = request_exclusions()
        health: PartitionHealth | None = None
        ppaf = False  # this write moves by per-partition automatic failover
        scope = partition or ""
        if partition is not None and router.health is not None:
            health = router.health
            if not is_read:
                if resource_type not in _MULTI_WRITE_RESOURCES:
                    health = None
                elif not cache.multiple_write_locations:
                    ppaf = health.automatic_failover(cache.per_partition_failover) and len(cache.read_regions()) > 1
                    if not ppaf:
                        health = None
        state: RetryState | None = None
        activity_ids: list[str] = []
        contacted: list[str] = []
        tried: set[str] = set()
        aad_refreshed = session_retried = replayed = stale_retried = False
        aad_generation = write_failovers = 0
        attempt = 0
        gate = self._gates.get(container_of(resource_link)) if self._gates else None
        while True:
            attempt += 1
            reserved = 0.0 if gate is None else await gate.acquire(headers)  # waits when over budget
            regions = _candidates(cache, use_write_regions, hub, excluded, health, scope, ppaf)
            region = _first_untried(regions, tried)
            date, date_lower = self._dates.get()
            if self._aad is not None:
                try:
                    aad_generation = await self._aad.ensure_fresh(deadline)
                except (CredentialError, OperationTimeout) as exc:
                    raise token_error(exc, attempt - 1, state, activity_ids, replayed, contacted) from exc.__cause__
            request_headers = {**self._base_headers, **headers} if headers else dict(self._base_headers)
            request_headers["x-ms-date"] = date
            signing = perf_counter() if self._detailed else 0.0
            request_headers["authorization"] = self._signer.sign(verb, resource_type, resource_link, date_lower)
            if self._detailed:  # ClientOptions.detailed_timings
                breakdown = BREAKDOWN.get()
                if breakdown is not None:
                    breakdown.signed(signing)
            remaining = None if deadline is None else deadline - self._clock.monotonic()
            error: HttpResponseError | TransportError
            failover = False
            try:
                if remaining is not None and remaining <= 0:
                    raise with_regions(deadline_error(attempt - 1, state, activity_ids, replayed), contacted)
                contacted.append(region.name)
                status, response_headers, response_body = await router.transport(region.endpoint).send(
                    method, path, request_headers, body, remaining
                )
            except TransportError as exc:
                if gate is not None:
                    gate.settle(reserved, None, headers)
                error = exc
                not_sent = isinstance(exc, ConnectError)
                kind = FailureKind.NOT_APPLIED if not_sent else FailureKind.AMBIGUOUS
                retry_after = None
                if may_replay and not stale_retried and isinstance(exc, StaleConnectionError):
                    stale_retried = True  # an idle connection the server closed: the region is fine
                    replayed = replayed or not idempotent
                    state = note(state, region.name, error, 0.0, self._clock)
                    continue
                if health is not None:
                    health.record_failure(scope, region.endpoint, write=not is_read, failover=ppaf)
                cache.mark_unavailable(region.endpoint)
                failover = not_sent or may_replay
                if not_sent and use_write_regions:
                    # The write region may be gone for good: ask the account where writes go now.
                    await router.refresh(self.fetch_account, force=True, deadline=deadline)
            else:
                if gate is not None:
                    gate.settle(reserved, response_headers, headers)
                if status < 400:
                    if health is not None:
                        health.record_success(scope, region.endpoint, failover=ppaf)
                    regions_header = CIMultiDict(response_headers)
                    regions_header[REGIONS_HEADER] = ", ".join(contacted)
                    if replayed:
                        regions_header[REPLAYED_HEADER] = "true"
                    if state is not None and state.failed:
                        regions_header[ATTEMPTS_HEADER] = encode_failures(state.failed)
                    return status, CIMultiDictProxy(regions_header), response_body
                error = error_from_response(status, response_headers, response_body)
                activity_id = response_headers.get("x-ms-activity-id")
                if activity_id:
                    activity_ids.append(activity_id)
                if self._aad is not None and not aad_refreshed and (
                    status == 401 or (status == 403 and error.sub_status == 5300)
                ):
                    self._aad.invalidate(aad_generation)
                    aad_refreshed = True
                    state = note(state, region.name, error, 0.0, self._clock)
                    continue
                if health is not None:
                    if ppaf and (status == 503 or (status == 403 and error.sub_status == 3)):
                        health.fail_over(scope, region.endpoint)
                        if status == 403 and write_failovers < MAX_WRITE_FAILOVERS:
                            write_failovers += 1  # refused, so not applied: on to the partition's next region
                            tried.add(region.endpoint)
                            if _has_untried(_candidates(cache, True, hub, excluded, None, scope, ppaf), tried):
                                if self._on_retry is not None:
                                    self._on_retry(region.name, error, attempt, -1.0)
                                state = note(state, region.name, error, -1.0, self._clock)
                                continue
                    elif counts_as_failure(status):
                        health.record_failure(scope, region.endpoint, write=not is_read, failover=ppaf)
                if status == 403 and error.sub_status in _FAILOVER_SUB_STATUSES \
                        and write_failovers < MAX_WRITE_FAILOVERS:
                    # Refused, so not applied: learn the new write region and send it there.
                    write_failovers += 1
                    await router.refresh(self.fetch_account, force=True, deadline=deadline)
                    moved = _first_untried(cache.write_regions(hub=hub), set()).endpoint != region.endpoint
                    if state is None:
                        state = RetryState()
                    wait = 0.0 if moved else WRITE_FAILOVER_WAIT
                    if deadline is not None and self._clock.monotonic() + wait >= deadline:
                        raise with_regions(deadline_error(attempt, state, activity_ids, replayed), contacted) from \
                            with_regions(finish(error, attempt, state, activity_ids, replayed), contacted)
                    if self._on_retry is not None:
                        self._on_retry(region.name, error, attempt, -1.0 if moved else wait)
                    note(state, region.name, error, -1.0 if moved else wait, self._clock)
                    if wait:
                        state.total_wait += wait
                        await self._clock.sleep(wait)
                    continue
                kind = classify_status(status, error.sub_status)
                retry_after = error.retry_after
                if kind is FailureKind.SESSION_LAG and idempotent:
                    if not session_retried:
                        session_retried = True
                        use_write_regions = True  # the write region has every write of this session
                        state = note(state, region.name, error, -1.0, self._clock)
                        continue
                    container = _container_link(resource_link)
                    if container is not None and self._on_session_lost is not None:
                        self._on_session_lost(container)  # the next read starts a fresh session
                    raise with_regions(finish(error, attempt, state or RetryState(), activity_ids, replayed),
                                        contacted)
                if status == 503 and health is None:  # with a partition scope, the partition takes the blame
                    cache.mark_unavailable(region.endpoint)
                failover = kind is FailureKind.AMBIGUOUS and may_replay
            if state is None:
                state = RetryState()
            if failover:
                tried.add(region.endpoint)
                if _has_untried(_candidates(cache, use_write_regions, hub, excluded, None, scope, ppaf),
                                tried):
                    if _log.isEnabledFor(logging.DEBUG):
                        _log.debug("%s %s failed in %s (%s); trying the next region", method, path,
                                   region.name, describe(error))
                    if self._on_retry is not None:
                        self._on_retry(region.name, error, attempt, -1.0)
                    note(state, region.name, error, -1.0, self._clock)
                    replayed = replayed or (kind is FailureKind.AMBIGUOUS and not idempotent)
                    continue
            delay = self._policy.next_delay(
                state, kind, idempotent=may_replay, retry_after=retry_after, jitter=self._random()
            )
            if delay is None:
                raise with_regions(finish(error, attempt, state, activity_ids, replayed), contacted)
            if deadline is not None and self._clock.monotonic() + delay >= deadline:
                raise with_regions(deadline_error(attempt, state, activity_ids, replayed), contacted) from \
                    with_regions(finish(error, attempt, state, activity_ids, replayed), contacted)
            note(state, region.name, error, delay, self._clock)
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("%s %s failed in %s (%s, attempt %d); retrying in %.3fs", method, path,
                           region.name, describe(error), attempt, delay)
            if self._on_retry is not None:
                self._on_retry(region.name, error, attempt, delay)
            if kind is FailureKind.AMBIGUOUS and not idempotent:
                replayed = True
            state.total_wait += delay
            await self._clock.sleep(delay)


def _candidates(cache: LocationCache, use_write_regions: bool, hub: bool, excluded: frozenset[str],
                health: PartitionHealth | None, partition: str, ppaf: bool) -> list[Region]:
    """The regions to try, best first: by kind, less the excluded ones, then by the partition's health.
    A write under per-partition failover may go to every read region after the write region."""
    if use_write_regions:
        regions = cache.write_regions(hub=hub)
        if ppaf:
            regions = regions + [r for r in cache.read_regions() if r not in regions]
    else:
        regions = cache.read_regions()
    if excluded:
        regions = cache.without(regions, excluded)
    if health is not None:
        regions = health.order(partition, regions, failover=ppaf)
    return regions


def _has_untried(regions: list[Region], tried: set[str]) -> bool:
    return any(r.endpoint not in tried for r in regions)


def _first_untried(regions: list[Region], tried: set[str]) -> Region:
    for region in regions:
        if region.endpoint not in tried:
            return region
    return regions[0]


def _container_link(resource_link: str) -> str | None:
    parts = resource_link.strip("/").split("/")
    if len(parts) >= 4 and parts[0] == "dbs" and parts[2] == "colls":
        return "/".join(parts[:4])
    return None

