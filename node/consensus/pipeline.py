"""One validator's round pipeline: ordering -> execution -> YAC -> commit, pure.

``Pipeline.step(event) -> list[action]`` is what the node runtime's driver runs and what
the simulator runs, the very same code. The driver owns I/O: it delivers peer messages
and fired timers as events and executes the returned actions in order (``PersistVote``
durably before the ``Send`` that follows it). The ledger is injected through
:class:`Ledger` (block execution and storage; synchronous, its ``commit`` is durable when
it returns); everything else is in-memory state of this object.

Flow of a round ``(h, r)``: YAC begins the round -> ask the round's ordering peer for
its proposal (or serve it ourselves) -> execute it on a scratch state -> the block
candidate's hashes go to YAC as our candidate vote (no proposal before
``proposal_timeout`` or an invalid one: vote for nothing) -> YAC commits a block (ours:
commit it; another: fetch it with its certificate from the voters) or moves to the next
round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from node.consensus.supermajority import quorum
from node.consensus.vote import Vote, VoteSigner, VoteVerifier, vote_body
from node.consensus.yac import (
    BeginRound,
    BroadcastVotes,
    CandidateReady,
    ChainAdvanced,
    CommitBlock,
    PersistVote,
    ReportEquivocation,
    RequestSync,
    SendVotes,
    SignState,
    StartTimer,
    TimerFired,
    VotesReceived,
    YacAction,
    YacConfig,
    YacEvent,
    YacMachine,
)
from node.model import Round
from node.ordering import AddResult, OrderingService, PendingBatches, ordering_peer
from node.ordering.cache import BatchLike

B = TypeVar("B", bound=BatchLike)  # batch
P = TypeVar("P")  # proposal
K = TypeVar("K")  # block
B_contra = TypeVar("B_contra", bound=BatchLike, contravariant=True)


@dataclass(frozen=True, slots=True)
class BlockCandidate:
    """The result of executing a proposal (or a synced block) on the top state."""

    height: int
    block_hash: bytes
    proposal_hash: bytes
    tx_hashes: tuple[bytes, ...]  # committed txs, in block order
    rejected: tuple[bytes, ...]  # failed stateful validation
    block_signature: bytes = b""


class Ledger(Protocol[B_contra, P, K]):
    """Block execution and the committed chain (the Ledger component implements it)."""

    @property
    def height(self) -> int: ...

    @property
    def top_hash(self) -> bytes: ...

    def make_proposal(
        self, height: int, created_time_ms: int, batches: Sequence[B_contra]
    ) -> P: ...

    def proposal_hash(self, proposal: P) -> bytes: ...

    def proposal_size(self, proposal: P) -> int:
        """Transactions in ``proposal`` (how much work executing it is)."""
        ...

    def execute(self, proposal: P) -> BlockCandidate | None:
        """Validate and execute on a scratch state; ``None`` = invalid proposal."""
        ...

    def commit(self, block_hash: bytes, certificate: tuple[Vote, ...]) -> BlockCandidate | None:
        """Durably commit an executed candidate; ``None`` if we did not execute it."""
        ...

    def block_info(self, block: K) -> tuple[int, bytes]:
        """(height, block hash) of a block received from a peer."""
        ...

    def committed_block(self, height: int) -> tuple[K, tuple[Vote, ...]] | None: ...

    def validator_keys(self) -> Sequence[str] | None:
        """The validator set in force for the next height; ``None`` = it never changes."""
        ...

    def apply_block(self, block: K, certificate: tuple[Vote, ...]) -> BlockCandidate | None:
        """Re-execute a synced block on the top state and commit it if it is valid."""
        ...


# --- messages between pipelines (the network layer maps them to bakong.peer frames) ----


@dataclass(frozen=True, slots=True)
class VotesMsg:
    votes: tuple[Vote, ...]


@dataclass(frozen=True, slots=True)
class ProposalRequestMsg:
    round: Round


@dataclass(frozen=True, slots=True)
class ProposalResponseMsg(Generic[P]):
    round: Round
    proposal: P | None


@dataclass(frozen=True, slots=True)
class BatchesMsg(Generic[B]):
    batches: tuple[B, ...]


@dataclass(frozen=True, slots=True)
class BlockRequestMsg:
    from_height: int
    max_blocks: int


@dataclass(frozen=True, slots=True)
class BlockResponseMsg(Generic[K]):
    blocks: tuple[tuple[K, tuple[Vote, ...]], ...]
    top_height: int


# type parameters in order of first appearance: B, P, K
PeerMessage = (
    BatchesMsg[B] | ProposalResponseMsg[P] | BlockResponseMsg[K] | VotesMsg | ProposalRequestMsg
) | BlockRequestMsg


# --- events and actions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageReceived(Generic[B, P, K]):
    sender: str
    message: PeerMessage[B, P, K]
    now_ms: int


@dataclass(frozen=True, slots=True)
class TimerExpired:
    kind: str  # "vote" | "proposal" | "order" | "execute" | "sync"
    round: Round
    attempt: int
    now_ms: int


@dataclass(frozen=True, slots=True)
class Send(Generic[B, P, K]):
    to: str
    message: PeerMessage[B, P, K]


@dataclass(frozen=True, slots=True)
class Broadcast(Generic[B, P, K]):
    """To every other current validator."""

    message: PeerMessage[B, P, K]


@dataclass(frozen=True, slots=True)
class SetTimer:
    kind: str
    round: Round
    attempt: int
    delay_ms: int


@dataclass(frozen=True, slots=True)
class PersistVotedProposal(Generic[P]):
    """Store the proposal of a block we are about to vote for, next to the sign state
    (keep those of the current height, at most ``MAX_VOTED_PROPOSALS``): if that block
    is committed while we were down, we can still produce it, for us and for peers."""

    height: int
    block_hash: bytes
    proposal: P


MAX_VOTED_PROPOSALS = 8
MAX_CANDIDATES = 16  # executed, uncommitted candidates kept per height
_UNBOUNDED = 1 << 62  # step_work of steps whose work has no cheap bound


@dataclass(frozen=True, slots=True)
class Committed:
    """A block is durable: statuses may now say COMMITTED / REJECTED."""

    height: int
    block_hash: bytes
    tx_hashes: tuple[bytes, ...]
    rejected: tuple[bytes, ...]
    certificate: tuple[Vote, ...]


PipelineAction = (
    Send[B, P, K]
    | Broadcast[B, P, K]
    | SetTimer
    | PersistVotedProposal[P]
    | PersistVote
    | Committed
    | ReportEquivocation
)


@dataclass(frozen=True)
class PipelineConfig:
    """Chain parameters (``ChainParameters``) plus local bounds (``Limits``)."""

    proposal_timeout_ms: int = 1000
    # How long the ordering peer waits, from the start of its round, for a full
    # proposal before it proposes what it has (Iroha's proposal_creation_timeout, much
    # shorter). 0: propose at once, whatever is pending.
    proposal_fill_ms: int = 0
    max_proposal_size: int = 2000
    max_pending_txs: int = 10_000
    sync_batch_blocks: int = 16
    sync_retry_ms: int = 1000


def verify_certificate(
    certificate: Sequence[Vote],
    validators: Sequence[str],
    verifier: VoteVerifier,
    q: int,
    height: int,
    block_hash: bytes,
) -> bool:
    """``q`` valid commit votes of distinct current validators for ``block_hash`` at
    ``height``, all of one round (a commit certificate)."""
    members = set(validators)
    signers: set[str] = set()
    rounds = {v.round for v in certificate if v.phase == 2 and v.block_hash == block_hash}
    if len(rounds) != 1:
        return False
    for v in certificate:
        if v.phase != 2 or v.round.block_round != height or v.block_hash != block_hash:
            continue
        if v.public_key not in members or v.public_key in signers:
            continue
        body = vote_body(v.round, v.proposal_hash, v.block_hash, v.block_signature, v.phase)
        if verifier(v.public_key, body, v.signature):
            signers.add(v.public_key)
    return len(signers) >= q


class Pipeline(Generic[B, P, K]):
    """One validator: pending batches, ordering service, executor seam and YAC."""

    def __init__(
        self,
        signer: VoteSigner,
        verifier: VoteVerifier,
        validators: Sequence[str],
        ledger: Ledger[B, P, K],
        config: PipelineConfig | None = None,
        yac_config: YacConfig | None = None,
        sign_state: SignState | None = None,
        voted_proposals: Sequence[P] = (),
    ) -> None:
        self.config = config or PipelineConfig()
        self.me = signer.public_key
        self.validators = tuple(validators)
        self.ledger = ledger
        self._verify = verifier
        self.yac = YacMachine(signer, verifier, validators, ledger.height, yac_config, sign_state)
        self.cache: PendingBatches[B] = PendingBatches(self.config.max_pending_txs)
        self.ordering: OrderingService[B, P] = OrderingService(
            self.cache, self.config.max_proposal_size
        )
        self._now = 0
        self._candidates: dict[bytes, BlockCandidate] = {}
        self._candidate_sent: Round | None = None  # round we gave YAC a candidate for
        self._round_begun: Round | None = None  # round we asked a proposal for
        self._round_begun_at = 0  # when (ms)
        self._order_at: dict[Round, int] = {}  # when a waiting round's "order" timer fires
        self._sync_target = 0  # highest height we know is committed somewhere
        self._sync_peers: tuple[str, ...] = ()
        self._sync_attempt = 0
        self._sync_busy = False
        self._executed: dict[bytes, P] = {}  # block hash -> proposal, current height
        self._waiting: dict[Round, list[str]] = {}  # requesters of a not yet built proposal
        # The latest proposal each validator pushed for a round we had not reached (we
        # were still committing the block before): used if it orders that round.
        self._early: dict[str, tuple[Round, P | None]] = {}
        # Our own proposal, served to the others and waiting for its "execute" timer. Kept,
        # not served again at the timer: what a (byzantine, simulated) ordering peer
        # serves may differ per call, and it executes what it pushed.
        self._own: tuple[Round, P | None] | None = None
        # Validators the network layer has no connection to (set by the driver before
        # each step; the simulator may leave it empty).
        self.unreachable: frozenset[str] = frozenset()
        self._persisted_proposals: set[bytes] = set()  # block hashes stored this height
        for proposal in voted_proposals[-MAX_VOTED_PROPOSALS:]:
            # Restart: rebuild the candidates we voted for (stale heights do not execute).
            candidate = ledger.execute(proposal)
            if candidate is not None:
                self._remember(candidate, proposal)
                self._persisted_proposals.add(candidate.block_hash)

    # --- entry points -----------------------------------------------------------------

    def start(self, now_ms: int) -> list[PipelineAction[B, P, K]]:
        self._now = now_ms
        return self._run_yac_actions(self.yac.start())

    def submit(self, batch: B) -> AddResult:
        """A batch from Torii (already statelessly valid). ``BUSY`` -> RESOURCE_EXHAUSTED."""
        return self.cache.add(batch)

    def step(self, event: MessageReceived[B, P, K] | TimerExpired) -> list[PipelineAction[B, P, K]]:
        self._now = event.now_ms
        if isinstance(event, TimerExpired):
            return self._on_timer(event)
        msg = event.message
        sender = event.sender
        if isinstance(msg, VotesMsg):
            return self._yac(VotesReceived(msg.votes, sender, event.now_ms))
        if isinstance(msg, ProposalRequestMsg):
            return self._on_proposal_request(sender, msg.round)
        if isinstance(msg, ProposalResponseMsg):
            return self._on_proposal(sender, msg.round, msg.proposal)
        if isinstance(msg, BatchesMsg):
            for batch in msg.batches:
                self.cache.add(batch)
            return []
        if isinstance(msg, BlockRequestMsg):
            return self._on_block_request(sender, msg)
        return self._on_blocks(msg)

    def step_work(self, event: MessageReceived[B, P, K] | TimerExpired) -> int:
        """An upper bound on the transactions ``step(event)`` may execute, commit or apply.

        The driver runs a step with little work on its event loop and hands a big one to a
        worker thread: on a small VM a thread hand-off costs more CPU (wake-ups, GIL
        switches) than a vote's whole step. Any step may commit the current candidate
        (even a first-phase vote: our own commit vote may complete the commit quorum) and
        begin the next round, which executes the proposal built here or pushed early.
        """
        own = 0
        if isinstance(event, MessageReceived):
            msg = event.message
            if isinstance(msg, BlockRequestMsg | BlockResponseMsg):
                return _UNBOUNDED  # reads or re-executes whole blocks
            if isinstance(msg, BatchesMsg):
                return 0  # cached only
            if isinstance(msg, ProposalResponseMsg) and msg.proposal is not None:
                own = self.ledger.proposal_size(msg.proposal)
        elif event.round.block_round <= self.ledger.height:
            return 0  # a timer of a height already committed does nothing
        candidates = self._candidates.values()
        commit = max((len(c.tx_hashes) + len(c.rejected) for c in candidates), default=0)
        return own + commit + self._next_round_work()

    def _next_round_work(self) -> int:
        """Transactions a round may execute here: this one (a proposal built on the
        "order" timer) or the next to begin (next reject round, or the next height once
        a candidate commits)."""
        size = self.ledger.proposal_size
        early = max((size(p) for _, p in self._early.values() if p is not None), default=0)
        own = min(self.cache.tx_count, self.config.max_proposal_size)
        if own <= early:
            return early  # no need to know who orders (hashes per validator, every step)
        height = self.ledger.height
        now = self.yac.round
        mine = self.me in (self.orderer(now), self.orderer(now.next_reject())) or any(
            ordering_peer(Round(height + 2, 0), self.validators, h) == self.me
            for h in self._candidates
        )
        return own if mine else early

    # --- proposals --------------------------------------------------------------------

    def orderer(self, round_: Round) -> str:
        return ordering_peer(round_, self.validators, self.ledger.top_hash)

    def serve_proposal(self, round_: Round) -> P | None:
        """The proposal this node, as ordering peer, serves for ``round_`` (a seam the
        simulator's byzantine nodes override)."""
        height = round_.block_round
        now = self._now
        return self.ordering.proposal_for(
            round_, lambda batches: self.ledger.make_proposal(height, now, batches)
        )

    def _on_proposal_request(self, sender: str, round_: Round) -> list[PipelineAction[B, P, K]]:
        if round_.block_round != self.ledger.height + 1 or self.orderer(round_) != self.me:
            return []  # not ours to order (or we are behind): the requester times out
        delay = self._order_delay(round_)
        if delay:
            waiting = self._waiting.setdefault(round_, [])
            if sender not in waiting and len(waiting) < len(self.validators):
                waiting.append(sender)
            while len(self._waiting) > 4:
                del self._waiting[next(iter(self._waiting))]
            at = self._now + delay
            if at < self._order_at.get(round_, at + 1):
                self._order_at[round_] = at
                while len(self._order_at) > 4:
                    del self._order_at[next(iter(self._order_at))]
                return [SetTimer("order", round_, 0, delay)]
            return []
        # Batches are here: whoever already waits for this round's proposal gets it now,
        # this node among them, not at the "order" timer. Otherwise the peers asking
        # after the batches arrived could commit the block before this node (and the
        # earlier askers) even executed it: it would then fetch the block by sync, and
        # its Torii would lose the stateful status and reason of each rejected tx.
        asking = [r for r in self._waiting.pop(round_, []) if r != sender] + [sender]
        return self._serve_waiting(round_, asking)

    def _serve_waiting(self, round_: Round, asking: list[str]) -> list[PipelineAction[B, P, K]]:
        """Serve ``round_``'s proposal to those who asked. If this node is among them (it
        orders the round and waited for batches), push it to every validator, as it does
        when it serves at once: a peer that asked before this node reached the round
        had its request dropped, and would wait for the proposal timeout instead."""
        out: list[PipelineAction[B, P, K]] = []
        if self.me in asking and len(self.validators) > 1:
            proposal = self.serve_proposal(round_)
            out.append(Broadcast(ProposalResponseMsg(round_, proposal)))
            out.extend(self._execute_own(round_, proposal))
            return out
        for requester in asking:
            out.extend(self._answer_proposal(requester, round_))
        return out

    def _order_delay(self, round_: Round) -> int:
        """Milliseconds before this node, ordering ``round_``, serves its proposal; 0: now.

        Nothing pending: half the proposal timeout (then an empty round), instead of
        spinning through empty rounds. Less than a full proposal pending: until
        ``proposal_fill_ms`` after the round began. Every round costs each validator
        about 15 ms of CPU, some fifty transfers' worth at max rate (votes, signatures,
        synced writes, frames, status and block streams), so proposing a few
        transactions at a time spent most of the machine on rounds well below its
        capacity."""
        if self.ordering.served(round_):
            return 0
        if self.cache.batch_count == 0:
            return max(1, self.config.proposal_timeout_ms // 2)
        # at most half the proposal timeout: the others wait that long for the answer
        fill = min(self.config.proposal_fill_ms, self.config.proposal_timeout_ms // 2)
        if fill <= 0 or self.cache.tx_count >= self.config.max_proposal_size:
            return 0
        began = self._round_begun_at if self._round_begun == round_ else self._now
        return max(0, began + fill - self._now)

    def _answer_proposal(self, to: str, round_: Round) -> list[PipelineAction[B, P, K]]:
        proposal = self.serve_proposal(round_)
        if to == self.me:
            return self._execute_own(round_, proposal)
        return [Send(to, ProposalResponseMsg(round_, proposal))]

    def _execute_own(self, round_: Round, proposal: P | None) -> list[PipelineAction[B, P, K]]:
        """Execute the proposal this node serves for ``round_``: in a step of its own (an
        "execute" timer of 0 ms) when others wait for it. A step's actions leave only
        when it ends, and executing takes tens of ms: the pushes and answers of this
        step must not wait for it, or every round would pass the ordering peer's
        execution before anyone else could start theirs."""
        if len(self.validators) == 1:
            return self._on_proposal(self.me, round_, proposal)
        self._own = (round_, proposal)
        return [SetTimer("execute", round_, 0, 0)]

    def _begin_round(self, round_: Round) -> list[PipelineAction[B, P, K]]:
        if round_.block_round != self.ledger.height + 1 or self._round_begun == round_:
            return []  # block h-1 is still being fetched: resumed after the sync
        self._round_begun = round_
        self._round_begun_at = self._now
        orderer = self.orderer(round_)
        if orderer == self.me:
            if self._order_delay(round_):
                return self._on_proposal_request(self.me, round_)  # waits for batches
            # Push the proposal to the others, then execute it here (see _execute_own).
            # Their requests are still answered (the same stored proposal), in case a
            # push is lost.
            return self._serve_waiting(round_, [self.me])
        early = self._early.pop(orderer, None)
        if early is not None and early[0] == round_:
            return self._on_proposal(orderer, round_, early[1])
        if orderer in self.unreachable:
            # Its connection is gone (a crashed process): vote nothing now rather than
            # after the proposal timeout, so the next reject round (next ordering peer)
            # starts at once. As safe as the timeout firing early; a peer that is only
            # slow keeps its connection and gets the full timeout.
            self._candidate_sent = round_
            return self._yac(CandidateReady(round_, b"", b""))
        # With a validator unreachable every live vote is needed for a quorum: one node
        # that gives up on a lagging ordering peer's proposal splits the round and the
        # whole round timeout passes. Wait twice as long then (a dead ordering peer is
        # skipped at once above, so this only costs time with a live, slow one).
        timeout = self.config.proposal_timeout_ms * (2 if self.unreachable else 1)
        return [
            Send(orderer, ProposalRequestMsg(round_)),
            SetTimer("proposal", round_, 0, timeout),
        ]

    def _on_proposal(
        self, sender: str, round_: Round, proposal: P | None
    ) -> list[PipelineAction[B, P, K]]:
        if sender != self.me and sender in self.validators and self._is_ahead(round_):
            # A push for a round we have not reached: keep the latest per validator and
            # check it once the round begins and its ordering peer is known.
            self._early[sender] = (round_, proposal)
            return []
        if (
            round_ != self.yac.round
            or self._candidate_sent == round_
            or round_.block_round != self.ledger.height + 1
            or sender != self.orderer(round_)
        ):
            return []
        candidate = self.ledger.execute(proposal) if proposal is not None else None
        self._candidate_sent = round_
        if candidate is None or candidate.height != round_.block_round:
            return self._yac(CandidateReady(round_, b"", b""))
        if proposal is not None:
            self._remember(candidate, proposal)
        return self._yac(
            CandidateReady(
                round_, candidate.proposal_hash, candidate.block_hash, candidate.block_signature
            )
        )

    def _is_ahead(self, round_: Round) -> bool:
        """``round_`` is the next height's, or a later reject round of this height."""
        height = self.ledger.height
        if round_.block_round == height + 2:
            return True
        return round_.block_round == height + 1 and round_ > self.yac.round

    def _remember(self, candidate: BlockCandidate, proposal: P) -> None:
        self._candidates[candidate.block_hash] = candidate
        self._executed[candidate.block_hash] = proposal
        while len(self._candidates) > MAX_CANDIDATES:
            del self._candidates[next(iter(self._candidates))]
        while len(self._executed) > MAX_CANDIDATES:
            del self._executed[next(iter(self._executed))]

    # --- timers -----------------------------------------------------------------------

    def _on_timer(self, ev: TimerExpired) -> list[PipelineAction[B, P, K]]:
        if ev.kind == "vote":
            return self._yac(TimerFired(ev.round, ev.attempt))
        if ev.kind == "order":
            self._order_at.pop(ev.round, None)
            asking = self._waiting.pop(ev.round, [])
            if ev.round.block_round != self.ledger.height + 1:
                return []
            return self._serve_waiting(ev.round, asking)
        if ev.kind == "execute":
            own = self._own
            if own is None or own[0] != ev.round:
                return []  # a later round's proposal replaced it (this round is over)
            self._own = None
            return self._on_proposal(self.me, ev.round, own[1])
        if ev.kind == "proposal":
            if (
                ev.round == self.yac.round
                and self._candidate_sent != ev.round
                and ev.round.block_round == self.ledger.height + 1
            ):
                self._candidate_sent = ev.round
                return self._yac(CandidateReady(ev.round, b"", b""))
            return []
        # sync retry: the one pending request timed out (or was answered)
        if ev.attempt != self._sync_attempt:
            return []
        self._sync_busy = False
        if self.ledger.height >= self._sync_target:
            return []
        return self._request_blocks(next_peer=True)

    # --- YAC glue ---------------------------------------------------------------------

    def _yac(self, event: YacEvent) -> list[PipelineAction[B, P, K]]:
        return self._run_yac_actions(self.yac.step(event))

    def _run_yac_actions(self, actions: list[YacAction]) -> list[PipelineAction[B, P, K]]:
        out: list[PipelineAction[B, P, K]] = []
        for a in actions:
            if isinstance(a, SendVotes):
                out.append(Send(a.to, VotesMsg(a.votes)))
            elif isinstance(a, BroadcastVotes):
                out.append(Broadcast(VotesMsg(a.votes)))
            elif isinstance(a, StartTimer):
                out.append(SetTimer("vote", a.round, a.attempt, a.delay_ms))
            elif isinstance(a, PersistVote):
                proposal = self._executed.get(a.block_hash) if a.block_hash else None
                if proposal is not None and a.block_hash not in self._persisted_proposals:
                    self._persisted_proposals.add(a.block_hash)
                    out.append(PersistVotedProposal(a.round.block_round, a.block_hash, proposal))
                out.append(a)
            elif isinstance(a, ReportEquivocation):
                out.append(a)
            elif isinstance(a, CommitBlock):
                out.extend(self._on_commit(a))
            elif isinstance(a, BeginRound):
                out.extend(self._begin_round(a.round))
            elif isinstance(a, RequestSync):
                out.extend(self._want_sync(a.height, a.from_peers))
        return out

    def _on_commit(self, a: CommitBlock) -> list[PipelineAction[B, P, K]]:
        height = a.round.block_round
        if height != self.ledger.height + 1:
            return self._want_sync(height, tuple(v.public_key for v in a.certificate))
        done = None
        if a.block_hash in self._candidates:
            done = self.ledger.commit(a.block_hash, a.certificate)
        if done is None:
            # A block we did not execute (Iroha's VoteOther): fetch it from its voters.
            return self._want_sync(height, tuple(v.public_key for v in a.certificate))
        return self._committed(done, a.certificate)

    def _committed(
        self, done: BlockCandidate, certificate: tuple[Vote, ...]
    ) -> list[PipelineAction[B, P, K]]:
        self._candidates.clear()
        self._executed.clear()
        self._persisted_proposals.clear()
        self.cache.finalize(done.tx_hashes + done.rejected)
        keys = self.ledger.validator_keys()
        if keys is not None and tuple(keys) != self.validators:
            self.set_validators(keys)
        return [Committed(done.height, done.block_hash, done.tx_hashes, done.rejected, certificate)]

    def set_validators(self, validators: Sequence[str]) -> None:
        """A committed AddPeer/RemovePeer: ordering, YAC and certificates use the new set
        from the next height on."""
        self.validators = tuple(validators)
        self.yac.set_validators(validators)

    # --- block sync -------------------------------------------------------------------

    def _want_sync(self, height: int, peers: tuple[str, ...]) -> list[PipelineAction[B, P, K]]:
        # The named peers first (they voted for what we miss), then every other
        # validator: a byzantine peer that claims a height must not be our only source.
        named = [p for p in peers if p != self.me and p in self.validators]
        rest = [p for p in self.validators if p != self.me and p not in named]
        self._sync_target = max(self._sync_target, height)
        if named:
            self._sync_peers = (*named, *rest)
        if self._sync_busy or not self._sync_peers or self.ledger.height >= self._sync_target:
            return []
        return self._request_blocks(next_peer=False)

    def _request_blocks(self, next_peer: bool) -> list[PipelineAction[B, P, K]]:
        if not self._sync_peers:
            self._sync_peers = tuple(p for p in self.validators if p != self.me)
        self._sync_attempt += 1
        self._sync_busy = True
        peer = self._sync_peers[self._sync_attempt % len(self._sync_peers)]
        return [
            Send(peer, BlockRequestMsg(self.ledger.height + 1, self.config.sync_batch_blocks)),
            SetTimer("sync", self.yac.round, self._sync_attempt, self.config.sync_retry_ms),
        ]

    def _on_block_request(self, sender: str, msg: BlockRequestMsg) -> list[PipelineAction[B, P, K]]:
        top = self.ledger.height
        if msg.from_height < 1 or msg.from_height > top:
            return [Send(sender, BlockResponseMsg((), top))]
        last = min(top, msg.from_height + min(msg.max_blocks, self.config.sync_batch_blocks) - 1)
        blocks = []
        for h in range(msg.from_height, last + 1):
            item = self.ledger.committed_block(h)
            if item is None:
                break
            blocks.append(item)
        return [Send(sender, BlockResponseMsg(tuple(blocks), top))]

    def _on_blocks(self, msg: BlockResponseMsg[K]) -> list[PipelineAction[B, P, K]]:
        out: list[PipelineAction[B, P, K]] = []
        q = quorum(len(self.validators), self.yac.config.quorum_rule)
        applied = False
        for block, cert in msg.blocks:
            height, bhash = self.ledger.block_info(block)
            if height != self.ledger.height + 1:
                continue
            if not verify_certificate(cert, self.validators, self._verify, q, height, bhash):
                break
            done = self.ledger.apply_block(block, cert)
            if done is None:
                break
            applied = True
            out.extend(self._committed(done, cert))
        self._sync_target = max(self._sync_target, msg.top_height)
        self._sync_busy = False
        if applied:
            out.extend(self._run_yac_actions(self.yac.step(ChainAdvanced(self.ledger.height))))
            out.extend(self._begin_round(self.yac.round))
        if applied and self.ledger.height < self._sync_target:
            out.extend(self._request_blocks(next_peer=True))
        # otherwise the pending "sync" timer asks the next peer (no request storms)
        return out
