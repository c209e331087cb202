"""Throughput (offers) at the recording server: wire parity with azure.cosmos.aio, the offer lookup,
replace of the whole offer signed with the lower-cased rid, validation before I/O and useful errors."""

from __future__ import annotations

from typing import Any

import pytest
from azure.cosmos import ThroughputProperties as AzureThroughputProperties
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos._resources.offers import OFFER_QUERY, THROUGHPUT_NOT_FOUND
from aiocosmos.testing import FakeClock
from tests.client.azure_parity import Case, Wire, assert_same_wire, run_both, script_both, signed_with
from tests.client.conftest import COLL_PATH, ClientFactory
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

DB_PATH = "/dbs/db"
DB_SELF = "dbs/AAAAAA==/"
COLL_SELF = "dbs/AAAAAA==/colls/AAAAAPX6aAw=/"
RID = "Hu+t"  # mixed case, and a '+' that must travel unescaped
OFFER_PATH = f"/offers/{RID}"


def offer(resource: str, content: dict[str, Any]) -> dict[str, Any]:
    """An offer as the service returns it (spec §6.10), with fields a replace must send back unchanged."""
    return {"offerVersion": "V2", "offerType": "Invalid", "content": content, "resource": resource,
            "offerResourceId": resource.strip("/").rsplit("/", 1)[-1], "id": RID, "_rid": RID,
            "_self": f"offers/{RID}/", "_etag": '"00000c00-0000-0000-0000-5e1f4a6d0000"', "_ts": 1579117165}


MANUAL = {"offerThroughput": 400, "offerIsRUPerMinuteThroughputEnabled": False,
          "offerMinimumThroughputParameters": {"maxThroughputEverProvisioned": 1000,
                                               "maxConsumedStorageEverInKB": 0}}
AUTOSCALE = {"offerThroughput": 400, "offerAutopilotSettings": {
    "maxThroughput": 4000, "autoUpgradePolicy": {"throughputPolicy": {"incrementPercent": 0}}}}


def autoscale(maximum: int, increment: int = 0) -> dict[str, Any]:
    return {"offerThroughput": maximum // 10, "offerAutopilotSettings": {
        "maxThroughput": maximum, "autoUpgradePolicy": {"throughputPolicy": {"incrementPercent": increment}}}}


def offers_page(*offers: dict[str, Any], **headers: str) -> Reply:
    return Reply.json({"_rid": "", "Offers": list(offers), "_count": len(offers)}, 200, **headers)


def database_reply(**headers: str) -> Reply:
    return Reply.json({"id": "db", "_rid": "AAAAAA==", "_self": DB_SELF, "_colls": "colls/"}, 200, **headers)


def container_reply(**headers: str) -> Reply:
    return Reply.json({"id": "c", "_rid": "AAAAAPX6aAw=", "_self": COLL_SELF,
                       "partitionKey": {"paths": ["/pk"], "kind": "Hash", "version": 2}}, 200, **headers)


def db_replies(content: dict[str, Any], replaced: dict[str, Any] | None = None) -> list[tuple[str, str, Reply]]:
    return [("GET", DB_PATH, database_reply()), ("POST", "/offers", offers_page(offer(DB_SELF, content))),
            ("PUT", OFFER_PATH, Reply.json(offer(DB_SELF, replaced or content)))]


def coll_replies(content: dict[str, Any], replaced: dict[str, Any] | None = None) -> list[tuple[str, str, Reply]]:
    return [("GET", COLL_PATH, container_reply()), ("POST", "/offers", offers_page(offer(COLL_SELF, content))),
            ("PUT", OFFER_PATH, Reply.json(offer(COLL_SELF, replaced or content)))]


def read_db() -> Wire:
    return Wire("GET", DB_PATH, "dbs", "dbs/db")


def read_coll() -> Wire:
    return Wire("GET", COLL_PATH, "colls", "dbs/db/colls/c")


QUERY = Wire("POST", "/offers", "offers", "")
REPLACE = Wire("PUT", OFFER_PATH, "offers", "hu+t")  # the rid, lower-cased


def sdk_db(client: AzureClient) -> Any:
    return client.get_database_client("db")


def sdk_coll(client: AzureClient) -> Any:
    return client.get_database_client("db").get_container_client("c")


def our_db(client: aiocosmos.CosmosClient) -> aiocosmos.DatabaseProxy:
    return client.get_database_client("db")


def our_coll(client: aiocosmos.CosmosClient) -> aiocosmos.ContainerProxy:
    return client.get_database_client("db").get_container_client("c")


async def numbers(result: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
    """What both clients' results say (azure's ThroughputProperties and our ThroughputResponse)."""
    value = await result
    return (value.offer_throughput, value.auto_scale_max_throughput, value.auto_scale_increment_percent,
            dict(value.properties))


CASES = [
    Case("database_get_throughput", lambda c: numbers(sdk_db(c).get_throughput()),
         lambda c: numbers(our_db(c).get_throughput()), [read_db(), QUERY], db_replies(MANUAL)),
    Case("container_get_throughput", lambda c: numbers(sdk_coll(c).get_throughput()),
         lambda c: numbers(our_coll(c).get_throughput()), [read_coll(), QUERY], coll_replies(MANUAL)),
    Case("container_get_throughput_autoscale", lambda c: numbers(sdk_coll(c).get_throughput()),
         lambda c: numbers(our_coll(c).get_throughput()), [read_coll(), QUERY], coll_replies(AUTOSCALE)),
    Case("database_replace_throughput", lambda c: sdk_db(c).replace_throughput(1000),
         lambda c: our_db(c).replace_throughput(1000), [read_db(), QUERY, REPLACE], db_replies(MANUAL)),
    Case("container_replace_throughput", lambda c: sdk_coll(c).replace_throughput(2500),
         lambda c: our_coll(c).replace_throughput(2500), [read_coll(), QUERY, REPLACE],
         coll_replies(MANUAL, {**MANUAL, "offerThroughput": 2500})),
    Case("container_replace_throughput_manual_properties",
         lambda c: sdk_coll(c).replace_throughput(AzureThroughputProperties(offer_throughput=700)),
         lambda c: our_coll(c).replace_throughput(aiocosmos.ThroughputProperties(offer_throughput=700)),
         [read_coll(), QUERY, REPLACE], coll_replies(MANUAL)),
    Case("container_replace_autoscale_max",
         lambda c: sdk_coll(c).replace_throughput(AzureThroughputProperties(auto_scale_max_throughput=5000)),
         lambda c: our_coll(c).replace_throughput(aiocosmos.ThroughputProperties(auto_scale_max_throughput=5000)),
         [read_coll(), QUERY, REPLACE], coll_replies(AUTOSCALE, autoscale(5000))),
    Case("database_replace_autoscale_max_and_increment",
         lambda c: sdk_db(c).replace_throughput(
             AzureThroughputProperties(auto_scale_max_throughput=6000, auto_scale_increment_percent=10)),
         lambda c: our_db(c).replace_throughput(
             aiocosmos.ThroughputProperties(auto_scale_max_throughput=6000, auto_scale_increment_percent=10)),
         [read_db(), QUERY, REPLACE], db_replies(AUTOSCALE, autoscale(6000, 10))),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_wire_parity_with_azure_cosmos(server: RecordingServer, make_client: ClientFactory, case: Case) -> None:
    sdk_result, sdk_requests, our_result, our_requests = await run_both(server, make_client, case)

    assert_same_wire(sdk_requests, our_requests, case.wire)
    query = our_requests[1].json()
    assert query == {"query": OFFER_QUERY, "parameters": [{"name": "@link", "value": query["parameters"][0]["value"]}]}
    assert query["parameters"][0]["value"] in (DB_SELF, COLL_SELF)  # the _self link, not the name
    if "get_throughput" in case.name:
        assert our_result == sdk_result
        return
    # replace: the same offer back; azure-cosmos reports content.offerThroughput even for autoscale
    # offers, aiocosmos reports autoscale offers as get_throughput does.
    assert our_result.properties == sdk_result.properties
    content = sdk_result.properties["content"]
    if "offerAutopilotSettings" in content:
        assert our_result.auto_scale_max_throughput == content["offerAutopilotSettings"]["maxThroughput"]
        assert our_result.offer_throughput is None
    else:
        assert our_result.offer_throughput == sdk_result.offer_throughput == content["offerThroughput"]


def test_every_azure_throughput_method_has_a_parity_case() -> None:
    names = {case.name for case in CASES}
    for owner in ("database", "container"):
        for method in ("get_throughput", "replace_throughput"):
            assert f"{owner}_{method}" in names
            cls = aiocosmos.DatabaseProxy if owner == "database" else aiocosmos.ContainerProxy
            assert callable(getattr(cls, method))


# -- replace sends the whole offer back ----------------------------------------------------------


async def test_replace_changes_only_the_throughput(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    for method, path, reply in coll_replies(MANUAL, {**MANUAL, "offerThroughput": 1200}):
        script_both(server, method, path, reply)

    result = await our_coll(client).replace_throughput(1200)

    put = server.requests[-1]
    assert (put.method, put.path) == ("PUT", "/offers/Hu+t")
    assert put.headers["Content-Type"] == "application/json"
    assert put.json() == offer(COLL_SELF, {**MANUAL, "offerThroughput": 1200})
    assert signed_with(put, "put", "offers", "hu+t")
    assert not signed_with(put, "put", "offers", "Hu+t")
    assert result.offer_throughput == 1200
    assert result.offer_id == RID


async def test_autoscale_replace_keeps_the_upgrade_policy(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    content = {"offerThroughput": 600, "offerAutopilotSettings": {
        "maxThroughput": 6000, "autoUpgradePolicy": {"throughputPolicy": {"incrementPercent": 7}}, "x": 1}}
    for method, path, reply in coll_replies(content):
        script_both(server, method, path, reply)

    await our_coll(client).replace_throughput(aiocosmos.ThroughputProperties(auto_scale_max_throughput=9000))

    sent = server.requests[-1].json()["content"]
    assert sent == {"offerThroughput": 600, "offerAutopilotSettings": {
        "maxThroughput": 9000, "autoUpgradePolicy": {"throughputPolicy": {"incrementPercent": 7}}, "x": 1}}


async def test_results_report_minimum_pending_state_and_total_charge(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    script_both(server, "GET", COLL_PATH, container_reply(x_ms_request_charge="1.25"))
    script_both(server, "POST", "/offers", offers_page(offer(COLL_SELF, MANUAL), x_ms_request_charge="2.5",
                                                       x_ms_cosmos_min_throughput="400"))
    script_both(server, "PUT", OFFER_PATH, Reply.json(offer(COLL_SELF, {**MANUAL, "offerThroughput": 20000}),
                                                      x_ms_request_charge="3",
                                                      x_ms_offer_replace_pending="true"))
    container = our_coll(client)

    read = await container.get_throughput()
    replaced = await container.replace_throughput(20000)

    assert (read.offer_throughput, read.min_throughput, read.replace_pending) == (400, 400, None)
    assert read.request_charge == 3.75  # container read + offer query
    assert read.auto_scale_max_throughput is None
    assert (replaced.offer_throughput, replaced.replace_pending) == (20000, True)
    assert replaced.request_charge == 5.5  # the container's _self is cached now: query + replace
    assert [f"{r.method} {r.path}" for r in server.requests] == [
        f"GET {COLL_PATH}", "POST /offers", "POST /offers", f"PUT {OFFER_PATH}"]
    assert "offer_throughput=20000" in repr(replaced)


# -- no offer ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["database", "container"])
async def test_no_offer_is_not_found_10004_with_a_clear_message(
    server: RecordingServer, client: aiocosmos.CosmosClient, target: str
) -> None:
    script_both(server, "GET", DB_PATH, database_reply())
    script_both(server, "GET", COLL_PATH, container_reply())
    script_both(server, "POST", "/offers", offers_page(x_ms_activity_id="query-activity"))
    proxy = our_db(client) if target == "database" else our_coll(client)

    for operation in (proxy.get_throughput(), proxy.replace_throughput(1000)):
        with pytest.raises(aiocosmos.NotFound) as info:
            await operation
        error = info.value
        assert (error.status_code, error.sub_status) == (404, THROUGHPUT_NOT_FOUND)
        assert "has no dedicated throughput" in str(error)
        assert (DB_SELF if target == "database" else COLL_SELF) in str(error)
        assert error.activity_id == "query-activity"
    assert not server.requests_to("PUT")


async def test_a_stale_cached_self_link_is_read_again_once(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    container = our_coll(client)
    script_both(server, "GET", COLL_PATH, container_reply())
    await container.read()  # caches the definition (and its _self)
    server.requests.clear()
    server.script(offers_page(), offers_page(offer(COLL_SELF, MANUAL)), method="POST", path="/offers")

    result = await container.get_throughput()

    assert result.offer_throughput == 400
    assert [f"{r.method} {r.path}" for r in server.requests] == ["POST /offers", f"GET {COLL_PATH}", "POST /offers"]

    server.requests.clear()
    server.script(offers_page(), offers_page(), method="POST", path="/offers")
    with pytest.raises(aiocosmos.NotFound):
        await container.get_throughput()
    assert [f"{r.method} {r.path}" for r in server.requests] == ["POST /offers", f"GET {COLL_PATH}", "POST /offers"]


async def test_timeout_is_one_deadline_across_read_query_and_replace(
    server: RecordingServer, client: aiocosmos.CosmosClient, clock: FakeClock
) -> None:
    for method, path, reply in coll_replies(MANUAL):
        script_both(server, method, path, reply)

    async def slow(request: Any, record: RecordedRequest) -> None:
        clock.advance(3.0)  # every answer takes 3 s of the client's time

    server.before_reply.append(slow)

    with pytest.raises(aiocosmos.OperationTimeout):
        await our_coll(client).replace_throughput(1000, timeout=5.0)

    # 3 s for the read, 3 more for the query: no time is left, so the replace is never sent.
    assert [r.method for r in server.requests] == ["GET", "POST"]


# -- errors from the replace ---------------------------------------------------------------------


async def test_a_scale_in_progress_is_locked_with_advice_and_not_retried(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.script(method="PUT", path=OFFER_PATH, forever=Reply(status=423, body={
        "code": "Locked", "message": "Offer replace is in progress."}))  # earlier scripts win
    for method, path, reply in coll_replies(MANUAL):
        script_both(server, method, path, reply)

    with pytest.raises(aiocosmos.HttpResponseError) as info:
        await our_coll(client).replace_throughput(1000)

    error = info.value
    assert type(error).__name__ == "Locked" and error.status_code == 423
    assert "already in progress" in str(error) and "Offer replace is in progress." in str(error)
    assert "dbs/db/colls/c" in str(error)
    assert error.attempts == 1
    assert len(server.requests_to("PUT", OFFER_PATH)) == 1


async def test_an_out_of_range_value_is_a_bad_request_naming_the_value(
    server: RecordingServer, client: aiocosmos.CosmosClient
) -> None:
    server.script(method="PUT", path=OFFER_PATH, forever=Reply.error(400, message="must be within 400 and 1000000"))
    for method, path, reply in db_replies(MANUAL):
        script_both(server, method, path, reply)

    with pytest.raises(aiocosmos.BadRequest) as info:
        await our_db(client).replace_throughput(2_000_000)

    text = str(info.value)
    assert "2000000 RU/s" in text and "database 'dbs/db'" in text and "min_throughput" in text
    assert "must be within 400 and 1000000" in text
    assert len(server.requests_to("PUT", OFFER_PATH)) == 1


@pytest.mark.parametrize(("content", "throughput", "match"), [
    (AUTOSCALE, 1000, "uses autoscale"),
    (AUTOSCALE, aiocosmos.ThroughputProperties(offer_throughput=1000), "uses autoscale"),
    (MANUAL, aiocosmos.ThroughputProperties(auto_scale_max_throughput=4000), "uses manual"),
])
async def test_switching_between_manual_and_autoscale_is_refused_before_the_replace(
    server: RecordingServer, client: aiocosmos.CosmosClient, content: dict[str, Any], throughput: Any, match: str
) -> None:
    for method, path, reply in coll_replies(content):
        script_both(server, method, path, reply)

    with pytest.raises(aiocosmos.ValidationError, match=match):
        await our_coll(client).replace_throughput(throughput)
    assert not server.requests_to("PUT")


# -- validation before any I/O -------------------------------------------------------------------

BAD_THROUGHPUTS: list[Any] = [
    450, 399, 0, -400, 100, True, 1000.0, "1000", None,
    aiocosmos.ThroughputProperties(auto_scale_max_throughput=1500),
    aiocosmos.ThroughputProperties(auto_scale_max_throughput=999),
    aiocosmos.ThroughputProperties(offer_throughput=450),
    aiocosmos.ThroughputProperties(),
    aiocosmos.ThroughputProperties(offer_throughput=400, auto_scale_max_throughput=4000),
]


@pytest.mark.parametrize("bad", BAD_THROUGHPUTS, ids=repr)
async def test_bad_throughput_is_refused_without_io(
    server: RecordingServer, client: aiocosmos.CosmosClient, bad: Any
) -> None:
    for proxy in (our_db(client), our_coll(client)):
        with pytest.raises(aiocosmos.ValidationError):
            await proxy.replace_throughput(bad)
    assert server.requests == []


@pytest.mark.parametrize("good", [400, 500, 1_000_000, aiocosmos.ThroughputProperties(auto_scale_max_throughput=1000)],
                         ids=repr)
async def test_boundary_throughputs_are_accepted(
    server: RecordingServer, client: aiocosmos.CosmosClient, good: Any
) -> None:
    content = AUTOSCALE if isinstance(good, aiocosmos.ThroughputProperties) else MANUAL
    for method, path, reply in db_replies(content):
        script_both(server, method, path, reply)

    await our_db(client).replace_throughput(good)

    assert len(server.requests_to("PUT", OFFER_PATH)) == 1
