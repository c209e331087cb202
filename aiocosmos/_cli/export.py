"""``aiocosmos export``: every item (or a query's results) as JSON Lines.

Without ``--query`` the container's feed ranges (its physical partitions) are read in parallel,
``--parallel`` at a time (default 4), each page written as it arrives: lines come in no particular
order. With ``--query`` the query runs once across partitions (so ORDER BY, aggregates and TOP mean
what they say). ``--throughput-group`` applies to every page request.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import IO, Any, TextIO

import orjson

from .._resources.client import CosmosClient
from .._resources.container import ContainerProxy
from .ingest import SYSTEM_PROPERTIES
from .throughput import enable as enable_throughput

__all__ = ["DEFAULT_PARALLEL", "export"]

DEFAULT_PARALLEL = 4
PAGE_SIZE = 1000


def _write(page: Any, args: argparse.Namespace, out: IO[bytes]) -> int:
    chunk = []
    for item in page:
        if isinstance(item, dict) and not args.keep_system_properties:
            item = {k: v for k, v in item.items() if k not in SYSTEM_PROPERTIES}
        chunk.append(orjson.dumps(item))
    if chunk:
        out.write(b"\n".join(chunk) + b"\n")
    return len(chunk)


async def _ranges(container: ContainerProxy, args: argparse.Namespace, out: IO[bytes]) -> int:
    ranges = await container.read_feed_ranges()
    pending = asyncio.Queue[Any]()
    for feed_range in ranges:
        pending.put_nowait(feed_range)
    count = 0

    async def reader() -> None:
        nonlocal count
        while not pending.empty():
            feed_range = pending.get_nowait()
            pager = container.query_items("SELECT * FROM c", feed_range=feed_range, max_item_count=PAGE_SIZE)
            async for page in pager.by_page():
                count += _write(page, args, out)  # one writer at a time: the loop is single-threaded

    await asyncio.gather(*(reader() for _ in range(min(args.parallel, len(ranges)))))
    return count


async def export(args: argparse.Namespace, client: CosmosClient, out: IO[bytes], err: TextIO) -> int:
    container = client.get_database_client(args.database).get_container_client(args.container)
    await enable_throughput(client, container, args)
    if args.query:
        count = 0
        async for page in container.query_items(args.query, max_item_count=PAGE_SIZE).by_page():
            count += _write(page, args, out)
    else:
        count = await _ranges(container, args, out)
    out.flush()
    err.write(f"exported {count:,} items\n")
    return 0
