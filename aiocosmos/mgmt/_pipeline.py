"""The ARM request loop: bearer token, client request id, retry by the shared RetryPolicy.

It reuses the data plane's ``Transport`` (aiohttp error mapping), ``RetryPolicy`` and ``Clock``; only
the signing differs (``Authorization: Bearer <token>``) and ARM's throttling header (``Retry-After``
in seconds), so it is a loop of its own instead of a change to ``aiocosmos._wire.pipeline``.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from multidict import CIMultiDictProxy

from .._wire.auth import AccessTokenCache, TokenCredential, token_error
from .._wire.clock import Clock
from .._wire.retry import FailureKind, RetryPolicy, RetryState, classify_status
from .._wire.transport import Transport
from ..exceptions import (
    ConnectError,
    CredentialError,
    OperationTimeout,
    TransportError,
    ValidationError,
)
from ._errors import ArmError, arm_error_from_response, parse_retry_after

__all__ = ["ARM_SCOPE", "ArmPipeline", "ArmResponse", "BearerTokenCache", "default_scope"]

ARM_SCOPE: Final = "https://management.azure.com/.default"
_CLOUD_SCOPES: Final = (
    # (ARM host suffix, the cloud's ARM audience): regional hosts share their cloud's audience.
    ("management.azure.com", ARM_SCOPE),
    ("management.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default"),
    ("management.usgovcloudapi.net", "https://management.usgovcloudapi.net/.default"),
)


def default_scope(base_url: str) -> str:
    """The ARM audience of the cloud ``base_url`` belongs to (public, China, US Government), else
    ``<base_url>/.default`` (Azure Stack and other private clouds)."""
    host = (urlsplit(base_url).hostname or "").lower()
    for suffix, scope in _CLOUD_SCOPES:
        if host == suffix or host.endswith("." + suffix):
            return scope
    return f"{base_url.rstrip('/')}/.default"
_log = logging.getLogger("aiocosmos.mgmt")

ArmResponse = tuple[int, CIMultiDictProxy[str], bytes]


class BearerTokenCache(AccessTokenCache):
    """An AAD access token for ARM (``Authorization: Bearer <token>``), with the data plane's rules
    (``aiocosmos._wire.auth.AccessTokenCache``): refreshed ``refresh_margin`` seconds before it expires,
    one refresh shared by every waiter and bounded by each one's deadline, ``CredentialError`` when the
    credential fails, and a 401 drops the token only if its request carried the current one. The token
    never appears in reprs or errors."""

    __slots__ = ()

    _no_credential = ("the management client needs an AAD credential with an async get_token(*scopes) "
                      "method (azure-identity's async credentials work)")

    def __init__(self, credential: TokenCredential, scope: str | tuple[str, ...], clock: Clock,
                 refresh_margin: float = 300.0):
        super().__init__(credential, (scope,) if isinstance(scope, str) else tuple(scope), clock, prefix="Bearer ",
                         refresh_margin=refresh_margin)

    def __repr__(self) -> str:
        scope = self._scopes[0] if len(self._scopes) == 1 else list(self._scopes)
        return f"BearerTokenCache(scope={scope!r}, token=<redacted>)"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or {"https": 443, "http": 80}.get(scheme)


class ArmPipeline:
    """Sends one ARM request with retries; URLs are absolute (polling and nextLink URLs come from
    the service). Only URLs on the management host (or a regional subdomain of it, such as
    ``westus.management.azure.com``) are ever sent the bearer token."""

    __slots__ = ("_base_headers", "_clock", "_default_timeout", "_host", "_policy", "_port", "_random", "_scheme",
                 "_tokens", "_transport")

    def __init__(
        self,
        transport: Transport,
        tokens: BearerTokenCache,
        *,
        base_url: str,
        policy: RetryPolicy,
        clock: Clock,
        base_headers: Mapping[str, str],
        default_timeout: float | None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._transport = transport
        self._tokens = tokens
        self._scheme, self._host, self._port = _origin(base_url)
        self._policy = policy
        self._clock = clock
        self._base_headers = dict(base_headers)
        self._default_timeout = default_timeout
        self._random = jitter

    def check_url(self, url: str) -> None:
        """Refuse to send the token to a host other than the management endpoint (or its subdomains)."""
        _check_origin(url, self._scheme, self._host, self._port)

    @staticmethod
    def check_url_against(url: str, base_url: str) -> None:
        _check_origin(url, *_origin(base_url))

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        idempotent: bool,
        timeout: float | None = None,
        accept: tuple[int, ...] = (),
    ) -> ArmResponse:
        """Send until a response < 400 (or a status in ``accept``) arrives; raise ArmError otherwise."""
        self.check_url(url)
        if timeout is None:
            timeout = self._default_timeout
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        headers: dict[str, Any] = {**self._base_headers, "x-ms-client-request-id": str(uuid.uuid4())}
        if body is not None:
            headers["Content-Type"] = "application/json"
        elif method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"
        state: RetryState | None = None
        request_ids: list[str] = []
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                headers["Authorization"], generation = await self._tokens.current(deadline)
            except (CredentialError, OperationTimeout) as exc:
                raise token_error(exc, attempt - 1, state, request_ids, False) from exc.__cause__
            remaining = None if deadline is None else deadline - self._clock.monotonic()
            error: ArmError | TransportError
            try:
                if remaining is not None and remaining <= 0:
                    raise _deadline_error(attempt - 1, state, request_ids)
                status, response_headers, response_body = await self._transport.send(
                    method, url, headers, body, remaining)
            except TransportError as exc:
                error = exc
                kind = FailureKind.NOT_APPLIED if isinstance(exc, ConnectError) else FailureKind.AMBIGUOUS
                retry_after = None
            else:
                if status < 400 or status in accept:
                    return status, response_headers, response_body
                error = arm_error_from_response(status, response_headers, response_body)
                request_id = response_headers.get("x-ms-request-id")
                if request_id:
                    request_ids.append(request_id)
                if status == 401 and not refreshed:
                    # Expired or revoked: fetch a new token, once (unless another request already did).
                    self._tokens.invalidate(generation)
                    refreshed = True
                    continue
                kind = _classify(status)
                retry_after = parse_retry_after(response_headers)
            if state is None:
                state = RetryState()
            delay = self._policy.next_delay(state, kind, idempotent=idempotent, retry_after=retry_after,
                                            jitter=self._random())
            if delay is None:
                raise _finish(error, attempt, state, request_ids)
            if deadline is not None and self._clock.monotonic() + delay >= deadline:
                raise _deadline_error(attempt, state, request_ids) from _finish(error, attempt, state, request_ids)
            _log.debug("%s %s failed (%s, attempt %d); retrying in %.3fs", method, urlsplit(url).path,
                       type(error).__name__, attempt, delay)
            state.total_wait += delay
            await self._clock.sleep(delay)


def _check_origin(url: str, scheme: str, host: str, port: int | None) -> None:
    url_scheme, url_host, url_port = _origin(url) if isinstance(url, str) else ("", "", None)
    if url_scheme != scheme or url_port != port or not (url_host == host or url_host.endswith("." + host)):
        raise ValidationError(f"refusing to follow {str(url)[:200]!r}: it is not on the management endpoint "
                              f"{scheme}://{host}")


def _classify(status: int) -> FailureKind:
    if status == 412:
        # The Cosmos RP answers 412 while another operation holds the account's exclusive lock
        # ("There is another user operation in progress..."): nothing was applied, retry later.
        return FailureKind.NOT_APPLIED
    return classify_status(status, 0)


def _finish(
    error: ArmError | TransportError, attempts: int, state: RetryState, request_ids: list[str]
) -> ArmError | TransportError:
    error.attempts = attempts
    error.total_wait = state.total_wait
    error.activity_ids = tuple(request_ids)
    return error


def _deadline_error(attempts: int, state: RetryState | None, request_ids: list[str]) -> OperationTimeout:
    return OperationTimeout("the operation's deadline passed before it could succeed", attempts=attempts,
                            total_wait=state.total_wait if state else 0.0, activity_ids=tuple(request_ids))
