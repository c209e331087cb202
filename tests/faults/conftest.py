"""Fixtures for fault tests: a FaultProxy in front of the session's local Cosmos server, clients that
talk through it (closed at teardown, with their pool checked), and an oracle that replays the retry
policy over what an escaped error reports."""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import aiocosmos
from aiocosmos._feeds.core import FEED_GONE_RETRIES
from aiocosmos._wire.retry import FailureKind, RetryState, classify_status
from aiocosmos.testing import FaultProxy, Injection
from tests.server import CosmosTestServer

SEED = 20240611


@pytest.fixture
async def proxy(cosmos_server: CosmosTestServer) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(cosmos_server.url, seed=SEED) as fault_proxy:
        yield fault_proxy


ClientFactory = Callable[..., aiocosmos.CosmosClient]


@pytest.fixture
async def make_client(
    proxy: FaultProxy, cosmos_server: CosmosTestServer, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[ClientFactory]:
    """``make_client(clock=None, url=proxy.url, **ClientOptions fields)``: a client through the proxy.

    At teardown no client may have a connection still in use; then all are closed, garbage is
    collected, and asyncio must not have reported an unclosed session or connector. (A ResourceWarning
    fails the test by itself: the suite runs with warnings as errors.)"""
    caplog.set_level(logging.ERROR, logger="asyncio")
    clients: list[aiocosmos.CosmosClient] = []

    def factory(*, clock: Any = None, url: str | None = None, credential: Any = None,
                **options: Any) -> aiocosmos.CosmosClient:
        client = aiocosmos.CosmosClient(url or proxy.url, credential=credential or cosmos_server.key, clock=clock,
                                        options=aiocosmos.ClientOptions(**options))
        clients.append(client)
        return client

    yield factory
    leaks = {repr(c): pool_state(c)[0] for c in clients if pool_state(c)[0]}
    for client in clients:
        await client.close()
    clients.clear()
    gc.collect()
    await asyncio.sleep(0)
    assert not leaks, f"connections still in use at the end of the test: {leaks}"
    records = [r for when in ("setup", "call", "teardown") for r in caplog.get_records(when)]  # type: ignore[arg-type]
    unclosed = [r.getMessage() for r in records if "nclosed" in r.getMessage()]
    assert unclosed == [], unclosed
    crashes = [r.getMessage() for r in records if r.name.startswith("aiohttp.server") and r.exc_info]
    assert crashes == [], f"the fault proxy failed handling requests: {crashes}"


@pytest.fixture
async def fresh_container(client: aiocosmos.CosmosClient) -> AsyncIterator[aiocosmos.ContainerProxy]:
    """A /pk container in a fresh database, made with the direct (unproxied) session client."""
    database = await client.create_database(f"faults-{uuid.uuid4().hex[:10]}")
    container = await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
    yield container
    await client.delete_database(database)


def through(client: aiocosmos.CosmosClient, container: aiocosmos.ContainerProxy) -> aiocosmos.ContainerProxy:
    """The same container, addressed through another client (e.g. one behind the proxy)."""
    return client.get_database_client(container.database.id).get_container_client(container.id)


def pool_state(client: aiocosmos.CosmosClient) -> tuple[int, int]:
    """(connections in use, idle connections in the pool) of the client's own aiohttp connector."""
    http = client._http
    if http is None or http.closed:
        return 0, 0
    connector: Any = http.connector
    return len(connector._acquired), sum(len(conns) for conns in connector._conns.values())


async def all_items(container: aiocosmos.ContainerProxy) -> list[dict[str, Any]]:
    return [item async for item in container.read_all_items(max_item_count=1000)]


# -- the oracle: would the retry policy have absorbed this error? ----------------------------------


def check_escape(
    error: BaseException,
    *,
    idempotent: bool,
    policy: aiocosmos.RetryPolicy,
    injections: dict[str, Injection],
) -> str:
    """Assert that ``error`` escaped where the retry policy says it must, and return a label for it.

    The attempts the error reports are replayed through ``policy``: HTTP attempts are looked up in the
    proxy's log by activity id (so their status, substatus and retry-after are known), the others
    (``attempts`` minus activity ids) were connection failures. Every failure but the last must be one
    the policy retries, and the last one it must refuse. Counts, not order, decide every retry budget,
    so the unknown order of connection failures among HTTP ones does not matter.
    """
    assert isinstance(error, aiocosmos.CosmosError), f"not a CosmosError: {error!r}"
    assert not isinstance(error, aiocosmos.OperationTimeout), f"no deadline was set, yet: {error!r}"
    unknown = [a for a in error.activity_ids if a not in injections]
    assert not unknown, f"{error!r} has attempts the proxy did not fault (a real upstream error?): {unknown}"
    http = [injections[a] for a in error.activity_ids]
    connection_failures = error.attempts - len(http)
    assert connection_failures >= 0, error
    if isinstance(error, aiocosmos.Gone) and error.sub_status in (1002, 1007, 1008) and idempotent:
        # A feed page: fetched FEED_GONE_RETRIES more times after 410, each a whole pipeline run.
        gone = [i for i in http if i.status == 410]
        assert len(gone) == FEED_GONE_RETRIES + 1, (error, gone)
        return f"410/{error.sub_status} x{len(gone)}"
    ambiguous = (FailureKind.AMBIGUOUS, None)
    steps = [(classify_status(i.status or 0, i.sub_status or 0),
              None if i.retry_after_ms is None else i.retry_after_ms / 1000.0) for i in http]
    if isinstance(error, aiocosmos.HttpResponseError):
        assert http and http[-1].activity_id == error.activity_id
        steps = [ambiguous] * connection_failures + steps
    else:
        assert isinstance(error, aiocosmos.ReadError), f"unexpected transport error {error!r}"
        assert connection_failures >= 1
        steps = steps + [ambiguous] * connection_failures
    # A request that may be replayed and failed on a reused pooled connection before any answer (a
    # stale connection) is sent again once at once, outside the budget: one connection failure may
    # have been that free attempt.
    free = (0, 1) if connection_failures and idempotent else (0,)
    verdicts = [_replay_policy(steps, free_connection_failures=n, idempotent=idempotent, policy=policy)
                for n in free]
    assert "ok" in verdicts, f"{verdicts[0]}: {error!r} (steps {steps})"
    return type(error).__name__ if isinstance(error, aiocosmos.TransportError) else \
        f"{error.status_code}/{error.sub_status}"  # type: ignore[attr-defined]


def _replay_policy(
    steps: list[tuple[FailureKind, float | None]], *, free_connection_failures: int, idempotent: bool,
    policy: aiocosmos.RetryPolicy,
) -> str:
    """Whether ``policy`` retries every step but the last and refuses the last ("ok"), or what it did."""
    ambiguous = (FailureKind.AMBIGUOUS, None)
    steps = list(steps)
    for _ in range(free_connection_failures):
        steps.remove(ambiguous)
    if not steps:
        return "no failure left to refuse"
    state = RetryState()
    for kind, retry_after in steps[:-1]:
        if policy.next_delay(state, kind, idempotent=idempotent, retry_after=retry_after, jitter=0.0) is None:
            return "the client retried after the policy would have stopped"
    kind, retry_after = steps[-1]
    if policy.next_delay(state, kind, idempotent=idempotent, retry_after=retry_after, jitter=0.0) is not None:
        return "the policy should have absorbed it"
    return "ok"


def says_what_happened(error: aiocosmos.CosmosError) -> None:
    """The error's text names the failure, the attempts, and whether the request may have been applied."""
    text = str(error)
    assert f"attempts={error.attempts}" in text, text  # type: ignore[attr-defined]
    if isinstance(error, aiocosmos.HttpResponseError):
        assert f"[{error.status_code}/{error.sub_status}]" in text
        assert ("the request may have been applied" in text) == error.may_have_been_applied
        assert error.activity_id and error.activity_id in text
    elif isinstance(error, aiocosmos.TransportError):
        assert ("may have reached the server" in text) == error.may_have_reached_server
        assert error.may_have_been_applied == error.may_have_reached_server
