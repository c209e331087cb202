"""Integers beyond 2**53 in the codec: refused exactly when the service would change them (it keeps a
double and writes back its shortest round-trip form), never when the service returned them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiocosmos
from aiocosmos._wire import codec

BIG = st.integers(min_value=2**53, max_value=2**90) | st.integers(min_value=-(2**90), max_value=-(2**53))


@pytest.mark.parametrize(("value", "back"), [
    (2**53 - 1, 2**53 - 1), (2**53, 2**53), (2**53 + 1, 2**53), (-(2**53) - 1, -(2**53)),
    (637268054321234567, 637268054321234600),     # the value, as the service returned it
    (637268054321234600, 637268054321234600),     # what it returned comes back unchanged
    (637268054321234560, 637268054321234600),     # the double itself, exactly: written back shorter
    (2**60, 1152921504606847000), (2**64 - 1, 1.8446744073709552e19),
    (2**64, float(2**64)), (2**70, float(2**70)), (10**30, 1e30), (10**400, None),
])
def test_returned_as(value: int, back: int | float | None) -> None:
    got = codec.returned_as(value)
    assert got == back and type(got) is type(back)


@given(BIG)
def test_an_integer_is_sent_exactly_when_it_would_come_back_equal(value: int) -> None:
    back = codec.returned_as(value)
    if back is not None and back == value:
        data = codec.dumps({"v": value})
        assert codec.loads(data)["v"] == value
    else:
        with pytest.raises(aiocosmos.ValidationError, match="beyond 2\\*\\*53") as info:
            codec.dumps({"v": value})
        assert "at /v an integer" in str(info.value)


@given(BIG)
def test_every_integer_the_service_returns_is_accepted_and_comes_back_unchanged(value: int) -> None:
    returned = codec.returned_as(value)  # what the service would hand out for a write of value
    assert returned is not None
    if isinstance(returned, int):  # read back as an int: written back, it stays that int
        assert codec.returned_as(returned) == returned
    data = codec.dumps({"v": returned, "nested": [{"w": returned}]})
    assert codec.loads(data) == {"v": returned, "nested": [{"w": returned}]}


def test_safe_integers_take_the_fast_path_and_big_ones_keep_their_digits() -> None:
    assert codec.dumps([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"
    assert codec.dumps({"t": 637268054321234600}) == b'{"t":637268054321234600}'
    assert codec.dumps({"t": (2**70, True)}) == b'{"t":[1.1805916207174113e+21,true]}'


def test_other_refusals_are_unchanged_next_to_a_big_integer() -> None:
    with pytest.raises(aiocosmos.ValidationError, match="not JSON-serialisable at /s"):
        codec.dumps({"t": 637268054321234600, "s": {1}})
    with pytest.raises(aiocosmos.ValidationError, match="non-finite number"):
        codec.dumps({"t": 637268054321234600, "n": float("nan")})
