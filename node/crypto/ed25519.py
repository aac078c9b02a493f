"""Standard (RFC 8032) Ed25519 verification with libsodium's rules.

libsodium's ``crypto_sign_verify_detached`` (1.0.18, the version PyNaCl bundles) refuses
a signature when S >= L; when R or the key, sign bit aside, is one of the seven encodings
of a small-order point (three of them non-canonical); when the key is not canonical
(y >= p) or not on the curve. Then it checks R == encode(S·B − k·A), k = SHA-512(R‖A‖M)
mod L, without the cofactor, comparing encodings. It does not ask the key to lie in the
prime-order subgroup.

``verify`` applies the same rules, in that order: the checks here, then the compiled
equation (``node.crypto.equation``: about a quarter faster than libsodium's verify, and
about 3.2 times for keys that sign often). Without a current native build it calls
libsodium itself. Tests compare the two on valid, forged, torsion-tweaked and malformed
signatures.
"""

from __future__ import annotations

import hashlib
from typing import Final

from nacl import bindings as _sodium
from nacl.exceptions import BadSignatureError

from node.crypto import equation as compiled_equation
from node.crypto.ed25519_sha3 import L

P: Final = 2**255 - 19
_Y_MASK: Final = (1 << 255) - 1
# Every encoding of a point of order dividing 8, sign bit cleared: y = 0, 1, the two
# order-8 y values, p - 1, and the non-canonical p and p + 1.
SMALL_ORDER: Final = frozenset(
    bytes.fromhex(h)
    for h in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
)

_equation = compiled_equation.check

# Keys that signed validly (so canonical, not of small order), as ed25519_sha3 keeps its
# own: only those, so forged signatures under ever new keys cannot fill it.
_KEYS_MAX: Final = 65_536
_keys_ok: set[bytes] = set()


def small_order(point: bytes) -> bool:
    """The encoding is of a small-order point, whatever its sign bit (libsodium's list)."""
    return point[:31] + bytes((point[31] & 0x7F,)) in SMALL_ORDER


def _key_ok(public_key: bytes) -> bool:
    if public_key in _keys_ok:
        return True
    canonical = int.from_bytes(public_key, "little") & _Y_MASK < P
    return canonical and not small_order(public_key)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True iff ``signature`` (R || S) signs ``message`` under the 32-byte ``public_key``."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    if _equation is None:
        try:
            _sodium.crypto_sign_open(signature + message, public_key)
        except BadSignatureError:
            return False
        return True
    big_r = signature[:32]
    if int.from_bytes(signature[32:], "little") >= L or small_order(big_r):
        return False
    if not _key_ok(public_key):
        return False  # the equation's decoding refuses keys off the curve
    ok = _equation(public_key, signature, hashlib.sha512(big_r + public_key + message).digest())
    if ok and public_key not in _keys_ok:
        if len(_keys_ok) >= _KEYS_MAX:
            _keys_ok.clear()
        _keys_ok.add(public_key)
    return ok
