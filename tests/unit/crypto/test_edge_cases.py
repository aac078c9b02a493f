"""Malleability, small-order and non-canonical points, and the identity corner cases."""

from __future__ import annotations

import random

import pytest
from nacl import bindings as sodium

from node.crypto import KeyPair, KeyScheme, verify
from node.crypto import ed25519_sha3 as legacy
from node.crypto.ed25519_sha3 import IDENTITY, L

P = 2**255 - 19
RNG_SEED = 20240501


def _enc(y: int, sign: int = 0) -> bytes:
    raw = bytearray(y.to_bytes(32, "little"))
    raw[31] |= sign << 7
    return bytes(raw)


# Encodings of the eight points of order dividing 8 (the torsion subgroup), plus
# non-canonical encodings (y >= p) of small-order points.
SMALL_ORDER = [
    IDENTITY,  # order 1
    _enc(P - 1),  # (0, -1), order 2
    _enc(0),  # (sqrt(-1), 0), order 4
    _enc(0, 1),  # (-sqrt(-1), 0), order 4
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
]
NON_CANONICAL_SMALL_ORDER = [
    _enc(P + 1),  # identity with y = p + 1
    _enc(P + 1, 1),
    _enc(P, 0),  # y = p ≡ 0: order-4 point, non-canonically
    _enc(P, 1),
]


def _scalar(rng: random.Random) -> bytes:
    return sodium.crypto_core_ed25519_scalar_reduce(rng.randbytes(64))


def _legacy_pair(rng: random.Random) -> KeyPair:
    return KeyPair.generate(KeyScheme.ED25519_SHA3, rng)


def test_small_order_list_is_the_torsion_subgroup() -> None:
    # Guards the test data itself: each point is on the curve and 8·T = identity.
    for point in SMALL_ORDER:
        acc = IDENTITY
        for _ in range(8):
            acc = sodium.crypto_core_ed25519_add(acc, point)
        assert acc == IDENTITY
        assert not sodium.crypto_core_ed25519_is_valid_point(point)
    assert len(set(SMALL_ORDER)) == 8


@pytest.mark.parametrize("key", SMALL_ORDER + NON_CANONICAL_SMALL_ORDER)
def test_small_order_keys_rejected(key: bytes) -> None:
    # For the identity key, R = S·B satisfies S·B = R + k·A for *every* message: the
    # classic "signature valid for anything" that libsodium's rules refuse.
    rng = random.Random(RNG_SEED)
    for _ in range(8):
        s = _scalar(rng)
        sig = sodium.crypto_scalarmult_ed25519_base_noclamp(s) + s
        message = rng.randbytes(20)
        assert not verify(key.hex(), message, sig)
        assert not verify("ed0120" + key.hex(), message, sig)
        assert not legacy.verify(key, message, sig)


def test_identity_key_would_pass_the_bare_equation() -> None:
    # Shows the test above is meaningful: with A = identity the group equation holds.
    rng = random.Random(RNG_SEED)
    s = _scalar(rng)
    big_r = sodium.crypto_scalarmult_ed25519_base_noclamp(s)
    assert sodium.crypto_core_ed25519_sub(big_r, IDENTITY) == big_r
    assert not legacy.equation_holds(IDENTITY, big_r, s, _scalar(rng))


@pytest.mark.parametrize("scheme", list(KeyScheme))
def test_s_plus_l_is_rejected(scheme: KeyScheme) -> None:
    rng = random.Random(RNG_SEED)
    pair = KeyPair.generate(scheme, rng)
    for _ in range(5):
        message = rng.randbytes(40)
        sig = pair.sign(message)
        s = int.from_bytes(sig[32:], "little")
        assert s < L
        twin = sig[:32] + (s + L).to_bytes(32, "little")
        assert verify(pair.public_key, message, sig)
        assert not verify(pair.public_key, message, twin)
        # S + 2^255 and beyond do not fit in 32 bytes with the top bits free either.
        high = sig[:32] + sig[32:63] + bytes([sig[63] | 0x80])
        assert not verify(pair.public_key, message, high)


def test_s_plus_l_satisfies_the_group_equation() -> None:
    # The S < L check, not the curve arithmetic, is what refuses the malleable twin.
    rng = random.Random(RNG_SEED)
    pair = _legacy_pair(rng)
    digest = rng.randbytes(32)
    sig = legacy.sign(pair.seed, digest)
    big_r, s = sig[:32], int.from_bytes(sig[32:], "little")
    k = legacy.challenge(big_r, pair.public_key_bytes, digest)
    assert legacy.equation_holds(pair.public_key_bytes, big_r, (s + L).to_bytes(32, "little"), k)
    assert not legacy.verify(pair.public_key_bytes, digest, big_r + (s + L).to_bytes(32, "little"))


def test_zero_s_is_handled() -> None:
    # libsodium refuses to compute 0·B; R = −k·A with S = 0 is a correct equation.
    rng = random.Random(RNG_SEED)
    a = _legacy_pair(rng).public_key_bytes
    k = _scalar(rng)
    k_a = sodium.crypto_scalarmult_ed25519_noclamp(k, a)
    big_r = sodium.crypto_core_ed25519_sub(IDENTITY, k_a)
    assert legacy.equation_holds(a, big_r, bytes(32), k)
    assert not legacy.equation_holds(a, k_a, bytes(32), k)


def test_zero_challenge_is_handled() -> None:
    # k = 0 (a hash landing on 0 mod L) still validates A and uses k·A = identity.
    rng = random.Random(RNG_SEED)
    a = _legacy_pair(rng).public_key_bytes
    s = _scalar(rng)
    big_r = sodium.crypto_scalarmult_ed25519_base_noclamp(s)
    assert legacy.equation_holds(a, big_r, s, bytes(32))
    assert not legacy.equation_holds(a, big_r, _scalar(rng), bytes(32))
    for bad in SMALL_ORDER + NON_CANONICAL_SMALL_ORDER:
        assert not legacy.equation_holds(bad, big_r, s, bytes(32))


def test_identity_r_rejected() -> None:
    rng = random.Random(RNG_SEED)
    pair = _legacy_pair(rng)
    for _ in range(4):
        sig = IDENTITY + _scalar(rng)
        assert not verify(pair.public_key, b"m", sig)


def test_off_curve_and_non_canonical_keys_rejected() -> None:
    rng = random.Random(RNG_SEED)
    pair = _legacy_pair(rng)
    sig = pair.sign(b"payload")
    raw = pair.public_key_bytes
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    # Same y with the x sign flipped is −A: a valid point, but not the signer's key.
    flipped = bytes(raw[:31]) + bytes([raw[31] ^ 0x80])
    assert not verify(flipped.hex(), b"payload", sig)
    # An all-0xff key encodes y = 2^255 − 1 ≥ p.
    assert not verify("ff" * 32, b"payload", sig)
    # Find a y with no x on the curve near A's y; such a key must be refused, not crash.
    tried = 0
    for delta in range(1, 50):
        candidate = _enc((y + delta) % P)
        if not sodium.crypto_core_ed25519_is_valid_point(candidate):
            tried += 1
            assert not verify(candidate.hex(), b"payload", sig)
    assert tried > 10


def test_wrong_lengths_rejected() -> None:
    pair = _legacy_pair(random.Random(RNG_SEED))
    sig = pair.sign(b"x")
    assert verify(pair.public_key, b"x", sig)
    assert not verify(pair.public_key, b"x", sig[:63])
    assert not verify(pair.public_key, b"x", sig + b"\x00")
    assert not verify(pair.public_key, b"x", b"")
    assert not legacy.verify(pair.public_key_bytes[:31], b"x", sig)
    assert not legacy.verify(pair.public_key_bytes, b"x", sig[:63])


def test_bytes_like_inputs_accepted() -> None:
    pair = KeyPair.generate(KeyScheme.ED25519, random.Random(RNG_SEED))
    sig = pair.sign(b"abc")
    assert verify(pair.public_key, bytearray(b"abc"), memoryview(sig))  # type: ignore[arg-type]
    assert not verify(pair.public_key, "abc", sig)  # type: ignore[arg-type]


def test_key_cache_keeps_only_keys_that_signed_and_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """verify() remembers decoded keys once they signed validly; junk keys and
    well-formed keys under forged signatures must not enter (a flood of them would fill
    the caches), the cache must stay within its bound, and a remembered key still
    rejects a wrong signature."""
    from node.crypto import ed25519, ed25519_sha3, keys

    monkeypatch.setattr(keys, "_known_keys", {})
    monkeypatch.setattr(keys, "_KNOWN_KEYS_MAX", 4)
    monkeypatch.setattr(ed25519, "_keys_ok", set())
    monkeypatch.setattr(ed25519_sha3, "_valid_keys", set())
    rng = random.Random(RNG_SEED)
    pairs = [KeyPair.generate(scheme, rng) for scheme in KeyScheme for _ in range(3)]
    for junk in ("", "ed0120" + "zz" * 32, "ab" * 31, " " + "ab" * 32, "ED0120"):
        assert not verify(junk, b"m", b"\x00" * 64)
    for p in pairs:  # well formed, never signed validly
        assert not verify(p.public_key, b"m", p.sign(b"other"))
    assert keys._known_keys == {}
    assert not ed25519._keys_ok and not ed25519_sha3._valid_keys
    for _ in range(2):  # the second pass reads remembered keys
        for p in pairs:
            assert verify(p.public_key, b"m", p.sign(b"m"))
            assert not verify(p.public_key, b"m", p.sign(b"other"))
            assert 0 < len(keys._known_keys) <= 4
    last = pairs[-1]
    assert keys._known_keys[last.public_key][0] is last.scheme
    assert verify(last.public_key.upper().replace("ED0120", "ed0120"), b"m", last.sign(b"m"))
