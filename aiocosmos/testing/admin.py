"""The fault proxy's admin HTTP API (same port, JSON, under ``/_proxy/``): the log, rules, the
budget, splits and reset, for tests that drive a proxy from outside its process."""

from __future__ import annotations

from typing import Any, Final

import orjson
from aiohttp import web

from .faults import Fault
from .state import ProxyState
from .wire import json_response

__all__ = ["ADMIN_PREFIX", "admin_response"]

ADMIN_PREFIX: Final = "/_proxy/"
_RULE_OPTIONS: Final = frozenset({
    "name", "weights", "probability", "times", "skip", "method", "path", "path_prefix", "path_regex", "kinds",
    "continuation",
})


async def admin_response(state: ProxyState, request: web.Request) -> web.StreamResponse:
    """Answer one admin request (its path starts with ``ADMIN_PREFIX``)."""
    what = request.path[len(ADMIN_PREFIX):].strip("/")
    try:
        payload: Any = orjson.loads(await request.read() or b"{}")
        if what == "log" and request.method == "GET":
            return json_response({"injections": [i.to_json() for i in state.log], "counts": dict(state.counts()),
                                  "requests": state.requests, "forwarded": state.forwarded})
        if what == "rules" and request.method == "GET":
            return json_response({"rules": [rule.describe() for rule in state.rules]})
        if what == "rules" and request.method == "POST":
            spec = dict(payload)
            faults = [Fault.from_json(f) for f in spec.pop("faults", ())]
            unknown = set(spec) - _RULE_OPTIONS
            if unknown:
                raise ValueError(f"unknown rule options {sorted(unknown)}; use {sorted(_RULE_OPTIONS)}")
            return json_response({"id": state.add_rule(*faults, **spec).id}, status=201)
        if what == "rules" and request.method == "DELETE":
            state.clear_rules()
            return json_response({"rules": []})
        if what == "budget" and request.method == "PUT":
            budget = state.set_budget(**payload)
            return json_response({"ru_per_second": budget.ru_per_second, "burst": budget.burst})
        if what == "budget" and request.method == "DELETE":
            state.clear_budget()
            return json_response({})
        if what == "split" and request.method == "POST":
            state.split(payload["container"], int(payload.get("into", 2)))
            return json_response({"splits": state._splits})
        if what == "reset" and request.method == "POST":
            state.reset()
            return json_response({})
    except (ValueError, TypeError, KeyError) as exc:
        return json_response({"code": "BadRequest", "message": f"{type(exc).__name__}: {exc}"}, status=400)
    return json_response({"code": "NotFound", "message": f"no admin route {request.method} {request.path}"},
                         status=404)
