"""Effective partition keys (EPK): the hash the service routes partition-key values by (spec §8.5).

An EPK is an upper-case hex string in the key space ``["", "FF")``. The service computes it from
the binary encoding of the partition-key value:

* **Hash, version 2** (every container created by a current SDK): MurmurHash3 x64 128-bit (seed 0)
  of the components written "for hashing" (type byte, then a little-endian double for numbers or
  the UTF-8 bytes plus ``0xFF`` for strings). The 16 hash bytes, most significant first, with the top
  two bits cleared, are the EPK (32 hex digits).
* **MultiHash** (hierarchical keys): the version-2 hash of each component on its own, concatenated
  (32 hex digits per level). A prefix of the levels addresses the range ``[epk, epk + "FF")``.
* **Hash, version 1** (old containers): MurmurHash3 x86 32-bit of the components (strings cut to 100
  characters), then the binary encoding of ``[hash, *components]``.

This is a port of ``azure/cosmos/partition_key.py`` and ``_cosmos_murmurhash3.py`` (tests compare it
with those functions on many values). Version-1 keys follow the encoding of the .NET and Java SDKs
where the Python SDK differs (null components and negative integers).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final

__all__ = [
    "murmurhash3_128",
    "murmurhash3_32",
    "effective_partition_key",
    "epk_range_for_partition_key",
    "add_to_epk",
    "MIN_EPK",
    "MAX_EPK",
]

MIN_EPK: Final = ""
MAX_EPK: Final = "FF"

_M64: Final = 0xFFFFFFFFFFFFFFFF
_M32: Final = 0xFFFFFFFF
_C1: Final = 0x87C37B91114253D5
_C2: Final = 0x4CF5AD432745937F


def _rotl64(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _M64


def _fmix64(value: int) -> int:
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & _M64
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & _M64
    value ^= value >> 33
    return value


def murmurhash3_128(data: bytes, seed: int = 0) -> tuple[int, int]:
    """MurmurHash3 x64 128-bit: ``(h1, h2)``, the low and high 64-bit halves (seed: both halves)."""
    h1 = h2 = seed & _M64
    length = len(data)
    blocks = length - (length & 15)
    for position in range(0, blocks, 16):
        k1, k2 = struct.unpack_from("<QQ", data, position)
        k1 = (_rotl64((k1 * _C1) & _M64, 31) * _C2) & _M64
        h1 ^= k1
        h1 = (_rotl64(h1, 27) + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64
        k2 = (_rotl64((k2 * _C2) & _M64, 33) * _C1) & _M64
        h2 ^= k2
        h2 = (_rotl64(h2, 31) + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64
    tail = data[blocks:]
    # The SDK mixes in both tail words even when they are zero (harmless: zero stays zero).
    k1 = int.from_bytes(tail[:8], "little")
    k2 = int.from_bytes(tail[8:], "little")
    h2 ^= (_rotl64((k2 * _C2) & _M64, 33) * _C1) & _M64
    h1 ^= (_rotl64((k1 * _C1) & _M64, 31) * _C2) & _M64
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix64(h1)
    h2 = _fmix64(h2)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    return h1, h2


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h1 = seed & _M32
    length = len(data)
    rounded = length & ~3
    for position in range(0, rounded, 4):
        (k1,) = struct.unpack_from("<I", data, position)
        k1 = (k1 * c1) & _M32
        k1 = ((k1 << 15) | (k1 >> 17)) & _M32
        k1 = (k1 * c2) & _M32
        h1 ^= k1
        h1 = ((h1 << 13) | (h1 >> 19)) & _M32
        h1 = (h1 * 5 + 0xE6546B64) & _M32
    rest = length & 3
    if rest:
        k1 = int.from_bytes(data[rounded:], "little")
        k1 = (k1 * c1) & _M32
        k1 = ((k1 << 15) | (k1 >> 17)) & _M32
        k1 = (k1 * c2) & _M32
        h1 ^= k1
    h1 ^= length
    h1 ^= h1 >> 16
    h1 = (h1 * 0x85EBCA6B) & _M32
    h1 ^= h1 >> 13
    h1 = (h1 * 0xC2B2AE35) & _M32
    h1 ^= h1 >> 16
    return h1


# Component type bytes (PartitionKeyComponentType in every SDK).
_UNDEFINED: Final = 0x00
_NULL: Final = 0x01
_FALSE: Final = 0x02
_TRUE: Final = 0x03
_NUMBER: Final = 0x05
_STRING: Final = 0x08

_MAX_STRING_BYTES: Final = 100
_MAX_STRING_CHARS_V1: Final = 100


class _Undefined:
    """A component with no value (the item lacks the key property): ``{}`` on the wire."""

    __slots__ = ()


_UNDEFINED_VALUE: Final = _Undefined()


def _component(value: Any) -> Any:
    """A partition-key component as the hash functions take it: ``{}`` (the wire form of
    NonePartitionKeyValue) becomes Undefined; everything else must already be a JSON scalar."""
    if isinstance(value, dict) and not value:
        return _UNDEFINED_VALUE
    return value


def _write_for_hashing(value: Any, out: bytearray, string_suffix: int) -> None:
    if value is True:
        out.append(_TRUE)
    elif value is False:
        out.append(_FALSE)
    elif value is None:
        out.append(_NULL)
    elif isinstance(value, _Undefined):
        out.append(_UNDEFINED)
    elif isinstance(value, int | float):
        out.append(_NUMBER)
        out += struct.pack("<d", float(value))
    elif isinstance(value, str):
        out.append(_STRING)
        out += value.encode("utf-8")
        out.append(string_suffix)
    else:  # pragma: no cover - callers validate values first
        raise TypeError(f"not a partition key component: {value!r}")


def _hash_v2(components: Sequence[Any]) -> str:
    buffer = bytearray()
    for component in components:
        _write_for_hashing(component, buffer, 0xFF)
    low, high = murmurhash3_128(bytes(buffer))
    digest = bytearray(high.to_bytes(8, "big") + low.to_bytes(8, "big"))
    digest[0] &= 0x3F  # the top bits are cleared so that every EPK sorts below "FF"
    return digest.hex().upper()


def _encode_double(value: float) -> int:
    """A double as an order-preserving unsigned 64-bit integer (the SDKs' encode_double_as_uint64)."""
    raw: int = struct.unpack("<Q", struct.pack("<d", value))[0]
    return raw ^ 0x8000000000000000 if raw < 0x8000000000000000 else (~raw + 1) & _M64


def _write_for_binary_encoding(value: Any, out: bytearray) -> None:
    if value is True:
        out.append(_TRUE)
    elif value is False:
        out.append(_FALSE)
    elif value is None:
        out.append(_NULL)
    elif isinstance(value, _Undefined):
        out.append(_UNDEFINED)
    elif isinstance(value, int | float):
        out.append(_NUMBER)
        payload = _encode_double(float(value))
        out.append(payload >> 56)
        payload = (payload << 8) & _M64
        byte_to_write = 0
        first = True
        while payload:
            if not first:
                out.append(byte_to_write)
            first = False
            byte_to_write = (payload >> 56) | 0x01
            payload = (payload << 7) & _M64
        out.append(byte_to_write & 0xFE)
    elif isinstance(value, str):
        out.append(_STRING)
        encoded = value.encode("utf-8")
        short = len(encoded) <= _MAX_STRING_BYTES
        for byte in encoded if short else encoded[: _MAX_STRING_BYTES + 1]:
            out.append(byte + 1 if byte < 0xFF else byte)
        if short:
            out.append(0x00)
    else:  # pragma: no cover - callers validate values first
        raise TypeError(f"not a partition key component: {value!r}")


def _hash_v1(components: Sequence[Any]) -> str:
    truncated = [c[:_MAX_STRING_CHARS_V1] if isinstance(c, str) else c for c in components]
    buffer = bytearray()
    for component in truncated:
        _write_for_hashing(component, buffer, 0x00)
    hashed = float(murmurhash3_32(bytes(buffer)))
    encoded = bytearray()
    for component in (hashed, *truncated):
        _write_for_binary_encoding(component, encoded)
    return encoded.hex().upper()


def effective_partition_key(values: Sequence[Any], kind: str, version: int) -> str:
    """The EPK of a full partition-key value (one component per path; ``{}`` = undefined)."""
    components = [_component(v) for v in values]
    if not components:
        return MIN_EPK
    if kind == "MultiHash":
        return "".join(_hash_v2([component]) for component in components)
    if version == 1:
        return _hash_v1(components)
    return _hash_v2(components)


def epk_range_for_partition_key(values: Sequence[Any], kind: str, version: int, levels: int) -> tuple[str, str, bool]:
    """``(min, max, max_inclusive)`` of the EPK range a partition-key value addresses: one point for a
    full value, ``[epk, epk + "FF")`` for a prefix of a hierarchical key."""
    epk = effective_partition_key(values, kind, version)
    if kind == "MultiHash" and len(values) < levels:
        return epk, epk + MAX_EPK, False
    return epk, epk, True


def add_to_epk(epk: str, delta: int) -> str:
    """The EPK just after (``delta=1``) or just before (``delta=-1``) ``epk``, as bytes with carry
    (how the SDKs normalise inclusive and exclusive range bounds)."""
    data = bytearray.fromhex(epk)
    for index in range(len(data) - 1, -1, -1):
        if delta > 0:
            if data[index] < 0xFF:
                data[index] += 1
                break
            data[index] = 0
        else:
            if data[index]:
                data[index] -= 1
                break
            data[index] = 0xFF
    return data.hex().upper()
