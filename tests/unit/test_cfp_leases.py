"""Lease documents: the three official forms are read; v0 and .NET EPK leases are written field by field
as .NET writes them, Java EPK leases as Java writes them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from aiocosmos import FeedRange, ValidationError
from aiocosmos._processor.java_leases import java_timestamp
from aiocosmos._processor.leases import (
    JAVA,
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


JAVA_FIELDS = ["id", "LeaseToken", "ContinuationToken", "timestamp", "Owner", "version", "feedRange"]
"""What Java's ServiceItemLeaseV1JsonSerializer writes, in its order (``_etag`` aside: the server's)."""


def test_the_recorded_java_epk_lease_is_read_and_written_back_as_java_writes_it() -> None:
    doc = fixture("java_epk_recorded.json")
    lease = parse_lease(doc)
    assert lease.is_epk and lease.is_java_epk and lease.form == JAVA
    assert (lease.token, lease.owner, lease.feed_range) == ("-FF", "ZKNjph", FeedRange.full())
    assert lease.etag_continuation == '"11"'
    assert lease.timestamp == pytest.approx(1668534214.634427)
    written = lease.to_document()
    assert written == doc and list(written) == JAVA_FIELDS
    lease.continuation = lease.with_etag_continuation('"12"')
    state = json.loads(base64.urlsafe_b64decode(lease.continuation))
    recorded = json.loads(base64.urlsafe_b64decode(doc["ContinuationToken"]))
    recorded["Continuation"]["Continuation"][0]["token"] = '"12"'
    assert state == recorded  # only the etag moved


def test_a_java_epk_lease_is_written_without_the_dotnet_fields() -> None:
    doc = fixture("java_epk_v1.json")
    lease = parse_lease(doc)
    lease.properties = {"ignored": "by Java"}
    lease.timestamp = 1710333303.5
    written = lease.to_document()
    assert list(written) == JAVA_FIELDS
    assert written == {k: v for k, v in doc.items() if not k.startswith("_")}
    assert "FeedRange" not in written and "properties" not in written and "Mode" not in written


def test_a_java_child_continuation_narrows_the_parents_state_to_the_child() -> None:
    parent = parse_lease(fixture("java_epk_recorded.json"))
    child = parent.child_continuation(FeedRange("", "7F"), '"11"')
    assert child is not None and child.endswith("=")  # Java's URL-safe, padded base64
    state = json.loads(base64.urlsafe_b64decode(child))
    recorded = json.loads(base64.urlsafe_b64decode(parent.continuation or ""))
    assert {k: v for k, v in state.items() if k != "Continuation"} == \
        {k: v for k, v in recorded.items() if k != "Continuation"}
    assert state["Continuation"] == {
        "V": 1, "Rid": recorded["Continuation"]["Rid"],
        "Continuation": [{"token": '"11"', "range": {"min": "", "max": "7F"}}],
        "Range": {"min": "", "max": "7F", "isMinInclusive": True, "isMaxInclusive": False},
    }
    dotnet = parse_lease(fixture("dotnet_v1_epk.json"))
    assert dotnet.child_continuation(FeedRange("05C1DFFFFFFFF8", "08"), '"77"') == '"77"'


def test_a_java_lease_without_a_continuation_gets_a_complete_state() -> None:
    doc = {**fixture("java_epk_v1.json"), "ContinuationToken": None}
    lease = parse_lease(doc)
    assert lease.form == JAVA and lease.etag_continuation is None
    assert lease.child_continuation(FeedRange("", "7F"), None) is None  # as Java: none from none
    state = json.loads(base64.urlsafe_b64decode(lease.with_etag_continuation('"5"')))
    assert state["Rid"] == "Tl4hAOMR2Xs=" and state["Mode"] == "INCREMENTAL" and "Range" not in state
    assert state["Continuation"]["Continuation"] == [{"token": '"5"', "range": {"min": "", "max": "FF"}}]


def test_java_timestamps_in_instant_and_zoned_forms() -> None:
    assert java_timestamp(1668534214.634427) == "2022-11-15T17:43:34.634427Z"
    assert java_timestamp(1668534214.5) == "2022-11-15T17:43:34.500Z"
    assert java_timestamp(1668534214) == "2022-11-15T17:43:34Z"
    assert parse_timestamp("2022-11-15T17:43:34.634427Z[UTC]") == pytest.approx(1668534214.634427)


def test_a_java_state_without_a_continuation_gets_one_on_checkpoint() -> None:
    # What Java writes for a state that has not read yet: the feed range at the top, no Continuation.
    fresh = {"V": 1, "Rid": "Tl4hAOMR2Xs=", "Mode": "INCREMENTAL", "StartFrom": {"Type": "NOW"},
             "Range": {"min": "", "max": "FF", "isMinInclusive": True, "isMaxInclusive": False}}
    doc = {**fixture("java_epk_v1.json"),
           "ContinuationToken": base64.urlsafe_b64encode(json.dumps(fresh).encode()).decode()}
    lease = parse_lease(doc)
    assert lease.etag_continuation is None
    state = json.loads(base64.urlsafe_b64decode(lease.with_etag_continuation('"3"')))
    assert "Range" not in state and state["StartFrom"] == {"Type": "NOW"}
    assert state["Continuation"]["Continuation"] == [{"token": '"3"', "range": {"min": "", "max": "FF"}}]
