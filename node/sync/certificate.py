"""Commit certificates as bytes: the YAC commit votes that finalized a block.

Verification (q = n - f valid votes of distinct current validators for this block) is
:func:`node.consensus.pipeline.verify_certificate`; decoding never raises.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError

from node.consensus.codec import vote_from_pb, vote_to_pb
from node.consensus.vote import Vote
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
