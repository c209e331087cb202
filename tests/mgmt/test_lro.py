"""Long-running operations: Azure-AsyncOperation and Location polling, provisioningState polling,
Failed/Canceled, Retry-After versus the polling interval, and resuming from a saved state."""

from __future__ import annotations

import pytest

from aiocosmos import ClientOptions, RetryPolicy, ValidationError
from aiocosmos.mgmt import ArmError, ArmResource, LroFailedError, LROPoller, ThroughputSettings
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
    server.script(Reply.json(DB_BODY), method="GET", path=RESULTS)
    first = make_mgmt()
    poller = await first.sql_databases.begin_create_update("rg1", "ddb1", "db1", resource={"id": "db1"})
    token = poller.continuation_token()
    await first.close()
    assert "token-" not in token  # the bearer token is not part of the state
    resumed = make_mgmt().resume_poller(token)
    assert isinstance(resumed, LROPoller) and resumed.status() == "InProgress"
    result = await resumed.result()
    assert isinstance(result, ArmResource) and result.raw == DB_BODY
    # final-state-via: location — the result is read from the Location URL the first response gave.
    assert [r.path for r in server.requests] == [DB, MONITOR, MONITOR, RESULTS]
    assert clock.sleeps == [1.0, 5.0]  # the saved state carries the first response's Retry-After


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


# -- final-state-via, Retry-After on resume, polling=False, continuation_token=, failures --------------


async def test_aao_and_location_read_the_result_from_the_last_location(
    server: RecordingServer, make_mgmt: MgmtFactory
) -> None:
    """A poll may hand out a newer Location: the final GET follows the latest one."""
    accepted(server, path=DB + "/throughputSettings/default/migrateToAutoscale", method="POST")
    newer = f"{RESULTS}-newer"
    server.script(Reply.json({"status": "InProgress"}, Location=f"{server.url}{newer}?api-version=2026-07-15"),
                  Reply.json({"status": "Succeeded"}), method="GET", path=MONITOR)
    server.script(Reply.json(THROUGHPUT_BODY), method="GET", path=newer)
    result = await (await make_mgmt().sql_databases.begin_migrate_to_autoscale("rg1", "ddb1", "db1")).result()
    assert isinstance(result, ThroughputSettings) and result.raw == THROUGHPUT_BODY
    assert [r.path for r in server.requests[1:]] == [MONITOR, MONITOR, newer]


async def test_aao_without_location_falls_back_to_resource_location_then_the_resource(
    server: RecordingServer, make_mgmt: MgmtFactory
) -> None:
    accepted(server, location=False)
    elsewhere = ACCT + "/sqlDatabases/db1-as-reported"
    server.script(Reply.json({"status": "Succeeded", "resourceLocation": f"{server.url}{elsewhere}"}),
                  method="GET", path=MONITOR)
    server.script(Reply.json(DB_BODY), method="GET", path=elsewhere)
    result = await (await make_mgmt().sql_databases.begin_create_update("rg1", "ddb1", "db1", resource={})).result()
    assert isinstance(result, ArmResource) and result.raw == DB_BODY
    assert [r.path for r in server.requests] == [DB, MONITOR, elsewhere]

    server.reset()
    migrate = DB + "/throughputSettings/default/migrateToManualThroughput"
    accepted(server, location=False, path=migrate, method="POST")
    server.script(Reply.json({"status": "Succeeded"}), method="GET", path=MONITOR)
    server.script(Reply.json(THROUGHPUT_BODY), method="GET", path=DB + "/throughputSettings/default")
    poller = await make_mgmt().sql_databases.begin_migrate_to_manual_throughput("rg1", "ddb1", "db1")
    assert (await poller.result()).raw == THROUGHPUT_BODY  # no Location given: read the settings themselves
    assert [r.path for r in server.requests] == [migrate, MONITOR, DB + "/throughputSettings/default"]


async def test_final_state_via_original_uri_reads_the_request_url(server: RecordingServer,
                                                                 make_mgmt: MgmtFactory) -> None:
    m = make_mgmt()
    accepted(server)
    server.script(Reply.json({"status": "Succeeded"}), method="GET", path=MONITOR)
    server.script(Reply.json(DB_BODY), method="GET", path=DB)
    url = f"{server.url}{DB}?api-version=2026-07-15"
    poller = await m._core.begin("PUT", url, body={}, final_url=url, kind="resource",
                                 final_state_via="original-uri")
    assert (await poller.result()).raw == DB_BODY
    assert [r.path for r in server.requests] == [DB, MONITOR, DB]
    with pytest.raises(ValidationError, match="final_state_via"):
        await m._core.begin("PUT", url, body={}, final_state_via="somewhere")


async def test_resumed_poller_remembers_the_last_retry_after(server: RecordingServer, make_mgmt: MgmtFactory,
                                                             clock: FakeClock) -> None:
    accepted(server, retry_after="2", method="DELETE")
    server.script(Reply.json({"status": "InProgress"}, Retry_After="9"), Reply.json({"status": "Succeeded"}),
                  method="GET", path=MONITOR)
    poller = await make_mgmt().sql_databases.begin_delete("rg1", "ddb1", "db1")
    with pytest.raises(TimeoutError):
        await poller.wait(timeout=4)  # one poll (after 2 s), which asks for 9 s more
    assert clock.sleeps == [2.0]
    resumed = await make_mgmt().sql_databases.begin_delete("rg1", "ddb1", "db1",
                                                           continuation_token=poller.continuation_token())
    assert await resumed.result() is None
    assert clock.sleeps == [2.0, 9.0]


async def test_polling_false_with_a_synchronous_answer_returns_its_body(server: RecordingServer,
                                                                        make_mgmt: MgmtFactory) -> None:
    server.script(Reply.json(DB_BODY), method="PUT", path=DB)
    poller = await make_mgmt().sql_databases.begin_create_update("rg1", "ddb1", "db1", resource={}, polling=False)
    assert poller.done() and not poller.polling
    result = await poller.result()
    assert isinstance(result, ArmResource) and result.raw == DB_BODY
    assert len(server.requests) == 1
    with pytest.raises(ValidationError, match="polling"):
        await make_mgmt().sql_databases.begin_delete("rg1", "ddb1", "db1", polling="no")  # type: ignore[arg-type]


async def test_continuation_token_of_another_operation_is_refused(server: RecordingServer,
                                                                  make_mgmt: MgmtFactory) -> None:
    accepted(server, method="DELETE")
    m = make_mgmt()
    token = (await m.sql_databases.begin_delete("rg1", "ddb1", "db1")).continuation_token()
    with pytest.raises(ValidationError, match="another operation"):
        await m.sql_databases.begin_delete("rg1", "ddb1", "db2", continuation_token=token)
    with pytest.raises(ValidationError, match="another operation"):
        await m.sql_databases.begin_create_update("rg1", "ddb1", "db1", continuation_token=token)
    same = await m.sql_databases.begin_delete("rg1", "ddb1", "db1", continuation_token=token)
    assert same.status() == "InProgress"
    assert len(server.requests) == 1


async def test_wait_raises_the_operation_error_with_the_poll_status(server: RecordingServer,
                                                                    make_mgmt: MgmtFactory) -> None:
    accepted(server, method="DELETE")
    error = {"code": "Conflict", "message": "the database is locked", "details": [{"code": "Lock", "message": "x"}]}
    server.script(Reply.json({"status": "Canceled", "error": error}), method="GET", path=MONITOR)
    m = make_mgmt()
    poller = await m.sql_databases.begin_delete("rg1", "ddb1", "db1")
    with pytest.raises(LroFailedError) as info:
        await poller.wait()
    assert (info.value.status, info.value.status_code, info.value.code) == ("Canceled", 200, "Conflict")
    assert info.value.details == error["details"]
    # A poller resumed from the finished state raises the same error, without I/O.
    resumed = m.resume_poller(poller.continuation_token())
    with pytest.raises(LroFailedError) as again:
        await resumed.result()
    assert (again.value.status, again.value.status_code, again.value.message) == (
        "Canceled", 200, "the database is locked")
    assert again.value.details == error["details"]
    assert len(server.requests) == 2


async def test_location_poll_4xx_is_the_operation_failure(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    accepted(server, aao=False)
    body = {"error": {"code": "BadRequest", "message": "partition key path is invalid", "target": "resource",
                      "details": [{"code": "InvalidPath", "message": "/a//b"}]}}
    server.script(Reply.json(body, status=400), method="GET", path=RESULTS)
    poller = await make_mgmt().sql_databases.begin_create_update("rg1", "ddb1", "db1", resource={})
    with pytest.raises(LroFailedError) as info:
        await poller.result()
    assert (info.value.status, info.value.status_code, info.value.code) == ("Failed", 400, "BadRequest")
    assert (info.value.message, info.value.target) == ("partition key path is invalid", "resource")
    assert info.value.details == body["error"]["details"]
    assert poller.done() and poller.status() == "Failed"


async def test_location_poll_5xx_leaves_the_poller_resumable(server: RecordingServer,
                                                             make_mgmt: MgmtFactory) -> None:
    accepted(server, aao=False)
    server.script(Reply.json({"error": {"code": "ServiceUnavailable", "message": "busy"}}, status=503),
                  method="GET", path=RESULTS)
    m = make_mgmt(options=ClientOptions(retry=RetryPolicy(max_transient_retries=0)))
    poller = await m.sql_databases.begin_create_update("rg1", "ddb1", "db1", resource={})
    with pytest.raises(ArmError) as info:
        await poller.result()
    assert not isinstance(info.value, LroFailedError) and info.value.status_code == 503
    assert not poller.done()
    server.script(Reply.json(DB_BODY), method="GET", path=RESULTS)
    assert (await poller.result()).raw == DB_BODY
