"""Long-running operations: a poller that follows ``Azure-AsyncOperation``, ``Location`` or the
resource's own ``provisioningState``, waiting ``Retry-After`` (or the client's polling interval)
on the injected Clock.

Final result, by the operation's ``final-state-via`` (``x-ms-long-running-operation-options`` in the
swagger; ``location`` for every Cosmos DB operation of api-version 2026-07-15):

* the operation answered at once (200/201 with a body, no status headers), or was tracked by the
  resource's ``provisioningState``: that body;
* tracked by ``Location`` alone: the body of the ``Location`` poll that answered 200;
* tracked by ``Azure-AsyncOperation``: with ``final-state-via: location``, a GET of the last
  ``Location`` URL the service gave; with ``original-uri``, a GET of the request URL; otherwise the
  status monitor's ``resourceLocation``;
* only when the service gave no URL to read the result from (no ``Location``, no ``resourceLocation``,
  or a ``Location`` that answered without a body): a GET of the operation's own resource (the request
  URL for PUT/PATCH, ``.../throughputSettings/default`` for a migration);
* DELETE and the other actions: None.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import orjson

from ..exceptions import ValidationError
from ._errors import ArmError, LroFailedError, lro_failed_error, parse_retry_after
from ._models import TERMINAL_STATES

if TYPE_CHECKING:
    from ._core import MgmtCore

__all__ = ["FINAL_STATE_VIA", "LROPoller", "RESULT_PARSERS"]

T = TypeVar("T")

_TOKEN_PREFIX: Final = "aclro1."
_MODES: Final = ("aao", "location", "body", "done")
FINAL_STATE_VIA: Final = ("location", "azure-async-operation", "original-uri")

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


def _failed(status: str) -> bool:
    return status.lower() in ("failed", "canceled")


class LROPoller(Generic[T]):
    """A long-running operation that has been started.

    ``await poller.result()`` polls until it ends and returns the result (None for deletes and
    actions); ``await poller.wait()`` polls until it ends without returning it. Both raise
    ``LroFailedError`` when the operation ended as Failed or Canceled: ``code``, ``message`` and
    ``details`` come from the operation's error, ``status_code`` is the HTTP status of the poll that
    reported it. ``status()`` and ``done()`` say where it is; ``continuation_token()`` is a string from
    which ``begin_*(..., continuation_token=...)`` or ``CosmosManagementClient.resume_poller()``
    rebuilds the poller (e.g. in another process), remembering the last ``Retry-After``.

    A poller made with ``polling=False`` never polls: ``result()`` is what the first response said
    (its body, or None when it had none) and ``wait()`` returns at once; resume its
    ``continuation_token()`` to follow the operation to its end. Cancelling the awaiting task only
    stops polling: the operation goes on in Azure.
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
        location: str | None = None,
        final_state_via: str = "location",
        polling: bool = True,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        if mode not in _MODES or kind not in RESULT_PARSERS or final_state_via not in FINAL_STATE_VIA:
            raise ValidationError(f"bad poller state (mode={mode!r}, kind={kind!r}, "
                                  f"final_state_via={final_state_via!r})")
        self._core = core
        self._method = method
        self._url = url
        self._mode = mode
        self._poll_url = poll_url
        self._final_url = final_url
        """Where the result is read when the service gave no URL for it (None: no result)."""
        self._location = location
        """The latest ``Location`` URL the service sent (the final-state URL of ``final-state-via: location``)."""
        self._via = final_state_via
        self._kind = kind
        self._status = status
        self._body = body
        """The latest body that may be the result (initial 200, Location 200, polled resource)."""
        self._resource_location: str | None = None
        self._delay = delay
        self._polling = polling
        self._error_state: dict[str, Any] | None = dict(error) if error else None
        """What a failed poll said (HTTP status, the error object), kept so a resumed poller raises it too."""
        self._error: LroFailedError | None = None
        self._result: T | None = None
        self._have_result = False

    # -- state ------------------------------------------------------------------------------------

    def status(self) -> str:
        """``InProgress`` (or the service's own non-terminal state), ``Succeeded``, ``Failed`` or ``Canceled``."""
        return self._status

    def done(self) -> bool:
        """Whether the operation has reached a terminal state (succeeded, failed or canceled)."""
        return self._status.lower() in TERMINAL_STATES

    @property
    def polling(self) -> bool:
        """False for a poller made with ``polling=False`` (it never polls)."""
        return self._polling

    def continuation_token(self) -> str:
        """A token that resumes polling this operation, in another process too (``continuation_token=``)."""
        state = {
            "method": self._method, "url": self._url, "mode": self._mode, "poll": self._poll_url,
            "final": self._final_url, "kind": self._kind, "status": self._status,
            "body": self._body if self._mode in ("done", "location") or self.done() else None,
            "delay": self._delay, "location": self._location, "via": self._via, "error": self._error_state,
            "resource_location": self._resource_location,
        }
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(orjson.dumps(state)).decode("ascii")

    @classmethod
    def from_continuation_token(cls, core: MgmtCore, token: str) -> LROPoller[Any]:
        """A poller resumed from :meth:`continuation_token`; raises ``ValidationError`` for a foreign token."""
        if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
            raise ValidationError("not a poller continuation token (they come from LROPoller.continuation_token())")
        try:
            state = orjson.loads(base64.b64decode(token[len(_TOKEN_PREFIX):], altchars=b"-_", validate=True))
        except (binascii.Error, ValueError):
            raise ValidationError("the poller continuation token is damaged") from None
        if not isinstance(state, dict):
            raise ValidationError("the poller continuation token is damaged")
        delay = state.get("delay")
        body = state.get("body")
        error = state.get("error")
        if not (delay is None or isinstance(delay, int | float)) or not (body is None or isinstance(body, dict)) \
                or not (error is None or isinstance(error, dict)):
            raise ValidationError("the poller continuation token is damaged")
        try:
            poller: LROPoller[Any] = cls(
                core, method=str(state["method"]), url=str(state["url"]), mode=str(state["mode"]),
                poll_url=state["poll"], final_url=state["final"], kind=str(state["kind"]),
                status=str(state["status"]), body=body, delay=None if delay is None else float(delay),
                location=state.get("location"), final_state_via=str(state.get("via", "location")), error=error,
            )
        except KeyError:
            raise ValidationError("the poller continuation token is damaged") from None
        poller._resource_location = state.get("resource_location")
        for url in (poller._url, poller._poll_url, poller._final_url, poller._location, poller._resource_location):
            if url is not None:
                if not isinstance(url, str):
                    raise ValidationError("the poller continuation token is damaged")
                core.check_url(url)  # a token must not send our bearer token elsewhere
        return poller

    def describes(self, method: str, url: str) -> bool:
        """Whether this poller is for ``method url`` (the query string, i.e. the api-version, aside)."""
        return self._method == method and self._url.partition("?")[0] == url.partition("?")[0]

    def __repr__(self) -> str:
        return f"LROPoller({self._method} {self._url.partition('?')[0]!r}, status={self._status!r})"

    # -- polling ----------------------------------------------------------------------------------

    async def wait(self, *, timeout: float | None = None) -> None:
        """Poll until the operation reaches a terminal state; raise ``LroFailedError`` if it ended as
        Failed or Canceled. ``TimeoutError`` after ``timeout`` seconds (the poller can be awaited again)."""
        if not self._polling:
            return
        clock = self._core.clock
        deadline = None if timeout is None else clock.monotonic() + timeout
        while not self.done():
            delay = self._delay if self._delay is not None else self._core.polling_interval
            if deadline is not None and clock.monotonic() + delay > deadline:
                raise TimeoutError(f"the long-running operation did not finish within {timeout} s "
                                   f"(status {self._status}); it goes on in Azure")
            await clock.sleep(delay)
            await self._poll_once()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._status.lower() == "succeeded":
            return
        if self._error is None:
            state = self._error_state or {}
            error = state.get("error")
            status_code = state.get("status_code")
            self._error = lro_failed_error(self._status, {"error": error} if isinstance(error, dict) else {},
                                           {}, b"", status_code=status_code if isinstance(status_code, int) else None)
        raise self._error

    def _fail(self, status: str, http_status: int, body: Mapping[str, Any], headers: Mapping[str, str],
              raw: bytes) -> None:
        self._status = status
        self._error = lro_failed_error(status, body, headers, raw, status_code=http_status)
        error = body.get("error")
        self._error_state = {"status_code": http_status, "error": error if isinstance(error, dict) else None}

    async def _poll_once(self) -> None:
        assert self._poll_url is not None
        try:
            status, headers, raw = await self._core.send("GET", self._poll_url, idempotent=True)
        except ArmError as exc:
            code = exc.status_code or 0
            if self._mode != "location" or not 400 <= code < 500 or code in (408, 429):
                raise  # the status monitor itself failed: the operation's state is unknown, try again later
            # Location polling: a 4xx is the operation's failure, with an ARM error body.
            self._fail("Failed", code, {"error": {"code": exc.code, "message": exc.message, "target": exc.target,
                                                   "details": exc.details}}, exc.headers, exc.body)
            return
        body = _json(raw)
        self._delay = parse_retry_after(headers)
        location = headers.get("location")
        if location:
            self._core.check_url(location)
            self._location = location
        if self._mode == "aao":
            value = body.get("status")
            self._status = value if isinstance(value, str) and value else "InProgress"
            resource_location = body.get("resourceLocation")
            if isinstance(resource_location, str) and resource_location:
                self._core.check_url(resource_location)
                self._resource_location = resource_location
            if _failed(self._status):
                self._fail(self._status, status, body, headers, raw)
        elif self._mode == "location":
            if location:
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
            if _failed(state):
                self._fail(state, status, body, headers, raw)

    async def result(self, *, timeout: float | None = None) -> T:
        """Wait for the end of the operation and return its result (None for deletes and actions)."""
        await self.wait(timeout=timeout)
        if not self._have_result:
            self._result = await self._final_result() if self._polling else self._initial_result()
            self._have_result = True
        return self._result  # type: ignore[return-value]  # None exactly when the kind is "none"

    def _initial_result(self) -> Any:
        parse = RESULT_PARSERS[self._kind]
        return parse(self._body) if parse is not None and self._body else None

    def _final_urls(self) -> list[str]:
        """Where to GET the result, best first."""
        urls: list[str] = []
        if self._mode == "aao":
            if self._via == "location" and self._location:
                urls.append(self._location)
            elif self._via == "original-uri":
                urls.append(self._url)
            if self._resource_location:
                urls.append(self._resource_location)
        if self._final_url is not None:
            urls.append(self._final_url)
        return list(dict.fromkeys(urls))

    async def _final_result(self) -> Any:
        parse = RESULT_PARSERS[self._kind]
        if parse is None:
            return None
        body = self._body if self._mode != "aao" else None
        for url in [] if body else self._final_urls():
            _, _, raw = await self._core.send("GET", url, idempotent=True)
            body = _json(raw)
            if body:
                break
        return parse(body) if body else None


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
    final_state_via: str = "location",
    polling: bool = True,
) -> LROPoller[Any]:
    """Send the initial request of a long-running operation and return its poller."""
    status, headers, raw = await core.send(method, url, body=body, idempotent=idempotent, timeout=timeout)
    parsed = _json(raw)
    aao = headers.get("azure-asyncoperation")
    location = headers.get("location")
    for link in (aao, location):
        if link:
            core.check_url(link)
    common: dict[str, Any] = {
        "method": method, "url": url, "final_url": final_url, "kind": kind, "location": location or None,
        "final_state_via": final_state_via, "polling": polling, "delay": parse_retry_after(headers),
        "body": parsed if status in (200, 201) and parsed else None,
    }
    if aao:
        return LROPoller(core, mode="aao", poll_url=aao, status="InProgress", **common)
    if location and status == 202:
        return LROPoller(core, mode="location", poll_url=location, status="InProgress", **common)
    state = provisioning_state(parsed)
    if method in ("PUT", "PATCH") and state is not None and state.lower() not in TERMINAL_STATES:
        return LROPoller(core, mode="body", poll_url=url, status=state, **common)
    common["delay"] = None
    return LROPoller(core, mode="done", poll_url=None, status="Succeeded", **common)
