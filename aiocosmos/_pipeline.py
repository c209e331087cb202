"""One operation on the wire: sign, send, classify, and retry by the policy until it succeeds or gives up.

This is the request hot path. Everything that does not change per request (base headers, the keyed
HMAC, the policy, the date cache) is built once per client; per attempt it builds one header dict and
one signature, and nothing else unless the attempt failed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from typing import Final

from multidict import CIMultiDictProxy

from ._auth import AadTokenCache, Signer
from ._clock import Clock, DateCache
from ._retry import FailureKind, RetryPolicy, RetryState, classify_status
from ._transport import Transport
from .exceptions import (
    ConnectError,
    HttpResponseError,
    OperationTimeout,
    TransportError,
    error_from_response,
)

__all__ = ["Pipeline", "RawResponse", "API_VERSION"]

API_VERSION: Final = "2020-07-15"
_log = logging.getLogger("aiocosmos")

RawResponse = tuple[int, CIMultiDictProxy[str], bytes]


class Pipeline:
    __slots__ = (
        "_aad",
        "_base_headers",
        "_clock",
        "_dates",
        "_default_timeout",
        "_policy",
        "_random",
        "_signer",
        "_transport",
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
    ) -> None:
        self._transport = transport
        self._signer = signer
        self._aad = aad
        self._policy = policy
        self._clock = clock
        self._dates = DateCache(clock)
        self._base_headers = dict(base_headers)
        self._default_timeout = default_timeout
        self._random = jitter

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
        timeout: float | None = None,
    ) -> RawResponse:
        """Send one operation; return the first successful response (status < 400).

        ``method`` is upper case; the signer gets it lower case. ``idempotent`` says whether replaying
        the request after an ambiguous failure is safe (reads and queries: yes; writes: no).
        """
        verb = method.lower()
        if timeout is None:
            timeout = self._default_timeout
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        state: RetryState | None = None
        activity_ids: list[str] = []
        aad_refreshed = False
        attempt = 0
        while True:
            attempt += 1
            date, date_lower = self._dates.get()
            if self._aad is not None:
                await self._aad.ensure_fresh()
            request_headers = {**self._base_headers, **headers} if headers else dict(self._base_headers)
            request_headers["x-ms-date"] = date
            request_headers["authorization"] = self._signer.sign(verb, resource_type, resource_link, date_lower)
            remaining = None if deadline is None else deadline - self._clock.monotonic()
            error: HttpResponseError | TransportError
            try:
                if remaining is not None and remaining <= 0:
                    raise _deadline_error(attempt - 1, state, activity_ids)
                status, response_headers, response_body = await self._transport.send(
                    method, path, request_headers, body, remaining
                )
            except TransportError as exc:
                error = exc
                kind = FailureKind.NOT_APPLIED if isinstance(exc, ConnectError) else FailureKind.AMBIGUOUS
                retry_after = None
            else:
                if status < 400:
                    return status, response_headers, response_body
                error = error_from_response(status, response_headers, response_body)
                activity_id = response_headers.get("x-ms-activity-id")
                if activity_id:
                    activity_ids.append(activity_id)
                if self._aad is not None and not aad_refreshed and (
                    status == 401 or (status == 403 and error.sub_status == 5300)
                ):
                    # An expired or revoked token can surface as 401 or 403/5300: fetch a new one once.
                    self._aad.invalidate()
                    aad_refreshed = True
                    continue
                kind = classify_status(status, error.sub_status)
                retry_after = error.retry_after
            if state is None:
                state = RetryState()
            delay = self._policy.next_delay(
                state, kind, idempotent=idempotent, retry_after=retry_after, jitter=self._random()
            )
            if delay is None:
                raise _finish(error, attempt, state, activity_ids)
            if deadline is not None and self._clock.monotonic() + delay >= deadline:
                raise _deadline_error(attempt, state, activity_ids) from _finish(
                    error, attempt, state, activity_ids
                )
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("%s %s failed (%s, attempt %d); retrying in %.3fs", method, path,
                           _describe(error), attempt, delay)
            state.total_wait += delay
            await self._clock.sleep(delay)


def _describe(error: HttpResponseError | TransportError) -> str:
    if isinstance(error, HttpResponseError):
        return f"{error.status_code}/{error.sub_status}"
    return type(error).__name__


def _finish(
    error: HttpResponseError | TransportError, attempts: int, state: RetryState, activity_ids: list[str]
) -> HttpResponseError | TransportError:
    error.attempts = attempts
    error.total_wait = state.total_wait
    error.activity_ids = tuple(activity_ids)
    return error


def _deadline_error(attempts: int, state: RetryState | None, activity_ids: list[str]) -> OperationTimeout:
    return OperationTimeout(
        "the operation's deadline passed before it could succeed",
        attempts=attempts,
        total_wait=state.total_wait if state else 0.0,
        activity_ids=tuple(activity_ids),
    )
