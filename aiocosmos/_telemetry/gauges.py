"""Observable instruments: what a client has *now* (bulk queues and windows per range, change feed
processor lag and leases, connections of the pool), read by the meter's reader when it collects.

Nothing is counted on the request path: each source (a bulk execution, a processor, the client's
connection pool) registers one bound method while it lives; the reader's callback calls the live
ones (held by weak reference, so a finished bulk execution or a dropped processor simply stops being
observed) and each returns its (value, attributes) points.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from . import names as n

__all__ = ["Gauges", "Points", "BULK_QUEUE_DEPTH", "BULK_WINDOW", "PROCESSOR_LAG", "PROCESSOR_LEASES",
           "CONNECTION_COUNT", "CONNECTION_STATE", "CONNECTION_POOL_NAME", "RANGE_ID", "LEASE_TOKEN",
           "PROCESSOR_NAME", "PoolSource", "target_attributes"]

Points = Iterable[tuple[float, Mapping[str, Any]]]

BULK_QUEUE_DEPTH: Final = "aiocosmos.client.bulk.queue_depth"
BULK_WINDOW: Final = "aiocosmos.client.bulk.window"
PROCESSOR_LAG: Final = "aiocosmos.client.change_feed.processor.lag"
PROCESSOR_LEASES: Final = "aiocosmos.client.change_feed.processor.leases_owned"
CONNECTION_COUNT: Final = "db.client.connection.count"
"""The database client conventions' pool metric (``db.client.connection.*``, semantic conventions 1.39)."""
CONNECTION_STATE: Final = "db.client.connection.state"
CONNECTION_POOL_NAME: Final = "db.client.connection.pool.name"
RANGE_ID: Final = "aiocosmos.partition_key_range.id"
LEASE_TOKEN: Final = "aiocosmos.lease.token"
PROCESSOR_NAME: Final = "aiocosmos.processor.name"


class Gauges:
    """The observable instruments of one client and the sources they read."""

    def __init__(self, meter: Any, observation: Callable[..., Any]) -> None:
        self._observation = observation
        self._sources: dict[str, list[weakref.WeakMethod[Callable[[], Points]]]] = {}
        specs = (
            (BULK_QUEUE_DEPTH, "{operation}", "Bulk operations waiting to be sent, per partition key range.",
             meter.create_observable_gauge),
            (BULK_WINDOW, "{request}", "Bulk requests a partition key range may have in flight (its congestion "
             "window).", meter.create_observable_gauge),
            (PROCESSOR_LAG, "{change}", "Changes a change feed processor lease is behind, as of its last read.",
             meter.create_observable_gauge),
            (PROCESSOR_LEASES, "{lease}", "Leases a change feed processor instance owns.",
             meter.create_observable_up_down_counter),
            (CONNECTION_COUNT, "{connection}", "Connections of the client's pool, used or idle.",
             meter.create_observable_up_down_counter),
        )
        for name, unit, description, create in specs:
            self._sources[name] = []
            create(name, callbacks=[self._callback(name)], unit=unit, description=description)

    def watch(self, name: str, source: Callable[[], Points]) -> None:
        """Observe ``source`` (a bound method) for metric ``name`` while its object lives."""
        self._sources[name].append(weakref.WeakMethod(source))

    def _callback(self, name: str) -> Callable[[Any], Iterator[Any]]:
        def observe(options: Any) -> Iterator[Any]:
            live = []
            for ref in self._sources[name]:
                source = ref()
                if source is None:
                    continue
                live.append(ref)
                for value, attributes in source():
                    yield self._observation(value, dict(attributes))
            self._sources[name][:] = live
        return observe


def target_attributes(common: Mapping[str, Any], resource_link: str) -> dict[str, Any]:
    """The client's shared attributes and the database and container of ``resource_link``."""
    database, container = n.target(resource_link)
    attributes = dict(common)
    attributes.pop(n.CONNECTION_MODE, None)
    attributes.pop(n.CONSISTENCY_LEVEL, None)
    if database is not None:
        attributes[n.DB_NAMESPACE] = database
    if container is not None:
        attributes[n.DB_COLLECTION_NAME] = container
    return attributes


class PoolSource:
    """The connections of one aiohttp connector (held weakly): used (handed to a request) and idle."""

    __slots__ = ("__weakref__", "_attributes", "_connector")

    def __init__(self, connector: Any, pool_name: str) -> None:
        self._connector = weakref.ref(connector)
        self._attributes = {CONNECTION_POOL_NAME: pool_name}

    def points(self) -> Points:
        connector = self._connector()
        if connector is None or connector.closed:
            return ()
        # aiohttp keeps no public count: its connector's own bookkeeping (aiohttp 3.9 - 3.14).
        used = len(getattr(connector, "_acquired", ()))
        idle = sum(len(conns) for conns in getattr(connector, "_conns", {}).values())
        return ((used, {**self._attributes, CONNECTION_STATE: "used"}),
                (idle, {**self._attributes, CONNECTION_STATE: "idle"}))
