"""Threshold logging (.NET's ``CosmosThresholdOptions``): an operation slower, costlier or bigger than
``ClientOptions.thresholds`` says is logged once, at WARNING, with its diagnostics.

Off by default (the core holds None and tests one attribute). On, each request costs a subtraction,
a header lookup and two length comparisons; the operation's name and the diagnostics are built only
for a request that crossed a threshold. Feeds and queries are checked page by page, as each page is
one request. The line names the operation and its database and container, never an item id, a
header value other than those the diagnostics carry, a key, a token or a body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from .._wire.options import ThresholdOptions
from ..diagnostics import Diagnostics, Timing, from_response
from ..exceptions import HttpResponseError, OperationTimeout, TransportError
from .names import operation_name, target

__all__ = ["ThresholdLog", "POINT_OPERATIONS", "THRESHOLD_LOGGER"]

THRESHOLD_LOGGER: Final = "aiocosmos.wire.thresholds"
_log = logging.getLogger(THRESHOLD_LOGGER)

POINT_OPERATIONS: Final = frozenset(
    {"read_item", "create_item", "upsert_item", "replace_item", "patch_item", "delete_item"}
)
"""Operations on one item (.NET's point operations): the point latency threshold applies; to every
other request (queries, feeds, batches, management) the non-point one."""


_NO_HEADERS: Final[Mapping[str, str]] = {}


def _charge(headers: Mapping[str, str]) -> float:
    raw = headers.get("x-ms-request-charge")
    try:
        return float(raw) if raw else 0.0
    except ValueError:
        return 0.0


class ThresholdLog:
    """Checks each request against the thresholds and logs those that cross one."""

    __slots__ = ("_fastest", "_options")

    def __init__(self, options: ThresholdOptions) -> None:
        self._options = options
        limits = [v for v in (options.point_operation_latency, options.non_point_operation_latency) if v is not None]
        self._fastest = min(limits) if limits else None

    def check(self, method: str, resource_type: str, resource_link: str, request_headers: Mapping[str, str] | None,
              body: bytes | None, response: tuple[int, Mapping[str, str], bytes], timing: Timing) -> None:
        status, headers, data = response
        crossed = self._crossed(method, resource_type, resource_link, request_headers, body, headers, len(data),
                                timing[2] - timing[1])
        if crossed is not None:
            self._emit(crossed[0], crossed[1], resource_link, from_response(headers, status, timing))

    def check_error(self, method: str, resource_type: str, resource_link: str,
                    request_headers: Mapping[str, str] | None, body: bytes | None,
                    error: HttpResponseError | TransportError | OperationTimeout) -> None:
        """An error answer, a connection failure or a deadline: checked as an answer is (a failure
        without an answer has no charge and no response body)."""
        timing = error.timing
        if timing is None:
            return
        if isinstance(error, HttpResponseError):
            headers, size = error.headers, len(error.body or b"")
        else:
            headers, size = _NO_HEADERS, 0
        crossed = self._crossed(method, resource_type, resource_link, request_headers, body, headers, size,
                                timing[2] - timing[1])
        if crossed is not None:
            self._emit(crossed[0], crossed[1], resource_link, error.diagnostics)

    def _crossed(self, method: str, resource_type: str, resource_link: str,
                 request_headers: Mapping[str, str] | None, body: bytes | None, headers: Mapping[str, str],
                 response_size: int, elapsed: float) -> tuple[str, list[str]] | None:
        options = self._options
        reasons: list[str] = []
        charge_limit, size_limit = options.request_charge, options.payload_size
        if charge_limit is not None:
            charge = _charge(headers)
            if charge > charge_limit:
                reasons.append(f"request charge {charge:g} RU > {charge_limit:g}")
        if size_limit is not None:
            size = max(len(body) if body else 0, response_size)
            if size > size_limit:
                reasons.append(f"payload {size} bytes > {size_limit}")
        fastest = self._fastest
        if not reasons and (fastest is None or elapsed <= fastest):
            return None
        operation = operation_name(method, resource_type, resource_link, request_headers)
        limit = options.point_operation_latency if operation in POINT_OPERATIONS else \
            options.non_point_operation_latency
        if limit is not None and elapsed > limit:
            reasons.insert(0, f"latency {elapsed:.3f}s > {limit:g}s")
        return (operation, reasons) if reasons else None

    @staticmethod
    def _emit(operation: str, reasons: list[str], resource_link: str, diagnostics: Diagnostics) -> None:
        database, container = target(resource_link)
        where = "/".join(part for part in (database, container) if part) or "account"
        extra: dict[str, Any] = {"cosmos_event": "threshold_crossed", "cosmos_operation": operation,
                                 "cosmos_diagnostics": diagnostics.as_dict()}
        _log.warning("%s on %s crossed a threshold (%s): %s", operation, where, "; ".join(reasons),
                     diagnostics.to_json(), extra=extra)
