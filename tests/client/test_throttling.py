"""429 handling: waits, caps, re-signing and the error the caller finally sees; operation deadlines."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from urllib.parse import quote

import pytest

import aiocosmos
from aiocosmos._wire.auth import MasterKeySigner
from aiocosmos.testing import FakeClock
from tests.client.conftest import COLL_PATH, KEY, ClientFactory, item_path, raises_clean
from tests.client.recording_server import RecordingServer, Reply

ITEM = item_path("x")
ITEM_LINK = "dbs/db/colls/c/docs/x"
THROTTLED_BODY = {"code": "TooManyRequests", "message": "Request rate is large"}


def throttle(retry_after_ms: int | None, *, sub_status: int | None = 3200) -> Reply:
    headers = {"x-ms-substatus": str(sub_status)} if sub_status is not None else {}
    if retry_after_ms is not None:
        headers["x-ms-retry-after-ms"] = str(retry_after_ms)
    return Reply(status=429, headers=headers, body=THROTTLED_BODY)


def reference_signature(verb: str, resource_type: str, link: str, date: str) -> str:
    """The documented master-key algorithm, written out independently of aiocosmos."""
    text = f"{verb.lower()}\n{resource_type.lower()}\n{link}\n{date.lower()}\n\n"
    digest = hmac.new(base64.b64decode(KEY), text.encode(), hashlib.sha256).digest()
    return quote(f"type=master&ver=1.0&sig={base64.b64encode(digest).decode()}", safe="-_.!~*'()")


async def test_two_429s_then_success_waits_as_told_and_resigns_every_attempt(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    # Start 0.95 s into a wall-clock second, so the 120 ms wait moves x-ms-date to the next second.
    clock = FakeClock(start_time=math.floor(time.time()) + 0.95)
    client = make_client(clock=clock)
    container = client.get_database_client("db").get_container_client("c")
    await container.read()  # container metadata first, so only the item read is throttled below
    clock.sleeps.clear()
    server.script(throttle(120), throttle(120), method="GET", path=ITEM)

    result = await container.read_item("x", "p")

    assert result["id"] == "x"
    attempts = server.requests_to("GET", ITEM)
    assert len(attempts) == 3
    assert clock.sleeps == [0.12, 0.12]
    assert [a.reply.status for a in attempts if a.reply] == [429, 429, 200]
    signer = MasterKeySigner(KEY)
    dates = []
    for attempt in attempts:
        date = attempt.headers.get("x-ms-date")
        assert date, "every attempt carries its own x-ms-date"
        dates.append(date)
        assert attempt.authorization == signer.sign("get", "docs", ITEM_LINK, date.lower())
        assert attempt.authorization == reference_signature("GET", "docs", ITEM_LINK, date)
    # The date moved during the waits, and the signatures followed it: they are not reused.
    assert len(set(dates)) >= 2
    assert len({a.authorization for a in attempts}) == len(set(dates))


async def test_429_forever_gives_up_after_nine_retries_with_a_complete_error(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    server.script(method="GET", path="/", forever=throttle(10))

    with raises_clean(aiocosmos.TooManyRequests, server) as info:
        await client.get_database_account()

    err = info.value
    attempts = server.requests_to("GET", "/")
    assert len(attempts) == 10
    assert err.attempts == 10
    assert clock.sleeps == [0.01] * 9
    assert err.total_wait == sum(clock.sleeps)
    assert err.status_code == 429
    assert err.sub_status == 3200
    assert err.code == "TooManyRequests"
    assert err.message == "Request rate is large"
    assert err.activity_ids == tuple(a.reply_headers["x-ms-activity-id"] for a in attempts)
    assert len(set(err.activity_ids)) == 10
    assert err.activity_id == err.activity_ids[-1]
    text = str(err)
    assert "429" in text
    assert "Request rate is large" in text
    assert "attempts=10" in text
    assert err.activity_ids[0] in text
    assert "attempts=10" in repr(err)


async def test_429_without_retry_after_backs_off_exponentially_up_to_the_cap(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    server.script(method="GET", path="/", forever=throttle(None, sub_status=None))

    with raises_clean(aiocosmos.TooManyRequests, server) as info:
        await client.get_database_account()

    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0, 2.0]
    assert info.value.attempts == 10
    assert info.value.sub_status == 0


async def test_cumulative_throttle_wait_is_capped_at_30_seconds(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    server.script(method="GET", path="/", forever=throttle(8000))

    with raises_clean(aiocosmos.TooManyRequests, server) as info:
        await client.get_database_account()

    # 8 + 8 + 8 = 24 s; a fourth wait would make 32 s > 30 s, so the fourth 429 is final.
    assert clock.sleeps == [8.0, 8.0, 8.0]
    assert len(server.requests_to("GET", "/")) == 4
    assert info.value.attempts == 4
    assert info.value.total_wait == 24.0


async def test_a_wait_that_lands_exactly_on_the_cap_is_still_taken(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    server.script(method="GET", path="/", forever=throttle(10000))

    with raises_clean(aiocosmos.TooManyRequests, server) as info:
        await client.get_database_account()

    assert clock.sleeps == [10.0, 10.0, 10.0]  # 30 s is not *past* 30 s
    assert info.value.attempts == 4


@pytest.mark.parametrize(("policy", "attempts"), [
    (aiocosmos.RetryPolicy(max_throttle_retries=2), 3),
    (aiocosmos.RetryPolicy(max_throttle_retries=0), 1),
    (aiocosmos.RetryPolicy(max_throttle_wait=0.05), 6),  # 5 waits of 10 ms fit in 50 ms
])
async def test_throttle_limits_are_configurable(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock, policy: aiocosmos.RetryPolicy,
    attempts: int,
) -> None:
    client = make_client(retry=policy)
    server.script(method="GET", path="/", forever=throttle(10))

    with raises_clean(aiocosmos.TooManyRequests, server) as info:
        await client.get_database_account()

    assert len(server.requests_to("GET", "/")) == attempts
    assert info.value.attempts == attempts
    assert len(clock.sleeps) == attempts - 1


async def test_per_call_timeout_stops_retrying_before_the_deadline(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    container = client.get_database_client("db").get_container_client("c")
    await container.read()
    clock.sleeps.clear()
    server.script(method="GET", path=ITEM, forever=throttle(600))
    start = clock.monotonic()

    with raises_clean(aiocosmos.OperationTimeout, server) as info:
        await container.read_item("x", "p", timeout=1.0)

    err: aiocosmos.OperationTimeout = info.value
    cause = err.__cause__
    assert isinstance(cause, aiocosmos.TooManyRequests)
    assert cause.attempts == 2
    assert err.attempts == 2
    assert "attempts=2" in str(err)
    assert clock.monotonic() - start <= 1.0
    assert clock.sleeps == [0.6]  # a second 600 ms wait would end at 1.2 s, past the deadline
    assert len(server.requests_to("GET", ITEM)) == 2
    assert isinstance(err, TimeoutError)
    assert isinstance(err, aiocosmos.CosmosError)


async def test_default_operation_timeout_from_client_options(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    client = make_client(timeouts=aiocosmos.Timeouts(operation=2.0))
    server.script(method="GET", path="/", forever=throttle(600))
    start = clock.monotonic()

    with raises_clean(aiocosmos.OperationTimeout, server) as info:
        await client.get_database_account()

    assert isinstance(info.value.__cause__, aiocosmos.TooManyRequests)
    assert clock.monotonic() - start <= 2.0
    assert clock.sleeps == [0.6, 0.6, 0.6]  # a fourth wait would end at 2.4 s
    assert len(server.requests_to("GET", "/")) == 4


async def test_per_call_timeout_overrides_the_default(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    client = make_client(timeouts=aiocosmos.Timeouts(operation=100.0))
    server.script(method="GET", path="/", forever=throttle(600))

    with raises_clean(aiocosmos.OperationTimeout, server):
        await client.get_database_account(timeout=1.0)

    assert clock.sleeps == [0.6]


async def test_per_call_timeout_also_bounds_the_container_metadata_lookup(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    """read_item(timeout=1) must not take longer than 1 s, even when it first has to read the
    container's partition-key definition (an implicit part of the same operation)."""
    container = client.get_database_client("db").get_container_client("c")
    server.script(method="GET", path=COLL_PATH, forever=throttle(600))
    start = clock.monotonic()

    with raises_clean(aiocosmos.OperationTimeout, server):
        await container.read_item("x", "p", timeout=1.0)

    assert clock.monotonic() - start <= 1.0
