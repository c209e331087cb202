"""One change feed processor host in its own OS process, for test_change_feed_processor_hosts.py.

``python -m tests.integration.cfp_host FRONT_URL SERVER_URL KEY DATABASE OUT INSTANCE`` runs a
processor on the front's container with its leases on the local server, and appends one JSON line
per delivered change to OUT (``{"id", "n", "lease", "host"}``), written before the handler returns
(so before the checkpoint). SIGTERM stops it cleanly (its leases are released).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import aiocosmos
from tests.integration.change_feed_front import FRONT

TIMINGS = {"acquire_interval": 1.0, "renew_interval": 1.0, "expiration_interval": 6.0, "poll_interval": 0.5}


async def main(front_url: str, server_url: str, key: str, database: str, out: str, instance: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with open(out, "a", buffering=1) as sink:  # noqa: ASYNC230 - opened once, before any I/O

        async def handle(changes: list[dict[str, Any]], ctx: aiocosmos.ChangeFeedContext) -> None:
            sink.write("".join(json.dumps({"id": c["id"], "n": c["n"], "lease": ctx.lease_token, "host": instance})
                               + "\n" for c in changes))
            sink.flush()

        async with aiocosmos.CosmosClient(front_url, credential=key) as monitored, \
                aiocosmos.CosmosClient(server_url, credential=key) as lease_client:
            feed = monitored.get_database_client(database).get_container_client(FRONT)
            leases = lease_client.get_database_client(database).get_container_client("leases")
            processor = aiocosmos.ChangeFeedProcessor(
                feed, "hosts", handle, lease_container=leases, instance_name=instance, start_time="Beginning",
                max_item_count=50, **TIMINGS)
            async with processor:
                await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
