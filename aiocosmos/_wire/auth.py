"""Request signing: master key (HMAC), resource tokens, and AAD bearer tokens.

The string to sign is ``verb\\nresourceType\\nresourceLink\\nx-ms-date(lowercase)\\n\\n``. Feed requests
(list, create, query) sign the parent link; item requests sign the item's own link. Name-based links
are signed exactly as given, unescaped.

No signer ever exposes its key or tokens: their reprs are redacted and they never build exceptions
that contain them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import quote

from ..exceptions import ClientClosedError, ConfigurationError, CredentialError, OperationTimeout, ValidationError
from .clock import Clock
from .retry import RetryState

__all__ = ["Signer", "MasterKeySigner", "ResourceTokenSigner", "AccessTokenCache", "AadTokenCache", "TokenCredential",
           "token_error"]

_SAFE: Final = "-_.!~*'()"  # what the official SDKs leave unescaped in the Authorization value


class Signer(Protocol):
    def sign(self, verb: str, resource_type: str, resource_link: str, date_lower: str) -> str:
        """The ``authorization`` header value for one attempt."""
        ...


class MasterKeySigner:
    """HMAC-SHA256 with the account key; the key is decoded and keyed once, at construction."""

    __slots__ = ("_keyed",)

    def __init__(self, key: str) -> None:
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError("the account key is empty")
        try:
            raw = base64.b64decode(key.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(
                "the account key is not valid base64 (expected the primary or secondary key "
                "as shown in the portal)"
            ) from None
        if not raw:
            raise ConfigurationError("the account key decodes to zero bytes")
        self._keyed = hmac.new(raw, digestmod=hashlib.sha256)

    def sign(self, verb: str, resource_type: str, resource_link: str, date_lower: str) -> str:
        mac = self._keyed.copy()
        mac.update(f"{verb}\n{resource_type}\n{resource_link}\n{date_lower}\n\n".encode())
        signature = base64.b64encode(mac.digest()).decode("ascii")
        # quote() of a base64 string only ever escapes these three characters.
        signature = signature.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        return "type%3Dmaster%26ver%3D1.0%26sig%3D" + signature

    def __repr__(self) -> str:
        return "MasterKeySigner(key=<redacted>)"


class ResourceTokenSigner:
    """Resource tokens handed out by permissions: one token, or a mapping from resource link to token.

    A request uses the token of the longest resource link that contains the requested resource,
    e.g. a token for ``dbs/shop/colls/orders`` serves every item of that container.
    """

    __slots__ = ("_by_link", "_single")

    def __init__(self, tokens: str | Mapping[str, str]) -> None:
        self._single: str | None = None
        self._by_link: dict[str, str] = {}
        if isinstance(tokens, str):
            if not tokens.strip():
                raise ConfigurationError("the resource token is empty")
            self._single = quote(tokens, safe=_SAFE)
            return
        if not isinstance(tokens, Mapping) or not tokens:
            raise ConfigurationError("resource tokens must be a token string or a non-empty mapping")
        for link, token in tokens.items():
            if not isinstance(link, str) or not isinstance(token, str) or not token.strip():
                raise ConfigurationError(f"resource token for {link!r} must be a non-empty string")
            self._by_link[link.strip("/")] = quote(token, safe=_SAFE)

    def sign(self, verb: str, resource_type: str, resource_link: str, date_lower: str) -> str:
        if self._single is not None:
            return self._single
        if not resource_link:  # the database account: any token will do
            return next(iter(self._by_link.values()))
        link = resource_link
        while link:
            token = self._by_link.get(link)
            if token is not None:
                return token
            # Up one level: drop "{type}/{id}" (e.g. ".../docs/x" -> the container link).
            link = link.rsplit("/", 2)[0] if link.count("/") >= 2 else ""
        raise ValidationError(f"none of the resource tokens covers {resource_link!r}")

    def __repr__(self) -> str:
        return f"ResourceTokenSigner(links={sorted(self._by_link)!r}, tokens=<redacted>)"


class TokenCredential(Protocol):
    """azure-core's ``AsyncTokenCredential``: azure-identity credentials satisfy it unchanged."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """Returns an object unpackable as ``(token, expires_on)`` (e.g. azure-core ``AccessToken``)."""
        ...


class AccessTokenCache:
    """An AAD access token, cached and refreshed ``refresh_margin`` seconds before it expires.

    * One refresh in flight, shared by every request that needs it: a credential is called once
      however many requests wait, and if it fails, each of them gets its own ``CredentialError``
      (carrying the credential's exception as ``cause``); the next request asks again.
    * Each waiter waits at most until its own deadline (``OperationTimeout``); the refresh goes on
      for the others and its token is kept.
    * Every token gets a generation number; ``invalidate(generation)`` after the service rejected a
      token drops it only if it is still the current one, so the 401s of requests sent before a
      refresh do not throw the fresh token away.

    The data plane (``AadTokenCache``) and ARM (``aiocosmos.mgmt``) differ only in the header prefix.
    """

    __slots__ = ("_clock", "_credential", "_expires_on", "_generation", "_header", "_prefix", "_refresh",
                 "_refresh_margin", "_scopes")

    _no_credential: str = "an AAD credential must have an async get_token(*scopes) method"

    def __init__(self, credential: TokenCredential, scopes: tuple[str, ...], clock: Clock, *, prefix: str,
                 refresh_margin: float = 300.0) -> None:
        if not callable(getattr(credential, "get_token", None)):
            raise ConfigurationError(self._no_credential)
        self._credential = credential
        self._scopes = scopes
        self._clock = clock
        self._prefix = prefix
        self._refresh_margin = refresh_margin
        self._header = ""
        self._expires_on = 0.0
        self._generation = 0
        self._refresh: asyncio.Task[tuple[str, int] | BaseException] | None = None

    def _fresh(self) -> bool:
        return bool(self._header) and self._clock.time() < self._expires_on - self._refresh_margin

    async def current(self, deadline: float | None = None) -> tuple[str, int]:
        """``(authorization header value, its generation)``, refreshing first if needed; waits at most
        until ``deadline`` (``clock.monotonic()`` time) for a refresh."""
        if self._fresh():
            return self._header, self._generation
        refresh = self._refresh
        if refresh is None:
            refresh = self._refresh = asyncio.ensure_future(self._fetch())
        if not refresh.done():
            timeout = None if deadline is None else deadline - self._clock.monotonic()
            if timeout is not None and timeout <= 0:
                raise _token_timeout()
            # asyncio.wait never cancels the refresh: a waiter that gives up leaves it to the others.
            await asyncio.wait((refresh,), timeout=timeout)
            if not refresh.done():
                raise _token_timeout()
        if refresh.cancelled():
            raise ClientClosedError("the client was closed while this request waited for an AAD token")
        outcome = refresh.result()
        if isinstance(outcome, _EmptyToken):
            raise CredentialError("the AAD credential returned an empty token")
        if isinstance(outcome, BaseException):
            raise CredentialError(f"the AAD credential failed to get a token for {self._scope_text()}",
                                  cause=outcome) from outcome
        return outcome

    async def _fetch(self) -> tuple[str, int] | BaseException:
        """The shared refresh: the new ``(header, generation)``, or what went wrong (returned, not
        raised, so a failure nobody waits for any more is never an unretrieved task exception)."""
        try:
            token, expires_on = await self._credential.get_token(*self._scopes)
            if not isinstance(token, str) or not token:
                return _EmptyToken()
            self._header = self._prefix + token
            self._expires_on = float(expires_on)
            self._generation += 1
            return self._header, self._generation
        except Exception as exc:  # noqa: BLE001 - any credential failure goes to every waiter
            return exc
        finally:
            self._refresh = None

    def invalidate(self, generation: int) -> None:
        """The service rejected the token of ``generation``: drop it, unless a newer one replaced it."""
        if generation == self._generation:
            self._header = ""
            self._expires_on = 0.0

    def close(self) -> None:
        """Cancel a refresh in flight (the client is closing)."""
        if self._refresh is not None:
            self._refresh.cancel()

    def _scope_text(self) -> str:
        return self._scopes[0] if len(self._scopes) == 1 else ", ".join(self._scopes)


_E = TypeVar("_E", bound=CredentialError | OperationTimeout)


def token_error(error: _E, attempts: int, state: RetryState | None, activity_ids: list[str], replayed: bool,
                regions: Sequence[str] = ()) -> _E:
    """No token for the next attempt (``AccessTokenCache.current`` raised ``error``): the error says
    what the attempts before it did, as the retry loop's own errors do."""
    error.attempts = attempts
    error.regions = tuple(regions)
    error.total_wait = state.total_wait if state else 0.0
    error.activity_ids = tuple(activity_ids)
    error.replayed = replayed
    if state is not None:
        error.failed_attempts = tuple(state.failed)
    return error


class _EmptyToken(Exception):
    """What a refresh returns when the credential answered with no token."""


def _token_timeout() -> OperationTimeout:
    return OperationTimeout("the operation's deadline passed while waiting for an AAD token", attempts=0)


class AadTokenCache(AccessTokenCache):
    """The data plane's AAD signer: call ``await ensure_fresh(deadline)`` before ``sign()``, and
    ``invalidate(generation)`` with the generation it returned after the service rejected the token
    (401, or 403/5300), so the next attempt fetches a new one."""

    __slots__ = ()

    def __init__(self, credential: TokenCredential, scope: str, clock: Clock, refresh_margin: float = 300.0):
        super().__init__(credential, (scope,), clock, prefix="type=aad&ver=1.0&sig=",  # AAD values travel unescaped
                         refresh_margin=refresh_margin)

    async def ensure_fresh(self, deadline: float | None = None) -> int:
        """Make sure a token is cached; its generation (for ``invalidate``)."""
        return (await self.current(deadline))[1]

    def sign(self, verb: str, resource_type: str, resource_link: str, date_lower: str) -> str:
        return self._header

    def __repr__(self) -> str:
        return f"AadTokenCache(scope={self._scope_text()!r}, token=<redacted>)"
