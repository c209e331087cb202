"""The official azure-cosmos async samples, fetched at test time and run through both libraries.

The samples are Microsoft's (MIT), not ours: they are never stored in this repository. ``sample_sources`` downloads
the azure-cosmos 4.17.1 source package from PyPI with pip (cached under ``.cache/``, git-ignored) and reads
``samples/<name>.py`` out of it. ``port`` is the whole porting change a user makes: import lines only.
``CUTS`` is our edit script: the steps the local server cannot serve (offers, delete by partition key, a
partition-key-scoped change feed, an index transformation that edits the service's default paths), cut from the
azure-cosmos run and the aiocosmos run alike, each edit required to match exactly once so a changed sample fails
loudly instead of running something else. ``DIFFERENCES`` are aiocosmos's deliberate differences (README,
"azure-cosmos → aiocosmos"), each a transform of azure-cosmos's output that must change it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["CUTS", "DIFFERENCES", "SAMPLES", "cut", "expected_through_aiocosmos", "normalise", "port",
           "sample_sources", "write_config"]

AZURE_VERSION = "4.17.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / f"azure-cosmos-{AZURE_VERSION}"

SAMPLES = (
    "change_feed_management_async",
    "client_user_configs_async",
    "compact_utf8_item_writes_async",
    "container_management_async",
    "cosmos_responses_management_async",
    "database_management_async",
    "document_management_async",
    "feed_range_management_async",
    "index_management_async",
    "read_items_sample_async",
    "throughput_bucket_management_async",
    "transactional_batch_async",
    "user_agent_management_async",
)
"""The async samples that need only a key and one local account: every one but those needing Entra ID
(access_cosmos_with_aad, session_token_management: azure.identity), an environment of their own (examples),
or offers and permissions, which the local server does not serve at all (autoscale_throughput_management,
access_cosmos_with_resource_token)."""

# ---------------------------------------------------------------------------------------------- the download


def sample_sources() -> dict[str, str]:
    """``{sample name: source}`` for every ``samples/*_async.py`` of the sdist (downloaded once, then cached)."""
    archive = CACHE_DIR / f"azure_cosmos-{AZURE_VERSION}.tar.gz"
    if not archive.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
             "--dest", str(CACHE_DIR), f"azure-cosmos=={AZURE_VERSION}"],
            check=True, timeout=300,
        )
    sources: dict[str, str] = {}
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            parts = Path(member.name).parts
            if len(parts) == 3 and parts[1] == "samples" and parts[2].endswith("_async.py"):
                extracted = sdist.extractfile(member)
                assert extracted is not None
                sources[parts[2][: -len(".py")]] = extracted.read().decode()
    return sources


# ---------------------------------------------------------------------------------------------- the port

_IMPORT_LINE = re.compile(r"^(\s*)(from|import)\s+azure\.cosmos\b.*$", re.MULTILINE)
_MODULE_RENAMES = (
    (re.compile(r"\bazure\.cosmos\.aio\b"), "aiocosmos"),
    # azure's partition_key module holds PartitionKey; aiocosmos has it at the top level.
    (re.compile(r"\bazure\.cosmos\.partition_key\b"), "aiocosmos"),
    (re.compile(r"\bazure\.cosmos\b"), "aiocosmos"),
)


def port(source: str) -> str:
    """The import-only change: every ``azure.cosmos[.aio|.partition_key]`` import names ``aiocosmos`` instead."""

    def rename(match: re.Match[str]) -> str:
        line = match.group(0)
        for pattern, replacement in _MODULE_RENAMES:
            line = pattern.sub(replacement, line)
        return line

    return _IMPORT_LINE.sub(rename, source)


# ---------------------------------------------------------------------------------------------- the cuts

CUTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    # The local server ignores the partition key of a change feed request (azure-cosmos prints every partition's
    # items; aiocosmos drops the others, client-side): a step the server cannot serve as the service does.
    "change_feed_management_async": (
        ("            await read_change_feed_with_partition_key(container)\n", ""),
    ),
    # Offers (throughput) have no route in the local server.
    "container_management_async": (
        ("            await manage_provisioned_throughput(db, CONTAINER_ID)\n", ""),
    ),
    "cosmos_responses_management_async": (
        ("            await replace_throughput_db(client, DATABASE_ID)\n", ""),
        ('            await replace_throughput_container(db, CONTAINER_ID + "demo")\n', ""),
    ),
    # The local server stores a container's indexing policy as sent, without the service's default included and
    # excluded paths, which the index transformation step edits.
    "index_management_async": (
        ("            await perform_index_transformations(created_db)\n", ""),
        # Full-text search: the local server has no query plans and no full-text functions (azure-cosmos sends the
        # query and prints the server's syntax error; aiocosmos asks for the plan first, as the service needs for
        # RRF/FullTextScore, and prints the server's answer to that).
        ("            await use_full_text_policy(created_db)\n", ""),
    ),
    # Delete-by-partition-key (POST .../operations/partitionkeydelete) has no route in the local server.
    "document_management_async": (
        ('            await delete_all_items_by_partition_key(db, "CompanyA")\n', ""),
        ('            await delete_all_items_by_partition_key_mh(db, ["SalesOrderCompany", "CompanyA"])\n', ""),
    ),
}


def cut(name: str, source: str) -> str:
    for old, new in CUTS.get(name, ()):
        count = source.count(old)
        if count != 1:
            raise AssertionError(f"{name}: the cut {old!r} matches {count} times, not once; the sample changed")
        source = source.replace(old, new)
    return source


def write_config(directory: Path, url: str, key: str) -> None:
    """The ``config.py`` the samples import (theirs reads the environment; ours points at the local server)."""
    settings = {
        "host": url, "master_key": key, "database_id": "sampledb", "container_id": "samplecoll",
        "container_mh_id": "samplemh", "tenant_id": "unused", "client_id": "unused", "client_secret": "unused",
    }
    (directory / "config.py").write_text(f"settings = {settings!r}\n")


# ---------------------------------------------------------------------------------------------- the comparison

_NORMALISERS = (
    # Random ids and etags (uuid4) the samples make, and server-made rids, timestamps and charges.
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"(?<=[-_])[0-9a-f]{8}\b"), "<hex>"),
    (re.compile(r"'_rid': '[^']*'"), "'_rid': <rid>"),
    (re.compile(r"'_self': '[^']*'"), "'_self': <self>"),
    (re.compile(r"'_ts': \d+"), "'_ts': <ts>"),
    (re.compile(r"^(_rid|_self|_ts)(\s+)\S+$", re.MULTILINE), r"\1\2<value>"),
    (re.compile(r"\b\d{10}\b"), "<ts>"),
    (re.compile(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT"), "<date>"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "<endpoint>"),
    # azure-cosmos ends feed paths with "/", aiocosmos does not; the server echoes the path.
    (re.compile(r"('Content-Location': '[^']*?)/?'"), r"\1'"),
    # Continuation tokens are each library's own opaque format.
    (re.compile(r"(continuation token: )\S+", re.IGNORECASE), r"\1<token>"),
    # Request charges: each library's own way of splitting work into requests (read_items) shows in the sum.
    (re.compile(r"(request charge[^:]*: )[\d.]+", re.IGNORECASE), r"\1<charge>"),
)


_CONCURRENT_LINES = re.compile(r"(?:^Worker \d+ completed .*\n)+", re.MULTILINE)
"""Lines that concurrent tasks print in whatever order they finish (user_agent_management)."""


def normalise(output: str) -> str:
    for pattern, replacement in _NORMALISERS:
        output = pattern.sub(replacement, output)
    return _CONCURRENT_LINES.sub(lambda m: "".join(sorted(m.group(0).splitlines(keepends=True))), output)


# ---------------------------------------------------------------------------------------------- deliberate differences


def _listed_again(header: str) -> Callable[[str], str]:
    """A pager iterated a second time lists its items again (it runs the query again), where
    azure-cosmos's one-pass iterator yields nothing the second time. The samples' own comments
    expect the second listing ("Alternatively, you can directly iterate over the asynchronous iterator")."""

    def change(output: str) -> str:
        start = output.index(header) + len(header)
        end = output.index("\n\n", start) + 1
        block = output[start:end]
        names = "".join(line.removeprefix("Item Id: ") + "\n" for line in block.splitlines())
        return output[:end] + names + output[end:]

    return change


def _batch_options_kept(output: str) -> str:
    """azure-cosmos empties the option dicts of the caller's batch operations (it pops them while building
    the request); aiocosmos leaves the caller's list as it was, so the sample prints the options it passed."""
    return output.replace("}), {}), error operation response",
                          "}), {'if_match_etag': '<uuid>'}), error operation response")


_AZURE_ERROR_TEXT = re.compile(r"\(BadRequest\) (.*)\nCode: BadRequest\nMessage: \1")


def _error_text(output: str) -> str:
    """``str(error)``: aiocosmos says status/sub-status, attempts and activity ids in one line; azure-cosmos
    repeats the code and message on three. ``error.message`` is the service's message in both."""
    return _AZURE_ERROR_TEXT.sub(r"[400/0] \1 (attempts=1; activity ids: <uuid>)", output)


DIFFERENCES: Mapping[str, tuple[Callable[[str], str], ...]] = {
    "container_management_async": (_listed_again("Containers:\n"),),
    "database_management_async": (_listed_again("Databases:\n"),),
    "document_management_async": (_listed_again("Found 2 items\n"),),
    "index_management_async": (_error_text,),
    "transactional_batch_async": (_batch_options_kept,),
}
"""What aiocosmos prints differently *by design* (README, "azure-cosmos → aiocosmos"): each turns azure-cosmos's
normalised output into aiocosmos's and must change it, so a difference that went away is noticed too."""


def expected_through_aiocosmos(name: str, azure_output: str) -> str:
    expected = normalise(azure_output)
    for change in DIFFERENCES.get(name, ()):
        changed = change(expected)
        if changed == expected:
            raise AssertionError(f"{name}: the documented difference {change!r} no longer shows; drop it")
        expected = changed
    return expected
