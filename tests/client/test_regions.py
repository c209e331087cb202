"""Multi-region routing and failover against several recording servers acting as regions.

Four recording servers: the account's global endpoint and three regions (West, East, North). Every
one answers ``GET /`` with the same mutable account document, so a test can move the write region by
editing it. Which server saw which request is how routing is asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

import aiocosmos
from aiocosmos._wire.options import ClientOptions
from aiocosmos._wire.pipeline import REGIONS_HEADER
from aiocosmos._wire.regions import LocationCache, Region, parse_account
from aiocosmos.testing import FakeClock
from tests.client.conftest import COLL_PATH, DOCS_PATH, KEY, ClientFactory, closed_port, item_path
from tests.client.recording_server import RecordingServer, Reply

NAMES = ("West", "East", "North")


class Regions:
    """The global endpoint plus three regional recording servers sharing one account document."""

    def __init__(self, servers: dict[str, RecordingServer]) -> None:
        self.servers = servers
        self.account: dict[str, Any] = {"id": "acct", "enableMultipleWriteLocations": False,
                                        "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"},
                                        "queryEngineConfiguration": '{"maxSqlQueryInputLength": 262144}'}
        for server in servers.values():
            server.script(method="GET", path="/", forever=Reply.json(self.account))
        self.set(writable=["West"], readable=["West", "East", "North"])

    def url(self, name: str) -> str:
        return self.servers[name].url

    def location(self, name: str, url: str | None = None) -> dict[str, str]:
        return {"name": f"{name} US", "databaseAccountEndpoint": (url or self.url(name)) + "/"}

    def set(self, *, writable: list[str], readable: list[str], multi_write: bool = False) -> None:
        self.account["writableLocations"] = [self.location(n) for n in writable]
        self.account["readableLocations"] = [self.location(n) for n in readable]
        self.account["enableMultipleWriteLocations"] = multi_write

    def requests(self, name: str, method: str | None = None, path: str | None = None) -> int:
        return len([r for r in self.servers[name].requests_to(method, path)])

    def data_requests(self) -> dict[str, list[str]]:
        """Per server, ``METHOD path`` of every item request (not the account or container reads)."""
        return {name: [f"{r.method} {r.path}" for r in server.requests if r.path.startswith(DOCS_PATH)]
                for name, server in self.servers.items()}


@pytest.fixture
async def regions() -> AsyncIterator[Regions]:
    servers: dict[str, RecordingServer] = {}
    try:
        for name in ("global", *NAMES):
            servers[name] = RecordingServer()
            await servers[name].start()
        yield Regions(servers)
    finally:
        for server in servers.values():
            await server.stop()


def regional_client(make_client: ClientFactory, regions: Regions, **options: Any) -> aiocosmos.CosmosClient:
    options.setdefault("preferred_regions", ["North US", "East US"])
    return make_client(url=regions.url("global"), **options)


async def read(client: aiocosmos.CosmosClient, item: str = "a") -> Any:
    container = client.get_database_client("db").get_container_client("c")
    return await container.read_item(item, partition_key=item)


async def create(client: aiocosmos.CosmosClient, item: str = "a") -> Any:
    container = client.get_database_client("db").get_container_client("c")
    return await container.create_item({"id": item, "pk": item})


# -- options and the account document -------------------------------------------------------------


def test_options_validate_and_decide_discovery() -> None:
    assert ClientOptions().discovery is False
    assert ClientOptions(preferred_regions=["West US"]).discovery is True
    assert ClientOptions(preferred_regions=["West US"], enable_endpoint_discovery=False).discovery is False
    assert ClientOptions(enable_endpoint_discovery=True).discovery is True
    assert ClientOptions(preferred_regions=[" West US "]).preferred_regions == ("West US",)
    with pytest.raises(aiocosmos.ConfigurationError):
        ClientOptions(preferred_regions="West US")  # type: ignore[arg-type]
    with pytest.raises(aiocosmos.ConfigurationError):
        ClientOptions(excluded_regions=[""])
    with pytest.raises(aiocosmos.ConfigurationError):
        ClientOptions(region_cooldown=0)


def test_parse_account() -> None:
    account = parse_account({
        "writableLocations": [{"name": "West US", "databaseAccountEndpoint": "https://w.example:443/"}],
        "readableLocations": [{"name": "West US", "databaseAccountEndpoint": "https://w.example:443/"},
                              {"name": "East US", "databaseAccountEndpoint": "https://e.example:443/"},
                              {"name": "Bad"}, "junk"],
        "enableMultipleWriteLocations": True,
        "userConsistencyPolicy": {"defaultConsistencyLevel": "Eventual"},
        "queryEngineConfiguration": orjson.dumps({"maxSqlQueryInputLength": 5}).decode(),
    })
    assert account.writable == (Region("West US", "https://w.example:443"),)
    assert [r.name for r in account.readable] == ["West US", "East US"]
    assert account.multiple_write_locations is True
    assert account.default_consistency == "Eventual"
    assert account.query_engine_configuration == {"maxSqlQueryInputLength": 5}
    empty = parse_account([])
    assert empty.writable == () and empty.readable == () and not empty.multiple_write_locations


def test_location_cache_orders_by_preference_exclusion_and_health() -> None:
    clock = FakeClock()
    cache = LocationCache("https://global.example", clock=clock, preferred=["north us", "EastUS"],
                          excluded=["West US 2"], cooldown=60)
    assert [r.endpoint for r in cache.read_regions()] == ["https://global.example"]  # nothing known yet
    west, east, north, west2 = (Region(n, f"https://{n.replace(' ', '')}.example")
                                for n in ("West US", "East US", "North US", "West US 2"))
    cache.update(parse_account({
        "writableLocations": [{"name": r.name, "databaseAccountEndpoint": r.endpoint} for r in (west, east)],
        "readableLocations": [{"name": r.name, "databaseAccountEndpoint": r.endpoint}
                              for r in (west2, west, east, north)],
    }))
    assert cache.read_regions() == [north, east, west]  # preferred first, then the account's order
    assert cache.write_regions() == [west, east]  # single-write: the account's order, not preference
    cache.mark_unavailable(north.endpoint)
    assert cache.read_regions() == [east, west, north]
    clock.advance(59.9)
    assert cache.read_regions()[0] == east
    clock.advance(0.2)
    assert cache.read_regions() == [north, east, west]  # back after the cool-down
    cache.update(parse_account({
        "enableMultipleWriteLocations": True,
        "writableLocations": [{"name": r.name, "databaseAccountEndpoint": r.endpoint} for r in (west, east)],
        "readableLocations": [{"name": "West US 2", "databaseAccountEndpoint": west2.endpoint}],
    }))
    assert cache.write_regions() == [east, west]  # multi-write: by preference
    assert cache.read_regions() == [west2]  # excluded, but the only one left


# -- discovery and routing ------------------------------------------------------------------------


async def test_discovery_is_off_by_default(make_client: ClientFactory, regions: Regions) -> None:
    client = make_client(url=regions.url("global"))
    result = await read(client)
    await create(client)
    assert regions.requests("global", "GET", "/") == 0
    assert regions.data_requests()["global"] == [f"GET {item_path('a')}", f"POST {DOCS_PATH}"]
    assert REGIONS_HEADER not in result.headers
    assert result.regions == ()


async def test_reads_go_to_the_preferred_region_and_writes_to_the_write_region(
    make_client: ClientFactory, regions: Regions
) -> None:
    client = regional_client(make_client, regions)
    result = await read(client)
    await create(client)
    await read(client, "b")
    assert regions.requests("global", "GET", "/") == 1  # the account, read once at first use
    assert regions.data_requests() == {
        "global": [], "West": [f"POST {DOCS_PATH}"], "East": [],
        "North": [f"GET {item_path('a')}", f"GET {item_path('b')}"],
    }
    assert result.headers[REGIONS_HEADER] == "North US"
    pipeline = client._core.pipeline
    assert pipeline is not None and pipeline.regions is not None
    account = pipeline.regions.cache.account
    assert account is not None and account.default_consistency == "Session"
    assert account.query_engine_configuration == {"maxSqlQueryInputLength": 262144}


async def test_excluded_region_is_skipped(make_client: ClientFactory, regions: Regions) -> None:
    client = regional_client(make_client, regions, excluded_regions=["North US"])
    await read(client)
    assert regions.data_requests()["East"] == [f"GET {item_path('a')}"]
    assert regions.data_requests()["North"] == []


async def test_no_regions_in_the_account_falls_back_to_the_given_endpoint(
    make_client: ClientFactory, regions: Regions
) -> None:
    regions.set(writable=[], readable=[])
    client = regional_client(make_client, regions)
    await read(client)
    await create(client)
    assert regions.data_requests()["global"] == [f"GET {item_path('a')}", f"POST {DOCS_PATH}"]


async def test_account_is_refreshed_every_interval_and_routing_follows(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    client = regional_client(make_client, regions)
    await create(client, "1")
    regions.set(writable=["East"], readable=["West", "East", "North"])
    clock.advance(299)
    await create(client, "2")  # not due yet: still West
    clock.advance(2)
    await create(client, "3")
    assert regions.requests("global", "GET", "/") == 2
    assert regions.data_requests()["West"] == [f"POST {DOCS_PATH}"] * 2
    assert regions.data_requests()["East"] == [f"POST {DOCS_PATH}"]


async def test_failed_discovery_uses_the_given_endpoint_and_tries_again_later(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    regions.servers["global"].scripts.clear()
    regions.servers["global"].script(Reply.error(500), method="GET", path="/")
    client = regional_client(make_client, regions)
    await read(client)
    assert regions.data_requests()["global"] == [f"GET {item_path('a')}"]
    regions.servers["global"].script(method="GET", path="/", forever=Reply.json(regions.account))
    await read(client, "b")  # not yet: a failed discovery is retried after a few seconds
    clock.advance(5)
    await read(client, "c")
    assert regions.requests("global", "GET", "/") == 2
    assert regions.data_requests()["North"] == [f"GET {item_path('c')}"]


# -- failover -------------------------------------------------------------------------------------


async def test_read_503_moves_to_the_next_region_which_cools_down(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    regions.servers["North"].script(Reply.error(503), method="GET", path=item_path("a"))
    client = regional_client(make_client, regions)
    result = await read(client)
    assert result.headers[REGIONS_HEADER] == "North US, East US"
    assert result.regions == ("North US", "East US")
    assert clock.sleeps == []  # another region: no backoff
    await read(client, "b")  # North is cooling down
    assert regions.data_requests()["East"] == [f"GET {item_path('a')}", f"GET {item_path('b')}"]
    clock.advance(301)
    await read(client, "c")
    assert regions.data_requests()["North"] == [f"GET {item_path('a')}", f"GET {item_path('c')}"]


async def test_read_connection_failure_moves_to_the_next_region(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    regions.account["readableLocations"] = [regions.location("North", dead), regions.location("East")]
    client = regional_client(make_client, regions)
    account = await client.get_database_account()
    assert account.headers[REGIONS_HEADER] == "North US, East US"
    result = await read(client)  # North is cooling down: straight to East
    assert result.headers[REGIONS_HEADER] == "East US"
    assert regions.data_requests()["East"] == [f"GET {item_path('a')}"]
    assert clock.sleeps == []  # no backoff: another region


async def test_reads_failing_everywhere_end_with_the_retry_policy(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    for name in NAMES:
        regions.servers[name].script(method="GET", path=item_path("a"), forever=Reply.error(503))
    client = regional_client(make_client, regions)
    with pytest.raises(aiocosmos.ServiceUnavailable) as info:
        await read(client)
    # each region once without waiting, then the policy's 3 retries with backoff
    assert info.value.regions[:3] == ("North US", "East US", "West US")
    assert info.value.attempts == 6 and len(clock.sleeps) == 3
    assert "regions: North US, East US, West US" in str(info.value)


async def test_write_503_is_not_replayed_anywhere_with_the_strict_switch(
    make_client: ClientFactory, regions: Regions
) -> None:
    regions.servers["West"].script(Reply.error(503), method="POST", path=DOCS_PATH)
    client = regional_client(make_client, regions, retry=aiocosmos.RetryPolicy(replay_idempotent_writes=False))
    with pytest.raises(aiocosmos.ServiceUnavailable) as info:
        await create(client)
    assert info.value.may_have_been_applied and info.value.attempts == 1
    assert info.value.regions == ("West US",)
    requests = regions.data_requests()
    assert [r for name in requests for r in requests[name] if r.startswith("POST")] == [f"POST {DOCS_PATH}"]


async def test_create_503_is_replayed_in_the_write_region_by_default(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    regions.servers["West"].script(Reply.error(503), method="POST", path=DOCS_PATH)
    client = regional_client(make_client, regions)
    result = await create(client)
    assert result.replayed and not result.applied_earlier
    assert result.regions == ("West US", "West US")  # the only write region, after the policy's backoff
    assert len(clock.sleeps) == 1
    assert regions.requests("West", "POST", DOCS_PATH) == 2


async def test_replace_503_is_not_replayed_anywhere(make_client: ClientFactory, regions: Regions) -> None:
    regions.servers["West"].script(Reply.error(503), method="PUT", path=item_path("a"))
    client = regional_client(make_client, regions)
    container = client.get_database_client("db").get_container_client("c")
    with pytest.raises(aiocosmos.ServiceUnavailable) as info:
        await container.replace_item("a", {"id": "a", "pk": "a"})
    assert info.value.may_have_been_applied and info.value.attempts == 1 and not info.value.replayed
    assert info.value.regions == ("West US",)


async def test_write_forbidden_refreshes_the_account_and_writes_in_the_new_region(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    client = regional_client(make_client, regions)
    await read(client)  # discovery: West writes
    regions.set(writable=["East"], readable=["East", "North"])
    regions.servers["West"].script(Reply.error(403, sub_status=3), method="POST", path=DOCS_PATH)
    result = await create(client)
    assert result.headers[REGIONS_HEADER] == "West US, East US"
    assert result.regions == ("West US", "East US")
    assert regions.requests("global", "GET", "/") == 2
    assert regions.data_requests()["East"] == [f"POST {DOCS_PATH}"]
    assert clock.sleeps == []
    await create(client, "b")
    assert regions.data_requests()["West"] == [f"POST {DOCS_PATH}"]  # only the refused one


async def test_write_forbidden_before_the_account_moves_waits_and_retries(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    regions.servers["West"].script(Reply.error(403, sub_status=3), Reply.error(403, sub_status=1008),
                                   method="POST", path=DOCS_PATH)
    client = regional_client(make_client, regions)
    result = await create(client)
    assert result.status_code == 201
    assert clock.sleeps == [1.0, 1.0]
    assert regions.requests("West", "POST", DOCS_PATH) == 3
    assert regions.requests("global", "GET", "/") == 3


async def test_other_403_is_not_retried(make_client: ClientFactory, regions: Regions) -> None:
    regions.servers["West"].script(Reply.error(403), method="POST", path=DOCS_PATH)
    client = regional_client(make_client, regions)
    with pytest.raises(aiocosmos.Forbidden):
        await create(client)
    assert regions.requests("West", "POST", DOCS_PATH) == 1
    assert regions.requests("global", "GET", "/") == 1


async def test_session_not_available_retries_on_the_write_region(
    make_client: ClientFactory, regions: Regions
) -> None:
    regions.servers["West"].script(Reply.json({"id": "a", "pk": "a"}, status=201, **{"x-ms-session-token": "0:1#5"}),
                                   method="POST", path=DOCS_PATH)
    regions.servers["North"].script(Reply.error(404, sub_status=1002), method="GET", path=item_path("a"))
    client = regional_client(make_client, regions)
    await create(client)
    result = await read(client)
    assert result.headers[REGIONS_HEADER] == "North US, West US"
    west_read = regions.servers["West"].requests_to("GET", item_path("a"))
    assert len(west_read) == 1 and west_read[0].headers["x-ms-session-token"] == "0:1#5"


async def test_session_not_available_twice_drops_the_session_token(
    make_client: ClientFactory, regions: Regions
) -> None:
    regions.servers["West"].script(Reply.json({"id": "a", "pk": "a"}, status=201, **{"x-ms-session-token": "0:1#5"}),
                                   method="POST", path=DOCS_PATH)
    for name in ("North", "West"):
        regions.servers[name].script(Reply.error(404, sub_status=1002), method="GET", path=item_path("a"))
    client = regional_client(make_client, regions)
    await create(client)
    with pytest.raises(aiocosmos.NotFound) as info:
        await read(client)
    assert info.value.sub_status == 1002 and info.value.regions == ("North US", "West US")
    await read(client, "b")
    sent = regions.servers["North"].requests_to("GET", item_path("b"))
    assert len(sent) == 1 and "x-ms-session-token" not in sent[0].headers


async def test_multi_write_writes_to_the_preferred_region_and_fails_over_when_it_is_down(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    regions.set(writable=["West", "East"], readable=["West", "East"], multi_write=True)
    client = regional_client(make_client, regions, preferred_regions=["East US", "West US"])
    await create(client, "1")
    east = regions.servers["East"].requests_to("POST", DOCS_PATH)
    assert len(east) == 1 and east[0].headers["x-ms-cosmos-allow-tentative-writes"] == "true"
    await client.create_database("newdb")  # metadata: to the first write region, no tentative header
    (database_create,) = regions.servers["West"].requests_to("POST", "/dbs")
    assert "x-ms-cosmos-allow-tentative-writes" not in database_create.headers
    assert regions.requests("East", "POST", "/dbs") == 0
    dead = f"http://127.0.0.1:{closed_port()}"
    regions.account["writableLocations"] = [regions.location("West"), regions.location("East", dead)]
    pipeline = client._core.pipeline
    assert pipeline is not None and pipeline.regions is not None
    await pipeline.regions.refresh(pipeline.fetch_account, force=True)
    result = await create(client, "2")  # the connection was never made: safe to send it to West
    assert result.headers[REGIONS_HEADER] == "East US, West US"
    assert regions.requests("West", "POST", DOCS_PATH) == 1
    assert clock.sleeps == []


async def test_multi_write_dropped_write_is_not_replayed_in_another_region_with_the_strict_switch(
    make_client: ClientFactory, regions: Regions
) -> None:
    regions.set(writable=["West", "East"], readable=["West", "East"], multi_write=True)
    regions.servers["East"].script(Reply.dropped(), method="POST", path=DOCS_PATH)
    client = regional_client(make_client, regions, preferred_regions=["East US", "West US"],
                             retry=aiocosmos.RetryPolicy(replay_idempotent_writes=False))
    with pytest.raises(aiocosmos.ReadError) as info:
        await create(client)
    assert info.value.may_have_been_applied and info.value.regions == ("East US",)
    assert regions.requests("West", "POST", DOCS_PATH) == 0
    await create(client, "b")  # East is cooling down now
    assert regions.requests("West", "POST", DOCS_PATH) == 1


async def test_multi_write_create_503_is_replayed_in_the_next_write_region(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    regions.set(writable=["West", "East"], readable=["West", "East"], multi_write=True)
    regions.servers["East"].script(Reply.error(503), method="POST", path=DOCS_PATH)
    client = regional_client(make_client, regions, preferred_regions=["East US", "West US"])
    result = await create(client)
    assert result.replayed and result.regions == ("East US", "West US")
    assert clock.sleeps == []  # straight to the next write region
    assert regions.requests("West", "POST", DOCS_PATH) == 1


async def test_multi_write_create_on_a_stale_connection_is_resent_at_once_in_the_same_region(
    make_client: ClientFactory, regions: Regions, clock: FakeClock
) -> None:
    """The pooled connection (left by the account read) dropped before any answer: the region is fine."""
    regions.set(writable=["West", "East"], readable=["West", "East"], multi_write=True)
    regions.servers["East"].script(Reply.dropped(), method="POST", path=DOCS_PATH)
    client = regional_client(make_client, regions, preferred_regions=["East US", "West US"])
    result = await create(client)
    assert result.replayed and result.regions == ("East US", "East US")
    assert clock.sleeps == [] and regions.requests("West", "POST", DOCS_PATH) == 0


async def test_query_is_a_read(make_client: ClientFactory, regions: Regions) -> None:
    client = regional_client(make_client, regions)
    container = client.get_database_client("db").get_container_client("c")
    assert [x async for x in container.query_items("SELECT * FROM c", partition_key="a")] == []
    assert regions.data_requests()["North"] == [f"POST {DOCS_PATH}"]
    assert regions.data_requests()["West"] == []


async def test_master_key_signs_the_account_read(make_client: ClientFactory, regions: Regions) -> None:
    client = regional_client(make_client, regions, credential=KEY)
    await client.get_database_account()
    (discovery, user_read) = regions.servers["global"].requests_to("GET", "/")[0], \
        regions.servers["North"].requests_to("GET", "/")
    assert discovery.authorization is not None and "type%3Dmaster" in discovery.authorization
    assert len(user_read) == 1  # the caller's own GET / is a read like any other
    assert regions.requests("global", "GET", COLL_PATH) == 0


async def test_per_request_excluded_regions(make_client: ClientFactory, regions: Regions) -> None:
    client = regional_client(make_client, regions)
    with aiocosmos.excluded_regions(["north us"]):
        await read(client, "x")
        with aiocosmos.excluded_regions(["East US"]):
            await read(client, "y")
    await read(client, "z")
    with aiocosmos.excluded_regions(["West US"]):
        await create(client)  # the only write region: still used
    assert regions.data_requests() == {
        "global": [], "East": [f"GET {item_path('x')}"],
        "West": [f"GET {item_path('y')}", f"POST {DOCS_PATH}"], "North": [f"GET {item_path('z')}"],
    }
    with pytest.raises(TypeError), aiocosmos.excluded_regions("East US"):
        pass


async def test_per_call_excluded_locations_as_azure_cosmos_takes_them(
    make_client: ClientFactory, regions: Regions
) -> None:
    client = regional_client(make_client, regions)
    container = client.get_database_client("db").get_container_client("c")
    await container.read_item("x", "p", excluded_locations=["North US"])
    await container.read_item("y", "p", excluded_locations=["North US", "East US"])
    await container.read_item("z", "p")  # nothing left behind for the next call
    await container.upsert_item({"id": "w", "pk": "p"}, excluded_locations=["West US"])  # the only write region
    assert regions.data_requests() == {
        "global": [], "East": [f"GET {item_path('x')}"],
        "West": [f"GET {item_path('y')}", f"POST {DOCS_PATH}"], "North": [f"GET {item_path('z')}"],
    }
    with pytest.raises(aiocosmos.ValidationError, match="list of region names"):
        await container.read_item("x", "p", excluded_locations="East US")  # type: ignore[arg-type]


async def test_concurrent_first_requests_read_the_account_once(
    make_client: ClientFactory, regions: Regions
) -> None:
    client = regional_client(make_client, regions)
    await asyncio.gather(*(read(client, f"i{n}") for n in range(8)))
    assert regions.requests("global", "GET", "/") == 1
    assert len(regions.data_requests()["North"]) == 8
