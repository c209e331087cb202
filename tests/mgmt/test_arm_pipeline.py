"""The ARM request loop: bearer tokens, 429/412 retries, the ARM error envelope, nextLink paging,
secrets, input validation, and the bridge to the data plane."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos import (
    ClientClosedError,
    ConfigurationError,
    Conflict,
    InvalidContinuationToken,
    NotFound,
    TooManyRequests,
    ValidationError,
)
from aiocosmos.mgmt import ARM_SCOPE, ArmError, ArmResource, CosmosManagementClient, DatabaseAccountKeys
from aiocosmos.mgmt._errors import parse_retry_after
from aiocosmos.testing import FakeClock
from tests.client.conftest import KEY, closed_port
from tests.client.recording_server import RecordingServer, Reply
from tests.mgmt.conftest import SUB, FakeCredential, MgmtFactory, example, query_of

ACCT = f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1"
ACCOUNT_BODY = example("CosmosDBDatabaseAccountGet.json")["responses"]["200"]["body"]
KEYS_BODY = example("CosmosDBDatabaseAccountListKeys.json")["responses"]["200"]["body"]


def arm_error(status: int, code: str, message: str, **headers: str) -> Reply:
    return Reply(status=status, headers={k.replace("_", "-"): v for k, v in headers.items()},
                 body={"error": {"code": code, "message": message}})


# -- tokens ----------------------------------------------------------------------------------------


async def test_bearer_token_is_cached_and_refreshed_before_expiry(
    server: RecordingServer, make_mgmt: MgmtFactory, credential: FakeCredential, clock: FakeClock
) -> None:
    m = make_mgmt(credential_scope=ARM_SCOPE)
    await m.database_accounts.get("rg1", "ddb1")
    await m.database_accounts.get("rg1", "ddb1")
    assert credential.scopes == [(ARM_SCOPE,)]
    clock.advance(3600 - 299)  # inside the 5-minute refresh margin
    await m.database_accounts.get("rg1", "ddb1")
    assert [r.headers["Authorization"] for r in server.requests] == ["Bearer token-1"] * 2 + ["Bearer token-2"]
    ids = {r.headers["x-ms-client-request-id"] for r in server.requests}
    assert len(ids) == 3  # one per operation


def test_default_scope_and_sovereign_cloud_scope(credential: FakeCredential) -> None:
    public = CosmosManagementClient(credential, SUB)
    china = CosmosManagementClient(credential, SUB, base_url="https://management.chinacloudapi.cn/")
    assert public.base_url == "https://management.azure.com" and public.api_version == "2026-07-15"
    assert repr(public._tokens) == f"BearerTokenCache(scope={ARM_SCOPE!r}, token=<redacted>)"
    assert "https://management.chinacloudapi.cn/.default" in repr(china._tokens)


async def test_401_refreshes_the_token_once(server: RecordingServer, make_mgmt: MgmtFactory,
                                            credential: FakeCredential) -> None:
    server.script(arm_error(401, "ExpiredAuthenticationToken", "expired"), Reply.json(ACCOUNT_BODY),
                  method="GET", path=ACCT)
    account = await make_mgmt().database_accounts.get("rg1", "ddb1")
    assert account.raw == ACCOUNT_BODY
    assert [r.headers["Authorization"] for r in server.requests] == ["Bearer token-1", "Bearer token-2"]
    server.reset()
    server.script(method="GET", path=ACCT, forever=arm_error(401, "InvalidAuthenticationToken", "bad token"))
    with pytest.raises(aiocosmos.Unauthorized) as info:
        await make_mgmt().database_accounts.get("rg1", "ddb1")
    assert isinstance(info.value, ArmError) and info.value.code == "InvalidAuthenticationToken"
    assert len(server.requests) == 2
    for text in (str(info.value), repr(info.value)):
        assert "token-" not in text


async def test_credential_without_get_token_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="get_token"):
        CosmosManagementClient("a key", SUB)  # type: ignore[arg-type]


# -- retries ---------------------------------------------------------------------------------------


async def test_429_waits_retry_after_seconds(server: RecordingServer, make_mgmt: MgmtFactory,
                                             clock: FakeClock) -> None:
    server.script(arm_error(429, "TooManyRequests", "slow down", Retry_After="17"),
                  arm_error(429, "TooManyRequests", "slow down", Retry_After="2"),
                  Reply.json(ACCOUNT_BODY), method="GET", path=ACCT)
    account = await make_mgmt().database_accounts.get("rg1", "ddb1")
    assert account.raw == ACCOUNT_BODY
    assert clock.sleeps == [17.0, 2.0]
    ids = {r.headers["x-ms-client-request-id"] for r in server.requests}
    assert len(server.requests) == 3 and len(ids) == 1  # retries keep the operation's request id


async def test_429_gives_up_within_the_policy(server: RecordingServer, make_mgmt: MgmtFactory,
                                              clock: FakeClock) -> None:
    server.script(method="POST", path=ACCT + "/listKeys",
                  forever=arm_error(429, "TooManyRequests", "throttled", Retry_After="20",
                                    **{"x-ms-request-id": "rid-1"}))
    with pytest.raises(TooManyRequests) as info:
        await make_mgmt().database_accounts.list_keys("rg1", "ddb1")
    assert isinstance(info.value, ArmError)
    assert info.value.attempts == 2 and info.value.total_wait == 20.0  # a second 20 s wait passes 30 s
    assert info.value.retry_after == 20.0 and info.value.request_id == "rid-1"
    assert clock.sleeps == [20.0]
    assert "TooManyRequests: throttled" in str(info.value) and "rid-1" in str(info.value)


async def test_412_another_operation_in_progress_is_retried(server: RecordingServer, make_mgmt: MgmtFactory,
                                                            clock: FakeClock) -> None:
    server.script(arm_error(412, "PreconditionFailed", "There is another user operation in progress"),
                  Reply(status=204), method="DELETE", path=ACCT + "/sqlDatabases/db")
    poller = await make_mgmt().sql_databases.begin_delete("rg1", "ddb1", "db")
    assert await poller.result() is None
    assert len(server.requests) == 2 and len(clock.sleeps) == 1 and 0.05 <= clock.sleeps[0] <= 0.1


async def test_regenerate_key_is_not_replayed_after_an_ambiguous_failure(
    server: RecordingServer, make_mgmt: MgmtFactory
) -> None:
    server.script(arm_error(503, "ServiceUnavailable", "busy"), method="POST", path=ACCT + "/regenerateKey")
    with pytest.raises(aiocosmos.ServiceUnavailable) as info:
        await make_mgmt().database_accounts.begin_regenerate_key("rg1", "ddb1", "primary")
    assert info.value.may_have_been_applied
    assert len(server.requests) == 1


# -- errors ----------------------------------------------------------------------------------------


async def test_arm_error_envelope(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    body = {"error": {"code": "ResourceNotFound", "message": "The Resource 'ddb1' was not found.",
                      "target": "ddb1", "details": [{"code": "Inner", "message": "detail"}],
                      "additionalInfo": [{"type": "PolicyViolation", "info": {}}]}}
    server.script(Reply(status=404, body=body, headers={"x-ms-correlation-request-id": "corr-1"}),
                  method="GET", path=ACCT)
    with pytest.raises(NotFound) as info:
        await make_mgmt().database_accounts.get("rg1", "ddb1")
    error = info.value
    assert isinstance(error, ArmError) and error.status_code == 404
    assert (error.code, error.message, error.target) == ("ResourceNotFound", "The Resource 'ddb1' was not found.",
                                                         "ddb1")
    assert error.details == [{"code": "Inner", "message": "detail"}]
    assert error.additional_info == [{"type": "PolicyViolation", "info": {}}]
    assert error.correlation_id == "corr-1"
    assert str(error).startswith("[404] ResourceNotFound: The Resource 'ddb1' was not found. (target ddb1)")


@pytest.mark.parametrize("body, code, message", [
    (b"upstream exploded", "", "upstream exploded"),
    ({"code": "Conflict", "message": "bare envelope"}, "Conflict", "bare envelope"),
    (b"", "", ""),
])
async def test_lenient_error_bodies(body: object, code: str, message: str, server: RecordingServer,
                                    make_mgmt: MgmtFactory) -> None:
    server.script(Reply(status=409, body=body), method="GET", path=ACCT)
    with pytest.raises(Conflict) as info:
        await make_mgmt().database_accounts.get("rg1", "ddb1")
    assert isinstance(info.value, ArmError)
    assert (info.value.code, info.value.message) == (code, message)


# -- paging ----------------------------------------------------------------------------------------


async def test_next_link_paging_and_resume(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    listing = f"/subscriptions/{SUB}/providers/Microsoft.DocumentDB/databaseAccounts"
    accounts = example("CosmosDBDatabaseAccountList.json")["responses"]["200"]["body"]["value"]
    pages = [[{**accounts[0], "name": f"a{i}{j}"} for j in range(2)] for i in range(3)]
    links = [f"{server.url}{listing}?api-version=2026-07-15&%24skipToken=p{i}" for i in (1, 2)]
    server.script(Reply.json({"value": pages[0], "nextLink": links[0]}),
                  Reply.json({"value": pages[1], "nextLink": links[1]}),
                  Reply.json({"value": pages[2], "nextLink": None}), method="GET", path=listing)
    m = make_mgmt()
    names = [a.name async for a in m.database_accounts.list()]
    assert names == ["a00", "a01", "a10", "a11", "a20", "a21"]
    assert [r.query_string for r in server.requests] == [
        "api-version=2026-07-15", "api-version=2026-07-15&%24skipToken=p1", "api-version=2026-07-15&%24skipToken=p2"]

    server.reset()
    server.script(Reply.json({"value": pages[0], "nextLink": links[0]}),
                  Reply.json({"value": pages[1], "nextLink": links[1]}), method="GET", path=listing)
    async for page in m.database_accounts.list().by_page():
        token = page.continuation
        break
    assert token is not None
    server.reset()
    server.script(Reply.json({"value": pages[1], "nextLink": None}), method="GET", path=listing)
    resumed = [a.name async for page in m.database_accounts.list().by_page(token) for a in page]
    assert resumed == ["a10", "a11"]
    assert [r.query_string for r in server.requests] == ["api-version=2026-07-15&%24skipToken=p1"]
    with pytest.raises(InvalidContinuationToken):
        m.database_accounts.list_by_resource_group("rg1").by_page(token)


async def test_next_link_to_another_host_is_not_followed(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    listing = f"/subscriptions/{SUB}/providers/Microsoft.DocumentDB/databaseAccounts"
    server.script(Reply.json({"value": [], "nextLink": "https://attacker.example/steal"}), method="GET", path=listing)
    with pytest.raises(ValidationError, match="not on the management endpoint"):
        [a async for a in make_mgmt().database_accounts.list()]
    assert len(server.requests) == 1


# -- secrets ---------------------------------------------------------------------------------------


async def test_keys_are_redacted(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    server.script(Reply.json(KEYS_BODY), method="POST", path=ACCT + "/listKeys")
    keys = await make_mgmt().database_accounts.list_keys("rg1", "ddb1")
    assert keys.primary_master_key == "primaryMasterKey"
    for text in (repr(keys), str(keys), f"{keys}"):
        assert "MasterKey\"" not in text and "=primaryMasterKey" not in text
        for value in KEYS_BODY.values():
            assert f"'{value}'" not in text
    assert repr(keys) == ("DatabaseAccountKeys(keys=['primary_master_key', 'secondary_master_key', "
                          "'primary_readonly_master_key', 'secondary_readonly_master_key'], values=<redacted>)")
    assert repr(DatabaseAccountKeys()) == "DatabaseAccountKeys(keys=[], values=<redacted>)"


# -- validation and lifecycle ----------------------------------------------------------------------


async def test_bad_input_fails_before_any_io(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    m = make_mgmt()
    with pytest.raises(ValidationError, match="expected 2 name"):
        await m.sql_containers.get("rg1", "ddb1", "db")
    with pytest.raises(ValidationError, match="not both"):
        await m.sql_databases.begin_update_throughput("rg1", "ddb1", "db", throughput=400, max_throughput=4000)
    with pytest.raises(ValidationError, match="give throughput"):
        await m.tables.begin_update_throughput("rg1", "ddb1", "t")
    with pytest.raises(ValidationError, match="differs from the name"):
        await m.tables.begin_create_update("rg1", "ddb1", "t", resource={"id": "other"})
    with pytest.raises(ValidationError, match="no throughput"):
        await m.sql_triggers.get_throughput("rg1", "ddb1", "db", "c", "t")
    with pytest.raises(ValidationError, match="key_kind"):
        await m.database_accounts.begin_regenerate_key("rg1", "ddb1", "tertiary")
    with pytest.raises(ValidationError, match="locations"):
        await m.database_accounts.begin_create_or_update("rg1", "ddb1", {"location": "westus"})
    with pytest.raises(ValidationError, match="non-empty"):
        await m.database_accounts.get("", "ddb1")
    with pytest.raises(ValidationError, match="positive int"):
        await m.sql_databases.begin_create_update("rg1", "ddb1", "db", resource={}, throughput=0)
    assert server.requests == []


async def test_scripts_paths_and_throughput_options(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    m = make_mgmt()
    container = ACCT + "/sqlDatabases/db/containers/c%2F1"
    for ops, segment in ((m.sql_stored_procedures, "storedProcedures"), (m.sql_triggers, "triggers"),
                         (m.sql_user_defined_functions, "userDefinedFunctions")):
        body = {"id": "s1", "body": "function () {}"}
        server.script(Reply.json({"name": "s1", "properties": {"resource": body}}), method="PUT",
                      path=f"{container}/{segment}/s1")
        poller = await ops.begin_create_update("rg1", "ddb1", "db", "c/1", "s1", resource=body)
        result = await poller.result()
        assert isinstance(result, ArmResource) and result.resource == body
        assert server.requests[-1].json() == {"properties": {"resource": body, "options": {}}}
        [x async for x in ops.list("rg1", "ddb1", "db", "c/1")]
        assert (server.requests[-1].method, server.requests[-1].path) == ("GET", f"{container}/{segment}")
    await (await m.cassandra_keyspaces.begin_create_update("rg1", "ddb1", "ks", resource={}, max_throughput=4000)
           ).result()
    assert server.requests[-1].json() == {
        "properties": {"resource": {"id": "ks"}, "options": {"autoscaleSettings": {"maxThroughput": 4000}}}}
    assert query_of(server.requests[-1]) == {"api-version": ["2026-07-15"]}


async def test_closed_client_refuses_work(make_mgmt: MgmtFactory) -> None:
    m = make_mgmt()
    await m.close()
    await m.close()
    assert m.closed
    with pytest.raises(ClientClosedError):
        await m.database_accounts.get("rg1", "ddb1")


# -- the bridge ------------------------------------------------------------------------------------


@pytest.mark.parametrize("read_only", [False, True])
async def test_get_cosmos_client_from_an_account(read_only: bool, server: RecordingServer,
                                                 make_mgmt: MgmtFactory) -> None:
    account = {**ACCOUNT_BODY, "properties": {**ACCOUNT_BODY["properties"], "documentEndpoint": server.url + "/"}}
    server.script(Reply.json(account), method="GET", path=ACCT)
    action, field = ("readonlykeys", "primaryReadonlyMasterKey") if read_only else ("listKeys", "primaryMasterKey")
    server.script(Reply.json({field: KEY}), method="POST", path=f"{ACCT}/{action}")
    cosmos = await make_mgmt().database_accounts.get_cosmos_client("rg1", "ddb1", read_only=read_only)
    async with cosmos:
        await cosmos.get_database_account()
    data_plane = server.requests[-1]
    assert (data_plane.method, data_plane.path) == ("GET", "/")
    assert data_plane.headers["authorization"].startswith("type%3Dmaster%26ver%3D1.0%26sig%3D")
    assert [r.path for r in server.requests] == [ACCT, f"{ACCT}/{action}", "/"]


async def test_metrics_and_metric_definitions(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    m = make_mgmt()
    metric = {"name": {"value": "Total Requests"}, "unit": "Count", "metricValues": [{"total": 3}]}
    server.script(Reply.json({"value": [metric]}), method="GET", path=ACCT + "/metrics")
    server.script(Reply.json({"value": [{"name": {"value": "Total Requests"}}]}), method="GET",
                  path=ACCT + "/metricDefinitions")
    flt = "(name.value eq 'Total Requests') and timeGrain eq duration'PT5M'"
    assert [x async for x in m.database_accounts.list_metrics("rg1", "ddb1", flt)] == [metric]
    assert query_of(server.requests[-1]) == {"api-version": ["2026-07-15"], "$filter": [flt]}
    assert [x async for x in m.database_accounts.list_metric_definitions("rg1", "ddb1")] == [
        {"name": {"value": "Total Requests"}}]
    assert server.requests[-1].path == ACCT + "/metricDefinitions"
    with pytest.raises(ValidationError, match="OData filter"):
        m.database_accounts.list_metrics("rg1", "ddb1", "")


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "12"}, 12.0),
    ({"retry-after-ms": "1500", "Retry-After": "12"}, 1.5),
    ({"x-ms-retry-after-ms": "250"}, 0.25),
    ({"Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT", "Date": "Wed, 21 Oct 2026 07:28:00 GMT"}, 30.0),
    ({"Retry-After": "soon"}, None),
    ({}, None),
])
def test_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    from multidict import CIMultiDict

    assert parse_retry_after(CIMultiDict(headers)) == expected


async def test_connection_refused_is_retried_then_raised(make_mgmt: MgmtFactory, clock: FakeClock) -> None:
    m = make_mgmt(base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(aiocosmos.ConnectError) as info:
        await m.database_accounts.get("rg1", "ddb1")
    assert info.value.attempts == 4 and len(clock.sleeps) == 3
    assert not info.value.may_have_been_applied


@pytest.mark.parametrize("base_url, scope", [
    ("https://management.azure.com", "https://management.azure.com/.default"),
    ("https://westus.management.azure.com", "https://management.azure.com/.default"),
    ("https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default"),
    ("https://management.usgovcloudapi.net/", "https://management.usgovcloudapi.net/.default"),
    ("https://management.local.azurestack.external", "https://management.local.azurestack.external/.default"),
])
def test_credential_scopes_default_to_the_clouds_arm_audience(base_url: str, scope: str,
                                                               credential: FakeCredential) -> None:
    assert CosmosManagementClient(credential, SUB, base_url=base_url).credential_scopes == [scope]


async def test_credential_scopes_are_what_tokens_are_requested_for(make_mgmt: MgmtFactory,
                                                                   credential: FakeCredential) -> None:
    scopes = ["https://management.core.usgovcloudapi.net/.default"]
    m = make_mgmt(credential_scopes=scopes)
    assert m.credential_scopes == scopes
    await m.database_accounts.get("rg1", "ddb1")
    assert credential.scopes == [tuple(scopes)]
    for bad in ([], "https://x/.default", [""]):
        with pytest.raises(ConfigurationError, match="credential_scopes"):
            make_mgmt(credential_scopes=bad)
    with pytest.raises(ConfigurationError, match="not both"):
        make_mgmt(credential_scopes=scopes, credential_scope=scopes[0])
