"""Helpers of the Dask and Ray connector tests: blocking (the engines' drivers are), each with its own loop.

* :class:`ProxyThread`: a :class:`~aiocosmos.testing.FaultProxy` served by a loop in a daemon thread.
* :func:`new_container`, :func:`stored`: create a container, read back every document, with a fresh client.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import aiocosmos
from aiocosmos.integrations import CosmosConnection
from aiocosmos.testing import FaultProxy
from tests.server import CosmosTestServer

T = TypeVar("T")
SYSTEM = ("_rid", "_self", "_etag", "_attachments", "_ts", "_lsn")


class ProxyThread:
    def __init__(self, upstream: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxy = FaultProxy(upstream, seed=17)
        self.call(self.proxy.start())

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def close(self) -> None:
        self.call(self.proxy.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _create(url: str, key: str) -> tuple[str, str]:
    async with aiocosmos.CosmosClient(url, credential=key) as client:
        database = await client.create_database(f"engines-{uuid.uuid4().hex[:10]}")
        await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
        return database.id, "items"


def new_container(server: CosmosTestServer, url: str | None = None) -> CosmosConnection:
    """A fresh database and container on the server; a connection spec for it (through ``url`` if given)."""
    database, container = asyncio.run(_create(server.url, server.key))
    return CosmosConnection(url or server.url, database, container, key=server.key)


async def _read_all(spec: CosmosConnection, url: str) -> dict[str, dict[str, Any]]:
    async with aiocosmos.CosmosClient(url, credential=spec.credential()) as client:
        container = client.get_database_client(spec.database).get_container_client(spec.container)
        documents = [item async for item in container.read_all_items(max_item_count=-1)]
    return {doc["id"]: {k: v for k, v in doc.items() if k not in SYSTEM} for doc in documents}


def stored(spec: CosmosConnection, server: CosmosTestServer) -> dict[str, dict[str, Any]]:
    """Every document of the container (system properties dropped), by id, read straight from the server."""
    return asyncio.run(_read_all(spec, server.url))


def documents(count: int, *, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": f"d{i}", "pk": f"p{i % 101}", "n": i, "name": f"name-{i}", "score": i / 8, **extra}
            for i in range(start, start + count)]
