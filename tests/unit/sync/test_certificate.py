"""Commit certificates are verified on their own: a lying peer cannot forge one."""

from __future__ import annotations

from node.consensus.vote import sign_vote
from node.crypto import KeyPair, KeyScheme, verify
from node.model import Round
from node.proto.iroha import block_pb2
from node.proto.peer import peer_pb2
from node.sync import (
    certificate_problem,
    decode_certificate,
    encode_certificate,
    serve_block_request,
)

KEYS = [KeyPair.from_seed(bytes([i]) * 32, KeyScheme.ED25519) for i in range(1, 5)]
VALIDATORS = [k.public_key for k in KEYS]
BH, PH = b"\x11" * 32, b"\x22" * 32
R = Round(5, 1)


def cert(keys: list[KeyPair], *, round_: Round = R, block: bytes = BH) -> bytes:
    return encode_certificate([sign_vote(k, round_, PH, block) for k in keys])


def check(raw: bytes, block: bytes = BH, height: int = 5) -> str | None:
    votes = decode_certificate(raw)
    assert votes is not None
    return certificate_problem(votes, block, height, VALIDATORS, verify)


def test_quorum_of_valid_votes_commits() -> None:
    assert check(cert(KEYS[:3])) is None
    assert check(cert(KEYS)) is None


def test_refusals() -> None:
    assert "2 valid validator votes, 3 needed" in (check(cert(KEYS[:2])) or "")
    # the same key three times counts once
    dup = encode_certificate([sign_vote(KEYS[0], R, PH, BH)] * 3)
    assert "1 valid validator votes" in (check(dup) or "")
    # votes from keys outside the validator set do not count
    outsiders = [KeyPair.from_seed(bytes([9 + i]) * 32, KeyScheme.ED25519) for i in range(3)]
    assert "0 valid validator votes" in (check(cert(outsiders)) or "")
    assert check(cert(KEYS[:3]), block=b"\x33" * 32) == "certificate is for another block"
    assert "height 5, block is 6" in (check(cert(KEYS[:3]), height=6) or "")
    mixed = encode_certificate(
        [sign_vote(KEYS[0], R, PH, BH), sign_vote(KEYS[1], Round(5, 2), PH, BH)]
    )
    assert check(mixed) == "certificate mixes rounds or values"
    forged = decode_certificate(cert(KEYS[:3]))
    assert forged is not None
    bad = [
        forged[0],
        forged[1],
        type(forged[2])(R, PH, BH, forged[2].public_key, b"\x00" * 64),
    ]
    assert "bad vote signature" in (certificate_problem(bad, BH, 5, VALIDATORS, verify) or "")
    assert decode_certificate(b"\xff\xff garbage") is None


def test_serve_block_request_limits() -> None:
    blocks = {}
    for h in range(1, 11):
        b = block_pb2.Block()
        b.block_v1.payload.height = h
        b.block_v1.payload.prev_block_hash = "ab" * 1000  # ~2 KB each
        blocks[h] = (b, cert(KEYS[:3]))
    req = peer_pb2.BlockRequest(from_height=3, max_blocks=100)
    resp = serve_block_request(blocks.get, 10, req, max_blocks=5, max_bytes=1 << 20)
    assert [e.block.block_v1.payload.height for e in resp.blocks] == [3, 4, 5, 6, 7]
    assert resp.top_height == 10
    small = serve_block_request(blocks.get, 10, req, max_blocks=100, max_bytes=5000)
    assert 1 <= len(small.blocks) < 5, "a response stays under the byte limit"
