"""Cryptography: keys, signing, verification and hashing for both Iroha 1 key schemes.

Owns Ed25519 (``ed0120``-multihash keys, RFC 8032, signs the raw payload) and Iroha's
legacy Ed25519-with-SHA3-512 (64-hex keys, signs SHA3-256(payload)), key pairs and
their hex forms, SHA3-256, and batch verification on a small thread pool. ``_donna``
(built from ``donna/`` by the native build) is the compiled verification equation that
``ed25519`` and ``ed25519_sha3`` use; without it they give the same answers through
libsodium.

Imports nothing else from ``node``: every other package may depend on it, it on none.
"""

from node.crypto.batch import BatchVerifier
from node.crypto.keys import KeyPair, KeyScheme, scheme_of, sha3_256, verify

__all__ = ["BatchVerifier", "KeyPair", "KeyScheme", "scheme_of", "sha3_256", "verify"]
