"""The header codecs of the gRPC spec: grpc-message percent-encoding, grpc-timeout units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.api.grpc import Status, decode_grpc_message, encode_grpc_message, parse_grpc_timeout


def test_grpc_message_encoding_matches_spec() -> None:
    assert encode_grpc_message("plain text: ok!") == b"plain text: ok!"
    assert encode_grpc_message("100%") == b"100%25"
    assert encode_grpc_message("a\nb\tc") == b"a%0Ab%09c"
    assert encode_grpc_message("ñ") == b"%C3%B1"
    assert encode_grpc_message("\x7f~") == b"%7F~"


@given(st.text())
def test_grpc_message_roundtrip(text: str) -> None:
    encoded = encode_grpc_message(text)
    assert all(0x20 <= b <= 0x7E for b in encoded)
    assert decode_grpc_message(encoded) == text.encode("utf-8", "replace").decode(
        "utf-8", "replace"
    )


def test_grpc_message_decode_keeps_malformed_escapes() -> None:
    assert decode_grpc_message(b"50%") == "50%"
    assert decode_grpc_message(b"%zz%4") == "%zz%4"
    assert decode_grpc_message(b"%41%42") == "AB"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"1H", 3600.0),
        (b"2M", 120.0),
        (b"3S", 3.0),
        (b"250m", 0.25),
        (b"1500u", 0.0015),
        (b"99999999n", 0.099999999),
        (b"0S", 0.0),
    ],
)
def test_grpc_timeout_units(value: bytes, seconds: float) -> None:
    assert parse_grpc_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", [b"", b"S", b"10", b"10s", b"123456789S", b"-1S", b"1.5S", b" 1S", b"1\xffS"]
)
def test_grpc_timeout_rejects_malformed(value: bytes) -> None:
    with pytest.raises(ValueError):
        parse_grpc_timeout(value)


def test_status_codes_are_the_canonical_ones() -> None:
    assert len(Status) == 17
    codes = {s.name: int(s) for s in Status}
    assert codes["DEADLINE_EXCEEDED"] == 4 and codes["RESOURCE_EXHAUSTED"] == 8
    assert codes["UNIMPLEMENTED"] == 12 and codes["UNAUTHENTICATED"] == 16
