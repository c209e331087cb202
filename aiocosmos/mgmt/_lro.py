"""Long-running operations: a poller that follows ``Azure-AsyncOperation``, ``Location`` or the
resource's own ``provisioningState``, waiting ``Retry-After`` (or the client's polling interval)
on the injected Clock.

Final result rule (the same for every Cosmos operation, whatever the api-version):

* PUT/PATCH (create/update, throughput update): the resource, from the last polled body when the
  operation was tracked by its ``provisioningState`` or by a ``Location`` that answered 200 with a
  body; otherwise from a GET of the resource's URL.
* migrate to autoscale/manual: the throughput settings, from a GET of ``.../throughputSettings/default``
  (unless a ``Location`` poll already answered with them).
* DELETE and the other actions: None.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import orjson

from ..exceptions import ValidationError
from ._errors import lro_failed_error, parse_retry_after
from ._models import TERMINAL_STATES

if TYPE_CHECKING:
    from ._core import MgmtCore

__all__ = ["LROPoller", "RESULT_PARSERS"]

T = TypeVar("T")

_TOKEN_PREFIX: Final = "aclro1."
_MODES: Final = ("aao", "location", "body", "done")

RESULT_PARSERS: dict[str, Callable[[Mapping[str, Any]], Any] | None] = {"none": None}
"""Result kinds by name (filled in by the client), so a saved poller state can be resumed."""


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def provisioning_state(body: Mapping[str, Any]) -> str | None:
    props = body.get("properties")
    state = props.get("provisioningState") if isinstance(props, Mapping) else None
    return state if isinstance(state, str) else None


class LROPoller(Generic[T]):
    """A long-running operation that has been started.

    ``await poller.result()`` polls until it ends and returns the result (or None for deletes and
    actions); it raises ``LroFailedError`` if the operation ended as Failed or Canceled.
    ``await poller.wait()`` polls until it ends without returning the result; ``status()`` and
    ``done()`` say where it is; ``continuation_token()`` is a string from which
    ``CosmosManagementClient.resume_poller()`` rebuilds the poller (e.g. in another process).
    Cancelling the awaiting task only stops polling: the operation goes on in Azure.
    """

    def __init__(
        self,
        core: MgmtCore,
        *,
        method: str,
        url: str,
        mode: str,
        poll_url: str | None,
        final_url: str | None,
        kind: str,
        status: str,
        body: dict[str, Any] | None = None,
        delay: float | None = None,
    ) -> None:
        if mode not in _MODES or kind not in RESULT_PARSERS:
            raise ValidationError(f"bad poller state (mode={mode!r}, kind={kind!r})")
        self._core = core
        self._method = method
        self._url = url
        self._mode = mode
        self._poll_url = poll_url
        self._final_url = final_url
        self._kind = kind
        self._status = status
        self._body = body
        """The latest body that may be the result (initial 200, Location 200, polled resource)."""
        self._delay = delay
        self._error: Exception | None = None
        self._result: T | None = None
        self._have_result = False

    # -- state ------------------------------------------------------------------------------------

    def status(self) -> str:
        """``InProgress`` (or the service's own non-terminal state), ``Succeeded``, ``Failed`` or ``Canceled``."""
        return self._status

    def done(self) -> bool:
        return self._status.lower() in TERMINAL_STATES

    def continuation_token(self) -> str:
        state = {
            "method": self._method, "url": self._url, "mode": self._mode, "poll": self._poll_url,
            "final": self._final_url, "kind": self._kind, "status": self._status,
            "body": self._body if self._mode == "done" else None,
        }
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(orjson.dumps(state)).decode("ascii")

    @classmethod
    def from_continuation_token(cls, core: MgmtCore, token: str) -> LROPoller[Any]:
        if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
            raise ValidationError("not a poller continuation token (they come from LROPoller.continuation_token())")
        try:
            state = orjson.loads(base64.b64decode(token[len(_TOKEN_PREFIX):], altchars=b"-_", validate=True))
        except (binascii.Error, ValueError):
            raise ValidationError("the poller continuation token is damaged") from None
        if not isinstance(state, dict):
            raise ValidationError("the poller continuation token is damaged")
        try:
            poller: LROPoller[Any] = cls(
                core, method=str(state["method"]), url=str(state["url"]), mode=str(state["mode"]),
                poll_url=state["poll"], final_url=state["final"], kind=str(state["kind"]),
                status=str(state["status"]), body=state.get("body"),
            )
        except KeyError:
            raise ValidationError("the poller continuation token is damaged") from None
        for url in (poller._url, poller._poll_url, poller._final_url):
            if url is not None:
                if not isinstance(url, str):
                    raise ValidationError("the poller continuation token is damaged")
                core.check_url(url)  # a token must not send our bearer token elsewhere
        return poller

    def __repr__(self) -> str:
        return f"LROPoller({self._method} {self._url.partition('?')[0]!r}, status={self._status!r})"

    # -- polling ----------------------------------------------------------------------------------

    async def wait(self, *, timeout: float | None = None) -> None:
        """Poll until the operation reaches a terminal state (it does not raise for Failed/Canceled)."""
        clock = self._core.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        while not self.done():
            delay = self._delay if self._delay is not None else self._core.polling_interval
            if deadline is not None and clock.monotonic() + delay > deadline:
                raise TimeoutError(f"the long-running operation did not finish within {timeout} s "
                                   f"(status {self._status}); it goes on in Azure")
            await clock.sleep(delay)
            await self._poll_once()

    async def _poll_once(self) -> None:
        assert self._poll_url is not None
        status, headers, raw = await self._core.send("GET", self._poll_url, idempotent=True)
        body = _json(raw)
        self._delay = parse_retry_after(headers)
        if self._mode == "aao":
            value = body.get("status")
            self._status = value if isinstance(value, str) and value else "InProgress"
            if self._status.lower() in ("failed", "canceled"):
                self._error = lro_failed_error(self._status, body, headers, raw)
        elif self._mode == "location":
            location = headers.get("location")
            if location:
                self._core.check_url(location)
                self._poll_url = location
            if status == 202:
                self._status = "InProgress"
            else:
                self._status = "Succeeded"
                self._body = body or None
        else:  # "body": the resource itself, until its provisioningState is terminal
            state = provisioning_state(body) or "Succeeded"
            self._status = state
            self._body = body
            if state.lower() in ("failed", "canceled"):
                self._error = lro_failed_error(state, body, headers, raw)

    async def result(self, *, timeout: float | None = None) -> T:
        """Wait for the end of the operation and return its result (None for deletes and actions)."""
        await self.wait(timeout=timeout)
        if self._error is not None:
            raise self._error
        if self._status.lower() != "succeeded":
            raise lro_failed_error(self._status, {}, {}, b"")
        if not self._have_result:
            self._result = await self._final_result()
            self._have_result = True
        return self._result  # type: ignore[return-value]  # None exactly when the kind is "none"

    async def _final_result(self) -> Any:
        parse = RESULT_PARSERS[self._kind]
        if parse is None:
            return None
        body = self._body
        if not body:
            if self._final_url is None:
                return None
            _, _, raw = await self._core.send("GET", self._final_url, idempotent=True)
            body = _json(raw)
        return parse(body)


async def begin(
    core: MgmtCore,
    method: str,
    url: str,
    *,
    body: bytes | None,
    final_url: str | None,
    kind: str,
    idempotent: bool,
    timeout: float | None,
) -> LROPoller[Any]:
    """Send the initial request of a long-running operation and return its poller."""
    status, headers, raw = await core.send(method, url, body=body, idempotent=idempotent, timeout=timeout)
    parsed = _json(raw)
    aao = headers.get("azure-asyncoperation")
    location = headers.get("location")
    delay = parse_retry_after(headers)
    result_body = parsed if status in (200, 201) and parsed else None
    if aao:
        core.check_url(aao)
        if location:
            core.check_url(location)
        return LROPoller(core, method=method, url=url, mode="aao", poll_url=aao, final_url=final_url, kind=kind,
                         status="InProgress", delay=delay)
    if location and status == 202:
        core.check_url(location)
        return LROPoller(core, method=method, url=url, mode="location", poll_url=location, final_url=final_url,
                         kind=kind, status="InProgress", delay=delay)
    state = provisioning_state(parsed)
    if method in ("PUT", "PATCH") and state is not None and state.lower() not in TERMINAL_STATES:
        return LROPoller(core, method=method, url=url, mode="body", poll_url=url, final_url=final_url, kind=kind,
                         status=state, body=result_body, delay=delay)
    return LROPoller(core, method=method, url=url, mode="done", poll_url=None, final_url=final_url, kind=kind,
                     status="Succeeded", body=result_body)

