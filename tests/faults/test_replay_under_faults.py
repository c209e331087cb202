"""Writes that are safe to replay, under faults, with no retry loop in the application.

5,000 unconditional upserts and 5,000 creates go through a FaultProxy that faults a fifth of the
write requests with a mix of refusals (429, 449), slow answers, stale pooled connections
(``stale_connection``: the next request on the connection is dropped unread; ``close_after``: the
proxy closes the connection once it is idle in the pool) and ambiguous failures before and after
the write was applied (503, 500, 408, resets, truncated answers). Every call succeeds; the server
holds exactly the documents, none doubled; and each result's ``replayed`` flag matches what the
proxy logged for that document, one for one.

Only failures that refuse the write (429, 449) or may have applied it (408/500/503, connection
faults) are in the mix: 403/3 and 410 are answers the client must surface for a point write.

The retry budget is raised from the default 3 transient retries to 6: with these weights about 12 %
of attempts fail with a transient fault, so the chance that one operation meets 4 in a row is
0.118^4 = 1.9e-4, about 2 failures expected in 10,000 operations with the default budget (the
policy's correct answer, not a defect). With 6 it is 0.118^7 = 3e-7. The backoff is shortened so
the run stays within the time limit; the rule is the default one.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy, Injection, ProxyRequest
from tests.faults.conftest import ClientFactory, all_items, through

N_DOCUMENTS = 5000
WORKERS = 48
POLICY = aiocosmos.RetryPolicy(max_transient_retries=6, backoff_base=0.01, backoff_cap=0.05)

MIX = [Fault.throttle(retry_after_ms=5), Fault.retry_with(), Fault.slow_headers(0.02), Fault.slow_body(0.005),
       Fault.stale_connection(), Fault.close_after(),
       Fault.timeout(apply=True), Fault.internal_error(), Fault.unavailable(apply=True), Fault.unavailable(),
       Fault.reset_before(), Fault.reset_after(), Fault.reset_mid_body(), Fault.truncate()]
WEIGHTS = [3, 2, 1, 1, 2, 2] + [1] * 8
AMBIGUOUS_STATUSES = frozenset({408, 500, 502, 503, 504})


def document(n: int) -> dict[str, Any]:
    return {"id": f"doc-{n:05d}", "pk": f"p{n % 50}", "n": n, "tags": ["a", n % 7]}


def ambiguous(injection: Injection) -> bool:
    """Whether the client, seeing this fault, cannot know if the write was applied."""
    return injection.status is None or injection.status in AMBIGUOUS_STATUSES


class Ledger:
    """Which document each proxied write was, by the proxy's request identity."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.by_identity: dict[str, int] = {}
        self.arrivals: defaultdict[int, int] = defaultdict(int)
        proxy.observers.append(self.observe)

    def observe(self, request: ProxyRequest) -> None:
        if request.kind == "write":
            n = orjson.loads(request.body)["n"]
            self.by_identity[request.identity] = n
            self.arrivals[n] += 1

    def injections(self, proxy: FaultProxy) -> defaultdict[int, list[Injection]]:
        per_document: defaultdict[int, list[Injection]] = defaultdict(list)
        for injection in proxy.log:
            if injection.request_kind == "write":
                per_document[self.by_identity[injection.identity]].append(injection)
        return per_document


async def run(count: int, call: Callable[[int], Coroutine[Any, Any, aiocosmos.ResourceResponse]]
              ) -> dict[int, aiocosmos.ResourceResponse]:
    """``call(n)`` for every n, WORKERS at a time, once each: no retry loop. Any error fails the test."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    results: dict[int, aiocosmos.ResourceResponse] = {}

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            results[n] = await call(n)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return results


def check_replayed_flags(
    proxy: FaultProxy, ledger: Ledger, results: dict[int, aiocosmos.ResourceResponse]
) -> tuple[int, int]:
    """Every document the proxy hit with an ambiguous fault says ``replayed``; so does no other one,
    but for requests lost on a connection the proxy had closed (``close_after``): such a request never
    reaches the proxy, so it cannot log it. Returns (replayed, lost)."""
    per_document = ledger.injections(proxy)
    expected = {n for n, injections in per_document.items() if any(map(ambiguous, injections))}
    flagged = {n for n, result in results.items() if result.replayed}
    missing = expected - flagged
    assert not missing, f"{len(missing)} documents hit by an ambiguous fault are not marked replayed: " \
                        f"{[(n, [i.fault for i in per_document[n]]) for n in sorted(missing)[:5]]}"
    lost = flagged - expected
    closed = proxy.counts()["close_after"]
    assert len(lost) <= closed, f"{len(lost)} replays the proxy did not cause (it closed {closed} connections)"
    assert expected, "the mix injected no ambiguous fault"
    return len(flagged), len(lost)


async def test_5000_unconditional_upserts_through_a_fifth_of_faults_all_succeed_without_a_retry_loop(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    container = through(make_client(retry=POLICY), fresh_container)
    await container.read()  # the partition-key definition, before the faults start
    ledger = Ledger(proxy)
    proxy.add_rule(*MIX, weights=WEIGHTS, kinds="write", probability=0.2, name="mix")

    started = time.monotonic()
    results = await run(N_DOCUMENTS, lambda n: container.upsert_item(document(n)))
    elapsed = time.monotonic() - started

    for n, result in results.items():
        assert {k: result[k] for k in ("id", "pk", "n", "tags")} == document(n)
        assert not result.applied_earlier
    stored = await all_items(fresh_container)
    assert len(stored) == N_DOCUMENTS
    assert {d["id"]: (d["pk"], d["n"], d["tags"]) for d in stored} == {
        d["id"]: (d["pk"], d["n"], d["tags"]) for d in map(document, range(N_DOCUMENTS))}
    replayed, lost = check_replayed_flags(proxy, ledger, results)

    faulted = sum(1 for i in proxy.log if not i.fault.endswith(":armed"))
    share = faulted / proxy.requests
    print(f"\n5000 upserts: {proxy.requests} requests, {faulted} faulted ({share:.1%}), {replayed} replayed "
          f"({lost} lost on closed connections), {elapsed:.1f}s; {dict(proxy.counts())}")
    assert 0.15 < share < 0.25
    assert set(proxy.counts()) >= {f.label for f in MIX}


async def test_5000_creates_through_a_fifth_of_faults_all_succeed_once_without_a_retry_loop(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
) -> None:
    """Half the creates let the client generate the id (it is generated once, so a replay carries it)."""
    container = through(make_client(retry=POLICY), fresh_container)
    await container.read()
    ledger = Ledger(proxy)
    proxy.add_rule(*MIX, weights=WEIGHTS, kinds="write", probability=0.2, name="mix")

    def create(n: int) -> Coroutine[Any, Any, aiocosmos.ResourceResponse]:
        body = document(n)
        if n % 2:
            del body["id"]
            return container.create_item(body, enable_automatic_id_generation=True)
        return container.create_item(body)

    started = time.monotonic()
    results = await run(N_DOCUMENTS, create)
    elapsed = time.monotonic() - started

    for n, result in results.items():
        assert (result["pk"], result["n"], result["tags"]) == (f"p{n % 50}", n, ["a", n % 7])
        assert n % 2 or result["id"] == f"doc-{n:05d}"
    stored = await all_items(fresh_container)
    assert len(stored) == N_DOCUMENTS, "a create was doubled or lost"
    assert sorted(d["n"] for d in stored) == list(range(N_DOCUMENTS))
    assert {d["id"]: d["n"] for d in stored} == {r["id"]: n for n, r in results.items()}
    replayed, lost = check_replayed_flags(proxy, ledger, results)

    # A create resolved by reading back is exactly one an ambiguous fault hit after the proxy let it through.
    per_document = ledger.injections(proxy)
    applied = {n for n, injections in per_document.items() if any(i.applied and ambiguous(i) for i in injections)}
    resolved = {n for n, r in results.items() if r.applied_earlier}
    assert resolved == applied
    assert all(results[n].replayed for n in resolved)
    assert len(resolved) > 50

    faulted = sum(1 for i in proxy.log if not i.fault.endswith(":armed"))
    print(f"\n5000 creates: {proxy.requests} requests, {faulted} faulted ({faulted / proxy.requests:.1%}), "
          f"{replayed} replayed ({lost} lost on closed connections), {len(resolved)} resolved by reading back, "
          f"{elapsed:.1f}s")
    assert set(proxy.counts()) >= {f.label for f in MIX}
