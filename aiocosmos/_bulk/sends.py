"""The bulk requests each operation went in, kept for its result's ``.diagnostics``.

Per bulk request the executor keeps one tuple, shared by the operations it carried (``Sent``: the
response headers or the error, the status, start and end on the client's clock, how many operations
it carried); per operation and request, one more tuple (that ``Sent`` and the operation's own answer in
the response, the dict the response body already holds). Nothing is built until ``.diagnostics`` is
read: then each request's attempts come from its headers or error, as for any other operation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._telemetry.tracing import BATCH_SIZE
from .._wire.pipeline import Pipeline, RawResponse
from ..diagnostics import Diagnostics, from_error, from_response
from ..exceptions import CosmosError

if TYPE_CHECKING:
    from .._feeds.core import ClientCore
    from .ranges import PendingOperation

__all__ = ["Sent", "bulk_pipeline", "send_batch", "operation_diagnostics"]

Sent = tuple[Any, "int | CosmosError", float, float, int]
"""(response headers or None, status or the error, started, ended, operations carried)."""


def bulk_pipeline(pipeline: Pipeline) -> Pipeline:
    """The client's pipeline without its own 429 retries: the executor sees every throttle (its
    congestion signal) and retries the operations itself. Same transport, signer and connections."""
    return pipeline.with_policy(attrs.evolve(pipeline.policy, max_throttle_retries=0))


async def send_batch(pipeline: Pipeline, core: ClientCore, batch: Sequence[PendingOperation], path: str, link: str,
                     headers: Mapping[str, str], body: bytes, timeout: float | None) -> tuple[RawResponse, Sent]:
    """One bulk request. A failed one is noted on every operation it carried before it is raised; a
    successful one is noted by the caller with each operation's own answer (``note``)."""
    if core.telemetry is not None:
        BATCH_SIZE.set(len(batch))  # the span's db.operation.batch.size (tracing.py)
    started = core.clock.monotonic()
    try:
        response = await pipeline.request("POST", path, "docs", link, headers=headers, body=body, idempotent=False,
                                          timeout=timeout)
    except CosmosError as exc:
        ended = core.clock.monotonic()
        if getattr(exc, "timing", False) is None:
            exc.timing = (getattr(exc, "headers", None), started, ended, None, None)  # type: ignore[attr-defined]
        failed: Sent = (None, exc, started, ended, len(batch))
        for op in batch:
            op.result.note(failed, None)
        raise
    return response, (response[1], response[0], started, core.clock.monotonic(), len(batch))


def _answer(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    code = raw.get("statusCode")
    sub = raw.get("substatusCode", raw.get("subStatusCode", 0))
    charge = raw.get("requestCharge")
    wait = raw.get("retryAfterMilliseconds")
    return {"status_code": code if isinstance(code, int) else None,
            "sub_status": int(sub) if isinstance(sub, int | str) and str(sub).isdigit() else 0,
            "request_charge": float(charge) if isinstance(charge, int | float) else 0.0,
            "retry_after": wait / 1000.0 if isinstance(wait, int | float) and wait > 0 else None}


def operation_diagnostics(sends: Sequence[tuple[Sent, Mapping[str, Any] | None]], *, status: int, sub_status: int,
                          request_charge: float, replayed: bool) -> Diagnostics:
    """One operation's diagnostics: each bulk request that carried it (its attempts, status, charge,
    activity id, timings, how many operations it carried) and the operation's own answer in it."""
    requests: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    for number, (sent, raw) in enumerate(sends, 1):
        headers, outcome, started, ended, carried = sent
        if isinstance(outcome, CosmosError):
            request = from_error(outcome).as_dict()
        else:
            request = from_response(headers, outcome, (headers, started, ended, None, None)).as_dict()
        request["request_charge"] = sum(a["request_charge"] for a in request["attempts"])
        request["operations"] = carried
        request["operation"] = _answer(raw)
        requests.append(request)
        attempts.extend({**attempt, "request": number} for attempt in request["attempts"])
    for number, attempt in enumerate(attempts, 1):
        attempt["attempt"] = number
    first, last = (sends[0][0], sends[-1][0]) if sends else (None, None)
    total = None if first is None or last is None else max(0.0, last[3] - first[2])
    waits = sum(float(a.get("wait") or 0.0) for a in attempts)
    last_request = requests[-1] if requests else {}
    return Diagnostics({
        "status_code": status,
        "sub_status": sub_status,
        "activity_id": last_request.get("activity_id"),
        "regions": last_request.get("regions", []),
        "replayed": replayed,
        "hedged": False,
        "request_charge": request_charge,
        "requests": requests,
        "attempts": attempts,
        "timings": {"total": total, "between_requests": None if total is None else max(
            0.0, total - sum((s[0][3] - s[0][2]) for s in sends)), "retry_wait": waits},
    })
