"""How values JSON has no type for are written (aiocosmos/_wire/models.py), and that pydantic stays optional."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from decimal import Decimal

import orjson
import pytest

from aiocosmos._wire import codec
from aiocosmos.exceptions import ValidationError


def test_values_are_written_as_cosmos_users_store_them() -> None:
    east = dt.timezone(dt.timedelta(hours=-5))
    value = {"at": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=east), "day": dt.date(2024, 2, 29),
             "t": dt.time(8, 30), "u": uuid.UUID(int=1), "d": Decimal("0.10"), "n": [Decimal("1E+2")]}
    assert orjson.loads(codec.dumps(value)) == {
        "at": "2024-01-02T08:04:05.0000060Z", "day": "2024-02-29", "t": "08:30:00",
        "u": "00000000-0000-0000-0000-000000000001", "d": "0.10", "n": ["1E+2"]}


@pytest.mark.parametrize(("value", "where"), [
    ({"a": {"b": dt.datetime(2024, 1, 1)}}, "/a/b (naive datetime"),
    ({"a": [Decimal("Infinity")]}, "/a/0 (non-finite Decimal"),
    ({"a": dt.time(1, tzinfo=dt.UTC)}, "/a (time"),
    ({"a": {1, 2}}, "/a (set value"),
])
def test_a_value_that_cannot_be_written_is_named_by_its_path(value: object, where: str) -> None:
    with pytest.raises(ValidationError, match=f"document is not JSON-serialisable at {where}".replace("(", r"\(")):
        codec.dumps(value, what="document")


def test_importing_aiocosmos_does_not_import_pydantic() -> None:
    code = "import sys, aiocosmos; c = aiocosmos.ClientOptions(); sys.exit('pydantic' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
