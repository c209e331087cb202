"""No key, token or signature ever appears in a repr, an error, or the debug log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest

import aiocosmos
from aiocosmos._wire.auth import AadTokenCache, MasterKeySigner, ResourceTokenSigner
from aiocosmos.testing import FakeClock
from tests.client.conftest import KEY, ClientFactory, assert_no_secrets, closed_port, item_path
from tests.client.recording_server import RecordingServer, Reply

AAD_TOKEN = "eyJhbGciOi.aad-secret-token.sig"
RESOURCE_TOKEN = "type=resource&ver=1&sig=resource-secret;sig"


class StaticCredential:
    async def get_token(self, *scopes: str, **kwargs: Any) -> tuple[str, float]:
        return AAD_TOKEN, 10.0**10


def all_secrets(server: RecordingServer) -> list[str]:
    return [KEY, KEY.rstrip("="), AAD_TOKEN, RESOURCE_TOKEN, quote(RESOURCE_TOKEN, safe="-_.!~*'()"),
            "resource-secret", *server.authorizations()]


def assert_clean_text(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"secret leaked into {text!r}"


def signer_reprs() -> list[str]:
    clock = FakeClock()
    signers = [MasterKeySigner(KEY), ResourceTokenSigner(RESOURCE_TOKEN),
               ResourceTokenSigner({"dbs/db": RESOURCE_TOKEN}), AadTokenCache(StaticCredential(), "s", clock)]
    return [text for signer in signers for text in (repr(signer), str(signer))]


async def test_reprs_hide_keys_and_tokens(server: RecordingServer, make_client: ClientFactory) -> None:
    clients = [make_client(KEY), make_client({"masterKey": KEY}), make_client(StaticCredential()),
               make_client(RESOURCE_TOKEN), make_client({"dbs/db/colls/c": RESOURCE_TOKEN})]
    for client in clients:
        await client.get_database_account()  # opened, AAD token fetched: the secrets are live
        database = client.get_database_client("db")
        container = database.get_container_client("c")
        texts = [repr(client), str(client), repr(client._signer), repr(database), repr(container)]
        for text in texts + signer_reprs():
            assert_clean_text(text, all_secrets(server))
    assert len(server.authorizations()) == len(clients)


ErrorCase = Callable[[RecordingServer, ClientFactory], Awaitable[None]]


async def throttled_master_key(server: RecordingServer, make_client: ClientFactory) -> None:
    server.script(method="GET", path="/", forever=Reply.error(429, retry_after_ms=1))
    await make_client(KEY).get_database_account()


async def rejected_aad_token(server: RecordingServer, make_client: ClientFactory) -> None:
    server.script(method="GET", path="/", forever=Reply.error(401, message="bad token"))
    await make_client(StaticCredential()).get_database_account()


async def uncovered_resource_token(server: RecordingServer, make_client: ClientFactory) -> None:
    client = make_client({"dbs/db/colls/c": RESOURCE_TOKEN})
    await client.get_database_client("other").read()


async def forbidden_resource_token(server: RecordingServer, make_client: ClientFactory) -> None:
    server.script(method="GET", forever=Reply.error(403, message="forbidden"))
    await make_client(RESOURCE_TOKEN).get_database_client("db").read()


async def dropped_connection(server: RecordingServer, make_client: ClientFactory) -> None:
    server.script(method="POST", forever=Reply.dropped())
    await make_client(KEY).create_database("x")


async def refused_connection(server: RecordingServer, make_client: ClientFactory) -> None:
    await make_client(KEY, url=f"http://127.0.0.1:{closed_port()}").get_database_account()


async def deadline(server: RecordingServer, make_client: ClientFactory) -> None:
    server.script(method="GET", path=item_path("x"), forever=Reply.error(503))
    container = make_client(StaticCredential()).get_database_client("db").get_container_client("c")
    await container.read()
    await container.read_item("x", "p", timeout=0.15)


@pytest.mark.parametrize("case", [
    throttled_master_key, rejected_aad_token, uncovered_resource_token, forbidden_resource_token,
    dropped_connection, refused_connection, deadline,
])
async def test_errors_hide_keys_tokens_and_signatures(
    server: RecordingServer, make_client: ClientFactory, case: ErrorCase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiocosmos"), pytest.raises(aiocosmos.CosmosError) as info:
        await case(server, make_client)

    secrets = all_secrets(server)
    assert_no_secrets(info.value, secrets)
    for record in caplog.records:
        assert_clean_text(record.getMessage(), secrets)


@pytest.mark.parametrize("bad_key", ["not base64 at all: s3cr3t!!", "c2VjcmV0IGtleQ"])
def test_configuration_errors_do_not_echo_the_key(bad_key: str) -> None:
    with pytest.raises(aiocosmos.ConfigurationError) as info:
        aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential=bad_key)
    assert_no_secrets(info.value, [bad_key, "s3cr3t", "c2VjcmV0"])

    with pytest.raises(aiocosmos.ConfigurationError) as info:
        aiocosmos.CosmosClient.from_connection_string(
            f"AccountEndpoint=https://acct.documents.azure.com:443/;AccountKey={bad_key};"
        )
    assert_no_secrets(info.value, [bad_key, "s3cr3t", "c2VjcmV0"])
