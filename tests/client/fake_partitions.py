"""A recording server that also plays a partitioned container: partition key ranges that can split
and merge, and a change feed per range (spec §6.11, §9, §15.4), for the change-feed and routing tests.

The container is ``dbs/db/colls/c`` (partition key ``/pk``, hash version 2). Its change log is one
global LSN sequence; each change belongs to the range that holds its document's effective partition
key (EPK), computed with ``aiocosmos._feeds.routing.feed_range_for_partition_key`` (itself checked against
azure-cosmos in test_routing.py). The feed keeps only the latest version of each item, as the
service's LatestVersion mode does.

* ``GET …/pkranges``: no ``If-None-Match`` → every live range and etag ``"pk<version>"``; an older
  etag → the ranges created since (incremental feed, each with its ``parents``); the current etag → 304.
* ``GET …/docs`` with ``A-IM``: by ``x-ms-documentdb-partitionkeyrangeid`` (410/1002 once the range
  has split or merged away; ``x-ms-start-epk``/``x-ms-end-epk`` narrow it) or by
  ``x-ms-documentdb-partitionkey``. ``If-None-Match: "<lsn>"`` resumes after that LSN, ``*`` starts
  now, none starts at the beginning (or at ``If-Modified-Since``). 304 when nothing is newer.

Scripts (``server.script(...)``) still take precedence, e.g. to inject a 429.
"""

from __future__ import annotations

import copy
import email.utils
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiocosmos import PartitionKey
from aiocosmos._feeds.routing import feed_range_for_partition_key
from tests.client.conftest import COLL_PATH, DOCS_PATH
from tests.client.recording_server import RecordingServer, Reply

__all__ = ["Change", "FakePartitionedServer", "PKRANGES_PATH", "epk_of"]

PKRANGES_PATH = COLL_PATH + "/pkranges"
DEFINITION = PartitionKey("/pk")


def epk_of(pk: Any) -> str:
    return feed_range_for_partition_key(DEFINITION, pk).min


@dataclass
class Change:
    lsn: int
    ts: int
    epk: str
    document: dict[str, Any]


@dataclass
class FakeRange:
    id: str
    low: str
    high: str
    parents: list[str] = field(default_factory=list)
    version: int = 1

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "minInclusive": self.low, "maxExclusive": self.high, "parents": self.parents,
                "status": "online", "_rid": f"rid{self.id}", "_etag": f'"e{self.id}"'}


class FakePartitionedServer(RecordingServer):
    def __init__(self, boundaries: tuple[str, ...] = ("20",)) -> None:
        # Version-2 EPKs clear the top two bits of their first byte, so every EPK is below "40":
        # the default boundary "20" puts values on both sides.
        super().__init__()
        edges = ("", *boundaries, "FF")
        self.ranges: dict[str, FakeRange] = {
            str(i): FakeRange(str(i), edges[i], edges[i + 1]) for i in range(len(edges) - 1)
        }
        self.gone: set[str] = set()
        self.pk_version = 1
        self.lsn = 0
        self.now = 1_700_000_000  # the service's clock for _ts, in epoch seconds
        self.changes: list[Change] = []
        self.pkranges_delay = 0.0
        self.feed_delay = 0.0

    # -- the data --------------------------------------------------------------------------------

    def write(self, *documents: dict[str, Any]) -> list[dict[str, Any]]:
        """Create or replace documents (each needs "id" and "pk"); one LSN each; the clock moves 1 s."""
        written = []
        for document in documents:
            self.lsn += 1
            self.now += 1
            stored = {**document, "_lsn": self.lsn, "_ts": self.now, "_etag": f'"d{self.lsn}"'}
            self.changes = [c for c in self.changes
                            if (c.document["id"], c.document["pk"]) != (document["id"], document["pk"])]
            self.changes.append(Change(self.lsn, self.now, epk_of(document["pk"]), stored))
            written.append(stored)
        return written

    def live_ranges(self) -> list[FakeRange]:
        return sorted((r for r in self.ranges.values() if r.id not in self.gone), key=lambda r: r.low)

    def range_of(self, pk: Any) -> str:
        epk = epk_of(pk)
        return next(r.id for r in self.live_ranges() if r.low <= epk < r.high)

    def split(self, range_id: str, at: str) -> tuple[str, str]:
        parent = self.ranges[range_id]
        assert parent.low < at < parent.high and range_id not in self.gone
        self.pk_version += 1
        ids = (str(len(self.ranges)), str(len(self.ranges) + 1))
        self.ranges[ids[0]] = FakeRange(ids[0], parent.low, at, [range_id], self.pk_version)
        self.ranges[ids[1]] = FakeRange(ids[1], at, parent.high, [range_id], self.pk_version)
        self.gone.add(range_id)
        return ids

    def merge(self, left: str, right: str) -> str:
        a, b = self.ranges[left], self.ranges[right]
        assert a.high == b.low
        self.pk_version += 1
        new_id = str(len(self.ranges))
        self.ranges[new_id] = FakeRange(new_id, a.low, b.high, [left, right], self.pk_version)
        self.gone.update((left, right))
        return new_id

    # -- requests --------------------------------------------------------------------------------

    def change_feed_requests(self) -> list[Any]:
        return [r for r in self.requests if r.method == "GET" and r.path.rstrip("/") == DOCS_PATH
                and "a-im" in r.headers]

    def pkranges_requests(self) -> list[Any]:
        return [r for r in self.requests if r.method == "GET" and r.path.rstrip("/") == PKRANGES_PATH]

    def _default_reply(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        bare = path.rstrip("/")
        if method == "GET" and bare == PKRANGES_PATH:
            reply = self._pkranges(headers)
            reply.delay = self.pkranges_delay
            return reply
        if method == "GET" and bare == DOCS_PATH and "a-im" in {k.lower() for k in headers}:
            reply = self._change_feed(headers)
            reply.delay = self.feed_delay
            return reply
        return super()._default_reply(method, path, headers, body)

    def _pkranges(self, headers: Mapping[str, str]) -> Reply:
        etag = f'"pk{self.pk_version}"'
        since = headers.get("If-None-Match")
        if since == etag:
            return Reply(status=304, headers={"etag": etag})
        if since is None:
            ranges = self.live_ranges()
        else:
            version = int(since.strip('"')[2:])
            ranges = [r for r in self.ranges.values() if r.version > version]
        return Reply.json({"_rid": "rid", "PartitionKeyRanges": [r.json() for r in ranges], "_count": len(ranges)},
                          etag=etag)

    def _change_feed(self, headers: Mapping[str, str]) -> Reply:
        changes = self.changes
        pk_header = headers.get("x-ms-documentdb-partitionkey")
        range_id = headers.get("x-ms-documentdb-partitionkeyrangeid")
        if pk_header is not None:
            changes = [c for c in changes if DEFINITION.header_from_document(c.document) == pk_header]
        elif range_id is not None:
            if range_id in self.gone or range_id not in self.ranges:
                return Reply.error(410, sub_status=1002, message=f"partition key range {range_id} is gone")
            live = self.ranges[range_id]
            low, high = live.low, live.high
            if headers.get("x-ms-read-key-type") == "EffectivePartitionKeyRange":
                low, high = headers["x-ms-start-epk"], headers["x-ms-end-epk"]
                assert live.low <= low < high <= live.high, "EPK bounds outside the addressed range"
            changes = [c for c in changes if low <= c.epk < high]
        else:
            return Reply.error(400, message="a change feed needs a partition key range id or a partition key")
        since_header = headers.get("If-None-Match")
        if since_header == "*":
            return Reply(status=304, headers={"etag": f'"{self.lsn}"'})
        if since_header is not None:
            since = int(since_header.strip('"'))
        elif "If-Modified-Since" in headers:
            start = email.utils.parsedate_to_datetime(headers["If-Modified-Since"]).timestamp()
            since = max((c.lsn for c in self.changes if c.ts < start), default=0)
        else:
            since = 0
        newer = [c for c in changes if c.lsn > since]
        page_size = int(headers.get("x-ms-max-item-count", "100"))
        page = newer[:page_size] if page_size > 0 else newer
        if not page:
            return Reply(status=304, headers={"etag": f'"{since}"'})
        return Reply.json({"_rid": "rid", "Documents": [copy.deepcopy(c.document) for c in page],
                           "_count": len(page)}, etag=f'"{page[-1].lsn}"')
