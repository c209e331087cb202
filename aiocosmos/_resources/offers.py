"""Offers: the provisioned throughput of a database or container (read and replace).

A resource's offer is found as azure-cosmos finds it: read the resource for its ``_self`` link, then
query ``POST /offers`` with ``SELECT * FROM root r WHERE r.resource=@link`` (signed ``post``,
``offers``, ``""``). A replace sends the WHOLE offer back, changed, with ``PUT /offers/{_rid}``,
signed with the offer rid lower-cased (rid-based links are signed that way).

No offer means the resource has no dedicated throughput (a container in a shared-throughput
database, or a serverless account); that is a ``NotFound`` with sub-status 10004, as in azure-cosmos.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import attrs

from .._wire import codec
from .._wire.results import ResourceResponse, ResponseMetadata
from ..exceptions import BadRequest, Locked, NotFound, ValidationError

if TYPE_CHECKING:
    from .._feeds.core import ClientCore
    from .container import ContainerProxy
    from .database import DatabaseProxy

__all__ = [
    "ThroughputProperties",
    "ThroughputResponse",
    "OFFER_QUERY",
    "THROUGHPUT_NOT_FOUND",
    "get_throughput",
    "replace_throughput",
    "throughput_headers",
]

OFFER_QUERY: Final = "SELECT * FROM root r WHERE r.resource=@link"
"""The query azure-cosmos sends (byte for byte) to find a resource's offer."""
THROUGHPUT_NOT_FOUND: Final = 10004
"""The sub-status of the NotFound raised when a resource has no offer (azure-cosmos's client code)."""


@attrs.frozen
class ThroughputProperties:
    """Provisioned throughput: manual ``offer_throughput`` RU/s (the one positional argument, as in
    azure-cosmos), or autoscale up to ``auto_scale_max_throughput`` RU/s (exactly one of the two)."""

    offer_throughput: int | None = None
    auto_scale_max_throughput: int | None = attrs.field(default=None, kw_only=True)
    auto_scale_increment_percent: int | None = attrs.field(default=None, kw_only=True)


def _check_manual(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 400 or value % 100:
        raise ValidationError(f"offer_throughput must be an int >= 400 in steps of 100 RU/s, got {value!r}")
    return value


def throughput_headers(offer_throughput: int | ThroughputProperties | None) -> dict[str, str]:
    """Request headers that provision throughput on create; validated before any I/O."""
    if offer_throughput is None:
        return {}
    if not isinstance(offer_throughput, ThroughputProperties):
        return {"x-ms-offer-throughput": str(_check_manual(offer_throughput))}
    manual, auto = offer_throughput.offer_throughput, offer_throughput.auto_scale_max_throughput
    if (manual is None) == (auto is None):
        raise ValidationError("ThroughputProperties needs exactly one of offer_throughput and "
                              "auto_scale_max_throughput")
    if manual is not None:
        return {"x-ms-offer-throughput": str(_check_manual(manual))}
    if not isinstance(auto, int) or isinstance(auto, bool) or auto < 1000 or auto % 1000:
        raise ValidationError(f"auto_scale_max_throughput must be an int >= 1000 in steps of 1000, got {auto!r}")
    settings: dict[str, Any] = {"maxThroughput": auto}
    if offer_throughput.auto_scale_increment_percent is not None:
        settings["autoUpgradePolicy"] = {
            "throughputPolicy": {"incrementPercent": offer_throughput.auto_scale_increment_percent}
        }
    return {"x-ms-cosmos-offer-autopilot-settings": codec.dumps(settings).decode()}


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ThroughputResponse(ResponseMetadata):
    """The provisioned throughput of a database or container, and what it cost to learn or change it.

    ``offer_throughput`` is set for manual throughput; ``auto_scale_max_throughput`` (and
    ``auto_scale_increment_percent``) for autoscale, as in azure-cosmos's ``ThroughputProperties``.
    ``min_throughput`` is the service's ``x-ms-cosmos-min-throughput`` when it sent one, and
    ``replace_pending`` its ``x-ms-offer-replace-pending`` (a scale-up still in progress).
    ``properties`` is the offer itself; ``request_charge`` adds up every request the call made.
    """

    __slots__ = (
        "_charge",
        "auto_scale_increment_percent",
        "auto_scale_max_throughput",
        "headers",
        "offer_throughput",
        "properties",
        "status_code",
    )

    def __init__(self, offer: dict[str, Any], headers: Mapping[str, str], status_code: int, charge: float) -> None:
        self.properties = offer
        self.headers = headers
        self.status_code = status_code
        self._charge = charge
        content = offer.get("content")
        content = content if isinstance(content, dict) else {}
        autopilot = content.get("offerAutopilotSettings")
        self.offer_throughput: int | None = None
        self.auto_scale_max_throughput: int | None = None
        self.auto_scale_increment_percent: int | None = None
        if isinstance(autopilot, dict):
            self.auto_scale_max_throughput = _int_or_none(autopilot.get("maxThroughput"))
            policy = autopilot.get("autoUpgradePolicy")
            throughput_policy = policy.get("throughputPolicy") if isinstance(policy, dict) else None
            if isinstance(throughput_policy, dict):
                self.auto_scale_increment_percent = _int_or_none(throughput_policy.get("incrementPercent"))
        else:
            self.offer_throughput = _int_or_none(content.get("offerThroughput"))

    @property
    def request_charge(self) -> float:
        """Request units of every request the operation made (resource read, offer query, replace)."""
        return self._charge

    @property
    def min_throughput(self) -> int | None:
        """The lowest RU/s this resource may be set to now (``x-ms-cosmos-min-throughput``), or None."""
        raw = self.headers.get("x-ms-cosmos-min-throughput")
        try:
            return int(raw) if raw else None
        except ValueError:
            return None

    @property
    def replace_pending(self) -> bool | None:
        """Whether a throughput change is still being applied, or None if the service did not say."""
        raw = self.headers.get("x-ms-offer-replace-pending")
        return None if not raw else raw.lower() == "true"

    @property
    def offer_id(self) -> str | None:
        """The offer's ``_rid`` (its address, ``/offers/{offer_id}``)."""
        value = self.properties.get("_rid") or self.properties.get("id")
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:
        if self.auto_scale_max_throughput is not None:
            what = f"auto_scale_max_throughput={self.auto_scale_max_throughput}"
        else:
            what = f"offer_throughput={self.offer_throughput}"
        return f"ThroughputResponse({what}, min_throughput={self.min_throughput}, " \
               f"request_charge={self.request_charge})"


class _Budget:
    """One deadline and one RU tally across the several requests of an operation."""

    __slots__ = ("_core", "_deadline", "charge")

    def __init__(self, core: ClientCore, timeout: float | None) -> None:
        self._core = core
        if timeout is None:
            timeout = core.default_timeout
        self._deadline = None if timeout is None else core.clock.monotonic() + timeout
        self.charge = 0.0

    def remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - self._core.clock.monotonic())

    def add(self, headers: Mapping[str, str]) -> None:
        raw = headers.get("x-ms-request-charge")
        self.charge += float(raw) if raw else 0.0


def _describe(resource: DatabaseProxy | ContainerProxy) -> str:
    # A container's link is dbs/{db}/colls/{id}; ids never hold "/".
    return f"container {resource._link!r}" if "/colls/" in resource._link else f"database {resource._link!r}"


async def _self_link(resource: DatabaseProxy | ContainerProxy, budget: _Budget, refresh: bool) -> tuple[str, bool]:
    """(``_self`` of the resource, whether it came from a cached definition)."""
    cached = resource.properties
    if not refresh and cached is not None and isinstance(cached.get("_self"), str):
        return cached["_self"], True
    response: ResourceResponse = await resource.read(timeout=budget.remaining())
    budget.add(response.headers)
    link = response.get("_self")
    if not isinstance(link, str) or not link:
        raise ValidationError(f"the service returned no _self link for {_describe(resource)}")
    return link, False


async def _find_offer(
    resource: DatabaseProxy | ContainerProxy, budget: _Budget
) -> tuple[dict[str, Any], Mapping[str, str], int]:
    """The resource's offer, and the headers and status of the query page that held it."""
    link, cached = await _self_link(resource, budget, refresh=False)
    while True:
        headers: Mapping[str, str] = {}
        pager = resource._core.feed(
            "/offers", "offers", "", "Offers", query=OFFER_QUERY, parameters=[{"name": "@link", "value": link}],
            timeout=budget.remaining(),
        )
        async for page in pager.by_page():
            budget.charge += page.request_charge  # includes skipped empty pages
            headers = page.headers
            for offer in page.items:
                if isinstance(offer, dict):
                    return offer, page.headers, page.status_code
        if not cached:
            break
        # A cached _self may belong to an earlier resource of the same name: read it again, once.
        link, cached = await _self_link(resource, budget, refresh=True)
    raise NotFound(
        f"{_describe(resource)} has no dedicated throughput: no offer has resource {link!r} (it may share "
        "its database's throughput, or the account is serverless)",
        status_code=404, sub_status=THROUGHPUT_NOT_FOUND, code="NotFound", headers=headers,
    )


async def get_throughput(resource: DatabaseProxy | ContainerProxy, *, timeout: float | None) -> ThroughputResponse:
    budget = _Budget(resource._core, timeout)
    offer, headers, status = await _find_offer(resource, budget)
    return ThroughputResponse(offer, headers, status, budget.charge)


def _check_throughput(throughput: object) -> int | ThroughputProperties:
    """Validate before any I/O, with the same rules as provisioning on create."""
    if isinstance(throughput, ThroughputProperties):
        throughput_headers(throughput)
        return throughput
    if isinstance(throughput, int) and not isinstance(throughput, bool):
        throughput_headers(throughput)
        return throughput
    raise ValidationError(
        "throughput must be an int (manual RU/s) or ThroughputProperties(auto_scale_max_throughput=...), "
        f"got {type(throughput).__name__}: {throughput!r}"
    )


def _changed_offer(offer: dict[str, Any], throughput: int | ThroughputProperties, what: str) -> dict[str, Any]:
    """A copy of ``offer`` with the new throughput; the rest of the offer goes back unchanged."""
    content = offer.get("content")
    if not isinstance(content, dict):
        raise ValidationError(f"the offer of {what} has no 'content' to change: {offer!r:.200}")
    content = dict(content)
    autopilot = content.get("offerAutopilotSettings")
    manual = throughput if isinstance(throughput, int) else throughput.offer_throughput
    if manual is not None:
        if isinstance(autopilot, dict):
            raise ValidationError(
                f"{what} uses autoscale throughput: pass ThroughputProperties(auto_scale_max_throughput=...) "
                "(switching between manual and autoscale is a migration, not a replace)"
            )
        content["offerThroughput"] = manual
    else:
        assert isinstance(throughput, ThroughputProperties)  # exactly one of the two is set (validated)
        if not isinstance(autopilot, dict):
            raise ValidationError(
                f"{what} uses manual throughput: pass an int (RU/s) (switching between manual and autoscale "
                "is a migration, not a replace)"
            )
        autopilot = {**autopilot, "maxThroughput": throughput.auto_scale_max_throughput}
        if throughput.auto_scale_increment_percent is not None:
            policy = autopilot.get("autoUpgradePolicy")
            policy = dict(policy) if isinstance(policy, dict) else {}
            throughput_policy = policy.get("throughputPolicy")
            throughput_policy = dict(throughput_policy) if isinstance(throughput_policy, dict) else {}
            throughput_policy["incrementPercent"] = throughput.auto_scale_increment_percent
            policy["throughputPolicy"] = throughput_policy
            autopilot["autoUpgradePolicy"] = policy
        content["offerAutopilotSettings"] = autopilot
    return {**offer, "content": content}


async def replace_throughput(
    resource: DatabaseProxy | ContainerProxy, throughput: int | ThroughputProperties, *, timeout: float | None
) -> ThroughputResponse:
    checked = _check_throughput(throughput)
    budget = _Budget(resource._core, timeout)
    what = _describe(resource)
    offer, _, _ = await _find_offer(resource, budget)
    rid = offer.get("_rid") or offer.get("id")
    if not isinstance(rid, str) or not rid:
        raise ValidationError(f"the offer of {what} has no _rid: {offer!r:.200}")
    data = codec.dumps(_changed_offer(offer, checked, what), what="offer")
    # A rid travels unescaped, as azure-cosmos sends it ('+' and '=' are legal in a path segment).
    path = "/offers/" + quote(rid, safe="+=")
    try:
        status, headers, body = await resource._core.request(
            "PUT", path, "offers", rid.lower(), headers={"Content-Type": "application/json"}, body=data,
            idempotent=False, timeout=budget.remaining(),
        )
    except Locked as exc:
        exc.message = (f"cannot change the throughput of {what} now: a scale operation is already in progress "
                       f"(423 Locked); retry once it has finished. The service said: {exc.message}")
        raise
    except BadRequest as exc:
        exc.message = (f"the service refused throughput {_requested(checked)} for {what} (400): it must lie "
                       "between the resource's minimum (see get_throughput().min_throughput) and the account's "
                       f"maximum. The service said: {exc.message}")
        raise
    budget.add(headers)
    replaced = codec.loads(body) if body else {}
    return ThroughputResponse(replaced if isinstance(replaced, dict) else {}, headers, status, budget.charge)


def _requested(throughput: int | ThroughputProperties) -> str:
    if isinstance(throughput, int):
        return f"{throughput} RU/s"
    if throughput.offer_throughput is not None:
        return f"{throughput.offer_throughput} RU/s"
    return f"autoscale max {throughput.auto_scale_max_throughput} RU/s"
