"""Wire parity with azure.cosmos.aio at the recording server (shared by the users and offers tests).

One operation runs through the official SDK and through aiocosmos against the same scripted replies.
The two request sequences must agree on: method; path (azure-cosmos adds a trailing slash); the
(verb, resource type, resource link) each request was signed with, proven by recomputing the
master-key signature from the request's own ``x-ms-date``; the parsed JSON body; and the values of the
headers that carry meaning.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from aiocosmos._wire.auth import MasterKeySigner
from tests.client.conftest import KEY, ClientFactory
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

MEANINGFUL_HEADERS = (
    "x-ms-version",
    "Content-Type",
    "x-ms-documentdb-is-upsert",
    "x-ms-documentdb-expiry-seconds",
    "x-ms-documentdb-isquery",
    "x-ms-max-item-count",
    "x-ms-offer-throughput",
    "If-Match",
)
# azure-cosmos writes booleans as "true"/"True" depending on the header; the service takes both.
BOOLEAN_HEADERS = frozenset({"x-ms-documentdb-is-upsert", "x-ms-documentdb-isquery"})

_SIGNER = MasterKeySigner(KEY)


@dataclass(frozen=True)
class Wire:
    """One expected request: method, path (without the trailing slash) and what it must be signed with."""

    method: str
    path: str
    resource_type: str
    link: str


@dataclass
class Case:
    name: str
    sdk: Callable[[AzureClient], Awaitable[Any]]
    ours: Callable[[aiocosmos.CosmosClient], Awaitable[Any]]
    wire: Sequence[Wire]
    replies: Sequence[tuple[str, str, Reply]] = field(default_factory=list)
    """(method, path without trailing slash, reply) answered forever, with and without the slash."""


def script_both(server: RecordingServer, method: str, path: str, reply: Reply) -> None:
    server.script(method=method, path=path, forever=reply)
    server.script(method=method, path=path + "/", forever=reply)


def signed_with(request: RecordedRequest, verb: str, resource_type: str, link: str) -> bool:
    date = request.headers["x-ms-date"]
    return request.authorization == _SIGNER.sign(verb, resource_type, link, date.lower())


def parsed(request: RecordedRequest) -> Any:
    return orjson.loads(request.body) if request.body else None


def header_value(request: RecordedRequest, name: str) -> str | None:
    value = request.headers.get(name)
    if value is not None and name in BOOLEAN_HEADERS:
        return value.lower()
    return value


async def collect(pager: Any) -> list[Any]:
    return [item async for item in pager]


async def run_both(
    server: RecordingServer, make_client: ClientFactory, case: Case
) -> tuple[Any, list[RecordedRequest], Any, list[RecordedRequest]]:
    """(sdk result, sdk requests, aiocosmos result, aiocosmos requests); the SDK's account reads dropped."""
    for method, path, reply in case.replies:
        script_both(server, method, path, reply)
    start = len(server.requests)
    async with AzureClient(server.url, credential=KEY) as azure_client:
        sdk_result = await case.sdk(azure_client)
    sdk_requests = [r for r in server.requests[start:] if not (r.method == "GET" and r.path == "/")]
    start = len(server.requests)
    our_result = await case.ours(make_client())
    return sdk_result, sdk_requests, our_result, server.requests[start:]


def assert_same_wire(
    sdk_requests: Sequence[RecordedRequest], our_requests: Sequence[RecordedRequest], wire: Sequence[Wire]
) -> None:
    assert [f"{r.method} {r.path.rstrip('/')}" for r in sdk_requests] == [f"{w.method} {w.path}" for w in wire]
    assert [f"{r.method} {r.path}" for r in our_requests] == [f"{w.method} {w.path}" for w in wire]
    for sdk, ours, expected in zip(sdk_requests, our_requests, wire, strict=True):
        triple = (expected.method.lower(), expected.resource_type, expected.link)
        assert signed_with(sdk, *triple), f"azure-cosmos did not sign {sdk!r} with {triple}"
        assert signed_with(ours, *triple), f"aiocosmos did not sign {ours!r} with {triple}"
        assert parsed(ours) == parsed(sdk), f"bodies differ for {expected}"
        for name in MEANINGFUL_HEADERS:
            assert header_value(ours, name) == header_value(sdk, name), f"{name} differs for {expected}"


def plain(value: Any) -> Any:
    """A result of either client as plain data, so the two can be compared."""
    if value is None:
        return None
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, aiocosmos.ResourceResponse):
        return dict(value.body) or None  # aiocosmos deletes return an empty mapping, azure-cosmos None
    if isinstance(value, Mapping):
        return dict(value)
    return value
