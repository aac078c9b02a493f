"""Commit certificates: the YAC votes that finalized a block, checked on their own.

A certificate proves a block when it holds votes of at least ``q = n - f`` distinct
current validators, all for the same round and the same (proposal hash, block hash),
the block hash being the hash of that very block, each vote's signature valid. Anything
else refuses the block: a peer can lie about blocks, never forge a certificate.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from google.protobuf.message import DecodeError

from node.consensus.codec import vote_from_pb, vote_to_pb
from node.consensus.supermajority import quorum
from node.consensus.vote import Vote, VoteVerifier, vote_is_valid
from node.proto.peer import peer_pb2

MAX_CERT_VOTES = 1024


def encode_certificate(votes: Sequence[Vote]) -> bytes:
    state = peer_pb2.VoteState()
    state.votes.extend(vote_to_pb(v) for v in votes)
    return state.SerializeToString()


def decode_certificate(raw: bytes) -> list[Vote] | None:
    """Votes of a serialized ``VoteState``; None when malformed."""
    state = peer_pb2.VoteState()
    try:
        state.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError):
        return None
    if len(state.votes) > MAX_CERT_VOTES:
        return None
    votes = []
    for pb in state.votes:
        v = vote_from_pb(pb)
        if v is None:
            return None
        votes.append(v)
    return votes


def certificate_problem(
    votes: Sequence[Vote],
    block_hash: bytes,
    height: int,
    validators: Collection[str],
    verify: VoteVerifier,
) -> str | None:
    """None if ``votes`` commit ``block_hash`` at ``height``; else why not."""
    if not votes:
        return "no certificate"
    first = votes[0]
    if first.round.block_round != height:
        return f"certificate is for height {first.round.block_round}, block is {height}"
    if first.block_hash != block_hash:
        return "certificate is for another block"
    members = {k.lower() for k in validators}
    signers: set[str] = set()
    for v in votes:
        if v.round != first.round or v.value != first.value:
            return "certificate mixes rounds or values"
        key = v.public_key.lower()
        if key not in members or key in signers:
            continue  # not a current validator, or counted already
        if not vote_is_valid(v, verify):
            return f"bad vote signature from {key[:16]}"
        signers.add(key)
    need = quorum(len(members))
    if len(signers) < need:
        return f"certificate has {len(signers)} valid validator votes, {need} needed"
    return None
