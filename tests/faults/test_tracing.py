"""OpenTelemetry spans, events and metrics against the local server, through the FaultProxy, with the real
SDK (in-memory span exporter and metric reader). Attribute names are checked against the conventions'
table in ``semconv_cosmos.json`` (copied from opentelemetry-semantic-conventions, with attribution)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import aiocosmos
from aiocosmos._wire.pipeline import Pipeline
from aiocosmos.testing import Fault, FaultProxy
from tests.faults.conftest import ClientFactory, through

CONVENTIONS = json.loads((Path(__file__).parent / "semconv_cosmos.json").read_text())
CONVENTION_NAMES = frozenset(a["name"] for a in CONVENTIONS["span_attributes"])
# Our own attributes (not in the conventions) live under the aiocosmos. prefix.
OURS = frozenset({"aiocosmos.pages", "aiocosmos.abandoned"})
EVENT_NAMES = frozenset({"aiocosmos.attempt", "aiocosmos.region", "aiocosmos.retry.wait"})


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def options(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(m.data.data_points)
        return found


@pytest.fixture
def otel() -> Iterator[Otel]:
    sink = Otel()
    yield sink
    sink.tracer_provider.shutdown()
    sink.meter_provider.shutdown()


def check_names(span: ReadableSpan) -> None:
    for key in span.attributes or {}:
        assert key in CONVENTION_NAMES or key in OURS, f"{span.name}: attribute {key!r} is not in the conventions"
    for event in span.events:
        for key in event.attributes or {}:
            assert key in CONVENTION_NAMES or key in EVENT_NAMES, f"{span.name}/{event.name}: {key!r}"


def test_importing_aiocosmos_does_not_import_opentelemetry() -> None:
    code = "import sys, aiocosmos; print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_tracing_is_off_by_default(proxy: FaultProxy, make_client: ClientFactory,
                                         fresh_container: aiocosmos.ContainerProxy) -> None:
    assert not aiocosmos.ClientOptions().telemetry
    assert aiocosmos.ClientOptions(tracing=True).telemetry
    client = make_client()
    await through(client, fresh_container).upsert_item({"id": "a", "pk": "p"})
    assert type(client._core.pipeline) is Pipeline and client._core.telemetry is None


async def test_point_operations_and_batch_have_one_client_span_each(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy, otel: Otel
) -> None:
    client = make_client(consistency_level="Session", **otel.options())
    container = through(client, fresh_container)
    await container.create_item({"id": "a", "pk": "p", "secret": "body-text-1"})
    await container.upsert_item({"id": "a", "pk": "p", "n": 1})
    await container.read_item("a", "p")
    await container.replace_item("a", {"id": "a", "pk": "p", "n": 2})
    await container.patch_item("a", "p", [{"op": "incr", "path": "/n", "value": 1}])
    with pytest.raises(aiocosmos.NotFound):
        await container.read_item("missing", "p")
    await container.execute_item_batch([("create", ({"id": "b", "pk": "p"},)), ("read", ("a",))], partition_key="p")
    await container.delete_item("a", "p")
    await container.database.read()

    spans = otel.spans()
    assert spans[0].name == "read_container items"  # the partition key definition, read once on first use
    spans = spans[1:]
    assert [s.name for s in spans] == [
        f"{op} items" for op in ("create_item", "upsert_item", "read_item", "replace_item", "patch_item",
                                 "read_item", "execute_batch", "delete_item")
    ] + [f"read_database {container.database.id}"]
    host = proxy.url.split("//")[1].split(":")[0]
    for span in spans:
        check_names(span)
        attributes = span.attributes or {}
        assert span.kind is SpanKind.CLIENT
        assert attributes["db.system.name"] == CONVENTIONS["db.system.name"] == "azure.cosmosdb"
        assert attributes["db.namespace"] == container.database.id
        assert attributes["server.address"] == host
        assert attributes["azure.cosmosdb.connection.mode"] in CONVENTIONS["connection_modes"]
        assert attributes["azure.cosmosdb.consistency.level"] in CONVENTIONS["consistency_levels"]
        assert attributes["db.operation.name"] == span.name.split(" ")[0]
        assert attributes["azure.cosmosdb.operation.request_charge"] > 0
        assert "body-text-1" not in repr(dict(attributes))
    ok = [s for s in spans if s.status.status_code is not StatusCode.ERROR]
    assert {s.attributes["db.response.status_code"] for s in ok} <= {"200", "201", "204"}  # type: ignore[index]
    missing = spans[5].attributes or {}
    assert (missing["db.response.status_code"], missing["error.type"]) == ("404", "404")
    assert spans[5].status.status_code is StatusCode.ERROR
    assert spans[6].attributes["db.operation.batch.size"] == 2  # type: ignore[index]
    assert spans[0].attributes["db.collection.name"] == "items"  # type: ignore[index]


async def test_retries_under_429_and_503_are_events_on_the_operation_span(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy, otel: Otel
) -> None:
    client = make_client(**otel.options())
    container = through(client, fresh_container)
    await container.upsert_item({"id": "a", "pk": "p"})
    proxy.add_rule(Fault.throttle(retry_after_ms=1), kinds="read", times=2)
    proxy.add_rule(Fault.unavailable(), kinds="read", skip=0, times=1)
    await container.read_item("a", "p")

    read = otel.spans()[-1]
    check_names(read)
    assert read.name == "read_item items" and (read.attributes or {})["db.response.status_code"] == "200"
    events = [(e.name, dict(e.attributes or {})) for e in read.events]
    assert [e[0] for e in events] == ["aiocosmos.retry"] * 3
    statuses = sorted(e[1]["db.response.status_code"] for e in events)
    assert statuses == ["429", "429", "503"]
    assert [e[1]["aiocosmos.attempt"] for e in events] == [1, 2, 3]
    throttled = [e[1] for e in events if e[1]["db.response.status_code"] == "429"]
    assert all(e["azure.cosmosdb.response.sub_status_code"] == 3200 and e["error.type"] == "429" for e in throttled)

    retries = [p for p in otel.points("aiocosmos.client.operation.retries")
               if p.attributes["db.operation.name"] == "read_item"]
    throttles = [p for p in otel.points("aiocosmos.client.operation.throttles")
                 if p.attributes["db.operation.name"] == "read_item"]
    assert sum(p.value for p in retries) == 3 and sum(p.value for p in throttles) == 2


async def test_operation_metrics_carry_the_convention_attributes(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy, otel: Otel
) -> None:
    client = make_client(**otel.options())
    container = through(client, fresh_container)
    for n in range(3):
        await container.upsert_item({"id": f"i{n}", "pk": "p"})
    with pytest.raises(aiocosmos.NotFound):
        await container.read_item("missing", "p")
    metric_names = {m["name"] for m in CONVENTIONS["metrics"]}
    assert metric_names == {"db.client.operation.duration", "azure.cosmosdb.client.operation.request_charge"}
    durations = otel.points("db.client.operation.duration")
    upserts = [p for p in durations if p.attributes["db.operation.name"] == "upsert_item"]
    assert len(upserts) == 1 and upserts[0].count == 3 and upserts[0].sum > 0
    assert upserts[0].attributes["db.response.status_code"] in ("200", "201")
    failed = [p for p in durations if p.attributes.get("error.type") == "404"]
    assert len(failed) == 1 and failed[0].attributes["db.operation.name"] == "read_item"
    charges = [p for p in otel.points("azure.cosmosdb.client.operation.request_charge")
               if p.attributes["db.operation.name"] == "upsert_item"]
    assert charges and charges[0].sum > 0
    for point in durations + charges:
        for key in point.attributes:
            assert key in CONVENTION_NAMES, key
        assert "azure.cosmosdb.connection.mode" not in point.attributes


async def test_a_query_consumed_in_another_task_is_a_child_of_the_callers_span(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy, otel: Otel
) -> None:
    client = make_client(**otel.options())
    container = through(client, fresh_container)
    for n in range(5):
        await container.upsert_item({"id": f"i{n}", "pk": f"p{n % 2}"})
    tracer = otel.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        pager = container.query_items("SELECT * FROM c ORDER BY c.id", max_item_count=2)
    # Consumed later, by another task that has no span of its own.
    items = await asyncio.create_task(_collect(pager))
    assert [i["id"] for i in items] == [f"i{n}" for n in range(5)]

    spans = otel.spans()
    whole = [s for s in spans if s.kind is SpanKind.INTERNAL and s.name == "query_items items"]
    assert len(whole) == 1
    query = whole[0]
    check_names(query)
    assert query.parent is not None and query.parent.span_id == caller.get_span_context().span_id
    children = [s for s in spans if s.parent is not None and s.parent.span_id == query.context.span_id]
    assert len(children) >= 3  # the refused direct attempt / plan, then pages of each range
    assert all(s.kind is SpanKind.CLIENT and s.context.trace_id == query.context.trace_id for s in children)
    assert {s.name.split(" ")[0] for s in children} <= {"query_items", "query_plan", "read_all_partition_key_ranges",
                                                         "read_partition_key_range_feed", "read_container"}
    pages = [s for s in children if s.name == "query_items items" and s.status.status_code is not StatusCode.ERROR]
    assert pages
    attributes = query.attributes or {}
    assert attributes["aiocosmos.pages"] == 3
    total = sum((s.attributes or {}).get("azure.cosmosdb.operation.request_charge", 0.0) for s in children)
    assert attributes["azure.cosmosdb.operation.request_charge"] == pytest.approx(total)


async def test_a_partition_query_and_an_abandoned_query(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy, otel: Otel
) -> None:
    client = make_client(**otel.options())
    container = through(client, fresh_container)
    for n in range(4):
        await container.upsert_item({"id": f"i{n}", "pk": "p"})
    pages = container.query_items("SELECT * FROM c", partition_key="p", max_item_count=1).by_page()
    async for _ in pages:
        break
    await pages.aclose()  # type: ignore[attr-defined]
    whole = [s for s in otel.spans() if s.kind is SpanKind.INTERNAL]
    assert len(whole) == 1 and (whole[0].attributes or {})["aiocosmos.abandoned"] is True
    assert (whole[0].attributes or {})["aiocosmos.pages"] == 1


async def test_change_feed_pages_and_bulk_flushes(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy, otel: Otel
) -> None:
    client = make_client(**otel.options())
    container = through(client, fresh_container)
    summary = await container.bulk_upsert([{"id": f"b{n}", "pk": f"p{n % 3}"} for n in range(40)])
    assert summary.succeeded == 40
    async for _ in container.query_items_change_feed(start_time="Beginning"):
        pass
    spans = otel.spans()
    bulk = [s for s in spans if s.name == "execute_bulk items"]
    assert bulk and sum((s.attributes or {})["db.operation.batch.size"] for s in bulk) == 40  # type: ignore[misc]
    feed = [s for s in spans if s.name == "query_change_feed items"]
    assert feed and all((s.attributes or {})["db.response.status_code"] in ("200", "304") for s in feed)
    for span in spans:
        check_names(span)


async def _collect(pager: aiocosmos.AsyncItemPaged[Any]) -> list[Any]:
    return [item async for item in pager]
