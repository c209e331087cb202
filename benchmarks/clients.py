"""The three clients the harness compares, behind one small adapter interface.

* ``aiocosmos``  - this project.
* ``azure``      - the official ``azure.cosmos.aio`` SDK.
* ``bare``       - the floor: one aiohttp session, headers built inline, the HMAC pre-keyed, orjson.
  It has no retries, validation or metadata: no real client can be cheaper per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from email.utils import formatdate
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import orjson

import aiocosmos

PAYLOAD = "x" * 200


def document(n: int, tag: str = "a") -> dict[str, Any]:
    return {"id": f"d{n}", "pk": f"p{n % 10}", "n": n, "tag": tag, "payload": PAYLOAD}


class Adapter(Protocol):
    name: str

    async def open(self, db: str, container: str) -> None: ...
    async def close(self) -> None: ...
    async def create(self, doc: dict[str, Any]) -> None: ...
    async def upsert(self, doc: dict[str, Any]) -> None: ...
    async def replace(self, doc: dict[str, Any]) -> None: ...
    async def read(self, item_id: str, pk: str) -> None: ...
    async def delete(self, item_id: str, pk: str) -> None: ...
    async def query_all(self, page_size: int) -> int: ...
    async def read_feed(self, page_size: int) -> int: ...


def _options(traced: bool = False) -> aiocosmos.ClientOptions:
    """``traced`` (or ``AIOCOSMOS_BENCH_TRACING=1``): tracing on, with the OpenTelemetry SDK recording every
    span and metric (a span processor that drops them, and a metric reader nobody reads): the cost of
    tracing. Off, the tracing code is installed but the client runs the plain pipeline."""
    if not traced and os.environ.get("AIOCOSMOS_BENCH_TRACING") != "1":
        return aiocosmos.ClientOptions()
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Drop()))
    return aiocosmos.ClientOptions(tracer_provider=tracer_provider,
                                   meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))


class AiocosmosAdapter:
    name = "aiocosmos"
    traced = False

    def __init__(self, url: str, key: str) -> None:
        self._client = aiocosmos.CosmosClient(url, credential=key, options=_options(self.traced))
        self._c: aiocosmos.ContainerProxy | None = None

    async def open(self, db: str, container: str) -> None:
        await self._client.__aenter__()
        self._c = self._client.get_database_client(db).get_container_client(container)
        await self._c.read()  # warm the partition-key cache, as a long-lived service would be

    async def close(self) -> None:
        await self._client.close()

    async def create(self, doc: dict[str, Any]) -> None:
        assert self._c is not None
        await self._c.create_item(doc)

    async def upsert(self, doc: dict[str, Any]) -> None:
        assert self._c is not None
        await self._c.upsert_item(doc)

    async def replace(self, doc: dict[str, Any]) -> None:
        assert self._c is not None
        await self._c.replace_item(doc["id"], doc)

    async def read(self, item_id: str, pk: str) -> None:
        assert self._c is not None
        await self._c.read_item(item_id, partition_key=pk)

    async def delete(self, item_id: str, pk: str) -> None:
        assert self._c is not None
        await self._c.delete_item(item_id, partition_key=pk)

    async def query_all(self, page_size: int) -> int:
        assert self._c is not None
        n = 0
        async for page in self._c.query_items("SELECT * FROM c", max_item_count=page_size).by_page():
            n += len(page)
        return n

    async def read_feed(self, page_size: int) -> int:
        assert self._c is not None
        n = 0
        async for page in self._c.read_all_items(max_item_count=page_size).by_page():
            n += len(page)
        return n


class TracedAiocosmosAdapter(AiocosmosAdapter):
    """aiocosmos with tracing on (the SDK's providers, spans dropped): the ``aiocosmos traced`` rows."""

    name = "aiocosmos traced"
    traced = True


class AzureAdapter:
    name = "azure-cosmos"

    def __init__(self, url: str, key: str) -> None:
        from azure.cosmos.aio import CosmosClient

        self._client = CosmosClient(url, credential=key)
        self._c: Any = None

    async def open(self, db: str, container: str) -> None:
        await self._client.__aenter__()
        self._c = self._client.get_database_client(db).get_container_client(container)
        await self._c.read()

    async def close(self) -> None:
        await self._client.close()

    async def create(self, doc: dict[str, Any]) -> None:
        await self._c.create_item(doc)

    async def upsert(self, doc: dict[str, Any]) -> None:
        await self._c.upsert_item(doc)

    async def replace(self, doc: dict[str, Any]) -> None:
        await self._c.replace_item(doc["id"], doc)

    async def read(self, item_id: str, pk: str) -> None:
        await self._c.read_item(item_id, partition_key=pk)

    async def delete(self, item_id: str, pk: str) -> None:
        await self._c.delete_item(item_id, partition_key=pk)

    async def query_all(self, page_size: int) -> int:
        n = 0
        async for page in self._c.query_items("SELECT * FROM c", max_item_count=page_size).by_page():
            async for _ in page:
                n += 1
        return n

    async def read_feed(self, page_size: int) -> int:
        n = 0
        async for page in self._c.read_all_items(max_item_count=page_size).by_page():
            async for _ in page:
                n += 1
        return n


class BareAdapter:
    """A signed aiohttp loop with nothing else: the cost floor of a request from Python."""

    name = "bare aiohttp"

    def __init__(self, url: str, key: str) -> None:
        self._url = url.rstrip("/")
        self._mac = hmac.new(base64.b64decode(key), digestmod=hashlib.sha256)
        self._session: aiohttp.ClientSession | None = None
        self._link = self._path = ""
        self._second = -1
        self._date = self._date_lower = ""

    async def open(self, db: str, container: str) -> None:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        self._link = f"dbs/{db}/colls/{container}"
        self._path = f"/dbs/{quote(db, safe='')}/colls/{quote(container, safe='')}"

    async def close(self) -> None:
        assert self._session is not None
        await self._session.close()

    def _headers(self, verb: str, rtype: str, link: str, extra: dict[str, str]) -> dict[str, str]:
        import time

        second = int(time.time())
        if second != self._second:
            self._second, self._date = second, formatdate(second, usegmt=True)
            self._date_lower = self._date.lower()
        mac = self._mac.copy()
        mac.update(f"{verb}\n{rtype}\n{link}\n{self._date_lower}\n\n".encode())
        sig = base64.b64encode(mac.digest()).decode()
        extra["authorization"] = quote(f"type=master&ver=1.0&sig={sig}", safe="-_.!~*'()")
        extra["x-ms-date"] = self._date
        extra["x-ms-version"] = "2020-07-15"
        return extra

    async def _send(self, method: str, path: str, rtype: str, link: str, extra: dict[str, str],
                    body: bytes | None = None) -> tuple[Any, Any]:
        assert self._session is not None
        headers = self._headers(method.lower(), rtype, link, extra)
        async with self._session.request(method, self._url + path, headers=headers, data=body) as resp:
            data = await resp.read()
            if resp.status >= 400:
                raise RuntimeError(f"{resp.status}: {data[:200]!r}")
            return resp.headers, orjson.loads(data) if data else None

    async def create(self, doc: dict[str, Any]) -> None:
        await self._send("POST", self._path + "/docs", "docs", self._link,
                         {"x-ms-documentdb-partitionkey": f'["{doc["pk"]}"]', "Content-Type": "application/json"},
                         orjson.dumps(doc))

    async def upsert(self, doc: dict[str, Any]) -> None:
        await self._send("POST", self._path + "/docs", "docs", self._link,
                         {"x-ms-documentdb-partitionkey": f'["{doc["pk"]}"]', "Content-Type": "application/json",
                          "x-ms-documentdb-is-upsert": "True"}, orjson.dumps(doc))

    async def replace(self, doc: dict[str, Any]) -> None:
        await self._send("PUT", f"{self._path}/docs/{doc['id']}", "docs", f"{self._link}/docs/{doc['id']}",
                         {"x-ms-documentdb-partitionkey": f'["{doc["pk"]}"]', "Content-Type": "application/json"},
                         orjson.dumps(doc))

    async def read(self, item_id: str, pk: str) -> None:
        await self._send("GET", f"{self._path}/docs/{item_id}", "docs", f"{self._link}/docs/{item_id}",
                         {"x-ms-documentdb-partitionkey": f'["{pk}"]'})

    async def delete(self, item_id: str, pk: str) -> None:
        await self._send("DELETE", f"{self._path}/docs/{item_id}", "docs", f"{self._link}/docs/{item_id}",
                         {"x-ms-documentdb-partitionkey": f'["{pk}"]'})

    async def _pages(self, method: str, body: bytes | None, extra: dict[str, str]) -> int:
        n, token = 0, None
        while True:
            headers = dict(extra)
            if token:
                headers["x-ms-continuation"] = token
            response_headers, parsed = await self._send(method, self._path + "/docs", "docs", self._link,
                                                         headers, body)
            n += len(parsed["Documents"])
            token = response_headers.get("x-ms-continuation")
            if not token:
                return n

    async def query_all(self, page_size: int) -> int:
        return await self._pages("POST", b'{"query":"SELECT * FROM c"}', {
            "Content-Type": "application/query+json", "x-ms-documentdb-isquery": "True",
            "x-ms-documentdb-query-enablecrosspartition": "True", "x-ms-max-item-count": str(page_size)})

    async def read_feed(self, page_size: int) -> int:
        return await self._pages("GET", None, {"x-ms-max-item-count": str(page_size)})


ADAPTERS = {"aiocosmos": AiocosmosAdapter, "traced": TracedAiocosmosAdapter, "azure": AzureAdapter,
            "bare": BareAdapter}
