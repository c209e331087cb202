"""Master-key signing on the documented test vector, and the links each kind of request signs."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote, unquote

import pytest

import aiocosmos
from aiocosmos._wire.auth import MasterKeySigner, ResourceTokenSigner
from aiocosmos._wire.clock import DateCache
from aiocosmos.testing import FakeClock

DOC_KEY = "dsZQi3KtZmCv1ljt3VNWNm7sQUF1y5rJfC6kv5JiwvW0EndXdDku/dkKBp8/ufDToSxLzR4y+O/0H/t4bQtVNw=="
DOC_DATE = "Thu, 27 Apr 2017 00:51:12 GMT"


def reference_signature(verb: str, rtype: str, link: str, date: str, key: str) -> str:
    """The string-to-sign as the REST reference writes it, computed independently of aiocosmos."""
    text = f"{verb.lower()}\n{rtype.lower()}\n{link}\n{date.lower()}\n\n"
    digest = hmac.new(base64.b64decode(key), text.encode(), hashlib.sha256).digest()
    return quote(f"type=master&ver=1.0&sig={base64.b64encode(digest).decode()}", safe="-_.!~*'()")


def test_documented_test_vector() -> None:
    header = MasterKeySigner(DOC_KEY).sign("get", "dbs", "dbs/ToDoList", DOC_DATE.lower())
    assert header == "type%3Dmaster%26ver%3D1.0%26sig%3Dc09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHyqlu%2Bc%2Bc%3D"
    assert unquote(header).endswith("sig=c09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHyqlu+c+c=")


@pytest.mark.parametrize(
    ("verb", "rtype", "link"),
    [
        ("get", "", ""),  # database account
        ("post", "dbs", ""),  # create / query databases
        ("post", "docs", "dbs/db1/colls/c1"),  # create / query documents: the parent link
        ("get", "docs", "dbs/db1/colls/c1/docs/doc 1 ü+x"),  # item link, unescaped
        ("get", "offers", "hu+t"),  # offer rid, lowercased
        ("get", "colls", "xp0maj3h-aa="),  # rid-based link: last rid, lowercased
        ("patch", "docs", "dbs/Db/colls/C/docs/CaseKept"),
        ("post", "sprocs", "dbs/db1/colls/c1/sprocs/sp1"),
    ],
)
def test_signature_matches_reference(verb: str, rtype: str, link: str) -> None:
    assert MasterKeySigner(DOC_KEY).sign(verb, rtype, link, DOC_DATE.lower()) == reference_signature(
        verb, rtype, link, DOC_DATE, DOC_KEY
    )


def test_signature_changes_with_every_input() -> None:
    signer = MasterKeySigner(DOC_KEY)
    base = signer.sign("get", "docs", "dbs/a/colls/b/docs/c", DOC_DATE.lower())
    assert signer.sign("put", "docs", "dbs/a/colls/b/docs/c", DOC_DATE.lower()) != base
    assert signer.sign("get", "colls", "dbs/a/colls/b/docs/c", DOC_DATE.lower()) != base
    assert signer.sign("get", "docs", "dbs/a/colls/b/docs/C", DOC_DATE.lower()) != base
    assert signer.sign("get", "docs", "dbs/a/colls/b/docs/c", "thu, 27 apr 2017 00:51:13 gmt") != base


@pytest.mark.parametrize("bad", ["", "   ", "not base64!!", "abc"])
def test_bad_key_fails_at_construction_without_echoing_it(bad: str) -> None:
    with pytest.raises(aiocosmos.ConfigurationError) as info:
        aiocosmos.CosmosClient("https://acct.documents.azure.com:443/", credential=bad)
    if bad.strip():
        assert bad.strip() not in str(info.value)


def test_signer_repr_hides_the_key() -> None:
    assert DOC_KEY not in repr(MasterKeySigner(DOC_KEY))
    client = aiocosmos.CosmosClient("https://acct.documents.azure.com/", credential=DOC_KEY)
    assert DOC_KEY not in repr(client) and DOC_KEY not in repr(vars(client) if hasattr(client, "__dict__") else "")


def test_resource_tokens_pick_the_longest_covering_link() -> None:
    signer = ResourceTokenSigner({"dbs/db/colls/c": "type=resource&ver=1&sig=coll;x", "dbs/db/colls/c/docs/d":
                                  "type=resource&ver=1&sig=doc;y"})
    assert unquote(signer.sign("get", "docs", "dbs/db/colls/c/docs/d", "")) == "type=resource&ver=1&sig=doc;y"
    assert unquote(signer.sign("get", "docs", "dbs/db/colls/c/docs/other", "")) == "type=resource&ver=1&sig=coll;x"
    assert unquote(signer.sign("post", "docs", "dbs/db/colls/c", "")) == "type=resource&ver=1&sig=coll;x"
    with pytest.raises(aiocosmos.ValidationError, match="dbs/db/colls/other"):
        signer.sign("get", "docs", "dbs/db/colls/other/docs/d", "")
    assert "sig=" not in repr(signer)


def test_date_is_formatted_once_per_second() -> None:
    clock = FakeClock(start_time=1493254272.2)  # Thu, 27 Apr 2017 00:51:12 GMT
    dates = DateCache(clock)
    first = dates.get()
    assert first == (DOC_DATE, DOC_DATE.lower())
    clock.advance(0.5)
    assert dates.get() is not None and dates.get()[0] is first[0]  # same second: the cached string object
    clock.advance(0.5)
    assert dates.get()[0] == "Thu, 27 Apr 2017 00:51:13 GMT"


def test_connection_string_parsing() -> None:
    client = aiocosmos.CosmosClient.from_connection_string(
        f"AccountEndpoint=https://acct.documents.azure.com:443/;AccountKey={DOC_KEY};"
    )
    assert repr(client) == "CosmosClient(url='https://acct.documents.azure.com:443', state=unopened)"
    with pytest.raises(aiocosmos.ConfigurationError, match="AccountKey"):
        aiocosmos.CosmosClient.from_connection_string("AccountEndpoint=https://a.documents.azure.com/;")
    with pytest.raises(aiocosmos.ConfigurationError, match="AccountEndpoint"):
        aiocosmos.CosmosClient.from_connection_string(f"AccountKey={DOC_KEY}")
    with pytest.raises(aiocosmos.ConfigurationError) as info:
        aiocosmos.CosmosClient.from_connection_string("AccountEndpoint=ftp://x;AccountKey=" + DOC_KEY)
    assert DOC_KEY not in str(info.value)
