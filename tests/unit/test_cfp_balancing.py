"""Equal-partitions balancing and the lease state machine (acquire, renew, checkpoint, release,
412 re-read-and-reapply, lease lost), with a fake clock and an in-memory lease container."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiocosmos import FeedRange, PartitionKey, ValidationError
from aiocosmos._processor.balancing import LeaseTimings, leases_to_take, target_count
from aiocosmos._processor.leases import Lease, parse_lease
from aiocosmos._processor.store import LeaseLost, LeaseStore
from aiocosmos._wire.results import Page, ResourceResponse
from aiocosmos.exceptions import Conflict, NotFound, PreconditionFailed
from aiocosmos.testing import FakeClock

NOW = 10_000.0


def lease(token: str, owner: str | None = None, age: float = 0.0) -> Lease:
    return Lease(id=f"p..{token}", token=token, owner=owner, timestamp=NOW - age)


def take(leases: list[Lease], me: str, **kwargs: Any) -> list[str]:
    return [chosen.token for chosen in leases_to_take(leases, me, now=NOW, expiration=60.0, **kwargs)]


# ---------------------------------------------------------------------------------------------------
# The strategy


def test_target_is_the_ceiling_share_clamped() -> None:
    assert target_count(8, 3) == 3
    assert target_count(2, 5) == 1
    assert target_count(8, 1, max_leases=3) == 3
    assert target_count(8, 8, min_leases=2) == 2


def test_a_new_host_takes_free_leases_up_to_its_share() -> None:
    leases = [lease(str(k)) for k in range(8)]
    assert take(leases, "a") == [str(k) for k in range(8)]
    assert take(leases, "a", max_leases=3) == ["0", "1", "2"]


def test_expired_leases_are_free_and_fresh_ones_count_for_their_owner() -> None:
    leases = [lease("0", "a"), lease("1", "a"), lease("2", "b", age=61), lease("3", "b", age=59)]
    # hosts a (2) and b (1, the other expired) and me (0): target ceil(4/3) = 2; one lease is free
    assert take(leases, "me") == ["2"]


def test_one_lease_is_stolen_per_cycle_from_the_busiest_host() -> None:
    leases = [lease(str(k), "a") for k in range(6)] + [lease(str(k), "b") for k in range(6, 8)]
    assert take(leases, "c") == ["0"]  # target 3, c needs 3, a has 6 > 3 - 1
    balanced = [lease(str(k), "a") for k in range(4)] + [lease(str(k), "b") for k in range(4, 8)]
    assert take(balanced, "b") == []
    # 3 hosts with 3/3/2 of 8: target 3, the one with 2 needs 1, nobody has more than 3: no steal.
    even = [lease(str(k), "a") for k in range(3)] + [lease(str(k), "b") for k in range(3, 6)] \
        + [lease(str(k), "c") for k in range(6, 8)]
    assert take(even, "c") == []


def test_repeated_cycles_converge_to_within_one() -> None:
    """Four hosts balancing in turn (each acquiring what it picks) end up within one of each other."""
    leases = [lease(str(k), "h0") for k in range(8)]
    hosts = ["h0", "h1", "h2", "h3"]
    for _, host in itertools.product(range(6), hosts):
        for chosen in leases_to_take(leases, host, now=NOW, expiration=60.0):
            chosen.owner = host
    counts = [sum(1 for item in leases if item.owner == host) for host in hosts]
    assert max(counts) - min(counts) <= 1 and sum(counts) == 8


def test_timings_are_checked() -> None:
    assert LeaseTimings().acquire_interval == 13 and LeaseTimings().renew_interval == 17
    assert LeaseTimings().expiration_interval == 60
    with pytest.raises(ValidationError):
        LeaseTimings(renew_interval=60, expiration_interval=60)
    with pytest.raises(ValidationError):
        LeaseTimings(acquire_interval=0)
    with pytest.raises(ValidationError):
        LeaseTimings(min_leases=3, max_leases=2)


# ---------------------------------------------------------------------------------------------------
# The store, on an in-memory lease container


class MemoryLeaseContainer:
    """What LeaseStore uses of a ContainerProxy, in memory: _etag per write, If-Match honoured."""

    def __init__(self, clock: FakeClock) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.clock = clock
        self._etags = itertools.count(1)
        self.before_replace: list[Any] = []  # callables run before the next replace (to race it)

    async def partition_key_definition(self) -> PartitionKey:
        return PartitionKey("/id")

    def _stored(self, body: dict[str, Any]) -> ResourceResponse:
        doc = {**body, "_etag": f'"{next(self._etags)}"', "_ts": int(self.clock.time())}
        self.docs[doc["id"]] = doc
        return ResourceResponse(dict(doc), {"etag": doc["_etag"]}, 200)

    async def create_item(self, body: dict[str, Any]) -> ResourceResponse:
        if body["id"] in self.docs:
            raise Conflict("exists")
        return self._stored(body)

    async def read_item(self, item: str, partition_key: Any) -> ResourceResponse:
        if item not in self.docs:
            raise NotFound("missing")
        return ResourceResponse(dict(self.docs[item]), {"etag": self.docs[item]["_etag"]}, 200)

    async def replace_item(self, item: str, body: dict[str, Any], *, etag: str | None = None) -> ResourceResponse:
        while self.before_replace:
            self.before_replace.pop(0)()
        if item not in self.docs:
            raise NotFound("missing")
        if etag is not None and self.docs[item]["_etag"] != etag:
            raise PreconditionFailed("etag")
        return self._stored(body)

    async def delete_item(self, item: str, partition_key: Any, *, etag: str | None = None) -> ResourceResponse:
        if item not in self.docs:
            raise NotFound("missing")
        del self.docs[item]
        return ResourceResponse({}, {}, 204)

    def query_items(self, query: str, *, parameters: list[dict[str, Any]]) -> Any:
        prefix = parameters[0]["value"]
        docs = [dict(d) for k, d in sorted(self.docs.items()) if k.startswith(prefix)]

        class Pager:
            def by_page(self) -> AsyncIterator[Page[Any]]:
                async def pages() -> AsyncIterator[Page[Any]]:
                    yield Page(docs, {"x-ms-request-charge": "2.5"}, 200, None)
                return pages()

        return Pager()

    def foreign_write(self, lease_id: str, **fields: Any) -> None:
        doc = dict(self.docs[lease_id])
        doc.update(fields)
        self._stored(doc)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start_time=NOW)


@pytest.fixture
async def store(clock: FakeClock) -> tuple[LeaseStore, MemoryLeaseContainer]:
    container = MemoryLeaseContainer(clock)
    lease_store = LeaseStore(container, "proc", clock)  # type: ignore[arg-type]
    await lease_store.open()
    return lease_store, container


async def test_the_lease_life_cycle(store: tuple[LeaseStore, MemoryLeaseContainer], clock: FakeClock) -> None:
    leases, container = store
    created = await leases.create_if_absent("0", FeedRange("", "80"), None, "Incremental Feed")
    assert created is not None and created.owner is None
    assert await leases.create_if_absent("0", FeedRange("", "80"), None, "Incremental Feed") is None
    assert container.docs["proc..0"]["version"] == 0 and container.docs["proc..0"]["Mode"] == "Incremental Feed"

    mine = await leases.acquire(created, "a")
    assert mine.owner == "a" and mine.timestamp == NOW
    clock.advance(5)
    mine = await leases.checkpoint(mine, '"7"')
    assert container.docs["proc..0"]["ContinuationToken"] == '"7"'
    assert container.docs["proc..0"]["timestamp"].startswith("1970-01-01T02:46:45")
    clock.advance(17)
    mine = await leases.renew(mine)
    assert mine.timestamp == NOW + 22
    await leases.release(mine)
    assert container.docs["proc..0"]["Owner"] is None
    assert [item.token for item in await leases.list_all()] == ["0"]
    assert leases.request_charge >= 2.5


async def test_a_412_is_reread_and_reapplied(store: tuple[LeaseStore, MemoryLeaseContainer]) -> None:
    leases, container = store
    created = await leases.create_if_absent("0", FeedRange("", "80"), None, "Incremental Feed")
    assert created is not None
    mine = await leases.acquire(created, "a")
    # Our own renew (another task) lands first: the checkpoint meets a new etag, re-reads, re-applies.
    container.before_replace.append(lambda: container.foreign_write("proc..0", properties={"x": "1"}))
    after = await leases.checkpoint(mine, '"9"')
    assert after.continuation == '"9"' and container.docs["proc..0"]["properties"] == {"x": "1"}


async def test_an_owner_change_or_a_delete_loses_the_lease(store: tuple[LeaseStore, MemoryLeaseContainer]) -> None:
    leases, container = store
    created = await leases.create_if_absent("0", FeedRange("", "80"), None, "Incremental Feed")
    assert created is not None
    mine = await leases.acquire(created, "a")
    container.foreign_write("proc..0", Owner="b")
    with pytest.raises(LeaseLost):
        await leases.checkpoint(mine, '"9"')
    with pytest.raises(LeaseLost):
        await leases.renew(mine)
    with pytest.raises(LeaseLost):
        await leases.acquire(mine, "a")  # expected the owner "a" it last saw; "b" has it now
    stolen = parse_lease(container.docs["proc..0"])
    theirs = await leases.acquire(stolen, "c")
    assert theirs.owner == "c"
    del container.docs["proc..0"]
    with pytest.raises(LeaseLost) as lost:
        await leases.checkpoint(theirs, '"1"')
    assert lost.value.gone
    await leases.release(theirs)  # already gone: nothing to do


async def test_the_bootstrap_lock_and_marker(store: tuple[LeaseStore, MemoryLeaseContainer], clock: FakeClock) -> None:
    leases, container = store
    assert not await leases.is_initialized()
    assert await leases.acquire_lock()
    assert container.docs["proc.lock"]["ttl"] == 30
    assert not await leases.acquire_lock()
    clock.advance(31)  # a dead host's lock, on a server that does not enforce ttl
    assert not await leases.acquire_lock()
    assert await leases.acquire_lock()
    await leases.release_lock()
    await leases.mark_initialized()
    assert await leases.is_initialized() and "proc.lock" not in container.docs


async def test_the_lease_container_must_be_partitioned_on_id_or_partition_key(clock: FakeClock) -> None:
    container = MemoryLeaseContainer(clock)

    async def wrong() -> PartitionKey:
        return PartitionKey("/pk")

    container.partition_key_definition = wrong  # type: ignore[method-assign]
    with pytest.raises(Exception, match="partitioned on /id"):
        await LeaseStore(container, "p", clock).open()  # type: ignore[arg-type]
    await asyncio.sleep(0)
