"""The management plane's bearer tokens under the rules of the data plane's (issue 21, defect 7):
``timeout=`` covers the token fetch, a failing credential is called once for every waiter and raises
``CredentialError``, and a revocation with many requests in flight costs exactly one more token."""

from __future__ import annotations

import asyncio

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock
from tests.client.recording_server import RecordingServer, Reply
from tests.client.test_aad import SAFETY_NET, BlockedCredential, RevokedToken
from tests.faults.test_security import texts_of
from tests.mgmt.conftest import FakeCredential, MgmtFactory
from tests.mgmt.test_arm_pipeline import ACCOUNT_BODY, ACCT


def serve_account(server: RecordingServer) -> None:
    server.script(method="GET", path=ACCT, forever=Reply.json(ACCOUNT_BODY))


async def test_timeout_covers_a_slow_token_fetch(server: RecordingServer, make_mgmt: MgmtFactory,
                                                 clock: FakeClock) -> None:
    serve_account(server)
    credential = BlockedCredential(clock)
    m = make_mgmt(credential=credential)
    patient = asyncio.ensure_future(m.database_accounts.get("rg1", "ddb1"))
    await asyncio.sleep(0)

    with pytest.raises(aiocosmos.OperationTimeout):
        await asyncio.wait_for(m.database_accounts.get("rg1", "ddb1", timeout=0.05), SAFETY_NET)

    assert server.requests == []
    assert not patient.done()  # the refresh goes on for the other waiter
    credential.release()
    assert (await patient).raw == ACCOUNT_BODY
    assert credential.calls == 1


async def test_a_failing_credential_is_called_once_for_all_waiters(
    server: RecordingServer, make_mgmt: MgmtFactory, clock: FakeClock
) -> None:
    cause = PermissionError("AADSTS7000215: invalid client secret provided")
    credential = BlockedCredential(clock, fail=cause)
    m = make_mgmt(credential=credential)
    waiters = [asyncio.ensure_future(m.database_accounts.get("rg1", "ddb1")) for _ in range(10)]
    await asyncio.sleep(0)
    credential.release()

    errors = await asyncio.gather(*waiters, return_exceptions=True)

    assert credential.calls == 1
    assert server.requests == []
    for error in errors:
        assert isinstance(error, aiocosmos.CredentialError)
        assert error.cause is cause and error.__cause__ is cause
        assert not error.may_have_been_applied
        assert "invalid client secret" not in str(error) + repr(error)  # the credential's text is its own


async def test_one_revocation_with_100_requests_in_flight_refreshes_once(
    server: RecordingServer, make_mgmt: MgmtFactory, credential: FakeCredential
) -> None:
    serve_account(server)
    m = make_mgmt()
    await m.database_accounts.get("rg1", "ddb1")
    server.reset()
    server.scripts.append(RevokedToken("Bearer token-1", spread=0.002))
    serve_account(server)

    accounts = await asyncio.gather(*(m.database_accounts.get("rg1", "ddb1") for _ in range(100)))

    assert len(accounts) == 100
    assert len(credential.scopes) == 2  # exactly one extra get_token for the revocation
    authorizations = [r.headers["Authorization"] for r in server.requests]
    assert authorizations.count("Bearer token-1") == 100
    assert authorizations.count("Bearer token-2") == 100


async def test_no_token_in_a_credential_error_after_a_token_was_issued(
    server: RecordingServer, make_mgmt: MgmtFactory, clock: FakeClock
) -> None:
    serve_account(server)
    credential = FakeCredential(clock, lifetime=600.0)  # inside the refresh margin after 301 s
    m = make_mgmt(credential=credential)
    await m.database_accounts.get("rg1", "ddb1")
    clock.advance(301)

    async def fail(*scopes: str, **kwargs: object) -> tuple[str, float]:
        raise RuntimeError("the identity endpoint is down")

    credential.get_token = fail  # type: ignore[method-assign]
    with pytest.raises(aiocosmos.CredentialError) as info:
        await m.database_accounts.get("rg1", "ddb1")
    assert info.value.attempts == 0
    for text in texts_of(info.value):
        assert "token-1" not in text
