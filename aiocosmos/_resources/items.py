"""The point operations of a container (create, upsert, replace, read, delete, patch of one item).

``ContainerProxy`` gets them from ``ItemOperations``, a mixin kept here so that container.py stays
within the module size limit. Besides aiocosmos's own arguments they take azure-cosmos's per-call
keywords (request_options.py): ``session_token``, ``initial_headers``, ``priority``, ``response_hook``
and, on conditional operations, ``etag`` + ``match_condition`` or ``if_match`` / ``if_none_match``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

from .._wire import codec
from .._wire.documents import check_document, check_item_id, check_patch, write_options
from .._wire.options import HedgingOption
from .._wire.paths import quote_id
from .._wire.regions import end_exclusion, exclude_for_call
from .._wire.request_options import ResponseHook, call_hook, conditions, query_option_headers, with_call_headers
from .._wire.results import ResourceResponse
from ..exceptions import ValidationError
from .replay import delete_document, write_document

if TYPE_CHECKING:
    from .._feeds.core import ClientCore
    from .._wire.paths import PartitionKey

__all__ = ["ItemOperations"]

M = TypeVar("M")

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
        call: _Call,
        *,
        replayable: bool = False,
        create: bool = False,
    ) -> ResourceResponse:
        """One item write; ``replayable``: safe to replay after an ambiguous failure (replay.py)."""
        data = codec.dumps_document(document)  # NaN, non-JSON values and the 2 MB limit: before I/O
        definition = self._core.partition_keys.get(self._link)
        if definition is None:
            definition, timeout = await self._load_definition(timeout)
        try:
            extra[_PK] = definition.header_from_document(document)
        except ValidationError:  # a key value JSON has no type for (a UUID, a date): as it was written
            extra[_PK] = definition.header_from_document(codec.loads(data))
        extra["Content-Type"] = _JSON
        excluded = None if call.excluded is None else exclude_for_call(call.excluded)
        try:
            result = await write_document(self, method, path, link, data, call.headers(extra), timeout,
                                          replayable=replayable, create=create)
        finally:
            if excluded is not None:
                end_exclusion(excluded)
        return call.done(result)

    async def create_item(
        self,
        body: dict[str, Any],
        *,
        enable_automatic_id_generation: bool = False,
        indexing_directive: str | int | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None,
        priority: str | None = None,
        throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None,
        no_response: bool | None = None,
        response_hook: ResponseHook | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Create an item; 409 Conflict if its id exists in its logical partition. Replayed after an
        ambiguous failure; a 409 on the replay is resolved by reading the item back (replay.py)."""
        document = check_document(body, auto_id=enable_automatic_id_generation, serializer=self._core.models)
        extra = write_options(indexing_directive, pre_trigger_include, post_trigger_include)
        call = _call(session_token, initial_headers, priority, response_hook, throughput_bucket, no_response,
                     excluded_locations)
        return await self._write("POST", self._docs_path, self._link, document, extra, timeout, call,
                                 replayable=True, create=True)

    async def upsert_item(
        self,
        body: dict[str, Any],
        *,
        etag: str | None = None,
        match_condition: Enum | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        indexing_directive: str | int | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None,
        priority: str | None = None,
        throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None,
        no_response: bool | None = None,
        response_hook: ResponseHook | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Create the item, or replace it if its id exists (``etag``: only if unchanged since; or
        azure's ``etag`` + ``match_condition``, ``if_match``, ``if_none_match``). Replayed after an
        ambiguous failure unless it is conditional."""
        document = check_document(body, serializer=self._core.models)
        extra = write_options(indexing_directive, pre_trigger_include, post_trigger_include)
        extra["x-ms-documentdb-is-upsert"] = "True"
        condition = conditions(etag, match_condition, if_match, if_none_match)
        extra.update(condition)
        call = _call(session_token, initial_headers, priority, response_hook, throughput_bucket, no_response,
                     excluded_locations)
        return await self._write("POST", self._docs_path, self._link, document, extra, timeout, call,
                                 replayable=not condition)

    async def replace_item(
        self,
        item: str | Mapping[str, Any],
        body: dict[str, Any],
        *,
        etag: str | None = None,
        match_condition: Enum | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        indexing_directive: str | int | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None,
        priority: str | None = None,
        throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None,
        no_response: bool | None = None,
        response_hook: ResponseHook | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Replace an existing item (404 if missing). With ``etag``, only if it is unchanged since
        that version (412 PreconditionFailed otherwise)."""
        item_id = check_item_id(item)
        document = check_document(body, serializer=self._core.models)
        if document["id"] != item_id:
            raise ValidationError(f"replace_item: body id {document['id']!r} differs from item id {item_id!r}")
        extra = write_options(indexing_directive, pre_trigger_include, post_trigger_include)
        extra.update(conditions(etag, match_condition, if_match, if_none_match))
        call = _call(session_token, initial_headers, priority, response_hook, throughput_bucket, no_response,
                     excluded_locations)
        return await self._write("PUT", self._docs_path + "/" + quote_id(item_id), self._docs_link + item_id,
                                 document, extra, timeout, call)

    async def _partition_header(
        self, partition_key: Any, timeout: float | None
    ) -> tuple[str, float | None]:
        """The partition-key header (and the time left, if the definition had to be read first)."""
        definition = self._core.partition_keys.get(self._link)
        if definition is None:
            definition, timeout = await self._load_definition(timeout)
        return definition.header_for(partition_key), timeout

    @overload
    async def read_item(
        self, item: str | Mapping[str, Any], partition_key: Any, *, etag: str | None = None,
        match_condition: Enum | None = None, if_match: str | None = None, if_none_match: str | None = None,
        session_token: str | None = None, initial_headers: Mapping[str, str] | None = None,
        priority: str | None = None, throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None, response_hook: ResponseHook | None = None,
        timeout: float | None = None, max_integrated_cache_staleness_in_ms: int | None = None,
        availability_strategy: HedgingOption = None, model: None = None,
    ) -> ResourceResponse: ...
    @overload
    async def read_item(
        self, item: str | Mapping[str, Any], partition_key: Any, *, etag: str | None = None,
        match_condition: Enum | None = None, if_match: str | None = None, if_none_match: str | None = None,
        session_token: str | None = None, initial_headers: Mapping[str, str] | None = None,
        priority: str | None = None, throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None, response_hook: ResponseHook | None = None,
        timeout: float | None = None, max_integrated_cache_staleness_in_ms: int | None = None,
        availability_strategy: HedgingOption = None, model: type[M],
    ) -> M: ...

    async def read_item(
        self,
        item: str | Mapping[str, Any],
        partition_key: Any,
        *,
        etag: str | None = None,
        match_condition: Enum | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None,
        priority: str | None = None,
        throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None,
        response_hook: ResponseHook | None = None,
        timeout: float | None = None,
        availability_strategy: HedgingOption = None,
        model: type[M] | None = None,
        max_integrated_cache_staleness_in_ms: int | None = None,
    ) -> ResourceResponse | M:
        """Read one item by id and partition-key value (404 NotFound if missing). With
        ``if_none_match`` (or ``etag`` + ``match_condition=IfModified``) an unchanged item is answered
        304: the result is then empty, with ``status_code`` 304. ``session_token`` replaces the one the
        client tracks. ``availability_strategy``: hedge this read across regions
        (``ClientOptions.availability_strategy``; False: not even by it). ``model=Order`` returns the item
        built as ``Order`` (``ClientOptions.serializer``); ``response_hook`` still sees the response."""
        item_id = check_item_id(item)
        condition = conditions(etag, match_condition, if_match, if_none_match)
        if model is not None and (not isinstance(model, type) or "If-None-Match" in condition):
            raise ValidationError("model= takes a class, and no if_none_match/IfModified read (a 304 has no item)"
                                  if isinstance(model, type) else f"model must be a class, got {model!r}")
        call = _call(session_token, initial_headers, priority, response_hook, throughput_bucket,
                     excluded=excluded_locations)
        headers: dict[str, str] = {}
        if max_integrated_cache_staleness_in_ms is not None:  # the dedicated gateway's cache, as azure-cosmos
            query_option_headers(headers, continuation_token_limit=None, populate_index_metrics=None,
                                 populate_query_advice=None,
                                 max_integrated_cache_staleness_in_ms=max_integrated_cache_staleness_in_ms)
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        headers[_PK] = pk_header
        session = self._core.session_tokens.get(self._link)
        if session is not None and session_token is None:
            headers["x-ms-session-token"] = session
        if condition:
            headers.update(condition)
        excluded = None if call.excluded is None else exclude_for_call(call.excluded)
        try:
            status, response_headers, body = await self._core.request(
                "GET", self._docs_path + "/" + quote_id(item_id), "docs", self._docs_link + item_id,
                headers=call.headers(headers), idempotent=True, timeout=timeout, hedging=availability_strategy,
            )
        finally:
            if excluded is not None:
                end_exclusion(excluded)
        result = call.done(ResourceResponse(codec.loads(body) if body else {}, response_headers, status))
        return result if model is None else self._core.models.from_document(result, model)

    async def delete_item(
        self,
        item: str | Mapping[str, Any],
        partition_key: Any,
        *,
        etag: str | None = None,
        match_condition: Enum | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None,
        priority: str | None = None,
        throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None,
        response_hook: ResponseHook | None = None,
        timeout: float | None = None,
    ) -> ResourceResponse:
        """Delete one item (404 if missing; with ``etag``, 412 if it changed since). Unconditional, it
        is replayed after an ambiguous failure, and a 404 on the replay is success (``applied_earlier``)."""
        item_id = check_item_id(item)
        condition = conditions(etag, match_condition, if_match, if_none_match)
        extra = write_options(None, pre_trigger_include, post_trigger_include)
        call = _call(session_token, initial_headers, priority, response_hook, throughput_bucket,
                     excluded=excluded_locations)
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        headers = {_PK: pk_header, **extra, **condition}
        excluded = None if call.excluded is None else exclude_for_call(call.excluded)
        try:
            result = await delete_document(self, item_id, call.headers(headers), timeout, replayable=not condition)
        finally:
            if excluded is not None:
                end_exclusion(excluded)
        return call.done(result)

    async def patch_item(
        self,
        item: str | Mapping[str, Any],
        partition_key: Any,
        patch_operations: Sequence[Mapping[str, Any]],
        *,
        filter_predicate: str | None = None,
        etag: str | None = None,
        match_condition: Enum | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        pre_trigger_include: str | Sequence[str] | None = None,
        post_trigger_include: str | Sequence[str] | None = None,
        session_token: str | None = None,
        initial_headers: Mapping[str, str] | None = None,
        priority: str | None = None,
        throughput_bucket: int | None = None,
        excluded_locations: Sequence[str] | None = None,
        no_response: bool | None = None,
        response_hook: ResponseHook | None = None,
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
        condition = conditions(etag, match_condition, if_match, if_none_match)
        extra = write_options(None, pre_trigger_include, post_trigger_include)
        call = _call(session_token, initial_headers, priority, response_hook, throughput_bucket, no_response,
                     excluded_locations)
        pk_header, timeout = await self._partition_header(partition_key, timeout)
        headers = {_PK: pk_header, "Content-Type": "application/json-patch+json", **extra, **condition}
        excluded = None if call.excluded is None else exclude_for_call(call.excluded)
        try:
            status, response_headers, body = await self._core.request(
                "PATCH", self._docs_path + "/" + quote_id(item_id), "docs", self._docs_link + item_id,
                headers=call.headers(headers), body=data, idempotent=False, timeout=timeout,
            )
        finally:
            if excluded is not None:
                end_exclusion(excluded)
        return call.done(ResourceResponse(codec.loads(body) if body else {}, response_headers, status))


class _Call:
    """One call's azure-cosmos keywords, checked at once (before any I/O)."""

    __slots__ = ("bucket", "excluded", "hook", "initial_headers", "minimal", "priority", "session_token")

    def __init__(self, session_token: str | None, initial_headers: Mapping[str, str] | None, priority: str | None,
                 hook: ResponseHook | None, bucket: int | None = None, no_response: bool | None = None,
                 excluded: Sequence[str] | None = None) -> None:
        if hook is not None and not callable(hook):
            raise ValidationError(f"response_hook must be callable as hook(headers, result), got {hook!r}")
        self.session_token = session_token
        self.initial_headers = initial_headers
        self.priority = priority
        self.hook = hook
        self.bucket = bucket
        # azure-cosmos's no_response: the service answers a write without the item (less to send back).
        self.minimal = bool(no_response)
        if excluded is not None and (isinstance(excluded, str) or not isinstance(excluded, Sequence)):
            raise ValidationError(f"excluded_locations must be a list of region names, got {excluded!r}")
        # azure-cosmos's per-call excluded_locations: the task-local exclusion, around this call's request only.
        self.excluded = excluded or None
        if session_token is not None or initial_headers or priority is not None or bucket is not None:
            with_call_headers({}, session_token=session_token, initial_headers=initial_headers, priority=priority,
                              throughput_bucket=bucket)

    def headers(self, headers: dict[str, str]) -> dict[str, str]:
        if self.minimal:
            headers["Prefer"] = "return=minimal"
        if self.session_token is None and not self.initial_headers and self.priority is None and self.bucket is None:
            return headers
        return with_call_headers(headers, session_token=self.session_token, initial_headers=self.initial_headers,
                                 priority=self.priority, throughput_bucket=self.bucket)

    def done(self, result: ResourceResponse) -> ResourceResponse:
        call_hook(self.hook, result.headers, result)
        return result


_PLAIN: Final = _Call(None, None, None, None)
"""The keywords of a call that gave none of them: shared, so the usual call builds no object for them."""


def _call(session_token: str | None, initial_headers: Mapping[str, str] | None, priority: str | None,
          hook: ResponseHook | None, bucket: int | None = None, no_response: bool | None = None,
          excluded: Sequence[str] | None = None) -> _Call:
    if session_token is None and not initial_headers and priority is None and hook is None and bucket is None \
            and not no_response and excluded is None:
        return _PLAIN
    return _Call(session_token, initial_headers, priority, hook, bucket, no_response, excluded)
