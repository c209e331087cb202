"""Effective-partition-key hashing against the vectors published in the official Java SDK's test suite.

Source: Azure/azure-sdk-for-java, sdk/cosmos/azure-cosmos/src/test/java/com/azure/cosmos/models/
PartitionKeyHashingTests.java (effectivePartitionKeyHashV1 / effectivePartitionKeyHashV2), MIT.
Only the input/expected pairs are used here; the code under test is aiocosmos's own.
"""

from __future__ import annotations

import pytest

from aiocosmos._feeds.epk import effective_partition_key

UNDEFINED: dict[str, object] = {}  # the wire form of NonePartitionKeyValue

# (value, expected V1 EPK, expected V2 EPK)
VECTORS = [
    ("", "05C1CF33970FF80800", "32E9366E637A71B4E710384B2F4970A0"),
    ("partitionKey", "05C1E1B3D9CD2608716273756A756A706F4C667A00", "013AEFCF77FA271571CF665A58C933F1"),
    ("a" * 1024, "05C1EB5921F70608" + "62" * 100 + "00", "332BDF5512AE49615F32C7D98C2DB86C"),
    (None, "05C1ED45D7475601", "378867E4430E67857ACE5C908374FE16"),
    (UNDEFINED, "05C1D529E345DC00", "11622DAA78F835834610ABE56EFF5CB5"),
    (True, "05C1D7C5A903D803", "0E711127C5B5A8E4726AC6DD306A3E59"),
    (False, "05C1DB857D857C02", "2FE1BE91E90A3439635E0E9E37361EF2"),
    (-128, "05C1D73349F54C053FA0", "01DAEDABF913540367FE219B2AD06148"),
    (127, "05C1DD539DDFCC05C05FE0", "0C507ACAC853ECA7977BF4CEFB562A25"),
    (-(2**63), "05C1DB35F33D1C053C20", "23D5C6395512BDFEAFADAD15328AD2BB"),
    (2**63 - 1, "05C1B799AB2DD005C3E0", "2EDB959178DFCCA18983F89384D1629B"),
    (-(2**31), "05C1DFBF252BCC053E20", "0B1660D5233C3171725B30D4A5F4CC1F"),
    (2**31 - 1, "05C1E1F503DFB205C1DFFFFFFFFC", "2D9349D64712AEB5EB1406E2F0BE2725"),
    (5e-324, "05C1E5C91F4D3005800101010101010102", "0E6CBA63A280927DE485DEF865800139"),
    (1.7976931348623157e308, "05C1CBE367C53005FFEFFFFFFFFFFFFFFE", "31424D996457102634591FF245DBCC4D"),
]


@pytest.mark.parametrize(("value", "v1", "v2"), VECTORS, ids=[repr(v[0])[:24] for v in VECTORS])
def test_hash_v2_matches_the_published_vector(value: object, v1: str, v2: str) -> None:
    assert effective_partition_key([value], "Hash", 2) == v2


@pytest.mark.parametrize(("value", "v1", "v2"), VECTORS, ids=[repr(v[0])[:24] for v in VECTORS])
def test_hash_v1_matches_the_published_vector(value: object, v1: str, v2: str) -> None:
    assert effective_partition_key([value], "Hash", 1) == v1


def test_hierarchical_keys_concatenate_the_v2_hash_of_each_level() -> None:
    # MultiHash EPKs are the per-level V2 hashes back to back (each level hashed on its own).
    assert effective_partition_key(["", "partitionKey"], "MultiHash", 2) == (
        "32E9366E637A71B4E710384B2F4970A0" + "013AEFCF77FA271571CF665A58C933F1"
    )
