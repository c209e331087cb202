"""Availability strategy: cross-region hedging of reads (and, on multi-write accounts, of writes
that are safe to replay), as azure-cosmos 4.15+ offers it (``availability_strategy``).

An operation is first sent to the first region of its list. If it has not answered after
``threshold`` seconds, it is also sent to the next region; then, every ``step`` seconds, to the one
after that, while regions are left. An attempt that fails (after the retries its region allows) starts
the next region at once. The first *answer* wins: a success, or an error the service meant (404,
409, 412, 400, ...: ``FailureKind.FATAL``), which another region would only repeat. Every other
attempt still running is then cancelled and awaited: aiohttp closes a connection whose request was
cancelled, so none is left in use. When every attempt failed, the last failure is raised.

Each attempt is pinned to its region (the others are excluded for it, ``excluded_regions``), so it
retries in its own region as a one-region operation would. Results and errors carry ``regions``:
every region an attempt was sent to, in the order they were started.

Nothing here runs unless a strategy is set (client-wide ``ClientOptions.availability_strategy`` or
per request) and the client has endpoint discovery with at least two regions for the operation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..exceptions import HttpResponseError, OperationTimeout, TransportError
from .clock import Clock
from .options import HedgingOption, HedgingStrategy, availability_strategy
from .regions import Region, RegionRouter, excluded_regions, is_read, request_exclusions
from .retry import FailureKind, classify_status

__all__ = ["HedgingOption", "HedgingStrategy", "availability_strategy", "run_hedged"]

_log = logging.getLogger("aiocosmos")

_T = TypeVar("_T")
_Failure = HttpResponseError | TransportError | OperationTimeout


def _is_answer(error: BaseException) -> bool:
    """An error the service meant (another region would say the same): it ends the hedge."""
    return isinstance(error, HttpResponseError) and \
        classify_status(error.status_code, error.sub_status) is FailureKind.FATAL


def hedge_regions(
    router: RegionRouter, method: str, headers: Mapping[str, str] | None, resource_type: str, *, safe_write: bool
) -> list[Region]:
    """The regions a request may be hedged across, in order: the read regions for a read of items;
    the write regions for an item write that is safe to replay on a multi-write account; else none."""
    cache = router.cache
    if resource_type != "docs":
        return []  # only item operations are hedged, as in azure-cosmos
    if is_read(method, headers):
        regions = cache.read_regions()
    elif cache.multiple_write_locations and safe_write:
        regions = cache.write_regions()
    else:
        return []
    excluded = request_exclusions()
    return cache.without(regions, excluded) if excluded else regions


async def run_hedged(
    strategy: HedgingStrategy,
    regions: Sequence[Region],
    clock: Clock,
    attempt: Callable[[Region], Awaitable[_T]],
    on_result: Callable[[_T, list[str]], _T],
) -> _T:
    """Run ``attempt`` in ``regions`` (at least two) by ``strategy``; see the module docstring.
    ``on_result`` stamps the winner with the regions started."""
    names = [region.name for region in regions]
    started: list[str] = []
    pending: dict[asyncio.Task[_T], str] = {}
    failure: BaseException | None = None

    async def pinned(region: Region) -> _T:
        with excluded_regions([name for name in names if name != region.name]):
            return await attempt(region)

    def start(index: int) -> None:
        started.append(regions[index].name)
        pending[asyncio.ensure_future(pinned(regions[index]))] = regions[index].name

    start(0)
    following = 1
    timer: asyncio.Task[None] | None = None
    try:
        while True:
            if timer is None and following < len(regions):
                timer = asyncio.ensure_future(clock.sleep(strategy.threshold if following == 1 else strategy.step))
            waiting: set[asyncio.Future[Any]] = set(pending)
            if timer is not None:
                waiting.add(timer)
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in [t for t in pending if t in done]:
                region = pending.pop(task)
                error = task.exception()
                if error is None or _is_answer(error):
                    if len(started) > 1:
                        _log.debug("aiocosmos: hedged operation answered by %s (sent to %s)", region,
                                   ", ".join(started))
                    if error is not None:
                        raise _stamp(error, started)
                    return on_result(task.result(), started)
                failure = error
            if timer is not None and (timer in done or not pending):
                timer.cancel()
                timer = None
                if following < len(regions):
                    start(following)  # the threshold passed, or every running attempt failed
                    following += 1
                    continue
            if not pending and following >= len(regions):
                assert failure is not None
                raise _stamp(failure, started)
    finally:
        if timer is not None:
            timer.cancel()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)  # their connections are closed


def _stamp(error: BaseException, started: list[str]) -> BaseException:
    if isinstance(error, _Failure):
        error.regions = tuple(started)
    return error
