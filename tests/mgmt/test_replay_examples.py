"""Replays every official ARM example the client implements (see examples/README.md).

For each example: the client must send exactly the example's method, path, api-version and body, and
the example's response must parse into the typed result. Every long-running operation is also
replayed as a 202 with both ``Azure-AsyncOperation`` and ``Location`` (the result is read from the
``Location`` URL: ``final-state-via: location`` in the spec), as a 202 with ``Location`` alone, and
with ``polling=False`` then resumed from its continuation token, on the FakeClock.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

import pytest

from aiocosmos._feeds.paging import AsyncItemPaged
from aiocosmos.mgmt import (
    ArmResource,
    ConnectionString,
    CosmosManagementClient,
    DatabaseAccount,
    DatabaseAccountKeys,
    DatabaseAccountsOperations,
    LROPoller,
    RbacOperations,
    ResourceOperations,
    ThroughputSettings,
    Usage,
)
from aiocosmos.testing import FakeClock
from tests.client.recording_server import RecordingServer, Reply
from tests.mgmt.conftest import SUB, MgmtFactory, example, query_of

ACCT = ("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
        "/providers/Microsoft.DocumentDB/databaseAccounts/{accountName}")

Params = dict[str, Any]
Call = Callable[[CosmosManagementClient, Params], Awaitable[Any]]
Check = Callable[[Any, Any], None]


@dataclass(frozen=True)
class Case:
    file: str
    method: str
    template: str
    call: Call
    check: Check
    body_param: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    final_template: str | None = None
    """Where the client GETs the result after polling (None: the operation has no result)."""

    def __str__(self) -> str:
        return self.file.removeprefix("CosmosDB").removesuffix(".json")


def path_of(template: str, params: Params) -> str:
    return template.format(**{k: quote(str(v), safe="") for k, v in params.items()})


async def _collect(pager: AsyncItemPaged[Any]) -> list[Any]:
    return [item async for item in pager]


def _rg(p: Params) -> tuple[str, str]:
    return p["resourceGroupName"], p["accountName"]


# -- result checks -----------------------------------------------------------------------------------


def check_account(result: Any, body: Any) -> None:
    assert isinstance(result, DatabaseAccount)
    assert result.raw == body
    assert result.id == body["id"] and result.name == body["name"] and result.location == body["location"]
    assert result.kind == body.get("kind")
    props = body["properties"]
    assert result.provisioning_state == props.get("provisioningState")
    assert result.document_endpoint == props.get("documentEndpoint")
    assert result.write_locations == props.get("writeLocations", [])
    assert result.read_locations == props.get("readLocations", [])
    assert result.failover_policies == props.get("failoverPolicies", [])
    assert result.default_consistency_level == props.get("consistencyPolicy", {}).get("defaultConsistencyLevel")


def check_accounts(result: Any, body: Any) -> None:
    assert len(result) == len(body["value"]) > 0
    for account, raw in zip(result, body["value"], strict=True):
        check_account(account, raw)


def check_resource(result: Any, body: Any) -> None:
    assert type(result) is ArmResource
    assert result.raw == body
    assert (result.id, result.name, result.type) == (body.get("id"), body.get("name"), body.get("type"))
    assert result.resource == body["properties"]["resource"]
    assert result.options == body["properties"].get("options", {})
    assert result.tags == body.get("tags", {})


def check_resources(result: Any, body: Any) -> None:
    assert len(result) == len(body["value"]) > 0
    for item, raw in zip(result, body["value"], strict=True):
        check_resource(item, raw)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def check_throughput(result: Any, body: Any) -> None:
    assert isinstance(result, ThroughputSettings)
    assert result.raw == body
    resource = body["properties"]["resource"]
    assert result.throughput == resource.get("throughput")
    assert result.max_throughput == resource.get("autoscaleSettings", {}).get("maxThroughput")
    assert result.is_autoscale == ("autoscaleSettings" in resource)
    assert result.minimum_throughput == _int_or_none(resource.get("minimumThroughput"))
    pending = resource.get("offerReplacePending")
    assert result.offer_replace_pending == (None if pending is None else pending == "true")


def check_none(result: Any, body: Any) -> None:
    assert result is None


def check_keys(result: Any, body: Any) -> None:
    assert isinstance(result, DatabaseAccountKeys)
    assert result.primary_master_key == body.get("primaryMasterKey")
    assert result.secondary_master_key == body.get("secondaryMasterKey")
    assert result.primary_readonly_master_key == body.get("primaryReadonlyMasterKey")
    assert result.secondary_readonly_master_key == body.get("secondaryReadonlyMasterKey")
    for value in body.values():
        assert value not in repr(result) and value not in str(result)


def check_connection_strings(result: Any, body: Any) -> None:
    expected = body["connectionStrings"]
    assert result == [ConnectionString(connection_string=e["connectionString"], description=e["description"],
                                       key_kind=e["keyKind"], type=e["type"]) for e in expected]
    for entry in result:
        assert entry.connection_string not in repr(entry)


def check_usages(result: Any, body: Any) -> None:
    assert [(u.name, u.localized_name, u.unit, u.quota_period, u.limit, u.current_value) for u in result] == [
        (v["name"]["value"], v["name"]["localizedValue"], v["unit"], v["quotaPeriod"], v["limit"], v["currentValue"])
        for v in body["value"]
    ]
    assert all(isinstance(u, Usage) for u in result)


# -- the cases -----------------------------------------------------------------------------------


ACCOUNT_CASES = [
    Case("CosmosDBDatabaseAccountGet.json", "GET", ACCT,
         lambda m, p: m.database_accounts.get(*_rg(p)), check_account),
    Case("CosmosDBDatabaseAccountList.json", "GET",
         "/subscriptions/{subscriptionId}/providers/Microsoft.DocumentDB/databaseAccounts",
         lambda m, p: _collect(m.database_accounts.list()), check_accounts),
    Case("CosmosDBDatabaseAccountListByResourceGroup.json", "GET",
         "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.DocumentDB/"
         "databaseAccounts",
         lambda m, p: _collect(m.database_accounts.list_by_resource_group(p["resourceGroupName"])), check_accounts),
    Case("CosmosDBDatabaseAccountCreateMin.json", "PUT", ACCT,
         lambda m, p: m.database_accounts.begin_create_or_update(*_rg(p), p["createUpdateParameters"]),
         check_account, body_param="createUpdateParameters", final_template=ACCT),
    Case("CosmosDBDatabaseAccountCreateMax.json", "PUT", ACCT,
         lambda m, p: m.database_accounts.begin_create_or_update(*_rg(p), p["createUpdateParameters"]),
         check_account, body_param="createUpdateParameters", final_template=ACCT),
    Case("CosmosDBDatabaseAccountPatch.json", "PATCH", ACCT,
         lambda m, p: m.database_accounts.begin_update(*_rg(p), p["updateParameters"]),
         check_account, body_param="updateParameters", final_template=ACCT),
    Case("CosmosDBDatabaseAccountDelete.json", "DELETE", ACCT,
         lambda m, p: m.database_accounts.begin_delete(*_rg(p)), check_none),
    Case("CosmosDBDatabaseAccountListKeys.json", "POST", ACCT + "/listKeys",
         lambda m, p: m.database_accounts.list_keys(*_rg(p)), check_keys),
    Case("CosmosDBDatabaseAccountListReadOnlyKeys.json", "POST", ACCT + "/readonlykeys",
         lambda m, p: m.database_accounts.list_read_only_keys(*_rg(p)), check_keys),
    Case("CosmosDBDatabaseAccountRegenerateKey.json", "POST", ACCT + "/regenerateKey",
         lambda m, p: m.database_accounts.begin_regenerate_key(
             *_rg(p), p["keyToRegenerate"]["keyKind"],
             skip_account_keys_last_usage_check=p["keyToRegenerate"]["skipAccountKeysLastUsageCheck"]),
         check_none, body_param="keyToRegenerate"),
    Case("CosmosDBDatabaseAccountListConnectionStrings.json", "POST", ACCT + "/listConnectionStrings",
         lambda m, p: m.database_accounts.list_connection_strings(*_rg(p)), check_connection_strings),
    Case("CosmosDBDatabaseAccountFailoverPriorityChange.json", "POST", ACCT + "/failoverPriorityChange",
         lambda m, p: m.database_accounts.begin_failover_priority_change(
             *_rg(p), p["failoverParameters"]["failoverPolicies"]),
         check_none, body_param="failoverParameters"),
    Case("CosmosDBDatabaseAccountOfflineRegion.json", "POST", ACCT + "/offlineRegion",
         lambda m, p: m.database_accounts.begin_offline_region(*_rg(p), p["region"]),
         check_none, body_param="regionParameterForOffline"),
    Case("CosmosDBDatabaseAccountOnlineRegion.json", "POST", ACCT + "/onlineRegion",
         lambda m, p: m.database_accounts.begin_online_region(*_rg(p), p["region"]),
         check_none, body_param="regionParameterForOnline"),
    Case("CosmosDBDatabaseAccountGetUsages.json", "GET", ACCT + "/usages",
         lambda m, p: _collect(m.database_accounts.list_usages(*_rg(p), filter=p["$filter"])), check_usages,
         query=(("$filter", "name.value eq 'Storage'"),)),
]

FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # example prefix: (client attribute, path under the account, name parameters)
    "SqlDatabase": ("sql_databases", "/sqlDatabases/{databaseName}", ("databaseName",)),
    "SqlContainer": ("sql_containers", "/sqlDatabases/{databaseName}/containers/{containerName}",
                     ("databaseName", "containerName")),
    "CassandraKeyspace": ("cassandra_keyspaces", "/cassandraKeyspaces/{keyspaceName}", ("keyspaceName",)),
    "CassandraTable": ("cassandra_tables", "/cassandraKeyspaces/{keyspaceName}/tables/{tableName}",
                       ("keyspaceName", "tableName")),
    "MongoDBDatabase": ("mongodb_databases", "/mongodbDatabases/{databaseName}", ("databaseName",)),
    "MongoDBCollection": ("mongodb_collections", "/mongodbDatabases/{databaseName}/collections/{collectionName}",
                          ("databaseName", "collectionName")),
    "GremlinDatabase": ("gremlin_databases", "/gremlinDatabases/{databaseName}", ("databaseName",)),
    "GremlinGraph": ("gremlin_graphs", "/gremlinDatabases/{databaseName}/graphs/{graphName}",
                     ("databaseName", "graphName")),
    "Table": ("tables", "/tables/{tableName}", ("tableName",)),
}

RESOURCE_FILES = [
    "CosmosDBCassandraKeyspaceCreateUpdate.json", "CosmosDBCassandraKeyspaceDelete.json",
    "CosmosDBCassandraKeyspaceGet.json", "CosmosDBCassandraKeyspaceList.json",
    "CosmosDBCassandraKeyspaceMigrateToManualThroughput.json", "CosmosDBCassandraKeyspaceThroughputGet.json",
    "CosmosDBCassandraKeyspaceThroughputUpdate.json",
    "CosmosDBCassandraTableMigrateToAutoscale.json", "CosmosDBCassandraTableThroughputUpdate.json",
    "CosmosDBGremlinDatabaseGet.json", "CosmosDBGremlinDatabaseList.json",
    "CosmosDBGremlinDatabaseMigrateToAutoscale.json", "CosmosDBGremlinDatabaseThroughputGet.json",
    "CosmosDBGremlinGraphCreateUpdate.json", "CosmosDBGremlinGraphDelete.json", "CosmosDBGremlinGraphGet.json",
    "CosmosDBGremlinGraphList.json", "CosmosDBGremlinGraphThroughputGet.json",
    "CosmosDBGremlinGraphThroughputUpdate.json",
    "CosmosDBMongoDBCollectionCreateUpdate.json", "CosmosDBMongoDBCollectionGet.json",
    "CosmosDBMongoDBDatabaseCreateUpdate.json", "CosmosDBMongoDBDatabaseDelete.json",
    "CosmosDBMongoDBDatabaseGet.json", "CosmosDBMongoDBDatabaseList.json",
    "CosmosDBMongoDBDatabaseThroughputGet.json", "CosmosDBMongoDBDatabaseThroughputUpdate.json",
    "CosmosDBSqlContainerCreateUpdate.json", "CosmosDBSqlContainerDelete.json", "CosmosDBSqlContainerGet.json",
    "CosmosDBSqlContainerList.json", "CosmosDBSqlContainerMigrateToAutoscale.json",
    "CosmosDBSqlContainerThroughputGet.json", "CosmosDBSqlContainerThroughputUpdate.json",
    "CosmosDBSqlDatabaseCreateUpdate.json", "CosmosDBSqlDatabaseDelete.json", "CosmosDBSqlDatabaseGet.json",
    "CosmosDBSqlDatabaseList.json", "CosmosDBSqlDatabaseMigrateToAutoscale.json",
    "CosmosDBSqlDatabaseMigrateToManualThroughput.json", "CosmosDBSqlDatabaseThroughputGet.json",
    "CosmosDBSqlDatabaseThroughputUpdate.json",
    "CosmosDBTableCreateUpdate.json", "CosmosDBTableDelete.json", "CosmosDBTableGet.json", "CosmosDBTableList.json",
    "CosmosDBTableThroughputGet.json", "CosmosDBTableThroughputUpdate.json",
]


def _ops(m: CosmosManagementClient, attribute: str) -> ResourceOperations:
    ops = getattr(m, attribute)
    assert isinstance(ops, ResourceOperations | _LroKwargs)
    return cast("ResourceOperations", ops)


def resource_case(file: str) -> Case:
    stem = file.removeprefix("CosmosDB").removesuffix(".json")
    family = max((f for f in FAMILIES if stem.startswith(f)), key=len)
    op = stem[len(family):]
    attribute, sub_path, name_params = FAMILIES[family]
    template = ACCT + sub_path
    throughput = template + "/throughputSettings/default"

    def names(p: Params) -> list[str]:
        return [p[n] for n in name_params]

    if op == "Get":
        return Case(file, "GET", template, lambda m, p: _ops(m, attribute).get(*_rg(p), *names(p)), check_resource)
    if op == "List":
        return Case(file, "GET", template.rsplit("/", 1)[0],
                    lambda m, p: _collect(_ops(m, attribute).list(*_rg(p), *[p[n] for n in name_params[:-1]])),
                    check_resources)
    if op == "Delete":
        return Case(file, "DELETE", template, lambda m, p: _ops(m, attribute).begin_delete(*_rg(p), *names(p)),
                    check_none)
    if op == "CreateUpdate":
        param = f"createUpdate{family}Parameters"

        def create(m: CosmosManagementClient, p: Params) -> Awaitable[Any]:
            body = p[param]
            return _ops(m, attribute).begin_create_update(
                *_rg(p), *names(p), resource=body["properties"]["resource"], options=body["properties"]["options"],
                location=body["location"], tags=body["tags"])

        return Case(file, "PUT", template, create, check_resource, body_param=param, final_template=template)
    if op == "ThroughputGet":
        return Case(file, "GET", throughput, lambda m, p: _ops(m, attribute).get_throughput(*_rg(p), *names(p)),
                    check_throughput)
    if op == "ThroughputUpdate":

        def update(m: CosmosManagementClient, p: Params) -> Awaitable[Any]:
            body = p["updateThroughputParameters"]
            resource = body["properties"]["resource"]
            return _ops(m, attribute).begin_update_throughput(
                *_rg(p), *names(p), throughput=resource.get("throughput"),
                max_throughput=resource.get("autoscaleSettings", {}).get("maxThroughput"),
                location=body["location"], tags=body["tags"])

        return Case(file, "PUT", throughput, update, check_throughput, body_param="updateThroughputParameters",
                    final_template=throughput)
    if op == "MigrateToAutoscale":
        return Case(file, "POST", throughput + "/migrateToAutoscale",
                    lambda m, p: _ops(m, attribute).begin_migrate_to_autoscale(*_rg(p), *names(p)),
                    check_throughput, final_template=throughput)
    assert op == "MigrateToManualThroughput", file
    return Case(file, "POST", throughput + "/migrateToManualThroughput",
                lambda m, p: _ops(m, attribute).begin_migrate_to_manual_throughput(*_rg(p), *names(p)),
                check_throughput, final_template=throughput)


RBAC_FAMILIES: dict[str, tuple[str, str, str, str]] = {
    # example prefix: (client attribute, path under the account, id parameter, body parameter)
    "SqlRoleDefinition": ("sql_role_definitions", "/sqlRoleDefinitions/{roleDefinitionId}", "roleDefinitionId",
                          "createUpdateSqlRoleDefinitionParameters"),
    "SqlRoleAssignment": ("sql_role_assignments", "/sqlRoleAssignments/{roleAssignmentId}", "roleAssignmentId",
                          "createUpdateSqlRoleAssignmentParameters"),
    "MongoDBRoleDefinition": ("mongodb_role_definitions", "/mongodbRoleDefinitions/{mongoRoleDefinitionId}",
                              "mongoRoleDefinitionId", "createUpdateMongoRoleDefinitionParameters"),
    "MongoDBUserDefinition": ("mongodb_user_definitions", "/mongodbUserDefinitions/{mongoUserDefinitionId}",
                              "mongoUserDefinitionId", "createUpdateMongoUserDefinitionParameters"),
    "CassandraRoleAssignment": ("cassandra_role_assignments", "/cassandraRoleAssignments/{roleAssignmentId}",
                                "roleAssignmentId", "createUpdateCassandraRoleAssignmentParameters"),
}

RBAC_FILES = [
    f"CosmosDB{family}{op}.json" for family in ("SqlRoleDefinition", "SqlRoleAssignment", "MongoDBRoleDefinition",
                                                "MongoDBUserDefinition")
    for op in ("Get", "List", "CreateUpdate", "Delete")
] + ["CosmosDBCassandraRoleAssignmentGet.json"]


def check_rbac(result: Any, body: Any) -> None:
    assert type(result) is ArmResource
    assert result.raw == body
    assert (result.id, result.name, result.type) == (body.get("id"), body.get("name"), body.get("type"))
    assert result.properties == body["properties"]
    assert result.as_dict() == body


def check_rbac_list(result: Any, body: Any) -> None:
    assert len(result) == len(body["value"]) > 0
    for item, raw in zip(result, body["value"], strict=True):
        check_rbac(item, raw)


def rbac_case(file: str) -> Case:
    stem = file.removeprefix("CosmosDB").removesuffix(".json")
    family = next(f for f in RBAC_FAMILIES if stem.startswith(f))
    op = stem[len(family):]
    attribute, sub_path, id_param, body_param = RBAC_FAMILIES[family]
    template = ACCT + sub_path

    def ops(m: CosmosManagementClient) -> Any:
        return getattr(m, attribute)

    if op == "Get":
        return Case(file, "GET", template, lambda m, p: ops(m).get(*_rg(p), p[id_param]), check_rbac)
    if op == "List":
        return Case(file, "GET", template.rsplit("/", 1)[0], lambda m, p: _collect(ops(m).list(*_rg(p))),
                    check_rbac_list)
    if op == "Delete":
        return Case(file, "DELETE", template, lambda m, p: ops(m).begin_delete(*_rg(p), p[id_param]), check_none)
    assert op == "CreateUpdate", file
    return Case(file, "PUT", template,
                lambda m, p: ops(m).begin_create_update(*_rg(p), p[id_param], p[body_param]["properties"]),
                check_rbac, body_param=body_param, final_template=template)


def check_raw_list(result: Any, body: Any) -> None:
    assert result == body["value"] and len(result) > 0


PROVIDER = "/subscriptions/{subscriptionId}/providers/Microsoft.DocumentDB"
RESTORABLE = PROVIDER + "/locations/{location}/restorableDatabaseAccounts"

PROVIDER_CASES = [
    Case("CosmosDBOperationsList.json", "GET", "/providers/Microsoft.DocumentDB/operations",
         lambda m, p: _collect(m.operations.list()), check_raw_list),
    Case("CosmosDBLocationList.json", "GET", PROVIDER + "/locations",
         lambda m, p: _collect(m.locations.list()), check_rbac_list),
    Case("CosmosDBRestorableDatabaseAccountList.json", "GET", RESTORABLE,
         lambda m, p: _collect(m.restorable_database_accounts.list_by_location(p["location"])), check_rbac_list),
    Case("CosmosDBRestorableDatabaseAccountNoLocationList.json", "GET", PROVIDER + "/restorableDatabaseAccounts",
         lambda m, p: _collect(m.restorable_database_accounts.list()), check_rbac_list),
    Case("CosmosDBRestorableSqlDatabaseList.json", "GET", RESTORABLE + "/{instanceId}/restorableSqlDatabases",
         lambda m, p: _collect(m.restorable_database_accounts.list_databases(p["location"], p["instanceId"])),
         check_rbac_list),
]

CASES = (ACCOUNT_CASES + [resource_case(f) for f in RESOURCE_FILES] + [rbac_case(f) for f in RBAC_FILES]
         + PROVIDER_CASES)
LRO_CASES = [c for c in CASES if c.final_template is not None or c.check is check_none]
"""Every long-running operation (create/update, delete, throughput update, migrate and the account actions)."""


def _client(make_mgmt: MgmtFactory, params: Params) -> CosmosManagementClient:
    return make_mgmt(subscription_id=params.get("subscriptionId", SUB), api_version=params["api-version"])


def _assert_initial_request(server: RecordingServer, case: Case, params: Params) -> None:
    first = server.requests[0]
    assert first.method == case.method
    assert first.path == path_of(case.template, params)
    query = query_of(first)
    assert query.pop("api-version") == [params["api-version"]]
    assert query == {k: [v] for k, v in case.query}
    if case.body_param is None:
        assert first.body == b""
    else:
        assert first.headers["Content-Type"] == "application/json"
        assert first.json() == params[case.body_param]
    assert first.headers["Authorization"] == "Bearer token-1"
    assert first.headers["x-ms-client-request-id"]
    assert first.headers["Accept"] == "application/json"


async def _run(m: CosmosManagementClient, case: Case, params: Params) -> Any:
    result = await case.call(m, params)
    if isinstance(result, LROPoller):
        result = await result.result()
    return result


def test_every_example_file_is_replayed() -> None:
    from tests.mgmt.conftest import EXAMPLES

    used = {c.file for c in CASES} | {"CosmosDBDatabaseAccountCheckNameExists.json"}
    assert used == {p.name for p in EXAMPLES.glob("*.json")}


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_example_synchronous(case: Case, server: RecordingServer, make_mgmt: MgmtFactory,
                                   clock: FakeClock) -> None:
    ex = example(case.file)
    params = ex["parameters"]
    responses = ex["responses"]
    status = "200" if "200" in responses else "204"
    body = responses[status].get("body")
    path = path_of(case.template, params)
    server.script(Reply(status=int(status), body=body), method=case.method, path=path)
    expected = body
    state = (body or {}).get("properties", {}).get("provisioningState") if isinstance(body, dict) else None
    if state is not None and state not in ("Succeeded", "Failed", "Canceled"):
        # Account create answers 200 "Initializing" without status headers: the client polls the account.
        expected = copy.deepcopy(body)
        expected["properties"]["provisioningState"] = "Succeeded"
        server.script(Reply.json(body), Reply.json(expected), method="GET", path=path)
    m = _client(make_mgmt, params)
    result = await _run(m, case, params)
    _assert_initial_request(server, case, params)
    case.check(result, expected)
    if expected is not body:
        assert [r.method for r in server.requests] == ["PUT", "GET", "GET"]
        assert clock.sleeps == [5.0, 5.0]  # the client's polling interval
    else:
        assert len(server.requests) == 1
        assert clock.sleeps == []


MONITOR = f"/subscriptions/{SUB}/providers/Microsoft.DocumentDB/locations/westus/operationsStatus/op-1"
RESULTS = f"/subscriptions/{SUB}/providers/Microsoft.DocumentDB/locations/westus/operationResults/op-1"
NOT_THE_RESULT = {"id": "the resource's own URL: the spec says the result is read from Location", "properties": {}}


class _LroKwargs:
    """A client (or operation group) whose ``begin_*`` methods all get extra keyword arguments."""

    def __init__(self, target: Any, kwargs: dict[str, Any]) -> None:
        self._target = target
        self._kwargs = kwargs

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("begin_"):
            return functools.partial(value, **self._kwargs)
        if isinstance(value, ResourceOperations | DatabaseAccountsOperations | RbacOperations):
            return _LroKwargs(value, self._kwargs)
        return value


async def _begin(case: Case, m: CosmosManagementClient, params: Params, **kwargs: Any) -> LROPoller[Any]:
    poller = await case.call(cast("CosmosManagementClient", _LroKwargs(m, kwargs)), params)
    assert isinstance(poller, LROPoller)
    return poller


def _script_accepted(server: RecordingServer, case: Case, params: Params, *, aao: bool = True) -> None:
    api = params["api-version"]
    headers = {"Location": f"{server.url}{RESULTS}?api-version={api}", "Retry-After": "7"}
    if aao:
        headers["Azure-AsyncOperation"] = f"{server.url}{MONITOR}?api-version={api}"
    server.script(Reply(status=202, headers=headers), method=case.method, path=path_of(case.template, params))
    if case.final_template is not None:  # must not be read: it is not where the spec puts the result
        server.script(method="GET", path=path_of(case.final_template, params), forever=Reply.json(NOT_THE_RESULT))


def _script_result(server: RecordingServer, case: Case, final_body: Any, *replies_before: Reply) -> None:
    last = Reply.json(final_body) if case.final_template is not None else Reply(status=204)
    server.script(*replies_before, last, method="GET", path=RESULTS)


def _final_body(case: Case) -> Any:
    return example(case.file)["responses"].get("200", {}).get("body")


def _check_lro_result(case: Case, result: Any) -> None:
    if case.final_template is None:
        check_none(result, None)
    else:
        case.check(result, _final_body(case))


@pytest.mark.parametrize("case", LRO_CASES, ids=str)
async def test_example_as_lro_with_both_headers(case: Case, server: RecordingServer, make_mgmt: MgmtFactory,
                                                clock: FakeClock) -> None:
    """202 with Azure-AsyncOperation and Location: poll the monitor, then (final-state-via: location)
    read the result from the Location URL, never from the resource's own URL."""
    params = example(case.file)["parameters"]
    api = params["api-version"]
    _script_accepted(server, case, params)
    server.script(Reply.json({"status": "InProgress"}, Retry_After="3"), Reply.json({"status": "Succeeded"}),
                  method="GET", path=MONITOR)
    _script_result(server, case, _final_body(case))
    poller = await _begin(case, _client(make_mgmt, params), params)
    assert poller.status() == "InProgress" and not poller.done()
    result = await poller.result()
    assert poller.status() == "Succeeded" and poller.done()
    _assert_initial_request(server, case, params)
    assert clock.sleeps == [7.0, 3.0]
    polls = server.requests[1:]
    expected = [("GET", MONITOR), ("GET", MONITOR)]
    if case.final_template is not None:
        expected.append(("GET", RESULTS))
    assert [(r.method, r.path) for r in polls] == expected
    assert all(query_of(r)["api-version"] == [api] for r in polls)
    assert all(r.headers["Authorization"] == "Bearer token-1" for r in polls)
    _check_lro_result(case, result)


@pytest.mark.parametrize("case", LRO_CASES, ids=str)
async def test_example_as_lro_with_location_only(case: Case, server: RecordingServer, make_mgmt: MgmtFactory,
                                                 clock: FakeClock) -> None:
    """202 with Location alone: poll it until it answers 200 (the result) or 204 (no result)."""
    params = example(case.file)["parameters"]
    _script_accepted(server, case, params, aao=False)
    _script_result(server, case, _final_body(case), Reply(status=202, headers={"Retry-After": "3"}))
    poller = await _begin(case, _client(make_mgmt, params), params)
    result = await poller.result()
    assert clock.sleeps == [7.0, 3.0]
    assert [(r.method, r.path) for r in server.requests[1:]] == [("GET", RESULTS), ("GET", RESULTS)]
    _check_lro_result(case, result)


@pytest.mark.parametrize("case", LRO_CASES, ids=str)
async def test_example_polling_false_then_resumed(case: Case, server: RecordingServer, make_mgmt: MgmtFactory,
                                                  clock: FakeClock) -> None:
    """``polling=False`` returns after the first response; ``continuation_token=`` resumes the operation in
    a new client, remembering the first response's Retry-After."""
    params = example(case.file)["parameters"]
    _script_accepted(server, case, params)
    server.script(Reply.json({"status": "Succeeded"}), method="GET", path=MONITOR)
    _script_result(server, case, _final_body(case))
    first = _client(make_mgmt, params)
    poller = await _begin(case, first, params, polling=False)
    assert not poller.polling and poller.status() == "InProgress"
    await poller.wait()
    assert await poller.result() is None  # a 202 has no body
    assert len(server.requests) == 1 and clock.sleeps == []
    token = poller.continuation_token()
    await first.close()
    resumed = await _begin(case, _client(make_mgmt, params), params, continuation_token=token)
    assert len(server.requests) == 1  # resuming sends nothing until awaited
    assert resumed.polling and resumed.status() == "InProgress"
    result = await resumed.result()
    assert clock.sleeps == [7.0]
    _check_lro_result(case, result)
    assert [r.path for r in server.requests[1:]] == [MONITOR] + ([RESULTS] if case.final_template else [])


@pytest.mark.parametrize("status, exists", [(200, True), (404, False)])
async def test_check_name_exists(status: int, exists: bool, server: RecordingServer, make_mgmt: MgmtFactory) -> None:
    params = example("CosmosDBDatabaseAccountCheckNameExists.json")["parameters"]
    path = f"/providers/Microsoft.DocumentDB/databaseAccountNames/{params['accountName']}"
    server.script(Reply(status=status), method="HEAD", path=path)
    m = make_mgmt(api_version=params["api-version"])
    assert await m.database_accounts.check_name_exists(params["accountName"]) is exists
    (request,) = server.requests
    assert (request.method, request.path) == ("HEAD", path)
    assert query_of(request) == {"api-version": [params["api-version"]]}
