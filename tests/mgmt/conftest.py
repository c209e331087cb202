"""Fixtures for the management-plane tests: a recording server, a fake AAD credential, a FakeClock,
and the official ARM examples (copied into ``examples/``)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from aiocosmos.mgmt import CosmosManagementClient
from aiocosmos.testing import FakeClock
from tests.client.recording_server import RecordedRequest, RecordingServer

EXAMPLES = Path(__file__).parent / "examples"
SUB = "00000000-1111-2222-3333-444444444444"


@functools.cache
def _example_bytes(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def example(name: str) -> dict[str, Any]:
    """A fresh copy of an example file (tests may mutate it)."""
    parsed = orjson.loads(_example_bytes(name))
    assert isinstance(parsed, dict)
    return parsed


def query_of(request: RecordedRequest) -> dict[str, list[str]]:
    return parse_qs(request.query_string, keep_blank_values=True)


class FakeCredential:
    """An AsyncTokenCredential: returns ``token-1``, ``token-2``... valid for ``lifetime`` seconds."""

    def __init__(self, clock: FakeClock, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> tuple[str, float]:
        self.scopes.append(scopes)
        return f"token-{len(self.scopes)}", self.clock.time() + self.lifetime


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    async with RecordingServer() as recording_server:
        yield recording_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def credential(clock: FakeClock) -> FakeCredential:
    return FakeCredential(clock)


MgmtFactory = Callable[..., CosmosManagementClient]


@pytest.fixture
async def make_mgmt(
    server: RecordingServer, clock: FakeClock, credential: FakeCredential
) -> AsyncIterator[MgmtFactory]:
    """``make_mgmt(subscription_id=SUB, **kwargs)``: a client on the recording server, closed at teardown."""
    clients: list[CosmosManagementClient] = []

    def factory(subscription_id: str = SUB, **kwargs: Any) -> CosmosManagementClient:
        kwargs.setdefault("base_url", server.url)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("polling_interval", 5.0)
        client = CosmosManagementClient(kwargs.pop("credential", credential), subscription_id, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
def mgmt(make_mgmt: MgmtFactory) -> CosmosManagementClient:
    return make_mgmt()
