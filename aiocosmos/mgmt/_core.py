"""What every management operation group shares: URLs, the request loop, paging and LRO start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from .._feeds.paging import AsyncItemPaged, request_fingerprint
from .._wire.clock import Clock
from ..exceptions import ValidationError
from ._lro import LROPoller, begin
from ._pipeline import ArmPipeline, ArmResponse

__all__ = ["MgmtCore", "segment"]

T = TypeVar("T")


def segment(value: object, what: str) -> str:
    """One percent-encoded path segment; names must be non-empty strings."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def dumps(body: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError as exc:
        raise ValidationError(f"the request body is not JSON-serialisable: {exc}") from None


class MgmtCore:
    __slots__ = ("_open", "api_version", "base_url", "clock", "polling_interval", "subscription_id")

    def __init__(
        self,
        open_pipeline: Callable[[], Awaitable[ArmPipeline]],
        *,
        base_url: str,
        subscription_id: str,
        api_version: str,
        clock: Clock,
        polling_interval: float,
    ) -> None:
        self._open = open_pipeline
        self.base_url = base_url
        self.subscription_id = subscription_id
        self.api_version = api_version
        self.clock = clock
        self.polling_interval = polling_interval

    # -- URLs --------------------------------------------------------------------------------------

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        params = [("api-version", self.api_version), *(query or {}).items()]
        encoded = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in params)
        return f"{self.base_url}{path}?{encoded}"

    def subscription_path(self) -> str:
        return f"/subscriptions/{segment(self.subscription_id, 'subscription id')}"

    def account_path(self, resource_group: str, account_name: str) -> str:
        return (f"{self.subscription_path()}/resourceGroups/{segment(resource_group, 'resource group')}"
                f"/providers/Microsoft.DocumentDB/databaseAccounts/{segment(account_name, 'account name')}")

    def check_url(self, url: str) -> None:
        # Same rule as the pipeline's, but usable before the pipeline is open (resume from a token).
        ArmPipeline.check_url_against(url, self.base_url)

    # -- requests ----------------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        idempotent: bool,
        timeout: float | None = None,
        accept: tuple[int, ...] = (),
    ) -> ArmResponse:
        pipeline = await self._open()
        return await pipeline.request(method, url, body=body, idempotent=idempotent, timeout=timeout, accept=accept)

    async def get_json(self, url: str, *, timeout: float | None = None, method: str = "GET",
                       idempotent: bool = True) -> dict[str, Any]:
        _, _, raw = await self.send(method, url, idempotent=idempotent, timeout=timeout)
        parsed = orjson.loads(raw) if raw else {}
        return parsed if isinstance(parsed, dict) else {}

    def pager(self, url: str, parse: Callable[[Mapping[str, Any]], T], *,
              timeout: float | None = None) -> AsyncItemPaged[T]:
        """Follows ``nextLink``; its continuation tokens wrap the next link (resume with ``by_page``)."""

        async def fetch(next_link: str | None) -> tuple[list[T], Mapping[str, str], int]:
            status, headers, raw = await self.send("GET", next_link or url, idempotent=True, timeout=timeout)
            body = orjson.loads(raw) if raw else {}
            values = body.get("value") if isinstance(body, dict) else None
            items = [parse(v) for v in values if isinstance(v, dict)] if isinstance(values, list) else []
            meta = {k.lower(): v for k, v in headers.items()}
            meta.pop("x-ms-continuation", None)
            link = body.get("nextLink") if isinstance(body, dict) else None
            if isinstance(link, str) and link:
                meta["x-ms-continuation"] = link
            return items, meta, status

        return AsyncItemPaged(fetch, request_fingerprint("arm", url))

    async def begin(
        self,
        method: str,
        url: str,
        *,
        body: Mapping[str, Any] | None = None,
        final_url: str | None = None,
        kind: str = "none",
        idempotent: bool = True,
        timeout: float | None = None,
        final_state_via: str = "location",
        polling: bool = True,
        continuation_token: str | None = None,
    ) -> LROPoller[Any]:
        """Start a long-running operation, or with ``continuation_token`` resume the one it describes
        (no request is sent). ``final_state_via`` is the swagger's ``x-ms-long-running-operation-options``
        (``location`` for every Cosmos DB operation); ``polling=False`` returns a poller that never polls."""
        if continuation_token is not None:
            return self.resume(continuation_token, method, url)
        if not isinstance(polling, bool):
            raise ValidationError(f"polling must be True or False, got {polling!r}")
        return await begin(self, method, url, body=None if body is None else dumps(body), final_url=final_url,
                           kind=kind, idempotent=idempotent, timeout=timeout, final_state_via=final_state_via,
                           polling=polling)

    def resume(self, continuation_token: str, method: str | None = None, url: str | None = None) -> LROPoller[Any]:
        """The poller a continuation token describes; with ``method``/``url``, it must be that operation's."""
        poller = LROPoller.from_continuation_token(self, continuation_token)
        if method is not None and url is not None and not poller.describes(method, url):
            raise ValidationError(f"the continuation token is for another operation ({poller!r}), "
                                  f"not {method} {url.partition('?')[0]!r}")
        return poller
