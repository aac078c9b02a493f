"""Key schemes, key pairs and signature verification in Iroha's hex forms.

Iroha 1 tells its two Ed25519 flavours apart by the public key's form:

* 64 hex chars (32 bytes): legacy Ed25519 with SHA3-512 inside, which signs
  SHA3-256(payload) (``ed25519_sha3`` module).
* ``ed0120`` + 64 hex chars: a multihash (code 0xed, length 0x20) of a standard
  RFC 8032 Ed25519 key (Hyperledger Ursa), which signs the payload itself.
"""

from __future__ import annotations

import enum
import hashlib
import os
import random
import re
from dataclasses import dataclass, field
from typing import Final

from nacl import bindings as _sodium

from node.crypto import ed25519, ed25519_sha3

# Multihash prefix of an Ed25519 public key: varint code 0xed (-> ed 01), varint length 0x20.
MULTIHASH_ED25519_PREFIX: Final = "ed0120"
SIGNATURE_BYTES: Final = 64

# fullmatch + explicit ASCII classes: bytes.fromhex alone would accept whitespace.
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_MULTIHASH_KEY = re.compile(r"[eE][dD]0120[0-9a-fA-F]{64}")
_HEX128 = re.compile(r"[0-9a-fA-F]{128}")


class KeyScheme(enum.Enum):
    ED25519 = "ed25519"  # standard RFC 8032; public key "ed0120" + 64 hex (multihash)
    ED25519_SHA3 = "ed25519-sha3"  # Iroha legacy: SHA3-512 inside Ed25519; public key = 64 hex


def sha3_256(data: bytes) -> bytes:
    """SHA3-256 (FIPS 202), Iroha's hash for transactions, queries, blocks."""
    return hashlib.sha3_256(data).digest()


def scheme_of(public_key: str) -> KeyScheme | None:
    """The scheme a public key in Iroha hex form (any case) belongs to; None if neither."""
    if not isinstance(public_key, str):
        return None
    if _HEX64.fullmatch(public_key):
        return KeyScheme.ED25519_SHA3
    if _MULTIHASH_KEY.fullmatch(public_key):
        return KeyScheme.ED25519
    return None


def verify(public_key: str, message: bytes, signature: bytes) -> bool:
    """True iff ``signature`` signs ``message`` under ``public_key`` (Iroha hex form).

    Legacy keys verify over SHA3-256(message), as Iroha does; ``ed0120`` keys over the
    raw message. Never raises: any malformed input is simply not a valid signature.
    """
    try:
        return _verify(public_key, message, signature)
    except Exception:  # a verdict, never a traceback: bad input means "not valid"
        return False


# Public keys that signed validly (hex form as sent -> scheme, raw key). Every signature
# check needs the key's scheme and bytes; a payment network's transactions come from a
# few thousand keys, so a look-up replaces two regex matches and a hex decode. Only keys
# whose signature was valid enter (as node.crypto.equation counts them), so neither junk
# nor well-formed keys with forged signatures fill it; bounded (emptied when full).
_KNOWN_KEYS_MAX = 65_536
_known_keys: dict[str, tuple[KeyScheme, bytes]] = {}


def _key_of(public_key: str) -> tuple[KeyScheme, bytes] | None:
    """The scheme and raw bytes of a public key in Iroha hex form; None if malformed."""
    known = _known_keys.get(public_key)
    if known is not None:
        return known
    scheme = scheme_of(public_key)
    if scheme is None:
        return None
    hex_key = (
        public_key
        if scheme is KeyScheme.ED25519_SHA3
        else public_key[len(MULTIHASH_ED25519_PREFIX) :]
    )
    return scheme, bytes.fromhex(hex_key)


def _verify(public_key: str, message: bytes, signature: bytes) -> bool:
    if not isinstance(message, bytes | bytearray | memoryview):
        return False
    if not isinstance(signature, bytes | bytearray | memoryview):
        return False
    if not isinstance(public_key, str):
        return False
    message = bytes(message)
    signature = bytes(signature)
    if len(signature) != SIGNATURE_BYTES:
        return False
    known = _key_of(public_key)
    if known is None:
        return False
    scheme, key = known
    if scheme is KeyScheme.ED25519_SHA3:
        ok = ed25519_sha3.verify(key, sha3_256(message), signature)
    else:
        # libsodium's rules: S < L, canonical non-small-order A and R, cofactorless.
        ok = ed25519.verify(key, message, signature)
    if ok and public_key not in _known_keys:
        if len(_known_keys) >= _KNOWN_KEYS_MAX:
            _known_keys.clear()
        _known_keys[public_key] = known
    return ok


def _derive(seed: bytes, scheme: KeyScheme) -> tuple[str, bytes]:
    """(public key in Iroha hex form, secret material for ``KeyPair.sign``)."""
    if scheme is KeyScheme.ED25519_SHA3:
        a, prefix, public = ed25519_sha3.expand_seed(seed)
        return public.hex(), a + prefix + public
    public, secret = _sodium.crypto_sign_seed_keypair(seed)
    return MULTIHASH_ED25519_PREFIX + public.hex(), secret


@dataclass(frozen=True)
class KeyPair:
    """A private seed and its public key in Iroha hex form (lower-case)."""

    scheme: KeyScheme
    seed: bytes = field(repr=False)
    public_key: str
    # Expanded signing key, derived once: legacy a || prefix || A, or libsodium's seed || pk.
    _secret: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.scheme, KeyScheme):
            raise TypeError(f"scheme must be a KeyScheme, got {self.scheme!r}")
        if not isinstance(self.seed, bytes) or len(self.seed) != ed25519_sha3.SEED_BYTES:
            raise ValueError("seed must be 32 bytes")
        public_key, secret = _derive(self.seed, self.scheme)
        if self.public_key != public_key:
            raise ValueError("public key does not belong to this seed and scheme")
        object.__setattr__(self, "_secret", secret)

    @classmethod
    def generate(
        cls, scheme: KeyScheme = KeyScheme.ED25519, rng: random.Random | None = None
    ) -> KeyPair:
        """A new key pair; with ``rng`` it is deterministic (simulation, tests)."""
        seed = rng.randbytes(32) if rng is not None else os.urandom(32)
        return cls.from_seed(seed, scheme)

    @classmethod
    def from_seed(cls, seed: bytes, scheme: KeyScheme) -> KeyPair:
        seed = bytes(seed)
        if len(seed) != ed25519_sha3.SEED_BYTES:
            raise ValueError(f"seed must be 32 bytes, got {len(seed)}")
        return cls(scheme, seed, _derive(seed, scheme)[0])

    @classmethod
    def from_private_hex(cls, private_key: str, scheme: KeyScheme | None = None) -> KeyPair:
        """Parse a private key file's hex.

        64 hex = seed (scheme defaults to ED25519_SHA3, as in Iroha's ``*.priv`` files);
        128 hex = Ursa form seed || public key (scheme defaults to ED25519); the public
        half must match the seed.
        """
        text = private_key.strip() if isinstance(private_key, str) else ""
        if _HEX64.fullmatch(text):
            return cls.from_seed(bytes.fromhex(text), scheme or KeyScheme.ED25519_SHA3)
        if _HEX128.fullmatch(text):
            raw = bytes.fromhex(text)
            pair = cls.from_seed(raw[:32], scheme or KeyScheme.ED25519)
            if pair.public_key_bytes != raw[32:]:
                raise ValueError("private key's public half does not match its seed")
            return pair
        raise ValueError("private key must be 64 hex (seed) or 128 hex (seed || public key)")

    @property
    def private_key_hex(self) -> str:
        """The 32-byte seed as 64 lower-case hex chars."""
        return self.seed.hex()

    @property
    def public_key_bytes(self) -> bytes:
        """The raw 32-byte curve point (without the multihash prefix)."""
        return bytes.fromhex(self.public_key[-64:])

    def sign(self, message: bytes) -> bytes:
        """64-byte signature; legacy keys sign SHA3-256(message), as Iroha does."""
        if self.scheme is KeyScheme.ED25519_SHA3:
            a, prefix, public = self._secret[:32], self._secret[32:64], self._secret[64:]
            return ed25519_sha3.sign_expanded(a, prefix, public, sha3_256(message))
        signed: bytes = _sodium.crypto_sign(bytes(message), self._secret)
        return signed[:SIGNATURE_BYTES]
