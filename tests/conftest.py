"""Test session set-up: the local Cosmos-compatible server, a client, and a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import aiocosmos
from tests.server import CosmosTestServer

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cosmos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosTestServer]:
    """One server per test session, strict signature checking on (every request is a signing test)."""
    log = tmp_path_factory.mktemp("cosmos-server") / "server.log"
    with CosmosTestServer(log_path=log) as server:
        yield server


@pytest.fixture(scope="session")
async def client(cosmos_server: CosmosTestServer) -> AsyncIterator[aiocosmos.CosmosClient]:
    async with aiocosmos.CosmosClient(cosmos_server.url, credential=cosmos_server.key) as cosmos_client:
        yield cosmos_client


@pytest.fixture
async def database(client: aiocosmos.CosmosClient) -> AsyncIterator[aiocosmos.DatabaseProxy]:
    """A fresh database per test, deleted afterwards."""
    db = await client.create_database(f"test-{uuid.uuid4().hex[:12]}")
    yield db
    await client.delete_database(db)


@pytest.fixture
async def container(database: aiocosmos.DatabaseProxy) -> aiocosmos.ContainerProxy:
    """A container partitioned on /pk in a fresh database."""
    return await database.create_container("items", partition_key=aiocosmos.PartitionKey("/pk"))
