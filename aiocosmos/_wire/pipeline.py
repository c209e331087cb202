"""One operation on the wire: sign, send, classify, and retry by the policy until it succeeds or gives up.

This is the request hot path. Everything that does not change per request (base headers, the keyed
HMAC, the policy, the date cache) is built once per client; per attempt it builds one header dict and
one signature, and nothing else unless the attempt failed.

With endpoint discovery on (``ClientOptions.preferred_regions`` or ``enable_endpoint_discovery``) the
client has a ``RegionRouter`` and every request takes ``_request_regions`` instead: the same retry
rule, plus routing and failover between regions (``multi_region.py``, ``regions.py``). Without it, ``request``
pays one attribute test and nothing else.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Final

from ..diagnostics import BREAKDOWN
from ..exceptions import (
    ConnectError,
    CredentialError,
    HttpResponseError,
    OperationTimeout,
    StaleConnectionError,
    TransportError,
    error_from_response,
)
from .auth import AadTokenCache, Signer, token_error
from .clock import Clock, DateCache
from .hedging import HedgingStrategy
from .multi_region import REGIONS_HEADER, MultiRegionRequests, RawResponse, RetryHook
from .outcomes import annotated, deadline_error, describe, finish, note
from .regions import RegionRouter
from .results import REPLAYED_HEADER
from .retry import FailureKind, RetryPolicy, RetryState, classify_status
from .session_tokens import container_of
from .transport import Transport

if TYPE_CHECKING:
    from .._throughput.throttler import RequestThrottler

__all__ = ["Pipeline", "RawResponse", "RetryHook", "API_VERSION", "REGIONS_HEADER", "REPLAYED_HEADER"]

API_VERSION: Final = "2020-07-15"
_log = logging.getLogger("aiocosmos.wire")

class Pipeline(MultiRegionRequests):
    __slots__ = (
        "_aad",
        "_base_headers",
        "_clock",
        "_dates",
        "_default_timeout",
        "_detailed",
        "_gates",
        "_hedging",
        "_on_retry",
        "_on_session_lost",
        "_policy",
        "_random",
        "_regions",
        "_signer",
        "_transport",
        "partition_health",
    )

    def __init__(
        self,
        transport: Transport,
        signer: Signer,
        *,
        policy: RetryPolicy,
        clock: Clock,
        base_headers: Mapping[str, str],
        default_timeout: float | None,
        aad: AadTokenCache | None = None,
        jitter: Callable[[], float] = random.random,
        regions: RegionRouter | None = None,
        on_session_lost: Callable[[str], None] | None = None,
        on_retry: RetryHook | None = None,
        hedging: HedgingStrategy | None = None,
        detailed_timings: bool = False,
        gates: dict[str, RequestThrottler] | None = None,
    ) -> None:
        self._transport = transport
        self._detailed = detailed_timings  # ClientOptions.detailed_timings: the signing is timed
        self._signer = signer
        self._aad = aad
        self._policy = policy
        self._clock = clock
        self._dates = DateCache(clock)
        self._base_headers = dict(base_headers)
        self._default_timeout = default_timeout
        self._random = jitter
        self._regions = regions
        self.partition_health = None if regions is None else regions.health
        """The per-partition circuit breaker (None: off): callers pass ``partition=`` only when set."""
        self._on_session_lost = on_session_lost
        self._on_retry = on_retry
        self._hedging = hedging
        self._gates = gates if gates is not None else {}  # throughput control: container link -> gate

    @property
    def policy(self) -> RetryPolicy:
        return self._policy

    def with_policy(self, policy: RetryPolicy) -> Pipeline:
        """A pipeline sharing this one's transport, signer, clock, regions and connections, but
        retrying by ``policy`` (the bulk executor takes 429s itself, as its congestion signal)."""
        sibling = copy.copy(self)
        sibling._policy = policy
        return sibling

    @property
    def regions(self) -> RegionRouter | None:
        """The region router (None without endpoint discovery)."""
        return self._regions

    async def request(
        self,
        method: str,
        path: str,
        resource_type: str,
        resource_link: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        idempotent: bool,
        replayable: bool = False,
        timeout: float | None = None,
        hedging: HedgingStrategy | bool | None = None,
        partition: str | None = None,
    ) -> RawResponse:
        """Send one operation; return the first successful response (status < 400).

        ``method`` is upper case; the signer gets it lower case. ``idempotent``: a read or query,
        always safe to send again. ``replayable``: a write that is safe to replay after an ambiguous
        failure (unconditional upsert, create, unconditional delete); it is replayed only when the
        policy's ``replay_idempotent_writes`` is on, and then the response carries ``REPLAYED_HEADER``
        and any error ``replayed=True``. Every other write is never sent again after an ambiguous
        failure. ``hedging``: this operation's availability strategy (False: off; None: the client's).
        ``partition``: the partition key range it addresses, for the circuit breaker (only when on).
        """
        if self._regions is not None:
            if hedging is not False and (hedging is not None or self._hedging is not None):
                return await self._hedged(hedging or self._hedging, method, path, resource_type, resource_link,
                                          headers, body, idempotent, replayable, timeout, partition)
            return await self._request_regions(method, path, resource_type, resource_link, headers=headers,
                                               body=body, idempotent=idempotent, replayable=replayable,
                                               timeout=timeout, partition=partition)
        may_replay = idempotent or (replayable and self._policy.replay_idempotent_writes)
        verb = method.lower()
        if timeout is None:
            timeout = self._default_timeout
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        state: RetryState | None = None
        activity_ids: list[str] = []
        aad_refreshed = replayed = stale_retried = False
        aad_generation = attempt = 0
        gate = self._gates.get(container_of(resource_link)) if self._gates else None
        while True:
            attempt += 1
            reserved = 0.0 if gate is None else await gate.acquire(headers)  # waits when over budget
            date, date_lower = self._dates.get()
            if self._aad is not None:
                try:
                    aad_generation = await self._aad.ensure_fresh(deadline)
                except (CredentialError, OperationTimeout) as exc:
                    raise token_error(exc, attempt - 1, state, activity_ids, replayed) from exc.__cause__
            request_headers = {**self._base_headers, **headers} if headers else dict(self._base_headers)
            request_headers["x-ms-date"] = date
            signing = perf_counter() if self._detailed else 0.0
            request_headers["authorization"] = self._signer.sign(verb, resource_type, resource_link, date_lower)
            if self._detailed:
                breakdown = BREAKDOWN.get()
                if breakdown is not None:
                    breakdown.signed(signing)
            remaining = None if deadline is None else deadline - self._clock.monotonic()
            error: HttpResponseError | TransportError
            try:
                if remaining is not None and remaining <= 0:
                    raise deadline_error(attempt - 1, state, activity_ids, replayed)
                status, response_headers, response_body = await self._transport.send(
                    method, path, request_headers, body, remaining
                )
            except TransportError as exc:
                if gate is not None:
                    gate.settle(reserved, None, headers)
                error = exc
                kind = FailureKind.NOT_APPLIED if isinstance(exc, ConnectError) else FailureKind.AMBIGUOUS
                retry_after = None
                if may_replay and not stale_retried and isinstance(exc, StaleConnectionError):
                    # The server closed the pooled connection while it was idle: once, at once.
                    stale_retried = True
                    replayed = replayed or not idempotent
                    state = note(state, None, error, 0.0, self._clock)
                    continue
            else:
                if gate is not None:
                    gate.settle(reserved, response_headers, headers)
                if status < 400:
                    if replayed or state is not None:  # after a failure: say so (diagnostics.py)
                        return status, annotated(response_headers, state, replayed), response_body
                    return status, response_headers, response_body
                error = error_from_response(status, response_headers, response_body)
                activity_id = response_headers.get("x-ms-activity-id")
                if activity_id:
                    activity_ids.append(activity_id)
                if self._aad is not None and not aad_refreshed and (
                    status == 401 or (status == 403 and error.sub_status == 5300)
                ):
                    # An expired or revoked token can surface as 401 or 403/5300: fetch a new one once
                    # (unless another request already replaced the token this one carried).
                    self._aad.invalidate(aad_generation)
                    aad_refreshed = True
                    state = note(state, None, error, 0.0, self._clock)
                    continue
                kind = classify_status(status, error.sub_status)
                retry_after = error.retry_after
            if state is None:
                state = RetryState()
            delay = self._policy.next_delay(
                state, kind, idempotent=may_replay, retry_after=retry_after, jitter=self._random()
            )
            if delay is None:
                raise finish(error, attempt, state, activity_ids, replayed)
            if deadline is not None and self._clock.monotonic() + delay >= deadline:
                raise deadline_error(attempt, state, activity_ids, replayed) from finish(
                    error, attempt, state, activity_ids, replayed
                )
            note(state, None, error, delay, self._clock)
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("%s %s failed (%s, attempt %d); retrying in %.3fs", method, path,
                           describe(error), attempt, delay)
            if self._on_retry is not None:
                self._on_retry(None, error, attempt, delay)
            if kind is FailureKind.AMBIGUOUS and not idempotent:
                replayed = True  # the next attempt replays a write that may have been applied
            state.total_wait += delay
            await self._clock.sleep(delay)
