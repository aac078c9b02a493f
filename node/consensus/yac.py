"""The YAC state machine: ``step(event) -> list[action]``, no I/O, no clock, no random.

One instance per validator. The driver feeds it events (a block candidate to vote for,
votes from peers, fired timers, chain progress made by sync) and executes the returned
actions *in order* (persist the vote before sending it, commit before the next round).

Rounds. The machine decides one height at a time: round ``(h, r)``. Every validator
casts one vote per round, sends it to the first peer of the round's order and then, every
``vote_delay``, to the next one (Iroha's propagation). Votes are grouped by
``(proposal hash, block hash)``; a group of ``q = n - f`` distinct current validators is a
*commit* (a block, or "nothing": agreement on no block, next reject round), and a round
in which no group can still reach ``q`` is *rejected* (next reject round). Whoever
assembles a decision from single votes broadcasts the certificate; a stale vote is
answered with the stored certificate (back-propagation).

Safety (a deliberate difference from Iroha, whose reject rounds are unsafe once a voter
equivocates): a validator **locks** on the first block it votes for at a height and votes
that block again in every later round of the height. It releases the lock only on proof
that the block can never be committed: ``q`` validators voting for something else in a
single round not older than its latest vote for the locked block. With that rule two
blocks of one height can never both gather ``q`` votes (any two quorums share ``f + 1``
validators, one of them honest; the first honest voter of a committed block to unlock
would need an honest non-vote in a round it was itself locked in). An unlocked validator
*adopts* a block already voted by ``f + 1`` validators (so by at least one honest one,
hence valid) instead of voting a fresh proposal: that is what lets split rounds converge.
Everything else (rejects, rounds, back-propagation) only serves liveness.

Sign state: before signing for a round the machine emits :class:`PersistVote`; built with
the last persisted vote it resumes in that round, re-signs the same value there and
never signs for a lower round (CometBFT's ``CheckHRS``); the lock is restored from it.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.consensus.supermajority import QuorumRule, max_faulty, quorum
from node.consensus.vote import EMPTY, Vote, VoteSigner, VoteVerifier, sign_vote, vote_body
from node.crypto import sha3_256
from node.model import Round

Value = tuple[bytes, bytes]  # (proposal hash, block hash); EMPTY = nothing


@dataclass(frozen=True)
class YacConfig:
    """Network parameters (from the chain) and local bounds (from config)."""

    vote_delay_ms: int = 1000
    future_block_rounds: int = 2  # buffer votes at most this many heights ahead
    max_buffered_votes: int = 256
    max_rounds_kept: int = 64  # rounds of the current height kept as evidence
    max_certificates_kept: int = 32
    quorum_rule: QuorumRule = QuorumRule.BFT
    # Mutants for the simulator's negative controls; a real node never sets these.
    count_unknown_voters: bool = False
    locking: bool = True


# --- events (past tense) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CandidateReady:
    """The pipeline's candidate for ``round``: empty hashes = no usable proposal."""

    round: Round
    proposal_hash: bytes
    block_hash: bytes
    block_signature: bytes = b""


@dataclass(frozen=True, slots=True)
class VotesReceived:
    """One vote or a certificate from ``sender`` (the authenticated peer)."""

    votes: tuple[Vote, ...]
    sender: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class TimerFired:
    round: Round
    attempt: int


@dataclass(frozen=True, slots=True)
class ChainAdvanced:
    """The committed chain reached ``top_height`` by other means (sync, start-up)."""

    top_height: int


YacEvent = CandidateReady | VotesReceived | TimerFired | ChainAdvanced


# --- actions (imperative) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersistVote:
    """Durably store the sign state before the vote leaves the process."""

    round: Round
    proposal_hash: bytes
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class SendVotes:
    to: str
    votes: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class BroadcastVotes:
    """Send to every other current validator (a certificate)."""

    votes: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class StartTimer:
    round: Round
    attempt: int
    delay_ms: int


@dataclass(frozen=True, slots=True)
class CommitBlock:
    """A commit certificate for a block of the current height."""

    round: Round
    proposal_hash: bytes
    block_hash: bytes
    certificate: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class BeginRound:
    """The machine entered ``round``: fetch its proposal and report a candidate."""

    round: Round


@dataclass(frozen=True, slots=True)
class RequestSync:
    """Committed blocks from ``height`` on are missing here; ask these peers."""

    height: int
    from_peers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportEquivocation:
    public_key: str
    round: Round
    first: Vote
    second: Vote


YacAction = (
    PersistVote
    | SendVotes
    | BroadcastVotes
    | StartTimer
    | CommitBlock
    | BeginRound
    | RequestSync
    | ReportEquivocation
)


def peer_order(round_: Round, validators: Sequence[str]) -> list[str]:
    """Deterministic permutation for a round: sort keys by SHA3(round || key).

    Every validator computes the same order for a round, so all first votes meet at
    one collector; the order changes with every round so a dead collector costs at
    most one round.
    """
    seed = b"bakong-yac-order" + struct.pack(">QI", round_.block_round, round_.reject_round)
    return sorted(validators, key=lambda pk: sha3_256(seed + pk.encode()))


@dataclass
class _RoundVotes:
    votes: dict[str, Vote] = field(default_factory=dict)
    counts: Counter[Value] = field(default_factory=Counter)
    equivocators: set[str] = field(default_factory=set)
    decided: bool = False


class YacMachine:
    """One validator's YAC. Construct, call :meth:`start`, then :meth:`step`."""

    def __init__(
        self,
        signer: VoteSigner,
        verifier: VoteVerifier,
        validators: Sequence[str],
        top_height: int,
        config: YacConfig | None = None,
        last_vote: tuple[Round, bytes, bytes] | None = None,
    ) -> None:
        self.config = config or YacConfig()
        self._signer = signer
        self._verify = verifier
        self.public_key = signer.public_key
        self._validators: tuple[str, ...] = tuple(validators)
        self._validator_set = frozenset(self._validators)
        self.counters: Counter[str] = Counter()
        self.round = Round(top_height + 1, 0)
        self._rounds: dict[int, _RoundVotes] = {}
        self._my_vote: Vote | None = None
        self._lock: tuple[Value, int, bytes] | None = None  # value, latest round, block sig
        self._last_signed = last_vote
        if last_vote is not None and last_vote[0].block_round == self.round.block_round:
            # Restart: resume in the round we last signed for; keep its block as the lock.
            self.round = max(self.round, last_vote[0])
            if last_vote[2] and self.config.locking:
                self._lock = ((last_vote[1], last_vote[2]), last_vote[0].reject_round, b"")
        self._future: dict[tuple[Round, str], Vote] = {}
        self._certs: dict[Round, tuple[Vote, ...]] = {}
        self._commit_certs: dict[int, tuple[Vote, ...]] = {}
        self._answered: dict[str, int] = {}
        self._sync_asked_ms = -(10**12)
        self._verified: dict[Vote, bool] = {}

    # --- read-only views (metrics, tests, simulator BOUND checks) ---------------------

    @property
    def validators(self) -> tuple[str, ...]:
        return self._validators

    @property
    def quorum(self) -> int:
        return quorum(len(self._validators), self.config.quorum_rule)

    @property
    def locked_value(self) -> Value | None:
        return self._lock[0] if self._lock else None

    @property
    def buffered_votes(self) -> int:
        return len(self._future)

    @property
    def rounds_kept(self) -> int:
        return len(self._rounds)

    @property
    def my_vote(self) -> Vote | None:
        return self._my_vote

    def certificate(self, round_: Round) -> tuple[Vote, ...] | None:
        return self._certs.get(round_)

    def commit_certificate(self, height: int) -> tuple[Vote, ...] | None:
        return self._commit_certs.get(height)

    # --- entry points -----------------------------------------------------------------

    def start(self) -> list[YacAction]:
        return [BeginRound(self.round)]

    def step(self, event: YacEvent) -> list[YacAction]:
        if isinstance(event, VotesReceived):
            return self._on_votes(event)
        if isinstance(event, CandidateReady):
            return self._on_candidate(event)
        if isinstance(event, TimerFired):
            return self._on_timer(event)
        if event.top_height + 1 > self.round.block_round:
            return self._advance_height(event.top_height + 1)
        return []

    # --- own vote ---------------------------------------------------------------------

    def _on_candidate(self, ev: CandidateReady) -> list[YacAction]:
        if ev.round != self.round or self._my_vote is not None:
            self.counters["candidate_ignored"] += 1
            return []
        value: Value = (ev.proposal_hash, ev.block_hash) if ev.block_hash else EMPTY
        block_sig = ev.block_signature
        last = self._last_signed
        if last is not None and last[0] == self.round:
            value, block_sig = (last[1], last[2]), b""  # re-send what we signed before
        elif self._lock is not None:
            value, block_sig = self._lock[0], self._lock[2]
        else:
            adopted = self._adoptable()
            if adopted is not None and adopted != value:
                value, block_sig = adopted, b""
                self.counters["adopted"] += 1
        if last is not None and last[0] > self.round:
            self.counters["refused_to_sign"] += 1  # CheckHRS: never sign for a lower round
            return []
        actions: list[YacAction] = []
        if last is None or last[0] != self.round:
            actions.append(PersistVote(self.round, value[0], value[1]))
            self._last_signed = (self.round, value[0], value[1])
        vote = sign_vote(
            self._signer, self.round, value[0], value[1], block_sig if value[1] else b""
        )
        self._my_vote = vote
        if value[1] and self.config.locking:
            self._lock = (value, self.round.reject_round, block_sig)
        st = self._rounds.setdefault(self.round.reject_round, _RoundVotes())
        self._count(st, vote, actions)
        order = self._others(self.round)
        if order:
            actions.append(SendVotes(order[0], (vote,)))
            actions.append(StartTimer(self.round, 1, self.config.vote_delay_ms))
        actions.extend(self._evaluate(self.round.reject_round, from_singles=True))
        return actions

    def _on_timer(self, ev: TimerFired) -> list[YacAction]:
        if ev.round != self.round or self._my_vote is None:
            return []
        st = self._rounds.get(self.round.reject_round)
        if st is not None and st.decided:
            return []
        order = self._others(self.round)
        if not order:
            return []
        to = order[ev.attempt % len(order)]
        return [
            SendVotes(to, (self._my_vote,)),
            StartTimer(self.round, ev.attempt + 1, self.config.vote_delay_ms),
        ]

    def _others(self, round_: Round) -> list[str]:
        return [pk for pk in peer_order(round_, self._validators) if pk != self.public_key]

    def _adoptable(self) -> Value | None:
        """A block voted at this height by at least f + 1 distinct validators."""
        voters: dict[Value, set[str]] = {}
        for st in self._rounds.values():
            for pk, v in st.votes.items():
                if v.block_hash and pk in self._validator_set:
                    voters.setdefault(v.value, set()).add(pk)
        need = max_faulty(len(self._validators)) + 1
        best = [(len(s), val) for val, s in voters.items() if len(s) >= need]
        if not best:
            return None
        best.sort(key=lambda item: (-item[0], item[1]))
        return best[0][1]

    # --- incoming votes ---------------------------------------------------------------

    def _valid(self, vote: Vote) -> bool:
        if vote.public_key not in self._validator_set:
            self.counters["unknown_voter"] += 1
            if not self.config.count_unknown_voters:
                return False
        ok = self._verified.get(vote)
        if ok is None:
            body = vote_body(vote.round, vote.proposal_hash, vote.block_hash, vote.block_signature)
            ok = self._verify(vote.public_key, body, vote.signature)
            if len(self._verified) >= 4096:
                self._verified.clear()
            self._verified[vote] = ok
        if not ok:
            self.counters["bad_signature"] += 1
        return ok

    def _on_votes(self, ev: VotesReceived) -> list[YacAction]:
        votes = ev.votes
        n = len(self._validators)
        if not votes or len(votes) > 2 * n + 2:
            self.counters["malformed"] += 1
            return []
        round_ = votes[0].round
        if any(v.round != round_ for v in votes):
            self.counters["malformed"] += 1
            return []
        seen: set[str] = set()
        valid: list[Vote] = []
        for v in votes:
            if v.public_key in seen:
                self.counters["duplicate_signer"] += 1
                continue
            seen.add(v.public_key)
            if self._valid(v):
                valid.append(v)
        if not valid:
            return []
        height = self.round.block_round
        actions: list[YacAction] = []
        if round_.block_round < height:
            self.counters["stale_votes"] += 1
            cert = self._commit_certs.get(round_.block_round)
            if cert is not None and len(votes) == 1:
                actions.extend(self._answer(ev, cert))
            return actions
        if round_.block_round > height:
            return self._on_future(round_, valid, ev)
        # Current height. A self-contained commit proof is applied as is, even if we
        # hold a different (equivocated) vote from one of its signers.
        from_singles = len(votes) == 1
        for v in valid:
            if round_.reject_round > self.round.reject_round + self.config.max_rounds_kept:
                self.counters["future_votes_dropped"] += 1
                continue
            st = self._rounds.setdefault(round_.reject_round, _RoundVotes())
            self._count(st, v, actions)
        proof = self._commit_proof(valid)
        if proof is not None:
            actions.extend(self._decide_commit(round_, proof, from_singles=False))
            return actions
        if round_.reject_round < self.round.reject_round:
            self.counters["stale_votes"] += 1
            cert = self._certs.get(round_)
            if cert is not None and from_singles:
                actions.extend(self._answer(ev, cert))
        if round_.reject_round in self._rounds:
            actions.extend(self._evaluate(round_.reject_round, from_singles))
        self._prune_rounds()
        return actions

    def _answer(self, ev: VotesReceived, cert: tuple[Vote, ...]) -> list[YacAction]:
        # Back-propagation, at most once per vote delay per peer (floods stay cheap).
        last = self._answered.get(ev.sender)
        if last is not None and ev.now_ms - last < self.config.vote_delay_ms:
            self.counters["answers_suppressed"] += 1
            return []
        if len(self._answered) > 4 * len(self._validators) + 64:
            self._answered.clear()
        self._answered[ev.sender] = ev.now_ms
        return [SendVotes(ev.sender, cert)]

    def _on_future(self, round_: Round, valid: list[Vote], ev: VotesReceived) -> list[YacAction]:
        height = self.round.block_round
        actions: list[YacAction] = []
        if round_.block_round <= height + self.config.future_block_rounds:
            for v in valid:
                key = (v.round, v.public_key)
                if key in self._future:
                    continue
                if len(self._future) >= self.config.max_buffered_votes:
                    self.counters["future_votes_dropped"] += 1
                    continue
                self._future[key] = v
                self.counters["future_votes_buffered"] += 1
        else:
            self.counters["future_votes_dropped"] += len(valid)
        # Someone decided our height already: ask for the blocks when we are two or more
        # heights behind, or hold a commit proof for a later height (Iroha's "Future").
        ahead = round_.block_round >= height + 2 or self._commit_proof(valid) is not None
        if not ahead:
            voters = {pk for (r, pk) in self._future if r.block_round > height}
            ahead = len(voters) > max_faulty(len(self._validators))
        if ahead and ev.now_ms - self._sync_asked_ms >= self.config.vote_delay_ms:
            self._sync_asked_ms = ev.now_ms
            peers = tuple(sorted({v.public_key for v in valid} | {ev.sender}))
            actions.append(RequestSync(height, peers))
        return actions

    def _count(self, st: _RoundVotes, vote: Vote, actions: list[YacAction]) -> None:
        prev = st.votes.get(vote.public_key)
        if prev is None:
            st.votes[vote.public_key] = vote
            st.counts[vote.value] += 1
            self.counters["votes_counted"] += 1
            self._check_unlock(vote.round.reject_round, st)
        elif prev.value == vote.value:
            self.counters["duplicate_votes"] += 1
        elif vote.public_key not in st.equivocators:
            # Never counted twice: the first vote stays, the second is evidence.
            st.equivocators.add(vote.public_key)
            self.counters["equivocations"] += 1
            actions.append(ReportEquivocation(vote.public_key, vote.round, prev, vote))
        else:
            self.counters["duplicate_votes"] += 1

    def _check_unlock(self, reject_round: int, st: _RoundVotes) -> None:
        if self._lock is None:
            return
        value, lock_round, _ = self._lock
        if reject_round < lock_round:
            return
        others = len(st.votes) - st.counts.get(value, 0)
        if others >= self.quorum:
            self._lock = None
            self.counters["unlocks"] += 1

    def _commit_proof(self, votes: list[Vote]) -> tuple[Vote, ...] | None:
        """``votes`` (one message) alone prove a decision: q distinct signers, one value."""
        if len(votes) < self.quorum:
            return None
        groups: dict[Value, list[Vote]] = {}
        for v in votes:
            groups.setdefault(v.value, []).append(v)
        for val, group in groups.items():
            if len(group) >= self.quorum and val[1]:
                return tuple(sorted(group, key=lambda v: v.public_key))
        return None

    # --- decisions --------------------------------------------------------------------

    def _evaluate(self, reject_round: int, from_singles: bool) -> list[YacAction]:
        st = self._rounds.get(reject_round)
        if st is None or st.decided:
            return []
        q = self.quorum
        round_ = Round(self.round.block_round, reject_round)
        for val, count in st.counts.items():
            if count >= q:
                group = tuple(sorted((v for v in st.votes.values() if v.value == val), key=_pk))
                if val[1]:
                    return self._decide_commit(round_, group, from_singles)
                return self._decide_next(round_, st, group, from_singles, "agreed_on_nothing")
        largest = max(st.counts.values(), default=0)
        voted = sum(1 for pk in st.votes if pk in self._validator_set)
        not_voted = max(0, len(self._validators) - voted)
        if largest + not_voted < q:
            cert = tuple(sorted(st.votes.values(), key=_pk))
            return self._decide_next(round_, st, cert, from_singles, "rejected")
        return []

    def _decide_next(
        self,
        round_: Round,
        st: _RoundVotes,
        cert: tuple[Vote, ...],
        from_singles: bool,
        outcome: str,
    ) -> list[YacAction]:
        st.decided = True
        self._store_cert(round_, cert)
        if round_ < self.round:
            return []
        self.counters[outcome] += 1
        actions: list[YacAction] = []
        if from_singles:
            actions.append(BroadcastVotes(cert))
        actions.extend(self._advance_round(round_.next_reject()))
        return actions

    def _decide_commit(
        self, round_: Round, cert: tuple[Vote, ...], from_singles: bool
    ) -> list[YacAction]:
        st = self._rounds.setdefault(round_.reject_round, _RoundVotes())
        st.decided = True
        self._store_cert(round_, cert)
        self._commit_certs[round_.block_round] = cert
        while len(self._commit_certs) > self.config.max_certificates_kept:
            del self._commit_certs[next(iter(self._commit_certs))]
        self.counters["commits"] += 1
        actions: list[YacAction] = []
        if from_singles:
            actions.append(BroadcastVotes(cert))
        first = cert[0]
        actions.append(CommitBlock(round_, first.proposal_hash, first.block_hash, cert))
        actions.extend(self._advance_height(round_.block_round + 1))
        return actions

    def _store_cert(self, round_: Round, cert: tuple[Vote, ...]) -> None:
        self._certs[round_] = cert
        while len(self._certs) > self.config.max_certificates_kept:
            del self._certs[next(iter(self._certs))]

    def _advance_round(self, new_round: Round) -> list[YacAction]:
        self.round = new_round
        self._my_vote = None
        self._prune_rounds()
        actions: list[YacAction] = [BeginRound(new_round)]
        # Votes that arrived early for this round may already decide it.
        if new_round.reject_round in self._rounds:
            actions.extend(self._evaluate(new_round.reject_round, from_singles=True))
        return actions

    def _advance_height(self, height: int) -> list[YacAction]:
        self.round = Round(height, 0)
        self._my_vote = None
        self._rounds.clear()
        self._lock = None
        actions: list[YacAction] = [BeginRound(self.round)]
        buffered = [v for (r, _), v in self._future.items() if r.block_round == height]
        self._future = {k: v for k, v in self._future.items() if k[0].block_round > height}
        touched: list[int] = []
        for v in buffered:
            st = self._rounds.setdefault(v.round.reject_round, _RoundVotes())
            self._count(st, v, actions)
            touched.append(v.round.reject_round)
        for r in sorted(set(touched)):
            if self.round.block_round != height:
                break  # a buffered certificate already moved us on
            actions.extend(self._evaluate(r, from_singles=False))
        return actions

    def _prune_rounds(self) -> None:
        if len(self._rounds) <= self.config.max_rounds_kept:
            return
        for r in sorted(self._rounds):
            if len(self._rounds) <= self.config.max_rounds_kept:
                break
            if r != self.round.reject_round:
                del self._rounds[r]


def _pk(vote: Vote) -> str:
    return vote.public_key
