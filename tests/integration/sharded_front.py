"""A multi-range gateway made of real local-server containers, for the cross-partition query engine.

:class:`ShardedFront` is a small aiohttp front on 127.0.0.1 in front of the session's local server. It
presents one logical container ``dbs/{db}/colls/front`` (partition key ``/pk``, hash v2) with four
partition key ranges "0".."3" over contiguous EPK intervals; range ``k`` is backed by an ordinary
local-server container ``shard{k}`` of the same database, holding exactly the documents whose EPK falls
in that range (:meth:`ShardedFront.load`; EPKs from ``aiocosmos._feeds.routing.feed_range_for_partition_key``).

* ``GET …/colls/front`` → the container definition; ``GET …/colls/front/pkranges`` → the live ranges
  (same shape as tests/client/fake_partitions.py: ``PartitionKeyRanges`` with ``minInclusive``,
  ``maxExclusive``, ``parents``; an etag; 304 for the current etag; an older etag → the ranges created
  since).
* A query without ``x-ms-documentdb-partitionkeyrangeid`` → 400, sub-status 1004, with the plan of the
  registered query in ``additionalErrorInfo``; a query-plan request → the plan. The plans are the ones
  tests/client/fake_query_partitions.py builds (the gateway's format), registered per query text.
* A query with ``x-ms-documentdb-partitionkeyrangeid: k`` → forwarded to ``shard{k}``: the range header
  is dropped, the request re-signed with the master key for the shard's link; continuation, page size
  and body are kept. The local server evaluates the (rewritten) query on the shard and pages it itself.
* Split (:meth:`ShardedFront.split_after`): after n range requests, range "0" is replaced by children
  "4" = [low, mid) and "5" = [mid, high) (parents ["0"]); requests still addressed to "0" get 410/1002.
  A child is served from shard0's rows for the same query (from the parent's continuation, which
  a child must accept as the service's do) filtered to the child's EPK half, paged by the front with
  its own continuation ``child:<json>`` (the shard0 base token plus the number of the child's rows
  already returned). Each child thus holds exactly its half of range 0's documents.

* ORDER BY range queries (the rewritten form, with ``orderByItems``): the shard's rows are read whole
  and sent in the service's order (ties by the document number of ``_rid``, descending when the first
  ORDER BY column is; the local server itself orders ties by logical partition), within the range's
  EPKs, paged by the front with resume-key continuations (``key:<json>``) that stay valid on children.

Everything else (account, database, ...) is relayed unchanged (the signature covers only the verb, the
resource type and link, and the date, so it stays valid); the account's locations are rewritten to
point at the front.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from aiocosmos._wire.auth import MasterKeySigner
from tests.client.fake_query_partitions import MISSING, cosmos_cmp
from tests.integration.front_ranges import Range, epk_of

__all__ = ["BOUNDARIES", "FRONT", "ShardedFront", "epk_of"]

FRONT = "front"
BOUNDARIES = ("", "10", "20", "30", "FF")
"""Range k covers [BOUNDARIES[k], BOUNDARIES[k+1]). Version-2 EPKs are all below "40"."""
SPLIT_AT = "08"
RANGE_HEADER = "x-ms-documentdb-partitionkeyrangeid"
CHILD_PREFIX = "child:"
KEY_PREFIX = "key:"
_HOP = {"host", "content-length", "transfer-encoding", "connection", "authorization", "accept-encoding"}


class ShardedFront:
    def __init__(self, upstream: str, key: str, database: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.database = database
        self.signer = MasterKeySigner(key)
        self.url = ""
        self.ranges: dict[str, Range] = {
            str(k): Range(str(k), BOUNDARIES[k], BOUNDARIES[k + 1]) for k in range(len(BOUNDARIES) - 1)
        }
        self.gone: set[str] = set()
        self.pk_version = 1
        self.plans: dict[str, dict[str, Any]] = {}
        self.range_requests: list[tuple[str, str | None]] = []
        """(range id, x-ms-continuation) of every range-targeted query, in arrival order."""
        self.gone_answers = 0
        self.plan_requests = 0
        self.split_index: int | None = None
        """len(range_requests) when the split happened (the request that triggered it is the last one)."""
        self._split_after: int | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    # -- set-up ------------------------------------------------------------------------------------

    async def start(self) -> ShardedFront:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    @staticmethod
    def shard_of(document: Mapping[str, Any]) -> int:
        epk = epk_of(document["pk"])
        return next(k for k in range(len(BOUNDARIES) - 1) if BOUNDARIES[k] <= epk < BOUNDARIES[k + 1])

    def register(self, text: str, plan: dict[str, Any]) -> None:
        self.plans[text] = plan

    def reset(self) -> None:
        """Back to the four original ranges (a new split can then be injected)."""
        self.ranges = {k: r for k, r in self.ranges.items() if k in {"0", "1", "2", "3"}}
        self.gone.clear()
        self.pk_version += 1  # the client's cached routing map must not keep the children
        for r in self.ranges.values():
            r.version = self.pk_version
        self._split_after = None
        self.split_index = None
        self.gone_answers = 0

    def split_after(self, requests: int) -> None:
        """Split range "0" once ``requests`` more range-targeted queries have been answered."""
        self._split_after = len(self.range_requests) + requests

    def split(self) -> None:
        parent = self.ranges["0"]
        self.pk_version += 1
        self.ranges["4"] = Range("4", parent.low, SPLIT_AT, ["0"], self.pk_version)
        self.ranges["5"] = Range("5", SPLIT_AT, parent.high, ["0"], self.pk_version)
        self.gone.add("0")

    def live_ranges(self) -> list[Range]:
        return sorted((r for r in self.ranges.values() if r.id not in self.gone), key=lambda r: r.low)

    # -- HTTP ---------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        coll = f"/dbs/{self.database}/colls/{FRONT}"
        body = await request.read()
        if request.method == "GET" and path == coll:
            return _json({"id": FRONT, "_rid": "frontrid", "_self": f"dbs/{self.database}/colls/{FRONT}/",
                          "_etag": '"front"', "_ts": 1,
                          "partitionKey": {"paths": ["/pk"], "kind": "Hash", "version": 2}})
        if request.method == "GET" and path == coll + "/pkranges":
            return self._pkranges(request.headers)
        if request.method == "POST" and path == coll + "/docs":
            return await self._query(request.headers, body)
        if path.startswith(coll):
            return _error(400, "the sharded front serves only queries on its container")
        return await self._relay(request, body)

    def _pkranges(self, headers: Mapping[str, str]) -> web.Response:
        etag = f'"pk{self.pk_version}"'
        since = headers.get("If-None-Match")
        if since == etag:
            return web.Response(status=304, headers={"etag": etag})
        if since is None:
            ranges = self.live_ranges()
        else:
            version = int(since.strip('"')[2:])
            ranges = [r for r in self.ranges.values() if r.version > version and r.id not in self.gone]
        return _json({"_rid": "frontrid", "PartitionKeyRanges": [r.json() for r in ranges], "_count": len(ranges)},
                     headers={"etag": etag})

    async def _query(self, headers: Mapping[str, str], body: bytes) -> web.StreamResponse:
        range_id = headers.get(RANGE_HEADER)
        if range_id is None:
            text = orjson.loads(body)["query"]
            plan = self.plans.get(text)
            if plan is None:
                return _error(400, f"the front has no plan for {text!r}")
            if headers.get("x-ms-cosmos-is-query-plan-request") == "True":
                self.plan_requests += 1
                return _json(plan)
            return _json({"code": "BadRequest", "message": "The provided cross partition query can not be directly "
                          "served by the gateway.", "additionalErrorInfo": orjson.dumps(plan).decode()},
                         status=400, headers={"x-ms-substatus": "1004"})
        continuation = headers.get("x-ms-continuation")
        self.range_requests.append((range_id, continuation))
        if self._split_after is not None and len(self.range_requests) > self._split_after:
            self._split_after = None
            self.split_index = len(self.range_requests)
            self.split()
        if range_id in self.gone or range_id not in self.ranges:
            self.gone_answers += 1
            return _json({"code": "Gone", "message": f"partition key range {range_id} is gone"}, status=410,
                         headers={"x-ms-substatus": "1002"})
        if b"orderByItems" in body:
            return await self._ordered(self.ranges[range_id], headers, body)
        if self.ranges[range_id].parents:
            return await self._child(self.ranges[range_id], headers, body)
        status, reply_headers, data = await self._shard(int(range_id), headers, body, continuation)
        return web.Response(status=status, body=data, headers=reply_headers)

    async def _shard(self, shard: int, headers: Mapping[str, str], body: bytes, continuation: str | None,
                     page_size: str | None = None) -> tuple[int, dict[str, str], bytes]:
        link = f"dbs/{self.database}/colls/shard{shard}"
        forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP and k.lower() != RANGE_HEADER
                     and k.lower() != "x-ms-continuation"}
        if continuation is not None:
            forwarded["x-ms-continuation"] = continuation
        if page_size is not None:
            forwarded["x-ms-max-item-count"] = page_size
        date = headers["x-ms-date"]
        forwarded["authorization"] = self.signer.sign("post", "docs", link, date.lower())
        assert self._session is not None
        async with self._session.post(f"{self.upstream}/{link}/docs", data=body, headers=forwarded) as response:
            data = await response.read()
            reply = {k: v for k, v in response.headers.items() if k.lower() not in _HOP}
            return response.status, reply, data

    async def _child(self, child: Range, headers: Mapping[str, str], body: bytes) -> web.StreamResponse:
        """Range 0's rows (from the parent's continuation) whose EPK is in ``child``, paged here."""
        token = headers.get("x-ms-continuation")
        if token is not None and token.startswith(CHILD_PREFIX):
            state = orjson.loads(token[len(CHILD_PREFIX):])
            base, skip = state["base"], state["skip"]
        else:
            base, skip = token, 0
        rows: list[Any] = []
        cursor = base
        charge = 0.0
        while True:
            status, reply, data = await self._shard(0, headers, body, cursor, page_size="100")
            if status != 200:
                return web.Response(status=status, body=data, headers=reply)
            charge += float(reply.get("x-ms-request-charge", "0"))
            rows.extend(orjson.loads(data)["Documents"])
            cursor = reply.get("x-ms-continuation") or None
            if cursor is None:
                break
        mine = [r for r in rows if child.low <= epk_of(_document_of(r)["pk"]) < child.high][skip:]
        size = int(headers.get("x-ms-max-item-count", "100"))
        page = mine[:size] if size > 0 else mine
        extra = {"x-ms-request-charge": f"{charge:.2f}"}
        if len(mine) > len(page):
            extra["x-ms-continuation"] = CHILD_PREFIX + orjson.dumps({"base": base,
                                                                     "skip": skip + len(page)}).decode()
        return _json({"_rid": "frontrid", "Documents": page, "_count": len(page)}, headers=extra)

    async def _ordered(self, live: Range, headers: Mapping[str, str], body: bytes) -> web.StreamResponse:
        """An ORDER BY range query in the service's order: the shard's rows (all of them, read from its
        start) within the range's EPKs, ties by document number (descending when the first ORDER BY
        column is) and JOIN rows in the shard's order, which the local server does not keep itself (it
        orders ties by logical partition). The continuation is the resume key of the last row sent
        (``key:<json>``), valid on the children of a split range as the service's are."""
        shard = int(live.parents[0]) if live.parents else int(live.id)
        rows: list[Any] = []
        cursor: str | None = None
        charge = 0.0
        while True:
            status, reply, data = await self._shard(shard, headers, body, cursor, page_size="100")
            if status != 200:
                return web.Response(status=status, body=data, headers=reply)
            charge += float(reply.get("x-ms-request-charge", "0"))
            rows.extend(orjson.loads(data)["Documents"])
            cursor = reply.get("x-ms-continuation") or None
            if cursor is None:
                break
        order = orjson.loads(body)["query"].rsplit("ORDER BY", 1)[1].split(",")
        directions = [column.strip().upper().endswith(" DESC") for column in order]
        places: dict[str, int] = {}
        keyed = []
        for row in rows:
            place = places[row["_rid"]] = places.get(row["_rid"], -1) + 1
            keyed.append(([i.get("item", MISSING) for i in row["orderByItems"]], document_number(row["_rid"]), place,
                          row))

        def compare(a: Any, b: Any) -> int:
            for x, y, descending in zip(a[0], b[0], directions, strict=True):
                result = cosmos_cmp(x, y)
                if result:
                    return -result if descending else result
            if a[1] != b[1]:
                return (-1 if a[1] < b[1] else 1) * (-1 if directions[0] else 1)
            return a[2] - b[2]

        keyed.sort(key=functools.cmp_to_key(compare))
        mine = [k for k in keyed if live.low <= epk_of(_document_of(k[3])["pk"]) < live.high]
        token = headers.get("x-ms-continuation")
        if token is not None:
            assert token.startswith(KEY_PREFIX), token
            raw = orjson.loads(token[len(KEY_PREFIX):])
            after = ([MISSING if v == {"$u": 1} else v for v in raw[0]], raw[1], raw[2], None)
            mine = [k for k in mine if compare(k, after) > 0]
        size = int(headers.get("x-ms-max-item-count", "100"))
        page = mine[:size] if size > 0 else mine
        extra = {"x-ms-request-charge": f"{charge:.2f}"}
        if len(mine) > len(page):
            last = page[-1]
            extra["x-ms-continuation"] = KEY_PREFIX + orjson.dumps(
                [[{"$u": 1} if v is MISSING else v for v in last[0]], last[1], last[2]]).decode()
        return _json({"_rid": "frontrid", "Documents": [k[3] for k in page], "_count": len(page)}, headers=extra)

    async def _relay(self, request: web.Request, body: bytes) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP - {"authorization"}}
        assert self._session is not None
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body,
                                         headers=headers) as response:
            data = await response.read()
            reply = {k: v for k, v in response.headers.items() if k.lower() not in _HOP}
            if request.path.rstrip("/") == "" and request.method == "GET" and response.status == 200:
                account = orjson.loads(data)
                for key in ("writableLocations", "readableLocations"):
                    for location in account.get(key) or ():
                        location["databaseAccountEndpoint"] = self.url + "/"
                data = orjson.dumps(account)
            return web.Response(status=response.status, body=data, headers=reply)


def document_number(rid: str) -> int:
    """The document part of a document ``_rid`` (8 little-endian bytes after database and collection)."""
    return int.from_bytes(base64.b64decode(rid.replace("-", "/"))[8:16], "little")


def _document_of(row: Any) -> Any:
    """The document behind a row: the ORDER BY form's payload, or the row itself."""
    if isinstance(row, dict) and "orderByItems" in row and isinstance(row.get("payload"), dict):
        return row["payload"]
    return row


def _json(value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(value),
                        headers={"Content-Type": "application/json", "x-ms-request-charge": "1", **(headers or {})})


def _error(status: int, message: str) -> web.Response:
    return _json({"code": "BadRequest", "message": message}, status=status)
