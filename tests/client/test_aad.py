"""AAD (Entra ID) bearer tokens: header format, scope, caching, single-flight refresh, 401 recovery."""

from __future__ import annotations

import asyncio
from typing import Any

import aiocosmos
from aiocosmos.testing import FakeClock
from tests.client.conftest import ClientFactory, raises_clean
from tests.client.recording_server import RecordingServer, Reply

LIFETIME = 3600.0
# Characters a URL-encoder would touch: the header must carry the token exactly as issued.
TOKEN_BODY = "eyJ0eXAiOiJKV1Qi.eyJhdWQiOi+/=.sig-_~x"


class FakeCredential:
    """An azure-core style async credential issuing tok1, tok2, ... valid for LIFETIME seconds."""

    def __init__(self, clock: FakeClock, *, latency: float = 0.0) -> None:
        self.clock = clock
        self.latency = latency
        self.calls: list[tuple[str, ...]] = []

    @property
    def issued(self) -> list[str]:
        return [self.token(n) for n in range(1, len(self.calls) + 1)]

    @staticmethod
    def token(n: int) -> str:
        return f"{TOKEN_BODY}{n}"

    async def get_token(self, *scopes: str, **kwargs: Any) -> tuple[str, float]:
        self.calls.append(scopes)
        n = len(self.calls)
        await asyncio.sleep(self.latency)  # let concurrent requests pile up behind the refresh
        return self.token(n), self.clock.time() + LIFETIME


def aad_header(token: str) -> str:
    return f"type=aad&ver=1.0&sig={token}"


async def test_header_is_the_raw_token_and_scope_is_the_account_host(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock)
    client = make_client(credential)

    await client.get_database_account()

    assert credential.calls == [("https://127.0.0.1/.default",)]
    [request] = server.requests
    assert request.authorization == aad_header(FakeCredential.token(1))
    assert "%" not in (request.authorization or "")
    assert request.headers.get("x-ms-date")


async def test_token_is_fetched_once_for_many_sequential_requests(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock)
    client = make_client(credential)
    container = client.get_database_client("db").get_container_client("c")

    await client.get_database_account()
    for n in range(5):
        await container.create_item({"id": str(n), "pk": "p"})
        await container.read_item(str(n), "p")

    assert len(credential.calls) == 1
    assert {r.authorization for r in server.requests} == {aad_header(FakeCredential.token(1))}
    assert len(server.requests) == 12  # account + container metadata + 5 creates + 5 reads


async def test_twenty_concurrent_requests_share_one_token_fetch(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock, latency=0.01)
    client = make_client(credential)

    await asyncio.gather(*(client.get_database_account() for _ in range(20)))

    assert len(credential.calls) == 1
    assert len(server.requests) == 20
    assert {r.authorization for r in server.requests} == {aad_header(FakeCredential.token(1))}


async def test_concurrent_requests_after_expiry_share_one_refresh(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock, latency=0.01)
    client = make_client(credential)
    await client.get_database_account()
    clock.advance(LIFETIME)

    await asyncio.gather(*(client.get_database_account() for _ in range(20)))

    assert len(credential.calls) == 2
    assert {r.authorization for r in server.requests[1:]} == {aad_header(FakeCredential.token(2))}


async def test_token_is_refreshed_five_minutes_before_it_expires(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock)
    client = make_client(credential)
    await client.get_database_account()

    clock.advance(LIFETIME - 300 - 1)  # 301 s left: still good
    await client.get_database_account()
    assert len(credential.calls) == 1

    clock.advance(2)  # 299 s left: inside the refresh margin
    await client.get_database_account()
    assert len(credential.calls) == 2

    assert [r.authorization for r in server.requests] == [
        aad_header(FakeCredential.token(1)),
        aad_header(FakeCredential.token(1)),
        aad_header(FakeCredential.token(2)),
    ]


async def test_a_401_fetches_a_new_token_and_retries_once(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock)
    client = make_client(credential)
    server.script(Reply.error(401, message="token revoked"), method="GET", path="/")

    account = await client.get_database_account()

    assert account["id"] == "localaccount"
    assert [r.authorization for r in server.requests] == [
        aad_header(FakeCredential.token(1)),
        aad_header(FakeCredential.token(2)),
    ]
    assert len(credential.calls) == 2
    assert clock.sleeps == []


async def test_a_403_5300_also_refreshes_the_token(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock)
    client = make_client(credential)
    server.script(Reply.error(403, sub_status=5300), method="GET", path="/")

    await client.get_database_account()

    assert len(server.requests) == 2
    assert server.requests[1].authorization == aad_header(FakeCredential.token(2))


async def test_a_second_consecutive_401_is_raised(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock)
    client = make_client(credential)
    server.script(method="GET", path="/", forever=Reply.error(401, message="token rejected"))

    with raises_clean(aiocosmos.Unauthorized, server, *credential.issued) as info:
        await client.get_database_account()

    assert len(server.requests) == 2
    assert len(credential.calls) == 2
    assert info.value.attempts == 2
    assert info.value.status_code == 401
    assert "token rejected" in str(info.value)
    for token in credential.issued:
        assert token not in str(info.value)
        assert token not in repr(info.value)


async def test_a_401_with_a_master_key_is_not_retried(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.script(method="GET", path="/", forever=Reply.error(401))

    with raises_clean(aiocosmos.Unauthorized, server):
        await client.get_database_account()

    assert len(server.requests) == 1
