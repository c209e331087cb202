"""AAD (Entra ID) bearer tokens: header format, scope, caching, single-flight refresh, 401 recovery."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

import aiocosmos
from aiocosmos.testing import FakeClock
from tests.client.conftest import ClientFactory, raises_clean
from tests.client.recording_server import RecordingServer, Reply, Script

LIFETIME = 3600.0
# Characters a URL-encoder would touch: the header must carry the token exactly as issued.
TOKEN_BODY = "eyJ0eXAiOiJKV1Qi.eyJhdWQiOi+/=.sig-_~x"
SAFETY_NET = 10.0
"""Real seconds after which a test that would hang fails instead (never reached when the client works)."""


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


# -- defect 7 of issue 21: deadlines, failing credentials, one refresh per revocation ---------------


class BlockedCredential:
    """``get_token`` waits until ``release()``: a credential as slow as the test wants, with no clock."""

    def __init__(self, clock: FakeClock, *, fail: BaseException | None = None) -> None:
        self.clock = clock
        self.fail = fail
        self.calls = 0
        self.released = asyncio.Event()

    def release(self) -> None:
        self.released.set()

    async def get_token(self, *scopes: str, **kwargs: Any) -> tuple[str, float]:
        self.calls += 1
        await self.released.wait()
        if self.fail is not None:
            raise self.fail
        return FakeCredential.token(self.calls), self.clock.time() + LIFETIME


class RevokedToken(Script):
    """Answers 401 to every request that carries ``header``, whenever it arrives; the n-th answer
    after ``spread * n`` seconds, so some 401s come back after the refresh they started finished."""

    def __init__(self, header: str, spread: float = 0.0) -> None:
        super().__init__((), method=None, path=None, path_prefix=None, forever=None)
        self.header = header
        self.spread = spread

    def matches(self, request: web.Request) -> bool:
        return request.headers.get("authorization") == self.header

    def take(self) -> Reply | None:
        self.used += 1
        reply = Reply.error(401, message="the token was revoked")
        reply.delay = self.spread * self.used
        return reply


async def test_timeout_covers_a_slow_token_fetch_and_the_refresh_goes_on_for_the_others(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = BlockedCredential(clock)  # never answers until released: no wall-clock race
    client = make_client(credential)
    patient = asyncio.ensure_future(client.get_database_account())
    await asyncio.sleep(0)

    with raises_clean(aiocosmos.OperationTimeout, server):
        await asyncio.wait_for(client.get_database_account(timeout=0.05), SAFETY_NET)

    assert server.requests == []  # nothing was sent without a token
    assert not patient.done()  # the refresh goes on for the waiter without a deadline
    credential.release()
    account = await patient
    assert account["id"] == "localaccount"
    assert credential.calls == 1
    assert [r.authorization for r in server.requests] == [aad_header(FakeCredential.token(1))]


async def test_a_deadline_passing_during_the_refresh_after_a_401_counts_the_attempts_made(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = BlockedCredential(clock)
    client = make_client(credential)
    credential.release()
    await client.get_database_account()  # token 1
    credential.released.clear()  # the refresh the 401 starts will not answer in time
    server.reset()
    server.script(Reply.error(401, message="revoked"), method="GET", path="/")

    with raises_clean(aiocosmos.OperationTimeout, server, FakeCredential.token(1)) as info:
        await asyncio.wait_for(client.get_database_account(timeout=0.05), SAFETY_NET)

    assert info.value.attempts == 1  # the 401; the second attempt never had a token to send
    assert len(server.requests) == 1
    assert credential.calls == 2
    credential.release()
    await client.get_database_account()  # the refresh finished for later requests: token 2
    assert credential.calls == 2
    assert server.requests[-1].authorization == aad_header(FakeCredential.token(2))


async def test_a_failing_credential_is_called_once_for_all_waiters_and_raises_credential_error(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    cause = RuntimeError("AADSTS700016: application not found in the directory")
    credential = BlockedCredential(clock, fail=cause)
    client = make_client(credential)
    waiters = [asyncio.ensure_future(client.get_database_account()) for _ in range(10)]
    await asyncio.sleep(0)
    credential.release()

    errors = await asyncio.gather(*waiters, return_exceptions=True)

    assert credential.calls == 1
    assert server.requests == []
    for error in errors:
        assert isinstance(error, aiocosmos.CredentialError)
        assert isinstance(error, aiocosmos.CosmosError)
        assert error.__cause__ is cause
        assert error.cause is cause
        assert error.may_have_been_applied is False
        assert "RuntimeError" in str(error)
    assert len({id(error) for error in errors}) == 10  # one error each: attributes are per request

    with pytest.raises(aiocosmos.CredentialError):  # a later request asks the credential again
        await client.get_database_account()
    assert credential.calls == 2


async def test_an_empty_token_is_a_credential_error(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    class Empty:
        async def get_token(self, *scopes: str, **kwargs: Any) -> tuple[str, float]:
            return "", clock.time() + LIFETIME

    with raises_clean(aiocosmos.CredentialError, server, match="empty token"):
        await make_client(Empty()).get_database_account()
    assert server.requests == []


async def test_one_revocation_with_100_requests_in_flight_refreshes_once(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock, latency=0.01)
    client = make_client(credential)
    await client.get_database_account()
    server.reset()
    server.scripts.append(RevokedToken(aad_header(FakeCredential.token(1)), spread=0.002))

    accounts = await asyncio.gather(*(client.get_database_account() for _ in range(100)))

    assert len(accounts) == 100
    assert len(credential.calls) == 2  # exactly one extra get_token for the revocation
    authorizations = [r.authorization for r in server.requests]
    assert authorizations.count(aad_header(FakeCredential.token(1))) == 100
    assert authorizations.count(aad_header(FakeCredential.token(2))) == 100


async def test_a_401_for_an_older_token_does_not_discard_the_current_one(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = FakeCredential(clock)
    client = make_client(credential)
    await client.get_database_account()
    server.reset()
    # The first request is answered late: by then another 401 has refreshed the token.
    server.script(Reply.error(401, message="revoked"), method="GET", path="/")
    slow = Reply.error(401, message="revoked")
    slow.delay = 0.2
    late = server.script(slow, method="GET", path="/dbs/db")
    late_read = asyncio.ensure_future(client.get_database_client("db").read())
    await asyncio.sleep(0.05)
    await client.get_database_account()  # 401, token 2, 200
    await late_read  # its 401 was for token 1: it retries with token 2 and fetches nothing

    assert late.used == 1
    assert len(credential.calls) == 2


async def test_closing_the_client_cancels_a_refresh_in_flight(
    server: RecordingServer, make_client: ClientFactory, clock: FakeClock
) -> None:
    credential = BlockedCredential(clock)
    client = make_client(credential)
    waiter = asyncio.ensure_future(client.get_database_account())
    await asyncio.sleep(0.01)

    await client.close()

    with pytest.raises(aiocosmos.ClientClosedError):
        await asyncio.wait_for(waiter, SAFETY_NET)
    assert credential.calls == 1
    assert server.requests == []
