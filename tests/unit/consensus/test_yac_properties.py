"""Hypothesis: random event sequences against one YAC machine (plan row 2).

Every other validator is adversarial here (any vote, any round, equivocations, bad
signatures, outsiders, padded certificates). Whatever they send, the machine under test
must never sign two different values for one (round, phase) — also across a restart —,
never commit without q valid commit votes of distinct validators, and never count an
invalid vote or one vote twice.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.consensus import (
    BroadcastVotes,
    CandidateReady,
    ChainAdvanced,
    CommitBlock,
    FakeKeyring,
    PersistVote,
    SendVotes,
    TimerFired,
    Vote,
    VotesReceived,
    YacAction,
    YacConfig,
    YacMachine,
    quorum,
    sign_vote,
)
from node.consensus.vote import vote_body
from node.consensus.yac import SignState
from node.model import Round

EXAMPLES = 5000 if os.environ.get("BAKONG_LONG") == "1" else 400
VALUES = [(b"", b""), (b"p1" * 16, b"b1" * 16), (b"p2" * 16, b"b2" * 16), (b"p3" * 16, b"b3" * 16)]

vote_event = st.tuples(
    st.just("vote"),
    st.integers(-1, 6),  # voter (-1 = outsider; folded into the validator set size)
    st.integers(1, 2),  # phase
    st.integers(-1, 2),  # height offset
    st.integers(0, 4),  # reject round
    st.integers(0, 3),  # value
    st.booleans(),  # bad signature
)
cert_event = st.tuples(
    st.just("cert"),
    st.lists(st.integers(-1, 6), min_size=2, max_size=9),
    st.integers(1, 2),
    st.integers(-1, 1),
    st.integers(0, 4),
    st.integers(0, 3),
    st.booleans(),
)
other_event = st.one_of(
    st.tuples(st.just("candidate"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("timer"), st.integers(0, 3)),
    st.tuples(st.just("chain")),
    st.tuples(st.just("restart")),
)
events = st.lists(st.one_of(vote_event, vote_event, cert_event, other_event), max_size=200)


class World:
    def __init__(self, n: int, seed: int) -> None:
        rng = random.Random(seed)
        self.ring = FakeKeyring()
        self.signers = [self.ring.new_signer(rng) for _ in range(n)]
        self.outsider = self.ring.new_signer(rng)
        self.validators = [s.public_key for s in self.signers]
        self.n = n
        self.config = YacConfig(vote_delay_ms=1000, round_timeout_ms=3000)
        self.state = SignState()
        self.top = 0
        self.machine = self._boot()
        self.signed: dict[tuple[Round, int], tuple[bytes, bytes]] = {}
        self.valid_delivered: set[tuple[str, Round, int]] = set()
        self.now = 0

    def _boot(self) -> YacMachine:
        m = YacMachine(
            self.signers[0], self.ring.verify, self.validators, self.top, self.config, self.state
        )
        self.check(m.start())
        return m

    def vote(self, who: int, phase: int, dh: int, r: int, value: int, bad: bool) -> Vote:
        signer = self.outsider if who < 0 else self.signers[1 + who % (self.n - 1)]
        cur = self.machine.round
        rnd = Round(max(1, cur.block_round + dh), r)
        val = VALUES[value] if phase == 1 or value else VALUES[1]
        v = sign_vote(signer, rnd, val[0], val[1], b"", phase)
        if bad:
            v = replace(v, signature=bytes(x ^ 0x55 for x in v.signature))
        elif who >= 0:
            self.valid_delivered.add((v.public_key, v.round, v.phase))
        return v

    def check(self, actions: list[YacAction]) -> None:
        me = self.signers[0].public_key
        q = quorum(self.n)
        for a in actions:
            if isinstance(a, PersistVote):
                if a.phase == 1:
                    self.state = replace(self.state, vote=(a.round, a.proposal_hash, a.block_hash))
                else:
                    self.state = replace(
                        self.state,
                        commit=(a.round, a.proposal_hash, a.block_hash),
                        commit_justification=a.justification,
                    )
                self.record(a.round, a.phase, (a.proposal_hash, a.block_hash))
            elif isinstance(a, SendVotes | BroadcastVotes):
                for v in a.votes:
                    if v.public_key == me:
                        self.record(v.round, v.phase, v.value)
            elif isinstance(a, CommitBlock):
                signers = set()
                for v in a.certificate:
                    assert v.phase == 2 and v.round == a.round
                    assert v.value == (a.proposal_hash, a.block_hash) and v.block_hash
                    assert v.public_key in self.validators
                    body = vote_body(v.round, v.proposal_hash, v.block_hash, v.block_signature, 2)
                    assert self.ring.verify(v.public_key, body, v.signature)
                    signers.add(v.public_key)
                assert len(signers) == len(a.certificate) >= q
                self.top = max(self.top, a.round.block_round)

    def record(self, rnd: Round, phase: int, value: tuple[bytes, bytes]) -> None:
        prev = self.signed.setdefault((rnd, phase), value)
        assert prev == value, f"signed two values in {rnd} phase {phase}"

    def check_tables(self) -> None:
        m = self.machine
        own = {(k, r, p) for (r, p) in self.signed for k in [self.signers[0].public_key]}
        for rr, rv in m._rounds.items():
            for table, counts in ((rv.votes, rv.counts), (rv.commits, rv.commit_counts)):
                assert sum(counts.values()) == len(table)
                for pk, v in table.items():
                    assert pk == v.public_key and pk in self.validators
                    assert v.round == Round(m.round.block_round, rr)
                    key = (pk, v.round, v.phase)
                    assert key in self.valid_delivered or key in own
        assert m.counters["votes_counted"] <= len(self.valid_delivered) + len(own)
        assert m.buffered_votes <= self.config.max_buffered_votes
        assert m.rounds_kept <= self.config.max_rounds_kept


def run(n: int, seed: int, evs: list[tuple[object, ...]]) -> None:
    w = World(n, seed)
    for ev in evs:
        kind = ev[0]
        m = w.machine
        actions: list[YacAction]
        if kind == "vote":
            _, who, phase, dh, r, value, bad = ev
            w.now += 7
            v = w.vote(who, phase, dh, r, value, bad)  # type: ignore[arg-type]
            actions = m.step(VotesReceived((v,), v.public_key, w.now))
        elif kind == "cert":
            _, voters, phase, dh, r, value, bad = ev
            votes = tuple(w.vote(x, phase, dh, r, value, bad) for x in voters)  # type: ignore[attr-defined]
            w.now += 7
            actions = m.step(VotesReceived(votes, w.validators[1], w.now))
        elif kind == "candidate":
            _, value, stale = ev
            val = VALUES[value]  # type: ignore[index]
            rnd = (
                m.round
                if not stale
                else Round(m.round.block_round, max(0, m.round.reject_round - 1))
            )
            actions = m.step(CandidateReady(rnd, val[0], val[1]))
        elif kind == "timer":
            actions = m.step(TimerFired(m.round, ev[1]))  # type: ignore[arg-type]
        elif kind == "chain":
            w.top = m.round.block_round
            actions = m.step(ChainAdvanced(w.top))
        else:  # crash and restart from the persisted sign state
            w.machine = w._boot()
            actions = []
        w.check(actions)
        w.check_tables()


SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(st.integers(0, 3), events)
def test_yac_n4_random_events(seed: int, evs: list[tuple[object, ...]]) -> None:
    run(4, seed, evs)


@SETTINGS
@given(st.integers(0, 3), events)
def test_yac_n7_random_events(seed: int, evs: list[tuple[object, ...]]) -> None:
    run(7, seed, evs)


def program(n: int, seed: int, length: int) -> list[tuple[object, ...]]:
    """A long event sequence that mostly follows the current round (so that polkas,
    commits, rejects and restarts really happen), with adversarial noise mixed in."""
    rng = random.Random(seed)
    evs: list[tuple[object, ...]] = []
    popular = rng.randrange(4)
    for _ in range(length):
        x = rng.random()
        if x < 0.55:
            value = popular if rng.random() < 0.7 else rng.randrange(4)
            phase = 1 if rng.random() < 0.6 else 2
            evs.append(
                (
                    "vote",
                    rng.randrange(-1, n),
                    phase,
                    0,
                    rng.choice([0, 0, 0, 1, 2]),
                    value,
                    rng.random() < 0.05,
                )
            )
        elif x < 0.65:
            voters = rng.sample(range(n - 1), min(n - 1, rng.randrange(2, n + 1)))
            evs.append(("cert", voters, rng.choice([1, 2]), 0, rng.randrange(3), popular, False))
        elif x < 0.72:
            evs.append(
                (
                    "vote",
                    rng.randrange(n),
                    rng.choice([1, 2]),
                    rng.choice([-1, 1, 2]),
                    rng.randrange(5),
                    rng.randrange(4),
                    False,
                )
            )
        elif x < 0.85:
            evs.append(("candidate", rng.randrange(4), rng.random() < 0.1))
        elif x < 0.95:
            evs.append(("timer", rng.randrange(4)))
        elif x < 0.98:
            evs.append(("restart",))
        else:
            evs.append(("chain",))
        if rng.random() < 0.05:
            popular = rng.randrange(4)
    return evs


@SETTINGS
@given(st.sampled_from([4, 7]), st.integers(0, 2**32 - 1), st.integers(20, 200))
def test_yac_long_programs(n: int, seed: int, length: int) -> None:
    run(n, seed % 4, program(n, seed, length))
