"""The point operations of a container (create, upsert, replace, read, delete, patch of one item).

``ContainerProxy`` gets them from ``ItemOperations``, a mixin kept here so that container.py stays
within the module size limit; the methods are documented and typed as ``ContainerProxy`` methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._wire import codec
from .._wire.documents import check_document, check_etag, check_item_id, check_patch, write_options
from .._wire.paths import quote_id
from .._wire.results import ResourceResponse
from ..exceptions import ValidationError
from .replay import delete_document, write_document

if TYPE_CHECKING:
    from .._feeds.core import ClientCore
    from .._wire.paths import PartitionKey

__all__ = ["ItemOperations"]

_PK: Final = "x-ms-documentdb-partitionkey"
_JSON: Final = "application/json"


class ItemOperations:
    """Point operations on items; mixed into ``ContainerProxy`` (every method's ``self`` is one)."""

    __slots__ = ()

    # Provided by ContainerProxy (its slots and methods).
    _core: ClientCore
    _link: str
    _docs_path: str
    _docs_link: str

    async def _load_definition(self, timeout: float | None) -> tuple[PartitionKey, float | None]:
        raise NotImplementedError  # ContainerProxy's

    async def _write(
        self,
        method: str,
        path: str,
        link: str,
        document: dict[str, Any],
        extra: dict[str, str],
        timeout: float | None,
        *,
        replayable: bool = False,
        create: bool = False,
    ) -> ResourceResponse:
        """One item write; ``replayable``: safe to replay after an ambiguous failure (replay.py)."""
        data = codec.dumps_document(document)  # NaN, non-JSON values and the 2 MB limit: before I/O
        definition = self._core.partition_keys.get(self._link)
        if definition is None:
            definition, timeout = await self._load_definition(timeout)
        extra[_PK] = definition.header_from_document(document)
        extra["Content-Type"] = _JSON
        return await write_document(self, method, path, link, data, extra, timeout, replayable=replayable,
                                    create=create)

    async def create_item(
        self,
        body: dict[str, Any],
        *,
        enable_automatic_id_generation: bool = False,
        indexing_directive: str | int | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Create an item; 409 Conflict if its id exists in its logical partition. Replayed after an
        ambiguous failure; a 409 on the replay is resolved by reading the item back (replay.py)."""
        document = check_document(body, auto_id=enable_automatic_id_generation)
        extra = write_options(indexing_directive, pre_trigger_include, post_trigger_include)
        return await self._write("POST", self._docs_path, self._link, document, extra, timeout, replayable=True,
                                 create=True)

    async def upsert_item(
        self,
        body: dict[str, Any],
        *,
        etag: str | None = None,
        indexing_directive: str | int | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Create the item, or replace it if its id exists (``etag``: only if unchanged since).
        Replayed after an ambiguous failure unless ``etag`` is given."""
        document = check_document(body)
        extra = write_options(indexing_directive, pre_trigger_include, post_trigger_include)
        extra["x-ms-documentdb-is-upsert"] = "True"
        if etag is not None:
            extra["If-Match"] = check_etag(etag)
        return await self._write("POST", self._docs_path, self._link, document, extra, timeout,
                                 replayable=etag is None)

    async def replace_item(
        self,
        item: str | Mapping[str, Any],
        body: dict[str, Any],
        *,
        etag: str | None = None,
        indexing_directive: str | int | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Replace an existing item (404 if missing). With ``etag``, only if it is unchanged since
        that version (412 PreconditionFailed otherwise)."""
        item_id = check_item_id(item)
        document = check_document(body)
        if document["id"] != item_id:
            raise ValidationError(f"replace_item: body id {document['id']!r} differs from item id {item_id!r}")
        extra = write_options(indexing_directive, pre_trigger_include, post_trigger_include)
        if etag is not None:
            extra["If-Match"] = check_etag(etag)
        return await self._write("PUT", self._docs_path + "/" + quote_id(item_id), self._docs_link + item_id,
                                 document, extra, timeout)

    async def _partition_header(
        self, partition_key: Any, timeout: float | None
    ) -> tuple[str, float | None]:
        """The partition-key header (and the time left, if the definition had to be read first)."""
        definition = self._core.partition_keys.get(self._link)
        if definition is None:
            definition, timeout = await self._load_definition(timeout)
        return definition.header_for(partition_key), timeout

    async def read_item(
        self, item: str | Mapping[str, Any], partition_key: Any, *, timeout: float | None = None
    ) -> ResourceResponse:
        """Read one item by id and partition-key value (404 NotFound if missing)."""
        item_id = check_item_id(item)
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        headers = {_PK: pk_header}
        session = self._core.session_tokens.get(self._link)
        if session is not None:
            headers["x-ms-session-token"] = session
        status, response_headers, body = await self._core.request(
            "GET", self._docs_path + "/" + quote_id(item_id), "docs", self._docs_link + item_id,
            headers=headers, idempotent=True, timeout=timeout,
        )
        return ResourceResponse(codec.loads(body), response_headers, status)

    async def delete_item(
        self,
        item: str | Mapping[str, Any],
        partition_key: Any,
        *,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Delete one item (404 if missing; with ``etag``, 412 if it changed since). Without ``etag`` it
        is replayed after an ambiguous failure, and a 404 on the replay is success (``applied_earlier``)."""
        item_id = check_item_id(item)
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        headers = {_PK: pk_header}
        if etag is not None:
            headers["If-Match"] = check_etag(etag)
        return await delete_document(self, item_id, headers, timeout, replayable=etag is None)

    async def patch_item(
        self,
        item: str | Mapping[str, Any],
        partition_key: Any,
        patch_operations: Sequence[Mapping[str, Any]],
        *,
        filter_predicate: str | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Apply up to 10 patch operations (add, set, replace, remove, incr, move) atomically.

        ``filter_predicate`` (e.g. ``"FROM c WHERE c.status = 'open'"``) and ``etag`` make the patch
        conditional: 412 PreconditionFailed when they do not hold. Never retried after an ambiguous
        failure: an ``incr`` applied twice would count twice.
        """
        item_id = check_item_id(item)
        request: dict[str, Any] = {"operations": check_patch(patch_operations)}
        if filter_predicate is not None:
            if not isinstance(filter_predicate, str) or not filter_predicate.strip():
                raise ValidationError(f"filter_predicate must be a SQL filter string, got {filter_predicate!r}")
            request["condition"] = filter_predicate
        data = codec.dumps(request, what="patch operations")
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        headers = {_PK: pk_header, "Content-Type": "application/json-patch+json"}
        if etag is not None:
            headers["If-Match"] = check_etag(etag)
        status, response_headers, body = await self._core.request(
            "PATCH", self._docs_path + "/" + quote_id(item_id), "docs", self._docs_link + item_id,
            headers=headers, body=data, idempotent=False, timeout=timeout,
        )
        self._core.session_tokens.capture(self._link, response_headers.get("x-ms-session-token"))
        return ResourceResponse(codec.loads(body) if body else {}, response_headers, status)
