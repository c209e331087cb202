"""Differential tests: the same calls through ``azure.cosmos.aio`` and aiocosmos give the same results.

The official SDK is the oracle. One scenario (``run_scenario``) drives a thin adapter per client
flavour, each in its own fresh database on the same server, and records a transcript: one entry per
operation, holding the normalised result (server-generated fields stripped) or ``("error", status)``.
The two transcripts must be equal, entry by entry. Values are compared as canonical JSON, so that
``True`` and ``1`` (or ``1`` and ``1.0``) do not pass for each other as they would with ``==``.

The aiocosmos adapter also checks aiocosmos' own metadata on the way (status codes, request charge,
etag, exception classes, page continuations).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any, Final

from azure.core import MatchConditions
from azure.cosmos import PartitionKey as AzurePartitionKey
from azure.cosmos.aio import CosmosClient as AzureClient
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.cosmos.partition_key import NonePartitionKeyValue as AzureNonePartitionKeyValue

import aiocosmos
from tests.server import CosmosTestServer

SERVER_FIELDS: Final = frozenset({"_rid", "_self", "_etag", "_ts", "_attachments", "_lsn"})


class _Missing:
    """Partition-key value of items that have no ``/pk`` property at all."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

# Ids the service can address: spaces, unicode, URL-reserved characters, quotes, a leading space.
ITEM_IDS: Final = (
    "plain", "with space", "café ☕", "ü+x;y", "50%off", "a'b", 'd"q', "x=y&z", "(p)[b]{c}", "tilde~",
    " lead", "e@x.com", "日本語", "emoji 🎉", "comma,sep", "dollar$", "caret^", "pipe|", "back`tick", "star*",
    "a..b", "UPPER", "mixed Case", "0", "-1", "tab-less", "colon:x", "Ωmega", "naïve résumé", "end.",
    # Percent signs that look like escapes, and two spellings of "é" that must stay two ids.
    "a%20b", "a%2Fb", "x%", "+plus", "e\u0301", "\u00e9",
)
# String, unicode, int, float, both bools, JSON null and "no pk property".
PK_VALUES: Final = ("alpha", "beta", "ünï pk", 7, 2.5, True, False, None, MISSING)


def seed_items() -> list[dict[str, Any]]:
    items = []
    for n, item_id in enumerate(ITEM_IDS):
        pk = PK_VALUES[n % len(PK_VALUES)]
        item: dict[str, Any] = {"id": item_id, "n": n, "kind": ("even", "odd")[n % 2], "tags": [f"t{n}"],
                                "nested": {"level": n % 3, "label": item_id.upper()}}
        if pk is not MISSING:
            item["pk"] = pk
        items.append(item)
    # The same id in another logical partition is a different item.
    items.append({"id": "plain", "pk": "beta", "n": len(ITEM_IDS), "kind": "twin", "tags": [], "nested": {}})
    return items


def pk_of(item: Mapping[str, Any]) -> Any:
    return item.get("pk", MISSING)


# ---------------------------------------------------------------------------------------------------
# Normalisation and transcripts


def normalise(value: Any, db_id: str) -> Any:
    """Strip server-generated fields (at any depth) and replace the run's database id by ``<db>``."""
    if isinstance(value, Mapping):
        return {key: normalise(item, db_id) for key, item in value.items() if key not in SERVER_FIELDS}
    if isinstance(value, list | tuple):
        return [normalise(item, db_id) for item in value]
    if isinstance(value, str) and value == db_id:
        return "<db>"
    return value


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def unordered(values: Sequence[Any]) -> list[Any]:
    return sorted(values, key=canonical)


Entry = tuple[str, str, str]  # (step label, "ok" | "error", canonical JSON of the result or the status)


class Recorder:
    """Runs one operation of a flavour and appends its outcome to the transcript."""

    def __init__(self, flavour: Flavour, db_id: str) -> None:
        self.flavour = flavour
        self.db_id = db_id
        self.transcript: list[Entry] = []

    async def __call__(self, label: str, operation: Awaitable[Any], *, order_matters: bool = True) -> Any:
        try:
            result = await operation
        except self.flavour.http_error as exc:
            status = self.flavour.status_of(exc)
            self.transcript.append((label, "error", canonical(status)))
            return None
        shaped = normalise(result, self.db_id)
        if not order_matters:
            shaped = unordered(shaped)
        self.transcript.append((label, "ok", canonical(shaped)))
        return result


# ---------------------------------------------------------------------------------------------------
# Flavours: the same operations, one adapter per client. Adapters stay thin: they only translate
# calling conventions and turn results into plain JSON-like values.


class Flavour:
    name: str
    http_error: type[Exception]

    def status_of(self, exc: Exception) -> int:
        raise NotImplementedError


class AzureFlavour(Flavour):
    name = "azure"
    http_error = CosmosHttpResponseError

    def __init__(self, client: AzureClient, db_id: str) -> None:
        self.client = client
        self.db_id = db_id

    def status_of(self, exc: Exception) -> int:
        assert isinstance(exc, CosmosHttpResponseError)
        return int(exc.status_code)  # type: ignore[arg-type]

    @staticmethod
    def _pk(value: Any) -> Any:
        return AzureNonePartitionKeyValue if value is MISSING else value

    def _db(self) -> Any:
        return self.client.get_database_client(self.db_id)

    def _container(self, name: str) -> Any:
        return self._db().get_container_client(name)

    async def create_database(self, db_id: str) -> dict[str, Any]:
        database = await self.client.create_database(db_id)
        return {"id": database.id}

    async def read_database(self) -> Any:
        return await self._db().read()

    async def list_database_ids(self) -> list[str]:
        return [d["id"] async for d in self.client.list_databases()]

    async def delete_database(self) -> dict[str, Any]:
        await self.client.delete_database(self.db_id)
        return {}

    async def create_container(self, name: str, path: str) -> dict[str, Any]:
        container = await self._db().create_container(name, partition_key=AzurePartitionKey(path))
        return {"id": container.id}

    async def read_container(self, name: str) -> Any:
        return await self._container(name).read()

    async def list_container_ids(self) -> list[str]:
        return [c["id"] async for c in self._db().list_containers()]

    async def delete_container(self, name: str) -> dict[str, Any]:
        await self._db().delete_container(name)
        return {}

    async def create_item(self, name: str, body: dict[str, Any]) -> Any:
        return await self._container(name).create_item(dict(body))

    async def upsert_item(self, name: str, body: dict[str, Any], etag: str | None = None) -> Any:
        return await self._container(name).upsert_item(dict(body), **self._if_match(etag))

    @staticmethod
    def _if_match(etag: str | None) -> dict[str, Any]:
        return {} if etag is None else {"etag": etag, "match_condition": MatchConditions.IfNotModified}

    async def read_item(self, name: str, item_id: str, pk: Any) -> Any:
        return await self._container(name).read_item(item_id, partition_key=self._pk(pk))

    async def replace_item(self, name: str, item_id: str, body: dict[str, Any], etag: str | None = None) -> Any:
        return await self._container(name).replace_item(item_id, dict(body), **self._if_match(etag))

    async def delete_item(self, name: str, item_id: str, pk: Any, etag: str | None = None) -> dict[str, Any]:
        await self._container(name).delete_item(item_id, partition_key=self._pk(pk), **self._if_match(etag))
        return {}

    async def patch_item(self, name: str, item_id: str, pk: Any, operations: list[dict[str, Any]],
                         filter_predicate: str | None = None, etag: str | None = None) -> Any:
        kwargs = self._if_match(etag)
        if filter_predicate is not None:
            kwargs["filter_predicate"] = filter_predicate
        return await self._container(name).patch_item(item_id, self._pk(pk), operations, **kwargs)

    def _query(self, name: str, query: str, parameters: list[dict[str, Any]] | None, pk: Any,
               max_item_count: int | None) -> Any:
        kwargs: dict[str, Any] = {}
        if parameters is not None:
            kwargs["parameters"] = parameters
        if pk is not None:  # None = across partitions
            kwargs["partition_key"] = self._pk(pk)
        if max_item_count is not None:
            kwargs["max_item_count"] = max_item_count
        return self._container(name).query_items(query, **kwargs)

    async def query(self, name: str, query: str, parameters: list[dict[str, Any]] | None = None,
                    pk: Any = None) -> list[Any]:
        return [item async for item in self._query(name, query, parameters, pk, None)]

    async def query_pages(self, name: str, query: str, parameters: list[dict[str, Any]] | None, pk: Any,
                          max_item_count: int) -> list[list[Any]]:
        pager = self._query(name, query, parameters, pk, max_item_count)
        return [[item async for item in page] async for page in pager.by_page()]

    async def read_all(self, name: str, max_item_count: int) -> list[Any]:
        return [item async for item in self._container(name).read_all_items(max_item_count=max_item_count)]

    async def read_all_pages(self, name: str, max_item_count: int) -> list[list[Any]]:
        pages = self._container(name).read_all_items(max_item_count=max_item_count).by_page()
        return [[item async for item in page] async for page in pages]

    async def read_all_resumed(self, name: str, max_item_count: int) -> list[list[Any]]:
        """The first page, then every item after it through a second pager resumed from a continuation."""
        pages = self._container(name).read_all_items(max_item_count=max_item_count).by_page()
        first = [item async for item in await anext(pages)]
        token = pages.continuation_token  # type: ignore[attr-defined]
        resumed = self._container(name).read_all_items(max_item_count=max_item_count).by_page(token)
        return [first, [item async for page in resumed async for item in page]]


_ERROR_CLASSES: Final[dict[int, type[aiocosmos.HttpResponseError]]] = {
    400: aiocosmos.BadRequest,
    404: aiocosmos.NotFound,
    409: aiocosmos.Conflict,
    412: aiocosmos.PreconditionFailed,
}


class AiocosmosFlavour(Flavour):
    name = "aiocosmos"
    http_error = aiocosmos.HttpResponseError

    def __init__(self, client: aiocosmos.CosmosClient, db_id: str) -> None:
        self.client = client
        self.db_id = db_id
        self.checks = 0  # how many metadata checks ran (so the test can tell they did)

    def status_of(self, exc: Exception) -> int:
        assert isinstance(exc, aiocosmos.HttpResponseError)
        expected = _ERROR_CLASSES.get(exc.status_code)
        assert expected is not None and type(exc) is expected, (exc.status_code, type(exc))
        return exc.status_code

    @staticmethod
    def _pk(value: Any) -> Any:
        return aiocosmos.NonePartitionKeyValue if value is MISSING else value

    def _db(self) -> aiocosmos.DatabaseProxy:
        return self.client.get_database_client(self.db_id)

    def _container(self, name: str) -> aiocosmos.ContainerProxy:
        return self._db().get_container_client(name)

    def _check(self, response: Any, status: int, *, document: bool = True) -> Any:
        """aiocosmos metadata: type, status, request charge, and the etag (header = body ``_etag``)."""
        assert isinstance(response, aiocosmos.ResourceResponse), type(response)
        assert response.status_code == status, (response.status_code, status)
        assert response.request_charge > 0
        assert response.activity_id
        if document:
            assert response.etag is not None
            assert response.etag == response.body["_etag"] == response.headers["etag"]
            assert dict(response) == response.body
        else:
            assert response.body == {}
            assert len(response) == 0
        self.checks += 1
        return response

    async def create_database(self, db_id: str) -> dict[str, Any]:
        database = await self.client.create_database(db_id)
        assert database.id == db_id
        assert database.properties is not None
        assert self._check(database.properties, 201)["id"] == db_id
        return {"id": database.id}

    async def read_database(self) -> Any:
        return self._check(await self._db().read(), 200)

    async def list_database_ids(self) -> list[str]:
        return [d["id"] async for d in self.client.list_databases()]

    async def delete_database(self) -> dict[str, Any]:
        return dict(self._check(await self.client.delete_database(self.db_id), 204, document=False))

    async def create_container(self, name: str, path: str) -> dict[str, Any]:
        container = await self._db().create_container(name, partition_key=aiocosmos.PartitionKey(path))
        assert container.properties is not None
        assert self._check(container.properties, 201)["partitionKey"]["paths"] == [path]
        return {"id": container.id}

    async def read_container(self, name: str) -> Any:
        return self._check(await self._container(name).read(), 200)

    async def list_container_ids(self) -> list[str]:
        return [c["id"] async for c in self._db().list_containers()]

    async def delete_container(self, name: str) -> dict[str, Any]:
        return dict(self._check(await self._db().delete_container(name), 204, document=False))

    async def create_item(self, name: str, body: dict[str, Any]) -> Any:
        return self._check(await self._container(name).create_item(dict(body)), 201)

    async def upsert_item(self, name: str, body: dict[str, Any], etag: str | None = None) -> Any:
        response = await self._container(name).upsert_item(dict(body), etag=etag)
        assert response.status_code in (200, 201)
        return self._check(response, response.status_code)

    async def read_item(self, name: str, item_id: str, pk: Any) -> Any:
        return self._check(await self._container(name).read_item(item_id, self._pk(pk)), 200)

    async def replace_item(self, name: str, item_id: str, body: dict[str, Any], etag: str | None = None) -> Any:
        return self._check(await self._container(name).replace_item(item_id, dict(body), etag=etag), 200)

    async def delete_item(self, name: str, item_id: str, pk: Any, etag: str | None = None) -> dict[str, Any]:
        response = await self._container(name).delete_item(item_id, self._pk(pk), etag=etag)
        return dict(self._check(response, 204, document=False))

    async def patch_item(self, name: str, item_id: str, pk: Any, operations: list[dict[str, Any]],
                         filter_predicate: str | None = None, etag: str | None = None) -> Any:
        response = await self._container(name).patch_item(item_id, self._pk(pk), operations,
                                                          filter_predicate=filter_predicate, etag=etag)
        return self._check(response, 200)

    def _query(self, name: str, query: str, parameters: list[dict[str, Any]] | None, pk: Any,
               max_item_count: int | None) -> aiocosmos.AsyncItemPaged[Any]:
        return self._container(name).query_items(query, parameters=parameters,
                                                 partition_key=None if pk is None else self._pk(pk),
                                                 max_item_count=max_item_count)

    async def query(self, name: str, query: str, parameters: list[dict[str, Any]] | None = None,
                    pk: Any = None) -> list[Any]:
        return [item async for item in self._query(name, query, parameters, pk, None)]

    async def _pages(self, pages: AsyncIterator[aiocosmos.Page[Any]]) -> list[list[Any]]:
        collected: list[aiocosmos.Page[Any]] = [page async for page in pages]
        for index, page in enumerate(collected):
            assert page.status_code == 200
            assert page.request_charge > 0
            is_last = index == len(collected) - 1
            assert (page.continuation is None) == is_last, (index, page)
        self.checks += 1
        return [list(page.items) for page in collected]

    async def query_pages(self, name: str, query: str, parameters: list[dict[str, Any]] | None, pk: Any,
                          max_item_count: int) -> list[list[Any]]:
        return await self._pages(self._query(name, query, parameters, pk, max_item_count).by_page())

    async def read_all(self, name: str, max_item_count: int) -> list[Any]:
        return [item async for item in self._container(name).read_all_items(max_item_count=max_item_count)]

    async def read_all_pages(self, name: str, max_item_count: int) -> list[list[Any]]:
        return await self._pages(self._container(name).read_all_items(max_item_count=max_item_count).by_page())

    async def read_all_resumed(self, name: str, max_item_count: int) -> list[list[Any]]:
        pages = self._container(name).read_all_items(max_item_count=max_item_count).by_page()
        first = await anext(pages)
        await pages.aclose()  # type: ignore[attr-defined]
        assert first.continuation is not None
        resumed = self._container(name).read_all_items(max_item_count=max_item_count).by_page(first.continuation)
        return [list(first.items), [item async for page in resumed for item in page]]


# ---------------------------------------------------------------------------------------------------
# The scenario: one sequence of calls, whatever the flavour.


async def run_scenario(flavour: Any) -> list[Entry]:
    db_id = flavour.db_id
    record = Recorder(flavour, db_id)
    try:
        await _scenario(flavour, record, db_id)
    finally:
        # Leave nothing behind if the scenario failed half way (the scenario itself deletes the database).
        with contextlib.suppress(flavour.http_error):
            await flavour.delete_database()
    return record.transcript


async def _scenario(f: Any, rec: Recorder, db_id: str) -> None:
    items = seed_items()

    # 1. database, containers, items
    await rec("create database", f.create_database(db_id))
    await rec("create database again", f.create_database(db_id))
    await rec("read database", f.read_database())
    await rec("create container items", f.create_container("items", "/pk"))
    await rec("create container other", f.create_container("other", "/tenant"))
    await rec("create container items again", f.create_container("items", "/pk"))
    for item in items:
        await rec(f"create {item['id']!r} pk={pk_of(item)!r}", f.create_item("items", item))

    # 2. point reads, a missing item, a wrong partition, a duplicate
    for item in items:
        await rec(f"read {item['id']!r} pk={pk_of(item)!r}", f.read_item("items", item["id"], pk_of(item)))
    await rec("read missing id", f.read_item("items", "no such item", "alpha"))
    await rec("read in the wrong partition", f.read_item("items", "café ☕", "beta"))
    await rec("read number pk as a string", f.read_item("items", ITEM_IDS[3], "7"))
    await rec("read bool pk as a number", f.read_item("items", ITEM_IDS[5], 1))
    await rec("read missing pk as null", f.read_item("items", ITEM_IDS[8], None))
    await rec("create duplicate", f.create_item("items", items[2]))
    await rec("create duplicate bool pk", f.create_item("items", items[5]))

    # 3. upsert, replace, etags, delete
    cafe = items[2]
    assert cafe["id"] == "café ☕"
    await rec("upsert existing", f.upsert_item("items", {**cafe, "n": 100, "upserted": True}))
    await rec("upsert new", f.upsert_item("items", {"id": "new one ✓", "pk": 7, "n": 101, "kind": "even"}))
    await rec("read upserted new", f.read_item("items", "new one ✓", 7))
    stale = await f.read_item("items", "ü+x;y", 7)
    stale_etag = stale["_etag"]
    replaced = await rec("replace", f.replace_item("items", "ü+x;y", {"id": "ü+x;y", "pk": 7, "n": 102,
                                                                      "kind": "replaced"}))
    await rec("replace with a stale etag", f.replace_item("items", "ü+x;y", {"id": "ü+x;y", "pk": 7, "n": 0},
                                                          etag=stale_etag))
    await rec("replace with the current etag", f.replace_item(
        "items", "ü+x;y", {"id": "ü+x;y", "pk": 7, "n": 103, "kind": "replaced twice"}, etag=replaced["_etag"]))
    await rec("read replaced", f.read_item("items", "ü+x;y", 7))
    await rec("replace missing", f.replace_item("items", "ghost", {"id": "ghost", "pk": "alpha"}))
    await rec("delete with a stale etag", f.delete_item("items", "ü+x;y", 7, etag=stale_etag))
    await rec("upsert with a stale etag", f.upsert_item("items", {"id": "ü+x;y", "pk": 7, "n": 0}, etag=stale_etag))
    await rec("patch with a stale etag", f.patch_item("items", "ü+x;y", 7, [{"op": "set", "path": "/n", "value": 0}],
                                                      etag=stale_etag))
    await rec("delete", f.delete_item("items", "with space", pk_of(items[1])))
    await rec("delete again", f.delete_item("items", "with space", pk_of(items[1])))
    await rec("read deleted", f.read_item("items", "with space", pk_of(items[1])))
    await rec("delete no-pk item", f.delete_item("items", ITEM_IDS[8], MISSING))
    await rec("recreate deleted", f.create_item("items", items[1]))

    # 4. patch
    target_id, target_pk = ITEM_IDS[6], pk_of(items[6])  # 'd"q' with pk False, n = 6
    await rec("patch set/incr/add/remove", f.patch_item("items", target_id, target_pk, [
        {"op": "set", "path": "/kind", "value": "patched"},
        {"op": "incr", "path": "/n", "value": 5},
        {"op": "add", "path": "/tags/-", "value": "added"},
        {"op": "add", "path": "/extra", "value": {"deep": [1, 2]}},
        {"op": "remove", "path": "/nested"},
        {"op": "replace", "path": "/tags/0", "value": "first"},
    ]))
    await rec("patch with a true filter", f.patch_item("items", target_id, target_pk,
                                                      [{"op": "incr", "path": "/n", "value": -2.5}],
                                                      filter_predicate="FROM c WHERE c.n = 11"))
    await rec("patch with a false filter", f.patch_item("items", target_id, target_pk,
                                                       [{"op": "set", "path": "/kind", "value": "never"}],
                                                       filter_predicate="FROM c WHERE c.n = -1"))
    await rec("read patched", f.read_item("items", target_id, target_pk))
    await rec("patch bool-pk item", f.patch_item("items", ITEM_IDS[6 - 1], True,
                                                 [{"op": "set", "path": "/flag", "value": False}]))
    await rec("patch move", f.patch_item("items", "a%20b", pk_of(items[ITEM_IDS.index("a%20b")]),
                                         [{"op": "move", "from": "/tags", "path": "/moved"}]))
    await rec("patch missing item", f.patch_item("items", "ghost", "alpha",
                                                 [{"op": "set", "path": "/x", "value": 1}]))

    # 5. queries
    await rec("query all", f.query("items", "SELECT * FROM c"), order_matters=False)
    await rec("query by parameter", f.query("items", "SELECT * FROM c WHERE c.kind = @kind",
                                            [{"name": "@kind", "value": "odd"}]), order_matters=False)
    await rec("query range projection", f.query("items", "SELECT c.id, c.n FROM c WHERE c.n >= @lo AND c.n < @hi",
                                                [{"name": "@lo", "value": 3}, {"name": "@hi", "value": 20}]),
              order_matters=False)
    await rec("query unicode id", f.query("items", "SELECT VALUE c.n FROM c WHERE c.id = @id",
                                          [{"name": "@id", "value": "café ☕"}]), order_matters=False)
    await rec("query bool value", f.query("items", "SELECT VALUE c.id FROM c WHERE c.pk = @pk",
                                          [{"name": "@pk", "value": True}]), order_matters=False)
    await rec("query null pk", f.query("items", "SELECT VALUE c.id FROM c WHERE IS_NULL(c.pk)"),
              order_matters=False)
    await rec("query undefined pk", f.query("items", "SELECT VALUE c.id FROM c WHERE NOT IS_DEFINED(c.pk)"),
              order_matters=False)
    await rec("count all", f.query("items", "SELECT VALUE COUNT(1) FROM c"))
    await rec("max", f.query("items", "SELECT VALUE MAX(c.n) FROM c"))
    await rec("sum in one partition", f.query("items", "SELECT VALUE SUM(c.n) FROM c", pk="alpha"))
    await rec("top by parameter", f.query("items", "SELECT TOP @k VALUE c.id FROM c ORDER BY c.n",
                                          [{"name": "@k", "value": 4}]))
    await rec("two spellings of é", f.query("items", "SELECT VALUE c.n FROM c WHERE c.id IN (@a, @b)",
                                            [{"name": "@a", "value": "e\u0301"}, {"name": "@b", "value": "\u00e9"}]),
              order_matters=False)
    for pk in ("alpha", "ünï pk", 7, 2.5, True, False):
        await rec(f"count in pk={pk!r}", f.query("items", "SELECT VALUE COUNT(1) FROM c", pk=pk))
        await rec(f"ids in pk={pk!r}", f.query("items", "SELECT VALUE c.id FROM c", pk=pk), order_matters=False)
    await rec("count in no-pk partition", f.query("items", "SELECT VALUE COUNT(1) FROM c", pk=MISSING))
    await rec("order by n desc", f.query("items", "SELECT c.id, c.n, c.pk FROM c ORDER BY c.n DESC"))
    await rec("order by id, top", f.query("items", "SELECT TOP 6 VALUE c.id FROM c ORDER BY c.id"))
    await rec("order by in one partition", f.query("items", "SELECT VALUE c.n FROM c WHERE c.n > @min ORDER BY c.n",
                                                   [{"name": "@min", "value": 0}], pk="alpha"))
    await rec("query pages in one partition", f.query_pages("items", "SELECT * FROM c", None, 7, 2))
    await rec("query in a missing container", f.query("nope", "SELECT * FROM c"))

    # 6. read feed
    await rec("read all", f.read_all("items", 7), order_matters=False)
    pages = await rec("read all pages", f.read_all_pages("items", 7))
    rec.transcript.append(("read all page sizes", "ok", canonical([len(page) for page in pages or []])))
    resumed = await rec("read all resumed", f.read_all_resumed("items", 7))
    rec.transcript.append(("read all resumed sizes", "ok", canonical([len(part) for part in resumed or []])))

    # 7. listings, container metadata, deletes
    listed = await f.list_database_ids()
    rec.transcript.append(("database listed once", "ok", canonical(listed.count(db_id))))
    await rec("list containers", f.list_container_ids(), order_matters=False)
    await rec("read container items", f.read_container("items"))
    await rec("read container other", f.read_container("other"))
    await rec("delete container other", f.delete_container("other"))
    await rec("delete container other again", f.delete_container("other"))
    await rec("read deleted container", f.read_container("other"))
    await rec("list containers after delete", f.list_container_ids(), order_matters=False)
    await rec("delete container items", f.delete_container("items"))
    await rec("read item of deleted container", f.read_item("items", "plain", "alpha"))
    await rec("delete database", f.delete_database())
    await rec("read deleted database", f.read_database())
    await rec("delete database again", f.delete_database())
    listed = await f.list_database_ids()
    rec.transcript.append(("database listed after delete", "ok", canonical(listed.count(db_id))))


# ---------------------------------------------------------------------------------------------------
# Tests


def outcome(transcript: list[Entry], label: str) -> tuple[str, Any]:
    matches = [(kind, json.loads(value)) for step, kind, value in transcript if step == label]
    assert len(matches) == 1, (label, matches)
    return matches[0]


def assert_same_transcript(expected: list[Entry], actual: list[Entry]) -> None:
    assert [step for step, _, _ in actual] == [step for step, _, _ in expected]
    for (step, want_kind, want), (_, got_kind, got) in zip(expected, actual, strict=True):
        assert (got_kind, got) == (want_kind, want), f"step {step!r}: azure gave {want_kind} {want}, " \
                                                     f"aiocosmos gave {got_kind} {got}"
    assert actual == expected


def assert_oracle_is_sane(transcript: list[Entry]) -> None:
    """The SDK's transcript is what the scenario expects, so that a broken scenario cannot pass by
    failing the same way on both sides."""
    items = seed_items()
    errors = {step: json.loads(value) for step, kind, value in transcript if kind == "error"}
    assert errors == {
        "create database again": 409,
        "create container items again": 409,
        "read missing id": 404,
        "read in the wrong partition": 404,
        "read number pk as a string": 404,
        "read bool pk as a number": 404,
        "read missing pk as null": 404,
        "create duplicate": 409,
        "create duplicate bool pk": 409,
        "replace with a stale etag": 412,
        "replace missing": 404,
        "delete with a stale etag": 412,
        "upsert with a stale etag": 412,
        "patch with a stale etag": 412,
        "delete again": 404,
        "read deleted": 404,
        "patch with a false filter": 412,
        "patch missing item": 404,
        "query in a missing container": 404,
        "delete container other again": 404,
        "read deleted container": 404,
        "read item of deleted container": 404,
        "read deleted database": 404,
        "delete database again": 404,
    }
    for item in items:
        assert outcome(transcript, f"read {item['id']!r} pk={pk_of(item)!r}") == ("ok", item)
    final_count = len(items) + 1 - 1  # + "new one ✓", - the no-pk item ("with space" was recreated)
    assert outcome(transcript, "count all") == ("ok", [final_count])
    true_ids = sorted(item["id"] for item in items if pk_of(item) is True)
    assert outcome(transcript, "count in pk=True") == ("ok", [len(true_ids)])
    assert outcome(transcript, "ids in pk=True") == ("ok", true_ids)
    assert outcome(transcript, "max") == ("ok", [103])
    assert outcome(transcript, "two spellings of é") == ("ok", [ITEM_IDS.index("e\u0301"), ITEM_IDS.index("\u00e9")])
    assert outcome(transcript, "patch move")[1]["moved"] == [f"t{ITEM_IDS.index('a%20b')}"]
    assert outcome(transcript, "read patched")[1]["n"] == 8.5
    assert outcome(transcript, "read patched")[1]["tags"] == ["first", "added"]
    assert outcome(transcript, "query unicode id") == ("ok", [100])
    assert outcome(transcript, "read all page sizes") == ("ok", [7] * (final_count // 7) + [final_count % 7])
    assert outcome(transcript, "read all resumed sizes") == ("ok", [7, final_count - 7])
    assert outcome(transcript, "query pages in one partition")[0] == "ok"
    order = outcome(transcript, "order by n desc")[1]
    assert [row["n"] for row in order] == sorted((row["n"] for row in order), reverse=True)
    assert outcome(transcript, "list containers") == ("ok", ["items", "other"])
    assert outcome(transcript, "read container other")[1]["partitionKey"]["paths"] == ["/tenant"]
    assert outcome(transcript, "database listed once") == ("ok", 1)
    assert outcome(transcript, "database listed after delete") == ("ok", 0)


async def test_azure_and_aiocosmos_give_the_same_transcript(cosmos_server: CosmosTestServer) -> None:
    started = time.monotonic()
    run = uuid.uuid4().hex[:10]
    async with AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client:
        azure = await run_scenario(AzureFlavour(azure_client, f"diff-{run}-azure"))
    async with aiocosmos.CosmosClient(cosmos_server.url, credential=cosmos_server.key) as client:
        flavour = AiocosmosFlavour(client, f"diff-{run}-aiocosmos")
        ours = await run_scenario(flavour)

    assert_oracle_is_sane(azure)
    assert_same_transcript(azure, ours)
    assert flavour.checks > 80  # the metadata checks ran
    assert time.monotonic() - started < 30


async def test_each_client_reads_what_the_other_wrote(cosmos_server: CosmosTestServer) -> None:
    """Same server, same documents: both clients address the odd ids and pk values alike, and see the
    very same bodies (server fields included)."""
    db_id = f"diff-cross-{uuid.uuid4().hex[:10]}"
    items = seed_items()
    async with (AzureClient(cosmos_server.url, credential=cosmos_server.key) as azure_client,
                aiocosmos.CosmosClient(cosmos_server.url, credential=cosmos_server.key) as client):
        azure_db = await azure_client.create_database(db_id)
        try:
            azure_container = await azure_db.create_container("items", partition_key=AzurePartitionKey("/pk"))
            ours = client.get_database_client(db_id).get_container_client("items")
            for index, item in enumerate(items):
                writer = "azure" if index % 2 else "aiocosmos"
                if writer == "azure":
                    written = dict(await azure_container.create_item(dict(item)))
                else:
                    written = dict(await ours.create_item(dict(item)))
                pk = pk_of(item)
                by_azure = await azure_container.read_item(
                    item["id"], partition_key=AzureNonePartitionKeyValue if pk is MISSING else pk)
                by_us = await ours.read_item(item["id"], aiocosmos.NonePartitionKeyValue if pk is MISSING else pk)
                assert dict(by_azure) == by_us.body == written, (writer, item["id"])
                assert by_us.etag == written["_etag"]
            azure_all = [dict(d) async for d in azure_container.read_all_items()]
            our_all = [d async for d in ours.read_all_items()]
            assert unordered(our_all) == unordered(azure_all)
            assert len(our_all) == len(items)
        finally:
            await azure_client.delete_database(db_id)
