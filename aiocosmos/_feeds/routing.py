"""Partition key ranges, feed ranges and the per-container routing map (spec §6.11, §9, §11.2).

* A :class:`FeedRange` is a range of the effective-partition-key (EPK) space ``["", "FF")``: a
  scope for the change feed that stays valid across splits and merges. ``to_dict()`` gives the
  azure-cosmos dict (``{"Range": {"min", "max", "isMinInclusive", "isMaxInclusive"}}``) and
  ``FeedRange.from_json`` reads it back (or azure-cosmos's base64 string form).
* A :class:`PartitionKeyRange` is one physical partition as ``GET …/colls/{c}/pkranges`` lists it.
* :class:`RoutingMaps` (one per client, in the ClientCore) caches each container's ranges. It reads
  them as the SDKs do (``A-IM: Incremental Feed``, ``x-ms-max-item-count: -1``, following the etag
  with ``If-None-Match`` until 304), refreshes incrementally from the last etag (falling back to a
  full read when the result does not tile the key space), and runs one refresh per container at a
  time: concurrent callers wait for it instead of sending their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._wire import codec
from .._wire.paths import PartitionKey, partition_key_header
from ..exceptions import Gone, PagingError, ValidationError
from .epk import MAX_EPK, MIN_EPK, epk_range_for_partition_key
from .feed_range import FeedRange

if TYPE_CHECKING:
    from .core import ClientCore

__all__ = [
    "feed_range_listing",
    "FeedRange",
    "PartitionKeyRange",
    "RoutingMap",
    "RoutingMaps",
    "FeedRangeListing",
    "feed_range_for_partition_key",
    "is_split_or_merge",
    "PKRANGES_HEADERS",
]

PKRANGES_HEADERS: Final[Mapping[str, str]] = {"A-IM": "Incremental Feed", "x-ms-max-item-count": "-1"}
"""What the SDKs send when they read (or refresh) a container's partition key ranges."""

SPLIT_SUB_STATUSES: Final = frozenset({1002, 1007, 1008})
"""410 sub-statuses after which a pkrange-addressed request must re-read the ranges: range gone
(split or merge), completing split, completing partition migration."""

_MAX_DRAIN_PAGES: Final = 1000


def is_split_or_merge(error: BaseException) -> bool:
    return isinstance(error, Gone) and error.sub_status in SPLIT_SUB_STATUSES


def feed_range_for_partition_key(definition: PartitionKey, value: Any) -> FeedRange:
    """The feed range of one partition-key value (a prefix of a hierarchical key allowed)."""
    levels = len(definition.paths)
    if isinstance(value, list | tuple):
        values = list(value)
        if not values or len(values) > levels or (len(values) < levels and definition.kind != "MultiHash"):
            raise ValidationError(
                f"partition key value {values!r} has {len(values)} components; this container's key "
                f"{list(definition.paths)} takes {levels}" + (" (or a prefix of them)" if levels > 1 else "")
            )
    elif levels != 1 and definition.kind != "MultiHash":
        raise ValidationError(f"partition key value {value!r} needs {levels} components")
    else:
        values = [value]
    # partition_key_header checks every component (and maps NonePartitionKeyValue to {}).
    components = codec.loads(partition_key_header(values))
    low, high, max_inclusive = epk_range_for_partition_key(components, definition.kind, definition.version, levels)
    return FeedRange(low, high, True, max_inclusive)


@attrs.frozen
class PartitionKeyRange:
    """One physical partition: its ``id`` and its EPK range ``[min_inclusive, max_exclusive)``.
    ``parents`` lists the ranges it was split from (or merged from)."""

    id: str
    min_inclusive: str
    max_exclusive: str
    parents: tuple[str, ...] = ()
    status: str | None = None

    @classmethod
    def from_json(cls, raw: object) -> PartitionKeyRange:
        if not isinstance(raw, Mapping) or "id" not in raw:
            raise PagingError(f"the service sent a partition key range without an id: {raw!r:.200}")
        parents = raw.get("parents") or ()
        status = raw.get("status")
        return cls(
            str(raw["id"]),  # the local test server sends a number
            str(raw.get("minInclusive", "")).upper(),
            str(raw.get("maxExclusive", "")).upper(),
            tuple(str(p) for p in parents) if isinstance(parents, list | tuple) else (),
            str(status) if status is not None else None,
        )

    @property
    def feed_range(self) -> FeedRange:
        return FeedRange(self.min_inclusive, self.max_exclusive)


class RoutingMap:
    """An immutable snapshot of a container's partition key ranges, sorted by EPK."""

    __slots__ = ("_by_id", "etag", "ranges")

    def __init__(self, ranges: Sequence[PartitionKeyRange], etag: str | None) -> None:
        self.ranges = tuple(sorted(ranges, key=lambda r: r.min_inclusive))
        self.etag = etag
        self._by_id = {r.id: r for r in self.ranges}

    def by_id(self, range_id: str) -> PartitionKeyRange | None:
        return self._by_id.get(range_id)

    def overlapping(self, low: str, high: str) -> list[PartitionKeyRange]:
        """The ranges that share at least one EPK with ``[low, high)``."""
        return [r for r in self.ranges if r.min_inclusive < high and low < r.max_exclusive]

    def gap(self) -> str | None:
        """Why these ranges do not tile ``["", "FF")`` exactly once, or None when they do."""
        expected = MIN_EPK
        for r in self.ranges:
            if r.min_inclusive != expected:
                what = "overlaps" if r.min_inclusive < expected else "leaves a gap before"
                return f"range {r.id} [{r.min_inclusive!r}, {r.max_exclusive!r}) {what} {expected!r}"
            if r.max_exclusive <= r.min_inclusive:
                return f"range {r.id} [{r.min_inclusive!r}, {r.max_exclusive!r}) is empty"
            expected = r.max_exclusive
        if expected != MAX_EPK:
            return f"the ranges end at {expected!r}, not at 'FF'"
        return None

    def __repr__(self) -> str:
        return f"RoutingMap(ranges={[r.id for r in self.ranges]}, etag={self.etag!r})"


def _without_parents(ranges: Iterable[PartitionKeyRange]) -> list[PartitionKeyRange]:
    """Drop every range that another range names as a parent (it is gone after a split or merge)."""
    by_id = {r.id: r for r in ranges}
    gone = {parent for r in by_id.values() for parent in r.parents}
    return [r for range_id, r in by_id.items() if range_id not in gone]


class _LeaderCancelled(Exception):
    """The task that was reading a routing map was cancelled: a waiter should try again."""


class RoutingMaps:
    """The routing maps of every container one client uses (shared by all of its proxies)."""

    __slots__ = ("_core", "_inflight", "_maps")

    def __init__(self, core: ClientCore) -> None:
        self._core = core
        self._maps: dict[str, RoutingMap] = {}
        self._inflight: dict[str, asyncio.Future[RoutingMap]] = {}

    def cached(self, container_link: str) -> RoutingMap | None:
        return self._maps.get(container_link)

    def forget(self, container_link: str) -> None:
        self._maps.pop(container_link, None)

    async def get(
        self,
        container_link: str,
        container_path: str,
        *,
        refresh: bool = False,
        stale: RoutingMap | None = None,
        timeout: float | None = None,
    ) -> RoutingMap:
        """The container's routing map: the cached one, unless ``refresh`` is set or the cached one
        is ``stale`` (the map a request just found out of date), in which case it is re-read once
        (incrementally from its etag). If a newer map than ``stale`` is already cached (another task
        refreshed it meanwhile), that one is returned without any I/O."""
        current = self._maps.get(container_link)
        if current is not None:
            if stale is not None and current is not stale:
                return current
            if not refresh and stale is None:
                return current
        return await self._refresh(container_link, container_path, current, timeout)

    async def _refresh(
        self, link: str, path: str, previous: RoutingMap | None, timeout: float | None
    ) -> RoutingMap:
        # One read per container at a time. The reader runs in its caller's task (no background
        # task is left behind if it is cancelled); the others wait for its result.
        while (pending := self._inflight.get(link)) is not None:
            try:
                return await asyncio.shield(pending)
            except _LeaderCancelled:
                continue  # the reader was cancelled; read (or wait for the next reader) again
        future: asyncio.Future[RoutingMap] = asyncio.get_running_loop().create_future()
        self._inflight[link] = future
        try:
            routing_map = await self._read(link, path, previous, timeout)
        except asyncio.CancelledError:
            future.set_exception(_LeaderCancelled())
            raise
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            self._maps[link] = routing_map
            future.set_result(routing_map)
            return routing_map
        finally:
            del self._inflight[link]
            if future.done() and not future.cancelled():
                future.exception()  # marks an exception as retrieved even when nobody waited for it

    async def _read(self, link: str, path: str, previous: RoutingMap | None, timeout: float | None) -> RoutingMap:
        if previous is not None and previous.etag is not None:
            ranges, etag = await self._drain(link, path, previous.etag, timeout)
            merged = {r.id: r for r in previous.ranges}
            for new in ranges:
                for parent in new.parents:
                    merged.pop(parent, None)
                merged[new.id] = new
            candidate = RoutingMap(_without_parents(merged.values()), etag or previous.etag)
            if candidate.gap() is None:
                return candidate
            # The incremental answer did not tile the key space: read everything again.
        ranges, etag = await self._drain(link, path, None, timeout)
        routing_map = RoutingMap(_without_parents(ranges), etag)
        problem = routing_map.gap()
        if problem is not None:
            raise PagingError(f"the partition key ranges of {link!r} do not cover the key space: {problem}")
        return routing_map

    async def _drain(
        self, link: str, path: str, etag: str | None, timeout: float | None
    ) -> tuple[list[PartitionKeyRange], str | None]:
        """Read the pkranges change feed from ``etag`` (None: from the start) until 304."""
        ranges: list[PartitionKeyRange] = []
        continuation: str | None = None
        for _ in range(_MAX_DRAIN_PAGES):
            headers = dict(PKRANGES_HEADERS)
            if etag is not None:
                headers["If-None-Match"] = etag
            if continuation is not None:
                headers["x-ms-continuation"] = continuation
            status, response_headers, body = await self._core.request(
                "GET", path, "pkranges", link, headers=headers, idempotent=True, timeout=timeout
            )
            if status == 304:
                return ranges, response_headers.get("etag") or etag
            parsed = codec.loads(body) if body else {}
            page = parsed.get("PartitionKeyRanges") if isinstance(parsed, dict) else None
            if not isinstance(page, list):
                raise PagingError(f"the pkranges feed of {link!r} answered {status} without 'PartitionKeyRanges'")
            ranges.extend(PartitionKeyRange.from_json(raw) for raw in page)
            next_continuation = response_headers.get("x-ms-continuation") or None
            if next_continuation is not None:
                if next_continuation == continuation:
                    raise PagingError("the service answered a continuation token with the same token")
                continuation = next_continuation
                continue
            continuation = None
            new_etag = response_headers.get("etag") or None
            if new_etag is None or new_etag == etag:
                return ranges, etag  # a server that does not keep an incremental feed: nothing more to read
            etag = new_etag
        raise PagingError(f"the pkranges feed of {link!r} did not end after {_MAX_DRAIN_PAGES} pages")


class FeedRangeListing(Coroutine[Any, Any, list[FeedRange]]):
    """What ``container.read_feed_ranges()`` returns: a coroutine of the list of FeedRange (``await``
    it, or hand it to ``asyncio.create_task``/``gather``), which ``async for`` also iterates, as
    azure-cosmos's AsyncItemPaged is."""

    __slots__ = ("_coroutine", "_load")

    def __init__(self, load: Callable[[], Coroutine[Any, Any, list[FeedRange]]]) -> None:
        self._load = load
        self._coroutine: Coroutine[Any, Any, list[FeedRange]] | None = None

    def _started(self) -> Coroutine[Any, Any, list[FeedRange]]:
        if self._coroutine is None:
            self._coroutine = self._load()
        return self._coroutine

    def __await__(self) -> Generator[Any, None, list[FeedRange]]:
        return self._started().__await__()

    def send(self, value: Any) -> Any:
        return self._started().send(value)

    def throw(self, typ: Any, *rest: Any) -> Any:
        # Forward exactly what was given: the three-argument form is deprecated since Python 3.12.
        return self._started().throw(typ, *rest)

    def close(self) -> None:
        if self._coroutine is not None:
            self._coroutine.close()

    def __aiter__(self) -> AsyncIterator[FeedRange]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[FeedRange]:
        for feed_range in await self._load():
            yield feed_range


def feed_range_listing(
    core: ClientCore, link: str, path: str, *, refresh: bool, timeout: float | None
) -> FeedRangeListing:
    """One FeedRange per physical partition of the container at ``link``, from the cached routing map."""

    async def load() -> list[FeedRange]:
        routing = await core.routing_maps.get(link, path + "/pkranges", refresh=refresh, timeout=timeout)
        return [pkrange.feed_range for pkrange in routing.ranges]

    return FeedRangeListing(load)
