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
from collections.abc import Mapping
from typing import Any, Final, Protocol
from urllib.parse import quote

from ..exceptions import ConfigurationError, ValidationError
from .clock import Clock

__all__ = ["Signer", "MasterKeySigner", "ResourceTokenSigner", "AadTokenCache", "TokenCredential"]

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


class AadTokenCache:
    """Caches an AAD access token and refreshes it before it expires, one refresh at a time.

    Call ``await ensure_fresh()`` before ``sign()``; ``invalidate()`` after the service rejected the
    token (401, or 403/5300), so the next attempt fetches a new one.
    """

    __slots__ = ("_clock", "_credential", "_expires_on", "_header", "_lock", "_refresh_margin", "_scope")

    def __init__(self, credential: TokenCredential, scope: str, clock: Clock, refresh_margin: float = 300.0):
        if not callable(getattr(credential, "get_token", None)):
            raise ConfigurationError("an AAD credential must have an async get_token(*scopes) method")
        self._credential = credential
        self._scope = scope
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._header = ""
        self._expires_on = 0.0
        self._lock: asyncio.Lock | None = None  # created lazily inside the running loop

    async def ensure_fresh(self) -> None:
        if self._header and self._clock.time() < self._expires_on - self._refresh_margin:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # Another task may have refreshed while this one waited for the lock.
            if self._header and self._clock.time() < self._expires_on - self._refresh_margin:
                return
            token, expires_on = await self._credential.get_token(self._scope)
            if not isinstance(token, str) or not token:
                raise ConfigurationError("the AAD credential returned an empty token")
            self._header = "type=aad&ver=1.0&sig=" + token  # AAD values travel unescaped
            self._expires_on = float(expires_on)

    def invalidate(self) -> None:
        self._header = ""
        self._expires_on = 0.0

    def sign(self, verb: str, resource_type: str, resource_link: str, date_lower: str) -> str:
        return self._header

    def __repr__(self) -> str:
        return f"AadTokenCache(scope={self._scope!r}, token=<redacted>)"
