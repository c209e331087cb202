"""The traced pipeline builds no attribute dict per request: the attributes of an (operation, link) and of
each outcome are built once and shared. That must not mix outcomes or targets up: alternating successes
and errors on two containers give each span and metric point its own status and names."""

from __future__ import annotations

import pytest

import aiocosmos
from aiocosmos._telemetry import tracing
from aiocosmos.testing import FakeClock, Fault, FaultProxy
from tests.faults.conftest import ClientFactory, through
from tests.faults.test_tracing import Otel, otel  # noqa: F401 (the fixture)


async def test_shared_attributes_keep_each_outcome_and_target_apart(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    otel: Otel,  # noqa: F811
) -> None:
    client = make_client(clock=FakeClock(), **otel.options())
    container = through(client, fresh_container)
    other = await container.database.create_container("other", partition_key=aiocosmos.PartitionKey("/pk"))
    other = through(client, other)
    await container.upsert_item({"id": "a", "pk": "p"})
    await other.upsert_item({"id": "a", "pk": "p"})
    start = len(otel.spans())
    expected = []
    for _ in range(3):
        for target in (container, other):
            await target.read_item("a", "p")
            expected.append((target.id, "200", None))
            with pytest.raises(aiocosmos.NotFound):
                await target.read_item("missing", "p")
            expected.append((target.id, "404", "404"))
    proxy.add_rule(Fault.reset_before(), kinds="read")
    with pytest.raises(aiocosmos.TransportError):
        await container.read_item("a", "p")
    expected.append((container.id, None, "aiocosmos.exceptions.ReadError"))

    spans = otel.spans()[start:]
    got = [((s.attributes or {})["db.collection.name"], (s.attributes or {}).get("db.response.status_code"),
            (s.attributes or {}).get("error.type")) for s in spans]
    assert got == expected
    telemetry = client._core.telemetry
    assert telemetry is not None
    reads = [key for key in telemetry._bases if key[0] == "read_item"]
    assert len(reads) == 4  # (read_item, link) per item link: built once, reused by every round
    # The shared base dicts were not changed by any outcome.
    for _, attributes, metric in telemetry._bases.values():
        assert "db.response.status_code" not in attributes and "error.type" not in metric
    points = otel.points("db.client.operation.duration")
    by_outcome = {(p.attributes["db.collection.name"], p.attributes.get("db.response.status_code"),
                   p.attributes.get("error.type")): p.count for p in points if p.attributes["db.operation.name"] ==
                  "read_item"}
    assert by_outcome[("items", "200", None)] >= 3 and by_outcome[("other", "404", "404")] == 3
    assert tracing.BATCH_SIZE.get() is None  # reads never set it
