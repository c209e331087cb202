"""Users and permissions at the recording server: wire parity with azure.cosmos.aio, validation before
any I/O, redaction of resource tokens, and the resource-token flow end to end."""

from __future__ import annotations

import inspect
from typing import Any
from urllib.parse import quote

import pytest
from azure.cosmos import Permission as AzurePermission
from azure.cosmos.aio import CosmosClient as AzureClient
from azure.cosmos.aio import DatabaseProxy as AzureDatabaseProxy
from azure.cosmos.aio import UserProxy as AzureUserProxy

import aiocosmos
from tests.client.azure_parity import Case, Wire, assert_same_wire, collect, plain, run_both, script_both
from tests.client.conftest import COLL_PATH, ClientFactory, item_path, raises_clean
from tests.client.recording_server import RecordingServer, Reply

TOKEN = "type=resource&ver=1&sig=perm+secret/sig==;tail"
ENCODED_TOKEN = quote(TOKEN, safe="-_.!~*'()")
USERS = "/dbs/db/users"
ALICE = f"{USERS}/alice"
PERMS = f"{ALICE}/permissions"
# An id that needs escaping in the path but is signed unescaped.
ODD_USER = "al ice+ü"
ODD_PATH = f"{USERS}/al%20ice%2B%C3%BC"
ODD_PERMISSION = "p 1+é"

PERMISSION = {"id": "p1", "permissionMode": "All", "resource": "dbs/db/colls/c"}
PERMISSION_REPLY = {**PERMISSION, "_rid": "prid", "_self": "dbs/x/users/y/permissions/z/", "_etag": '"e"',
                    "_ts": 1, "_token": TOKEN}
READ_PERMISSION = {"id": "p2", "permissionMode": "Read", "resource": "dbs/db/colls/c/docs/d1",
                   "resourcePartitionKey": ["c1"]}


def user_reply(user_id: str = "alice") -> Reply:
    return Reply.json({"id": user_id, "_rid": "urid", "_self": "dbs/x/users/y/", "_permissions": "permissions/"})


def feed(key: str, items: list[dict[str, Any]]) -> Reply:
    return Reply.json({"_rid": "rid", key: items, "_count": len(items)})


def sdk_db(client: AzureClient) -> Any:
    return client.get_database_client("db")


def our_db(client: aiocosmos.CosmosClient) -> aiocosmos.DatabaseProxy:
    return client.get_database_client("db")


async def user_id(result: Any) -> Any:
    return (await result).id


async def permission_body(result: Any) -> dict[str, Any]:
    permission = await result
    if isinstance(permission, AzurePermission):
        return dict(permission.properties)
    assert isinstance(permission, aiocosmos.Permission)
    return dict(permission.body)


CASES = [
    Case("create_user",
         lambda c: user_id(sdk_db(c).create_user({"id": "alice"})),
         lambda c: user_id(our_db(c).create_user({"id": "alice"})),
         [Wire("POST", USERS, "users", "dbs/db")], [("POST", USERS, user_reply())]),
    Case("upsert_user",
         lambda c: user_id(sdk_db(c).upsert_user({"id": "alice", "note": "x"})),
         lambda c: user_id(our_db(c).upsert_user({"id": "alice", "note": "x"})),
         [Wire("POST", USERS, "users", "dbs/db")], [("POST", USERS, user_reply())]),
    Case("replace_user",
         lambda c: user_id(sdk_db(c).replace_user("alice", {"id": "alice2"})),
         lambda c: user_id(our_db(c).replace_user("alice", {"id": "alice2"})),
         [Wire("PUT", ALICE, "users", "dbs/db/users/alice")], [("PUT", ALICE, user_reply("alice2"))]),
    Case("replace_user_escaped_id",
         lambda c: user_id(sdk_db(c).replace_user({"id": ODD_USER}, {"id": ODD_USER})),
         lambda c: user_id(our_db(c).replace_user({"id": ODD_USER}, {"id": ODD_USER})),
         [Wire("PUT", ODD_PATH, "users", f"dbs/db/users/{ODD_USER}")], [("PUT", ODD_PATH, user_reply(ODD_USER))]),
    Case("delete_user",
         lambda c: sdk_db(c).delete_user("alice"),
         lambda c: our_db(c).delete_user("alice"),
         [Wire("DELETE", ALICE, "users", "dbs/db/users/alice")]),
    Case("read_user",
         lambda c: sdk_db(c).get_user_client("alice").read(),
         lambda c: our_db(c).get_user_client("alice").read(),
         [Wire("GET", ALICE, "users", "dbs/db/users/alice")], [("GET", ALICE, user_reply())]),
    Case("read_user_escaped_id",
         lambda c: sdk_db(c).get_user_client(ODD_USER).read(),
         lambda c: our_db(c).get_user_client(ODD_USER).read(),
         [Wire("GET", ODD_PATH, "users", f"dbs/db/users/{ODD_USER}")], [("GET", ODD_PATH, user_reply(ODD_USER))]),
    Case("list_users",
         lambda c: collect(sdk_db(c).list_users(max_item_count=7)),
         lambda c: collect(our_db(c).list_users(max_item_count=7)),
         [Wire("GET", USERS, "users", "dbs/db")], [("GET", USERS, feed("Users", [{"id": "a"}, {"id": "b"}]))]),
    Case("query_users",
         lambda c: collect(sdk_db(c).query_users("SELECT * FROM r WHERE r.id = @id",
                                                 parameters=[{"name": "@id", "value": "a"}], max_item_count=3)),
         lambda c: collect(our_db(c).query_users("SELECT * FROM r WHERE r.id = @id",
                                                 parameters=[{"name": "@id", "value": "a"}], max_item_count=3)),
         [Wire("POST", USERS, "users", "dbs/db")], [("POST", USERS, feed("Users", [{"id": "a"}]))]),
    Case("create_permission",
         lambda c: permission_body(sdk_db(c).get_user_client("alice").create_permission(PERMISSION)),
         lambda c: permission_body(our_db(c).get_user_client("alice").create_permission(PERMISSION)),
         [Wire("POST", PERMS, "permissions", "dbs/db/users/alice")], [("POST", PERMS, Reply.json(PERMISSION_REPLY))]),
    Case("create_permission_with_expiry_and_partition_key",
         lambda c: permission_body(sdk_db(c).get_user_client("alice").create_permission(
             READ_PERMISSION, resource_token_expiry_seconds=600)),
         lambda c: permission_body(our_db(c).get_user_client("alice").create_permission(
             READ_PERMISSION, resource_token_expiry_seconds=600)),
         [Wire("POST", PERMS, "permissions", "dbs/db/users/alice")], [("POST", PERMS, Reply.json(PERMISSION_REPLY))]),
    Case("upsert_permission",
         lambda c: permission_body(sdk_db(c).get_user_client("alice").upsert_permission(
             PERMISSION, resource_token_expiry_seconds=18000)),
         lambda c: permission_body(our_db(c).get_user_client("alice").upsert_permission(
             PERMISSION, resource_token_expiry_seconds=18000)),
         [Wire("POST", PERMS, "permissions", "dbs/db/users/alice")], [("POST", PERMS, Reply.json(PERMISSION_REPLY))]),
    Case("replace_permission",
         lambda c: permission_body(sdk_db(c).get_user_client("alice").replace_permission(
             "p1", {**PERMISSION, "permissionMode": "Read"}, resource_token_expiry_seconds=1)),
         lambda c: permission_body(our_db(c).get_user_client("alice").replace_permission(
             "p1", {**PERMISSION, "permissionMode": "Read"}, resource_token_expiry_seconds=1)),
         [Wire("PUT", f"{PERMS}/p1", "permissions", "dbs/db/users/alice/permissions/p1")],
         [("PUT", f"{PERMS}/p1", Reply.json(PERMISSION_REPLY))]),
    Case("get_permission",
         lambda c: permission_body(sdk_db(c).get_user_client("alice").get_permission(
             {"id": "p1"}, resource_token_expiry_seconds=900)),
         lambda c: permission_body(our_db(c).get_user_client("alice").get_permission(
             {"id": "p1"}, resource_token_expiry_seconds=900)),
         [Wire("GET", f"{PERMS}/p1", "permissions", "dbs/db/users/alice/permissions/p1")],
         [("GET", f"{PERMS}/p1", Reply.json(PERMISSION_REPLY))]),
    Case("delete_permission",
         lambda c: sdk_db(c).get_user_client("alice").delete_permission("p1"),
         lambda c: our_db(c).get_user_client("alice").delete_permission("p1"),
         [Wire("DELETE", f"{PERMS}/p1", "permissions", "dbs/db/users/alice/permissions/p1")]),
    Case("delete_permission_escaped_ids",
         lambda c: sdk_db(c).get_user_client(ODD_USER).delete_permission(ODD_PERMISSION),
         lambda c: our_db(c).get_user_client(ODD_USER).delete_permission(ODD_PERMISSION),
         [Wire("DELETE", f"{ODD_PATH}/permissions/p%201%2B%C3%A9", "permissions",
               f"dbs/db/users/{ODD_USER}/permissions/{ODD_PERMISSION}")]),
    Case("get_permission_escaped_ids",
         lambda c: permission_body(sdk_db(c).get_user_client(ODD_USER).get_permission(ODD_PERMISSION)),
         lambda c: permission_body(our_db(c).get_user_client(ODD_USER).get_permission(ODD_PERMISSION)),
         [Wire("GET", f"{ODD_PATH}/permissions/p%201%2B%C3%A9", "permissions",
               f"dbs/db/users/{ODD_USER}/permissions/{ODD_PERMISSION}")],
         [("GET", f"{ODD_PATH}/permissions/p%201%2B%C3%A9", Reply.json(PERMISSION_REPLY))]),
    Case("create_permission_escaped_user",
         lambda c: permission_body(sdk_db(c).get_user_client(ODD_USER).create_permission(PERMISSION)),
         lambda c: permission_body(our_db(c).get_user_client(ODD_USER).create_permission(PERMISSION)),
         [Wire("POST", f"{ODD_PATH}/permissions", "permissions", f"dbs/db/users/{ODD_USER}")],
         [("POST", f"{ODD_PATH}/permissions", Reply.json(PERMISSION_REPLY))]),
    Case("list_permissions",
         lambda c: collect(sdk_db(c).get_user_client("alice").list_permissions(
             max_item_count=2, resource_token_expiry_seconds=60)),
         lambda c: collect(our_db(c).get_user_client("alice").list_permissions(
             max_item_count=2, resource_token_expiry_seconds=60)),
         [Wire("GET", PERMS, "permissions", "dbs/db/users/alice")],
         [("GET", PERMS, feed("Permissions", [PERMISSION_REPLY]))]),
    Case("query_permissions",
         lambda c: collect(sdk_db(c).get_user_client("alice").query_permissions(
             "SELECT * FROM p WHERE p.permissionMode = @m", parameters=[{"name": "@m", "value": "All"}])),
         lambda c: collect(our_db(c).get_user_client("alice").query_permissions(
             "SELECT * FROM p WHERE p.permissionMode = @m", parameters=[{"name": "@m", "value": "All"}])),
         [Wire("POST", PERMS, "permissions", "dbs/db/users/alice")],
         [("POST", PERMS, feed("Permissions", [PERMISSION_REPLY]))]),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_wire_parity_with_azure_cosmos(
    server: RecordingServer, make_client: ClientFactory, case: Case
) -> None:
    sdk_result, sdk_requests, our_result, our_requests = await run_both(server, make_client, case)

    assert_same_wire(sdk_requests, our_requests, case.wire)
    assert plain(our_result) == plain(sdk_result)


def test_every_azure_user_and_permission_method_has_a_parity_case() -> None:
    def public(cls: type) -> set[str]:
        return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}

    azure_user_methods = public(AzureUserProxy) - {"read"}  # read is covered by "read_user"
    azure_database_user_methods = {name for name in public(AzureDatabaseProxy) if "user" in name}
    case_names = {case.name for case in CASES}
    for name in azure_user_methods | azure_database_user_methods:
        assert name in case_names or name == "get_user_client", f"no parity case for {name}"
        assert hasattr(aiocosmos.UserProxy, name) or hasattr(aiocosmos.DatabaseProxy, name), name
    assert "read_user" in case_names
    assert azure_user_methods >= {"create_permission", "upsert_permission", "replace_permission",
                                  "delete_permission", "get_permission", "list_permissions", "query_permissions"}


# -- results -------------------------------------------------------------------------------------


async def test_create_user_returns_a_proxy_with_the_definition(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    script_both(server, "POST", USERS, Reply.json({"id": "alice", "_rid": "urid"}, x_ms_request_charge="4.5"))

    user = await client.get_database_client("db").create_user({"id": "alice"})

    assert isinstance(user, aiocosmos.UserProxy)
    assert (user.id, user.user_link, user.database.id) == ("alice", "dbs/db/users/alice", "db")
    assert user.properties is not None
    assert user.properties["_rid"] == "urid"
    assert user.properties.request_charge == 4.5
    assert server.requests[0].json() == {"id": "alice"}
    assert "x-ms-documentdb-is-upsert" not in server.requests[0].headers


async def test_user_clients_accept_ids_dicts_and_proxies(client: aiocosmos.CosmosClient) -> None:
    database = client.get_database_client("db")
    proxy = database.get_user_client("alice")

    assert database.get_user_client(proxy) is proxy
    assert database.get_user_client({"id": "alice"}).user_link == "dbs/db/users/alice"
    assert repr(proxy) == "UserProxy(database='db', id='alice')"
    with pytest.raises(AttributeError):
        proxy.extra = 1  # type: ignore[attr-defined]  # proxies use __slots__


async def test_permission_results_expose_the_token_but_never_print_it(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    script_both(server, "POST", PERMS, Reply.json(PERMISSION_REPLY, status=201))
    user = client.get_database_client("db").get_user_client("alice")

    permission = await user.create_permission(PERMISSION)

    assert isinstance(permission, aiocosmos.Permission)
    assert permission.token == TOKEN
    assert permission["_token"] == TOKEN
    assert (permission.id, permission.permission_mode, permission.resource_link) == ("p1", "All", "dbs/db/colls/c")
    assert permission.user_link == "dbs/db/users/alice"
    assert permission.permission_link == "dbs/db/users/alice/permissions/p1"
    assert permission.status_code == 201
    for text in (repr(permission), str(permission), f"{permission}"):
        assert "<redacted>" in text
        assert "perm+secret" not in text and TOKEN not in text and ENCODED_TOKEN not in text
        assert "'p1'" in text  # the rest of the body is still shown


async def test_listed_permissions_are_dicts_whose_repr_hides_the_token(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.script(Reply.json({"Permissions": [PERMISSION_REPLY], "_count": 1}, x_ms_continuation="c1"),
                  feed("Permissions", [{**PERMISSION_REPLY, "id": "p2"}]), method="GET", path=PERMS)
    script_both(server, "POST", PERMS, feed("Permissions", [PERMISSION_REPLY]))
    user = client.get_database_client("db").get_user_client("alice")

    pages = [page async for page in user.list_permissions(max_item_count=1).by_page()]
    queried = await collect(user.query_permissions("SELECT * FROM p"))

    assert [[item.id for item in page] for page in pages] == [["p1"], ["p2"]]
    first = pages[0]
    assert first.continuation is not None
    for item in [*first.items, *queried]:
        assert isinstance(item, dict) and isinstance(item, aiocosmos.PermissionProperties)
        assert item["_token"] == TOKEN and item.token == TOKEN
        assert item.permission_mode == "All"
        assert dict(item) == PERMISSION_REPLY
        for text in (repr(item), str(item), repr(first), repr([item])):
            assert "perm+secret" not in text
    # The wrapped pager still resumes from its own continuation tokens.
    server.reset()
    script_both(server, "GET", PERMS, feed("Permissions", [PERMISSION_REPLY]))
    resumed = [page async for page in user.list_permissions(max_item_count=1).by_page(first.continuation)]
    assert [len(page) for page in resumed] == [1]
    assert server.requests[0].headers["x-ms-continuation"] == "c1"


async def test_permission_errors_carry_no_token(server: RecordingServer, make_client: ClientFactory) -> None:
    script_both(server, "POST", PERMS, Reply.error(409, message="permission exists"))
    user = make_client().get_database_client("db").get_user_client("alice")

    with raises_clean(aiocosmos.Conflict, server, TOKEN, ENCODED_TOKEN, match="permission exists"):
        await user.create_permission(PERMISSION)

    server.script(method="GET", forever=Reply.error(403, message="token does not grant this"))
    token_client = make_client({"dbs/db/colls/c": TOKEN})
    with raises_clean(aiocosmos.Forbidden, server, TOKEN, ENCODED_TOKEN, "perm+secret"):
        await token_client.get_database_client("db").get_container_client("c").read_item("x", "p")


# -- body handling -------------------------------------------------------------------------------


async def test_a_container_proxy_is_accepted_as_the_resource(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    script_both(server, "POST", PERMS, Reply.json(PERMISSION_REPLY))
    database = client.get_database_client("db")
    container = database.get_container_client("orders")
    body = {"id": "p1", "permissionMode": "Read", "resource": container, "resourcePartitionKey": ("c1",)}

    await database.get_user_client("alice").create_permission(body)

    assert server.requests[0].json() == {"id": "p1", "permissionMode": "Read", "resource": "dbs/db/colls/orders",
                                         "resourcePartitionKey": ["c1"]}
    assert body["resource"] is container  # the caller's dict is left alone


@pytest.mark.parametrize("mode", ["All", "Read", "all", "read"])
async def test_permission_modes_are_sent_as_given(
    server: RecordingServer, client: aiocosmos.CosmosClient, mode: str
) -> None:
    script_both(server, "POST", PERMS, Reply.json(PERMISSION_REPLY))

    await client.get_database_client("db").get_user_client("alice").upsert_permission(
        {**PERMISSION, "permissionMode": mode}
    )

    assert server.requests[0].json()["permissionMode"] == mode
    assert server.requests[0].headers["x-ms-documentdb-is-upsert"] == "True"


@pytest.mark.parametrize("seconds", [1, 3600, 18000])
async def test_expiry_bounds_are_inclusive(
    server: RecordingServer, client: aiocosmos.CosmosClient, seconds: int
) -> None:
    script_both(server, "GET", f"{PERMS}/p1", Reply.json(PERMISSION_REPLY))

    await client.get_database_client("db").get_user_client("alice").get_permission(
        "p1", resource_token_expiry_seconds=seconds
    )

    assert server.requests[0].headers["x-ms-documentdb-expiry-seconds"] == str(seconds)


async def test_no_expiry_header_unless_asked(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    script_both(server, "GET", f"{PERMS}/p1", Reply.json(PERMISSION_REPLY))

    await client.get_database_client("db").get_user_client("alice").get_permission("p1")

    assert "x-ms-documentdb-expiry-seconds" not in server.requests[0].headers


# -- validation before any I/O -------------------------------------------------------------------

BAD_IDS = ["a/b", "a\\b", "a?b", "a#b", "", "trailing ", 5, None]
BAD_MODES = ["Write", "None", "", None, 1, ["All"]]
BAD_RESOURCES = [None, "", 5, "colls/c", "dbs/db", "dbs/db/colls", "dbs//colls/c", "dbs/db/colls/c/docs",
                 {"id": "c"}]
BAD_EXPIRIES = [0, -1, 18001, 10**9, True, 1.5, "60"]


@pytest.fixture
async def no_io(server: RecordingServer) -> Any:
    yield
    assert server.requests == [], "a request reached the server although the input was invalid"


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_bad_user_ids_are_refused(client: aiocosmos.CosmosClient, bad: Any) -> None:
    database = client.get_database_client("db")
    with pytest.raises(aiocosmos.ValidationError, match="user id"):
        await database.create_user({"id": bad})
    with pytest.raises(aiocosmos.ValidationError, match="user id"):
        await database.upsert_user({"id": bad})
    with pytest.raises(aiocosmos.ValidationError, match="user id"):
        await database.replace_user(bad, {"id": "ok"})
    with pytest.raises(aiocosmos.ValidationError, match="user id"):
        await database.replace_user("ok", {"id": bad})
    with pytest.raises(aiocosmos.ValidationError, match="user id"):
        await database.delete_user(bad)
    with pytest.raises(aiocosmos.ValidationError, match="user id"):
        database.get_user_client(bad)


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_bad_permission_ids_are_refused(client: aiocosmos.CosmosClient, bad: Any) -> None:
    user = client.get_database_client("db").get_user_client("alice")
    with pytest.raises(aiocosmos.ValidationError, match="permission id"):
        await user.create_permission({**PERMISSION, "id": bad})
    with pytest.raises(aiocosmos.ValidationError, match="permission id"):
        await user.upsert_permission({**PERMISSION, "id": bad})
    with pytest.raises(aiocosmos.ValidationError, match="permission id"):
        await user.replace_permission(bad, PERMISSION)
    with pytest.raises(aiocosmos.ValidationError, match="permission id"):
        await user.get_permission(bad)
    with pytest.raises(aiocosmos.ValidationError, match="permission id"):
        await user.delete_permission(bad)


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("bad", BAD_MODES, ids=repr)
async def test_bad_permission_modes_are_refused(client: aiocosmos.CosmosClient, bad: Any) -> None:
    user = client.get_database_client("db").get_user_client("alice")
    for operation in (user.create_permission, user.upsert_permission):
        with pytest.raises(aiocosmos.ValidationError, match="permissionMode must be 'All' or 'Read'"):
            await operation({**PERMISSION, "permissionMode": bad})
    with pytest.raises(aiocosmos.ValidationError, match="permissionMode"):
        await user.replace_permission("p1", {**PERMISSION, "permissionMode": bad})
    body = dict(PERMISSION)
    del body["permissionMode"]
    with pytest.raises(aiocosmos.ValidationError, match="permissionMode"):
        await user.create_permission(body)


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("bad", BAD_RESOURCES, ids=repr)
async def test_bad_resources_are_refused(client: aiocosmos.CosmosClient, bad: Any) -> None:
    user = client.get_database_client("db").get_user_client("alice")
    with pytest.raises(aiocosmos.ValidationError, match="resource must"):
        await user.create_permission({**PERMISSION, "resource": bad})
    with pytest.raises(aiocosmos.ValidationError, match="resource must"):
        await user.replace_permission("p1", {**PERMISSION, "resource": bad})


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("bad", ["c1", [], [1, 2, 3, 4], {"pk": "c1"}, None], ids=repr)
async def test_bad_resource_partition_keys_are_refused(client: aiocosmos.CosmosClient, bad: Any) -> None:
    user = client.get_database_client("db").get_user_client("alice")
    with pytest.raises(aiocosmos.ValidationError, match="resourcePartitionKey must be a list"):
        await user.create_permission({**PERMISSION, "resourcePartitionKey": bad})


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("bad", BAD_EXPIRIES, ids=repr)
async def test_bad_token_expiries_are_refused(client: aiocosmos.CosmosClient, bad: Any) -> None:
    user = client.get_database_client("db").get_user_client("alice")
    match = "resource_token_expiry_seconds must be an int from 1 to 18000"
    with pytest.raises(aiocosmos.ValidationError, match=match):
        await user.create_permission(PERMISSION, resource_token_expiry_seconds=bad)
    with pytest.raises(aiocosmos.ValidationError, match=match):
        await user.upsert_permission(PERMISSION, resource_token_expiry_seconds=bad)
    with pytest.raises(aiocosmos.ValidationError, match=match):
        await user.replace_permission("p1", PERMISSION, resource_token_expiry_seconds=bad)
    with pytest.raises(aiocosmos.ValidationError, match=match):
        await user.get_permission("p1", resource_token_expiry_seconds=bad)
    with pytest.raises(aiocosmos.ValidationError, match=match):
        user.list_permissions(resource_token_expiry_seconds=bad)
    with pytest.raises(aiocosmos.ValidationError, match=match):
        user.query_permissions("SELECT * FROM p", resource_token_expiry_seconds=bad)


@pytest.mark.usefixtures("no_io")
@pytest.mark.parametrize("bad", [["alice"], "alice", None, 5], ids=repr)
async def test_bodies_must_be_dicts(client: aiocosmos.CosmosClient, bad: Any) -> None:
    database = client.get_database_client("db")
    user = database.get_user_client("alice")
    with pytest.raises(aiocosmos.ValidationError, match="user body must be a dict"):
        await database.create_user(bad)
    with pytest.raises(aiocosmos.ValidationError, match="permission body must be a dict"):
        await user.create_permission(bad)


@pytest.mark.usefixtures("no_io")
async def test_bad_queries_and_page_sizes_are_refused(client: aiocosmos.CosmosClient) -> None:
    database = client.get_database_client("db")
    user = database.get_user_client("alice")
    with pytest.raises(aiocosmos.ValidationError, match="query must be"):
        database.query_users("")
    with pytest.raises(aiocosmos.ValidationError, match="max_item_count"):
        database.list_users(max_item_count=0)
    with pytest.raises(aiocosmos.ValidationError, match="query parameter"):
        user.query_permissions("SELECT * FROM p", parameters=[{"name": "m", "value": 1}])
    with pytest.raises(aiocosmos.ValidationError, match="max_item_count"):
        user.list_permissions(max_item_count=-5)


# -- the resource-token flow, end to end ---------------------------------------------------------


async def granted_permission(server: RecordingServer, make_client: ClientFactory) -> aiocosmos.Permission:
    """A permission on container c, handed out through the master-key client."""
    script_both(server, "POST", PERMS, Reply.json(PERMISSION_REPLY, status=201))
    admin = make_client()
    database = admin.get_database_client("db")
    permission = await database.get_user_client("alice").create_permission(
        {"id": "p1", "permissionMode": "All", "resource": database.get_container_client("c")},
        resource_token_expiry_seconds=3600,
    )
    server.reset()
    return permission


async def test_a_client_built_from_a_permission_reads_with_its_token(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    permission = await granted_permission(server, make_client)
    assert permission.resource_link is not None and permission.token is not None

    user_client = make_client({permission.resource_link: permission.token})
    container = user_client.get_database_client("db").get_container_client("c")
    item = await container.read_item("x", "p")

    assert item["id"] == "x"
    assert [f"{r.method} {r.path}" for r in server.requests] == [f"GET {COLL_PATH}", f"GET {item_path('x')}"]
    assert [r.authorization for r in server.requests] == [ENCODED_TOKEN, ENCODED_TOKEN]
    assert ENCODED_TOKEN != TOKEN and "%2B" in ENCODED_TOKEN and "%2F" in ENCODED_TOKEN  # really encoded


async def test_a_container_the_permission_does_not_cover_is_refused_without_io(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    permission = await granted_permission(server, make_client)
    assert permission.resource_link is not None and permission.token is not None
    user_client = make_client({permission["resource"]: permission["_token"]})
    database = user_client.get_database_client("db")

    with raises_clean(aiocosmos.ValidationError, server, TOKEN, ENCODED_TOKEN, match="dbs/db/colls/other"):
        await database.get_container_client("other").read_item("x", "p")
    with raises_clean(aiocosmos.ValidationError, server, TOKEN, ENCODED_TOKEN, match="dbs/db/users/alice"):
        await database.get_user_client("alice").read()

    assert server.requests == []


async def test_a_single_permission_token_signs_every_request(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    permission = await granted_permission(server, make_client)
    assert permission.token is not None

    container = make_client(permission.token).get_database_client("db").get_container_client("c")
    await container.read_item("x", "p")
    await container.upsert_item({"id": "y", "pk": "p"})

    assert len(server.requests) == 3
    assert {r.authorization for r in server.requests} == {ENCODED_TOKEN}
