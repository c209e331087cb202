"""Data-plane RBAC beyond the replayed examples: ``sql_role_assignments.begin_grant`` builds the
assignment the README recipe relies on."""

from __future__ import annotations

import uuid

import pytest

from aiocosmos import ValidationError
from aiocosmos.mgmt import SQL_DATA_CONTRIBUTOR, SQL_DATA_READER, ArmResource
from tests.client.recording_server import RecordingServer, Reply
from tests.mgmt.conftest import SUB, MgmtFactory

ACCT = f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1"


@pytest.mark.parametrize("scope, expected_scope", [("/", ACCT), ("/dbs/shop", ACCT + "/dbs/shop"),
                                                    (ACCT + "/dbs/x/colls/y", ACCT + "/dbs/x/colls/y")])
async def test_grant_assigns_a_role_on_a_scope(scope: str, expected_scope: str, server: RecordingServer,
                                               make_mgmt: MgmtFactory) -> None:
    path = ACCT + "/sqlRoleAssignments/a1"
    answer = {"id": path, "name": "a1", "properties": {"principalId": "p"}}
    server.script(Reply.json(answer), method="PUT", path=path)
    poller = await make_mgmt().sql_role_assignments.begin_grant("rg1", "ddb1", "p", scope=scope,
                                                                role_definition=SQL_DATA_READER, assignment_id="a1")
    result = await poller.result()
    assert isinstance(result, ArmResource) and result.raw == answer
    assert server.requests[0].json() == {"properties": {
        "roleDefinitionId": f"{ACCT}/sqlRoleDefinitions/{SQL_DATA_READER}", "scope": expected_scope,
        "principalId": "p"}}


async def test_grant_defaults_to_data_contributor_on_the_account_with_a_new_id(
    server: RecordingServer, make_mgmt: MgmtFactory
) -> None:
    server.script(method=None, path=None, forever=Reply.json({"properties": {}}))
    await (await make_mgmt().sql_role_assignments.begin_grant("rg1", "ddb1", "principal")).result()
    (request,) = server.requests
    assignment = request.path.rsplit("/", 1)[1]
    assert str(uuid.UUID(assignment)) == assignment
    assert request.json()["properties"]["roleDefinitionId"].endswith("/" + SQL_DATA_CONTRIBUTOR)
    assert request.json()["properties"]["scope"] == ACCT
    with pytest.raises(ValidationError, match="principal_id"):
        await make_mgmt().sql_role_assignments.begin_grant("rg1", "ddb1", "")
