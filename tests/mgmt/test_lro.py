"""Long-running operations: Azure-AsyncOperation and Location polling, provisioningState polling,
Failed/Canceled, Retry-After versus the polling interval, and resuming from a saved state."""

from __future__ import annotations

import pytest

from aiocosmos import ValidationError
from aiocosmos.mgmt import ArmResource, LroFailedError, LROPoller, ThroughputSettings
from aiocosmos.testing import FakeClock
from tests.client.recording_server import RecordingServer, Reply
from tests.mgmt.conftest import SUB, MgmtFactory, example

ACCT = f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1"
DB = ACCT + "/sqlDatabases/db1"
MONITOR = f"/subscriptions/{SUB}/providers/Microsoft.DocumentDB/locations/westus/operationsStatus/op-9"
RESULTS = f"/subscriptions/{SUB}/providers/Microsoft.DocumentDB/locations/westus/operationResults/op-9"
DB_BODY = example("CosmosDBSqlDatabaseCreateUpdate.json")["responses"]["200"]["body"]
THROUGHPUT_BODY = example("CosmosDBSqlDatabaseMigrateToAutoscale.json")["responses"]["200"]["body"]


def accepted(server: RecordingServer, *, aao: bool = True, location: bool = True, retry_after: str | None = None,
             path: str = DB, method: str = "PUT") -> None:
    headers = {}
    if aao:
        headers["Azure-AsyncOperation"] = f"{server.url}{MONITOR}?api-version=2026-07-15"
    if location:
        headers["Location"] = f"{server.url}{RESULTS}?api-version=2026-07-15"
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    server.script(Reply(status=202, headers=headers), method=method, path=path)


@pytest.mark.parametrize("final", ["Failed", "Canceled", "failed"])
async def test_failed_or_canceled_raises_with_the_service_error(
    final: str, server: RecordingServer, make_mgmt: MgmtFactory, clock: FakeClock
) -> None:
    accepted(server)
    error = {"code": "BadRequest", "message": "Throughput 10 is below the minimum", "target": "throughput",
             "details": [{"code": "Inner", "message": "more"}]}
    server.script(Reply.json({"status": "Running"}), Reply.json({"status": final, "error": error}),
                  method="GET", path=MONITOR)
    poller = await make_mgmt().sql_databases.begin_create_update("rg1", "ddb1", "db1", resource={"id": "db1"})
    with pytest.raises(LroFailedError) as info:
        await poller.result()
    assert info.value.status == final
    assert (info.value.code, info.value.message, info.value.target) == ("BadRequest", error["message"], "throughput")
    assert info.value.details == error["details"]
    assert "Throughput 10 is below the minimum" in str(info.value)
    assert poller.status() == final and poller.done()
    assert clock.sleeps == [5.0, 5.0]
    assert len(server.requests_to("GET", DB)) == 0  # no final GET after a failure
    with pytest.raises(LroFailedError):  # asking again raises again, without I/O
        await poller.result()
    assert len(server.requests) == 3


async def test_location_polling_takes_the_last_200_body(
    server: RecordingServer, make_mgmt: MgmtFactory, clock: FakeClock
) -> None:
    migrate = DB + "/throughputSettings/default/migrateToAutoscale"
    accepted(server, aao=False, retry_after="11", path=migrate, method="POST")
    second = f"{RESULTS}-2"
    server.script(Reply(status=202, headers={"Location": f"{server.url}{second}?api-version=2026-07-15",
                                             "Retry-After": "4"}), method="GET", path=RESULTS)
    server.script(Reply.json(THROUGHPUT_BODY), method="GET", path=second)
    poller = await make_mgmt().sql_databases.begin_migrate_to_autoscale("rg1", "ddb1", "db1")
    result = await poller.result()
    assert isinstance(result, ThroughputSettings)
    assert result.max_throughput == 4000 and result.raw == THROUGHPUT_BODY
    assert clock.sleeps == [11.0, 4.0]
    assert [(r.method, r.path) for r in server.requests] == [("POST", migrate), ("GET", RESULTS), ("GET", second)]


async def test_location_polling_204_then_final_get(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    accepted(server, aao=False)
    server.script(Reply(status=204), method="GET", path=RESULTS)
    server.script(Reply.json(DB_BODY), method="GET", path=DB)
    poller = await make_mgmt().sql_databases.begin_create_update("rg1", "ddb1", "db1", resource={})
    result = await poller.result()
    assert isinstance(result, ArmResource) and result.raw == DB_BODY
    assert server.requests[0].json() == {"properties": {"resource": {"id": "db1"}, "options": {}}}


async def test_provisioning_state_polling_failed(server: RecordingServer, make_mgmt: MgmtFactory,
                                                 clock: FakeClock) -> None:
    body = example("CosmosDBDatabaseAccountCreateMin.json")["responses"]["200"]["body"]
    server.script(Reply.json(body), method="PUT", path=ACCT)
    failed = {**body, "properties": {**body["properties"], "provisioningState": "Failed"}}
    server.script(Reply.json(body, Retry_After="2"), Reply.json(failed), method="GET", path=ACCT)
    params = example("CosmosDBDatabaseAccountCreateMin.json")["parameters"]["createUpdateParameters"]
    poller = await make_mgmt().database_accounts.begin_create_or_update("rg1", "ddb1", params)
    assert poller.status() == "Initializing"
    with pytest.raises(LroFailedError) as info:
        await poller.result()
    assert info.value.status == "Failed"
    assert clock.sleeps == [5.0, 2.0]


async def test_resume_from_continuation_token(server: RecordingServer, make_mgmt: MgmtFactory,
                                              clock: FakeClock) -> None:
    accepted(server, retry_after="1")
    server.script(Reply.json({"status": "InProgress"}), Reply.json({"status": "Succeeded"}),
                  method="GET", path=MONITOR)
    server.script(Reply.json(DB_BODY), method="GET", path=DB)
    first = make_mgmt()
    poller = await first.sql_databases.begin_create_update("rg1", "ddb1", "db1", resource={"id": "db1"})
    token = poller.continuation_token()
    await first.close()
    assert "token-" not in token  # the bearer token is not part of the state
    resumed = make_mgmt().resume_poller(token)
    assert isinstance(resumed, LROPoller) and resumed.status() == "InProgress"
    result = await resumed.result()
    assert isinstance(result, ArmResource) and result.raw == DB_BODY
    assert [r.path for r in server.requests] == [DB, MONITOR, MONITOR, DB]
    assert clock.sleeps == [5.0, 5.0]  # the saved state does not carry the first Retry-After


async def test_resume_refuses_bad_or_foreign_tokens(make_mgmt: MgmtFactory, server: RecordingServer) -> None:
    m = make_mgmt()
    for bad in ("", "nonsense", "aclro1.%%%", "aclro1.e30="):
        with pytest.raises(ValidationError):
            m.resume_poller(bad)
    accepted(server)
    poller = await m.sql_databases.begin_create_update("rg1", "ddb1", "db1", resource={"id": "db1"})
    other = make_mgmt(base_url="https://management.chinacloudapi.cn")
    with pytest.raises(ValidationError, match="not on the management endpoint"):
        other.resume_poller(poller.continuation_token())


async def test_poll_url_on_another_host_is_refused(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    server.script(Reply(status=202, headers={"Azure-AsyncOperation": "https://evil.example.com/op"}),
                  method="DELETE", path=DB)
    with pytest.raises(ValidationError, match="not on the management endpoint"):
        await make_mgmt().sql_databases.begin_delete("rg1", "ddb1", "db1")
    assert len(server.requests) == 1


async def test_wait_timeout_stops_polling_but_keeps_the_poller(server: RecordingServer, make_mgmt: MgmtFactory,
                                                               clock: FakeClock) -> None:
    accepted(server, retry_after="20", method="DELETE")
    server.script(method="GET", path=MONITOR, forever=Reply.json({"status": "InProgress"}, Retry_After="20"))
    poller = await make_mgmt().sql_databases.begin_delete("rg1", "ddb1", "db1")
    with pytest.raises(TimeoutError):
        await poller.wait(timeout=50)
    assert clock.sleeps == [20.0, 20.0]
    assert not poller.done()
