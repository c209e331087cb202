"""The entry point of the client-side cross-partition pipeline (see the package docstring): the pager
``ContainerProxy.query_items`` builds, which takes the direct path first and runs the pipeline after
a 400/1004 or when resuming one of its tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

from .._feeds.core import query_body
from .._feeds.paging import AsyncItemPaged
from .._wire import codec
from .._wire.results import Page
from ..diagnostics import RangeRequests
from ..exceptions import BadRequest, InvalidContinuationToken, ValidationError
from .aggregation import aggregate_pages, dcount_pages, group_by_pages
from .fanout import QueryTarget, Run
from .hybrid import HYBRID_TOKEN, hybrid_pages, refuse_hybrid_resume
from .plan import QueryPlan, cached_plan, plan_from_not_servable, plan_request_headers, remember_plan
from .tokens import ENGINE_TOKEN_PREFIX, OLD_ENGINE_TOKEN_PREFIXES, State
from .vector import NON_STREAMING_TOKEN, non_streaming_pages, refuse_resume

if TYPE_CHECKING:
    from .._feeds.core import ClientCore

__all__ = ["DEFAULT_MAX_CONCURRENCY", "QueryTarget", "QueryPaged", "check_max_concurrency", "closing",
           "cross_partition_pager"]

DEFAULT_MAX_CONCURRENCY: Final = 8
_NOT_SERVABLE: Final = 1004


@asynccontextmanager
async def closing(iterator: AsyncIterator[Any]) -> AsyncIterator[AsyncIterator[Any]]:
    """Close an async generator when the ``async with`` ends (an abandoned page iteration closes the
    inner one at once, which cancels and awaits the pages it was fetching ahead)."""
    try:
        yield iterator
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


class QueryPaged(AsyncItemPaged[Any]):
    """The pager of a cross-partition query: the direct path first; the client-side pipeline after
    a 400/1004 (or when resuming one of its tokens)."""

    __slots__ = ("_target",)

    def __init__(self, direct: AsyncItemPaged[Any], target: QueryTarget) -> None:
        super().__init__(direct._fetch, direct._fingerprint)
        self._trace = direct._trace
        self._target = target

    async def _iter_pages(self, token: str | None) -> AsyncIterator[Page[Any]]:
        if token is not None:
            if token.startswith(NON_STREAMING_TOKEN):
                raise refuse_resume()
            if token.startswith(HYBRID_TOKEN):
                raise refuse_hybrid_resume()
            if token.startswith(OLD_ENGINE_TOKEN_PREFIXES):
                raise InvalidContinuationToken("the query continuation token comes from an older aiocosmos whose "
                                               "cross-partition tokens cannot be resumed exactly; restart the query")
            if token.startswith(ENGINE_TOKEN_PREFIX):
                state = State.decode(token)
                plan, charge = await self._plan(None)
                async with closing(self._engine_pages(plan, state, charge)) as pages:
                    async for page in pages:
                        yield page
                return
            async with closing(super()._iter_pages(token)) as direct_pages:
                async for page in direct_pages:
                    yield page
            return
        if self._target.ranked_search:
            # Full-text and hybrid search: the service answers them sent as they are with a 500 (azure-cosmos
            # then asks for the plan); ask for it at once, as the .NET SDK always does.
            plan, charge = await self._plan(None)
            async with closing(self._engine_pages(plan, None, charge)) as pages:
                async for page in pages:
                    yield page
            return
        fetch = self._fetch
        try:
            first = await fetch(None)
        except BadRequest as exc:
            if exc.sub_status != _NOT_SERVABLE:
                raise
            plan, charge = await self._plan(exc)
            # The first page carries the refused attempt's charge and the plan request's.
            async with closing(self._engine_pages(plan, None, exc.request_charge + charge)) as pages:
                async for page in pages:
                    yield page
            return
        replayed = [first]

        async def replay(continuation: str | None) -> tuple[list[Any], Mapping[str, str], int]:
            if continuation is None and replayed:
                return replayed.pop()
            return await fetch(continuation)

        async with closing(AsyncItemPaged(replay, self._fingerprint)._iter_pages(None)) as replayed_pages:
            async for page in replayed_pages:
                yield page

    async def _plan(self, error: BadRequest | None) -> tuple[QueryPlan, float]:
        """The plan (cached, from the 400/1004 answer, or asked for) and the charge of asking for it."""
        target = self._target
        plan = cached_plan(target.core, target.link, target.body)
        if plan is not None:
            return plan, 0.0
        plan = plan_from_not_servable(error) if error is not None else None
        charge = 0.0
        if plan is None:
            _, headers, data = await target.core.request(
                "POST", target.docs_path, "docs", target.link, headers=plan_request_headers(), body=target.body,
                idempotent=True, timeout=target.timeout,
            )
            charge = float(headers.get("x-ms-request-charge") or 0.0)
            plan = QueryPlan.from_json(codec.loads(data) if data else None)
        remember_plan(target.core, target.link, target.body, plan)
        return plan, charge

    async def _engine_pages(self, plan: QueryPlan, state: State | None, charge: float) -> AsyncIterator[Page[Any]]:
        run = Run(self._target, plan, state)
        carried = charge
        skipped: Mapping[str, str] = {}  # the range requests of empty pages not given out (diagnostics)
        try:
            async for items, headers, next_state in _run_pages(run):
                if isinstance(headers, RangeRequests):
                    headers = headers.absorb(skipped)
                if not items and next_state is not None:
                    carried += float(headers.get("x-ms-request-charge") or 0.0)
                    skipped = headers
                    continue
                yield Page(items, headers, 200, None if next_state is None else self._encode(next_state), carried)
                carried, skipped = 0.0, {}
        finally:
            await run.close()


async def _run_pages(run: Run) -> AsyncIterator[tuple[list[Any], dict[str, str], str | None]]:
    """The pages of one run: (items, headers with the request charge, next state or None)."""
    await run.prepare()
    if run.plan.hybrid is not None:
        async for page in hybrid_pages(run):
            yield page
    elif run.plan.non_streaming:
        async for page in non_streaming_pages(run):
            yield page
    elif run.plan.dcount_alias is not None:
        async for page in dcount_pages(run):
            yield page
    elif run.plan.group_by:
        async for page in group_by_pages(run):
            yield page
    elif run.plan.aggregated:
        async for page in aggregate_pages(run):
            yield page
    elif run.plan.order_by:
        async for page in run.ordered():
            yield page
    else:
        async for page in run.streaming():
            yield page


def cross_partition_pager(
    core: ClientCore,
    link: str,
    coll_path: str,
    docs_path: str,
    direct: AsyncItemPaged[Any],
    query: str,
    parameters: Sequence[Mapping[str, Any]] | None,
    headers: Mapping[str, str],
    max_item_count: int | None,
    max_concurrency: int | None,
    timeout: float | None,
) -> QueryPaged:
    """The pager of a cross-partition query (arguments already validated by ``core.feed``)."""
    target = QueryTarget(core, link, coll_path, docs_path, query, parameters, query_body(query, parameters),
                         dict(headers), max_item_count, check_max_concurrency(max_concurrency), timeout)
    return QueryPaged(direct, target)


def check_max_concurrency(max_concurrency: int | None) -> int:
    if max_concurrency is None:
        return DEFAULT_MAX_CONCURRENCY
    if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
        raise ValidationError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
    return max_concurrency
