"""Vector and full-text containers: ``create_container``, ``create_container_if_not_exists`` and
``replace_container`` send ``vectorEmbeddingPolicy`` and ``fullTextPolicy`` exactly as azure.cosmos.aio
does (the vector and full-text indexes go in the indexing policy), and bad values fail before any I/O."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from azure.cosmos import PartitionKey as AzurePartitionKey

import aiocosmos
from tests.client.azure_parity import Case, Wire, assert_same_wire, run_both
from tests.client.conftest import ClientFactory
from tests.client.recording_server import RecordingServer, Reply

VECTORS = {"vectorEmbeddings": [{"path": "/embedding", "dataType": "float32", "distanceFunction": "cosine",
                                 "dimensions": 8}]}
FULL_TEXT = {"defaultLanguage": "en-US", "fullTextPaths": [{"path": "/text", "language": "en-US"}]}
INDEXING = {"indexingMode": "consistent", "automatic": True,
            "includedPaths": [{"path": "/*"}], "excludedPaths": [{"path": "/embedding/*"}],
            "vectorIndexes": [{"path": "/embedding", "type": "quantizedFlat"}],
            "fullTextIndexes": [{"path": "/text"}]}
CREATED = {"id": "v", "partitionKey": {"paths": ["/pk"], "kind": "Hash", "version": 2}, "_rid": "rid-v",
           "_self": "dbs/db/colls/v/", "vectorEmbeddingPolicy": VECTORS, "fullTextPolicy": FULL_TEXT}


def _create(client: Any) -> Any:
    return client.get_database_client("db").create_container(
        "v", partition_key=AzurePartitionKey("/pk") if not isinstance(client, aiocosmos.CosmosClient)
        else aiocosmos.PartitionKey("/pk"),
        indexing_policy=INDEXING, vector_embedding_policy=VECTORS, full_text_policy=FULL_TEXT)


def _replace(client: Any) -> Any:
    return client.get_database_client("db").replace_container(
        "v", partition_key=AzurePartitionKey("/pk") if not isinstance(client, aiocosmos.CosmosClient)
        else aiocosmos.PartitionKey("/pk"),
        indexing_policy=INDEXING, vector_embedding_policy=VECTORS, full_text_policy=FULL_TEXT)


CASES = [
    Case("create_container", _create, _create, [Wire("POST", "/dbs/db/colls", "colls", "dbs/db")],
         replies=[("POST", "/dbs/db/colls", Reply.json(CREATED, status=201))]),
    Case("replace_container", _replace, _replace, [Wire("PUT", "/dbs/db/colls/v", "colls", "dbs/db/colls/v")],
         replies=[("PUT", "/dbs/db/colls/v", Reply.json(CREATED))]),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_vector_and_full_text_policies_go_on_the_wire_as_azure_sends_them(
    server: RecordingServer, make_client: ClientFactory, case: Case
) -> None:
    _, sdk_requests, _, our_requests = await run_both(server, make_client, case)
    assert_same_wire(sdk_requests, our_requests, case.wire)
    body = orjson.loads(our_requests[0].body)
    assert body["vectorEmbeddingPolicy"] == VECTORS and body["fullTextPolicy"] == FULL_TEXT
    assert body["indexingPolicy"]["vectorIndexes"] == [{"path": "/embedding", "type": "quantizedFlat"}]


@pytest.mark.parametrize("keyword", ["vector_embedding_policy", "full_text_policy"])
async def test_a_policy_that_is_not_a_mapping_fails_before_any_io(
    server: RecordingServer, make_client: ClientFactory, keyword: str
) -> None:
    database = make_client().get_database_client("db")
    start = len(server.requests)
    for call in (database.create_container, database.create_container_if_not_exists):
        with pytest.raises(aiocosmos.ValidationError, match="Policy must be a mapping"):
            await call("v", aiocosmos.PartitionKey("/pk"), **{keyword: ["not", "a", "mapping"]})
    assert server.requests[start:] == []
