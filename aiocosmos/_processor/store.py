"""The lease store: lease documents in a lease container, each write a conditional replace.

As the official processors do (``DocumentServiceLeaseUpdaterCosmos``, ``DocumentServiceLeaseManagerCosmos``):

* every update is a replace with ``If-Match: <_etag>``; on 412 the lease is read again and the same
  change re-applied to the server's version, up to 5 times more; a 404 (or a 409) means the lease is
  lost;
* acquire, renew, checkpoint and release first check that the server's ``Owner`` is the one the
  caller expects (``LeaseLost`` otherwise); each write stamps ``timestamp`` with the current time.

The store's marker ``{prefix}.info`` says the leases were created; ``{prefix}.lock`` (``ttl`` 30 s)
lets one host create them. The lease container is partitioned on ``/id`` or ``/partitionKey``; with
``/partitionKey`` its value is the lease id (the .NET default).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .._feeds.routing import FeedRange
from .._wire.clock import Clock
from ..exceptions import ConfigurationError, Conflict, NotFound, PreconditionFailed
from .leases import DOTNET, JAVA, SEPARATOR, Lease, lease_id, parse_lease

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["LeaseLost", "LeaseStore"]

RETRIES_ON_CONFLICT: Final = 5
LOCK_TTL: Final = 30


class LeaseLost(Exception):
    """The lease is no longer this host's: another owner took it, or it was deleted (``gone``)."""

    def __init__(self, lease: Lease, reason: str, *, gone: bool = False) -> None:
        super().__init__(f"lease {lease.token!r} lost: {reason}")
        self.lease = lease
        self.gone = gone


class LeaseStore:
    """The leases of one processor (one prefix) in one lease container."""

    def __init__(self, container: ContainerProxy, prefix: str, clock: Clock) -> None:
        self.container = container
        self.prefix = prefix
        self.clock = clock
        self._pk_field: str | None = None
        self._lock_etag: str | None = None
        self.request_charge = 0.0
        """Request units spent on lease documents so far."""

    async def open(self) -> None:
        """Check the lease container's partition key (``/id`` or ``/partitionKey``)."""
        definition = await self.container.partition_key_definition()
        paths = list(definition.paths)
        if paths == ["/id"]:
            self._pk_field = None
        elif paths == ["/partitionKey"]:
            self._pk_field = "partitionKey"
        else:
            raise ConfigurationError(
                f"the lease container must be partitioned on /id (recommended) or /partitionKey, not {paths}"
            )

    def _charge(self, response: Any) -> None:
        self.request_charge += float(getattr(response, "request_charge", 0.0) or 0.0)

    def _stamp(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self._pk_field is not None:
            doc[self._pk_field] = doc["id"]
        return doc

    # -- reading ---------------------------------------------------------------------------------

    async def list_all(self) -> list[Lease]:
        """Every lease of this processor (the marker and lock documents are not leases)."""
        pager = self.container.query_items(
            "SELECT * FROM c WHERE STARTSWITH(c.id, @prefix)",
            parameters=[{"name": "@prefix", "value": self.prefix + SEPARATOR}],
        )
        leases: list[Lease] = []
        async for page in pager.by_page():
            self.request_charge += page.request_charge
            leases.extend(parse_lease(doc) for doc in page)
        return sorted(leases, key=lambda lease: lease.token)

    async def read(self, lease: Lease) -> Lease | None:
        try:
            response = await self.container.read_item(lease.id, lease.id)
        except NotFound:
            return None
        self._charge(response)
        return parse_lease(response)

    async def get(self, token: str) -> Lease | None:
        return await self.read(Lease(id=lease_id(self.prefix, token), token=token))

    # -- writing ---------------------------------------------------------------------------------

    async def create_if_absent(
        self, token: str, feed_range: FeedRange, continuation: str | None, mode: str, *, epk: bool = False,
        form: str = DOTNET,
    ) -> Lease | None:
        """Create a lease (v0 for a partition key range id, v1 for an EPK range) in ``form``'s layout;
        None if it exists. A Java lease is stamped with its creation time, as Java's constructor does."""
        lease = Lease(id=lease_id(self.prefix, token), token=token, version=1 if epk else 0,
                      feed_range=feed_range, continuation=continuation, mode=mode, form=form,
                      timestamp=self.clock.time() if form == JAVA else None)
        if self._pk_field is not None:
            lease.partition_key = lease.id
        try:
            response = await self.container.create_item(self._stamp(lease.to_document()))
        except Conflict:
            return None
        self._charge(response)
        return parse_lease(response)

    async def _update(self, lease: Lease, change: Callable[[Lease], None]) -> Lease:
        """Apply ``change`` to ``lease`` and replace it if unchanged on the server; on 412 re-read and
        apply it to the server's version (``change`` raises LeaseLost when that is not ours)."""
        current = lease
        for _ in range(RETRIES_ON_CONFLICT + 1):
            change(current)
            current.timestamp = self.clock.time()
            try:
                response = await self.container.replace_item(
                    current.id, self._stamp(current.to_document()), etag=current.etag)
            except NotFound:
                raise LeaseLost(current, "the lease document no longer exists", gone=True) from None
            except Conflict:
                raise LeaseLost(current, "the lease was replaced by a conflicting write") from None
            except PreconditionFailed:
                fresh = await self.read(current)
                if fresh is None:
                    raise LeaseLost(current, "the lease document no longer exists", gone=True) from None
                current = fresh
                continue
            self._charge(response)
            return parse_lease(response)
        raise LeaseLost(current, f"{RETRIES_ON_CONFLICT + 1} conflicting updates in a row")

    async def acquire(self, lease: Lease, owner: str) -> Lease:
        """Take ``lease`` for ``owner``; lost if someone else took it since ``lease`` was read."""
        expected = lease.owner

        def change(server: Lease) -> None:
            if server.owner != expected:
                raise LeaseLost(server, f"taken over by {server.owner!r}")
            server.owner = owner
            server.properties = dict(lease.properties)

        return await self._update(lease, change)

    def _owned_change(self, owner: str | None, then: Callable[[Lease], None]) -> Callable[[Lease], None]:
        def change(server: Lease) -> None:
            if server.owner != owner:
                raise LeaseLost(server, f"taken over by {server.owner!r}")
            then(server)

        return change

    async def renew(self, lease: Lease) -> Lease:
        fresh = await self.read(lease)
        if fresh is None:
            raise LeaseLost(lease, "the lease document no longer exists", gone=True)
        return await self._update(fresh, self._owned_change(lease.owner, lambda server: None))

    async def checkpoint(self, lease: Lease, etag: str) -> Lease:
        """Record ``etag`` (the change feed etag after the changes handled) as the lease's position."""

        def record(server: Lease) -> None:
            server.continuation = server.with_etag_continuation(etag)

        return await self._update(lease, self._owned_change(lease.owner, record))

    async def release(self, lease: Lease) -> None:
        fresh = await self.read(lease)
        if fresh is None:
            return  # deleted already (a split): nothing to release

        def clear(server: Lease) -> None:
            server.owner = None

        await self._update(fresh, self._owned_change(lease.owner, clear))

    async def delete(self, lease: Lease) -> None:
        try:
            response = await self.container.delete_item(lease.id, lease.id)
        except NotFound:
            return
        self._charge(response)

    # -- the marker and the bootstrap lock --------------------------------------------------------

    async def is_initialized(self) -> bool:
        try:
            await self.container.read_item(self.prefix + ".info", self.prefix + ".info")
        except NotFound:
            return False
        return True

    async def mark_initialized(self) -> None:
        with contextlib.suppress(Conflict):
            await self.container.create_item(self._stamp({"id": self.prefix + ".info"}))

    async def acquire_lock(self) -> bool:
        """Create ``{prefix}.lock``; False when another host holds it. A lock older than its ttl is
        taken over (a server that does not enforce ttl would otherwise keep a dead host's lock)."""
        lock_id = self.prefix + ".lock"
        try:
            response = await self.container.create_item(self._stamp({"id": lock_id, "ttl": LOCK_TTL}))
        except Conflict:
            try:
                existing = await self.container.read_item(lock_id, lock_id)
            except NotFound:
                return False
            ts = existing.get("_ts")
            if isinstance(ts, int | float) and ts + LOCK_TTL < self.clock.time():
                with contextlib.suppress(NotFound, PreconditionFailed):
                    await self.container.delete_item(lock_id, lock_id, etag=existing.etag)
            return False
        self._lock_etag = response.etag
        return True

    async def release_lock(self) -> None:
        lock_id = self.prefix + ".lock"
        with contextlib.suppress(NotFound, PreconditionFailed):
            await self.container.delete_item(lock_id, lock_id, etag=self._lock_etag)
        self._lock_etag = None
