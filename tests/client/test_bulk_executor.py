"""The bulk executor against a scripted partitioned server: routing by EPK to the right range,
per-operation 429s retried, whole-request 429s, splits (410/1002) re-routed, ambiguous failures,
and the congestion-control window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import pytest

import aiocosmos
from aiocosmos._bulk.ranges import RangeQueue
from aiocosmos._feeds.epk import effective_partition_key
from tests.client.conftest import DOCS_PATH, KEY
from tests.client.fake_partitions import FakePartitionedServer, epk_of
from tests.client.recording_server import Reply


class BulkServer(FakePartitionedServer):
    """Applies non-atomic batch requests to ``self.docs``, checking each operation's range."""

    def __init__(self) -> None:
        super().__init__(("20",))
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}
        self.applied: list[tuple[str, str]] = []
        self.misrouted: list[Any] = []
        self.throttle_once: set[str] = set()
        self.request_throttles = 0
        self.split_at_request: int | None = None
        self.drop_after_apply: set[int] = set()
        self.overwrite_after_drop: dict[tuple[str, str], dict[str, Any]] = {}
        self.batches = 0
        # As the service does: results past ``response_limit`` bytes are not applied, and answered 413/3402.
        self.response_limit: int | None = None
        self.reject_over: int | None = None  # whole requests of more operations: 413/3402
        self.stale_name_cache = 0  # the next N batch requests: 410/1000
        self.batch_sizes: list[int] = []

    def _default_reply(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if method == "POST" and path.rstrip("/") == DOCS_PATH and headers.get("x-ms-cosmos-is-batch-request"):
            return self._batch(headers, body)
        if method == "GET" and path.startswith(DOCS_PATH + "/"):  # a point read of a stored item
            key = (path.rpartition("/")[2], orjson.loads(headers["x-ms-documentdb-partitionkey"])[0])
            stored = self.docs.get(key)
            return Reply.error(404) if stored is None else Reply.json({**stored, "_etag": '"read"', "_ts": 1})
        return super()._default_reply(method, path, headers, body)

    def _batch(self, headers: Mapping[str, str], body: bytes) -> Reply:
        self.batches += 1
        assert headers["x-ms-cosmos-batch-atomic"] == "False"
        if self.split_at_request == self.batches:
            self.split("0", "10")
        range_id = headers["x-ms-documentdb-partitionkeyrangeid"]
        if range_id in self.gone:
            return Reply.error(410, sub_status=1002, message="range gone")
        if self.request_throttles:
            self.request_throttles -= 1
            return Reply.error(429, sub_status=3200, retry_after_ms=5)
        if self.stale_name_cache:
            self.stale_name_cache -= 1
            return Reply.error(410, sub_status=1000, message="name cache is stale")
        operations = orjson.loads(body)
        self.batch_sizes.append(len(operations))
        if self.reject_over is not None and len(operations) > self.reject_over:
            return Reply.error(413, sub_status=3402, message="response size would exceed the limit")
        live = self.ranges[range_id]
        results: list[dict[str, Any]] = []
        answered = 2
        for op in operations:
            if self.response_limit is not None and answered > self.response_limit:
                results.append({"statusCode": 413, "substatusCode": 3402, "requestCharge": 0})
                continue
            pk = orjson.loads(op["partitionKey"])[0]
            if not live.low <= epk_of(pk) < live.high:
                self.misrouted.append((range_id, pk))
            item_id = op.get("id") or op["resourceBody"]["id"]
            if item_id in self.throttle_once:
                self.throttle_once.discard(item_id)
                results.append({"statusCode": 429, "substatusCode": 3200, "retryAfterMilliseconds": 5,
                                "requestCharge": 0})
                continue
            key = (item_id, pk)
            if op["operationType"] == "Create" and key in self.docs:
                results.append({"statusCode": 409, "requestCharge": 1})
                continue
            if op["operationType"] == "Delete":
                found = self.docs.pop(key, None) is not None
                results.append({"statusCode": 204 if found else 404, "requestCharge": 1})
                continue
            self.docs[key] = op["resourceBody"]
            self.applied.append(key)
            results.append({"statusCode": 201 if op["operationType"] == "Create" else 200, "requestCharge": 5.5,
                            "eTag": f'"e{len(self.applied)}"', "resourceBody": op["resourceBody"]})
            answered += len(orjson.dumps(results[-1])) + 1
        if self.batches in self.drop_after_apply:
            self.docs.update(self.overwrite_after_drop)  # another writer, between the attempts
            return Reply.dropped()  # applied, then the connection drops: ambiguous
        return Reply.json(results, status=207 if any(r["statusCode"] >= 400 for r in results) else 200)


@pytest.fixture
async def bulk_server() -> AsyncIterator[BulkServer]:
    async with BulkServer() as server:
        yield server


@pytest.fixture
async def target(bulk_server: BulkServer) -> AsyncIterator[aiocosmos.ContainerProxy]:
    async with aiocosmos.CosmosClient(bulk_server.url, credential=KEY) as client:
        yield client.get_database_client("db").get_container_client("c")


def docs(n: int) -> list[dict[str, Any]]:
    return [{"id": f"i{k}", "pk": f"k{k % 37}", "v": k} for k in range(n)]


async def test_operations_go_to_the_range_that_holds_their_epk(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    summary = await target.bulk_upsert(docs(600))
    assert summary.ok and summary.total == 600
    assert bulk_server.misrouted == []
    used = {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in bulk_server.requests
            if r.headers.get("x-ms-cosmos-is-batch-request")}
    assert used == {"0", "1"}  # both ranges: the keys hash to both sides of "20"
    assert len(bulk_server.docs) == 600 and len(bulk_server.applied) == 600
    assert summary.request_charge == pytest.approx(600 * 5.5)


async def test_throttled_operations_inside_a_batch_are_retried_alone(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    bulk_server.throttle_once = {f"i{k}" for k in range(0, 300, 3)}
    execution = target.bulk(("create", (d,)) for d in docs(300))
    results = [r async for r in execution]
    assert sorted(r.index for r in results) == list(range(300))
    assert all(r.status_code == 201 for r in results), [r for r in results if r.status_code != 201][:3]
    assert len(bulk_server.applied) == 300 == len(set(bulk_server.applied))
    assert execution.stats.throttles == 100 and execution.stats.retries == 100
    assert {r.attempts for r in results if r.item_id in {f"i{k}" for k in range(0, 300, 3)}} == {2}


async def test_whole_request_429s_are_taken_by_the_executor(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    bulk_server.request_throttles = 5
    execution = target.bulk(("upsert", (d,)) for d in docs(250))
    results = [r async for r in execution]
    assert len(results) == 250 and all(r.succeeded for r in results)
    assert execution.stats.throttles == 5
    assert len(bulk_server.docs) == 250


def big_docs(n: int) -> list[dict[str, Any]]:
    return [{"id": f"i{k}", "pk": f"k{k % 37}", "v": k, "pad": "x" * 1500} for k in range(n)]


async def test_operations_past_the_response_size_limit_are_sent_again_at_once(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    # Results of about 1.6 KB and a 20 KB answer limit: each request of up to 100 operations has only
    # its first dozen applied; the others come back 413/3402, unapplied, and go in the next requests.
    bulk_server.response_limit = 20_000
    execution = target.bulk(("create", (d,)) for d in big_docs(300))
    results = [r async for r in execution]
    assert sorted(r.index for r in results) == list(range(300))
    assert all(r.status_code == 201 and r.error is None for r in results), \
        [r for r in results if r.status_code != 201][:3]
    assert len(bulk_server.applied) == 300 == len(set(bulk_server.applied))  # each create applied once
    assert execution.stats.retries > 0 and execution.stats.throttles == 0
    assert max(r.attempts for r in results) > 1 and not any(r.replayed for r in results)


async def test_a_whole_request_answered_413_3402_is_sent_again_in_smaller_requests(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    bulk_server.reject_over = 20
    execution = target.bulk(("create", (d,)) for d in big_docs(400))
    results = [r async for r in execution]
    assert len(results) == 400 and all(r.status_code == 201 for r in results)
    assert len(bulk_server.applied) == 400 == len(set(bulk_server.applied))
    rejected = [size for size in bulk_server.batch_sizes if size > 20]
    # 100 -> 50 -> 25 -> 12 per range, then one more per answered request: few requests are refused.
    assert 0 < len(rejected) < 20, bulk_server.batch_sizes


async def test_one_operation_whose_answer_is_too_large_fails_with_413_3402(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    bulk_server.reject_over = 0
    [result] = [r async for r in target.bulk([("create", (big_docs(1)[0],))])]
    assert isinstance(result.error, aiocosmos.RequestEntityTooLarge)
    assert (result.error.status_code, result.error.sub_status) == (413, 3402)
    assert not result.may_have_been_applied and bulk_server.applied == []


async def test_a_stale_name_cache_410_1000_is_sent_again(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    bulk_server.stale_name_cache = 3
    summary = await target.bulk_upsert(docs(150))
    assert summary.ok and summary.total == 150 and summary.retries > 0
    assert len(bulk_server.docs) == 150


async def test_a_split_reroutes_every_operation_exactly_once(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    bulk_server.split_at_request = 2
    execution = target.bulk(("create", (d,)) for d in docs(800))
    results = [r async for r in execution]
    assert sorted(r.index for r in results) == list(range(800))
    assert all(r.status_code == 201 for r in results)
    assert len(bulk_server.applied) == 800 == len(set(bulk_server.applied))
    assert bulk_server.misrouted == []
    assert execution.stats.splits >= 1
    used_after = {r.headers["x-ms-documentdb-partitionkeyrangeid"] for r in bulk_server.requests[-3:]
                  if r.headers.get("x-ms-cosmos-is-batch-request")}
    assert "0" not in used_after


STRICT = aiocosmos.RetryPolicy(replay_idempotent_writes=False)


async def test_ambiguous_failures_replay_only_upserts_and_report_creates_with_the_strict_switch_for_creates(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    bulk_server.drop_after_apply = {1}
    upserts = [r async for r in target.bulk(("upsert", (d,)) for d in docs(50))]
    assert len(upserts) == 50 and all(r.succeeded for r in upserts)
    assert any(r.replayed for r in upserts)
    assert len(bulk_server.docs) == 50

    bulk_server.docs.clear()
    bulk_server.batches = 0
    async with aiocosmos.CosmosClient(bulk_server.url, credential=KEY,
                                      options=aiocosmos.ClientOptions(retry=STRICT)) as strict_client:
        strict = strict_client.get_database_client("db").get_container_client("c")
        created = [r async for r in strict.bulk(("create", ({**d, "id": "c" + d["id"]},)) for d in docs(50))]
    assert len(created) == 50
    failed = [r for r in created if not r.succeeded]
    assert failed, "the dropped batch's creates must be reported, not replayed"
    assert all(r.may_have_been_applied and not r.replayed and r.attempts == 1 for r in failed)
    assert all(isinstance(r.error, aiocosmos.TransportError) for r in failed)


async def test_with_the_strict_switch_bulk_replays_reads_only(bulk_server: BulkServer) -> None:
    bulk_server.drop_after_apply = {1}
    async with aiocosmos.CosmosClient(bulk_server.url, credential=KEY,
                                      options=aiocosmos.ClientOptions(retry=STRICT)) as client:
        strict = client.get_database_client("db").get_container_client("c")
        upserts = [r async for r in strict.bulk(("upsert", (d,)) for d in docs(50))]
    failed = [r for r in upserts if not r.succeeded]
    assert failed and all(r.may_have_been_applied and not r.replayed and r.attempts == 1 for r in failed)


async def test_replayed_creates_are_resolved_by_reading_back_and_replayed_deletes_by_404(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    """The first request of each run is applied, then its connection drops: every operation in it is
    replayed; the creates meet 409 and are read back, the deletes meet 404."""
    bulk_server.drop_after_apply = {1}
    created = [r async for r in target.bulk(("create", (d,)) for d in docs(50))]
    assert len(created) == 50 and len(bulk_server.docs) == 50
    assert all(r.succeeded and r.status_code == 201 for r in created)
    resolved = [r for r in created if r.applied_earlier]
    assert resolved and all(r.replayed and r.resource_body is not None for r in resolved)
    assert all(r.applied_earlier == r.replayed for r in created)  # a replayed create always meets 409 here
    assert all(r.resource_body and r.resource_body["v"] == r.index for r in resolved)

    bulk_server.batches = 0
    bulk_server.drop_after_apply = {1}
    deleted = [r async for r in target.bulk(("delete", (d["id"],), {"partition_key": d["pk"]}) for d in docs(50))]
    assert all(r.succeeded for r in deleted) and bulk_server.docs == {}
    assert any(r.replayed and r.applied_earlier and r.status_code == 204 for r in deleted)
    assert all(r.applied_earlier == r.replayed for r in deleted)  # a replayed delete always meets 404 here


async def test_a_replayed_create_whose_item_was_overwritten_meanwhile_keeps_its_409(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    theirs = {"id": "i0", "pk": "k0", "v": "someone else's"}
    bulk_server.drop_after_apply = {1}
    bulk_server.overwrite_after_drop = {("i0", "k0"): theirs}
    [result] = [r async for r in target.bulk([("create", (docs(1)[0],))])]
    assert result.status_code == 409 and isinstance(result.error, aiocosmos.Conflict)
    assert result.replayed and result.may_have_been_applied and not result.applied_earlier
    assert "differs" in str(result.error) and "may have been applied" in str(result.error)
    assert bulk_server.docs[("i0", "k0")] == theirs


def test_congestion_window_slow_start_then_halving_once_per_window() -> None:
    r = RangeQueue("0")
    assert r.limit == 1
    r.on_success(50)
    assert r.limit == 2
    r.on_success(50)
    r.on_success(50)
    assert r.limit == 4
    epoch = r.epoch
    r.on_throttle(epoch, 0.2, now=10.0)
    assert r.limit == 2 and r.paused_until == 10.2
    r.on_throttle(epoch, 0.1, now=10.0)  # a request sent before the cut: no second cut
    assert r.limit == 2 and r.paused_until == 10.2
    r.on_success(50)
    r.on_success(50)
    assert r.limit == 3  # additive increase after the first throttle
    for _ in range(10_000):
        r.on_success(5)
    assert r.limit == 5


def test_epk_routing_uses_the_sdk_checked_hash() -> None:
    # The known V2 vector also checked in test_routing.py (itself compared with azure-cosmos's hashing).
    assert effective_partition_key(["x"], "Hash", 2) == "11E3F358618BE9AA5BAFF4C7C74F0716"
    assert epk_of("x") == "11E3F358618BE9AA5BAFF4C7C74F0716"
    hierarchical = effective_partition_key(["x", "x"], "MultiHash", 2)
    assert hierarchical == "11E3F358618BE9AA5BAFF4C7C74F0716" * 2


async def test_bad_arguments_fail_before_any_io(target: aiocosmos.ContainerProxy, bulk_server: BulkServer) -> None:
    with pytest.raises(aiocosmos.ValidationError):
        target.bulk("not operations")  # type: ignore[arg-type]
    with pytest.raises(aiocosmos.ValidationError):
        target.bulk([], max_pending=0)
    assert bulk_server.requests == []


async def test_leaving_early_cancels_everything_in_flight(
    target: aiocosmos.ContainerProxy, bulk_server: BulkServer
) -> None:
    import asyncio

    before = asyncio.all_tasks()
    execution = target.bulk((("upsert", (d,)) for d in docs(2000)), max_pending=300)
    seen = 0
    async with execution:
        async for _ in execution:
            seen += 1
            if seen == 5:
                break
    await asyncio.sleep(0)
    mine = [t for t in asyncio.all_tasks() - before
            if not t.done() and getattr(t.get_coro(), "__qualname__", "").startswith("BulkExecution.")]
    assert mine == []
    assert execution._tasks == set() and execution._timers == set()
    assert execution.stats.read <= 5 + 300
