"""``container.bulk_upsert(items)``: upsert every item through the bulk executor and sum it up."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from .executor import BulkExecution
from .results import BulkOperationResult, BulkSummary

if TYPE_CHECKING:
    from .._resources.container import ContainerProxy

__all__ = ["bulk_upsert"]


async def bulk_upsert(
    container: ContainerProxy, items: Iterable[Any] | AsyncIterable[Any], **options: Any
) -> BulkSummary:
    async def operations() -> AsyncIterator[tuple[str, tuple[Any]]]:
        if isinstance(items, AsyncIterable):
            async for item in items:
                yield ("upsert", (item,))
        else:
            for item in items:
                yield ("upsert", (item,))

    execution = BulkExecution(container, operations(), **options)
    failures: list[BulkOperationResult] = []
    total = 0
    async with execution:
        async for result in execution:
            total += 1
            if result.error is not None:
                failures.append(result)
    stats = execution.stats
    return BulkSummary(total, total - len(failures), len(failures), stats.request_charge, stats.throttles,
                       stats.retries, stats.elapsed, tuple(failures))
