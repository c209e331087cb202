"""Memory while streaming 100,000 documents: RSS should stay flat (one page in memory at a time).

    python -m benchmarks.memory [--docs 100000] [--page 1000]

The local @vercel/cosmosdb-server cannot serve this: its query engine re-scans the container for
every page, and pages past ~50,000 documents take longer than the read timeout. What is measured here
is the *client's* memory, so a small feed server in a separate process generates the pages (same JSON
shape, continuation tokens, 1 KB documents) without holding them. The client streams them through
``query_items`` and ``read_all_items``, discarding each item, and samples its own RSS after every page.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os

import orjson

import aiocosmos

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES / 2**20


def serve_feed(port: multiprocessing.Value, docs: int) -> None:  # type: ignore[valid-type]
    """A feed server that generates pages on the fly (runs in its own process)."""
    from aiohttp import web

    async def container(request: web.Request) -> web.Response:
        return web.json_response({"id": "docs", "partitionKey": {"paths": ["/pk"], "kind": "Hash", "version": 2}})

    async def page(request: web.Request) -> web.Response:
        size = int(request.headers.get("x-ms-max-item-count", "100"))
        start = int(request.headers.get("x-ms-continuation", "0"))
        end = min(docs, start + size)
        items = [{"id": f"d{n}", "pk": f"p{n % 10}", "n": n, "payload": "x" * 900} for n in range(start, end)]
        headers = {"x-ms-request-charge": "1", "x-ms-activity-id": "0"}
        if end < docs:
            headers["x-ms-continuation"] = str(end)
        body = orjson.dumps({"_rid": "r", "Documents": items, "_count": len(items)})
        return web.Response(body=body, headers=headers, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/dbs/memory/colls/docs", container)
        app.router.add_route("*", "/dbs/memory/colls/docs/docs", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.value = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


async def run(url: str, docs: int, page_size: int) -> None:
    async with aiocosmos.CosmosClient(url, credential=KEY) as client:
        container = client.get_database_client("memory").get_container_client("docs")
        for name, pager in (("query_items", container.query_items("SELECT * FROM c", max_item_count=page_size)),
                            ("read_all_items", container.read_all_items(max_item_count=page_size))):
            start = rss_mb()
            peak, seen, samples = start, 0, []
            async for _item in pager:
                seen += 1
                if seen % page_size == 0:
                    now = rss_mb()
                    peak = max(peak, now)
                    if seen % (docs // 10) == 0:
                        samples.append(round(now, 1))
            assert seen == docs, f"{name} streamed {seen} documents, expected {docs}"
            print(f"{name:>15}: {seen:,} documents of ~1 KB; RSS start {start:.1f} MB, peak {peak:.1f} MB "
                  f"(+{peak - start:.1f}), end {rss_mb():.1f} MB; at every 10 %: {samples}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args()
    port = multiprocessing.Value("i", 0)
    server = multiprocessing.Process(target=serve_feed, args=(port, args.docs), daemon=True)
    server.start()
    try:
        while port.value == 0:
            server.join(0.05)
        asyncio.run(run(f"http://127.0.0.1:{port.value}", args.docs, args.page))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
