"""Vote <-> bakong.peer protobuf, and commit-certificate verification."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from node.consensus import FakeKeyring, Vote, sign_vote
from node.consensus.codec import (
    HAS_PHASE,
    CodecError,
    vote_from_pb,
    vote_to_pb,
    votes_from_pb,
    votes_to_pb,
)
from node.consensus.pipeline import verify_certificate
from node.crypto import KeyPair, KeyScheme, verify
from node.model import Round
from node.proto.peer import peer_pb2

ring = FakeKeyring()
SIGNERS = [ring.new_signer(random.Random(i)) for i in range(4)]
KEYS = [s.public_key for s in SIGNERS]
P, B = b"p" * 32, b"b" * 32


def test_vote_roundtrip_through_protobuf_bytes() -> None:
    v = sign_vote(SIGNERS[0], Round(7, 2), P, B, b"s" * 64)
    wire = votes_to_pb([v, v]).SerializeToString()
    back = votes_from_pb(peer_pb2.VoteState.FromString(wire), max_votes=10)
    assert back == (v, v)


def test_commit_vote_needs_the_phase_field() -> None:
    v = sign_vote(SIGNERS[0], Round(1, 0), P, B, b"", 2)
    if HAS_PHASE:
        assert vote_from_pb(vote_to_pb(v)) == v
    else:
        with pytest.raises(CodecError):
            vote_to_pb(v)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.ClearField("round"),
        lambda m: setattr(m, "proposal_hash", b"x" * 65),
        lambda m: setattr(m, "block_hash", b""),  # proposal without block
        lambda m: setattr(m, "public_key", ""),
        lambda m: setattr(m, "signature", b"x" * 129),
    ],
)
def test_malformed_votes_decode_to_none(mutate: object) -> None:
    msg = vote_to_pb(sign_vote(SIGNERS[0], Round(1, 0), P, B))
    mutate(msg)
    assert vote_from_pb(msg) is None
    assert votes_from_pb(peer_pb2.VoteState(votes=[msg]), 10) is None


def test_vote_state_size_is_bounded() -> None:
    v = vote_to_pb(sign_vote(SIGNERS[0], Round(1, 0), P, B))
    assert votes_from_pb(peer_pb2.VoteState(votes=[v] * 11), 10) is None
    assert votes_from_pb(peer_pb2.VoteState(), 10) is None


R31 = Round(3, 1)


def commit(i: int, rnd: Round = R31) -> Vote:
    return sign_vote(SIGNERS[i], rnd, P, B, b"", 2)


def test_certificate_verification() -> None:
    good = tuple(commit(i) for i in range(3))
    ok = verify_certificate(good, KEYS, ring.verify, 3, 3, B)
    assert ok
    forged = {
        "q - 1 signatures": good[:2],
        "duplicated signer": (good[0], good[0], good[1]),
        "phase-1 votes": tuple(replace(v, phase=1) for v in good),
        "signature over another hash": tuple(replace(v, block_hash=b"c" * 32) for v in good),
        "wrong height": tuple(commit(i, Round(4, 1)) for i in range(3)),
        "mixed rounds": (commit(0), commit(1), commit(2, Round(3, 2))),
        "bit-flipped signature": (
            good[0],
            good[1],
            replace(good[2], signature=bytes(b ^ 1 for b in good[2].signature)),
        ),
    }
    for name, cert in forged.items():
        assert not verify_certificate(cert, KEYS, ring.verify, 3, 3, B), name
    outsider = ring.new_signer(random.Random(99))
    padded = (*good[:2], sign_vote(outsider, Round(3, 1), P, B, b"", 2))
    assert not verify_certificate(padded, KEYS, ring.verify, 3, 3, B)


def test_real_ed25519_votes_verify_and_tamper_fails() -> None:
    pair = KeyPair.generate(KeyScheme.ED25519, random.Random(5))
    votes = (sign_vote(pair, Round(1, 0), P, B, b"", 2),)
    assert verify_certificate(votes, [pair.public_key], verify, 1, 1, B)
    bad = (replace(votes[0], round=Round(1, 1)),)
    assert not verify_certificate(bad, [pair.public_key], verify, 1, 1, B)
