import pytest

from edgechain_sdk import _path, _wire


def test_fields_round_trip_in_order_with_any_bytes():
    fields = [(b"x-a", b"1"), (b"x-a", b""), (b"x-bin", b"\n\0\xff")]
    block = _wire.encode(fields)
    assert _wire.decode(block) == fields
    assert _wire.decode(b"") == []


def test_encoding_matches_the_rust_layout():
    assert _wire.encode([(b"ab", b"xyz")]) == b"\x02\x00\x00\x00ab\x03\x00\x00\x00xyz"


def test_truncated_blocks_are_malformed():
    block = _wire.encode([(b"name", b"value")])
    for cut in range(1, len(block)):
        with pytest.raises(_wire.MalformedBlock) as e:
            _wire.decode(block[:cut])
        assert e.value.offset == 0
    with pytest.raises(_wire.MalformedBlock) as e:
        _wire.decode(block + bytes([200, 0, 0, 0]))
    assert e.value.offset == len(block)


# The path rules' verdicts (normalisation, escaped slashes, the path of a
# target) are wire/vectors.json's, checked in test_wire_vectors.py.


def test_bad_escapes_are_kept():
    assert _path.percent_decode("100%") == "100%"
    assert _path.percent_decode("%zz%4") == "%zz%4"
    assert _path.percent_decode("%41") == "A"
    assert _path.percent_decode("a+b") == "a b"
