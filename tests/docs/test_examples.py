"""Every Python example in the README and the docs runs against the local server (or says why it needs
Azure), and prints what its page shows: an example that drifts from the API fails here."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import aiocosmos
from tests.docs.markdown_examples import run_page
from tests.integration.change_feed_front import ChangeFeedFront
from tests.server import CosmosTestServer

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
CHANGE_FEED_PAGES = {"docs/change-feed.md": ("shop", "orders", "customerId")}
"""Pages whose examples read a change feed, by (database, container, partition key property): the local
server's change feed is a stub (one page, then 304 for ever), so they run through the project's change
feed front (tests/integration/change_feed_front.py), which serves that container's feed as the service
does and relays the rest (the database, the lease container) to the local server."""


@contextmanager
def _change_feed_front(server: CosmosTestServer, database: str, container: str, partition_key: str) -> Iterator[str]:
    """The front's endpoint, served from its own loop in a thread while the page runs on another."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    front = ChangeFeedFront(server.url, database, container=container, partition_key=partition_key)
    try:
        asyncio.run_coroutine_threadsafe(front.start(), loop).result(30)
        yield front.url
    finally:
        asyncio.run_coroutine_threadsafe(front.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _database_ids(server: CosmosTestServer) -> set[str]:
    async with aiocosmos.CosmosClient(server.url, credential=server.key) as client:
        return {db["id"] async for db in client.list_databases()}


async def _delete_databases(server: CosmosTestServer, ids: set[str]) -> None:
    async with aiocosmos.CosmosClient(server.url, credential=server.key) as client:
        for database_id in ids:
            await client.delete_database(database_id)


@pytest.mark.integration
# Ray Data warns about its own deprecated settings (as in tests/integration/test_ray.py).
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_the_page_examples_run(
    page: Path, cosmos_server: CosmosTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the files an example writes (failed/, state/, export/) stay out of the checkout
    before = asyncio.run(_database_ids(cosmos_server))
    fronted = CHANGE_FEED_PAGES.get(str(page.relative_to(ROOT)))
    try:
        if fronted is None:
            run_page(page, endpoint=cosmos_server.url, key=cosmos_server.key)
        else:
            with _change_feed_front(cosmos_server, *fronted) as endpoint:
                run_page(page, endpoint=endpoint, key=cosmos_server.key)
    finally:
        # Each page starts from the databases the session had: what its examples made is removed.
        asyncio.run(_delete_databases(cosmos_server, asyncio.run(_database_ids(cosmos_server)) - before))


def test_the_readme_links_resolve() -> None:
    """The README's relative links (into docs/, the changelog, the licence) name files that exist."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = {link.split("#", 1)[0] for link in re.findall(r"\]\(([^)]+)\)", text) if "://" not in link}
    assert targets, "the README links nowhere"
    assert sorted(t for t in targets if not (ROOT / t).exists()) == []


def test_every_docs_page_is_in_the_site_navigation() -> None:
    """A page under docs/ that mkdocs.yml's nav leaves out cannot be found in two clicks."""
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert sorted(p for p in pages if p not in nav) == []
