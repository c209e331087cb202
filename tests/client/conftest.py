"""Fixtures for client tests against the recording server (no real Cosmos server needed)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import pytest

import aiocosmos
from aiocosmos.testing import FakeClock
from tests.client.recording_server import RecordingServer
from tests.server import EMULATOR_KEY

KEY = EMULATOR_KEY
"""Any valid base64 account key; the recording server does not check signatures."""

DB = "db"
COLL = "c"
COLL_PATH = f"/dbs/{DB}/colls/{COLL}"
DOCS_PATH = COLL_PATH + "/docs"


def item_path(item_id: str, path: str = DOCS_PATH) -> str:
    return f"{path}/{item_id}"


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    async with RecordingServer() as recording_server:
        yield recording_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ClientFactory = Callable[..., aiocosmos.CosmosClient]


@pytest.fixture
async def make_client(server: RecordingServer, clock: FakeClock) -> AsyncIterator[ClientFactory]:
    """``make_client(credential=KEY, url=server.url, clock=<the clock fixture>, **ClientOptions fields)``;
    every client it makes is closed at teardown."""
    clients: list[aiocosmos.CosmosClient] = []
    default_clock = clock

    def factory(
        credential: Any = KEY,
        *,
        url: str | None = None,
        clock: FakeClock | None = None,
        **options: Any,
    ) -> aiocosmos.CosmosClient:
        client = aiocosmos.CosmosClient(
            url or server.url,
            credential=credential,
            clock=clock or default_clock,
            options=aiocosmos.ClientOptions(**options),
        )
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: ClientFactory) -> aiocosmos.CosmosClient:
    return make_client()


@pytest.fixture
def container(client: aiocosmos.CosmosClient) -> aiocosmos.ContainerProxy:
    return client.get_database_client(DB).get_container_client(COLL)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _texts(exc: BaseException) -> Iterator[str]:
    """str() and repr() of an exception and of everything chained to it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        for name in ("message", "url"):
            value = getattr(current, name, None)
            if isinstance(value, str):
                yield value
        current = current.__cause__ or current.__context__


def assert_no_secrets(exc: BaseException, secrets: Iterable[str]) -> None:
    for secret in secrets:
        if not secret:
            continue
        for text in _texts(exc):
            assert secret not in text, f"a secret leaked into {type(exc).__name__}: {text!r}"


def secrets_of(server: RecordingServer, *extra: str) -> list[str]:
    """The key, every authorization header value the server saw, and ``extra`` (tokens)."""
    return [KEY, *server.authorizations(), *extra]


@contextlib.contextmanager
def raises_clean(
    exc_type: type[BaseException], server: RecordingServer, *extra_secrets: str, match: str | None = None
) -> Iterator[pytest.ExceptionInfo[Any]]:
    """``pytest.raises`` that also checks the error (and its causes) leak no key, token or signature."""
    with pytest.raises(exc_type, match=match) as info:
        yield info
    assert_no_secrets(info.value, secrets_of(server, *extra_secrets))
