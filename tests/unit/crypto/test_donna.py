"""The compiled verification equation (node.crypto._donna), plain and from a key's table,
gives the answers of the paths without it: the pure path for legacy SHA3 keys,
libsodium's verify for standard keys, on valid signatures, forgeries, torsion-tweaked and
malformed inputs."""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError

from node.crypto import KeyPair, KeyScheme, ed25519, equation
from node.crypto import ed25519_sha3 as legacy
from node.crypto.ed25519 import P
from node.crypto.ed25519_sha3 import IDENTITY, L

from .test_edge_cases import NON_CANONICAL_SMALL_ORDER, SMALL_ORDER

_donna = pytest.importorskip(
    "node.crypto._donna",
    reason="no current native build here (`make native`; it needs a C compiler)",
    exc_type=ImportError,  # node.native refuses it when the build is off or stale
)

RNG_SEED = 20261127


def with_tables(monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes, bytes, bytes], bool]:
    """``equation._check`` with fresh caches and a table from a key's first valid signature."""
    monkeypatch.setattr(equation, "_equation", _donna.equation, raising=False)
    monkeypatch.setattr(equation, "_table", _donna.table, raising=False)
    monkeypatch.setattr(equation, "_equation_table", _donna.equation_table, raising=False)
    monkeypatch.setattr(equation, "_tables", {})
    monkeypatch.setattr(equation, "_seen", {})
    monkeypatch.setattr(equation, "TABLE_AFTER", 1)
    return equation._check


@pytest.fixture(params=["plain", "tables"])
def compiled(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[[bytes, bytes, bytes], bool]:
    """The compiled equation: plain, or through equation._check, which tables each key
    once one of its signatures was valid."""
    if request.param == "plain":
        return _donna.equation  # type: ignore[no-any-return]
    return with_tables(monkeypatch)


@pytest.fixture
def both(
    monkeypatch: pytest.MonkeyPatch, compiled: Callable[[bytes, bytes, bytes], bool]
) -> Iterator[None]:
    """Runs with the compiled equation in place for both key schemes, whatever the mode of
    this process."""
    monkeypatch.setattr(legacy, "_equation", compiled)
    monkeypatch.setattr(ed25519, "_equation", compiled)
    yield


@contextlib.contextmanager
def equation_as(
    module: Any, equation_: Callable[[bytes, bytes, bytes], bool] | None
) -> Iterator[None]:
    """``module._equation`` set for a block (where a fixture cannot: Hypothesis tests)."""
    saved = module._equation
    module._equation = equation_
    try:
        yield
    finally:
        module._equation = saved


def pure_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    with equation_as(legacy, None):
        return legacy.verify(public_key, message, signature)


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
    assert legacy._equation is not None


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
        _donna.equation(key, bytes(64))


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
    with equation_as(legacy, _donna.equation):
        assert agree(key, message, sig)
        agree(key, message, forged)
        agree(noise[:32], message, sig)


# --- standard Ed25519 keys: libsodium's own verify is the oracle ---------------------------


def libsodium(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        sodium.crypto_sign_open(signature + message, public_key)
    except BadSignatureError:
        return False
    except (ValueError, TypeError):  # wrong lengths
        return False
    return True


def std_agree(public_key: bytes, message: bytes, signature: bytes) -> bool:
    fast = ed25519.verify(public_key, message, signature)
    assert fast is libsodium(public_key, message, signature), (public_key.hex(), signature.hex())
    return fast


def _hram(big_r: bytes, key: bytes, message: bytes) -> bytes:
    return sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(big_r + key + message).digest())


def _std_secret(rng: random.Random) -> tuple[bytes, bytes]:
    """(secret scalar a, public key a·B)."""
    a = _scalar(rng)
    return a, sodium.crypto_scalarmult_ed25519_base_noclamp(a)


def _std_sign(a: bytes, key: bytes, message: bytes, r: bytes, torsion: bytes = IDENTITY) -> bytes:
    big_r = sodium.crypto_core_ed25519_add(
        sodium.crypto_scalarmult_ed25519_base_noclamp(r), torsion
    )
    k = _hram(big_r, key, message)
    return big_r + sodium.crypto_core_ed25519_scalar_add(
        r, sodium.crypto_core_ed25519_scalar_mul(k, a)
    )


def test_standard_valid_signatures_and_bit_flips(both: None) -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(4):
        pair = KeyPair.generate(KeyScheme.ED25519, rng)
        key = bytes.fromhex(pair.public_key[6:])
        message = rng.randbytes(rng.randint(0, 300))
        sig = pair.sign(message)
        assert std_agree(key, message, sig)
        for bit in rng.sample(range(512), 24):
            bad = bytearray(sig)
            bad[bit // 8] ^= 1 << (bit % 8)
            assert not std_agree(key, message, bytes(bad))
        s = int.from_bytes(sig[32:], "little")
        assert not std_agree(key, message, sig[:32] + (s + L).to_bytes(32, "little"))


def test_standard_identity_r_with_a_holding_equation_is_refused(both: None) -> None:
    # R = identity and S = k·a satisfy S·B − k·A = R: only the small-order list refuses it.
    rng = random.Random(RNG_SEED)
    a, key = _std_secret(rng)
    p_plus_1 = bytes.fromhex("ee" + "ff" * 30 + "7f")
    for r_enc in (IDENTITY, IDENTITY[:31] + b"\x80", p_plus_1, p_plus_1[:31] + b"\xff"):
        k = _hram(r_enc, key, b"m")
        sig = r_enc + sodium.crypto_core_ed25519_scalar_mul(k, a)
        if r_enc == IDENTITY:
            assert _donna.equation(key, sig, k + bytes(32))  # the bare equation holds
        assert not std_agree(key, b"m", sig)


def test_standard_keys_with_torsion_follow_libsodium(both: None) -> None:
    # libsodium accepts a key with a torsion component (it checks only the small-order
    # list) and checks the equation without the cofactor. With A = a·B + T, an honest
    # R = r·B passes exactly when k·T = 0, and R = −k·T (small order) is refused by the
    # list even though the equation then holds. Each case must come out as libsodium says.
    rng = random.Random(RNG_SEED)
    outcomes = {True: 0, False: 0}
    for torsion in SMALL_ORDER[1:]:
        a, clean = _std_secret(rng)
        key = sodium.crypto_core_ed25519_add(clean, torsion)
        for i in range(24):
            message = b"msg %d" % i
            outcomes[std_agree(key, message, _std_sign(a, key, message, _scalar(rng)))] += 1
        for candidate in SMALL_ORDER:
            for i in range(8):
                message = b"small R %d" % i
                k = _hram(candidate, key, message)
                s = sodium.crypto_core_ed25519_scalar_mul(k, a)
                assert not std_agree(key, message, candidate + s)
    assert outcomes[True] > 0 and outcomes[False] > 0  # both branches were exercised


def test_standard_small_order_and_non_canonical_keys_are_refused(both: None) -> None:
    rng = random.Random(RNG_SEED)
    keys = SMALL_ORDER + NON_CANONICAL_SMALL_ORDER + [b"\xff" * 32]
    keys += [k[:31] + bytes((k[31] ^ 0x80,)) for k in keys]
    # non-canonical encodings (y + p) of points that are not of small order
    keys += [(P + y).to_bytes(32, "little") for y in range(2, 19)]
    for key in keys:
        s = _scalar(rng)
        assert not std_agree(key, b"any", sodium.crypto_scalarmult_ed25519_base_noclamp(s) + s)
        assert not ed25519._key_ok(key)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(max_size=64),
    noise=st.binary(min_size=64, max_size=64),
    keep_r=st.booleans(),
)
def test_standard_agrees_with_libsodium_on_random_forgeries(
    seed: bytes, message: bytes, noise: bytes, keep_r: bool
) -> None:
    pair = KeyPair.from_seed(seed, KeyScheme.ED25519)
    key = bytes.fromhex(pair.public_key[6:])
    sig = pair.sign(message)
    forged = (sig[:32] if keep_r else noise[:32]) + noise[32:]
    with equation_as(ed25519, _donna.equation):
        assert std_agree(key, message, sig)
        std_agree(key, message, forged)
        std_agree(noise[:32], message, sig)


# --- per-key tables ------------------------------------------------------------------------


def _table_agrees(key: bytes, signature: bytes, digest: bytes) -> bool:
    table = _donna.table(key)
    assert table is not None and len(table) == 256 * 96
    plain: bool = _donna.equation(key, signature, digest)
    assert _donna.equation_table(table, signature, digest) is plain, (key.hex(), signature.hex())
    # the same table at an address that is not 16-byte aligned (it is copied first)
    shifted = memoryview(bytearray(1) + table)[1:]
    assert _donna.equation_table(shifted, signature, digest) is plain
    return bool(plain)


def test_a_table_answers_as_the_plain_equation() -> None:
    rng = random.Random(RNG_SEED)
    for torsion in SMALL_ORDER:  # the identity first: a plain key, then keys with torsion
        a, clean = _std_secret(rng)
        key = sodium.crypto_core_ed25519_add(clean, torsion)
        for _ in range(6):
            message = rng.randbytes(40)
            sig = _std_sign(a, key, message, _scalar(rng))
            digest = hashlib.sha512(sig[:32] + key + message).digest()
            _table_agrees(key, sig, digest)
            _table_agrees(key, sig, rng.randbytes(64))
            _table_agrees(key, rng.randbytes(32) + _scalar(rng), digest)
        s = _scalar(rng)
        _table_agrees(key, sodium.crypto_scalarmult_ed25519_base_noclamp(s) + s, bytes(64))
    # an unreduced digest, and S = 0, on a key of the prime-order subgroup
    a, key = _std_secret(rng)
    k, s = _scalar(rng), _scalar(rng)
    wide = (int.from_bytes(k, "little") + 7 * L).to_bytes(64, "little")
    k_a = sodium.crypto_scalarmult_ed25519_noclamp(k, key)
    big_r = sodium.crypto_core_ed25519_sub(sodium.crypto_scalarmult_ed25519_base_noclamp(s), k_a)
    assert _table_agrees(key, big_r + s, wide)
    assert _table_agrees(key, sodium.crypto_core_ed25519_sub(IDENTITY, k_a) + bytes(32), wide)


def _times(scalar: int, point: bytes | None = None) -> bytes:
    """libsodium's scalar·point (the base point when None), the identity for 0."""
    if scalar % L == 0:
        return IDENTITY
    n = (scalar % L).to_bytes(32, "little")
    if point is None:
        return sodium.crypto_scalarmult_ed25519_base_noclamp(n)
    return sodium.crypto_scalarmult_ed25519_noclamp(n, point)


def _nibbles(rng: random.Random, keep: float) -> int:
    """A scalar below L whose radix-16 digits are mostly 0 (keep small) or mostly 8 and
    15 (the signed recoding's edges: 8 stays 8 or becomes -8, 15 becomes -1 and a carry)."""
    digits = [
        rng.choice((0, 8, 15, rng.randrange(16))) if rng.random() < keep else 0 for _ in range(63)
    ]
    return sum(d << (4 * i) for i, d in enumerate(digits)) % L


def test_a_table_answers_right_on_scalars_with_edge_digits() -> None:
    # The table path reads its entries in variable time and skips zero digits: scalars
    # made of 0, 8 and 15 digits (and a few plain ones) in both S and the digest, checked
    # against R = S·B − k·A computed by libsodium, and against the plain equation.
    rng = random.Random(RNG_SEED)
    _, key = _std_secret(rng)
    edges = [0, 1, 8, 15, 16, 0x88, L - 1, (1 << 252) - 1, int("8" * 63, 16) % L]
    edges += [_nibbles(rng, keep) for keep in (0.05, 0.3, 0.7, 1.0) for _ in range(6)]
    for k in edges:
        for s in rng.sample(edges, 8):
            big_r = sodium.crypto_core_ed25519_sub(_times(s), _times(k, key))
            digest = k.to_bytes(64, "little")
            assert _table_agrees(key, big_r + s.to_bytes(32, "little"), digest), (k, s)
            wrong = sodium.crypto_core_ed25519_add(big_r, _times(1))
            assert not _table_agrees(key, wrong + s.to_bytes(32, "little"), digest), (k, s)


def test_a_table_is_none_for_a_key_off_the_curve_and_refuses_wrong_lengths() -> None:
    off = next(
        (P - y).to_bytes(32, "little")
        for y in range(2, 100)
        if not sodium.crypto_core_ed25519_is_valid_point((P - y).to_bytes(32, "little"))
        and _donna.table((P - y).to_bytes(32, "little")) is None
    )
    assert _donna.table(off) is None
    with pytest.raises(ValueError):
        _donna.table(bytes(31))
    table = _donna.table(_pair(random.Random(RNG_SEED)).public_key_bytes)
    assert table is not None
    with pytest.raises(ValueError):
        _donna.equation_table(table[:-1], bytes(64), bytes(64))
    with pytest.raises(TypeError):
        _donna.equation_table(table, bytes(64))


def test_keys_get_tables_after_valid_signatures_only_and_the_oldest_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check = with_tables(monkeypatch)
    monkeypatch.setattr(equation, "TABLE_AFTER", 2)
    monkeypatch.setattr(equation, "TABLE_KEYS", 2)
    rng = random.Random(RNG_SEED)
    keys = []
    for _ in range(3):
        a, key = _std_secret(rng)
        keys.append(key)
        sig = _std_sign(a, key, b"m", _scalar(rng))
        digest = hashlib.sha512(sig[:32] + key + b"m").digest()
        for _ in range(5):  # forgeries never count towards a table
            assert not check(key, rng.randbytes(64), digest)
        assert key not in equation._tables
        assert check(key, sig, digest)
        assert key not in equation._tables  # one valid signature: not yet
        assert check(key, sig, digest)
        assert key in equation._tables
        assert check(key, sig, digest) and not check(key, sig, bytes(64))  # from the table
    assert list(equation._tables) == keys[1:]  # at most two; the first went


def test_the_cache_holds_under_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Queries verify on worker threads beside the main thread, and the equation lets go
    # of the GIL: the cache must stay consistent and every verdict right.
    check = with_tables(monkeypatch)
    monkeypatch.setattr(equation, "TABLE_KEYS", 3)
    rng = random.Random(RNG_SEED)
    cases = []
    for _ in range(8):
        a, key = _std_secret(rng)
        sig = _std_sign(a, key, b"m", _scalar(rng))
        cases.append((key, sig, hashlib.sha512(sig[:32] + key + b"m").digest()))
    failures: list[str] = []

    def work(offset: int) -> None:
        for i in range(120):
            key, sig, digest = cases[(i + offset) % len(cases)]
            if not check(key, sig, digest) or check(key, sig, bytes(64)):
                failures.append(f"wrong verdict for key {key.hex()[:8]}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and len(equation._tables) <= 3
