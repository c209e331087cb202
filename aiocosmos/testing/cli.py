"""The fault proxy on its own: ``python -m aiocosmos.testing --upstream URL`` (driven through the admin API)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

from .proxy import FaultProxy

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aiocosmos.testing --upstream URL [--host H] [--port P] [--seed S]``."""
    parser = argparse.ArgumentParser(prog="python -m aiocosmos.testing",
                                     description="A fault-injecting proxy in front of a Cosmos DB endpoint.")
    parser.add_argument("--upstream", required=True, help="the Cosmos endpoint to forward to")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with FaultProxy(arguments.upstream, seed=arguments.seed, host=arguments.host,
                              port=arguments.port) as proxy:
            print(f"LISTENING {proxy.url}", flush=True)
            await stop.wait()

    asyncio.run(serve())
    return 0
