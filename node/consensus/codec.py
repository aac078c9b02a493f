"""Conversion between the pure vote types and ``bakong.peer`` protobufs.

Decoding never raises on hostile input: a malformed message becomes ``None`` and the
caller counts and drops it (peer errors are answers, not crashes).
"""

from __future__ import annotations

from collections.abc import Sequence

from node.consensus.vote import Vote
from node.model import Round
from node.proto.peer import peer_pb2

MAX_HASH_BYTES = 64
MAX_KEY_CHARS = 136
MAX_SIGNATURE_BYTES = 128
MAX_U32 = 2**32 - 1
# Commit votes (phase 2) need ``uint32 phase = 7`` in ``bakong.peer.Vote``; requested
# from the proto owner. Until it exists only phase-1 votes can be encoded.
HAS_PHASE = "phase" in peer_pb2.Vote.DESCRIPTOR.fields_by_name


class CodecError(ValueError):
    """A vote that the current wire schema cannot carry."""


def round_to_pb(round_: Round) -> peer_pb2.Round:
    return peer_pb2.Round(block_round=round_.block_round, reject_round=round_.reject_round)


def round_from_pb(msg: peer_pb2.Round) -> Round:
    return Round(msg.block_round, msg.reject_round)


def vote_to_pb(vote: Vote) -> peer_pb2.Vote:
    msg = peer_pb2.Vote(
        round=round_to_pb(vote.round),
        proposal_hash=vote.proposal_hash,
        block_hash=vote.block_hash,
        public_key=vote.public_key,
        signature=vote.signature,
        block_signature=vote.block_signature,
    )
    if vote.phase != 1:
        if not HAS_PHASE:
            raise CodecError("bakong.peer.Vote has no phase field: cannot send a commit vote")
        setattr(msg, "phase", vote.phase)  # noqa: B010 (field absent from older stubs)
    return msg


def vote_from_pb(msg: peer_pb2.Vote) -> Vote | None:
    """``None`` when a field is out of bounds (the signature is checked by the machine)."""
    phase = int(getattr(msg, "phase", 0)) or 1  # 0 (absent) = an ordinary vote
    if (
        phase not in (1, 2)
        or not msg.HasField("round")
        or len(msg.proposal_hash) > MAX_HASH_BYTES
        or len(msg.block_hash) > MAX_HASH_BYTES
        or bool(msg.proposal_hash) != bool(msg.block_hash)
        or not 0 < len(msg.public_key) <= MAX_KEY_CHARS
        or len(msg.signature) > MAX_SIGNATURE_BYTES
        or len(msg.block_signature) > MAX_SIGNATURE_BYTES
    ):
        return None
    return Vote(
        round_from_pb(msg.round),
        bytes(msg.proposal_hash),
        bytes(msg.block_hash),
        msg.public_key.lower(),
        bytes(msg.signature),
        bytes(msg.block_signature),
        phase,
    )


def votes_to_pb(votes: Sequence[Vote]) -> peer_pb2.VoteState:
    return peer_pb2.VoteState(votes=[vote_to_pb(v) for v in votes])


def votes_from_pb(msg: peer_pb2.VoteState, max_votes: int) -> tuple[Vote, ...] | None:
    """All votes of a VoteState, or ``None`` if empty, too long or any vote malformed."""
    if not 0 < len(msg.votes) <= max_votes:
        return None
    out: list[Vote] = []
    for item in msg.votes:
        vote = vote_from_pb(item)
        if vote is None:
            return None
        out.append(vote)
    return tuple(out)
