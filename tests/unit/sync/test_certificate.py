"""Stored commit certificates: round trip, hostile bytes, and verification of what they hold."""

from __future__ import annotations

from node.consensus.pipeline import verify_certificate
from node.consensus.vote import Vote, sign_vote
from node.crypto import KeyPair, KeyScheme, verify
from node.model import Round
from node.sync import decode_certificate, encode_certificate

KEYS = [KeyPair.from_seed(bytes([i]) * 32, KeyScheme.ED25519) for i in range(1, 5)]
VALIDATORS = [k.public_key for k in KEYS]
BH, PH = b"\x11" * 32, b"\x22" * 32
R = Round(5, 1)


def votes(keys: list[KeyPair], block: bytes = BH) -> list[Vote]:
    return [sign_vote(k, R, PH, block, phase=2) for k in keys]


def valid(vs: list[Vote], block: bytes = BH, height: int = 5) -> bool:
    raw = decode_certificate(encode_certificate(vs))
    assert raw is not None
    return verify_certificate(raw, VALIDATORS, verify, 3, height, block)


def test_round_trip_and_quorum() -> None:
    vs = votes(KEYS[:3])
    assert decode_certificate(encode_certificate(vs)) == vs
    assert valid(vs) and valid(votes(KEYS))


def test_what_does_not_prove_a_block() -> None:
    assert not valid(votes(KEYS[:2]))  # 2 of 4 < q = 3
    assert not valid([votes(KEYS[:1])[0]] * 3)  # one key three times counts once
    outsiders = [KeyPair.from_seed(bytes([9 + i]) * 32, KeyScheme.ED25519) for i in range(3)]
    assert not valid(votes(outsiders))  # not validators
    assert not valid(votes(KEYS[:3]), block=b"\x33" * 32)  # another block
    assert not valid(votes(KEYS[:3]), height=6)  # another height
    forged = votes(KEYS[:3])
    forged[2] = Vote(R, PH, BH, forged[2].public_key, b"\x00" * 64, b"", 2)
    assert not valid(forged)  # a bad signature does not count


def test_hostile_bytes_decode_to_none() -> None:
    assert decode_certificate(b"\xff\xff garbage") is None
    assert decode_certificate(b"") == []
