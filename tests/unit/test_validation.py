"""Input validation of values that never reach the network."""

from __future__ import annotations

import math

import pytest

import aiocosmos
from aiocosmos._wire import codec as _codec
from aiocosmos._wire.paths import PartitionKey, partition_key_header, validate_id


@pytest.mark.parametrize("bad", ["a/b", "a\\b", "a?b", "a#b", "", "tab\there", "trailing ", 5, None])
def test_bad_ids_are_refused_with_the_value_named(bad: object) -> None:
    with pytest.raises(aiocosmos.ValidationError) as info:
        validate_id(bad, "item id")
    assert "item id" in str(info.value)
    if isinstance(bad, str) and bad:
        assert repr(bad) in str(info.value)


@pytest.mark.parametrize("good", ["plain", "with space", "café ☕", "ü+x;y", "a=b&c", "x" * 1023])
def test_good_ids(good: str) -> None:
    assert validate_id(good, "item id") == good


def test_too_long_id() -> None:
    with pytest.raises(aiocosmos.ValidationError, match="1023"):
        validate_id("é" * 600, "item id")


@pytest.mark.parametrize(
    ("document", "where"),
    [({"id": "x", "v": math.nan}, "/v"), ({"id": "x", "a": [1, {"b": math.inf}]}, "/a/1/b"),
     ({"id": "x", "v": -math.inf}, "/v")],
)
def test_non_finite_numbers_are_refused(document: dict[str, object], where: str) -> None:
    with pytest.raises(aiocosmos.ValidationError, match=where):
        _codec.dumps_document(document)


def test_null_is_still_fine() -> None:
    assert _codec.dumps_document({"id": "x", "v": None, "f": 1.5}) == b'{"id":"x","v":null,"f":1.5}'


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes"])
def test_non_json_values_are_refused(value: object) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="not JSON-serialisable"):
        _codec.dumps_document({"id": "x", "v": value})


def test_datetime_is_refused_not_stringified() -> None:
    import datetime

    with pytest.raises(aiocosmos.ValidationError):
        _codec.dumps_document({"id": "x", "when": datetime.datetime(2026, 1, 1)})


def test_document_size_limit() -> None:
    _codec.dumps_document({"id": "x", "blob": "a" * (2 * 1024 * 1024 - 30)})
    with pytest.raises(aiocosmos.ValidationError, match="2097152"):
        _codec.dumps_document({"id": "x", "blob": "a" * (2 * 1024 * 1024)})


def test_partition_key_definitions() -> None:
    assert PartitionKey("/pk").to_json() == {"paths": ["/pk"], "kind": "Hash", "version": 2}
    hierarchical = PartitionKey(["/tenant", "/user", "/session"])
    assert hierarchical.kind == "MultiHash"
    with pytest.raises(aiocosmos.ValidationError, match="1 to 3"):
        PartitionKey(["/a", "/b", "/c", "/d"])
    with pytest.raises(aiocosmos.ValidationError, match="'pk'"):
        PartitionKey("pk")


def test_partition_key_header_values_and_arity() -> None:
    single, multi = PartitionKey("/pk"), PartitionKey(["/a", "/b"])
    assert single.header_for("x") == '["x"]'
    assert single.header_for(5) == "[5]"
    assert single.header_for(None) == "[null]"
    assert single.header_for(aiocosmos.NonePartitionKeyValue) == "[{}]"
    assert single.header_for("café") == '["caf\\u00e9"]'  # headers must be ASCII
    assert multi.header_for(["t", "u"]) == '["t","u"]'
    with pytest.raises(aiocosmos.ValidationError, match="needs a list of 2"):
        multi.header_for("t")
    with pytest.raises(aiocosmos.ValidationError, match="exactly 2"):
        multi.header_for(["t", "u", "v"])
    with pytest.raises(aiocosmos.ValidationError, match="dict"):
        partition_key_header([{"a": 1}])


def test_partition_key_from_documents() -> None:
    nested = PartitionKey("/a/b")
    assert nested.header_from_document({"a": {"b": 7}}) == "[7]"
    assert nested.header_from_document({"a": 1}) == "[{}]"
    assert PartitionKey("/pk").header_from_document({"id": "x"}) == "[{}]"
    assert PartitionKey(["/t", "/u"]).header_from_document({"t": "x", "u": False}) == '["x",false]'
    assert PartitionKey('/"a/b"/c').header_from_document({"a/b": {"c": "q"}}) == '["q"]'


def test_options_are_validated() -> None:
    with pytest.raises(aiocosmos.ConfigurationError, match="max_connections"):
        aiocosmos.ConnectionLimits(max_connections=0)
    with pytest.raises(aiocosmos.ConfigurationError, match="read"):
        aiocosmos.Timeouts(read=-1)
    with pytest.raises(aiocosmos.ConfigurationError, match="consistency_level"):
        aiocosmos.ClientOptions(consistency_level="Strongest")


def test_public_api_is_pinned() -> None:
    assert "CosmosClient" in aiocosmos.__all__ and "PartitionKey" in aiocosmos.__all__
    assert aiocosmos.CosmosClient.__module__ == "aiocosmos"
    for name in aiocosmos.__all__:
        assert hasattr(aiocosmos, name), name


@pytest.mark.parametrize(
    ("document", "where"),
    [({"id": "x", "n": 2**53 + 1}, "/n an integer 9007199254740993 beyond 2**53, which the service would return "
                                   "as 9007199254740992"),
     ({"id": "x", "a": [1, {"s": {1, 2}}]}, "/a/1/s (set value {1, 2})"),
     ({"id": "x", "m": {1: "one"}}, "/m (non-string key 1)")],
)
def test_unserialisable_values_are_located(document: dict[str, object], where: str) -> None:
    with pytest.raises(aiocosmos.ValidationError) as info:
        _codec.dumps_document(document)
    assert f"at {where}" in str(info.value)


@pytest.mark.parametrize("bad", ["a\ud800b", "\udfff", "x" * 300 + "\ud83d"])
def test_lone_surrogate_ids_are_refused_naming_the_value(bad: str) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="lone surrogate") as info:
        validate_id(bad, "item id")
    assert "item id" in str(info.value) and repr(bad)[:60] in str(info.value)


async def test_lone_surrogate_id_fails_before_any_io() -> None:
    # No server: a request would fail with a connection error, not a ValidationError.
    async with aiocosmos.CosmosClient("http://127.0.0.1:9", credential="a2V5") as client:
        container = client.get_database_client("d").get_container_client("c")
        with pytest.raises(aiocosmos.ValidationError, match="lone surrogate"):
            await container.read_item("a\ud800", partition_key="p")
        with pytest.raises(aiocosmos.ValidationError, match="lone surrogate"):
            await container.delete_item("a\udc00", partition_key="p")


def test_lone_surrogates_in_documents_and_keys_are_located() -> None:
    with pytest.raises(aiocosmos.ValidationError, match=r"/a/1 \(string 'x\\ud800'"):
        _codec.dumps_document({"id": "x", "a": [1, "x\ud800"]})
    with pytest.raises(aiocosmos.ValidationError, match="lone surrogate"):
        _codec.dumps_document({"id": "x", "k\udc00": 1})
    with pytest.raises(aiocosmos.ValidationError, match=r"partition key value 'p\\ud800'.*lone surrogate"):
        partition_key_header(["p\ud800"])


def test_partition_key_values_over_2_kb_are_refused_naming_the_value() -> None:
    assert partition_key_header(["k" * 2048]) == '["' + "k" * 2048 + '"]'
    assert partition_key_header(["é" * 1024])                       # 2048 bytes as UTF-8
    for value in ("k" * 2049, "é" * 1025):
        with pytest.raises(aiocosmos.ValidationError, match=r"partition key value .* 2050 bytes|2049 bytes") as info:
            partition_key_header([value])
        assert "2048" in str(info.value) and repr(value)[:40] in str(info.value)
    definition = PartitionKey(["/tenant", "/user"])
    with pytest.raises(aiocosmos.ValidationError, match="2048"):
        definition.header_from_document({"tenant": "t", "user": "u" * 3000})
    with pytest.raises(aiocosmos.ValidationError, match="2048"):
        definition.header_for(["t", "u" * 3000])
