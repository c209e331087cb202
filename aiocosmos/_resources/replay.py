"""Item writes, and what a replay of a create or a delete means (README, "Retries").

The pipeline replays the writes that are safe to replay after an ambiguous failure (408, 500, 502,
503, 504, a connection lost after sending, a truncated answer, a read timeout), when the policy's
``replay_idempotent_writes`` is on:

* an unconditional upsert: a replay leaves exactly the state asked for;
* a create: if the first attempt was applied, the replay is answered 409. Such a 409 (and only one
  after an ambiguous attempt: ``Conflict.replayed``) is resolved by reading the item back. If the
  stored item equals the body sent (system properties aside), the create succeeded: the result is
  the item as read, ``replayed`` and ``applied_earlier``. Otherwise the 409 stands, and says that
  the first attempt may have been applied (someone else may have written the item in between, or
  overwritten ours);
* an unconditional delete: a 404 on the replay (``NotFound.replayed``) means the first attempt
  deleted the item, and is reported as success, ``replayed`` and ``applied_earlier``.

Conditional writes (``etag=``), replace and patch are sent with ``replayable=False`` and never replayed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._wire import codec
from .._wire.documents import same_item
from .._wire.paths import quote_id
from .._wire.results import APPLIED_EARLIER, REPLAYED_HEADER, ResourceResponse, with_header
from ..exceptions import Conflict, CosmosError, NotFound

if TYPE_CHECKING:
    from .items import ItemOperations

__all__ = ["delete_document", "write_document"]

_PK: Final = "x-ms-documentdb-partitionkey"
_SESSION: Final = "x-ms-session-token"


async def write_document(
    container: ItemOperations,
    method: str,
    path: str,
    link: str,
    data: bytes,
    headers: dict[str, str],
    timeout: float | None,
    *,
    replayable: bool,
    create: bool,
) -> ResourceResponse:
    """Send one item write (create, upsert, replace) and capture its session token."""
    core = container._core
    started = core.clock.monotonic()
    try:
        status, response_headers, body = await core.request(
            method, path, "docs", link, headers=headers, body=data, idempotent=False, replayable=replayable,
            timeout=timeout,
        )
    except Conflict as exc:
        if not (create and exc.replayed):
            raise
        return await _resolve_create(container, exc, data, headers[_PK], _left(container, timeout, started))
    return ResourceResponse(codec.loads(body) if body else {}, response_headers, status)


async def delete_document(
    container: ItemOperations, item_id: str, headers: dict[str, str], timeout: float | None, *, replayable: bool
) -> ResourceResponse:
    """Delete one item; a 404 answering a replay means the first attempt deleted it."""
    core = container._core
    try:
        status, response_headers, body = await core.request(
            "DELETE", container._docs_path + "/" + quote_id(item_id), "docs", container._docs_link + item_id,
            headers=headers, idempotent=False, replayable=replayable, timeout=timeout,
        )
    except NotFound as exc:
        if not exc.replayed or exc.sub_status == 1002:
            raise
        return ResourceResponse({}, with_header(exc.headers, REPLAYED_HEADER, APPLIED_EARLIER), 204)
    return ResourceResponse(codec.loads(body) if body else {}, response_headers, status)


def _left(container: ItemOperations, timeout: float | None, started: float) -> float | None:
    core = container._core
    if timeout is None:
        timeout = core.default_timeout
    if timeout is None:
        return None
    return max(0.0, timeout - (core.clock.monotonic() - started))


async def _resolve_create(
    container: ItemOperations, conflict: Conflict, data: bytes, pk_header: str, timeout: float | None
) -> ResourceResponse:
    """A replayed create was answered 409: read the item back; ours if it equals what was sent."""
    sent = codec.loads(data)
    item_id = str(sent["id"])
    core = container._core
    headers = {_PK: pk_header}
    session = core.session_tokens.get(container._link)
    if session is not None:
        headers[_SESSION] = session
    try:
        _, response_headers, body = await core.request(
            "GET", container._docs_path + "/" + quote_id(item_id), "docs", container._docs_link + item_id,
            headers=headers, idempotent=True, timeout=timeout,
        )
    except NotFound:
        conflict.message += " (replayed create: the item was gone when read back)"
        raise conflict from None
    except CosmosError as exc:
        conflict.message += " (replayed create: reading the item back failed)"
        raise conflict from exc
    stored = codec.loads(body)
    if not isinstance(stored, dict) or not same_item(stored, sent):
        conflict.message += " (replayed create: the stored item differs from the one sent)"
        raise conflict
    return ResourceResponse(stored, with_header(response_headers, REPLAYED_HEADER, APPLIED_EARLIER), 201)
