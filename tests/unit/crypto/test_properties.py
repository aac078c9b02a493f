"""Property tests: round trips, tampering, and verify's total behaviour on junk."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from node.crypto import KeyPair, KeyScheme, scheme_of, verify

seeds = st.binary(min_size=32, max_size=32)
schemes = st.sampled_from(list(KeyScheme))
messages = st.binary(max_size=300)


@given(seed=seeds, scheme=schemes, message=messages)
def test_sign_verify_round_trip(seed: bytes, scheme: KeyScheme, message: bytes) -> None:
    pair = KeyPair.from_seed(seed, scheme)
    assert scheme_of(pair.public_key) is scheme
    sig = pair.sign(message)
    assert len(sig) == 64
    assert verify(pair.public_key, message, sig)
    assert pair.sign(message) == sig  # deterministic
    assert KeyPair.from_private_hex(pair.private_key_hex, scheme) == pair


@given(seed=seeds, scheme=schemes, message=messages, data=st.data())
def test_tampered_message_rejected(
    seed: bytes, scheme: KeyScheme, message: bytes, data: st.DataObject
) -> None:
    pair = KeyPair.from_seed(seed, scheme)
    sig = pair.sign(message)
    if message:
        bit = data.draw(st.integers(0, len(message) * 8 - 1))
        tampered = bytearray(message)
        tampered[bit // 8] ^= 1 << (bit % 8)
        assert not verify(pair.public_key, bytes(tampered), sig)
    assert not verify(pair.public_key, message + b"\x00", sig)


@given(seed=seeds, scheme=schemes, message=messages, bit=st.integers(0, 511))
def test_tampered_signature_rejected(
    seed: bytes, scheme: KeyScheme, message: bytes, bit: int
) -> None:
    pair = KeyPair.from_seed(seed, scheme)
    sig = bytearray(pair.sign(message))
    sig[bit // 8] ^= 1 << (bit % 8)
    assert not verify(pair.public_key, message, bytes(sig))


@given(seed=seeds, scheme=schemes, message=messages, bit=st.integers(0, 255))
def test_tampered_key_rejected(seed: bytes, scheme: KeyScheme, message: bytes, bit: int) -> None:
    pair = KeyPair.from_seed(seed, scheme)
    sig = pair.sign(message)
    raw = bytearray(pair.public_key_bytes)
    raw[bit // 8] ^= 1 << (bit % 8)
    key = raw.hex() if scheme is KeyScheme.ED25519_SHA3 else "ed0120" + raw.hex()
    assert not verify(key, message, sig)


@given(seed=seeds, message=messages)
def test_schemes_do_not_cross(seed: bytes, message: bytes) -> None:
    # A signature under one scheme never verifies under the other scheme's key form.
    legacy = KeyPair.from_seed(seed, KeyScheme.ED25519_SHA3)
    standard = KeyPair.from_seed(seed, KeyScheme.ED25519)
    assert not verify("ed0120" + legacy.public_key, message, legacy.sign(message))
    assert not verify(standard.public_key[6:], message, standard.sign(message))


junk = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(),
    st.binary(),
    st.lists(st.integers(0, 255)),
    st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=70),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map("ed0120".__add__),
    st.binary(min_size=64, max_size=64),
)


@settings(max_examples=300)
@given(key=junk, message=junk, signature=junk)
def test_verify_never_raises(key: Any, message: Any, signature: Any) -> None:
    assert verify(key, message, signature) is False


@settings(max_examples=300)
@given(key=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), sig=st.binary())
def test_random_signature_on_random_key_rejected(key: str, sig: bytes) -> None:
    for form in (key, "ed0120" + key):
        assert verify(form, b"payload", sig) is False


@given(value=junk)
def test_scheme_of_never_raises(value: Any) -> None:
    assert scheme_of(value) in (None, KeyScheme.ED25519, KeyScheme.ED25519_SHA3)
