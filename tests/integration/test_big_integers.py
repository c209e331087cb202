"""Integers beyond 2**53 against the local server, which stores numbers as doubles and writes them
back in their shortest round-trip form, as the service does: what it returns for each integer is
exactly what ``codec.returned_as`` predicts, everything it returns can be written back (replace,
bulk, ``export | ingest``), and what the client refuses is exactly what it would have changed."""

from __future__ import annotations

import random
import re
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos._wire.codec import returned_as
from tests.integration.test_cli import conn, run_cli
from tests.server import CosmosTestServer

ISSUE_VALUE = 637268054321234567
"""From the issue: written by azure-cosmos, read back as 637268054321234600."""


def candidates() -> list[int]:
    rng = random.Random(20240611)
    values = [ISSUE_VALUE, -ISSUE_VALUE, 2**53, 2**53 + 1, -(2**53) - 1, 2**60, 2**63 - 1, 2**64 - 1, 2**64,
              2**70, 10**20, 10**21, 10**30, 637268054321234600, 1152921504606847000]
    for _ in range(60):
        value = rng.randrange(2**53, 2**rng.randrange(54, 90))
        values.append(value if rng.random() < 0.7 else -value)
    return values


async def test_the_server_returns_what_returned_as_predicts_and_the_client_refuses_only_changes(
    cosmos_server: CosmosTestServer, container: aiocosmos.ContainerProxy
) -> None:
    values = candidates()
    document = {"id": "big", "pk": "p", **{f"v{n}": v for n, v in enumerate(values)}}
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:  # writes digits as given
        azure_container = azure_client.get_database_client(container.database.id).get_container_client(container.id)
        await azure_container.create_item(document)
    item = await container.read_item("big", partition_key="p")
    assert item[f"v{values.index(ISSUE_VALUE)}"] == 637268054321234600  # what the issue saw
    changed = 0
    for n, value in enumerate(values):
        back = item[f"v{n}"]
        assert back == returned_as(value) and type(back) is type(returned_as(value)), (value, back)
        refused = back != value
        changed += refused
        if refused:  # the client refuses exactly the values the server changed, naming the path and result
            expected = f"at /x an integer {value} beyond 2**53, which the service would return as {back!r} "
            with pytest.raises(aiocosmos.ValidationError, match=re.escape(expected)):
                await container.upsert_item({"id": "other", "pk": "p", "x": value})
    assert 0 < changed < len(values)
    # The client sends the others (as given), and they come back equal.
    kept = {f"v{n}": v for n, v in enumerate(values) if item[f"v{n}"] == v}
    await container.upsert_item({"id": "kept", "pk": "p", **kept})
    read = await container.read_item("kept", partition_key="p")
    assert {k: read[k] for k in kept} == kept
    # Every value the server returned is accepted and comes back unchanged.
    replaced = await container.replace_item(item, {**item.body, "touched": True})
    assert {k: replaced[k] for k in document} == {k: item[k] for k in document} and replaced["touched"] is True
    again = await container.read_item("big", partition_key="p")
    assert {k: again[k] for k in document} == {k: item[k] for k in document}


async def test_a_document_the_server_rounded_survives_bulk_and_export_then_ingest(
    cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient, container: aiocosmos.ContainerProxy,
    tmp_path: Path,
) -> None:
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure_container = azure_client.get_database_client(container.database.id).get_container_client(container.id)
        for n in range(5):
            await azure_container.create_item({"id": f"t{n}", "pk": "p", "ticks": ISSUE_VALUE + n, "big": 2**60})
    items = [item async for item in container.read_all_items()]
    assert {item["ticks"] for item in items} == {637268054321234600}
    results = [r async for r in container.bulk(("upsert", ({**item, "seen": True},)) for item in items)]
    assert all(r.succeeded for r in results), results
    code, out, err = await run_cli("--connection-string", conn(cosmos_server), "export", "-d", container.database.id,
                                   "-c", container.id)
    assert code == 0, err
    source = tmp_path / "export.jsonl"
    source.write_bytes(out)
    target = f"ingested-{uuid.uuid4().hex[:8]}"
    await container.database.create_container(target, partition_key=aiocosmos.PartitionKey("/pk"))
    code, _, err = await run_cli("--connection-string", conn(cosmos_server), "ingest", str(source),
                                 "-d", container.database.id, "-c", target, "--no-progress")
    assert code == 0, err
    copied = [item async for item in container.database.get_container_client(target).read_all_items()]
    user = ("id", "pk", "ticks", "big", "seen")

    def fields(docs: list[Any]) -> list[dict[str, Any]]:
        return sorted(({k: d[k] for k in user} for d in docs), key=lambda d: d["id"])

    assert fields(copied) == fields([orjson.loads(line) for line in out.splitlines()])
    assert fields(copied)[0] == {"id": "t0", "pk": "p", "ticks": 637268054321234600, "big": 1152921504606847000,
                                 "seen": True}
