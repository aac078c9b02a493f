"""Pipeline messages <-> ``bakong.peer`` frames.

Decoding takes a frame that already passed the network layer (authenticated sender,
size-limited) and returns a pipeline message or ``None`` with a reason when a field is
out of bounds; it never raises. Encoding keeps block responses under the frame limit
by sending fewer blocks (the requester asks again from where it stopped).
"""

from __future__ import annotations

from typing import Any

from node.consensus.codec import round_from_pb, round_to_pb, vote_from_pb, vote_to_pb
from node.consensus.pipeline import (
    BatchesMsg,
    BlockRequestMsg,
    BlockResponseMsg,
    ProposalRequestMsg,
    ProposalResponseMsg,
    VotesMsg,
)
from node.model import Batch, Tx, group_batches
from node.proto.iroha import block_pb2, proposal_pb2
from node.proto.peer import peer_pb2

MAX_VOTES_PER_FRAME = 1024
MAX_BLOCKS_PER_RESPONSE = 1000

Message = Any  # a PipelineMessage[Batch, Proposal, Block]


def _votes_pb(votes: Any) -> peer_pb2.VoteState:
    state = peer_pb2.VoteState()
    state.votes.extend(vote_to_pb(v) for v in votes)
    return state


def encode(msg: Message, max_frame_bytes: int) -> peer_pb2.Frame:
    f = peer_pb2.Frame()
    if isinstance(msg, VotesMsg):
        f.votes.CopyFrom(_votes_pb(msg.votes))
    elif isinstance(msg, ProposalRequestMsg):
        f.proposal_request.round.CopyFrom(round_to_pb(msg.round))
    elif isinstance(msg, ProposalResponseMsg):
        r = f.proposal_response
        r.round.CopyFrom(round_to_pb(msg.round))
        if msg.proposal is not None:
            r.proposal.CopyFrom(msg.proposal)
            r.has_proposal = True
    elif isinstance(msg, BatchesMsg):
        f.batches.transactions.extend(t.pb for b in msg.batches for t in b.txs)
    elif isinstance(msg, BlockRequestMsg):
        f.block_request.from_height = msg.from_height
        f.block_request.max_blocks = msg.max_blocks
    elif isinstance(msg, BlockResponseMsg):
        r2 = f.block_response
        r2.top_height = msg.top_height
        budget = max_frame_bytes - 64
        for block, cert in msg.blocks:
            entry = peer_pb2.CommittedBlock(block=block, certificate=_votes_pb(cert))
            size = entry.ByteSize() + 8
            if r2.blocks and size > budget:
                break
            budget -= size
            r2.blocks.append(entry)
    else:
        raise TypeError(f"not a pipeline message: {type(msg).__name__}")
    return f


def decode(f: peer_pb2.Frame) -> tuple[Message | None, str]:
    """(message, "") or (None, reason). Hello/Auth/Status are the node's, not the pipeline's."""
    kind = f.WhichOneof("kind")
    if kind == "votes":
        if not 0 < len(f.votes.votes) <= MAX_VOTES_PER_FRAME:
            return None, "vote_count"
        votes = []
        for pb in f.votes.votes:
            v = vote_from_pb(pb)
            if v is None:
                return None, "vote_fields"
            votes.append(v)
        return VotesMsg(tuple(votes)), ""
    if kind == "proposal_request":
        return ProposalRequestMsg(round_from_pb(f.proposal_request.round)), ""
    if kind == "proposal_response":
        r = f.proposal_response
        proposal: proposal_pb2.Proposal | None = None
        if r.has_proposal:
            proposal = proposal_pb2.Proposal()
            proposal.CopyFrom(r.proposal)
        return ProposalResponseMsg(round_from_pb(r.round), proposal), ""
    if kind == "batches":
        txs = [Tx(t) for t in f.batches.transactions]
        if not txs:
            return None, "empty_batches"
        batches: list[Batch] = group_batches(txs)
        return BatchesMsg(tuple(batches)), ""
    if kind == "block_request":
        req = f.block_request
        if req.from_height < 1:
            return None, "block_request_height"
        return BlockRequestMsg(req.from_height, max(1, min(req.max_blocks, 1000))), ""
    if kind == "block_response":
        r3 = f.block_response
        if len(r3.blocks) > MAX_BLOCKS_PER_RESPONSE:
            return None, "too_many_blocks"
        blocks = []
        for entry in r3.blocks:
            cert = []
            for pb in entry.certificate.votes:
                v = vote_from_pb(pb)
                if v is None:
                    return None, "certificate_fields"
                cert.append(v)
            block = block_pb2.Block()
            block.CopyFrom(entry.block)
            blocks.append((block, tuple(cert)))
        return BlockResponseMsg(tuple(blocks), r3.top_height), ""
    return None, f"unexpected_{kind}"
