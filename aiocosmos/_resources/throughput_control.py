"""Enabling a throughput control group on a container, and the global group's renew loop.

``enable_local`` resolves the group's target (RU/s, or a fraction of the container's offer) and
registers a ``RequestThrottler`` for the container in the client's gates: from then on every request
of this client to that container (point operations, queries, change feed, bulk) passes the gate.

``enable_global`` also joins the group in the control container (``_throughput/control_items.py``):
it reads or creates the config item (the stored target wins), then every ``renew_interval`` upserts
its own client item (load factor, allocation, ttl), reads the group's client items and sets its
budget to ``target x share``. Bulk: the executor's batches wait in the gate like any request, so the
service's 429s (the executor's congestion signal) stay rare and its concurrency bounds how many wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from .._throughput.config import GlobalThroughputControlConfig, ThroughputControlGroupConfig, ThroughputControlStats
from .._throughput.control_items import (
    client_item,
    config_item,
    group_prefix,
    item_ids,
    live_load_factors,
    share_of,
    target_from_config,
)
from .._throughput.throttler import RequestThrottler, container_key
from ..exceptions import ConfigurationError, Conflict, CosmosError, NotFound

if TYPE_CHECKING:
    from .container import ContainerProxy

__all__ = ["ThroughputControl", "enable_global", "enable_local", "group_target"]

_log = logging.getLogger("aiocosmos.throughput")
MIN_ALLOCATION = 1.0
"""RU/s a client keeps however small its share (a budget of zero would never let it ask again)."""


def group_target(target: float | None, threshold: float | None, provisioned: float | None, group: str) -> float:
    """``min(target, threshold x provisioned)`` of whichever are given (Java's rule)."""
    candidates = [] if target is None else [float(target)]
    if threshold is not None:
        if provisioned is None:
            raise ConfigurationError(f"throughput control group {group!r}: target_throughput_threshold needs the "
                                     "container's provisioned throughput, and it has none (shared or serverless)")
        candidates.append(threshold * provisioned)
    if not candidates:
        raise ConfigurationError(f"throughput control group {group!r} has no target")
    return min(candidates)


async def _provisioned(container: ContainerProxy) -> float | None:
    try:
        offer = await container.get_throughput()
    except NotFound:
        return None
    value = offer.auto_scale_max_throughput or offer.offer_throughput
    return float(value) if value else None


class ThroughputControl:
    """A group enabled on a container by this client: ``stats()``, and ``close()`` to leave it (also done
    when the client closes)."""

    def __init__(self, container: ContainerProxy, group: ThroughputControlGroupConfig, target: float,
                 global_config: GlobalThroughputControlConfig | None) -> None:
        self.container = container
        self.group = group
        self.target_throughput = target
        self.global_config = global_config
        self.share = 1.0
        self.clients = 1
        self.client_id = str(uuid.uuid4())
        self._key = container_key(container._link)
        self._core = container._core
        self.gate = RequestThrottler(group.name, target, clock=self._core.clock, low_priority=group.priority == "Low")
        self._task: asyncio.Task[None] | None = None
        self._initialized = self._core.clock.time()
        self._prefix = group_prefix(container.database.id, container.id, group.name)

    def __repr__(self) -> str:
        return (f"ThroughputControl(group={self.group.name!r}, container={self.container.id!r}, "
                f"target_throughput={self.target_throughput}, global={self.global_config is not None})")

    def stats(self) -> ThroughputControlStats:
        """A snapshot of the group in this client: share, allocated and used RU/s, requests delayed."""
        gate = self.gate
        return ThroughputControlStats(
            group=self.group.name, target_throughput=self.target_throughput, share=self.share,
            allocated_throughput=gate.budget, ru_per_second=gate.ru_per_second(), requests=gate.requests,
            requests_delayed=gate.delayed, clients=self.clients)

    def _register(self) -> None:
        gates = self._core.throughput
        if self._key in gates.gates:
            raise ConfigurationError(f"a throughput control group is already enabled on container "
                                     f"{self.container.id!r} by this client")
        gates.gates[self._key] = self.gate
        gates.controllers[self._key] = self

    async def _join(self) -> None:
        """Read (or create) the config item, the container copy winning; then the first renewal."""
        assert self.global_config is not None
        control = self.global_config.control_container
        (config_id, config_pk), _ = item_ids(self._prefix, self.group.name, self.client_id)
        try:
            stored = await control.read_item(config_id, partition_key=config_pk)
        except NotFound:
            body = config_item(self._prefix, self.group.name, self.group.target_throughput,
                               self.group.target_throughput_threshold, self.group.is_default)
            try:
                stored = await control.create_item(body)
            except Conflict:
                stored = await control.read_item(config_id, partition_key=config_pk)
        target, threshold = target_from_config(stored)
        if (target, threshold) != (self.group.target_throughput, self.group.target_throughput_threshold):
            provisioned = await _provisioned(self.container) if threshold is not None else None
            self.target_throughput = group_target(target, threshold, provisioned, self.group.name)
        await self.renew()

    async def renew(self) -> None:
        """Upsert this client's item, read the group's, and set this client's budget to its share."""
        assert self.global_config is not None
        config = self.global_config
        expire = config.expire_seconds
        load = self.gate.load.load_factor
        body = client_item(self._prefix, self.group.name, self.client_id, load, self.gate.budget,
                           self._initialized, expire)
        written = await config.control_container.upsert_item(body)
        now_ts = written.get("_ts")
        items = [item async for item in config.control_container.query_items(
            "SELECT * FROM c WHERE c.groupId = @g", parameters=[{"name": "@g", "value": body["groupId"]}],
            partition_key=body["groupId"])]
        others = live_load_factors(items, body["id"], float(now_ts) if isinstance(now_ts, (int, float)) else 0.0,
                                   expire)
        self.clients = 1 + len(others)
        self.share = share_of(load, others)
        self.gate.set_budget(max(MIN_ALLOCATION, self.target_throughput * self.share))

    async def _renew_loop(self) -> None:
        assert self.global_config is not None
        clock = self._core.clock
        while True:
            await clock.sleep(self.global_config.renew_interval)
            try:
                await self.renew()
            except CosmosError as exc:  # keep the last share; the next renewal tries again
                _log.warning("throughput control group %r: renewing failed: %s", self.group.name, exc)

    async def close(self) -> None:
        """Leave the group: stop renewing, delete this client's item (best effort), remove the gate."""
        gates = self._core.throughput
        if gates.controllers.get(self._key) is self:
            del gates.controllers[self._key]
            gates.gates.pop(self._key, None)
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert self.global_config is not None
        _, (item_id, pk) = item_ids(self._prefix, self.group.name, self.client_id)
        with contextlib.suppress(CosmosError):
            await self.global_config.control_container.delete_item(item_id, partition_key=pk)


def _check(container: ContainerProxy, group: object) -> ThroughputControlGroupConfig:
    if not isinstance(group, ThroughputControlGroupConfig):
        raise ConfigurationError(f"group must be a ThroughputControlGroupConfig, got {type(group).__name__}")
    if container_key(container._link) in container._core.throughput.gates:
        raise ConfigurationError(f"a throughput control group is already enabled on container {container.id!r} "
                                 "by this client")
    return group


async def _target(container: ContainerProxy, group: ThroughputControlGroupConfig) -> float:
    threshold = group.target_throughput_threshold
    provisioned = await _provisioned(container) if threshold is not None else None
    return group_target(group.target_throughput, threshold, provisioned, group.name)


async def enable_local(container: ContainerProxy, group: ThroughputControlGroupConfig) -> ThroughputControl:
    group = _check(container, group)
    control = ThroughputControl(container, group, await _target(container, group), None)
    control._register()
    return control


async def enable_global(container: ContainerProxy, group: ThroughputControlGroupConfig,
                        global_config: GlobalThroughputControlConfig) -> ThroughputControl:
    group = _check(container, group)
    if not isinstance(global_config, GlobalThroughputControlConfig):
        raise ConfigurationError("global_config must be a GlobalThroughputControlConfig, got "
                                 f"{type(global_config).__name__}")
    control_container: Any = global_config.control_container
    if container_key(getattr(control_container, "_link", "")) == container_key(container._link):
        raise ConfigurationError("the control container must not be the container the group throttles")
    control = ThroughputControl(container, group, await _target(container, group), global_config)
    await control._join()
    control._register()
    control._task = asyncio.get_running_loop().create_task(control._renew_loop(),
                                                            name=f"aiocosmos-throughput-{group.name}")
    return control
