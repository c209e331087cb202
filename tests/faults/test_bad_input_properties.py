"""Bad input, property-based: path building, signing inputs and continuation tokens, for any input
Hypothesis can think of; plus the bad-input cases tests/unit and tests/client do not already cover
(malformed connection strings, unknown options). Each refusal happens before any I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import string
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from yarl import URL

import aiocosmos
from aiocosmos._feeds.core import query_body
from aiocosmos._feeds.paging import AsyncItemPaged, request_fingerprint
from aiocosmos._wire.auth import MasterKeySigner
from aiocosmos._wire.paths import MAX_ID_BYTES, PartitionKey, quote_id, validate_id

# Deterministic in CI (no flaky seeds), and no example database written into the work tree.
PROPERTIES = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])

KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
FORBIDDEN = set("/\\?#\t\r\n")
ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


def valid(value: str) -> bool:
    return (bool(value) and not (set(value) & FORBIDDEN) and not value.endswith(" ")
            and len(value.encode()) <= MAX_ID_BYTES)


# -- path building ---------------------------------------------------------------------------------

CLIENT = aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential=KEY)
"""Never opened: only its database and container proxies are used."""


@PROPERTIES
@given(ids)
@example("a/b")
@example("trailing ")
@example("é" * 600)
def test_ids_are_refused_exactly_when_the_service_could_not_address_them(value: str) -> None:
    if valid(value):
        assert validate_id(value, "item id") == value
    else:
        with pytest.raises(aiocosmos.ValidationError, match="item id"):
            validate_id(value, "item id")


@PROPERTIES
@given(database=ids, container=ids, item=ids)
@example("db", "c", "100% + ü ;x")
def test_paths_round_trip_to_the_link_that_is_signed(database: str, container: str, item: str) -> None:
    """The URL path is percent-encoded once (yarl must not re-quote it); decoding it gives back exactly
    the name-based link that the request is signed with, which is how the service checks it."""
    assume(valid(database) and valid(container) and valid(item))
    proxy = CLIENT.get_database_client(database).get_container_client(container)
    path = proxy._docs_path + "/" + quote_id(item)
    link = proxy._docs_link + item

    assert path.isascii() and " " not in path
    assert [unquote(segment) for segment in path.split("/")[1:]] == ["dbs", database, "colls", container, "docs", item]
    assert unquote(path).lstrip("/") == link == f"dbs/{database}/colls/{container}/docs/{item}"
    assert URL("https://acct.documents.azure.com:443" + path, encoded=True).raw_path == path


scalars = st.one_of(
    st.text(max_size=20), st.booleans(), st.none(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)


@PROPERTIES
@given(st.lists(scalars, min_size=1, max_size=3), st.integers(min_value=1, max_value=3))
def test_partition_key_headers_are_ascii_json_of_the_values_with_the_right_arity(
    values: list[Any], levels: int
) -> None:
    key = PartitionKey([f"/k{n}" for n in range(levels)])
    if len(values) != levels:
        with pytest.raises(aiocosmos.ValidationError, match="components"):
            key.header_for(values)
        return
    header = key.header_for(values)
    assert header.isascii()
    assert json.loads(header) == values


@PROPERTIES
@given(st.one_of(st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.sets(st.integers(), max_size=2),
                 st.binary(max_size=3), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)))
def test_bad_partition_key_values_are_refused(value: Any) -> None:
    with pytest.raises(aiocosmos.ValidationError):
        PartitionKey("/pk").header_for(value)


# -- signing inputs --------------------------------------------------------------------------------

SAFE_HEADER = re.compile(r"^[A-Za-z0-9%._~!*'()-]+$")


@PROPERTIES
@given(
    key=st.binary(min_size=1, max_size=64),
    verb=st.sampled_from(["get", "post", "put", "patch", "delete", "head"]),
    resource_type=st.sampled_from(["", "dbs", "colls", "docs", "sprocs", "pkranges", "offers", "users"]),
    link=st.text(max_size=80),
    date=st.text(string.ascii_lowercase + string.digits + " ,:", max_size=30),
)
def test_signatures_match_the_documented_algorithm_and_are_header_safe(
    key: bytes, verb: str, resource_type: str, link: str, date: str
) -> None:
    encoded_key = base64.b64encode(key).decode()
    header = MasterKeySigner(encoded_key).sign(verb, resource_type, link, date)

    text = f"{verb}\n{resource_type}\n{link}\n{date}\n\n"
    digest = base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode()
    assert header == quote(f"type=master&ver=1.0&sig={digest}", safe="-_.!~*'()")
    assert SAFE_HEADER.match(header)
    assert encoded_key not in header and encoded_key.rstrip("=") not in unquote(header)


@PROPERTIES
@given(st.text(max_size=40))
@example("not base64 at all: s3cr3t!!")
@example("c2VjcmV0IGtleQ")
@example("   ")
def test_keys_that_are_not_base64_are_refused_without_echoing_them(key: str) -> None:
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except ValueError:
        raw = b""
    if raw:
        MasterKeySigner(key)
        return
    with pytest.raises(aiocosmos.ConfigurationError) as info:
        aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential=key)
    with pytest.raises(aiocosmos.ConfigurationError) as neutral:
        aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential="\x00" * len(key))
    if len(key.strip()) >= 6 and key.strip() in str(info.value):  # (shorter strings occur in any sentence)
        # Only where the message's own words hold it (hypothesis finds keys like "key mu"): not an echo.
        assert key.strip() in str(neutral.value), str(info.value)


# -- continuation tokens ---------------------------------------------------------------------------


async def _no_fetch(token: str | None) -> Any:
    raise AssertionError("no I/O may happen while a token is checked")


def pager(*parts: str) -> AsyncItemPaged[Any]:
    return AsyncItemPaged(_no_fetch, request_fingerprint(*parts))


service_tokens = st.one_of(
    st.text(min_size=1, max_size=200),
    st.builds(lambda rid, n: json.dumps({"token": f"+RID:{rid}#RT:{n}#TRC:{n * 100}",
                                         "range": {"min": "", "max": "FF"}}),
              st.text(string.ascii_letters + "+/=", min_size=4, max_size=30), st.integers(0, 10**6)),
)


@PROPERTIES
@given(service_tokens)
def test_continuation_tokens_round_trip_exactly(service_token: str) -> None:
    ours = pager("POST", "/dbs/d/colls/c/docs", "SELECT * FROM c")
    wrapped = ours._encode(service_token)
    assert wrapped.isascii()
    assert ours._decode(wrapped) == service_token
    ours.by_page(continuation_token=wrapped)  # accepted, no I/O until iterated


@PROPERTIES
@given(service_tokens, st.text(max_size=20))
def test_a_token_of_another_request_is_refused(service_token: str, other_query: str) -> None:
    assume(other_query != "SELECT * FROM c")
    wrapped = pager("POST", "/dbs/d/colls/c/docs", "SELECT * FROM c")._encode(service_token)
    with pytest.raises(aiocosmos.InvalidContinuationToken, match="different request"):
        pager("POST", "/dbs/d/colls/c/docs", other_query).by_page(continuation_token=wrapped)


@PROPERTIES
@given(service_tokens, st.data())
def test_garbled_tokens_never_resume_somewhere_else(service_token: str, data: st.DataObject) -> None:
    """Any edit of one character, and any truncation, is refused before I/O, or (for an edit that
    base64 ignores) still decodes to exactly the same service token. Never to another one."""
    ours = pager("GET", "/dbs/d/colls/c/docs")
    wrapped = ours._encode(service_token)
    position = data.draw(st.integers(0, len(wrapped) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != wrapped[position]))
    edited = wrapped[:position] + replacement + wrapped[position + 1:]
    cut = wrapped[: data.draw(st.integers(0, len(wrapped) - 1))]
    for garbled in (edited, cut):
        try:
            decoded = ours._decode(garbled)
        except aiocosmos.InvalidContinuationToken:
            continue
        assert decoded == service_token, (garbled, decoded)


# -- query parameters ------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.text(max_size=10), st.integers(-(2**53) + 1, 2**53 - 1),
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@PROPERTIES
@given(st.lists(st.tuples(st.text(string.ascii_letters, min_size=1, max_size=8), json_values), max_size=4))
def test_query_parameters_are_sent_as_given(parameters: list[tuple[str, Any]]) -> None:
    shaped = [{"name": f"@{name}", "value": value} for name, value in parameters]
    assert json.loads(query_body("SELECT * FROM c", shaped)) == {"query": "SELECT * FROM c", "parameters": shaped}


@PROPERTIES
@given(st.one_of(
    st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2),   # a dict, not a list
    st.lists(st.text(max_size=5), min_size=1, max_size=2),                          # bare values
    st.lists(st.fixed_dictionaries({"name": st.text(string.ascii_letters, max_size=4)}), min_size=1, max_size=2),
    st.lists(st.fixed_dictionaries({"name": st.just("@x"), "value": st.just(math.nan)}), min_size=1, max_size=1),
))
def test_wrongly_shaped_query_parameters_are_refused(parameters: Any) -> None:
    with pytest.raises(aiocosmos.ValidationError):
        query_body("SELECT * FROM c WHERE c.x = @x", parameters)


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("connection_string", "named"), [
    ("", "empty"),
    ("   ", "empty"),
    ("AccountEndpoint", "no '='"),
    ("AccountEndpoint=https://a.documents.azure.com/;AccountKey", "no '='"),
    ("AccountKey=" + KEY, "no AccountEndpoint"),
    ("AccountEndpoint=https://a.documents.azure.com/;", "no AccountKey"),
    ("AccountEndpoint=https://a.documents.azure.com/;AccountKey=;", "no AccountKey"),
    ("AccountEndpoint=ftp://a;AccountKey=" + KEY, "account URL"),
    ("AccountEndpoint=not a url;AccountKey=" + KEY, "account URL"),
    ("AccountEndpoint=https://a.documents.azure.com/;AccountKey=%%%not-base64%%%", "not valid base64"),
])
def test_malformed_connection_strings_are_refused_with_a_reason(connection_string: str, named: str) -> None:
    with pytest.raises(aiocosmos.ConfigurationError, match=named) as info:
        aiocosmos.CosmosClient.from_connection_string(connection_string)
    assert KEY not in str(info.value) and "%%%not-base64%%%" not in str(info.value)


def test_unknown_options_are_refused_before_any_io() -> None:
    client = aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential=KEY)
    container = client.get_database_client("db").get_container_client("c")
    with pytest.raises(TypeError, match="partition_keys"):
        container.query_items("SELECT * FROM c", partition_keys=["a"])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="retry_total"):
        aiocosmos.ClientOptions(retry_total=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="max_retries"):
        aiocosmos.RetryPolicy(max_retries=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="timeout_ms"):
        aiocosmos.Timeouts(timeout_ms=3)  # type: ignore[call-arg]
    with pytest.raises(aiocosmos.ConfigurationError, match="options must be a ClientOptions"):
        aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential=KEY,
                               options={"verify_tls": False})  # type: ignore[arg-type]
    assert client._http is None  # nothing was opened
