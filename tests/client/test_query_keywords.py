"""azure-cosmos's keywords on queries and on the CosmosClient constructor (issue 15), at the recording server.

Wire parity: each keyword is run through azure.cosmos.aio and through aiocosmos, and the headers it produces
must be the same. Keywords aiocosmos cannot honour raise TypeError naming the alternative.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from azure.cosmos.aio import CosmosClient as AzureClient

import aiocosmos
from tests.client.conftest import DOCS_PATH, KEY, ClientFactory, item_path
from tests.client.recording_server import RecordedRequest, RecordingServer, Reply

KEYWORD_HEADERS = (
    "x-ms-documentdb-responsecontinuationtokenlimitinkb",
    "x-ms-cosmos-populateindexmetrics",
    "x-ms-cosmos-populatequeryadvice",
    "x-ms-dedicatedgateway-max-age",
    "x-ms-cosmos-priority-level",
    "x-ms-cosmos-throughput-bucket",
    "x-ms-session-token",
    "x-ms-documentdb-populatequerymetrics",
    "x-ms-documentdb-query-enable-scan",
)

SESSION_ACCOUNT = {"id": "localaccount", "writableLocations": [], "readableLocations": [],
                   "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"}}
"""azure-cosmos sends a per-call session token only on a Session account."""

QUERY_KEYWORDS: dict[str, dict[str, Any]] = {
    "continuation_token_limit": {"continuation_token_limit": 8},
    "populate_index_metrics": {"populate_index_metrics": True},
    "populate_query_advice": {"populate_query_advice": True},
    "max_integrated_cache_staleness_in_ms": {"max_integrated_cache_staleness_in_ms": 500},
    "priority": {"priority": "Low"},
    "throughput_bucket": {"throughput_bucket": 3},
    "session_token": {"session_token": "0:-1#12"},
    "all together": {"continuation_token_limit": 1, "populate_index_metrics": True, "priority": "High",
                     "throughput_bucket": 2, "populate_query_metrics": True, "enable_scan_in_query": True},
}


def _headers(request: RecordedRequest) -> dict[str, str]:
    return {name: request.headers[name] for name in KEYWORD_HEADERS if name in request.headers}


def _queries(server: RecordingServer, start: int) -> list[RecordedRequest]:
    return [r for r in server.requests[start:] if r.method == "POST" and r.path.rstrip("/") == DOCS_PATH]


@pytest.mark.parametrize("name", sorted(QUERY_KEYWORDS))
async def test_a_query_keyword_sends_the_header_azure_cosmos_sends(
    server: RecordingServer, make_client: ClientFactory, name: str
) -> None:
    keywords = QUERY_KEYWORDS[name]
    server.script(method="GET", path="/", forever=Reply.json(SESSION_ACCOUNT))
    start = len(server.requests)
    async with AzureClient(server.url, credential=KEY) as azure_client:
        container = azure_client.get_database_client("db").get_container_client("c")
        assert [i async for i in container.query_items("SELECT * FROM c", partition_key="a", **keywords)] == []
    theirs = [_headers(r) for r in _queries(server, start)]

    start = len(server.requests)
    ours_container = make_client().get_database_client("db").get_container_client("c")
    assert [i async for i in ours_container.query_items("SELECT * FROM c", partition_key="a", **keywords)] == []
    ours = [_headers(r) for r in _queries(server, start)]
    assert ours == theirs and len(ours) == 1 and ours[0]


async def test_a_query_given_as_azure_cosmos_dict_sends_the_same_body(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    spec = {"query": "SELECT * FROM c WHERE c.id = @id", "parameters": [{"name": "@id", "value": "x"}]}
    server.script(method="POST", path="/dbs", forever=Reply.json({"_rid": "", "Databases": [], "_count": 0}))
    start = len(server.requests)
    async with AzureClient(server.url, credential=KEY) as azure_client:
        container = azure_client.get_database_client("db").get_container_client("c")
        _ = [i async for i in container.query_items(spec, partition_key="a")]
        _ = [d async for d in azure_client.query_databases(spec)]
    theirs = [(r.path.rstrip("/"), r.json()) for r in server.requests[start:] if r.method == "POST"]

    client = make_client()
    start = len(server.requests)
    _ = [i async for i in client.get_database_client("db").get_container_client("c").query_items(
        spec, partition_key="a")]
    _ = [d async for d in client.query_databases(spec)]
    ours = [(r.path, r.json()) for r in server.requests[start:] if r.method == "POST"]
    assert ours == theirs == [(DOCS_PATH, spec), ("/dbs", spec)]


def test_a_bad_query_dict_or_keyword_fails_before_io(client: aiocosmos.CosmosClient) -> None:
    container = client.get_database_client("db").get_container_client("c")
    with pytest.raises(aiocosmos.ValidationError, match="not both"):
        container.query_items({"query": "SELECT 1", "parameters": []}, parameters=[])
    with pytest.raises(aiocosmos.ValidationError, match=r'\{"query": sql'):
        container.query_items({"sql": "SELECT 1"})
    with pytest.raises(aiocosmos.ValidationError, match="continuation_token_limit"):
        container.query_items("SELECT 1", continuation_token_limit=-1)
    with pytest.raises(aiocosmos.ValidationError, match="priority"):
        container.query_items("SELECT 1", priority="Urgent")
    with pytest.raises(aiocosmos.ValidationError, match="throughput_bucket"):
        container.query_items("SELECT 1", throughput_bucket="3")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- point operations

PointCall = Callable[[Any], Awaitable[Any]]

POINT_CALLS: dict[str, tuple[str, str, PointCall]] = {
    "read": ("GET", item_path("x"), lambda c: c.read_item("x", "a", throughput_bucket=2)),
    "create": ("POST", DOCS_PATH, lambda c: c.create_item({"id": "x", "pk": "a"}, throughput_bucket=3)),
    "upsert": ("POST", DOCS_PATH, lambda c: c.upsert_item({"id": "x", "pk": "a"}, throughput_bucket=4)),
    "delete": ("DELETE", item_path("x"), lambda c: c.delete_item("x", "a", throughput_bucket=5)),
}


@pytest.mark.parametrize("name", sorted(POINT_CALLS))
async def test_throughput_bucket_on_a_point_operation_is_sent_as_azure_cosmos_sends_it(
    server: RecordingServer, make_client: ClientFactory, name: str
) -> None:
    method, path, call = POINT_CALLS[name]

    def sent(start: int) -> str | None:
        matching = [r for r in server.requests[start:] if r.method == method and r.path.rstrip("/") == path]
        assert len(matching) == 1
        return matching[0].headers.get("x-ms-cosmos-throughput-bucket")

    start = len(server.requests)
    async with AzureClient(server.url, credential=KEY) as azure_client:
        await call(azure_client.get_database_client("db").get_container_client("c"))
    theirs = sent(start)
    start = len(server.requests)
    await call(make_client().get_database_client("db").get_container_client("c"))
    assert sent(start) == theirs is not None


# ---------------------------------------------------------------------------------------------- the constructor

CLIENT_HEADERS = ("x-ms-cosmos-throughput-bucket", "x-ms-cosmos-priority-level", "x-ms-consistency-level")


async def test_client_level_keywords_send_what_azure_cosmos_sends_on_every_request(server: RecordingServer) -> None:
    keywords: dict[str, Any] = {"throughput_bucket": 1, "priority": "Low", "consistency_level": "Eventual"}

    async def run(client: Any) -> list[dict[str, str]]:
        start = len(server.requests)
        container = client.get_database_client("db").get_container_client("c")
        await container.read_item("x", "a")
        await container.upsert_item({"id": "x", "pk": "a"})
        await container.read_item("x", "a", throughput_bucket=7)  # the call's own wins
        return [{n: r.headers[n] for n in CLIENT_HEADERS if n in r.headers}
                for r in server.requests[start:] if r.path.startswith(DOCS_PATH)]

    async with AzureClient(server.url, credential=KEY, **keywords) as azure_client:
        theirs = await run(azure_client)
    async with aiocosmos.CosmosClient(server.url, credential=KEY, **keywords) as client:
        ours = await run(client)
    assert ours == theirs
    assert [h["x-ms-cosmos-throughput-bucket"] for h in ours] == ["1", "1", "7"]


async def test_user_agent_suffix_is_appended_to_the_user_agent(server: RecordingServer) -> None:
    async with aiocosmos.CosmosClient(server.url, credential=KEY, user_agent_suffix="MyApp/1.0") as client:
        await client.get_database_client("db").read()
    assert server.requests[-1].headers["User-Agent"].endswith(" MyApp/1.0")


def test_constructor_keywords_land_on_client_options() -> None:
    client = aiocosmos.CosmosClient(
        "https://acct.documents.azure.com:443/", credential=KEY,
        options=aiocosmos.ClientOptions(account_refresh_interval=60.0),
        preferred_locations=["West US 2", "East US"], excluded_locations=["East US"],
        enable_endpoint_discovery=True, multiple_write_locations=True, consistency_level="Session",
        connection_timeout=3, read_timeout=20, timeout=90, connection_verify=False,
        retry_total=4, retry_connect=2, retry_read=6, retry_backoff_max=12, retry_fixed_interval=250,
        retry_write=False, retry_backoff_factor=0.2, user_agent_suffix="x", throughput_bucket=2, priority="High",
        availability_strategy={"threshold_ms": 300, "threshold_steps_ms": 100},
        connection_mode="Gateway", retry_on_status_codes=[], enable_diagnostics_logging=False,
    )
    options = client._options
    assert options.account_refresh_interval == 60.0  # options= given, keywords applied on top
    assert options.preferred_regions == ("West US 2", "East US") and options.excluded_regions == ("East US",)
    assert options.enable_endpoint_discovery is True and options.consistency_level == "Session"
    assert (options.timeouts.connect, options.timeouts.read, options.timeouts.operation) == (3, 20, 90)
    assert options.verify_tls is False and options.user_agent_suffix == "x"
    retry = options.retry
    assert (retry.max_throttle_retries, retry.max_transient_retries) == (4, 4)  # min(total, max(connect, read))
    assert (retry.max_throttle_wait, retry.throttle_fallback_wait, retry.backoff_base) == (12, 0.25, 0.2)
    assert retry.replay_idempotent_writes is False
    assert (options.throughput_bucket, options.priority) == (2, "High")
    assert options.availability_strategy is not None and options.availability_strategy.threshold == 0.3


@pytest.mark.parametrize(("keyword", "value", "names"), [
    ("logger", object(), "logging.getLogger('aiocosmos')"),
    ("proxy_config", object(), "http_session="),
    ("connection_policy", object(), "ClientOptions"),
    ("retry_on_status_codes", [429], "service's rules"),
    ("no_response_on_write", True, "no_response=True"),
    ("multiple_write_locations", False, "excluded_locations"),
    ("connection_verify", "/etc/ca.pem", "TCPConnector"),
])
def test_a_constructor_keyword_that_cannot_be_honoured_names_the_alternative(
    keyword: str, value: object, names: str
) -> None:
    with pytest.raises(TypeError, match=names.replace("(", r"\(").replace(")", r"\)")):
        aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential=KEY, **{keyword: value})


def test_bad_client_level_values_fail_at_construction() -> None:
    with pytest.raises(aiocosmos.ConfigurationError, match="priority"):
        aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential=KEY, priority="Urgent")
    with pytest.raises(TypeError, match="retry_total"):
        aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential=KEY, retry_total=-1)


NO_RESPONSE_CALLS: dict[str, tuple[str, str, PointCall]] = {
    "create": ("POST", DOCS_PATH, lambda c: c.create_item({"id": "x", "pk": "a"}, no_response=True)),
    "upsert": ("POST", DOCS_PATH, lambda c: c.upsert_item({"id": "x", "pk": "a"}, no_response=True)),
    "replace": ("PUT", item_path("x"), lambda c: c.replace_item("x", {"id": "x", "pk": "a"}, no_response=True)),
    "patch": ("PATCH", item_path("x"), lambda c: c.patch_item(
        "x", "a", [{"op": "set", "path": "/n", "value": 1}], no_response=True)),
    "upsert without": ("POST", DOCS_PATH, lambda c: c.upsert_item({"id": "x", "pk": "a"}, no_response=False)),
}


@pytest.mark.parametrize("name", sorted(NO_RESPONSE_CALLS))
async def test_no_response_asks_for_a_minimal_answer_as_azure_cosmos_does(
    server: RecordingServer, make_client: ClientFactory, name: str
) -> None:
    method, path, call = NO_RESPONSE_CALLS[name]

    def sent(start: int) -> str | None:
        matching = [r for r in server.requests[start:] if r.method == method and r.path.rstrip("/") == path]
        assert len(matching) == 1
        return matching[0].headers.get("Prefer")

    start = len(server.requests)
    async with AzureClient(server.url, credential=KEY) as azure_client:
        await call(azure_client.get_database_client("db").get_container_client("c"))
    theirs = sent(start)
    start = len(server.requests)
    await call(make_client().get_database_client("db").get_container_client("c"))
    assert sent(start) == theirs == (None if name.endswith("without") else "return=minimal")


def test_query_keywords_that_cannot_be_honoured_name_the_alternative(client: aiocosmos.CosmosClient) -> None:
    container = client.get_database_client("db").get_container_client("c")
    with pytest.raises(TypeError, match=r"aiocosmos\.excluded_regions"):
        container.query_items("SELECT 1", excluded_locations=["East US"])
    with pytest.raises(aiocosmos.ValidationError, match="callable"):  # response_hook is taken (per page)
        container.query_items("SELECT 1", response_hook="print")  # type: ignore[arg-type]
