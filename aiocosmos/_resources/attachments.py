"""Attachments of an item: a legacy Cosmos DB feature, kept for data that already uses it.

::

    attachments = orders.get_attachments_client("o-1", partition_key="c1")       # no I/O
    await attachments.create_attachment(
        {"id": "invoice", "contentType": "application/pdf", "media": "https://files.example.com/o-1.pdf"})
    uploaded = await attachments.create_attachment_and_upload_media(
        pdf_bytes, content_type="application/pdf", slug="receipt")               # the service stores the bytes
    async for attachment in attachments.list_attachments():
        print(attachment["id"], attachment["contentType"], attachment["media"])

``azure.cosmos.aio`` (v4) has no attachment methods. The wire shapes follow azure-cosmos 3's
``CreateAttachment``, ``UpsertAttachment``, ``ReadAttachment``, ``ReplaceAttachment``, ``DeleteAttachment``,
``ReadAttachments``, ``QueryAttachments`` and ``CreateAttachmentAndUploadMedia``:

* ``/dbs/{db}/colls/{coll}/docs/{item}/attachments[/{id}]``, resource type ``attachments``, feed key
  ``Attachments``. Feed requests (create, upsert, upload, list, query) sign the item's link; read,
  replace and delete sign the attachment's own link.
* Every request carries the item's partition key (``x-ms-documentdb-partitionkey``).
* A media upload POSTs the raw bytes with ``Content-Type`` set to their MIME type and ``Slug`` set to
  the attachment's id.

Attachments live in the item's logical partition, so writes feed the container's session token and
reads send it, as item operations do. Attachments given as dicts are addressed by their ``id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._feeds.paging import AsyncItemPaged
from .._wire import codec
from .._wire.documents import check_etag, check_item_id
from .._wire.paths import loose_partition_header, quote_id, validate_id
from .._wire.results import ResourceResponse
from ..exceptions import ValidationError

if TYPE_CHECKING:
    from .container import ContainerProxy

__all__ = ["AttachmentsProxy", "get_attachments_client", "MAX_ATTACHMENT_ID_LENGTH"]

MAX_ATTACHMENT_ID_LENGTH: Final = 255
"""The service's limit on an attachment id (characters)."""

_TYPE: Final = "attachments"
_FEED_KEY: Final = "Attachments"
_PK: Final = "x-ms-documentdb-partitionkey"
_SESSION: Final = "x-ms-session-token"
_UPSERT: Final = "x-ms-documentdb-is-upsert"
_JSON: Final = "application/json"
_OCTET_STREAM: Final = "application/octet-stream"


# -- validation (all before any I/O) -------------------------------------------------------------


def _check_attachment_id(value: object) -> str:
    attachment_id = validate_id(value, "attachment id")
    if len(attachment_id) > MAX_ATTACHMENT_ID_LENGTH:
        raise ValidationError(
            f"attachment id is {len(attachment_id)} characters; the limit is {MAX_ATTACHMENT_ID_LENGTH}"
        )
    return attachment_id


def _attachment_id(attachment: object) -> str:
    if isinstance(attachment, Mapping):
        return _check_attachment_id(attachment.get("id"))
    return _check_attachment_id(attachment)


def _attachment_body(body: object) -> dict[str, Any]:
    """A copy of a reference attachment's definition: ``{"id", "contentType", "media"}`` (more keys allowed)."""
    if isinstance(body, ResourceResponse):
        body = body.body
    if not isinstance(body, Mapping):
        raise ValidationError(f"an attachment body must be a dict, got {type(body).__name__}")
    definition = dict(body)  # the caller's dict is left untouched
    _check_attachment_id(definition.get("id"))
    for key, meaning in (("contentType", "the media's MIME type, e.g. 'image/png'"),
                         ("media", "the URL (or media link) of the content")):
        value = definition.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"an attachment needs '{key}' ({meaning}) as a non-empty string, got {value!r:.80}")
    return definition


def _header_text(value: object, what: str) -> str:
    """A value for a request header: visible ASCII and spaces only (no line breaks, no other characters)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string, got {value!r:.80}")
    if not all(" " <= ch <= "~" for ch in value):
        raise ValidationError(f"{what} {value!r:.80} must be printable ASCII: it is sent as an HTTP header")
    return value


def _media_bytes(media: object) -> bytes:
    if isinstance(media, bytes):
        return media
    if isinstance(media, bytearray | memoryview):
        return bytes(media)
    raise ValidationError(f"media must be bytes, bytearray or memoryview, got {type(media).__name__}")


def _content_type(value: object) -> str:
    content_type = _header_text(value, "content_type")
    if "/" not in content_type:
        raise ValidationError(f"content_type must be a MIME type like 'image/png', got {content_type!r}")
    return content_type


# -- the proxy -----------------------------------------------------------------------------------


def get_attachments_client(
    container: ContainerProxy, item: str | Mapping[str, Any], partition_key: Any
) -> AttachmentsProxy:
    item_id = check_item_id(item)
    definition = container._core.partition_keys.get(container._link)
    if definition is not None:
        definition.header_for(partition_key)  # the value's arity, when the definition is already known
    else:
        loose_partition_header(partition_key)  # the value's types (its arity is checked on first use)
    return AttachmentsProxy(container, item_id, partition_key)


class AttachmentsProxy:
    """The attachments of one item (``container.get_attachments_client(item, partition_key)``).

    Cheap to create (no I/O). Every method takes ``timeout=`` (seconds), the operation's deadline. A
    reference attachment is ``{"id", "contentType", "media"}``: ``media`` is a URL of the content, or
    the media link the service returned for uploaded bytes. Ids are at most 255 characters.
    """

    __slots__ = ("_container", "_container_link", "_core", "_feed_path", "_item_link", "item_id", "partition_key")

    def __init__(self, container: ContainerProxy, item_id: str, partition_key: Any) -> None:
        self._container = container
        self._core = container._core
        self._container_link = container._link
        self._item_link = f"{container._link}/docs/{item_id}"
        self._feed_path = f"{container._path}/docs/{quote_id(item_id)}/attachments"
        self.item_id = item_id
        """The id of the item the attachments belong to."""
        self.partition_key = partition_key
        """The item's partition-key value, sent with every request."""

    def __repr__(self) -> str:
        return (f"AttachmentsProxy(database={self._container.database.id!r}, container={self._container.id!r}, "
                f"item={self.item_id!r}, partition_key={self.partition_key!r})")

    # -- shared plumbing -------------------------------------------------------------------------

    def _attachment(self, attachment: object) -> tuple[str, str]:
        """(URL path, signing link) of one attachment."""
        attachment_id = _attachment_id(attachment)
        return f"{self._feed_path}/{quote_id(attachment_id)}", f"{self._item_link}/attachments/{attachment_id}"

    async def _send(
        self,
        method: str,
        path: str,
        link: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        write: bool,
        timeout: float | None,
    ) -> ResourceResponse:
        headers[_PK], timeout = await self._container._partition_header(self.partition_key, timeout)
        if not write:
            session = self._core.session_tokens.get(self._container_link)
            if session is not None:
                headers[_SESSION] = session
        status, response_headers, data = await self._core.request(
            method, path, _TYPE, link, headers=headers, body=body, idempotent=not write, timeout=timeout,
        )
        return ResourceResponse(codec.loads(data) if data else {}, response_headers, status)

    def _feed(
        self,
        query: str | None,
        parameters: Sequence[Mapping[str, Any]] | None,
        max_item_count: int | None,
        timeout: float | None,
    ) -> AsyncItemPaged[dict[str, Any]]:

        definition = self._core.partition_keys.get(self._container_link)
        # No I/O here (the pager is lazy): without a cached definition only the value itself is checked.
        header = (definition.header_for(self.partition_key) if definition is not None
                  else loose_partition_header(self.partition_key))
        return self._core.feed(self._feed_path, _TYPE, self._item_link, _FEED_KEY, query=query,
                               parameters=parameters, max_item_count=max_item_count, headers={_PK: header},
                               session_container=self._container_link, timeout=timeout)

    # -- reference attachments -------------------------------------------------------------------

    async def create_attachment(self, body: Mapping[str, Any], *, timeout: float | None = None) -> ResourceResponse:
        """Create a reference attachment ``{"id", "contentType", "media"}`` (409 Conflict if the id exists)."""
        data = codec.dumps(_attachment_body(body), what="attachment")
        return await self._send("POST", self._feed_path, self._item_link, {"Content-Type": _JSON}, data,
                                write=True, timeout=timeout)

    async def upsert_attachment(
        self, body: Mapping[str, Any], *, etag: str | None = None, timeout: float | None = None
    ) -> ResourceResponse:
        """Create the attachment, or replace it if its id exists (``etag``: only if unchanged since)."""

        data = codec.dumps(_attachment_body(body), what="attachment")
        headers = {"Content-Type": _JSON, _UPSERT: "True"}
        if etag is not None:
            headers["If-Match"] = check_etag(etag)
        return await self._send("POST", self._feed_path, self._item_link, headers, data, write=True, timeout=timeout)

    async def get_attachment(
        self, attachment: str | Mapping[str, Any], *, timeout: float | None = None
    ) -> ResourceResponse:
        """Read one attachment by id (404 NotFound if missing). ``read_attachment`` is an alias."""
        path, link = self._attachment(attachment)
        return await self._send("GET", path, link, {}, None, write=False, timeout=timeout)

    read_attachment = get_attachment

    async def replace_attachment(
        self,
        attachment: str | Mapping[str, Any],
        body: Mapping[str, Any],
        *,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Replace an existing attachment (404 if missing); ``body`` keeps the same id. With ``etag``, only
        if it is unchanged since that version (412 PreconditionFailed otherwise)."""

        attachment_id = _attachment_id(attachment)
        definition = _attachment_body(body)
        if definition["id"] != attachment_id:
            raise ValidationError(
                f"replace_attachment: body id {definition['id']!r} differs from attachment id {attachment_id!r}"
            )
        path, link = self._attachment(attachment_id)
        data = codec.dumps(definition, what="attachment")
        headers = {"Content-Type": _JSON}
        if etag is not None:
            headers["If-Match"] = check_etag(etag)
        return await self._send("PUT", path, link, headers, data, write=True, timeout=timeout)

    async def delete_attachment(
        self, attachment: str | Mapping[str, Any], *, etag: str | None = None, timeout: float | None = None
    ) -> ResourceResponse:
        """Delete an attachment (404 if missing; with ``etag``, 412 if it changed since). Deleting the item
        deletes its attachments too."""

        path, link = self._attachment(attachment)
        headers = {} if etag is None else {"If-Match": check_etag(etag)}
        return await self._send("DELETE", path, link, headers, None, write=True, timeout=timeout)

    def list_attachments(
        self, *, max_item_count: int | None = None, timeout: float | None = None
    ) -> AsyncItemPaged[dict[str, Any]]:
        """Every attachment of the item, page by page."""
        return self._feed(None, None, max_item_count, timeout)

    def query_attachments(
        self,
        query: str,
        *,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        max_item_count: int | None = None,
        timeout: float | None = None,
    ) -> AsyncItemPaged[dict[str, Any]]:
        """The item's attachments matching a SQL query, e.g. ``SELECT * FROM a WHERE a.contentType = @t``."""
        return self._feed(query, parameters, max_item_count, timeout)

    # -- media uploaded to the service -----------------------------------------------------------

    async def _upload(
        self, media: object, content_type: object, slug: object, *, upsert: bool, timeout: float | None
    ) -> ResourceResponse:
        data = _media_bytes(media)
        headers = {"Content-Type": _content_type(content_type)}
        if slug is not None:
            headers["Slug"] = _header_text(_check_attachment_id(slug), "slug")
        if upsert:
            headers[_UPSERT] = "True"
        return await self._send("POST", self._feed_path, self._item_link, headers, data, write=True, timeout=timeout)

    async def create_attachment_and_upload_media(
        self,
        media: bytes | bytearray | memoryview,
        *,
        content_type: str = _OCTET_STREAM,
        slug: str | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Upload ``media`` (the raw bytes, held in memory) as a new attachment whose ``media`` link points at
        the stored copy. ``slug`` becomes the attachment's id (printable ASCII); ``content_type`` is the bytes'
        MIME type. 409 if the id exists; 413 if the media is too large for the account's quota.

        Never retried after an ambiguous failure (the upload may have been stored)."""
        return await self._upload(media, content_type, slug, upsert=False, timeout=timeout)

    async def upsert_attachment_and_upload_media(
        self,
        media: bytes | bytearray | memoryview,
        *,
        content_type: str = _OCTET_STREAM,
        slug: str | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Like ``create_attachment_and_upload_media``, but replaces the attachment named ``slug`` if it exists."""
        return await self._upload(media, content_type, slug, upsert=True, timeout=timeout)
