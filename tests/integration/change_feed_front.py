"""A faithful change feed over N partition key ranges, for the change feed processor's tests.

The local server's change feed is a stub (one page, then 304 for ever). :class:`ChangeFeedFront` is
a small aiohttp server on 127.0.0.1 that *owns* one container, ``dbs/{db}/colls/{FRONT}``
(partition key ``/pk``, hash v2; ``container=`` and ``partition_key=`` name others), in memory, and
relays everything else (the account, the database) to the local server. It:

* records every write to its container (create, upsert, replace, delete), and gives each version
  the next LSN of the partition key range that holds its EPK (``_lsn``; ``_etag``, ``_ts`` too);
* serves ``A-IM: Incremental Feed`` read feeds per range id (``x-ms-documentdb-partitionkeyrangeid``),
  per EPK sub-range (plus ``x-ms-start-epk``/``x-ms-end-epk``) and per partition key
  (``x-ms-documentdb-partitionkey``): the latest version of each document whose LSN is above the
  ``If-None-Match`` etag (none: from the beginning; ``*``: from now), oldest LSN first, at most
  ``x-ms-max-item-count`` per page (default 100); ``If-Modified-Since`` drops older versions. The
  response etag is ``"<LSN>"`` of the last document returned, and 304 (with the range's current LSN
  as etag) means caught up. Every response carries ``x-ms-session-token: <range>:-1#<LSN>``;
* splits a range on demand (:meth:`split`, or :meth:`split_after` n change feed pages): the
  children cover the two halves, continue the parent's LSNs (an etag of the parent is valid on
  them), and a request still addressed to the parent gets 410 sub-status 1002;
* merges two adjacent ranges on demand (:meth:`merge`, :meth:`merge_after`): the merged range
  covers both, its LSNs continue above both parents' (each document keeps its LSN), a request to
  either parent gets 410/1002, and an EPK-bounded request (``x-ms-start-epk``/``x-ms-end-epk``) on
  the merged range with a parent's etag serves exactly what that parent had not served yet;
* serves ``A-IM: Full-Fidelity Feed`` (``AllVersionsAndDeletes``; it requires
  ``x-ms-cosmos-changefeed-wire-format-version: 2021-09-15``, else 400): every version and every
  delete above the etag, oldest first, each wrapped as ``{"current": <the version>, "previous":
  <the version it replaced or deleted>, "metadata": {"operationType": "create"|"replace"|"delete",
  "lsn", "crts", "previousImageLSN", "timeToLiveExpired": false}}`` (a create has no ``previous``, a
  delete no ``current`` and ``id``/``partitionKey`` in its metadata). The service sends
  ``previous`` only where the account keeps previous images; the front always does.

Signatures are not checked here (the lease container lives on the local server, which checks them).
"""

from __future__ import annotations

import email.utils
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from tests.integration.front_ranges import Range, epk_of

__all__ = ["FRONT", "ChangeFeedFront", "boundaries", "epk_of"]

FRONT = "feed"
RANGE_HEADER = "x-ms-documentdb-partitionkeyrangeid"
WIRE_FORMAT = "2021-09-15"
_HOP = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}


def boundaries(count: int) -> list[str]:
    """``count`` ranges over the version-2 EPK space (every such EPK is below "40"), then up to "FF"."""
    step = 0x40 // count
    return ["", *(f"{k * step:02X}" for k in range(1, count)), "FF"]


class ChangeFeedFront:
    def __init__(self, upstream: str, database: str, *, ranges: int = 8, container: str = FRONT,
                 partition_key: str = "pk") -> None:
        self.upstream = upstream.rstrip("/")
        self.database = database
        self.container = container
        self.pk_field = partition_key
        """The top-level property the container is partitioned by (its path is ``/`` + it)."""
        self.url = ""
        edges = boundaries(ranges)
        self.ranges: dict[str, Range] = {str(k): Range(str(k), edges[k], edges[k + 1]) for k in range(ranges)}
        self.gone: set[str] = set()
        self.pk_version = 1
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}  # (pk json, id) -> latest version
        self.epks: dict[tuple[str, str], str] = {}  # the EPK of each stored document (hashing is slow)
        self.feed_pages = 0
        self.gone_answers = 0
        self.log: list[tuple[str, str | None, int]] = []
        """(range id, If-None-Match, status) of every change feed request."""
        self.epk_reads: list[tuple[str, str, str, str | None]] = []
        """(range id, start EPK, end EPK, If-None-Match) of every EPK-bounded change feed request."""
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []
        """(LSN, EPK, pk json, full-fidelity change) of every write and delete, in LSN order per range."""
        self._after: tuple[int, Callable[[], object]] | None = None
        self._next_range = ranges
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> ChangeFeedFront:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- ranges ------------------------------------------------------------------------------------

    def live_ranges(self) -> list[Range]:
        return sorted((r for r in self.ranges.values() if r.id not in self.gone), key=lambda r: r.low)

    def range_of(self, epk: str) -> Range:
        return next(r for r in self.live_ranges() if r.holds(epk))

    def split(self, range_id: str) -> tuple[str, str]:
        """Split a live range in two halves; returns the children's ids."""
        parent = self.ranges[range_id]
        assert range_id not in self.gone
        high = "40" if parent.high == "FF" else parent.high
        mid = f"{(int(parent.low or '0', 16) + int(high, 16)) // 2:02X}"
        assert parent.low < mid < high, "range too narrow to split"
        self.pk_version += 1
        ids = (str(self._next_range), str(self._next_range + 1))
        self._next_range += 2
        self.ranges[ids[0]] = Range(ids[0], parent.low, mid, [range_id], self.pk_version, parent.lsn)
        self.ranges[ids[1]] = Range(ids[1], mid, parent.high, [range_id], self.pk_version, parent.lsn)
        self.gone.add(range_id)
        return ids

    def split_after(self, pages: int, range_id: str) -> None:
        """Split ``range_id`` once ``pages`` more change feed pages with changes have been served."""
        self._after = (self.feed_pages + pages, lambda: self.split(range_id))

    def merge(self, left_id: str, right_id: str) -> str:
        """Merge two live adjacent ranges (``left`` just below ``right``); returns the new range's id."""
        left, right = self.ranges[left_id], self.ranges[right_id]
        assert left_id not in self.gone and right_id not in self.gone and left.high == right.low, "not adjacent"
        self.pk_version += 1
        merged = str(self._next_range)
        self._next_range += 1
        self.ranges[merged] = Range(merged, left.low, right.high, [left_id, right_id], self.pk_version,
                                    max(left.lsn, right.lsn))
        self.gone.update((left_id, right_id))
        return merged

    def merge_after(self, pages: int, left_id: str, right_id: str) -> None:
        """Merge two ranges once ``pages`` more change feed pages with changes have been served."""
        self._after = (self.feed_pages + pages, lambda: self.merge(left_id, right_id))

    # -- HTTP ----------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        coll = f"/dbs/{self.database}/colls/{self.container}"
        body = await request.read()
        if not path.startswith(coll):
            return await self._relay(request, body)
        rest = path[len(coll):]
        if request.method == "GET" and rest == "":
            return _json({"id": self.container, "_rid": "feedRid==",
                          "_self": f"dbs/{self.database}/colls/{self.container}/", "_etag": '"feed"', "_ts": 1,
                          "partitionKey": {"paths": [f"/{self.pk_field}"], "kind": "Hash", "version": 2}})
        if request.method == "GET" and rest == "/pkranges":
            return self._pkranges(request.headers)
        if rest == "/docs" and request.method == "POST":
            return self._write(orjson.loads(body), upsert=request.headers.get("x-ms-documentdb-is-upsert") == "True")
        if rest == "/docs" and request.method == "GET" and request.headers.get("A-IM"):
            return self._change_feed(request.headers)
        if rest.startswith("/docs/"):
            item_id = rest[len("/docs/"):]
            pk = request.headers.get("x-ms-documentdb-partitionkey", "")
            key = (orjson.dumps(orjson.loads(pk)).decode() if pk else "", item_id)
            if request.method == "GET":
                doc = self.docs.get(key)
                return _json(doc) if doc else _json({"code": "NotFound", "message": "missing"}, status=404)
            if request.method == "PUT":
                if key not in self.docs:
                    return _json({"code": "NotFound", "message": "missing"}, status=404)
                return self._write(orjson.loads(body), upsert=True)
            if request.method == "DELETE":
                old = self.docs.pop(key, None)
                if old is None:
                    return _json({"code": "NotFound", "message": "missing"}, status=404)
                epk = self.epks[key]
                owner = self.range_of(epk)
                owner.lsn += 1
                self.history.append((owner.lsn, epk, key[0], {"previous": old, "metadata": {
                    "operationType": "delete", "lsn": owner.lsn, "crts": int(time.time()),
                    "previousImageLSN": old["_lsn"], "timeToLiveExpired": False, "id": item_id,
                    "partitionKey": {self.pk_field: old.get(self.pk_field)}}}))
                return web.Response(status=204, headers={"x-ms-request-charge": "1",
                                                         "x-ms-session-token": f"{owner.id}:-1#{owner.lsn}"})
        return _json({"code": "BadRequest", "message": "the change feed front does not serve this"}, status=400)

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
        return _json({"_rid": "feedRid==", "PartitionKeyRanges": [r.json() for r in ranges], "_count": len(ranges)},
                     headers={"etag": etag})

    def _write(self, doc: dict[str, Any], *, upsert: bool) -> web.Response:
        pk_json = orjson.dumps([doc.get(self.pk_field)]).decode()
        key = (pk_json, str(doc["id"]))
        if key in self.docs and not upsert:
            return _json({"code": "Conflict", "message": "exists"}, status=409)
        epk = self.epks.get(key) or epk_of(doc.get(self.pk_field))
        owner = self.range_of(epk)
        owner.lsn += 1
        stored = {**doc, "_rid": uuid.uuid4().hex[:12], "_self": "", "_etag": f'"{uuid.uuid4()}"',
                  "_ts": int(time.time()), "_lsn": owner.lsn}
        old = self.docs.get(key)
        self.docs[key] = stored
        self.epks[key] = epk
        metadata: dict[str, Any] = {"operationType": "replace" if old else "create", "lsn": owner.lsn,
                                    "crts": stored["_ts"], "timeToLiveExpired": False}
        change: dict[str, Any] = {"current": stored, "metadata": metadata}
        if old is not None:
            metadata["previousImageLSN"] = old["_lsn"]
            change["previous"] = old
        self.history.append((owner.lsn, epk, pk_json, change))
        return _json(stored, status=201 if not upsert else 200,
                     headers={"etag": stored["_etag"], "x-ms-session-token": f"{owner.id}:-1#{owner.lsn}"})

    def _change_feed(self, headers: Mapping[str, str]) -> web.Response:
        pk_header = headers.get("x-ms-documentdb-partitionkey")
        if pk_header is not None:
            epk = epk_of(orjson.loads(pk_header)[0])
            target = self.range_of(epk)
            low, high, only = epk, epk, pk_header
            only_key = orjson.dumps(orjson.loads(pk_header)).decode()
        else:
            range_id = headers.get(RANGE_HEADER, "")
            if range_id in self.gone or range_id not in self.ranges:
                self.gone_answers += 1
                self.log.append((range_id, headers.get("If-None-Match"), 410))
                return _json({"code": "Gone", "message": f"partition key range {range_id} is gone"}, status=410,
                             headers={"x-ms-substatus": "1002"})
            target = self.ranges[range_id]
            low = headers.get("x-ms-start-epk", target.low)
            high = headers.get("x-ms-end-epk", target.high)
            if "x-ms-start-epk" in headers:
                self.epk_reads.append((target.id, low, high, headers.get("If-None-Match")))
            only, only_key = None, ""
        since = headers.get("If-None-Match")
        if since == "*":
            start = target.lsn
        elif since:
            start = int(since.strip('"'))
        else:
            start = 0
        modified = headers.get("If-Modified-Since")
        min_ts = email.utils.parsedate_to_datetime(modified).timestamp() if modified else None
        size = int(headers.get("x-ms-max-item-count", "100"))
        session = {"x-ms-session-token": f"{target.id}:-1#{target.lsn}"}
        full_fidelity = headers.get("A-IM") == "Full-Fidelity Feed"
        if full_fidelity and headers.get("x-ms-cosmos-changefeed-wire-format-version") != WIRE_FORMAT:
            return _json({"code": "BadRequest", "message": "Full-Fidelity Feed needs the wire format version "
                          + WIRE_FORMAT}, status=400)
        if full_fidelity:
            changes = [change for lsn, epk, pk_json, change in self.history
                       if lsn > start and (only is None or pk_json == only_key)
                       and (only is not None or low <= epk < high) and target.holds(epk)
                       and (min_ts is None or change["metadata"]["crts"] >= min_ts)]
            changes.sort(key=lambda c: c["metadata"]["lsn"])
        else:
            changes = sorted(
            (d for key, d in self.docs.items()
             if d["_lsn"] > start and (only is None or key[0] == only_key)
             and (only is not None or low <= self.epks[key] < high)
             and target.holds(self.epks[key])
             and (min_ts is None or d["_ts"] >= min_ts)),
                key=lambda d: d["_lsn"])
        self.log.append((target.id, since, 200 if changes else 304))
        if not changes:
            return web.Response(status=304, headers={"etag": f'"{target.lsn}"', "x-ms-request-charge": "1", **session})
        page = changes[:size] if size > 0 else changes
        self.feed_pages += 1
        if self._after is not None and self.feed_pages >= self._after[0]:
            _, action = self._after
            self._after = None
            action()
        last = page[-1]["metadata"]["lsn"] if full_fidelity else page[-1]["_lsn"]
        return _json({"_rid": "feedRid==", "Documents": page, "_count": len(page)},
                     headers={"etag": f'"{last}"', **session})

    async def _relay(self, request: web.Request, body: bytes) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
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


def _json(value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(value),
                        headers={"Content-Type": "application/json", "x-ms-request-charge": "1", **(headers or {})})
