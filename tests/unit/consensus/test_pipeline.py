"""The round pipeline on its own: action order, ordering, proposals, restart."""

from __future__ import annotations

import random

from node.consensus import FakeKeyring, PersistVote
from node.consensus.pipeline import (
    Broadcast,
    Committed,
    MessageReceived,
    PersistVotedProposal,
    Pipeline,
    PipelineConfig,
    ProposalRequestMsg,
    ProposalResponseMsg,
    Send,
    SetTimer,
    TimerExpired,
    VotesMsg,
)
from node.consensus.yac import SignState
from node.model import Round
from node.ordering import AddResult
from node.sim.bank import TRANSFER, BankBatch, BankBlock, BankLedger, BankProposal, BankTx

Pipe = Pipeline[BankBatch, BankProposal, BankBlock]


def tx(i: int, amount: int = 10) -> BankBatch:
    return BankBatch((BankTx.make(i, TRANSFER, 1, 2, amount, True),))


def make(n: int, me: int = 0) -> tuple[Pipe, list[str], FakeKeyring]:
    ring = FakeKeyring()
    rng = random.Random(3)
    signers = [ring.new_signer(rng) for _ in range(n)]
    keys = [s.public_key for s in signers]
    pipe: Pipe = Pipeline(signers[me], ring.verify, keys, BankLedger(), PipelineConfig())
    return pipe, keys, ring


def test_single_validator_commits_and_persists_before_it_speaks() -> None:
    pipe, _, _ = make(1)
    assert pipe.submit(tx(1)) is AddResult.ACCEPTED
    assert pipe.submit(tx(1)) is AddResult.DUPLICATE
    actions = pipe.start(now_ms=0)
    kinds = [type(a).__name__ for a in actions]
    # proposal stored, then the vote persisted, ... the commit vote persisted, committed
    assert kinds[:2] == ["PersistVotedProposal", "PersistVote"]
    persists = [a for a in actions if isinstance(a, PersistVote)]
    assert [p.phase for p in persists] == [1, 2]
    committed = [a for a in actions if isinstance(a, Committed)]
    assert len(committed) == 1 and committed[0].height == 1
    assert committed[0].tx_hashes == tx(1).tx_hashes
    assert pipe.ledger.height == 1 and pipe.cache.tx_count == 0
    assert pipe.submit(tx(1)) is AddResult.FINALIZED
    # the next round has nothing to order: wait half a proposal timeout, not spin
    assert isinstance(actions[-1], SetTimer) and actions[-1].kind in ("order", "vote")
    assert any(isinstance(a, SetTimer) and a.kind == "order" for a in actions)


def test_requests_proposal_from_the_orderer_and_ignores_others() -> None:
    pipe, keys, _ = make(4)
    actions = pipe.start(now_ms=0)
    r = Round(1, 0)
    orderer = pipe.orderer(r)
    assert orderer != keys[0]  # fixed keys: another validator orders 1:0
    assert Send(orderer, ProposalRequestMsg(r)) in actions
    assert SetTimer("proposal", r, 0, 1000) in actions
    stranger = next(k for k in keys if k not in (orderer, keys[0]))
    proposal = BankProposal(1, 5, (tx(1),))
    assert pipe.step(MessageReceived(stranger, ProposalResponseMsg(r, proposal), 5)) == []
    # a proposal for the wrong height from the right peer means: vote for nothing
    bad = BankProposal(7, 5, (tx(1),))
    out = pipe.step(MessageReceived(orderer, ProposalResponseMsg(r, bad), 6))
    votes = [a for a in out if isinstance(a, Send) and isinstance(a.message, VotesMsg)]
    assert votes and votes[0].message.votes[0].block_hash == b""  # type: ignore[union-attr]
    # the proposal timer after voting does nothing
    assert pipe.step(TimerExpired("proposal", r, 0, 1000)) == []


def test_proposal_timeout_votes_for_nothing() -> None:
    pipe, _, _ = make(4)
    pipe.start(now_ms=0)
    r = Round(1, 0)
    assert pipe.orderer(r) != pipe.me
    out = pipe.step(TimerExpired("proposal", r, 0, 1000))
    assert PersistVote(r, 1, b"", b"") in out


def test_restart_rebuilds_the_voted_candidate() -> None:
    pipe, keys, ring = make(1)
    pipe.submit(tx(1))
    proposal = BankProposal(1, 0, (tx(1),))
    ledger = BankLedger()
    candidate = ledger.execute(proposal)
    assert candidate is not None
    signer = FakeKeyring().new_signer(random.Random(1))
    state = SignState(vote=(Round(1, 0), proposal.phash, candidate.block_hash))
    again: Pipe = Pipeline(
        signer,
        ring.verify,
        [signer.public_key, *keys[1:]],
        BankLedger(),
        sign_state=state,
        voted_proposals=(proposal,),
    )
    assert candidate.block_hash in again._candidates


def test_votes_go_out_as_broadcast_or_send_only() -> None:
    pipe, _, _ = make(1)
    pipe.submit(tx(2))
    for a in pipe.start(0):
        if isinstance(a, Send | Broadcast):
            assert isinstance(a.message, VotesMsg | ProposalRequestMsg)
        assert not isinstance(a, PersistVotedProposal) or a.height == 1
