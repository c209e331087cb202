"""Lease documents: the three official forms are read, v0 is written field by field as .NET writes it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from aiocosmos import FeedRange, ValidationError
from aiocosmos._processor.leases import (
    Lease,
    format_timestamp,
    lease_id,
    lease_prefix,
    mode_of,
    parse_lease,
    parse_timestamp,
)

FIXTURES = Path(__file__).parent / "fixtures" / "cfp"
PREFIX = "projectionsmyaccount.documents.azure.com_Tl4hAA==_Tl4hAOMR2Xs="


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_the_prefix_and_ids_follow_the_sdks_scheme() -> None:
    prefix = lease_prefix("projections", "myaccount.documents.azure.com", "Tl4hAA==", "Tl4hAOMR2Xs=")
    assert prefix == PREFIX
    assert lease_id(prefix, "0") == PREFIX + "..0"
    assert fixture("dotnet_v0_full.json")["id"] == lease_id(prefix, "0")


def test_the_dotnet_in_memory_test_leases_are_read() -> None:
    first, second = (parse_lease(doc) for doc in fixture("dotnet_inmemory_v0.json"))
    assert (first.token, first.owner, first.continuation, first.version) == ("0", "o1", "c1", 0)
    assert (second.token, second.owner, second.continuation) == ("1", "o2", "c2")
    assert first.timestamp is None and first.last_updated == 0.0


def test_a_dotnet_v0_lease_is_read_and_written_back_field_by_field() -> None:
    doc = fixture("dotnet_v0_full.json")
    lease = parse_lease(doc)
    assert lease.token == "0" and not lease.is_epk and not lease.is_java_epk
    assert lease.feed_range == FeedRange("", "05C1DFFFFFFFF8")
    assert lease.owner == "host-a"
    assert lease.etag_continuation == '"118"'
    assert lease.etag == doc["_etag"] and lease.server_ts == doc["_ts"]
    assert lease.timestamp == pytest.approx(1710333296.1234567)
    assert mode_of(lease.mode) == "LatestVersion"
    written = lease.to_document()
    system = {"_etag", "_ts", "_rid", "_self", "_attachments"}
    assert written == {k: v for k, v in doc.items() if k not in system}
    assert list(written) == ["id", "version", "LeaseToken", "FeedRange", "Owner", "ContinuationToken",
                             "timestamp", "properties", "Mode"]


def test_a_dotnet_v1_epk_lease_is_read() -> None:
    lease = parse_lease(fixture("dotnet_v1_epk.json"))
    assert lease.is_epk and not lease.is_java_epk
    assert lease.token == "05C1DFFFFFFFF8-0BFFFFFFFFFFEA"
    assert lease.feed_range == FeedRange("05C1DFFFFFFFF8", "0BFFFFFFFFFFEA")
    assert lease.owner is None and lease.etag_continuation == '"77"'
    assert lease.properties == {"note": "merged"}
    assert lease.with_etag_continuation('"80"') == '"80"'


def test_a_java_pk_range_lease_is_read_with_its_millisecond_timestamp() -> None:
    lease = parse_lease(fixture("java_pk_v0.json"))
    assert (lease.token, lease.version, lease.owner, lease.etag_continuation) == ("1", 0, "java-host", '"1204"')
    assert lease.timestamp == pytest.approx(1710333302.404)
    assert lease.feed_range is None


def test_a_java_epk_lease_keeps_its_change_feed_state_form_on_checkpoint() -> None:
    doc = fixture("java_epk_v1.json")
    lease = parse_lease(doc)
    assert lease.is_epk and lease.is_java_epk
    assert lease.feed_range == FeedRange.full()
    assert lease.etag_continuation == '"42"'
    updated = lease.with_etag_continuation('"57"')
    state = json.loads(base64.urlsafe_b64decode(updated))
    original = fixture("java_change_feed_state_v1.json")
    original["Continuation"]["Continuation"][0]["token"] = '"57"'
    assert state == original
    lease.continuation = updated
    assert lease.etag_continuation == '"57"'


def test_a_standard_base64_java_state_is_read_too() -> None:
    state = (FIXTURES / "java_change_feed_state_v1.json").read_text().strip()
    lease = Lease(id="x", token="-FF", version=1, feed_range=FeedRange.full(),
                  continuation=base64.b64encode(state.encode()).decode())
    assert lease.etag_continuation == '"42"'
    assert base64.b64decode(lease.with_etag_continuation('"43"'))  # standard alphabet kept


def test_a_legacy_v2_lease_keeps_partition_id() -> None:
    doc = fixture("legacy_v2.json")
    lease = parse_lease(doc)
    assert lease.token == "3" and lease.legacy_partition_id
    written = lease.to_document()
    assert written["PartitionId"] == "3" and written["LeaseToken"] == "3"


def test_unknown_fields_survive_and_bad_documents_are_refused() -> None:
    doc = {**fixture("dotnet_v0_full.json"), "custom": {"a": 1}}
    assert parse_lease(doc).to_document()["custom"] == {"a": 1}
    with pytest.raises(ValidationError):
        parse_lease({"id": "x"})
    with pytest.raises(ValidationError):
        parse_lease({"id": "x", "LeaseToken": "0", "version": 7})
    with pytest.raises(ValidationError):
        parse_lease({"id": "x", "LeaseToken": "a-b", "version": 1})


def test_timestamps_in_both_sdks_forms() -> None:
    assert format_timestamp(1710333296.1234567) == "2024-03-13T12:34:56.1234567Z"
    assert format_timestamp(0) == "1970-01-01T00:00:00.0000000Z"
    assert parse_timestamp("2024-03-13T12:34:56.1234567Z") == pytest.approx(1710333296.1234567)
    assert parse_timestamp("2024-03-13T12:34:56Z") == 1710333296
    assert parse_timestamp("2024-03-13T14:34:56.5+02:00") == pytest.approx(1710333296.5)
    assert parse_timestamp("2024-03-13T12:34:56.123456789") == pytest.approx(1710333296.123456789)
    assert parse_timestamp("yesterday") is None and parse_timestamp(None) is None


def test_expiry_uses_timestamp_then_ts() -> None:
    lease = parse_lease({"id": "x", "LeaseToken": "0", "Owner": "h", "_ts": 1000})
    assert not lease.is_expired(1060, 60) and lease.is_expired(1060.5, 60)
    lease.timestamp = 2000.0
    assert not lease.is_available(2059, 60) and lease.is_available(2061, 60)
    assert parse_lease({"id": "x", "LeaseToken": "0", "Owner": " "}).is_available(0, 60)
