"""The round pipeline on its own: action order, ordering, proposals, restart."""

from __future__ import annotations

import random
from typing import Any

from node.consensus import FakeKeyring, PersistVote
from node.consensus.pipeline import (
    BlockRequestMsg,
    BlockResponseMsg,
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


def _cluster(n: int, config: PipelineConfig | None = None) -> list[Pipe]:
    ring = FakeKeyring()
    rng = random.Random(3)
    signers = [ring.new_signer(rng) for _ in range(n)]
    keys = [s.public_key for s in signers]
    config = config or PipelineConfig(max_proposal_size=5)
    return [Pipeline(s, ring.verify, keys, BankLedger(), config) for s in signers]


def test_ordering_peer_pushes_its_proposal_then_executes_it_in_a_step_of_its_own() -> None:
    r = Round(1, 0)
    pipes = _cluster(4)
    orderer = next(p for p in pipes if p.orderer(r) == p.me)
    orderer.submit(tx(1))
    actions = orderer.start(now_ms=0)
    # the push is the first thing out; executing waits for a step of its own, so the
    # push leaves before it (a step's actions leave when the step ends)
    first = actions[0]
    assert isinstance(first, Broadcast) and isinstance(first.message, ProposalResponseMsg)
    assert first.message.round == r and first.message.proposal is not None
    assert first.message.proposal.batches == (tx(1),)
    assert SetTimer("execute", r, 0, 0) in actions
    assert not any(isinstance(a, PersistVote) for a in actions)
    executed = orderer.step(TimerExpired("execute", r, 0, 0))
    assert any(isinstance(a, PersistVote) and a.block_hash for a in executed)
    assert orderer.step(TimerExpired("execute", r, 0, 0)) == []  # once only
    # a late request for the round gets the very same proposal
    other = next(p for p in pipes if p is not orderer)
    again = orderer.step(MessageReceived(other.me, ProposalRequestMsg(r), 1))
    assert again == [Send(other.me, first.message)]


def test_a_push_for_a_round_not_reached_yet_waits_for_that_round() -> None:
    pipes = _cluster(4)
    me = pipes[0]
    me.start(now_ms=0)
    ahead = Round(2, 0)  # the next height: its ordering peer is not known before block 1
    proposal = BankProposal(2, 5, (tx(1),))
    assert me.step(MessageReceived(pipes[1].me, ProposalResponseMsg(ahead, proposal), 1)) == []
    assert me._early == {pipes[1].me: (ahead, proposal)}
    # from a non-validator: not kept
    assert me.step(MessageReceived("fa" + "00" * 31, ProposalResponseMsg(ahead, None), 2)) == []
    assert list(me._early) == [pipes[1].me]


def test_unreachable_ordering_peer_means_an_immediate_vote_for_nothing() -> None:
    pipes = _cluster(4)
    r = Round(1, 0)
    me = next(p for p in pipes if p.orderer(r) != p.me)
    me.unreachable = frozenset({me.orderer(r)})
    actions = me.start(now_ms=0)
    assert not any(
        isinstance(a, Send) and isinstance(a.message, ProposalRequestMsg) for a in actions
    )
    assert PersistVote(r, 1, b"", b"") in actions


def _shuffled_cluster(seed: int, heights: int) -> tuple[list[list[bytes]], int, int]:
    """Four pipelines, every message delivered in a seeded random order, no timers but
    the ordering peer's "execute" (delivered among the messages, in the same order).
    Returns each node's committed block hashes, proposal requests sent, and rounds
    begun by a validator that does not order them."""
    rng = random.Random(seed)
    pipes = _cluster(4)
    by_key = {p.me: p for p in pipes}
    for i in range(1, 40):
        for p in pipes:
            p.submit(tx(i, 1))
    queue: list[tuple[str, str, Any]] = []
    committed: dict[str, list[bytes]] = {p.me: [] for p in pipes}
    requests = begins = 0
    for p in pipes:
        begins += p.orderer(Round(1, 0)) != p.me
    pending = [(p, p.start(0)) for p in pipes]
    steps = 0
    while pending:
        for p, actions in pending:
            for a in actions:
                if isinstance(a, Send):
                    queue.append((a.to, p.me, a.message))
                    requests += isinstance(a.message, ProposalRequestMsg)
                elif isinstance(a, Broadcast):
                    queue.extend((k, p.me, a.message) for k in by_key if k != p.me)
                elif isinstance(a, SetTimer) and a.kind == "execute":
                    queue.append((p.me, p.me, TimerExpired(a.kind, a.round, a.attempt, steps)))
                elif isinstance(a, Committed):
                    committed[p.me].append(a.block_hash)
                    begins += p.orderer(Round(a.height + 1, 0)) != p.me
        pending = []
        if queue and min(len(c) for c in committed.values()) < heights and steps < 5000:
            to, sender, msg = queue.pop(rng.randrange(len(queue)))
            event = msg if isinstance(msg, TimerExpired) else MessageReceived(sender, msg, steps)
            pending = [(by_key[to], by_key[to].step(event))]
            steps += 1
    return list(committed.values()), requests, begins


def test_cluster_with_pushed_proposals_agrees_under_shuffled_delivery() -> None:
    """Pushes often arrive before their round: every seed commits the same blocks
    everywhere, and early pushes are kept and used (a validator that has the push when
    its round begins sends no request)."""
    requests = begins = 0
    for seed in range(20):
        chains, r, b = _shuffled_cluster(seed, heights=3)
        requests, begins = requests + r, begins + b
        top = min(len(c) for c in chains)
        assert top >= 3, f"seed {seed}: stalled at height {top}"
        for i in range(top):
            assert len({c[i] for c in chains}) == 1, f"seed {seed}: height {i + 1} differs"
    assert 0 < requests < begins


def test_proposal_timeout_doubles_while_a_validator_is_unreachable() -> None:
    pipes = _cluster(4)
    r = Round(1, 0)
    me = next(p for p in pipes if p.orderer(r) != p.me)
    down = next(p.me for p in pipes if p.me not in (me.me, me.orderer(r)))
    me.unreachable = frozenset({down})
    actions = me.start(now_ms=0)
    assert Send(me.orderer(r), ProposalRequestMsg(r)) in actions
    assert SetTimer("proposal", r, 0, 2 * PipelineConfig().proposal_timeout_ms) in actions


class _CountingLedger(BankLedger):
    """Counts the transactions each call executes, commits or applies."""

    def __init__(self) -> None:
        super().__init__()
        self.work = 0

    def execute(self, proposal: BankProposal) -> Any:
        self.work += self.proposal_size(proposal)
        return super().execute(proposal)

    def commit(self, block_hash: bytes, certificate: Any) -> Any:
        done = super().commit(block_hash, certificate)
        if done is not None:
            self.work += len(done.tx_hashes) + len(done.rejected)
        return done

    def apply_block(self, block: BankBlock, certificate: Any) -> Any:
        self.work += len(block.txs)
        return super().apply_block(block, certificate)


def test_step_work_bounds_what_each_step_executes_and_commits() -> None:
    """The driver runs a step on its event loop when ``step_work`` is small: the bound
    must hold for every step (messages and timers, shuffled, over many heights), and be
    small for most vote steps, or nothing would run inline."""
    small = steps = 0
    for seed in range(10):
        rng = random.Random(seed)
        ring = FakeKeyring()
        signers = [ring.new_signer(rng) for _ in range(4)]
        keys = [s.public_key for s in signers]
        config = PipelineConfig(max_proposal_size=5)
        pipes = [Pipeline(s, ring.verify, keys, _CountingLedger(), config) for s in signers]
        by_key = {p.me: p for p in pipes}
        for i in range(1, 30):
            pipes[i % 4].submit(tx(i, 1))
        queue: list[tuple[str, Any]] = []
        pending = [(p, p.start(0)) for p in pipes]
        for n in range(3000):
            for p, actions in pending:
                for a in actions:
                    if isinstance(a, Send):
                        queue.append((a.to, MessageReceived(p.me, a.message, n)))
                    elif isinstance(a, Broadcast):
                        queue.extend(
                            (k, MessageReceived(p.me, a.message, n)) for k in by_key if k != p.me
                        )
                    elif isinstance(a, SetTimer) and (a.kind == "execute" or rng.random() < 0.3):
                        # an ordering peer executes its own proposal at its "execute" timer
                        queue.append((p.me, TimerExpired(a.kind, a.round, a.attempt, n)))
            if not queue:
                break
            to, event = queue.pop(rng.randrange(len(queue)))
            pipe = by_key[to]
            ledger = pipe.ledger
            assert isinstance(ledger, _CountingLedger)
            bound = pipe.step_work(event)
            before = ledger.work
            pending = [(pipe, pipe.step(event))]
            assert ledger.work - before <= bound, (seed, n, event, bound)
            steps += 1
            small += bound <= 5 and isinstance(event, MessageReceived)
        assert min(p.ledger.height for p in pipes) >= 3, f"seed {seed}: stalled"
    assert small > steps // 4


def test_step_work_of_block_sync_is_unbounded() -> None:
    pipe, keys, _ = make(4)
    pipe.start(now_ms=0)
    assert pipe.step_work(MessageReceived(keys[1], BlockRequestMsg(1, 10), 1)) > 10**9
    assert pipe.step_work(MessageReceived(keys[1], BlockResponseMsg((), 0), 1)) > 10**9


def test_batches_arriving_answer_every_waiting_requester_at_once() -> None:
    # The ordering peer of 1:0 has nothing to order: it and an early asker wait for the
    # "order" timer. A batch arrives, then a later peer asks: all three get the proposal
    # now. Before, only the later asker did, and the others (the ordering peer itself
    # among them) could see the block committed before they had even executed it.
    r = Round(1, 0)
    for me in range(4):
        pipe, keys, _ = make(4, me)
        if pipe.orderer(r) == pipe.me:
            break
    early, late = [k for k in keys if k != pipe.me][:2]
    started = pipe.start(now_ms=0)
    assert any(isinstance(a, SetTimer) and a.kind == "order" for a in started)
    assert pipe.step(MessageReceived(early, ProposalRequestMsg(r), 1)) == []
    assert pipe.submit(tx(1)) is AddResult.ACCEPTED
    out = pipe.step(MessageReceived(late, ProposalRequestMsg(r), 2))
    # pushed to every validator (the ordering peer waited too), as at the start of a round
    assert isinstance(out[0], Broadcast) and isinstance(out[0].message, ProposalResponseMsg)
    assert out[0].message.proposal is not None and out[0].message.proposal.batches == (tx(1),)
    assert not any(isinstance(a, Send) for a in out)
    # the ordering peer executes its proposal in the next step, not at the "order" timer
    assert SetTimer("execute", r, 0, 0) in out
    assert not any(isinstance(a, PersistVotedProposal) for a in out)
    executed = pipe.step(TimerExpired("execute", r, 0, 2))
    assert any(isinstance(a, PersistVotedProposal) for a in executed)
    # the "order" timer then finds nobody waiting
    assert pipe.step(TimerExpired("order", r, 0, 500)) == []


def _orderer_of(r: Round, config: PipelineConfig) -> tuple[Pipe, list[str]]:
    pipes = _cluster(4, config)
    return next(p for p in pipes if p.orderer(r) == p.me), [p.me for p in pipes]


def _proposals_to(actions: list[Any]) -> list[str]:
    return sorted(
        a.to for a in actions if isinstance(a, Send) and isinstance(a.message, ProposalResponseMsg)
    )


def test_ordering_peer_waits_to_fill_its_proposal_then_pushes_it() -> None:
    r = Round(1, 0)
    config = PipelineConfig(max_proposal_size=5, proposal_fill_ms=100)
    pipe, keys = _orderer_of(r, config)
    others = [k for k in keys if k != pipe.me]
    pipe.submit(tx(1))
    started = pipe.start(now_ms=1000)
    # one transaction of five pending: no push yet, but an "order" timer at the fill time
    assert not any(isinstance(a, Broadcast) for a in started)
    assert SetTimer("order", r, 0, 100) in started
    # a peer asking meanwhile waits too (no second, later timer)
    assert pipe.step(MessageReceived(others[0], ProposalRequestMsg(r), 1040)) == []
    pipe.submit(tx(2))
    assert pipe.step(MessageReceived(others[1], ProposalRequestMsg(r), 1060)) == []
    # at the timer the proposal, with what arrived meanwhile, is pushed to every
    # validator (the askers, and a peer whose request came too early to be kept), and
    # the ordering peer executes it in a step of its own
    out = pipe.step(TimerExpired("order", r, 0, 1100))
    push = out[0]
    assert isinstance(push, Broadcast) and isinstance(push.message, ProposalResponseMsg)
    assert push.message.proposal.batches == (tx(1), tx(2))
    assert _proposals_to(out) == []
    assert SetTimer("execute", r, 0, 0) in out
    # a peer asking again gets the same proposal at once
    late = pipe.step(MessageReceived(others[2], ProposalRequestMsg(r), 1120))
    assert late == [Send(others[2], push.message)]


def test_ordering_peer_with_a_full_proposal_pending_serves_at_once() -> None:
    r = Round(1, 0)
    pipe, _ = _orderer_of(r, PipelineConfig(max_proposal_size=2, proposal_fill_ms=100))
    pipe.submit(tx(1))
    pipe.submit(tx(2))
    started = pipe.start(now_ms=0)
    push = started[0]
    assert isinstance(push, Broadcast) and isinstance(push.message, ProposalResponseMsg)
    assert push.message.proposal.batches == (tx(1), tx(2))
    assert not any(isinstance(a, SetTimer) and a.kind == "order" for a in started)


def test_a_request_after_batches_arrive_shortens_the_wait_to_the_fill_time() -> None:
    # Nothing pending when the round began: the ordering peer waits half the proposal
    # timeout. A batch arrives and a peer asks 30 ms in: the proposal goes out at the
    # fill time (100 ms after the round began), not 500 ms after.
    r = Round(1, 0)
    config = PipelineConfig(proposal_timeout_ms=1000, max_proposal_size=5, proposal_fill_ms=100)
    pipe, keys = _orderer_of(r, config)
    asker = next(k for k in keys if k != pipe.me)
    started = pipe.start(now_ms=0)
    assert SetTimer("order", r, 0, 500) in started
    pipe.submit(tx(1))
    assert pipe.step(MessageReceived(asker, ProposalRequestMsg(r), 30)) == [
        SetTimer("order", r, 0, 70)
    ]
    out = pipe.step(TimerExpired("order", r, 0, 100))
    assert isinstance(out[0], Broadcast) and SetTimer("execute", r, 0, 0) in out
    assert pipe.step(TimerExpired("order", r, 0, 500)) == []  # the first timer: nobody waits


def test_the_fill_wait_is_at_most_half_the_proposal_timeout() -> None:
    r = Round(1, 0)
    config = PipelineConfig(proposal_timeout_ms=400, max_proposal_size=5, proposal_fill_ms=5000)
    pipe, _ = _orderer_of(r, config)
    pipe.submit(tx(1))
    assert SetTimer("order", r, 0, 200) in pipe.start(now_ms=0)
