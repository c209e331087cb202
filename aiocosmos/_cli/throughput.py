"""``--throughput-group NAME --target-ru N [--global-control CONTAINER]`` for ``ingest`` and ``export``.

The run joins throughput control group NAME on its container with a target of N RU/s (README,
"Throughput control"): alone in this process, or, with ``--global-control``, shared with every other
run (on any host) that names the same group, through CONTAINER (in the same database, partitioned by
``/groupId``; created if absent).
"""

from __future__ import annotations

import argparse

from .._resources.client import CosmosClient
from .._resources.container import ContainerProxy
from .._resources.throughput_control import ThroughputControl
from .._throughput.config import GlobalThroughputControlConfig, ThroughputControlGroupConfig
from .._wire.paths import PartitionKey
from ..exceptions import ConfigurationError

__all__ = ["add_arguments", "check", "enable"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--throughput-group", metavar="NAME", help="join this throughput control group")
    parser.add_argument("--target-ru", type=float, metavar="N", help="the group's target in RU/s")
    parser.add_argument("--global-control", metavar="CONTAINER",
                        help="share the group across processes and hosts through this control container")


def check(args: argparse.Namespace) -> None:
    """Before any I/O: the three flags go together (ConfigurationError, exit 2)."""
    group, target, control = args.throughput_group, args.target_ru, args.global_control
    if group is None and target is None and control is None:
        return
    if group is None or target is None:
        raise ConfigurationError("--throughput-group and --target-ru go together "
                                 f"(got --throughput-group {group!r}, --target-ru {target!r})")
    if not target > 0:
        raise ConfigurationError(f"--target-ru must be > 0, got {target!r}")
    ThroughputControlGroupConfig(group, target_throughput=target)


async def enable(client: CosmosClient, container: ContainerProxy, args: argparse.Namespace) -> ThroughputControl | None:
    if args.throughput_group is None:
        return None
    group = ThroughputControlGroupConfig(args.throughput_group, target_throughput=args.target_ru)
    if args.global_control is None:
        return await container.enable_local_throughput_control_group(group)
    database = client.get_database_client(container.database.id)
    control = await database.create_container_if_not_exists(args.global_control,
                                                            partition_key=PartitionKey("/groupId"))
    return await container.enable_global_throughput_control_group(group, GlobalThroughputControlConfig(control))
