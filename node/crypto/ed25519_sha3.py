"""Iroha 1's legacy signature scheme: Ed25519 with SHA3-512 in place of SHA-512.

This is what ``hyperledger/iroha-ed25519`` computes when built with its SHA3 hash
(Iroha's default "ed25519/sha3" keys). The curve arithmetic is libsodium's, reached
through PyNaCl's low-level point and scalar bindings; only the hashing differs from
RFC 8032. The functions here work on raw bytes (32-byte seed, 32-byte public key,
64-byte signature) and sign whatever message they are given; Iroha feeds them
SHA3-256(payload), which is the caller's business (see ``node.crypto.keys``).

Verification follows libsodium's ``crypto_sign_verify_detached`` rules: S must be
canonical (S < L, so signatures are not malleable), the public key must be a
canonical encoding of a point that is not of small order, and the signature's R must
equal the canonical encoding of S·B − k·A. In one respect it is stricter: the key must
lie in the prime-order subgroup (libsodium's scalar multiplication insists on it).
Every key derived from a seed does; only hand-crafted keys with a torsion component
are refused, which libsodium would accept for one signature in eight.

With the native build (``make native``), ``verify`` does the curve work in the compiled
equation (``node.crypto.equation``: one variable-time double-scalar multiplication with
ed25519-donna's arithmetic, or a key's table), three to seven times faster, after the
same checks: libsodium validates the key (``crypto_core_ed25519_is_valid_point``,
remembered per key) and the comparison is again with R's bytes. The answers are the same
either way; tests check them on valid, forged and malformed signatures.
"""

from __future__ import annotations

import hashlib
from typing import Final

from nacl import bindings as _sodium
from nacl.exceptions import RuntimeError as _SodiumError

from node.crypto import equation as compiled_equation

SEED_BYTES: Final = 32
PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64

# Order of the prime-order subgroup of edwards25519.
L: Final = 2**252 + 27742317777372353535851937790883648493
# Canonical encoding of the neutral element (x = 0, y = 1).
IDENTITY: Final = b"\x01" + bytes(31)
_ZERO_SCALAR: Final = bytes(32)


_equation = compiled_equation.check

# Keys that signed validly (so canonical, not small order, prime order): a network's
# transactions come from a few thousand keys, and the check costs a scalar
# multiplication. Only those, so forged signatures under ever new keys cannot fill it;
# bounded (emptied when full).
_VALID_KEYS_MAX: Final = 65_536
_valid_keys: set[bytes] = set()


def _valid_key(public_key: bytes) -> bool:
    return public_key in _valid_keys or bool(_sodium.crypto_core_ed25519_is_valid_point(public_key))


def _remember_valid(public_key: bytes) -> None:
    if public_key not in _valid_keys:
        if len(_valid_keys) >= _VALID_KEYS_MAX:
            _valid_keys.clear()
        _valid_keys.add(public_key)


def _h512(*parts: bytes) -> bytes:
    h = hashlib.sha3_512()
    for part in parts:
        h.update(part)
    return h.digest()


def _reduce(wide: bytes) -> bytes:
    """64-byte little-endian integer -> 32-byte scalar mod L."""
    scalar: bytes = _sodium.crypto_core_ed25519_scalar_reduce(wide)
    return scalar


def _base_mult(scalar: bytes) -> bytes:
    """scalar·B for a scalar already reduced mod L; zero gives the identity."""
    # libsodium refuses to return the identity, which for a reduced scalar only 0 gives.
    if scalar == _ZERO_SCALAR:
        return IDENTITY
    point: bytes = _sodium.crypto_scalarmult_ed25519_base_noclamp(scalar)
    return point


def expand_seed(seed: bytes) -> tuple[bytes, bytes, bytes]:
    """Seed -> (secret scalar a reduced mod L, nonce prefix, public key A = a·B)."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"seed must be {SEED_BYTES} bytes, got {len(seed)}")
    h = _h512(seed)
    clamped = bytearray(h[:32])
    clamped[0] &= 248
    clamped[31] &= 127
    clamped[31] |= 64
    # a·B depends only on a mod L, so signing can use the reduced scalar throughout.
    a = _reduce(bytes(clamped) + _ZERO_SCALAR)
    public_key: bytes = _sodium.crypto_scalarmult_ed25519_base_noclamp(a)
    return a, h[32:], public_key


def public_key_from_seed(seed: bytes) -> bytes:
    return expand_seed(seed)[2]


def challenge(big_r: bytes, public_key: bytes, message: bytes) -> bytes:
    """k = SHA3-512(R || A || M) mod L."""
    return _reduce(_h512(big_r, public_key, message))


def sign_expanded(a: bytes, prefix: bytes, public_key: bytes, message: bytes) -> bytes:
    """Sign with an expanded key (see ``expand_seed``); returns R || S."""
    r = _reduce(_h512(prefix, message))
    big_r = _base_mult(r)
    k = challenge(big_r, public_key, message)
    ka: bytes = _sodium.crypto_core_ed25519_scalar_mul(k, a)
    s: bytes = _sodium.crypto_core_ed25519_scalar_add(r, ka)
    return big_r + s


def sign(seed: bytes, message: bytes) -> bytes:
    a, prefix, public_key = expand_seed(seed)
    return sign_expanded(a, prefix, public_key, message)


def is_canonical_scalar(s: bytes) -> bool:
    return int.from_bytes(s, "little") < L


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True iff ``signature`` is a valid legacy signature of ``message`` by ``public_key``.

    Raises only on wrong argument lengths/types; ``node.crypto.verify`` wraps it.
    """
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    big_r, s = signature[:32], signature[32:]
    if not is_canonical_scalar(s):
        return False  # S >= L: the malleable twin of a valid signature
    if big_r == IDENTITY:
        # S·B − k·A lies in the prime-order subgroup, so the identity is the only
        # small-order R it can equal; libsodium refuses small-order R.
        return False
    if _equation is not None:
        # the digest as is: the equation reduces it mod L, as ``challenge`` does
        if not _valid_key(public_key):
            return False
        if not _equation(public_key, signature, _h512(big_r, public_key, message)):
            return False
        _remember_valid(public_key)
        return True
    k = challenge(big_r, public_key, message)
    return equation_holds(public_key, big_r, s, k)


def equation_holds(public_key: bytes, big_r: bytes, s: bytes, k: bytes) -> bool:
    """Check R == S·B − k·A, with A validated (canonical, not small order, prime order).

    libsodium has no double-scalar multiplication in its public API, so this is a
    fixed-base multiplication, a variable-base one and a subtraction; comparing the
    encoding with R also refuses any non-canonical encoding of R.
    """
    if k == _ZERO_SCALAR:
        # Unreachable in practice (k is a hash), but libsodium refuses a zero scalar,
        # so validate A on its own and take k·A as the identity.
        if not _sodium.crypto_core_ed25519_is_valid_point(public_key):
            return False
        k_a = IDENTITY
    else:
        try:
            # Also rejects non-canonical, small-order and off-subgroup keys.
            k_a = _sodium.crypto_scalarmult_ed25519_noclamp(k, public_key)
        except _SodiumError:
            return False
    s_b = _base_mult(s)
    r_check: bytes = _sodium.crypto_core_ed25519_sub(s_b, k_a)
    return r_check == big_r
