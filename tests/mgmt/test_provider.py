"""Account operations beyond the replayed examples: read-only keys by GET, one location, one restorable
account, the restorable containers/resources queries, and the restore (``createMode: Restore``) body."""

from __future__ import annotations

import pytest

from aiocosmos import ValidationError
from aiocosmos.mgmt import ArmResource, DatabaseAccount, DatabaseAccountKeys, restore_parameters
from tests.client.recording_server import RecordingServer, Reply
from tests.mgmt.conftest import SUB, MgmtFactory, example, query_of

ACCT = f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1"
RESTORABLE = f"/subscriptions/{SUB}/providers/Microsoft.DocumentDB/locations/West%20US/restorableDatabaseAccounts"


async def test_read_only_keys_by_get(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    body = example("CosmosDBDatabaseAccountListReadOnlyKeys.json")["responses"]["200"]["body"]
    server.script(Reply.json(body), method="GET", path=ACCT + "/readonlykeys")
    keys = await make_mgmt().database_accounts.get_read_only_keys("rg1", "ddb1")
    assert isinstance(keys, DatabaseAccountKeys)
    assert keys.primary_readonly_master_key == body["primaryReadonlyMasterKey"]
    assert keys.as_dict() == body
    assert body["primaryReadonlyMasterKey"] not in repr(keys)
    assert [(r.method, r.path) for r in server.requests] == [("GET", ACCT + "/readonlykeys")]


async def test_location_get_and_restorable_account_get(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    region = example("CosmosDBLocationList.json")["responses"]["200"]["body"]["value"][0]
    server.script(Reply.json(region), method="GET", path=f"/subscriptions/{SUB}/providers/Microsoft.DocumentDB"
                                                         "/locations/westus")
    account = example("CosmosDBRestorableDatabaseAccountList.json")["responses"]["200"]["body"]["value"][0]
    server.script(Reply.json(account), method="GET", path=f"{RESTORABLE}/{account['name']}")
    m = make_mgmt()
    assert (await m.locations.get("westus")).as_dict() == region
    got = await m.restorable_database_accounts.get_by_location("West US", account["name"])
    assert isinstance(got, ArmResource) and got.properties["accountName"] == "ddb1"


@pytest.mark.parametrize("api, collection, rid_param", [
    ("sql", "restorableSqlContainers", "restorableSqlDatabaseRid"),
    ("mongodb", "restorableMongodbCollections", "restorableMongodbDatabaseRid"),
    ("gremlin", "restorableGremlinGraphs", "restorableGremlinDatabaseRid"),
    ("table", "restorableTables", None),
])
async def test_restorable_containers_and_resources(api: str, collection: str, rid_param: str | None,
                                                   server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    server.script(method="GET", path=None, forever=Reply.json({"value": [{"name": "e1", "properties": {}}]}))
    ops = make_mgmt().restorable_database_accounts
    items = [i async for i in ops.list_containers("West US", "inst", api=api, database_rid="3fu-hg==",
                                                  start_time="2020-01-01T00:00:00Z")]
    assert [i.name for i in items] == ["e1"]
    request = server.requests[-1]
    assert request.path == f"{RESTORABLE}/inst/{collection}"
    expected = {"api-version": ["2026-07-15"], "startTime": ["2020-01-01T00:00:00Z"]}
    if rid_param:
        expected[rid_param] = ["3fu-hg=="]
    assert query_of(request) == expected
    [_ async for _ in ops.list_resources("West US", "inst", api=api, restore_location="West US",
                                         restore_timestamp_in_utc="2020-01-02T00:00:00Z")]
    assert server.requests[-1].path.endswith("Resources")
    assert query_of(server.requests[-1])["restoreTimestampInUtc"] == ["2020-01-02T00:00:00Z"]
    with pytest.raises(ValidationError, match="api must be one of"):
        ops.list_databases("West US", "inst", api="cassandra")


async def test_restore_body_creates_the_account(server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    source = f"/subscriptions/{SUB}/providers/Microsoft.DocumentDB/locations/westus/restorableDatabaseAccounts/i1"
    body = restore_parameters("westus", source, "2026-01-01T00:00:00Z", kind="GlobalDocumentDB",
                              databases_to_restore=[{"databaseName": "db1", "collectionNames": ["c1"]}],
                              restore_with_ttl_disabled=True, properties={"backupPolicy": {"type": "Continuous"}})
    assert body == {"location": "westus", "kind": "GlobalDocumentDB", "properties": {
        "databaseAccountOfferType": "Standard", "locations": [{"locationName": "westus", "failoverPriority": 0}],
        "createMode": "Restore", "backupPolicy": {"type": "Continuous"},
        "restoreParameters": {"restoreMode": "PointInTime", "restoreSource": source,
                              "restoreTimestampInUtc": "2026-01-01T00:00:00Z", "restoreWithTtlDisabled": True,
                              "databasesToRestore": [{"databaseName": "db1", "collectionNames": ["c1"]}]}}}
    answer = {"id": ACCT, "name": "ddb1", "location": "westus", "properties": {"provisioningState": "Succeeded"}}
    server.script(Reply.json(answer), method="PUT", path=ACCT)
    poller = await make_mgmt().database_accounts.begin_create_or_update("rg1", "ddb1", body)
    assert isinstance(await poller.result(), DatabaseAccount)
    assert server.requests[0].json() == body
    with pytest.raises(ValidationError, match="restore_source"):
        restore_parameters("westus", "", "2026-01-01T00:00:00Z")
