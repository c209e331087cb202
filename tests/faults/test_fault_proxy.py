"""The fault proxy itself: what each fault looks like on the wire, determinism, splits, the admin API."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy, ProxyRequest, request_kind
from tests.faults.conftest import ClientFactory, all_items, through
from tests.server import CosmosTestServer

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_ANSWER = 401
"""What the strict local server answers an unsigned request: seeing it proves the request got through."""


async def test_account_endpoints_point_at_the_proxy(proxy: FaultProxy, make_client: ClientFactory) -> None:
    account = await make_client().get_database_account()

    locations = account["writableLocations"] + account["readableLocations"]
    assert locations and {loc["databaseAccountEndpoint"] for loc in locations} == {proxy.url + "/"}


@pytest.mark.parametrize(("fault", "status", "sub_status", "retry_after"), [
    (Fault.throttle(retry_after_ms=250), 429, "3200", "250"),
    (Fault.retry_with(), 449, None, None),
    (Fault.timeout(), 408, None, None),
    (Fault.internal_error(), 500, None, None),
    (Fault.unavailable(), 503, None, None),
    (Fault.session_not_available(), 404, "1002", None),
    (Fault.write_forbidden(), 403, "3", None),
    (Fault.gone(1007), 410, "1007", None),
    (Fault.status_code(413, message="too big"), 413, None, None),
])
async def test_status_faults_look_like_the_service(
    proxy: FaultProxy, fault: Fault, status: int, sub_status: str | None, retry_after: str | None
) -> None:
    proxy.add_rule(fault, times=1)
    async with aiohttp.ClientSession() as http, http.get(proxy.url + "/dbs/x") as response:
        body = orjson.loads(await response.read())
        headers = response.headers

    assert response.status == status
    assert headers.get("x-ms-substatus") == sub_status
    assert headers.get("x-ms-retry-after-ms") == retry_after
    assert body["code"] and "injected by the fault proxy" in body["message"]
    [injection] = proxy.log
    assert (injection.status, injection.activity_id, injection.applied) == (status, headers["x-ms-activity-id"], False)
    assert (injection.method, injection.path, injection.request_kind, injection.attempt) == ("GET", "/dbs/x", "read", 1)
    assert proxy.forwarded == 0


@pytest.mark.parametrize(("fault", "exception", "applied"), [
    (Fault.reset_before(), aiohttp.ClientOSError, False),
    (Fault.reset_after(), aiohttp.ClientOSError, True),
    (Fault.reset_mid_body(), aiohttp.ClientPayloadError, True),
    (Fault.truncate(), aiohttp.ClientPayloadError, True),
])
async def test_connection_faults(
    proxy: FaultProxy, fault: Fault, exception: type[Exception], applied: bool
) -> None:
    proxy.add_rule(fault, times=1)
    async with aiohttp.ClientSession() as http:
        http._retry_connection = False  # aiohttp would silently resend the GET once
        with pytest.raises((exception, aiohttp.ServerDisconnectedError)):
            async with http.get(proxy.url + "/") as response:
                await response.read()
        async with http.get(proxy.url + "/") as response:  # the next request is fine
            assert response.status == UPSTREAM_ANSWER

    [injection] = proxy.log
    assert (injection.fault, injection.status, injection.applied) == (fault.label, None, applied)
    assert proxy.forwarded == (2 if applied else 1)


async def test_slow_faults_delay_but_deliver(proxy: FaultProxy) -> None:
    proxy.add_rule(Fault.slow_headers(0.2), times=1)
    proxy.add_rule(Fault.slow_body(0.05, chunks=4), times=1)
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with http.get(proxy.url + "/") as response:
            headers_after = time.monotonic() - started
            assert (await response.json())["code"] == "Unauthorized"
        started = time.monotonic()
        async with http.get(proxy.url + "/") as response:
            headers_after_2 = time.monotonic() - started
            assert (await response.json())["code"] == "Unauthorized"
            body_after = time.monotonic() - started

    assert headers_after >= 0.2
    # slow_body sends the headers at once and the body in 4 chunks 0.05 s apart: the headers come well before
    # the body ends (measured relative to each other, so a loaded machine delays both alike).
    assert body_after >= 0.2 and body_after - headers_after_2 >= 0.15, (headers_after_2, body_after)
    assert [i.fault for i in proxy.log] == ["slow_headers", "slow_body"]


async def test_keep_alive_connections_closed_by_the_server(proxy: FaultProxy) -> None:
    """close_after closes the idle pooled connection; stale_connection drops the next request on it."""
    proxy.add_rule(Fault.close_after(), times=1)
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        http._retry_connection = False
        async with http.get(proxy.url + "/") as response:
            assert response.status == UPSTREAM_ANSWER
        await asyncio.sleep(0.05)  # the client notices the close while the connection is idle
        async with http.get(proxy.url + "/") as response:
            assert response.status == UPSTREAM_ANSWER

        proxy.add_rule(Fault.stale_connection(), times=1)
        async with http.get(proxy.url + "/") as response:
            assert response.status == UPSTREAM_ANSWER
        with pytest.raises(aiohttp.ClientError):
            async with http.get(proxy.url + "/") as response:  # reuses the pooled connection: dropped
                await response.read()

    assert [(i.fault, i.status, i.applied) for i in proxy.log] == [
        ("close_after", 401, True), ("stale_connection:armed", 401, True), ("stale_connection", None, False),
    ]


async def test_faults_are_deterministic_under_a_seed(cosmos_server: CosmosTestServer) -> None:
    """The same seed faults the same requests whatever order they arrive in; another seed differs."""

    async def run(seed: int, order: list[int]) -> set[tuple[str, int, str]]:
        async with FaultProxy(cosmos_server.url, seed=seed) as proxy:
            proxy.add_rule(Fault.throttle(1), Fault.unavailable(), Fault.retry_with(), probability=0.3)
            async with aiohttp.ClientSession() as http:

                async def get(n: int) -> None:
                    for _ in range(3):  # three attempts per path: each attempt draws afresh
                        async with http.get(f"{proxy.url}/dbs/db-{n}") as response:
                            await response.read()

                await asyncio.gather(*(get(n) for n in order))
            return {(i.path, i.attempt, i.fault) for i in proxy.log}

    forward = await run(11, list(range(60)))
    backward = await run(11, list(reversed(range(60))))
    other = await run(12, list(range(60)))

    assert forward == backward
    assert 20 < len(forward) < 90  # about 30 % of 180 requests
    assert forward != other
    assert {fault for _, _, fault in forward} == {"429/3200", "503/0", "449/0"}


async def test_rule_matching_skip_times_and_kinds(proxy: FaultProxy, make_client: ClientFactory,
                                                  fresh_container: aiocosmos.ContainerProxy) -> None:
    container = through(make_client(), fresh_container)
    seen: list[ProxyRequest] = []
    proxy.observers.append(seen.append)
    rule = proxy.add_rule(Fault.retry_with(), kinds=["write"], skip=1, times=2,
                          where=lambda r: b'"pk":"a"' in r.body)

    for n in range(5):
        await container.upsert_item({"id": str(n), "pk": "a"})
    await container.upsert_item({"id": "b", "pk": "b"})
    await container.read_item("0", "a")

    assert (rule.matched, rule.fired) == (7, 2)  # 5 + 2 retried writes of pk "a"; the first one skipped
    assert [i.fault for i in proxy.log] == ["449/0", "449/0"]
    assert [r.kind for r in seen] == ["read"] + ["write"] * 8 + ["read"]
    assert request_kind("POST", "/dbs/d/colls/c/docs", {"x-ms-documentdb-isquery": "True"}) == "query"
    assert request_kind("GET", "/dbs/d/colls/c/docs", {}) == "feed"
    assert request_kind("GET", "/dbs/d/colls/c/pkranges", {}) == "pkranges"
    assert request_kind("POST", "/dbs/d/colls/c/docs", {"x-ms-cosmos-is-batch-request": "true"}) == "batch"
    assert request_kind("GET", "/", {}) == "account"


async def test_a_split_changes_the_partition_key_ranges(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    client = make_client()
    container = through(client, fresh_container)
    link = f"dbs/{container.database.id}/colls/{container.id}"
    path = f"/{link}/pkranges"

    async def pkranges(**headers: str) -> tuple[int, Any, str | None]:
        status, response_headers, body = await client._core.request(
            "GET", path, "pkranges", link, headers=headers, idempotent=True)
        return status, orjson.loads(body) if body else None, response_headers.get("etag")

    status, before, old_etag = await pkranges()
    assert [str(r["id"]) for r in before["PartitionKeyRanges"]] == ["0"]

    proxy.add_rule(Fault.gone(1002, split_into=2), kinds="read", times=1)
    with pytest.raises(aiocosmos.Gone) as info:
        await container.read_item("x", "p")
    assert info.value.sub_status == 1002

    # A client that polls with the etag it had before the split is told about the split.
    status, after, etag = await pkranges(**{"If-None-Match": old_etag or '"before"', "A-IM": "Incremental feed"})
    assert status == 200 and etag != old_etag
    ranges = after["PartitionKeyRanges"]
    assert [(r["id"], r["minInclusive"], r["maxExclusive"], r["parents"]) for r in ranges] == [
        ("1", "", "7F", ["0"]), ("2", "7F", "FF", ["0"]),
    ]
    assert after["_count"] == 2 and etag
    assert (await pkranges(**{"If-None-Match": etag}))[0] == 304

    proxy.split(link, into=3)  # a second split: every current range into three
    status, again, _ = await pkranges()
    assert [r["parents"] for r in again["PartitionKeyRanges"]] == [["0", "1"]] * 3 + [["0", "2"]] * 3
    bounds = [(r["minInclusive"], r["maxExclusive"]) for r in again["PartitionKeyRanges"]]
    assert bounds[0][0] == "" and bounds[-1][1] == "FF"
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))

    # A request addressed to a range that split away gets 410/1002; to a live range, it goes through.
    for range_id, expected in (("0", 410), ("1", 410), ("3", 200)):
        try:
            status, _, _ = await client._core.request(
                "GET", f"/{link}/docs", "docs", link,
                headers={"x-ms-documentdb-partitionkeyrangeid": range_id}, idempotent=True)
        except aiocosmos.Gone as exc:
            status = exc.status_code
            assert exc.sub_status == 1002
        assert status == expected, range_id


async def test_request_unit_budget_throttles_like_provisioned_throughput(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    """100 RU/s, burst 20, 5 RU per write: 40 concurrent writes take about (40*5 - 20) / 100 = 1.8 s,
    every one succeeds (the client waits as told), and the charge header says 5. Like a real container
    under a burst, most writes are throttled many times over, so the client gets a larger 429 budget."""
    policy = aiocosmos.RetryPolicy(max_throttle_retries=200, max_throttle_wait=60.0)
    container = through(make_client(retry=policy), fresh_container)
    await container.read()
    budget = proxy.set_budget(100, burst=20, charges={"write": 5})

    started = time.monotonic()
    results = await asyncio.gather(*(container.create_item({"id": str(n), "pk": "p"}) for n in range(40)))
    elapsed = time.monotonic() - started

    assert {r.request_charge for r in results} == {5.0}
    assert 1.5 <= elapsed < 6.0, elapsed
    throttles = [i for i in proxy.log if i.fault == "budget"]
    assert throttles and all(i.status == 429 and i.sub_status == 3200 and i.retry_after_ms for i in throttles)
    assert budget.admitted == 40 and budget.throttled == len(throttles)
    # Never more than the burst plus what the refill allows.
    assert budget.charged <= 20 + 100 * elapsed + 5
    assert len(await all_items(fresh_container)) == 40


async def test_admin_api(proxy: FaultProxy, make_client: ClientFactory) -> None:
    client = make_client()
    async with aiohttp.ClientSession() as http:
        async with http.post(proxy.url + "/_proxy/rules", json={
            "faults": [{"kind": "throttle", "retry_after_ms": 1}], "kinds": ["account"], "times": 2, "name": "t",
        }) as response:
            assert response.status == 201
        async with http.post(proxy.url + "/_proxy/rules", json={"faults": [{"kind": "nope"}]}) as response:
            assert response.status == 400
            assert "unknown fault" in (await response.json())["message"]
        async with http.post(proxy.url + "/_proxy/rules", json={"faults": [{"kind": "timeout"}],
                                                                "where": "x"}) as response:
            assert response.status == 400

        await client.get_database_account()

        async with http.get(proxy.url + "/_proxy/log") as response:
            log = await response.json()
        assert log["counts"] == {"429/3200": 2}
        assert [i["rule"] for i in log["injections"]] == ["t", "t"]
        async with http.get(proxy.url + "/_proxy/rules") as response:
            assert [(r["name"], r["fired"]) for r in (await response.json())["rules"]] == [("t", 2)]
        async with http.put(proxy.url + "/_proxy/budget", json={"ru_per_second": 50, "burst": 10}) as response:
            assert response.status == 200
        assert proxy.budget is not None and proxy.budget.ru_per_second == 50
        async with http.post(proxy.url + "/_proxy/split", json={"container": "dbs/a/colls/b"}) as response:
            assert response.status == 200
        async with http.delete(proxy.url + "/_proxy/rules") as response:
            assert response.status == 200
        assert proxy.rules == []
        async with http.post(proxy.url + "/_proxy/reset") as response:
            assert response.status == 200
        assert proxy.log == [] and proxy.budget is None


def test_bad_fault_and_rule_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="status"):
        Fault.status_code(42)
    proxy = FaultProxy("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="probability"):
        proxy.add_rule(Fault.timeout(), probability=1.5)
    with pytest.raises(ValueError, match="unknown request kinds"):
        proxy.add_rule(Fault.timeout(), kinds="reads")
    with pytest.raises(ValueError, match="at least one Fault"):
        proxy.add_rule()
    with pytest.raises(ValueError, match="container link"):
        proxy.split("dbs/x")
    with pytest.raises(RuntimeError, match="not started"):
        _ = proxy.url


async def test_the_proxy_runs_from_the_command_line(cosmos_server: CosmosTestServer) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(  # noqa: ASYNC220  # a short start-up; the loop has nothing else to do
        [sys.executable, "-m", "aiocosmos.testing", "--upstream", cosmos_server.url, "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.to_thread(process.stdout.readline)).decode()
        assert line.startswith("LISTENING http://127.0.0.1:"), line
        url = line.split()[1]
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/_proxy/rules", json={"faults": [{"kind": "unavailable"}]}) as response:
                assert response.status == 201
            async with http.get(url + "/") as response:
                assert response.status == 503
            async with http.get(url + "/_proxy/log") as response:
                assert (await response.json())["counts"] == {"503/0": 1}
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=10)
    assert process.returncode == 0, stderr.decode()
