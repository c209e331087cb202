"""Writes under faults with the strict switch: nothing lost, nothing doubled, and every failure says
what happened.

These tests run with ``RetryPolicy(replay_idempotent_writes=False)``, the strict rule; the default,
which replays unconditional upserts, creates and deletes, is tested in test_replay_under_faults.py.
Semantics these tests pin down: a write is retried only after failures that
say it was not applied (429, 449, a connection that could not be made). After any other failure
(408, 500, 502, 503, 504, a connection lost after the request was sent, a truncated answer) the write
is never replayed -- not by aiocosmos and not by aiohttp -- and the error's ``may_have_been_applied``
is True and its text says "may have been applied" (HTTP answers) or "may have reached the server"
(no answer). Upserts are idempotent, so an application may simply upsert again; after a failed
create, create again and treat 409 Conflict as "it was applied the first time".
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import orjson

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy, ProxyRequest
from tests.faults.conftest import ClientFactory, all_items, check_escape, says_what_happened, through

N_DOCUMENTS = 5000
WORKERS = 32
STRICT = aiocosmos.RetryPolicy(replay_idempotent_writes=False)

# Fault mix for writes, by weight; with probability 0.2 a write request gets one of them.
ABSORBED = [Fault.throttle(retry_after_ms=5), Fault.retry_with(), Fault.slow_headers(0.02),
            Fault.slow_body(0.005), Fault.stale_connection()]
SURFACED = [Fault.timeout(apply=True), Fault.internal_error(), Fault.unavailable(apply=True),
            Fault.unavailable(), Fault.write_forbidden(), Fault.gone(1002), Fault.reset_before(),
            Fault.reset_after(), Fault.reset_mid_body(), Fault.truncate()]
WRITE_MIX = [*ABSORBED, *SURFACED]
WRITE_WEIGHTS = [3, 2, 1, 1, 1] + [1] * len(SURFACED)


def document(n: int, version: int = 0) -> dict[str, Any]:
    return {"id": f"doc-{n:05d}", "pk": f"p{n % 50}", "n": n, "version": version, "tags": ["a", n % 7]}


async def test_5000_upserts_with_a_fifth_of_the_requests_faulted(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    client: aiocosmos.CosmosClient,
) -> None:
    """Afterwards the server holds exactly the 5,000 documents, each once, with the right content; every
    call either succeeded or raised an error the retry policy says must surface, and that says what
    happened; and the errors match what the proxy injected one for one."""
    policy = STRICT
    container = through(make_client(retry=policy), fresh_container)
    await container.read()  # the partition-key definition, before the faults start
    proxy.add_rule(*WRITE_MIX, weights=WRITE_WEIGHTS, kinds="write", probability=0.2, name="mix")

    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(N_DOCUMENTS):
        queue.put_nowait(n)
    calls = 0
    errors: list[aiocosmos.CosmosError] = []
    results: dict[str, Any] = {}

    async def worker() -> None:
        nonlocal calls
        while not queue.empty():
            n = queue.get_nowait()
            body = document(n)
            for _ in range(20):  # the application's own loop: an upsert may simply be sent again
                calls += 1
                try:
                    result = await container.upsert_item(body)
                except aiocosmos.CosmosError as exc:
                    errors.append(exc)
                    continue
                assert dict(result.body, _rid=None, _self=None, _etag=None, _ts=None) == dict(
                    body, _rid=None, _self=None, _etag=None, _ts=None)
                results[body["id"]] = result
                break
            else:
                raise AssertionError(f"document {n} could not be written in 20 calls")

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    elapsed = time.monotonic() - started

    # Every error is one the policy must surface, and says what happened.
    injections = {i.activity_id: i for i in proxy.log if i.activity_id}
    labels = Counter(check_escape(e, idempotent=False, policy=policy, injections=injections) for e in errors)
    for error in errors:
        says_what_happened(error)
        assert error.may_have_been_applied == (
            isinstance(error, aiocosmos.TransportError) or error.status_code in (408, 500, 503)  # type: ignore[attr-defined]
        )

    # One error per terminal fault the proxy injected, and none without one.
    terminal = [i for i in proxy.log if i.status is None or i.status not in (200, 201, 429, 449)]
    http_errors = [e for e in errors if isinstance(e, aiocosmos.HttpResponseError)]
    assert sorted(e.activity_id or "" for e in http_errors) == sorted(
        i.activity_id or "" for i in terminal if i.status is not None)
    assert sum(isinstance(e, aiocosmos.ReadError) for e in errors) == sum(i.status is None for i in terminal)

    # The server holds exactly the documents, each once, with their content.
    stored = await all_items(fresh_container)
    assert len(stored) == N_DOCUMENTS
    assert {d["id"]: (d["pk"], d["n"], d["version"], d["tags"]) for d in stored} == {
        d["id"]: (d["pk"], d["n"], d["version"], d["tags"]) for d in map(document, range(N_DOCUMENTS))}
    assert len(results) == N_DOCUMENTS

    faulted = sum(1 for i in proxy.log if not i.fault.endswith(":armed"))
    share = faulted / proxy.requests
    print(f"\n5000 upserts: {calls} calls, {proxy.requests} requests, {faulted} faulted ({share:.1%}), "
          f"{len(errors)} errors surfaced {dict(labels)}, {elapsed:.1f}s")
    assert 0.15 < share < 0.25
    assert set(proxy.counts()) >= {f.label for f in WRITE_MIX}


AMBIGUOUS = [Fault.reset_after(), Fault.reset_mid_body(), Fault.truncate(), Fault.timeout(apply=True),
             Fault.unavailable(apply=True), Fault.internal_error(apply=True), Fault.reset_before(),
             Fault.unavailable()]


async def test_creates_after_an_ambiguous_failure_are_never_replayed_or_doubled(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    """Half the creates hit a failure after which the write may or may not have been applied. The client
    sends each create exactly once, reports success only for creates that were applied, and says "may
    have been applied" for the rest; the server holds exactly the successes plus the ones the proxy
    applied. The documented recovery (create again, 409 means it was applied) then ends with each id
    exactly once."""
    container = through(make_client(retry=STRICT), fresh_container)
    await container.read()
    creates: list[ProxyRequest] = []
    proxy.observers.append(lambda r: creates.append(r) if r.kind == "write" else None)
    is_auto = lambda r: orjson.loads(r.body).get("n", 0) % 2 == 1  # noqa: E731
    proxy.add_rule(*AMBIGUOUS, kinds="write", probability=0.5, where=is_auto, name="auto")
    proxy.add_rule(*AMBIGUOUS, kinds="write", probability=0.5, where=lambda r: not is_auto(r), name="explicit")

    outcomes: dict[str, bool] = {}  # explicit id -> succeeded
    auto_ids: list[str] = []
    failures: list[aiocosmos.CosmosError] = []

    async def create(n: int) -> None:
        auto = n % 2 == 1
        body = {"pk": "p", "n": n} if auto else {"id": f"c-{n}", "pk": "p", "n": n}
        try:
            result = await container.create_item(body, enable_automatic_id_generation=auto)
        except aiocosmos.CosmosError as exc:
            failures.append(exc)
            assert exc.may_have_been_applied, exc
            says_what_happened(exc)
            assert exc.attempts == 1, "an ambiguous create must not be replayed"  # type: ignore[attr-defined]
            if not auto:
                outcomes[body["id"]] = False
            return
        assert result["n"] == n
        if auto:
            auto_ids.append(result["id"])
        else:
            outcomes[result["id"]] = True

    await asyncio.gather(*(create(n) for n in range(400)))

    assert len(creates) == 400, "every create was sent exactly once (no silent replay by aiocosmos or aiohttp)"
    assert 150 < len(failures) < 250
    applied = Counter(i.rule for i in proxy.log if i.applied)
    stored = {d["id"]: d for d in await all_items(fresh_container)}
    # Every create reported as done is there, with its content ...
    assert all(stored[i]["n"] == int(i[2:]) for i, ok in outcomes.items() if ok)
    assert all(i in stored for i in auto_ids)
    # ... and beyond those, exactly the failed creates the proxy had applied: nothing doubled.
    numbers = Counter(d["n"] for d in stored.values())
    assert max(numbers.values()) == 1
    assert sum(1 for n in numbers if n % 2 == 1) == len(auto_ids) + applied["auto"]
    assert sum(1 for n in numbers if n % 2 == 0) == sum(outcomes.values()) + applied["explicit"]
    assert applied["auto"] > 10 and applied["explicit"] > 10

    # The documented recovery: create again; 409 Conflict means the first create was applied.
    proxy.clear_rules()
    for item_id, ok in outcomes.items():
        if ok:
            continue
        try:
            await container.create_item({"id": item_id, "pk": "p", "n": int(item_id[2:])})
            assert item_id not in stored
        except aiocosmos.Conflict:
            assert item_id in stored
    final = await all_items(fresh_container)
    assert sorted(d["id"] for d in final if d["n"] % 2 == 0) == sorted(f"c-{n}" for n in range(0, 400, 2))


async def test_a_patch_after_a_lost_answer_is_applied_exactly_once(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    container = through(make_client(), fresh_container)
    await container.create_item({"id": "counter", "pk": "p", "value": 0})
    for fault in (Fault.reset_after(), Fault.truncate(), Fault.timeout(apply=True), Fault.unavailable(apply=True)):
        proxy.add_rule(fault, kinds="write", times=1)
        try:
            await container.patch_item("counter", "p", [{"op": "incr", "path": "/value", "value": 1}])
            raise AssertionError(f"{fault.label}: the patch cannot have succeeded")
        except aiocosmos.CosmosError as exc:
            assert exc.may_have_been_applied and exc.attempts == 1  # type: ignore[attr-defined]
    assert (await container.read_item("counter", "p"))["value"] == 4  # four increments, each applied once
