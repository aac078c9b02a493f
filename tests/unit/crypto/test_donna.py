"""The compiled equation for legacy SHA3 keys (node.crypto._donna) gives the pure path's
answers: on valid signatures, forgeries, torsion-tweaked and malformed inputs."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import bindings as sodium

from node.crypto import KeyPair, KeyScheme
from node.crypto import ed25519_sha3 as legacy
from node.crypto.ed25519_sha3 import IDENTITY, L

from .test_edge_cases import NON_CANONICAL_SMALL_ORDER, SMALL_ORDER

_donna = pytest.importorskip(
    "node.crypto._donna",
    reason="no current native build here (`make native`; it needs a C compiler)",
    exc_type=ImportError,  # node.native refuses it when the build is off or stale
)

RNG_SEED = 20261127


@pytest.fixture
def both(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs with the compiled equation in place, whatever the mode of this process."""
    monkeypatch.setattr(legacy, "_equation", _donna.equation)
    yield


def pure_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    saved = legacy._equation
    legacy._equation = None
    try:
        return legacy.verify(public_key, message, signature)
    finally:
        legacy._equation = saved


def agree(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """The verdict, after checking that both paths give it."""
    fast = legacy.verify(public_key, message, signature)
    assert fast is pure_verify(public_key, message, signature), (public_key, signature)
    return fast


def _pair(rng: random.Random) -> KeyPair:
    return KeyPair.generate(KeyScheme.ED25519_SHA3, rng)


def _scalar(rng: random.Random) -> bytes:
    return sodium.crypto_core_ed25519_scalar_reduce(rng.randbytes(64))


def test_the_two_paths_are_two_computations(both: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards the tests below: ``agree`` compares the compiled equation with the pure one.
    calls: list[bytes] = []
    pure_equation = legacy.equation_holds

    def counted(public_key: bytes, big_r: bytes, s: bytes, k: bytes) -> bool:
        calls.append(k)
        return pure_equation(public_key, big_r, s, k)

    monkeypatch.setattr(legacy, "equation_holds", counted)
    pair = _pair(random.Random(RNG_SEED))
    sig = legacy.sign(pair.seed, b"m")
    assert legacy.verify(pair.public_key_bytes, b"m", sig) and calls == []
    assert pure_verify(pair.public_key_bytes, b"m", sig) and len(calls) == 1
    assert legacy._equation is _donna.equation


def test_valid_signatures_pass_and_every_single_bit_flip_fails(both: None) -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(4):
        pair = _pair(rng)
        message = rng.randbytes(32)
        sig = legacy.sign(pair.seed, message)
        key = pair.public_key_bytes
        assert agree(key, message, sig)
        for bit in rng.sample(range(512), 24):
            bad = bytearray(sig)
            bad[bit // 8] ^= 1 << (bit % 8)
            assert not agree(key, message, bytes(bad))
        assert not agree(key, message + b"\x00", sig)


def test_torsion_in_r_is_refused_like_libsodium(both: None) -> None:
    # R + T with T of small order: S·B − k·A equals R + T only up to the cofactor, so a
    # cofactored check would accept some of these; libsodium's rules, and ours, refuse.
    rng = random.Random(RNG_SEED)
    pair = _pair(rng)
    a = legacy.expand_seed(pair.seed)[0]
    key = pair.public_key_bytes
    message = rng.randbytes(32)
    r = _scalar(rng)
    for torsion in SMALL_ORDER[1:]:
        big_r = sodium.crypto_core_ed25519_add(
            sodium.crypto_scalarmult_ed25519_base_noclamp(r), torsion
        )
        k = legacy.challenge(big_r, key, message)
        s = sodium.crypto_core_ed25519_scalar_add(r, sodium.crypto_core_ed25519_scalar_mul(k, a))
        assert not agree(key, message, big_r + s)


def test_keys_with_torsion_or_of_small_order_are_refused(both: None) -> None:
    rng = random.Random(RNG_SEED)
    pair = _pair(rng)
    message = rng.randbytes(32)
    sig = legacy.sign(pair.seed, message)
    for torsion in SMALL_ORDER[1:]:
        mixed = sodium.crypto_core_ed25519_add(pair.public_key_bytes, torsion)
        assert not agree(mixed, message, sig)
    for key in SMALL_ORDER + NON_CANONICAL_SMALL_ORDER + [b"\xff" * 32]:
        s = _scalar(rng)
        # with A = identity, R = S·B would satisfy the bare equation for any message
        assert not agree(key, message, sodium.crypto_scalarmult_ed25519_base_noclamp(s) + s)


def test_the_equation_reduces_the_digest_and_takes_zero_scalars() -> None:
    rng = random.Random(RNG_SEED)
    key = _pair(rng).public_key_bytes
    k, s = _scalar(rng), _scalar(rng)
    k_a = sodium.crypto_scalarmult_ed25519_noclamp(k, key)
    big_r = sodium.crypto_core_ed25519_sub(sodium.crypto_scalarmult_ed25519_base_noclamp(s), k_a)
    wide = (int.from_bytes(k, "little") + 5 * L).to_bytes(64, "little")
    assert _donna.equation(key, big_r + s, wide)
    assert not _donna.equation(
        key, big_r + s, (int.from_bytes(wide, "little") + 1).to_bytes(64, "little")
    )
    # k = 0: R must be S·B; S = 0: R must be −k·A
    s_b = sodium.crypto_scalarmult_ed25519_base_noclamp(s)
    assert _donna.equation(key, s_b + s, bytes(64))
    assert _donna.equation(
        key, sodium.crypto_core_ed25519_sub(IDENTITY, k_a) + bytes(32), k + bytes(32)
    )
    # an R that is not a point's canonical encoding never matches
    assert not _donna.equation(key, b"\xff" * 32 + s, bytes(64))


def test_the_equation_refuses_wrong_lengths() -> None:
    key = _pair(random.Random(RNG_SEED)).public_key_bytes
    for args in (
        (key[:31], bytes(64), bytes(64)),
        (key, bytes(63), bytes(64)),
        (key, bytes(64), bytes(32)),
    ):
        with pytest.raises(ValueError):
            _donna.equation(*args)
    with pytest.raises(TypeError):
        _donna.equation(key, bytes(64))  # type: ignore[call-arg]


@settings(max_examples=300, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(max_size=64),
    noise=st.binary(min_size=64, max_size=64),
    keep_r=st.booleans(),
)
def test_both_paths_agree_on_random_forgeries(
    seed: bytes, message: bytes, noise: bytes, keep_r: bool
) -> None:
    key = legacy.public_key_from_seed(seed)
    sig = legacy.sign(seed, message)
    forged = (sig[:32] if keep_r else noise[:32]) + noise[32:]
    saved = legacy._equation
    legacy._equation = _donna.equation
    try:
        assert agree(key, message, sig)
        agree(key, message, forged)
        agree(noise[:32], message, sig)
    finally:
        legacy._equation = saved
