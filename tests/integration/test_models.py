"""Models in and out (issue 15): items written as pydantic v2 models, dataclasses and attrs classes (datetime,
date, UUID, Decimal, enum fields included), read back with ``read_item(..., model=)`` and
``query_items(..., model=)``, against the local server; bad values fail before any I/O, naming the field."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pydantic
import pytest

import aiocosmos

WHEN = dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
STORED_WHEN = "2024-05-01T10:30:15.1234560Z"  # UTC, 7 fractional digits, as the service's own dates
ORDER_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


class Status(enum.Enum):
    OPEN = "open"
    SHIPPED = "shipped"


class Line(pydantic.BaseModel):
    sku: str
    qty: int


class PydanticOrder(pydantic.BaseModel):
    id: str
    pk: str
    placed: dt.datetime
    due: dt.date
    order_id: uuid.UUID
    total: Decimal
    status: Status
    lines: list[Line]


@dataclasses.dataclass
class DataclassLine:
    sku: str
    qty: int


@dataclasses.dataclass
class DataclassOrder:
    id: str
    pk: str
    placed: dt.datetime
    due: dt.date
    order_id: uuid.UUID
    total: Decimal
    status: Status
    lines: list[DataclassLine]
    note: str | None = None


@attrs.define
class AttrsOrder:
    id: str
    pk: str
    placed: dt.datetime
    due: dt.date
    order_id: uuid.UUID
    total: Decimal
    status: Status
    lines: list[dict[str, Any]]


def stored_form(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "pk": "p", "placed": STORED_WHEN, "due": "2024-06-01", "order_id": str(ORDER_ID),
            "total": "19.99", "status": "open", "lines": [{"sku": "a", "qty": 2}]}


def make(cls: type, item_id: str) -> Any:
    line = {PydanticOrder: Line, DataclassOrder: DataclassLine}.get(cls)
    lines = [line(sku="a", qty=2)] if line else [{"sku": "a", "qty": 2}]
    return cls(id=item_id, pk="p", placed=WHEN, due=dt.date(2024, 6, 1), order_id=ORDER_ID,
               total=Decimal("19.99"), status=Status.OPEN, lines=lines)


@pytest.mark.parametrize("cls", [PydanticOrder, DataclassOrder, AttrsOrder])
async def test_a_model_round_trips_with_its_typed_fields(container: aiocosmos.ContainerProxy, cls: type) -> None:
    written = await container.create_item(make(cls, "o1"))
    stored = await container.read_item("o1", "p")
    extra = {"note": None} if cls is DataclassOrder else {}  # every field is written, None too
    assert {k: v for k, v in stored.items() if not k.startswith("_")} == {**stored_form("o1"), **extra}
    assert written.request_charge >= 0 and written["placed"] == STORED_WHEN

    back = await container.read_item("o1", "p", model=cls)
    assert type(back) is cls
    expected = make(cls, "o1")
    assert back == expected  # placed comes back in UTC: the same instant
    assert back.placed.utcoffset() == dt.timedelta(0)
    assert container.client_connection.last_response_headers["x-ms-request-charge"]  # the metadata is reachable

    await container.upsert_item(make(cls, "o2"))
    pager = container.query_items("SELECT * FROM c WHERE c.status = @s ORDER BY c.id", parameters=[
        {"name": "@s", "value": "open"}], partition_key="p", model=cls)
    assert [order.id async for order in pager] == ["o1", "o2"]
    pages = [page async for page in pager.by_page()]
    assert all(type(order) is cls for page in pages for order in page.items)
    assert sum(page.request_charge for page in pages) > 0 and pager.get_response_headers()


async def test_a_plain_dict_takes_the_same_values(container: aiocosmos.ContainerProxy) -> None:
    await container.create_item({"id": "d1", "pk": ORDER_ID, "at": WHEN, "total": Decimal("1.5"), "s": Status.SHIPPED})
    stored = await container.read_item("d1", str(ORDER_ID))  # a UUID key is stored (and found) as its string
    assert (stored["pk"], stored["at"], stored["total"], stored["s"]) == (str(ORDER_ID), STORED_WHEN, "1.5", "shipped")


async def test_bad_values_fail_before_io_naming_the_field(container: aiocosmos.ContainerProxy) -> None:
    naive = dataclasses.replace(make(DataclassOrder, "bad"), placed=dt.datetime(2024, 1, 1))
    with pytest.raises(aiocosmos.ValidationError, match=r"/placed .*naive datetime"):
        await container.create_item(naive)
    with pytest.raises(aiocosmos.ValidationError, match=r"/lines/0/qty .*set"):
        await container.upsert_item({"id": "x", "pk": "p", "lines": [{"qty": {1, 2}}]})
    with pytest.raises(aiocosmos.ValidationError, match=r"/total .*non-finite Decimal"):
        await container.upsert_item({"id": "x", "pk": "p", "total": Decimal("NaN")})
    with pytest.raises(aiocosmos.ValidationError, match="must be a dict, a dataclass"):
        await container.create_item(["not", "an", "item"])  # type: ignore[arg-type]
    with pytest.raises(aiocosmos.ValidationError, match="a 304 has no item"):
        await container.read_item("x", "p", if_none_match='"e"', model=DataclassOrder)
    with pytest.raises(aiocosmos.ValidationError, match="model must be a class"):
        container.query_items("SELECT * FROM c", model="Order")  # type: ignore[call-overload]
    assert [item async for item in container.read_all_items()] == []  # nothing was written


class UpperSerializer:
    """A serializer of one's own (as a msgspec or cattrs adapter would be): here, a tagged tuple format."""

    def to_document(self, value: object) -> dict[str, Any]:
        item_id, pk, name = value  # type: ignore[misc]
        return {"id": item_id, "pk": pk, "name": name.upper()}

    def from_document(self, document: dict[str, Any], model: type[Any]) -> Any:
        return model((document["id"], document["name"]))


async def test_a_pluggable_serializer_turns_bodies_and_results(
    database: aiocosmos.DatabaseProxy, cosmos_server: Any
) -> None:
    options = aiocosmos.ClientOptions(serializer=UpperSerializer())
    async with aiocosmos.CosmosClient(cosmos_server.url, credential=cosmos_server.key, options=options) as client:
        container = await client.get_database_client(database.id).create_container(
            "custom", partition_key=aiocosmos.PartitionKey("/pk"))
        await container.create_item(("t1", "p", "ada"))  # type: ignore[arg-type]
        assert await container.read_item("t1", "p", model=tuple) == ("t1", "ADA")
        assert [row async for row in container.query_items("SELECT * FROM c", model=tuple)] == [("t1", "ADA")]
