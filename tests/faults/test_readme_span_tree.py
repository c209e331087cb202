"""The span tree of docs/observability.md (section "Tracing, metrics and logs", between its ``span-tree`` markers) is
what the client produces: the scenario of ``span_tree.py`` runs against the local server through the
FaultProxy with the SDK's in-memory exporter, and its rendering must equal that page's text."""

from __future__ import annotations

import re
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import aiocosmos
from aiocosmos.testing import FakeClock, FaultProxy
from tests.faults.conftest import ClientFactory
from tests.faults.span_tree import render, scenario

README = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def readme_tree() -> str:
    found = re.search(r"<!-- span-tree -->\n```\n(.*?)\n```\n<!-- /span-tree -->", README.read_text(), re.S)
    assert found, "docs/observability.md has no ```-fenced block between <!-- span-tree --> and <!-- /span-tree -->"
    return found.group(1)


async def test_the_readme_span_tree_is_what_the_client_produces(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    await fresh_container.database.create_container("orders", partition_key=aiocosmos.PartitionKey("/pk"))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = make_client(clock=FakeClock(), tracer_provider=provider)
    container = client.get_database_client(fresh_container.database.id).get_container_client("orders")
    await scenario(container, proxy, provider.get_tracer("app"))

    produced = render(exporter.get_finished_spans())
    assert produced.count("(your span)") == 3 and "event aiocosmos.retry" in produced
    assert readme_tree() == produced
