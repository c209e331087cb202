"""The bulk executor through the fault proxy, in front of the local server: mixed faults, an RU
budget and a split. Every operation gets exactly one result, and the server holds exactly what the
results say."""

from __future__ import annotations

from typing import Any

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy
from tests.faults.conftest import ClientFactory, all_items, through


def doc(i: int, pad: int = 200) -> dict[str, Any]:
    return {"id": f"d{i}", "pk": f"p{i % 13}", "n": i, "pad": "x" * pad}


async def test_upserts_under_mixed_faults_and_a_split_end_exact(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    proxy.add_rule(Fault.gone(1002, split_into=2), kinds="batch", times=1, skip=3)
    proxy.add_rule(Fault.throttle(retry_after_ms=20), Fault.unavailable(apply=True), Fault.reset_after(),
                   Fault.truncate(), Fault.reset_before(), Fault.timeout(apply=False),
                   kinds="batch", probability=0.25)
    client = make_client()
    container = through(client, fresh_container)
    n = 3000
    # 8 KB documents: about 27 per request (the 220,201-byte batch limit), so some 110 batch requests
    # whatever the timing, and a 25 % fault rule fires well over 10 times. With small documents the
    # executor packs 100 per request and the count of faults depended on the timing.
    execution = container.bulk(("upsert", (doc(i, pad=8000),)) for i in range(n))
    results = [r async for r in execution]
    assert sorted(r.index for r in results) == list(range(n))
    failed = [r for r in results if not r.succeeded]
    assert failed == [], failed[:3]
    counts = proxy.counts()
    assert counts["410/1002+split2"] == 1 and execution.stats.splits >= 1
    assert sum(counts.values()) > 10
    assert any(r.replayed for r in results)
    stored = {d["id"]: d for d in await all_items(fresh_container)}
    assert len(stored) == n
    assert all(stored[f"d{i}"]["n"] == i for i in range(n))


async def test_creates_under_ambiguous_faults_all_succeed_once_by_replaying_and_reading_back(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    proxy.add_rule(Fault.unavailable(apply=True), Fault.reset_after(), Fault.throttle(retry_after_ms=10),
                   Fault.reset_before(), Fault.truncate(), kinds="batch", probability=0.3)
    container = through(make_client(), fresh_container)
    n = 1500
    results = [r async for r in container.bulk(("create", (doc(i),)) for i in range(n))]
    assert sorted(r.index for r in results) == list(range(n))
    failed = [r for r in results if not r.succeeded]
    assert failed == [], failed[:3]
    assert all(r.status_code == 201 for r in results)
    resolved = [r for r in results if r.applied_earlier]
    assert resolved and all(r.replayed for r in resolved), "some replays must have met their own item"
    assert all(r.resource_body and r.resource_body["n"] == int(r.item_id[1:]) for r in resolved)
    stored = [d["id"] for d in await all_items(fresh_container)]
    assert sorted(stored) == sorted(f"d{i}" for i in range(n))  # each once: nothing doubled or lost


async def test_creates_under_ambiguous_faults_are_never_doubled_or_hidden_with_the_strict_switch(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    proxy.add_rule(Fault.unavailable(apply=True), Fault.reset_after(), Fault.throttle(retry_after_ms=10),
                   Fault.reset_before(), kinds="batch", probability=0.3)
    container = through(make_client(retry=aiocosmos.RetryPolicy(replay_idempotent_writes=False)), fresh_container)
    n = 1500
    results = [r async for r in container.bulk(("create", (doc(i),)) for i in range(n))]
    assert sorted(r.index for r in results) == list(range(n))
    ok = {r.item_id for r in results if r.succeeded}
    unknown = {r.item_id for r in results if not r.succeeded}
    assert all(r.status_code == 201 for r in results if r.succeeded)
    assert all(r.may_have_been_applied and not r.replayed for r in results if not r.succeeded)
    assert unknown, "with 30 % of batches faulted some creates must end ambiguous"
    stored = {d["id"] for d in await all_items(fresh_container)}
    assert ok <= stored                       # every reported success is there
    assert stored <= ok | unknown             # nothing is there that was reported as not applied
    assert not any(r.status_code == 409 for r in results)  # no create was sent twice


async def test_throttled_by_an_ru_budget_nothing_is_lost(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    def charge(request: Any) -> float:
        if request.kind == "batch":
            return 1.0 * request.body.count(b'"operationType"')
        return 0.0

    budget = proxy.set_budget(2000, burst=400, charges=charge)
    container = through(make_client(), fresh_container)
    n = 2400
    execution = container.bulk(("upsert", (doc(i),)) for i in range(n))
    results = [r async for r in execution]
    assert len(results) == n and all(r.succeeded for r in results)
    assert budget.throttled > 0 and execution.stats.throttles == budget.throttled
    assert len(await all_items(fresh_container)) == n


async def test_requests_refused_413_3402_end_succeeded_in_smaller_requests(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    # The service answers 413/3402 when a bulk response would pass its 4 MB limit (large documents
    # read back, for example): here, every batch of more than 20 operations.
    sizes: list[int] = []

    def large(request: Any) -> bool:
        sizes.append(request.body.count(b'"operationType"'))
        return sizes[-1] > 20

    proxy.add_rule(Fault.status_code(413, sub_status=3402), kinds="batch", where=large)
    container = through(make_client(), fresh_container)
    n = 1000
    execution = container.bulk(("create", (doc(i),)) for i in range(n))
    results = [r async for r in execution]
    assert len(results) == n and all(r.status_code == 201 for r in results), \
        [r for r in results if r.status_code != 201][:3]
    refused = proxy.counts()["413/3402"]
    # Halved at once, then one operation more per answered request: at most one request in four refused.
    assert 0 < refused == sum(size > 20 for size in sizes) <= len(sizes) // 4, sizes
    stored = {d["id"]: d for d in await all_items(fresh_container)}
    assert len(stored) == n and all(stored[f"d{i}"]["n"] == i for i in range(n))


async def test_a_split_whose_range_reread_is_briefly_unavailable_loses_nothing(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    # The re-read of the ranges after the split gets 503 five times: the client's policy (here six
    # transient retries) rides it out and every operation succeeds.
    container = through(make_client(retry=aiocosmos.RetryPolicy(max_transient_retries=6, backoff_base=0.01)),
                        fresh_container)
    await container.read_feed_ranges()  # the routing map is cached: the next pkranges read is the re-read
    proxy.add_rule(Fault.gone(1002, split_into=2), kinds="batch", times=1)
    proxy.add_rule(Fault.unavailable(), kinds="pkranges", times=5)
    n = 600
    execution = container.bulk(("upsert", (doc(i),)) for i in range(n))
    results = [r async for r in execution]
    assert sorted(r.index for r in results) == list(range(n))
    assert all(r.succeeded for r in results), [r for r in results if not r.succeeded][:3]
    assert proxy.counts() == {"410/1002+split2": 1, "503/0": 5}
    assert execution.stats.splits == 1
    stored = {d["id"]: d for d in await all_items(fresh_container)}
    assert len(stored) == n and all(stored[f"d{i}"]["n"] == i for i in range(n))


async def test_a_split_whose_range_reread_fails_for_good_gives_every_operation_its_result(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    # After the split every read of the ranges gets 503: the operations of the moved range cannot be
    # routed. Each still gets exactly one result: a 410 that was not applied, caused by the 503.
    container = through(make_client(), fresh_container)
    await container.read_feed_ranges()
    proxy.add_rule(Fault.gone(1002, split_into=2), kinds="batch", times=1, skip=1)
    proxy.add_rule(Fault.unavailable(), kinds="pkranges")
    n = 600
    execution = container.bulk(("create", (doc(i),)) for i in range(n))
    results = [r async for r in execution]
    assert sorted(r.index for r in results) == list(range(n))
    failed = [r for r in results if not r.succeeded]
    assert failed, "the operations after the split cannot have been routed"
    for r in failed:
        assert (r.status_code, r.sub_status) == (410, 1002), r
        assert isinstance(r.error, aiocosmos.Gone) and not r.may_have_been_applied
        assert isinstance(r.error.__cause__, aiocosmos.ServiceUnavailable)
        assert "re-reading the partition key ranges failed" in str(r.error)
    assert proxy.counts()["503/0"] >= 4  # at least one re-read, retried under the default policy
    stored = {d["id"] for d in await all_items(fresh_container)}
    assert stored == {r.item_id for r in results if r.succeeded}
