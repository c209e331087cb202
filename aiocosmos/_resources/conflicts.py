"""Conflicts of a container: the losing versions that multi-region writes leave for the application.

``ContainerProxy`` gets them from ``ConflictOperations``, a mixin. The methods have the
``azure.cosmos.aio`` names and signatures:
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
from .._wire.request_options import ResponseHook, call_hook, check_hook
from .._wire.results import ResourceResponse

if TYPE_CHECKING:
    from .._feeds.core import ClientCore

__all__ = ["ConflictOperations"]

_TYPE: Final = "conflicts"
_FEED_KEY: Final = "Conflicts"
_PK: Final = "x-ms-documentdb-partitionkey"


def _conflict_id(conflict: object) -> str:
    if isinstance(conflict, Mapping):
        return validate_id(conflict.get("id"), "conflict id")
    return validate_id(conflict, "conflict id")


class ConflictOperations:
    """The conflict methods; mixed into ``ContainerProxy`` (every method's ``self`` is one)."""

    __slots__ = ()

    # Provided by ContainerProxy (its slots and methods).
    _core: ClientCore
    _link: str
    _path: str

    async def _partition_header(self, partition_key: Any, timeout: float | None) -> tuple[str, float | None]:
        raise NotImplementedError  # ItemOperations's (items.py)

    def list_conflicts(
        self, *, max_item_count: int | None = None, timeout: float | None = None
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Every conflict that multi-region writes left in the container, page by page."""
        return self._core.feed(f"{self._path}/conflicts", _TYPE, self._link, _FEED_KEY,
                               max_item_count=max_item_count, timeout=timeout)

    def query_conflicts(
        self,
        query: str,
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        partition_key: Any = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Conflicts matching a SQL query; with ``partition_key``, only that logical partition's."""
        headers: dict[str, str] = {}
        if partition_key is None:  # as in azure-cosmos and query_items: None means every partition
            headers["x-ms-documentdb-query-enablecrosspartition"] = "True"
        else:
            definition = self._core.partition_keys.get(self._link)
            # No I/O here (the pager is lazy): without a cached definition only the value itself is checked.
            headers[_PK] = (definition.header_for(partition_key) if definition is not None
                            else loose_partition_header(partition_key))
        return self._core.feed(f"{self._path}/conflicts", _TYPE, self._link, _FEED_KEY, query=query,
                               parameters=parameters, max_item_count=max_item_count, headers=headers,
                               timeout=timeout)

    async def get_conflict(
        self, conflict: str | Mapping[str, Any], partition_key: Any, *, timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> ResourceResponse:
        """Read one conflict by id and the partition key of its item (404 NotFound if missing)."""
        check_hook(response_hook)
        result = await self._conflict_request("GET", conflict, partition_key, timeout)
        call_hook(response_hook, result.headers, result)
        return result

    async def delete_conflict(
        self, conflict: str | Mapping[str, Any], partition_key: Any, *, timeout: float | None = None,
        response_hook: ResponseHook | None = None,
    ) -> ResourceResponse:
        """Delete one conflict (404 if missing); returns an empty mapping with the metadata."""
        check_hook(response_hook)
        result = await self._conflict_request("DELETE", conflict, partition_key, timeout)
        call_hook(response_hook, result.headers, None)
        return result

    async def _conflict_request(
        self, method: str, conflict: object, partition_key: Any, timeout: float | None
    ) -> ResourceResponse:
        conflict_id = _conflict_id(conflict)
        # The value's types are checked before any I/O, its arity against the container's key definition
        # (read once per client, then cached).
        loose_partition_header(partition_key)
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        return await self._core.resource(
            method, f"{self._path}/conflicts/{quote_id(conflict_id)}", _TYPE, f"{self._link}/conflicts/{conflict_id}",
            headers={_PK: pk_header}, idempotent=method == "GET", timeout=timeout,
        )
