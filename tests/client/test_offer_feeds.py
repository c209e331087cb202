"""client.list_offers / query_offers at the recording server: the account-level offers feed."""

from __future__ import annotations

import orjson

import aiocosmos
from tests.client.azure_parity import signed_with
from tests.client.conftest import ClientFactory
from tests.client.recording_server import RecordingServer, Reply

OFFER = {"id": "Hu+t", "_rid": "Hu+t", "offerVersion": "V2", "content": {"offerThroughput": 400},
         "resource": "dbs/AAAAAA==/colls/AAAAAPX6aAw=/"}


async def test_list_offers_pages_the_offers_feed(server: RecordingServer, make_client: ClientFactory) -> None:
    server.script(Reply.json({"Offers": [OFFER], "_count": 1}, **{"x-ms-continuation": "next"}),
                  Reply.json({"Offers": [{**OFFER, "id": "Zz9a", "_rid": "Zz9a"}], "_count": 1}),
                  method="GET", path="/offers")
    client = make_client()
    offers = [o["id"] async for o in client.list_offers(max_item_count=1)]
    assert offers == ["Hu+t", "Zz9a"]
    first, second = server.requests_to("GET", "/offers")
    assert signed_with(first, "get", "offers", "") and signed_with(second, "get", "offers", "")
    assert first.headers["x-ms-max-item-count"] == "1" and second.headers["x-ms-continuation"] == "next"


async def test_query_offers_posts_a_query_signed_with_an_empty_link(
    server: RecordingServer, make_client: ClientFactory
) -> None:
    server.script(Reply.json({"Offers": [OFFER], "_count": 1}), method="POST", path="/offers")
    client = make_client()
    query = "SELECT * FROM r WHERE r.offerResourceId = @rid"
    found = [o async for o in client.query_offers(query, parameters=[{"name": "@rid", "value": "AAAAAPX6aAw="}])]
    assert [o["id"] for o in found] == ["Hu+t"]
    (request,) = server.requests_to("POST", "/offers")
    assert signed_with(request, "post", "offers", "")
    assert request.headers["x-ms-documentdb-isquery"] == "True"
    assert request.headers["Content-Type"] == "application/query+json"
    assert orjson.loads(request.body) == {"query": query, "parameters": [{"name": "@rid", "value": "AAAAAPX6aAw="}]}


async def test_query_offers_validates_before_any_io(server: RecordingServer, make_client: ClientFactory) -> None:
    client = make_client()
    try:
        client.query_offers("")
    except aiocosmos.ValidationError as exc:
        assert "query" in str(exc)
    else:
        raise AssertionError("an empty query was accepted")
    assert server.requests == []
