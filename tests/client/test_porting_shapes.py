"""Shapes azure-cosmos code relies on (issue 15): links, reprs, positional ThroughputProperties, feed ranges that
are dicts, batch results that are dicts, ``return_properties``, ``read_items(response_hook=)``,
``get_latest_session_token`` and ``exceptions.AzureError``. azure-cosmos is the oracle where it can be one."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from azure.cosmos import PartitionKey as AzurePartitionKey
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
import aiocosmos.exceptions as exceptions
from aiocosmos import FeedRange, ThroughputProperties
from tests.client.conftest import COLL_PATH, KEY, ClientFactory
from tests.client.recording_server import RecordingServer, Reply


async def test_links_and_reprs_are_azure_cosmos_s(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    async with AzureClient(server.url, credential=KEY) as azure_client:
        azure_db = azure_client.get_database_client("db")
        azure_container = azure_db.get_container_client("c")
        theirs = (azure_db.database_link, azure_container.container_link, repr(azure_db), repr(azure_container))
    database = client.get_database_client("db")
    container = database.get_container_client("c")
    assert (database.database_link, container.container_link, repr(database), repr(container)) == theirs


def test_throughput_properties_take_the_manual_throughput_positionally() -> None:
    assert ThroughputProperties(500) == ThroughputProperties(offer_throughput=500)
    with pytest.raises(TypeError):
        ThroughputProperties(500, 4000)  # type: ignore[misc]  # autoscale stays keyword-only


def test_a_feed_range_is_azure_cosmos_dict_and_stays_immutable() -> None:
    feed_range = FeedRange("", "FF")
    azure_form = {"Range": {"min": "", "max": "FF", "isMinInclusive": True, "isMaxInclusive": False}}
    assert isinstance(feed_range, dict) and feed_range == azure_form
    assert json.loads(json.dumps(feed_range)) == azure_form and str(feed_range) == str(azure_form)
    assert FeedRange.from_json(azure_form) == feed_range == FeedRange.from_json(feed_range.to_string())
    assert {feed_range: 1}[FeedRange("", "FF")] == 1
    assert pickle.loads(pickle.dumps(feed_range)) == feed_range == copy.deepcopy(feed_range)
    for mutate in (lambda: feed_range.__setitem__("Range", {}), lambda: feed_range["Range"].update(min="AA"),
                   lambda: feed_range.pop("Range"), lambda: setattr(feed_range, "min", "AA")):
        with pytest.raises(TypeError, match="immutable"):
            mutate()
    assert feed_range.min == "" and feed_range["Range"]["min"] == ""
    plain = feed_range.to_dict()
    plain["Range"]["min"] = "AA"  # to_dict() is a mutable copy
    assert feed_range.min == ""


async def test_batch_results_are_the_service_dicts(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    results = [{"statusCode": 201, "requestCharge": 1.5, "eTag": '"e"', "resourceBody": {"id": "a", "pk": "p"}},
               {"statusCode": 412, "requestCharge": 0}]
    server.script(Reply.json(results), method="POST", path=COLL_PATH + "/docs")
    container = client.get_database_client("db").get_container_client("c")
    with pytest.raises(exceptions.CosmosBatchOperationError) as caught:
        await container.execute_item_batch([("create", ({"id": "a", "pk": "p"},)),
                                            ("replace", ("b", {"id": "b", "pk": "p"}), {"if_match_etag": '"x"'})], "p")
    responses = caught.value.operation_responses
    assert caught.value.error_index == 1
    assert isinstance(responses[1], dict) and responses[1] == {"statusCode": 412, "requestCharge": 0}
    assert repr(responses[1]) == "{'statusCode': 412, 'requestCharge': 0}"
    assert responses[0].etag == '"e"' and responses[0].request_charge == 1.5 and responses[0].item_id == "a"


def test_azure_error_is_the_root_of_aiocosmos_errors() -> None:
    assert exceptions.AzureError is aiocosmos.CosmosError
    assert issubclass(exceptions.CosmosHttpResponseError, exceptions.AzureError)


async def test_return_properties_gives_proxy_and_properties_as_azure_cosmos(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    async def run(client: Any, partition_key: Any) -> list[tuple[str, str, str]]:
        shapes = []
        for result in (
            await client.create_database("d1", return_properties=True),
            await client.create_database_if_not_exists("db", return_properties=True),
            await client.get_database_client("db").create_container(
                "c1", partition_key=partition_key, return_properties=True),
            await client.get_database_client("db").create_container_if_not_exists(
                "c", partition_key=partition_key, return_properties=True),
        ):
            proxy, properties = result
            shapes.append((type(proxy).__name__, properties["id"], properties.get_response_headers()["Content-Type"]))
        return shapes

    server.containers["dbs/db/colls/c"] = {"paths": ["/pk"], "kind": "Hash", "version": 2}
    async with AzureClient(server.url, credential=KEY) as azure_client:
        theirs = await run(azure_client, AzurePartitionKey("/pk"))
    ours = await run(make_client(), aiocosmos.PartitionKey("/pk"))
    assert ours == theirs
    assert [s[1] for s in ours] == ["d1", "db", "c1", "c"]


async def test_read_items_calls_the_response_hook_once_with_the_result(
    client: aiocosmos.CosmosClient,
) -> None:
    calls: list[tuple[Any, Any]] = []
    container = client.get_database_client("db").get_container_client("c")
    result = await container.read_items([("a", "p"), ("b", "p")], response_hook=lambda h, r: calls.append((h, r)))
    assert len(calls) == 1 and calls[0][1] is result
    assert "x-ms-request-charge" in calls[0][0]


async def test_get_latest_session_token_merges_the_overlapping_ones(client: aiocosmos.CosmosClient) -> None:
    container = client.get_database_client("db").get_container_client("c")
    left, right, whole = FeedRange("", "80"), FeedRange("80", "FF"), FeedRange("", "FF")
    pairs = [(left, "0:1#10#3=8"), (left.to_dict(), "0:1#12#3=7"), (right, "1:1#5")]
    assert await container.get_latest_session_token(pairs, FeedRange("10", "20")) == "0:1#12#3=8"
    assert await container.get_latest_session_token(pairs, whole) == "0:1#12#3=8,1:1#5"
    with pytest.raises(ValueError, match="no overlapping"):
        await container.get_latest_session_token([(left, "0:1#1")], right)
