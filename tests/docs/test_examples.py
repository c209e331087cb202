"""Every Python example in the README and the docs runs against the local server (or says why it needs
Azure), and prints what its page shows: an example that drifts from the API fails here."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import aiocosmos
from tests.docs.markdown_examples import run_page
from tests.server import CosmosTestServer

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


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
    try:
        run_page(page, endpoint=cosmos_server.url, key=cosmos_server.key)
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
