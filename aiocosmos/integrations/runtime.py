"""One event loop and one client per (process, connection spec), shared by every task of the process.

Dask and Ray run a task as a plain function, in a worker thread or process of their own. A task here
hands its coroutine to this process's *runtime*: a daemon thread running one asyncio loop, on which
each distinct :class:`CosmosConnection` has one :class:`~aiocosmos.CosmosClient` (its connection pool,
routing maps and partition-key definitions are thus reused by every later task of that process).
Several tasks of one process (Dask's worker threads) run their coroutines on that loop at once.

The clients are closed and the thread stopped by :func:`shutdown`: at interpreter exit (``atexit``),
by the Dask worker plugin's teardown, or by hand. A forked child process never reuses its parent's
loop or connections: the runtime notices the new pid and starts afresh.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .._resources.client import CosmosClient
from .._resources.container import ContainerProxy
from .._throughput.config import GlobalThroughputControlConfig
from .connection import CosmosConnection

__all__ = ["run", "shutdown", "client_count"]

_log = logging.getLogger("aiocosmos.integrations")
T = TypeVar("T")

# How long shutdown() waits for the clients to close before it leaves the daemon thread to die with the process.
_CLOSE_TIMEOUT = 10.0


class _Runtime:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.clients: dict[CosmosConnection, CosmosClient] = {}
        self.joined: dict[CosmosConnection, asyncio.Task[None]] = {}  # the throughput group, once per spec
        self.thread = threading.Thread(target=self._serve, name="aiocosmos-runtime", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def container(self, spec: CosmosConnection) -> ContainerProxy:
        client = self.clients.get(spec)
        if client is None:
            client = CosmosClient(spec.endpoint, credential=spec.credential(), options=spec.options)
            self.clients[spec] = client
            _log.debug("opened a client for %r in process %d", spec, self.pid)
        container = client.get_database_client(spec.database).get_container_client(spec.container)
        if spec.throughput_group is not None:
            joining = self.joined.get(spec)
            if joining is None:
                joining = self.joined[spec] = asyncio.ensure_future(_join(spec, client, container))
            try:
                await asyncio.shield(joining)  # every task of the process waits until its client joined
            except BaseException:
                if joining.done():
                    self.joined.pop(spec, None)  # failed: the next task tries again
                raise
        return container

    async def close(self) -> None:
        clients, self.clients, self.joined = list(self.clients.values()), {}, {}
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self.close(), self.loop)
        try:
            future.result(_CLOSE_TIMEOUT)
        except (TimeoutError, RuntimeError) as exc:  # a loop already stopping: nothing more to do
            _log.warning("aiocosmos: closing the clients of process %d failed: %r", self.pid, exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(_CLOSE_TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()


async def _join(spec: CosmosConnection, client: CosmosClient, container: ContainerProxy) -> None:
    group = spec.throughput_group
    assert group is not None
    if spec.global_control_container is None:
        await container.enable_local_throughput_control_group(group)
        return
    control = client.get_database_client(spec.database).get_container_client(spec.global_control_container)
    await container.enable_global_throughput_control_group(
        group, GlobalThroughputControlConfig(control, renew_interval=spec.renew_interval))


_lock = threading.Lock()
_runtime: _Runtime | None = None


def _current() -> _Runtime:
    global _runtime
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = _Runtime()  # first use, or a forked child: never the parent's loop and sockets
        return _runtime


def run(spec: CosmosConnection, work: Callable[[ContainerProxy], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(container)`` on this process's loop with its client for ``spec``; block for the result.

    Must not be called from inside a running event loop's thread (it would wait on itself)."""
    runtime = _current()
    if threading.current_thread() is runtime.thread:
        raise RuntimeError("aiocosmos.integrations.runtime.run() was called from its own loop")

    async def job() -> T:
        return await work(await runtime.container(spec))

    return asyncio.run_coroutine_threadsafe(job(), runtime.loop).result()


def client_count() -> int:
    """How many clients this process holds (0 before first use or after shutdown)."""
    runtime = _runtime
    return 0 if runtime is None or runtime.pid != os.getpid() else len(runtime.clients)


def shutdown() -> None:
    """Close this process's clients and stop its loop thread. The next ``run`` starts a new one."""
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
    if runtime is not None and runtime.pid == os.getpid():
        runtime.stop()


atexit.register(shutdown)
