"""Conflicts of a container: the losing versions that multi-region writes leave for the application.

``ContainerProxy`` delegates here. The methods have the ``azure.cosmos.aio`` names and signatures:
``list_conflicts``, ``query_conflicts``, ``get_conflict(conflict, partition_key)`` and
``delete_conflict(conflict, partition_key)``.

Wire: ``/dbs/{db}/colls/{coll}/conflicts[/{id}]``, resource type ``conflicts``, feed key ``Conflicts``.
List and query sign the container's link; read and delete sign the conflict's own link and carry the
partition key of the conflicting item. A conflict given as a dict is addressed by its ``id``
(azure-cosmos uses its ``_self``), like every other resource in aiocosmos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._feeds.paging import AsyncItemPaged
from .._wire.paths import loose_partition_header, quote_id, validate_id
from .._wire.results import ResourceResponse

if TYPE_CHECKING:
    from .container import ContainerProxy

__all__ = ["list_conflicts", "query_conflicts", "get_conflict", "delete_conflict"]

_TYPE: Final = "conflicts"
_FEED_KEY: Final = "Conflicts"
_PK: Final = "x-ms-documentdb-partitionkey"


def _conflict_id(conflict: object) -> str:
    if isinstance(conflict, Mapping):
        return validate_id(conflict.get("id"), "conflict id")
    return validate_id(conflict, "conflict id")


def _conflict(container: ContainerProxy, conflict: object) -> tuple[str, str]:
    """(URL path, signing link) of one conflict."""
    conflict_id = _conflict_id(conflict)
    return f"{container._path}/conflicts/{quote_id(conflict_id)}", f"{container._link}/conflicts/{conflict_id}"


async def _partition_header(
    container: ContainerProxy, partition_key: Any, timeout: float | None
) -> tuple[str, float | None]:
    """The partition-key header: the value's types are checked before any I/O, its arity against the container's
    key definition (read once per client, then cached)."""

    loose_partition_header(partition_key)
    return await container._partition_header(partition_key, timeout)


def list_conflicts(
    container: ContainerProxy, *, max_item_count: int | None, timeout: float | None
) -> AsyncItemPaged[dict[str, Any]]:
    return container._core.feed(f"{container._path}/conflicts", _TYPE, container._link, _FEED_KEY,
                                max_item_count=max_item_count, timeout=timeout)


def query_conflicts(
    container: ContainerProxy,
    query: str,
    *,
    parameters: Sequence[Mapping[str, Any]] | None,
    partition_key: Any,
    max_item_count: int | None,
    timeout: float | None,
) -> AsyncItemPaged[dict[str, Any]]:
    headers: dict[str, str] = {}
    if partition_key is None:  # as in azure-cosmos and query_items: None means every partition
        headers["x-ms-documentdb-query-enablecrosspartition"] = "True"
    else:
        definition = container._core.partition_keys.get(container._link)
        # No I/O here (the pager is lazy): without a cached definition only the value itself is checked.
        headers[_PK] = (definition.header_for(partition_key) if definition is not None
                        else loose_partition_header(partition_key))
    return container._core.feed(f"{container._path}/conflicts", _TYPE, container._link, _FEED_KEY, query=query,
                                parameters=parameters, max_item_count=max_item_count, headers=headers,
                                timeout=timeout)


async def get_conflict(
    container: ContainerProxy, conflict: str | Mapping[str, Any], partition_key: Any, *, timeout: float | None
) -> ResourceResponse:
    path, link = _conflict(container, conflict)
    pk_header, timeout = await _partition_header(container, partition_key, timeout)
    return await container._core.resource("GET", path, _TYPE, link, headers={_PK: pk_header}, idempotent=True,
                                          timeout=timeout)


async def delete_conflict(
    container: ContainerProxy, conflict: str | Mapping[str, Any], partition_key: Any, *, timeout: float | None
) -> ResourceResponse:
    path, link = _conflict(container, conflict)
    pk_header, timeout = await _partition_header(container, partition_key, timeout)
    return await container._core.resource("DELETE", path, _TYPE, link, headers={_PK: pk_header},
                                          idempotent=False, timeout=timeout)
