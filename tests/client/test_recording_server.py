"""The recording server itself: what it records and how scripts are consumed."""

from __future__ import annotations

import aiohttp

import aiocosmos
from aiocosmos._wire.auth import MasterKeySigner
from tests.client.conftest import KEY, item_path
from tests.client.recording_server import DEFAULT_PARTITION_KEY, RecordingServer, Reply


async def test_records_the_raw_path_headers_and_body(server: RecordingServer, client: aiocosmos.CosmosClient) -> None:
    container = client.get_database_client("db").get_container_client("c")

    await container.read_item("a b+é", "p")
    await container.create_item({"id": "1", "pk": "p", "n": 1})

    metadata, read, create = server.requests
    assert (metadata.method, metadata.path) == ("GET", "/dbs/db/colls/c")
    assert metadata.reply is not None and metadata.reply.body["partitionKey"] == DEFAULT_PARTITION_KEY
    assert read.path == item_path("a%20b%2B%C3%A9")  # percent-encoded on the wire ...
    date = read.headers["x-ms-date"]
    # ... but signed with the unescaped name-based link.
    assert read.authorization == MasterKeySigner(KEY).sign("get", "docs", "dbs/db/colls/c/docs/a b+é", date.lower())
    assert read.headers["x-ms-documentdb-partitionkey"] == '["p"]'
    assert read.body == b""
    assert create.json() == {"id": "1", "pk": "p", "n": 1}
    assert create.headers["Content-Type"] == "application/json"
    assert create.reply_headers["x-ms-activity-id"]


async def test_scripts_are_consumed_in_order_then_forever_then_defaults(server: RecordingServer) -> None:
    server.script(Reply.json({"n": 1}), Reply.json({"n": 2}), method="GET", path="/x")
    server.script(method="GET", path_prefix="/x", forever=Reply.error(503))
    server.script(Reply.json({"never": True}), method="POST", path="/x")

    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(4):
            async with http.get(server.url + "/x") as response:
                statuses.append((response.status, await response.json()))
    assert statuses[:2] == [(200, {"n": 1}), (200, {"n": 2})]
    assert statuses[2][0] == statuses[3][0] == 503
    assert statuses[2][1]["code"] == "ServiceUnavailable"
    assert server.scripts[2].queue  # a POST script is not used for GETs


async def test_partition_key_definitions_are_configurable(server: RecordingServer) -> None:
    server.containers["dbs/db/colls/h"] = {"paths": ["/a", "/b"], "kind": "MultiHash", "version": 2}
    async with aiohttp.ClientSession() as http, http.get(server.url + "/dbs/db/colls/h") as response:
        body = await response.json()
    assert body["partitionKey"]["paths"] == ["/a", "/b"]
