"""The YAC state machine: ``step(event) -> list[action]``, no I/O, no clock, no random.

One instance per validator. The driver feeds it events (a block candidate to vote for,
votes from peers, fired timers, chain progress made by sync) and executes the returned
actions *in order* (persist a vote before sending it, commit before the next round).

Rounds, as in Iroha: the machine decides one height at a time, round ``(h, r)``. Every
validator casts one vote per round, sends it to the first peer of the round's order and
then, every ``vote_delay``, to the next one. Votes are grouped by
``(proposal hash, block hash)``. ``q = n - f`` votes for "nothing" end the round (agreement
on no block), and a round in which no group can still reach ``q`` is *rejected*; both
lead to the next reject round. Whoever assembles an outcome from single votes broadcasts
its certificate; a stale vote is answered with the stored certificate
(back-propagation); votes for later heights are buffered (bounded) and trigger a sync.

Commit, a deliberate difference from Iroha: Iroha commits as soon as one round has a
quorum of votes for a block. With byzantine voters that is unsafe (an equivocator lets
one peer commit while another assembles a reject certificate; the next round then
commits a different block at the same height). Here ``q`` votes for a block are a
*polka* (Tendermint's word): each validator that sees it in its current round locks on
the block and broadcasts a second, *commit* vote (phase 2) for it; ``q`` commit votes of
one round are the commit certificate. A locked validator votes its locked block in later
rounds of the height unless it knows a polka for another block from a later round; an
unlocked one votes the highest-round polka it knows, else its own candidate. This is
Tendermint's locking rule, which makes two commits at one height impossible with at
most f byzantine validators, and lets split rounds converge after GST.

Sign state: before signing, the machine emits :class:`PersistVote` (round, phase,
hashes). Built with the persisted :class:`SignState` it resumes in the round it last
signed for, re-signs the same values there, never signs for a lower round (CometBFT's
``CheckHRS``), and restores its lock from the last commit vote.
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
Signed = tuple[Round, bytes, bytes]  # (round, proposal hash, block hash)


@dataclass(frozen=True)
class YacConfig:
    """Network parameters (from the chain) and local bounds (from config)."""

    vote_delay_ms: int = 1000
    # A round without an outcome by then is left for the next one (0 = never). Safe
    # because safety rests on locks, not on rounds; needed when the votes that would
    # decide a round are gone (a peer restarted past it without its certificates).
    # Only with q votes in the round or a vote from a later one; else it waits, polling
    # every vote delay (a lone node must not run ahead of peers that keep restarting).
    round_timeout_ms: int = 0
    future_block_rounds: int = 2  # buffer votes at most this many heights ahead
    max_buffered_votes: int = 256
    max_rounds_kept: int = 64  # rounds of the current height kept as evidence
    max_certificates_kept: int = 32
    quorum_rule: QuorumRule = QuorumRule.BFT
    # Mutants for the simulator's negative controls; a real node never sets these.
    count_unknown_voters: bool = False
    locking: bool = True


@dataclass(frozen=True)
class SignState:
    """What the node persisted last: its latest vote and its latest commit vote."""

    vote: Signed | None = None
    commit: Signed | None = None
    commit_justification: tuple[Vote, ...] = ()  # the polka the commit vote followed


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
    """Votes (one peer's, or a certificate) from ``sender`` (the authenticated peer)."""

    votes: tuple[Vote, ...]
    sender: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class TimerFired:
    round: Round
    attempt: int  # 0 = round timeout, >= 1 = vote propagation


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
    phase: int
    proposal_hash: bytes
    block_hash: bytes
    # for a commit vote: the polka it follows; stored with it so that, after a restart,
    # the lock can still be shown to the others
    justification: tuple[Vote, ...] = ()


@dataclass(frozen=True, slots=True)
class SendVotes:
    to: str
    votes: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class BroadcastVotes:
    """Send to every other current validator."""

    votes: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class StartTimer:
    round: Round
    attempt: int
    delay_ms: int


@dataclass(frozen=True, slots=True)
class CommitBlock:
    """A commit certificate (q commit votes) for a block of the current height."""

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

    Every validator computes the same order for a round, so all first votes meet at one
    collector; the order changes every round, so a dead collector costs one round.
    """
    seed = b"bakong-yac-order" + struct.pack(">QI", round_.block_round, round_.reject_round)
    return sorted(validators, key=lambda pk: sha3_256(seed + pk.encode()))


@dataclass
class _RoundVotes:
    votes: dict[str, Vote] = field(default_factory=dict)  # phase 1
    counts: Counter[Value] = field(default_factory=Counter)
    commits: dict[str, Vote] = field(default_factory=dict)  # phase 2
    commit_counts: Counter[Value] = field(default_factory=Counter)
    equivocators: set[tuple[str, int]] = field(default_factory=set)
    polka: Value | None = None
    polka_votes: tuple[Vote, ...] = ()
    closed: bool = False  # the round has an outcome (nothing, reject, commit)


class YacMachine:
    """One validator's YAC. Construct, call :meth:`start`, then :meth:`step`."""

    def __init__(
        self,
        signer: VoteSigner,
        verifier: VoteVerifier,
        validators: Sequence[str],
        top_height: int,
        config: YacConfig | None = None,
        sign_state: SignState | None = None,
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
        self._my_commit: Vote | None = None
        # (value, round of the polka, the polka's votes)
        self._lock: tuple[Value, int, tuple[Vote, ...]] | None = None
        self._valid: tuple[Value, int, tuple[Vote, ...]] | None = None  # highest polka known
        state = sign_state or SignState()
        self._last: dict[int, Signed | None] = {1: state.vote, 2: state.commit}
        for signed in (state.vote, state.commit):
            if signed is not None and signed[0].block_round == self.round.block_round:
                self.round = max(self.round, signed[0])  # restart: resume where we signed
        c = state.commit
        if c is not None and c[0].block_round == self.round.block_round and c[2]:
            self._lock = ((c[1], c[2]), c[0].reject_round, state.commit_justification)
            self._valid = self._lock
        self._future: dict[tuple[Round, str, int], Vote] = {}
        self._certs: dict[Round, tuple[Vote, ...]] = {}
        self._commit_certs: dict[int, tuple[Vote, ...]] = {}
        self._answered: dict[str, int] = {}
        self._highest_seen = 0  # highest reject round a validator voted in, this height
        self._sync_asked_ms = -(10**12)
        self._verified: dict[Vote, bool] = {}

    # --- read-only views (metrics, tests, simulator BOUND checks) ---------------------

    @property
    def validators(self) -> tuple[str, ...]:
        return self._validators

    @property
    def is_validator(self) -> bool:
        return self.public_key in self._validator_set

    def set_validators(self, validators: Sequence[str]) -> None:
        """The validator set changed on chain (AddPeer/RemovePeer committed): it decides
        from the next height on, on every node, because every node applies the same block."""
        self._validators = tuple(validators)
        self._validator_set = frozenset(self._validators)

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
        return [BeginRound(self.round), *self._round_timer()]

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

    # --- own votes --------------------------------------------------------------------

    def _choose(self, candidate: Value) -> tuple[Value, tuple[Vote, ...]]:
        """What to vote, and the polka that justifies it when it is not our candidate."""
        if not self.config.locking:
            return candidate, ()
        lock, valid = self._lock, self._valid
        if valid is not None and (lock is None or valid[1] >= lock[1]):
            if lock is not None and lock[0] != valid[0]:
                self.counters["unlocks"] += 1  # a later polka for another block
            if valid[0] != candidate:
                self.counters["voted_polka"] += 1
            return valid[0], valid[2]
        if lock is not None:
            return lock[0], lock[2]
        return candidate, ()

    def _sign(
        self,
        phase: int,
        value: Value,
        block_sig: bytes,
        out: list[YacAction],
        justification: tuple[Vote, ...] = (),
    ) -> Vote | None:
        """Sign for the current round, persisting first; ``None`` if CheckHRS refuses or we
        are not a validator (a syncing peer or a validator not yet added follows, never votes)."""
        if self.public_key not in self._validator_set:
            self.counters["not_a_validator"] += 1
            return None
        last = self._last[phase]
        if last is not None and last[0] > self.round:
            self.counters["refused_to_sign"] += 1  # never sign for a lower round
            return None
        if last is not None and last[0] == self.round:
            value = (last[1], last[2])  # restarted: re-send exactly what we signed
        else:
            out.append(PersistVote(self.round, phase, value[0], value[1], justification))
            self._last[phase] = (self.round, value[0], value[1])
        sig = block_sig if value[1] else b""
        return sign_vote(self._signer, self.round, value[0], value[1], sig, phase)

    def _on_candidate(self, ev: CandidateReady) -> list[YacAction]:
        if ev.round != self.round or self._my_vote is not None:
            self.counters["candidate_ignored"] += 1
            return []
        candidate: Value = (ev.proposal_hash, ev.block_hash) if ev.block_hash else EMPTY
        value, polka = self._choose(candidate)
        actions: list[YacAction] = []
        vote = self._sign(1, value, ev.block_signature if value == candidate else b"", actions)
        if vote is None:
            return actions
        if polka and value != candidate:
            # Show why we vote an older block: peers that missed the polka learn it.
            actions.append(BroadcastVotes(polka))
        self._my_vote = vote
        st = self._rounds.setdefault(self.round.reject_round, _RoundVotes())
        self._count(st, vote, actions)
        order = self._others(self.round)
        if order:
            actions.append(SendVotes(order[0], (vote,)))
            actions.append(StartTimer(self.round, 1, self.config.vote_delay_ms))
        actions.extend(self._evaluate(self.round.reject_round, from_singles=True))
        return actions

    def _commit_vote(self, value: Value, polka: tuple[Vote, ...], actions: list[YacAction]) -> None:
        """Lock on a polka of the current round and broadcast the commit vote."""
        if self._my_commit is not None:
            return
        vote = self._sign(2, value, b"", actions, polka)
        if vote is None:
            return
        self._my_commit = vote
        if self.config.locking and vote.value == value:
            self._lock = (vote.value, self.round.reject_round, polka)
        st = self._rounds.setdefault(self.round.reject_round, _RoundVotes())
        self._count(st, vote, actions)
        actions.append(BroadcastVotes((vote,)))

    def _on_timer(self, ev: TimerFired) -> list[YacAction]:
        if ev.round != self.round:
            return []
        st = self._rounds.get(self.round.reject_round)
        if ev.attempt == 0:  # round timeout
            if st is not None and st.closed:
                return []
            if not self._may_leave(st):
                # Leaving alone would run ahead of the others for good: their timers
                # restart with every crash, and f + 1 votes are needed to follow us.
                # Wait until they are here (Tendermint's "2f+1 messages of the round")
                # or someone is known to be further on.
                self.counters["round_timeout_waits"] += 1
                return [StartTimer(self.round, 0, self.config.vote_delay_ms)]
            self.counters["round_timeouts"] += 1
            return self._advance_round(self.round.next_reject())
        if self._my_vote is None or (st is not None and st.closed):
            return []
        order = self._others(self.round)
        if not order:
            return []
        mine = (self._my_vote,) if self._my_commit is None else (self._my_vote, self._my_commit)
        return [
            SendVotes(order[ev.attempt % len(order)], mine),
            StartTimer(self.round, ev.attempt + 1, self.config.vote_delay_ms),
        ]

    def _may_leave(self, st: _RoundVotes | None) -> bool:
        """A round timeout may move on: q validators voted in this round, or one voted in
        a later round of this height (it is there, possibly alone after a restart)."""
        if self._highest_seen > self.round.reject_round:
            return True
        if st is None:
            return False
        voters = {pk for pk in st.votes if pk in self._validator_set}
        voters.update(pk for pk in st.commits if pk in self._validator_set)
        return len(voters) >= self.quorum

    def _others(self, round_: Round) -> list[str]:
        return [pk for pk in peer_order(round_, self._validators) if pk != self.public_key]

    def _round_timer(self) -> list[YacAction]:
        if self.config.round_timeout_ms <= 0:
            return []
        return [StartTimer(self.round, 0, self.config.round_timeout_ms)]

    # --- incoming votes ---------------------------------------------------------------

    def _valid_vote(self, vote: Vote) -> bool:
        if vote.phase not in (1, 2) or (vote.phase == 2 and not vote.block_hash):
            self.counters["malformed"] += 1
            return False
        if vote.public_key not in self._validator_set:
            self.counters["unknown_voter"] += 1
            if not self.config.count_unknown_voters:
                return False
        ok = self._verified.get(vote)
        if ok is None:
            body = vote_body(
                vote.round, vote.proposal_hash, vote.block_hash, vote.block_signature, vote.phase
            )
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
        seen: set[tuple[str, int]] = set()
        valid: list[Vote] = []
        for v in votes:
            if (v.public_key, v.phase) in seen:
                self.counters["duplicate_signer"] += 1
                continue
            seen.add((v.public_key, v.phase))
            if self._valid_vote(v):
                valid.append(v)
        if not valid:
            return []
        height = self.round.block_round
        from_singles = len({v.public_key for v in votes}) == 1
        actions: list[YacAction] = []
        if round_.block_round < height:
            self.counters["stale_votes"] += 1
            cert = self._commit_certs.get(round_.block_round)
            if cert is not None and from_singles:
                actions.extend(self._answer(ev, cert))
            return actions
        if round_.block_round > height:
            return self._on_future(round_, valid, ev)
        if any(v.public_key in self._validator_set for v in valid):
            self._highest_seen = max(self._highest_seen, round_.reject_round)
        if round_.reject_round > self.round.reject_round + self.config.max_rounds_kept:
            self.counters["future_votes_dropped"] += len(valid)
            return actions
        # A self-contained proof (q commit votes, or a polka) counts as is, even if we
        # hold an equivocated vote from one of its signers.
        proof = self._group(valid, phase=2)
        if proof is not None:
            return self._decide_commit(round_, proof, from_singles=False)
        st = self._rounds.setdefault(round_.reject_round, _RoundVotes())
        for v in valid:
            self._count(st, v, actions)
        polka = self._group(valid, phase=1)
        if polka is not None and st.polka is None:
            actions.extend(self._on_polka(round_, st, polka, from_singles=False))
        if round_.reject_round < self.round.reject_round:
            self.counters["stale_votes"] += 1
            cert = self._certs.get(round_)
            if cert is not None and from_singles:
                actions.extend(self._answer(ev, cert))
        if self.round.block_round == height:
            actions.extend(self._evaluate(round_.reject_round, from_singles))
        if self.round.block_round == height:
            actions.extend(self._maybe_skip(round_))
        self._prune_rounds()
        return actions

    def _group(self, votes: list[Vote], phase: int) -> tuple[Vote, ...] | None:
        """q votes of one phase for one block in ``votes``, if there are."""
        q = self.quorum
        if len(votes) < q:
            return None
        groups: dict[Value, list[Vote]] = {}
        for v in votes:
            if v.phase == phase and v.block_hash:
                groups.setdefault(v.value, []).append(v)
        for group in groups.values():
            if len(group) >= q:
                return tuple(sorted(group, key=_pk))
        return None

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
        if (
            round_.block_round <= height + self.config.future_block_rounds
            and round_.reject_round <= self.config.max_rounds_kept
        ):
            for v in valid:
                key = (v.round, v.public_key, v.phase)
                if key in self._future:
                    continue
                if len(self._future) >= self.config.max_buffered_votes:
                    self.counters["future_votes_dropped"] += 1
                    continue
                self._future[key] = v
                self.counters["future_votes_buffered"] += 1
        else:
            self.counters["future_votes_dropped"] += len(valid)
        # Someone decided our height already: ask for blocks when two or more heights
        # behind, when holding a commit proof for a later height, or when f + 1
        # validators vote beyond our height (Iroha's "Future" outcome).
        ahead = round_.block_round >= height + 2 or self._group(valid, phase=2) is not None
        if not ahead:
            voters = {pk for (r, pk, _) in self._future if r.block_round > height}
            ahead = len(voters) > max_faulty(len(self._validators))
        if ahead and ev.now_ms - self._sync_asked_ms >= self.config.vote_delay_ms:
            self._sync_asked_ms = ev.now_ms
            peers = tuple(sorted({v.public_key for v in valid} | {ev.sender}))
            actions.append(RequestSync(height, peers))
        return actions

    def _count(self, st: _RoundVotes, vote: Vote, actions: list[YacAction]) -> None:
        table, counts = (st.votes, st.counts) if vote.phase == 1 else (st.commits, st.commit_counts)
        prev = table.get(vote.public_key)
        if prev is None:
            table[vote.public_key] = vote
            counts[vote.value] += 1
            self.counters["votes_counted"] += 1
        elif prev.value == vote.value:
            self.counters["duplicate_votes"] += 1
        elif (vote.public_key, vote.phase) not in st.equivocators:
            # Never counted twice: the first vote stays, the second is evidence.
            st.equivocators.add((vote.public_key, vote.phase))
            self.counters["equivocations"] += 1
            actions.append(ReportEquivocation(vote.public_key, vote.round, prev, vote))
        else:
            self.counters["duplicate_votes"] += 1

    def _maybe_skip(self, round_: Round) -> list[YacAction]:
        """Join a later round of this height once f + 1 validators vote in it.

        At least one honest validator is there, so that round is live; a node that
        restarted without the certificates of the rounds it missed catches up this way.
        """
        if round_ <= self.round:
            return []
        st = self._rounds.get(round_.reject_round)
        if st is None or st.closed:
            return []
        voters = {pk for pk in st.votes if pk in self._validator_set}
        voters.update(pk for pk in st.commits if pk in self._validator_set)
        if len(voters) <= max_faulty(len(self._validators)):
            return []
        self.counters["rounds_skipped"] += 1
        return self._advance_round(round_)

    # --- outcomes ---------------------------------------------------------------------

    def _on_polka(
        self, round_: Round, st: _RoundVotes, group: tuple[Vote, ...], from_singles: bool
    ) -> list[YacAction]:
        st.polka = group[0].value
        st.polka_votes = group
        self._store_cert(round_, group)
        if self._valid is None or round_.reject_round > self._valid[1]:
            self._valid = (group[0].value, round_.reject_round, group)
        self.counters["polkas"] += 1
        actions: list[YacAction] = []
        if from_singles:
            actions.append(BroadcastVotes(group))
        if round_ > self.round:
            actions.extend(self._advance_round(round_))  # q voters are in that round
        if round_ == self.round:
            self._commit_vote(group[0].value, group, actions)
            actions.extend(self._evaluate(round_.reject_round, from_singles=True))
        return actions

    def _evaluate(self, reject_round: int, from_singles: bool) -> list[YacAction]:
        st = self._rounds.get(reject_round)
        if st is None or st.closed:
            return []
        q = self.quorum
        round_ = Round(self.round.block_round, reject_round)
        for val, count in st.commit_counts.items():
            if count >= q:
                group = tuple(sorted((v for v in st.commits.values() if v.value == val), key=_pk))
                return self._decide_commit(round_, group, from_singles)
        n = len(self._validators)
        if st.polka is None:
            for val, count in st.counts.items():
                if count >= q:
                    group = tuple(sorted((v for v in st.votes.values() if v.value == val), key=_pk))
                    if val[1]:
                        return self._on_polka(round_, st, group, from_singles)
                    return self._close(round_, st, group, from_singles, "agreed_on_nothing")
            largest = max(st.counts.values(), default=0)
            voted = sum(1 for pk in st.votes if pk in self._validator_set)
            if largest + max(0, n - voted) < q:
                cert = tuple(sorted(st.votes.values(), key=_pk))
                return self._close(round_, st, cert, from_singles, "rejected")
            return []
        # A polka whose commit votes can no longer reach q (some voted elsewhere).
        largest = max(st.commit_counts.values(), default=0)
        voted = sum(1 for pk in st.commits if pk in self._validator_set)
        if largest + max(0, n - voted) < q:
            cert = tuple(sorted(st.commits.values(), key=_pk))
            return self._close(round_, st, cert, from_singles, "commit_rejected")
        return []

    def _close(
        self,
        round_: Round,
        st: _RoundVotes,
        cert: tuple[Vote, ...],
        from_singles: bool,
        outcome: str,
    ) -> list[YacAction]:
        st.closed = True
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
        self._my_commit = None
        self._prune_rounds()
        actions: list[YacAction] = [BeginRound(new_round), *self._round_timer()]
        st = self._rounds.get(new_round.reject_round)
        if st is not None:
            # Votes that arrived early may already decide this round or show its polka.
            if st.polka is not None:
                self._commit_vote(st.polka, st.polka_votes, actions)
            actions.extend(self._evaluate(new_round.reject_round, from_singles=True))
        return actions

    def _advance_height(self, height: int) -> list[YacAction]:
        self.round = Round(height, 0)
        self._highest_seen = 0
        self._my_vote = None
        self._my_commit = None
        self._rounds.clear()
        self._lock = None
        self._valid = None
        actions: list[YacAction] = [BeginRound(self.round), *self._round_timer()]
        buffered = [v for (r, _, _), v in self._future.items() if r.block_round == height]
        self._future = {k: v for k, v in self._future.items() if k[0].block_round > height}
        by_round: dict[int, list[Vote]] = {}
        for v in buffered:
            by_round.setdefault(v.round.reject_round, []).append(v)
        for r in sorted(by_round):
            if self.round.block_round != height:
                break  # a buffered certificate already moved us on
            st = self._rounds.setdefault(r, _RoundVotes())
            for v in by_round[r]:
                self._count(st, v, actions)
            actions.extend(self._evaluate(r, from_singles=False))
        return actions

    def _prune_rounds(self) -> None:
        if len(self._rounds) <= self.config.max_rounds_kept:
            return
        # Drop the rounds farthest from the current one first (flooded far-future
        # rounds go before the recent past).
        cur = self.round.reject_round
        for r in sorted(self._rounds, key=lambda r: (-abs(r - cur), r)):
            if len(self._rounds) <= self.config.max_rounds_kept:
                break
            if r != cur:
                del self._rounds[r]


def _pk(vote: Vote) -> str:
    return vote.public_key
