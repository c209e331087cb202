"""Which partition key range a request addresses, for the per-partition circuit breaker.

Computed only when the breaker is on (``ClientOptions.partition_circuit_breaker``): a request with
``x-ms-documentdb-partitionkeyrangeid`` (a query or feed page of one range) names it; a point
operation's full partition-key value is hashed to its effective partition key and looked up in the
container's routing map (cached per client, read once if it is not yet). A request that spans
ranges (a cross-partition query, a hierarchical-key prefix) has no scope and is routed as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import orjson

from .._wire.session_tokens import container_of
from ..exceptions import HttpResponseError, TransportError
from .epk import effective_partition_key

if TYPE_CHECKING:
    from .core import ClientCore

__all__ = ["SCOPED_RESOURCES", "partition_scope"]

SCOPED_RESOURCES: Final = frozenset({"docs", "sprocs"})
"""Requests the breaker tracks: items (point operations, per-range queries) and stored-procedure runs."""
_RANGE_HEADER: Final = "x-ms-documentdb-partitionkeyrangeid"
_PK_HEADER: Final = "x-ms-documentdb-partitionkey"


async def partition_scope(
    core: ClientCore, path: str, resource_link: str, headers: Mapping[str, str], timeout: float | None
) -> str | None:
    """``"<container link>#<range id>"``, or None when the request does not address one range."""
    container = container_of(resource_link)
    range_id = headers.get(_RANGE_HEADER)
    if range_id is not None:
        return f"{container}#{range_id.rpartition(',')[2]}"
    header = headers.get(_PK_HEADER)
    definition = core.partition_keys.get(container)
    if header is None or definition is None:
        return None
    try:
        values = orjson.loads(header)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(values, list) or len(values) != len(definition.paths):
        return None  # a hierarchical-key prefix may span ranges
    epk = effective_partition_key(values, definition.kind, definition.version)
    routing = core.routing_maps.cached(container)
    if routing is None:
        start = path.find("/colls/")
        end = path.find("/", start + 7)
        container_path = path if end < 0 else path[:end]
        try:
            routing = await core.routing_maps.get(container, container_path + "/pkranges", timeout=timeout)
        except (HttpResponseError, TransportError):
            return None  # the request itself will meet the same trouble, and say so
    ranges = routing.overlapping(epk, epk + "0")  # the one range holding the point epk
    return f"{container}#{ranges[0].id}" if len(ranges) == 1 else None
