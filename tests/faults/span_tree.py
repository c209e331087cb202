"""The span tree the README shows (section "Tracing, metrics and logs"), made by running its operations.

``python -m tests.faults.span_tree`` starts the local server and a FaultProxy, runs ``scenario`` with the
OpenTelemetry SDK's in-memory exporter and prints ``render`` of the spans: paste that into the README
between its ``span-tree`` markers. ``test_readme_span_tree.py`` runs the same scenario and checks that
the README's tree is exactly what it renders, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import aiocosmos
from aiocosmos.testing import FakeClock, Fault, FaultProxy

SHOWN = ("db.response.status_code", "azure.cosmosdb.response.sub_status_code",
         "azure.cosmosdb.operation.request_charge", "db.operation.batch.size", "aiocosmos.pages")
"""The attributes the tree shows (every span has the rest: db.system.name, db.namespace, server.*...)."""
EVENT_SHOWN = ("aiocosmos.attempt", "db.response.status_code", "azure.cosmosdb.response.sub_status_code",
               "aiocosmos.retry.wait")


async def scenario(container: aiocosmos.ContainerProxy, proxy: FaultProxy, tracer: Any) -> None:
    """A point read after two throttles, a batch, and a query whose pages another task consumes, each
    inside a span of the caller's (``container``: addressed through a traced client behind ``proxy``)."""
    await container.upsert_item({"id": "a", "pk": "p", "n": 1})  # (the container's definition is read here)
    await container.upsert_item({"id": "b", "pk": "p", "n": 2})
    proxy.add_rule(Fault.throttle(retry_after_ms=12), kinds="read", times=1)
    proxy.add_rule(Fault.throttle(retry_after_ms=25), kinds="read", times=1)
    with tracer.start_as_current_span("handle-order"):
        await container.read_item("a", "p")
    with tracer.start_as_current_span("restock"):
        await container.execute_item_batch([("upsert", ({"id": "c", "pk": "p"},)), ("read", ("a",))],
                                           partition_key="p")
    with tracer.start_as_current_span("report"):
        pager = container.query_items("SELECT * FROM c WHERE c.pk = @pk", parameters=[{"name": "@pk", "value": "p"}],
                                      max_item_count=2)

    async def consume() -> int:
        return len([item async for item in pager])

    await asyncio.get_running_loop().create_task(consume())  # the pages are children of "report" all the same


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def render(spans: Sequence[ReadableSpan], roots: Sequence[str] = ("handle-order", "restock", "report")) -> str:
    """The trees under the spans named ``roots``, as text: name, kind, the ``SHOWN`` attributes, events."""
    children: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        if span.parent is not None:
            children.setdefault(span.parent.span_id, []).append(span)
    lines: list[str] = []

    def line(span: ReadableSpan, prefix: str, branch: str) -> None:
        attributes = span.attributes or {}
        shown = "  ".join(f"{key}={_value(attributes[key])}" for key in SHOWN if key in attributes)
        kind = span.kind.name if span.parent is not None else "(your span)"
        lines.append(f"{prefix}{branch}{span.name}  {kind}  {shown}".rstrip())
        inner = "" if not branch else prefix + ("    " if branch == "└── " else "│   ")
        for event in span.events:
            data = event.attributes or {}
            fields = ", ".join(f"{key}={_value(data[key])}" for key in EVENT_SHOWN if key in data)
            lines.append(f"{inner}    event {event.name} {{{fields}}}")
        kids = sorted(children.get(span.context.span_id, []), key=lambda s: s.start_time or 0)
        for number, kid in enumerate(kids):
            line(kid, inner, "└── " if number == len(kids) - 1 else "├── ")

    for root in roots:
        for span in spans:
            if span.name == root and span.parent is None:
                line(span, "", "")
    return "\n".join(lines)


async def main() -> None:
    from tests.server import CosmosTestServer

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with CosmosTestServer() as server:
        async with aiocosmos.CosmosClient(server.url, credential=server.key) as direct, \
                FaultProxy(server.url) as proxy:
            database = await direct.create_database(f"tree-{uuid.uuid4().hex[:8]}")
            await database.create_container("orders", partition_key=aiocosmos.PartitionKey("/pk"))
            options = aiocosmos.ClientOptions(tracer_provider=provider)
            async with aiocosmos.CosmosClient(proxy.url, credential=server.key, options=options,
                                              clock=FakeClock()) as traced:
                container = traced.get_database_client(database.id).get_container_client("orders")
                await scenario(container, proxy, provider.get_tracer("app"))
            await direct.delete_database(database)
    print(render(exporter.get_finished_spans()))


if __name__ == "__main__":
    asyncio.run(main())
