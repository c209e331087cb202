"""One change feed processor host in its own OS process, for test_change_feed_processor_hosts.py.

``python -m tests.integration.cfp_host FRONT_URL SERVER_URL KEY DATABASE OUT INSTANCE`` runs a
processor on the front's container with its leases on the local server, and appends one JSON line
per delivered change to OUT (``{"id", "n", "lease", "host"}``), written before the handler returns
(so before the checkpoint). SIGTERM or SIGINT stops it cleanly (``processor.run_until_signal()``:
its leases are released) and it exits 0. With ``CFP_STATS_INTERVAL`` set (seconds), the processor
logs its counters at INFO to stderr that often.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

import aiocosmos
from tests.integration.change_feed_front import FRONT

TIMINGS = {"acquire_interval": 1.0, "renew_interval": 1.0, "expiration_interval": 6.0, "poll_interval": 0.5}


async def main(front_url: str, server_url: str, key: str, database: str, out: str, instance: str) -> None:
    interval = float(os.environ["CFP_STATS_INTERVAL"]) if os.environ.get("CFP_STATS_INTERVAL") else None
    if interval is not None:
        logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
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
                max_item_count=50, stats_interval=interval, **TIMINGS)
            await processor.run_until_signal()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
