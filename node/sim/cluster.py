"""Discrete-event simulation of a validator cluster driving the real pure cores.

Every node is a :class:`node.consensus.pipeline.Pipeline` (ordering + YAC) over a
:class:`node.sim.bank.BankLedger`, exactly the objects the runtime's driver steps. The
simulator owns only what the driver owns in production: delivering messages, firing
timers, executing actions in order and persisting the sign state. One heap of
``(time, seq, kind, instance, payload)``; one ``random.Random(seed)`` for every choice.

Faults before GST: per-message drop, duplication and delay (reordering), partitions
(random halves, one isolated node), crash and restart of up to f nodes at a time. Each
node keeps its sign state, voted proposals, blocks and world state in a
:class:`node.storage.memory.MemoryStore` with the driver's sync flags; a crash draws its
mode (process, power, torn) from the seed and the node restarts from what the store
kept (pending batches and executed candidates are lost). Byzantine validators (f of n,
one behaviour per seed) equivocate, sign badly, send votes from a non-validator key,
serve forged proposals, forge certificates, or flood stale/future-round votes at 1,000
messages per simulated second. Twins run two instances with one key. After GST: no
drops, delay <= 50 ms, partitions healed, every node up.

Invariants (reliability plan 8.2) are checked after every commit and step:
AGREE, VALID, NODUP, SUPPLY, ACKED, LIVE, NOEQUIV, BOUND, and the trace hash gives DET;
plus DURABLE (row 11: a restart never lowers the committed height, and the stored world
state equals the replay of the stored blocks), COUNTED (row 9: an invalid vote is never
counted nor buffered) and EQUIV (row 9: an equivocation an honest machine holds is
reported). A violation names the step (every event, flood included) it happened at.

Named crash points (reliability plan row 11): with ``SimConfig.failpoint`` set, each
scheduled crash arms one live node instead, and that node crashes the next time its
processing reaches the named point (:data:`FAILPOINTS`); the rest of that event's work
is lost, as when a process dies there. The plan's "after block write before WSV
commit" and "after WSV commit before tx index" points cannot exist here: block,
certificate and world state are one write (8.5), so "before/after block write" cover
them.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from node.consensus.pipeline import (
    MAX_VOTED_PROPOSALS,
    Broadcast,
    Committed,
    MessageReceived,
    PersistVotedProposal,
    Pipeline,
    PipelineConfig,
    Send,
    SetTimer,
    TimerExpired,
    VotesMsg,
)
from node.consensus.supermajority import QuorumRule, max_faulty, quorum
from node.consensus.vote import (
    EMPTY,
    FakeKeyring,
    Vote,
    VoteSigner,
    VoteVerifier,
    sign_vote,
    vote_body,
)
from node.consensus.yac import PersistVote, ReportEquivocation, YacConfig
from node.crypto import KeyPair, KeyScheme, verify
from node.model import Round
from node.sim.bank import (
    ACCOUNTS,
    ADMIN,
    BURN,
    GENESIS_HASH,
    GENESIS_SUPPLY,
    MINT,
    TRANSFER,
    BankBatch,
    BankBlock,
    BankLedger,
    BankProposal,
    BankState,
    BankTx,
    decode_proposal,
    encode_proposal,
)
from node.storage.memory import CrashMode, MemoryStore
from node.sync.signstate import VotedProposals, load_sign_state, save_sign_state

# Named crash points (row 11), in the order a round reaches them.
FAILPOINTS = (
    "after_accept_before_reply",  # a batch entered the ordering cache, no reply yet
    "before_sign_state_persist",  # a vote is about to be stored (and then sent)
    "after_sign_state_persist",  # stored, not sent yet
    "after_vote_send",  # sent (the rest of the step's actions are lost)
    "before_block_write",  # a commit is about to write its block + world state
    "after_block_write",  # written, nothing reported yet
    "mid_sync",  # one downloaded block stored, the rest of the download not yet
)

BEHAVIOURS = (
    "equivocate",
    "badsig",
    "nonvalidator",
    "forged_proposal",
    "forged_commit",
    "flood",
    "crash_only",
)

SimPipelineBase = Pipeline[BankBatch, BankProposal, BankBlock]

# event kinds
(_DELIVER, _TIMER, _CLIENT, _CRASH, _RESTART, _PARTITION, _HEAL, _BYZ, _LIVE, _SUBMIT, _FLOOD) = (
    range(11)
)
# Stale and future-round flood (reliability plan row 9): 1,000 messages per simulated
# second, sent in ticks of FLOOD_TICK_MS. Flood events do not count against the run's
# step budget (they would end the pre-GST phase after 1.5 simulated seconds); they are
# counted apart as injected events.
FLOOD_RATE = 1000
FLOOD_TICK_MS = 10
FLOOD_REJECT_ROUNDS = (0, 1, 2, 3, 7, 50, 1000)


@dataclass(frozen=True)
class SimConfig:
    validators: int = 4
    byzantine: int = 1  # faulty validators (byzantine behaviour of the seed)
    steps: int = 3000  # steps before GST; after GST the run lasts the LIVE window
    behaviour: str | None = None  # None: drawn from the seed
    faults: bool = True  # network faults and crashes before GST
    crypto: str = "auto"  # auto: real ed25519 when seed % 10 == 0; "fake"; "real"
    live_window_ms: int = 30_000
    vote_delay_ms: int = 1000
    proposal_timeout_ms: int = 1000
    proposal_fill_ms: int = 0  # the ordering peer's wait for a full proposal
    max_proposal_size: int = 20
    max_pending_txs: int = 500
    client_interval_ms: int = 200
    # mutants (negative controls): never set in a real node
    quorum_rule: QuorumRule = QuorumRule.BFT
    forget_votes: bool = False  # sign state not loaded at restart
    sync_votes: bool = True  # False: sign state written without sync (lost on power loss)
    sync_blocks: bool = True  # False: blocks written without sync
    crash_modes: tuple[CrashMode, ...] = tuple(CrashMode)  # drawn per crash from the seed
    count_unknown_voters: bool = False
    locking: bool = True
    send_before_persist: bool = False  # mutant: a vote leaves before its sign state is stored
    crash_mean_gap_ms: int = 6000
    # row 11: crashes happen at this named point (FAILPOINTS) instead of between events
    failpoint: str | None = None
    # Twins: these validator indices get a second instance with the same key; the
    # schedule gives, per phase, a partition group for every instance.
    twins: tuple[int, ...] = ()
    twin_schedule: tuple[tuple[int, ...], ...] = ()
    twin_phase_ms: int = 1000
    twin_heal_ms: int = 2000


@dataclass
class SimResult:
    seed: int
    config: SimConfig
    behaviour: str
    real_crypto: bool
    violations: list[str]
    steps: int
    sim_ms: int
    trace_hash: str
    heights: list[int]
    counters: Counter[str] = field(default_factory=Counter)
    faulty: tuple[int, ...] = ()  # validator indices that misbehave (or are twinned)
    drop_p: float = 0.0  # network fault parameters drawn for this seed
    dup_p: float = 0.0
    max_delay_ms: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


class _CrashNow(Exception):
    """Raised at an armed crash point: the node's process dies there."""


class _Node:
    __slots__ = (
        "armed",
        "behaviour",
        "honest",
        "incarnation",
        "inst",
        "key_index",
        "ledger",
        "observed",
        "pipeline",
        "pk",
        "signer",
        "store",
        "up",
    )

    def __init__(self, inst: int, key_index: int, signer: VoteSigner, behaviour: str) -> None:
        self.inst = inst
        self.key_index = key_index
        self.signer = signer
        self.pk = signer.public_key
        self.behaviour = behaviour
        self.honest = behaviour == "honest"
        self.store = MemoryStore()  # sign state, voted proposals, blocks and WSV
        self.ledger = BankLedger(self.store)
        self.pipeline: SimPipeline | None = None
        self.up = True
        self.incarnation = 0
        self.observed: list[Vote] = []
        self.armed: str | None = None  # crash point this node dies at next (row 11)


class SimPipeline(SimPipelineBase):
    """The real pipeline with the two seams scenarios steer: who orders a round (Twins)
    and what a byzantine ordering peer serves."""

    orderer_override: str | None = None
    forger: Callable[[Round], BankProposal | None] | None = None

    def orderer(self, round_: Round) -> str:
        if self.orderer_override is not None:
            return self.orderer_override
        return super().orderer(round_)

    def serve_proposal(self, round_: Round) -> BankProposal | None:
        if self.forger is not None:
            return self.forger(round_)
        return super().serve_proposal(round_)


class Simulation:
    def __init__(self, seed: int, config: SimConfig) -> None:
        self.seed = seed
        self.cfg = config
        self.rng = rng = random.Random(seed)
        n = config.validators
        self.f = max_faulty(n)
        self.q = quorum(n, config.quorum_rule)
        # real ed25519 in every tenth seed, a fast HMAC stand-in otherwise
        self.real_crypto = config.crypto == "real" or (config.crypto == "auto" and seed % 10 == 0)
        signers: list[VoteSigner]
        self.verifier: VoteVerifier
        if self.real_crypto:
            signers = [KeyPair.generate(KeyScheme.ED25519, rng) for _ in range(n + 1)]
            self.verifier = verify
        else:
            ring = FakeKeyring()
            signers = [ring.new_signer(rng) for _ in range(n + 1)]
            self.verifier = ring.verify
        self.outsider = signers[n]  # a well-formed key that is not a validator
        # row 9 bookkeeping: invalid votes the adversary sent, keys that may equivocate,
        # equivocations honest nodes held / reported per (node, incarnation, key, round)
        self.invalid_votes: set[Vote] = set()
        self._suspects: frozenset[str] = frozenset()
        self._seen_equivocating: set[tuple[int, int, str, Round]] = set()
        self._reported: set[tuple[int, int, str, Round]] = set()
        self.validators = [s.public_key for s in signers[:n]]
        if config.twins:
            faulty: list[int] = list(config.twins)
            self.behaviour = "twins"
        else:
            faulty = sorted(rng.sample(range(n), min(config.byzantine, n)))
            self.behaviour = config.behaviour or rng.choice(BEHAVIOURS) if faulty else "none"
        self.nodes: list[_Node] = []
        for i in range(n):
            if config.twins:
                beh = "twin" if i in config.twins else "honest"
            else:
                beh = self.behaviour if i in faulty else "honest"
            self.nodes.append(_Node(i, i, signers[i], beh))
        for j, k in enumerate(config.twins):
            self.nodes.append(_Node(n + j, k, signers[k], "twin"))
        if config.failpoint is not None and config.failpoint not in FAILPOINTS:
            raise ValueError(f"unknown failpoint {config.failpoint!r}; one of {FAILPOINTS}")
        for node in self.nodes:
            node.ledger.sync_blocks = config.sync_blocks
            self._hook(node)
        self._suspects = frozenset(x.pk for x in self.nodes if not x.honest)
        self.by_pk: dict[str, list[_Node]] = {}
        for node in self.nodes:
            self.by_pk.setdefault(node.pk, []).append(node)
        self.pcfg = PipelineConfig(
            proposal_timeout_ms=config.proposal_timeout_ms,
            proposal_fill_ms=config.proposal_fill_ms,
            max_proposal_size=config.max_proposal_size,
            max_pending_txs=config.max_pending_txs,
        )
        self.ycfg = YacConfig(
            vote_delay_ms=config.vote_delay_ms,
            round_timeout_ms=config.proposal_timeout_ms + (n + 2) * config.vote_delay_ms,
            quorum_rule=config.quorum_rule,
            count_unknown_voters=config.count_unknown_voters,
            locking=config.locking,
        )
        # network fault parameters of this seed
        self.drop_p = rng.uniform(0.0, 0.3) if config.faults else 0.0
        self.dup_p = rng.uniform(0.0, 0.1) if config.faults else 0.0
        self.max_delay = rng.randint(1, 3000) if config.faults else 20
        self.partition: list[int] | None = None
        self.pre_gst = True
        self.now = 0
        self._seq = 0
        self._heap: list[tuple[int, int, int, int, Any]] = []
        self.steps = 0  # the cluster's own events: the run's budget
        self.events = 0  # every event, injected flood included
        self._flood_values = [EMPTY] + [(rng.randbytes(32), rng.randbytes(32)) for _ in range(3)]
        self._flood_msgs: dict[tuple[int, Round, int], VotesMsg] = {}
        self.violations: list[str] = []
        self.counters: Counter[str] = Counter()
        self._trace = hashlib.sha256()
        # invariant state
        self.oracle = BankState()
        self.oracle_hashes: list[bytes] = [GENESIS_HASH]
        self.oracle_digests: list[bytes] = [self.oracle.digest(0)]
        self.oracle_seen: set[bytes] = set()
        self.signed: dict[tuple[str, Round, int], tuple[bytes, bytes]] = {}
        self.acked: set[bytes] = set()
        self.history: list[BankBatch] = []
        self._nonce = 0
        self._live_base: dict[int, int] = {}
        # valid batches the client sent and has not yet seen in the chain
        self.unconfirmed: dict[bytes, tuple[int, BankBatch]] = {}
        self.gst_ms = 0

    # --- scheduling -------------------------------------------------------------------

    def _push(self, at: int, kind: int, inst: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, inst, payload))

    def _violate(self, name: str, detail: str) -> None:
        self.violations.append(f"{name} at step {self.events} (t={self.now} ms): {detail}")

    # --- network ----------------------------------------------------------------------

    def _transmit(self, src: int, dst: int, sender: str, msg: Any, kind: int = _DELIVER) -> None:
        part = self.partition
        if part is not None and part[src] != part[dst]:
            return
        rng = self.rng
        if self.pre_gst and self.cfg.faults:
            if rng.random() < self.drop_p:
                return
            self._push(self.now + 1 + int(rng.random() * self.max_delay), kind, dst, (sender, msg))
            if rng.random() < self.dup_p:
                at = self.now + 1 + int(rng.random() * self.max_delay)
                self._push(at, kind, dst, (sender, msg))
        else:
            limit = 50 if not self.pre_gst else self.max_delay
            self._push(self.now + 1 + int(rng.random() * (limit - 1)), kind, dst, (sender, msg))

    def _route(self, node: _Node, to: str, msg: Any) -> None:
        if type(msg) is VotesMsg:
            if node.honest:
                for v in msg.votes:
                    if v.public_key == node.pk:
                        self._record_signed(v.public_key, v.round, v.phase, v.value)
            elif node.behaviour in ("equivocate", "badsig"):
                msg = self._byz_votes(node, to, msg)
        for dst in self.by_pk.get(to, ()):
            if dst is not node:
                self._transmit(node.inst, dst.inst, node.pk, msg)

    def _record_signed(
        self, pk: str, round_: Round, phase: int, value: tuple[bytes, bytes]
    ) -> None:
        prev = self.signed.setdefault((pk, round_, phase), value)
        if prev != value:
            self._violate("NOEQUIV", f"{pk[:8]} signed two values in round {round_}/{phase}")

    # --- node lifecycle ---------------------------------------------------------------

    def _boot(self, node: _Node) -> None:
        last, raw_proposals = load_sign_state(node.store)
        proposals = [decode_proposal(r) for r in raw_proposals]
        if self.cfg.forget_votes:
            last, proposals = None, []
        pipe = SimPipeline(
            node.signer,
            self.verifier,
            self.validators,
            node.ledger,
            self.pcfg,
            self.ycfg,
            sign_state=last,
            voted_proposals=tuple(proposals),
        )
        if self.cfg.twins:
            pipe.orderer_override = self.validators[self.cfg.twins[0]]
        if node.behaviour == "forged_proposal":
            pipe.forger = self._forger(node)
        node.pipeline = pipe
        try:
            self._actions(node, pipe.start(self.now))
        except _CrashNow:
            self._crash_node(node)

    def _actions(self, node: _Node, actions: Sequence[Any]) -> None:
        if self.cfg.send_before_persist:
            actions = _persist_after_send(actions)
        for a in actions:
            t = type(a)
            if t is Send:
                self._route(node, a.to, a.message)
                if type(a.message) is VotesMsg:
                    self._fail(node, "after_vote_send")
            elif t is Broadcast:
                for pk in self.validators:
                    if pk != node.pk:
                        self._route(node, pk, a.message)
                if type(a.message) is VotesMsg:
                    self._fail(node, "after_vote_send")
            elif t is SetTimer:
                payload = (node.incarnation, a.kind, a.round, a.attempt)
                self._push(self.now + a.delay_ms, _TIMER, node.inst, payload)
            elif t is PersistVotedProposal:
                # synced before the vote that follows it leaves (as the driver does)
                raw = encode_proposal(a.proposal)
                VotedProposals(node.store).save(
                    a.height, raw, MAX_VOTED_PROPOSALS, sync=self.cfg.sync_votes
                )
            elif t is PersistVote:
                self._fail(node, "before_sign_state_persist")
                save_sign_state(node.store, a, sync=self.cfg.sync_votes)
                self._fail(node, "after_sign_state_persist")
                if node.honest:
                    value = (a.proposal_hash, a.block_hash)
                    self._record_signed(node.pk, a.round, a.phase, value)
            elif t is Committed:
                self._on_committed(node, a)
            elif t is ReportEquivocation:
                self.counters["equivocation_reports"] += 1
                if node.honest:
                    key = (node.inst, node.incarnation, a.public_key, a.round)
                    if key not in self._reported:
                        self._reported.add(key)
                        self.counters["equivocating_rounds_reported"] += 1

    # --- invariants -------------------------------------------------------------------

    def _cert_ok(self, cert: Sequence[Vote], height: int, bhash: bytes) -> bool:
        members = set(self.validators)
        signers: set[str] = set()
        rounds = {v.round for v in cert}
        if len(rounds) != 1:
            return False
        for v in cert:
            if v.phase != 2 or v.round.block_round != height or v.block_hash != bhash:
                continue
            if v.public_key not in members or v.public_key in signers:
                continue
            body = vote_body(v.round, v.proposal_hash, v.block_hash, v.block_signature, 2)
            if self.verifier(v.public_key, body, v.signature):
                signers.add(v.public_key)
        return len(signers) >= self.q

    def _on_committed(self, node: _Node, c: Committed) -> None:
        self.counters["commits"] += 1
        if not node.honest:
            return
        h = c.height
        block, cert = node.ledger.chain[h - 1]
        if h == len(self.oracle_hashes):
            # First honest commit of this height: the oracle re-executes it.
            if block.prev_hash != self.oracle_hashes[-1]:
                self._violate("VALID", f"height {h} does not extend the chain")
            for tx in block.txs:
                if tx.tx_hash in self.oracle_seen:
                    self._violate("NODUP", f"tx {tx.tx_hash.hex()[:8]} committed twice")
                if not tx.sig_ok or not self.oracle.apply(tx):
                    self._violate("VALID", f"invalid tx {tx.tx_hash.hex()[:8]} at {h}")
                self.oracle_seen.add(tx.tx_hash)
            self.oracle_seen.update(block.rejected)
            if min(self.oracle.balances) < 0:
                self._violate("NODUP", "negative balance")
            self.oracle_hashes.append(block.bhash)
            self.oracle_digests.append(self.oracle.digest(h))
        elif h < len(self.oracle_hashes):
            if self.oracle_hashes[h] != c.block_hash:
                self._violate("AGREE", f"two blocks at height {h}")
        else:
            self._violate("VALID", f"height {h} committed before {h - 1}")
            return
        if not self._cert_ok(cert, h, block.bhash):
            self._violate("VALID", f"height {h} certificate lacks {self.q} valid signatures")
        st = node.ledger.state  # state at the node's top (a sync may commit several)
        if sum(st.balances) != GENESIS_SUPPLY + st.minted - st.burned or min(st.balances) < 0:
            self._violate("SUPPLY", f"node {node.inst} at height {h}")
        if h < len(self.oracle_digests) and node.ledger.digests[h] != self.oracle_digests[h]:
            self._violate("SUPPLY", f"node {node.inst} world state differs at height {h}")
        self.acked.update(c.tx_hashes)

    # Reliability plan row 9, checked on honest nodes from outside the machine (the
    # simulator peeks at the YAC's vote tables, read-only): an invalid vote is never
    # counted, and an equivocation is reported whenever the machine holds both votes.

    def _equivocations_due(self, node: _Node, msg: VotesMsg) -> list[tuple[str, Round]]:
        """(key, round) pairs this message makes ``node`` see equivocating: the machine
        counts the message's votes (current height, kept round, one round, not a
        self-contained commit proof) and already counted another value from that key."""
        assert node.pipeline is not None
        yac = node.pipeline.yac
        votes = msg.votes
        r = votes[0].round
        cur = yac.round
        if (
            r.block_round != cur.block_round
            or r.reject_round > cur.reject_round + self.ycfg.max_rounds_kept
            or len(votes) > 2 * len(self.validators) + 2
            or any(v.round != r for v in votes)
            or sum(1 for v in votes if v.phase == 2) >= self.q
        ):
            return []
        st = yac._rounds.get(r.reject_round)
        if st is None:
            return []
        due = []
        first: set[tuple[str, int]] = set()
        for v in votes:
            if (v.public_key, v.phase) in first:
                continue  # the machine reads one vote per key and phase in a message
            first.add((v.public_key, v.phase))
            malformed = v.phase not in (1, 2) or (v.phase == 2 and not v.block_hash)
            if v.public_key in self._suspects and not malformed and v not in self.invalid_votes:
                prev = (st.votes if v.phase == 1 else st.commits).get(v.public_key)
                if prev is not None and prev.value != v.value:
                    due.append((v.public_key, r))
        return due

    def _check_votes(self, node: _Node, msg: VotesMsg, due: list[tuple[str, Round]]) -> None:
        assert node.pipeline is not None
        yac = node.pipeline.yac
        for pk, r in due:
            seen = (node.inst, node.incarnation, pk, r)
            if seen not in self._seen_equivocating:
                self._seen_equivocating.add(seen)
                self.counters["equivocating_rounds_seen"] += 1
            if seen not in self._reported:
                self._violate("EQUIV", f"node {node.inst} holds two votes of {pk[:8]} in {r}")
        for v in msg.votes:
            if v not in self.invalid_votes:
                continue
            if v.round.block_round == yac.round.block_round:
                st = yac._rounds.get(v.round.reject_round)
                table = None if st is None else (st.votes if v.phase == 1 else st.commits)
                if table is not None and table.get(v.public_key) == v:
                    self.counters["invalid_votes_counted"] += 1
                    self._violate("COUNTED", f"node {node.inst} counted {self._show(v)}")
            if yac._future.get((v.round, v.public_key, v.phase)) == v:
                self.counters["invalid_votes_counted"] += 1
                self._violate("COUNTED", f"node {node.inst} buffered {self._show(v)}")

    @staticmethod
    def _show(v: Vote) -> str:
        return f"an invalid vote of {v.public_key[:8]} in {v.round}/{v.phase}"

    def _check_bounds(self, node: _Node) -> None:
        pipe = node.pipeline
        if pipe is None:
            return
        yac = pipe.yac
        if yac.buffered_votes > self.ycfg.max_buffered_votes:
            self._violate("BOUND", f"node {node.inst} future-vote buffer {yac.buffered_votes}")
        if yac.rounds_kept > self.ycfg.max_rounds_kept + 1:
            self._violate("BOUND", f"node {node.inst} keeps {yac.rounds_kept} rounds")
        if pipe.cache.tx_count > self.pcfg.max_pending_txs:
            self._violate("BOUND", f"node {node.inst} pending cache {pipe.cache.tx_count}")
        if pipe.ordering.rounds_stored > pipe.ordering.max_rounds:
            self._violate("BOUND", f"node {node.inst} stores {pipe.ordering.rounds_stored}")

    # --- workload ---------------------------------------------------------------------

    def _client(self) -> None:
        rng = self.rng
        if self.history and rng.random() < 0.05:
            batch = rng.choice(self.history)  # replay
        else:
            txs = []
            for _ in range(2 if rng.random() < 0.1 else 1):
                self._nonce += 1
                r = rng.random()
                sig_ok = rng.random() >= 0.05
                if r < 0.05:
                    tx = BankTx.make(self._nonce, MINT, ADMIN, ADMIN, rng.randint(1, 1000), sig_ok)
                elif r < 0.10:
                    tx = BankTx.make(self._nonce, BURN, ADMIN, ADMIN, rng.randint(1, 1000), sig_ok)
                else:
                    src, dst = rng.sample(range(ACCOUNTS), 2)
                    tx = BankTx.make(
                        self._nonce, TRANSFER, src, dst, rng.randint(1, 60_000), sig_ok
                    )
                txs.append(tx)
            batch = BankBatch(tuple(txs))
            if all(t.sig_ok for t in txs):
                self.unconfirmed[batch.batch_hash] = (self.now, batch)
            self.history.append(batch)
            if len(self.history) > 200:
                del self.history[0]
        for node in self.nodes:
            if self.pre_gst and self.cfg.faults and rng.random() < self.drop_p:
                continue
            delay = 1 + int(rng.random() * (self.max_delay if self.pre_gst else 49))
            self._push(self.now + delay, _SUBMIT, node.inst, batch)
        gap = 1 + int(rng.expovariate(1.0 / self.cfg.client_interval_ms))
        self._push(self.now + gap, _CLIENT, -1, None)

    # --- byzantine behaviours ---------------------------------------------------------

    def _random_value(self) -> tuple[bytes, bytes]:
        if self.rng.random() < 0.5:
            return EMPTY
        return (self.rng.randbytes(32), self.rng.randbytes(32))

    def _byz_votes(self, node: _Node, to: str, msg: VotesMsg) -> VotesMsg:
        rng = self.rng
        own = [v for v in msg.votes if v.public_key == node.pk]
        if not own:
            return msg
        if node.behaviour == "badsig":
            out = []
            for v in msg.votes:
                if v.public_key == node.pk and rng.random() < 0.3:
                    sig = bytearray(v.signature)
                    sig[rng.randrange(len(sig))] ^= 1 << rng.randrange(8)
                    v = replace(v, signature=bytes(sig))
                    self._invalid(v)
                out.append(v)
            return VotesMsg(tuple(out))
        # equivocate: a conflicting vote for the same round to a couple of other peers
        if len(msg.votes) == 1 and rng.random() < 0.7:
            v = own[0]
            value = self._random_value()
            if value == v.value or v.phase == 2:
                value = (rng.randbytes(32), rng.randbytes(32))
            other = sign_vote(node.signer, v.round, value[0], value[1], b"", v.phase)
            for pk in rng.sample(self.validators, 2):
                if pk != node.pk and pk != to:
                    for dst in self.by_pk[pk]:
                        self._transmit(node.inst, dst.inst, node.pk, VotesMsg((other,)))
        return msg

    def _invalid(self, vote: Vote) -> None:
        if len(self.invalid_votes) >= 100_000:
            self.invalid_votes.clear()  # bound the memory of very long runs
        self.invalid_votes.add(vote)
        self.counters["invalid_votes_sent"] += 1

    def _forger(self, node: _Node) -> Callable[[Round], BankProposal | None]:
        def forge(round_: Round) -> BankProposal | None:
            rng = self.rng
            kind = rng.randrange(4)
            good = node.pipeline.cache.select(5) if node.pipeline else []
            if kind == 0:  # wrong height
                return BankProposal(round_.block_round + rng.randint(1, 5), self.now, tuple(good))
            if kind == 1:  # unsigned tx
                bad = BankTx.make(rng.getrandbits(60), TRANSFER, 1, 2, 1, False)
                return BankProposal(round_.block_round, self.now, (*good, BankBatch((bad,))))
            if kind == 2:  # overspending tx: valid proposal, the tx must be rejected
                over = BankTx.make(rng.getrandbits(60), TRANSFER, 3, 4, 10**9, True)
                return BankProposal(round_.block_round, self.now, (*good, BankBatch((over,))))
            if self.history:  # replay of an old, possibly committed batch
                old = rng.choice(self.history)
                return BankProposal(round_.block_round, self.now, (old,))
            return None

        return forge

    def _byz_tick(self) -> None:
        rng = self.rng
        beh = self.behaviour
        period = {"nonvalidator": 100, "forged_commit": 300, "flood": FLOOD_TICK_MS}.get(beh)
        if period is None:
            return
        targets = [x for x in self.nodes if x.honest and x.up and x.pipeline is not None]
        faulty = [x for x in self.nodes if not x.honest and x.up]
        if targets and (faulty or beh == "nonvalidator"):
            target = rng.choice(targets)
            assert target.pipeline is not None
            cur = target.pipeline.yac.round
            if beh == "nonvalidator":
                value = rng.choice([EMPTY, self._random_value()])
                mv = target.pipeline.yac.my_vote
                if mv is not None and rng.random() < 0.5:
                    value = mv.value
                vote = sign_vote(self.outsider, cur, value[0], value[1])
                self._invalid(vote)
                self._push(
                    self.now + 5,
                    _DELIVER,
                    target.inst,
                    (self.outsider.public_key, VotesMsg((vote,))),
                )
            elif beh == "flood":
                self._flood(targets, faulty)
            else:
                byz = rng.choice(faulty)
                cert = self._forged_cert(byz, cur)
                if cert:
                    for pk in self.validators:
                        for dst in self.by_pk[pk]:
                            if dst is not byz:
                                self._transmit(byz.inst, dst.inst, byz.pk, VotesMsg(cert))
        self._push(self.now + period, _BYZ, -1, None)

    def _flood(self, targets: list[_Node], faulty: list[_Node]) -> None:
        """One tick of stale and future-round votes, one message each, to random honest
        nodes. Votes are signed once and reused (a flooder replays what it signed), so a
        flood message costs one delivery, not one signature."""
        getrandbits = self.rng.getrandbits
        nt, nf, nv, nr = (
            len(targets),
            len(faulty),
            len(self._flood_values),
            len(FLOOD_REJECT_ROUNDS),
        )
        count = FLOOD_RATE * FLOOD_TICK_MS // 1000
        self.counters["flood_sent"] += count
        for _ in range(count):
            bits = getrandbits(64)  # one draw per message, sliced (the flood is hot)
            target = targets[(bits & 0xFFFF) % nt]
            assert target.pipeline is not None
            height = target.pipeline.yac.round.block_round
            byz = faulty[((bits >> 16) & 0xFF) % nf]
            which = ((bits >> 24) & 0xFF) % nv
            if bits >> 63:
                r = Round(max(1, height - 1 - ((bits >> 32) & 0xFF) % 3), ((bits >> 40) & 0xFF) % 6)
            else:
                rr = FLOOD_REJECT_ROUNDS[((bits >> 40) & 0xFF) % nr]
                r = Round(height + ((bits >> 32) & 0xFF) % 7, rr)
            key = (byz.inst, r, which)
            msg = self._flood_msgs.get(key)
            if msg is None:
                if len(self._flood_msgs) >= 4096:
                    self._flood_msgs.clear()
                value = self._flood_values[which]
                msg = VotesMsg((sign_vote(byz.signer, r, value[0], value[1]),))
                self._flood_msgs[key] = msg
            self._transmit(byz.inst, target.inst, byz.pk, msg, _FLOOD)

    def _forged_cert(self, byz: _Node, cur: Round) -> tuple[Vote, ...]:
        rng = self.rng
        fake = (rng.randbytes(32), rng.randbytes(32))
        kind = rng.randrange(3)
        if kind == 0:  # one signer's commit vote repeated q times
            v = sign_vote(byz.signer, cur, fake[0], fake[1], b"", 2)
            return (v,) * self.q
        seen = [v for v in byz.observed if v.round == cur]
        distinct: dict[str, Vote] = {}
        for v in seen:
            distinct.setdefault(v.public_key, v)
        votes = list(distinct.values())
        if kind == 1:  # genuine signatures, moved to another block hash
            moved = tuple(replace(v, proposal_hash=fake[0], block_hash=fake[1]) for v in votes)
            for v in moved:
                self._invalid(v)
            return moved
        # q - 1 genuine votes for one value, plus our own for it
        if votes:
            val = votes[0].value
            same = [v for v in votes if v.value == val][: self.q - 2]
            mine = sign_vote(byz.signer, cur, val[0], val[1], b"", 2)
            return (*same, mine)
        return ()

    # --- faults -----------------------------------------------------------------------

    def _crash(self) -> None:
        rng = self.rng
        down = sum(1 for x in self.nodes if not x.up or x.armed is not None)
        if down < self.f:
            node = rng.choice(self.nodes)
            if node.up and node.armed is None:
                if self.cfg.failpoint in (None, "mid_sync"):
                    # mid_sync: a plain crash makes a node that will download blocks
                    # when it is back; it is armed at its restart
                    self._crash_node(node)
                else:
                    node.armed = self.cfg.failpoint  # dies when it gets there
                    self.counters["armed"] += 1
        self._push(
            self.now + 1 + int(rng.expovariate(1.0 / self.cfg.crash_mean_gap_ms)), _CRASH, -1, None
        )

    def _crash_node(self, node: _Node) -> None:
        rng = self.rng
        node.up = False
        node.incarnation += 1
        node.pipeline = None
        # The node restarts from what its store kept: executed candidates,
        # pending batches and (power, torn) unsynced writes are gone.
        mode = rng.choice(self.cfg.crash_modes)
        height = node.ledger.height
        node.store = node.store.crash(mode, rng)
        node.ledger, problem = BankLedger.load(node.store, self.cfg.sync_blocks)
        self._hook(node)
        if problem is not None:
            self._violate("DURABLE", f"node {node.inst} after a {mode.value} crash: {problem}")
        if node.ledger.height < height:
            self._violate(
                "DURABLE",
                f"node {node.inst} committed height {height} -> {node.ledger.height} "
                f"after a {mode.value} crash",
            )
        self.counters["crashes"] += 1
        self.counters["crash_" + mode.value] += 1
        self._push(self.now + rng.randint(500, 5000), _RESTART, node.inst, None)

    def _hook(self, node: _Node) -> None:
        node.ledger.failpoint = lambda name: self._fail(node, name)

    def _fail(self, node: _Node, name: str) -> None:
        """Crash point ``name`` reached: an armed node dies here (row 11)."""
        if node.armed == name:
            node.armed = None
            self.counters["crash_at_" + name] += 1
            raise _CrashNow(name)

    def _restart(self, node: _Node) -> None:
        if node.up:
            return
        node.up = True
        self.counters["restarts"] += 1
        if self.cfg.failpoint == "mid_sync" and self.pre_gst:
            node.armed = "mid_sync"
            self.counters["armed"] += 1
        self._boot(node)

    def _partition_start(self) -> None:
        rng = self.rng
        k = len(self.nodes)
        if rng.random() < 0.5:
            isolated = rng.randrange(k)
            self.partition = [1 if i == isolated else 0 for i in range(k)]
        else:
            self.partition = [rng.randrange(2) for _ in range(k)]
        self.counters["partitions"] += 1
        self._push(self.now + 200 + int(rng.expovariate(1 / 5000)), _HEAL, -1, None)

    # --- main loop --------------------------------------------------------------------

    def _step(self) -> None:
        at, _, kind, inst, payload = heapq.heappop(self._heap)
        self.now = at
        self.events += 1
        if kind in (_FLOOD, _BYZ):
            self.counters["injected_events"] += 1
        else:
            self.steps += 1
        self._trace.update(struct.pack(">QiB", at, inst, kind))
        if kind in (_DELIVER, _FLOOD):
            node = self.nodes[inst]
            if not node.up or node.pipeline is None:
                return
            sender, msg = payload
            watch: list[tuple[str, Round]] = []
            if type(msg) is VotesMsg:
                if not node.honest:
                    node.observed.extend(msg.votes)
                    del node.observed[:-64]
                elif any(v.public_key in self._suspects for v in msg.votes):
                    watch = self._equivocations_due(node, msg)
            try:
                self._actions(node, node.pipeline.step(MessageReceived(sender, msg, at)))
            except _CrashNow:
                self._crash_node(node)
                return
            if watch or (type(msg) is VotesMsg and self.invalid_votes and node.honest):
                self._check_votes(node, msg, watch)
            self._check_bounds(node)
        elif kind == _TIMER:
            node = self.nodes[inst]
            inc, tkind, round_, attempt = payload
            if not node.up or node.pipeline is None or inc != node.incarnation:
                return
            try:
                self._actions(node, node.pipeline.step(TimerExpired(tkind, round_, attempt, at)))
            except _CrashNow:
                self._crash_node(node)
                return
            self._check_bounds(node)
        elif kind == _SUBMIT:
            node = self.nodes[inst]
            if node.up and node.pipeline is not None and all(t.sig_ok for t in payload.txs):
                self.counters["submit_" + node.pipeline.submit(payload).value] += 1
                try:
                    self._fail(node, "after_accept_before_reply")
                except _CrashNow:
                    self._crash_node(node)
        elif kind == _CLIENT:
            self._client()
        elif kind == _CRASH:
            if self.pre_gst:
                self._crash()
        elif kind == _RESTART:
            self._restart(self.nodes[inst])
        elif kind == _PARTITION:
            if self.cfg.twins:
                self.partition = list(payload)
            elif self.pre_gst:
                self._partition_start()
                gap = 1 + int(self.rng.expovariate(1 / 10_000))
                self._push(self.now + gap, _PARTITION, -1, None)
        elif kind == _HEAL:
            self.partition = None
        elif kind == _BYZ:
            self._byz_tick()
        elif kind == _LIVE:
            # Every valid tx sent at least 1 s before GST is final (committed, or
            # rejected by stateful validation) within the window (plan: by GST + 60 s).
            late = [
                b
                for t, b in self.unconfirmed.values()
                if t <= self.gst_ms - 1000 and not all(h in self.oracle_seen for h in b.tx_hashes)
            ]
            if late:
                self._violate("LIVE", f"{len(late)} valid batches sent before GST not final")
            for node in self.nodes:
                if node.honest and node.ledger.height < self._live_base[node.inst] + 3:
                    self._violate(
                        "LIVE",
                        f"node {node.inst} went {self._live_base[node.inst]} -> "
                        f"{node.ledger.height} in {self.cfg.live_window_ms} ms after GST",
                    )

    def _gst(self) -> None:
        self.pre_gst = False
        self.partition = None
        self.gst_ms = self.now
        for node in self.nodes:
            node.armed = None
            if not node.up:
                self._restart(node)
        for node in self.nodes:
            self._live_base[node.inst] = node.ledger.height
        self._push(self.now + self.cfg.live_window_ms, _LIVE, -1, None)
        # Clients resubmit what they have not seen committed (caches die with crashes).
        for key, (_, batch) in list(self.unconfirmed.items()):
            if all(h in self.oracle_seen for h in batch.tx_hashes):
                del self.unconfirmed[key]
                continue
            for node in self.nodes:
                self._push(self.now + 1 + self.rng.randrange(49), _SUBMIT, node.inst, batch)

    def run(self) -> SimResult:
        cfg = self.cfg
        for node in self.nodes:
            self._boot(node)
        self._push(1, _CLIENT, -1, None)
        if cfg.twins:
            for i, groups in enumerate(cfg.twin_schedule):
                self._push(i * cfg.twin_phase_ms, _PARTITION, -1, tuple(groups))
            end = len(cfg.twin_schedule) * cfg.twin_phase_ms
            self._push(end, _HEAL, -1, None)
            stop = end + cfg.twin_heal_ms
            while self._heap and self._heap[0][0] <= stop and not self.violations:
                self._step()
        else:
            if cfg.faults:
                self._push(self.rng.randint(1, 10_000), _PARTITION, -1, None)
                self._push(self.rng.randint(1, cfg.crash_mean_gap_ms), _CRASH, -1, None)
            if self.behaviour in ("nonvalidator", "forged_commit", "flood"):
                self._push(1, _BYZ, -1, None)
            while self._heap and self.steps < cfg.steps and not self.violations:
                self._step()
            self._gst()
            stop = self.now + cfg.live_window_ms
            while self._heap and self._heap[0][0] <= stop and not self.violations:
                self._step()
        if not self.violations:
            missing = self.acked - self.oracle_seen
            if missing:
                self._violate("ACKED", f"{len(missing)} committed txs not in the chain")
        heights = [x.ledger.height for x in self.nodes]
        faulty_indices = sorted({x.key_index for x in self.nodes if not x.honest})
        self._trace.update(repr(heights).encode())
        for x in self.nodes:
            self._trace.update(x.ledger.top_hash)
        for x in self.nodes:
            if x.pipeline is not None:
                self.counters.update({f"yac_{k}": v for k, v in x.pipeline.yac.counters.items()})
        return SimResult(
            self.seed,
            cfg,
            self.behaviour,
            self.real_crypto,
            self.violations,
            self.steps,
            self.now,
            self._trace.hexdigest(),
            heights,
            self.counters,
            tuple(faulty_indices),
            self.drop_p,
            self.dup_p,
            self.max_delay,
        )


def _persist_after_send(actions: Sequence[Any]) -> list[Any]:
    """Mutant order: each sign-state write moved after the next vote it precedes."""
    out: list[Any] = []
    held: list[Any] = []
    for a in actions:
        if type(a) in (PersistVote, PersistVotedProposal):
            held.append(a)
            continue
        out.append(a)
        if type(a) in (Send, Broadcast) and type(a.message) is VotesMsg:
            out.extend(held)
            held = []
    return out + held


def run_seed(seed: int, config: SimConfig) -> SimResult:
    return Simulation(seed, config).run()
