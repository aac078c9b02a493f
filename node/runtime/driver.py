"""The consensus driver: the one trio task that owns a validator's pipeline.

It feeds the pure :class:`node.consensus.pipeline.Pipeline` with events (peer frames,
fired timers, local submissions) and executes the actions it returns **in order**:
``PersistVote`` is a synced LevelDB write before the ``Send`` that follows it; a
``Committed`` block is durable before Torii may say COMMITTED. Timers live in one heap
(no task per timer). Batches accepted by Torii are gossiped to the other validators in
coalesced frames; batches gossiped by peers are checked statelessly (by a task of their
own, in slices) before they enter the ordering cache.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import trio

from node.config import Limits
from node.consensus.pipeline import (
    MAX_VOTED_PROPOSALS,
    BatchesMsg,
    Broadcast,
    Committed,
    MessageReceived,
    PersistVotedProposal,
    Pipeline,
    Send,
    SetTimer,
    TimerExpired,
    VotesMsg,
)
from node.consensus.yac import PersistVote, ReportEquivocation, SignState
from node.log import get_logger
from node.metrics import NodeMetrics
from node.model import Batch, Round
from node.net import PeerNetwork
from node.ordering import AddResult
from node.proto.iroha import proposal_pb2
from node.proto.peer import peer_pb2
from node.runtime import codec
from node.runtime.admission import AdmissionGate, CommitRate, Reservation
from node.runtime.chain import ChainAdapter
from node.runtime.clock import wall_ms as now_ms
from node.state import ExecutionResult
from node.storage.kv import KVStore, WriteBatch
from node.sync import signstate
from node.validation import StatelessValidator, batch_slices

log = get_logger("consensus")

GOSSIP_INTERVAL_S = 0.005
EVENT_QUEUE = 4096
GOSSIP_CHECK_QUEUE = 1024  # gossiped frames waiting for their signature check
# Pipeline steps that may execute, commit or apply at most this many transactions run
# on the event loop (a few ms); bigger ones on a worker thread. Most steps are a vote or
# two: handing those to a thread cost ~0.3 ms of CPU each on a 2-core VM, which made an
# idle-ish validator (blocks of a few txs, ~45 rounds/s) burn 40 % of a core.
INLINE_STEP_TXS = 32


def load_sign_state(store: KVStore) -> tuple[SignState | None, list[proposal_pb2.Proposal]]:
    """What this validator signed before a restart, and the proposals it voted for."""
    state, raw = signstate.load_sign_state(store)
    return state, [proposal_pb2.Proposal.FromString(b) for b in raw]


@dataclass
class Hooks:
    """What the rest of the node learns from consensus."""

    committed: Callable[[Committed], None]
    round_changed: Callable[[Round], None]
    executed: Callable[[ExecutionResult], None]  # this node executed a proposal


class ConsensusDriver:
    def __init__(
        self,
        pipeline: Pipeline[Any, Any, Any],
        adapter: ChainAdapter,
        net: PeerNetwork,
        store: KVStore,
        limits: Limits,
        metrics: NodeMetrics,
        hooks: Hooks,
    ) -> None:
        self.pipeline = pipeline
        self.adapter = adapter
        self.net = net
        self.store = store  # the sign state's (node.sync.signstate), not the ledger's
        self._voted = signstate.VotedProposals(store)
        self.limits = limits
        self.metrics = metrics
        self.hooks = hooks
        self.me = pipeline.me
        self._timers: list[tuple[float, int, SetTimer]] = []
        self._seq = 0
        self._events_send, self._events = trio.open_memory_channel[tuple[str, Any]](EVENT_QUEUE)
        self._gossip: list[Batch] = []
        self._gossip_wake = trio.Event()
        self.dropped: dict[str, int] = {}
        self.last_round = Round(0, 0)
        self._queued_txs = 0  # handed over by Torii, not yet in the cache
        self._gossip_unchecked = 0  # gossiped txs waiting for their signature check
        self._gossip_checked = 0  # ... checked, waiting for the main loop to cache them
        self._incoming: list[Batch] = []  # those batches, for the main loop
        self._incoming_signalled = False  # a "submit" event is queued for them
        self.max_pending_txs = limits.ordering.max_pending_txs
        self.admission_limits = admission = limits.admission
        self.admission = AdmissionGate(
            soft=self._backlog_bound,
            hard=lambda: self.max_pending_txs,
            pending=self._backlog,
            sink=self._enqueue,
        )
        # the soft bound follows the commit rate: every commit is counted on its way out
        self.commit_rate = CommitRate(admission.rate_window_s)
        self._hook_committed = hooks.committed
        self.hooks = replace(hooks, committed=self._count_commit)
        self._loopback: list[Any] = []  # messages the pipeline sends to itself
        self._checks_send, self._checks = trio.open_memory_channel[tuple[str, BatchesMsg[Batch]]](
            GOSSIP_CHECK_QUEUE
        )

    # --- inputs ----------------------------------------------------------------------

    def reserve(self, n_txs: int) -> Reservation | None:
        """From Torii, before it checks anything: room for ``n_txs`` in ordering (see
        :mod:`node.runtime.admission`), or None (busy) when the backlog is full."""
        return self.admission.reserve(n_txs)

    def submit(self, batch: Batch) -> bool:
        """One statelessly valid batch, reserved and submitted at once; False (busy)
        when there is no room."""
        reservation = self.reserve(len(batch.txs))
        if reservation is None:
            return False
        return reservation.submit(batch)

    def _backlog(self) -> int:
        """Txs this validator will hold pending: in the cache, queued by Torii, and
        gossiped by peers but not cached yet (counting these keeps every validator's
        Torii from admitting, under a flood, as if the others' work were not coming)."""
        cached = self.pipeline.cache.tx_count + self._queued_txs
        return cached + self._gossip_unchecked + self._gossip_checked

    def _backlog_bound(self) -> int:
        rate = self.commit_rate.per_second(trio.current_time())
        return self.admission_limits.bound(rate, self.adapter.ledger.params.max_proposal_size)

    def _count_commit(self, c: Committed) -> None:
        self.commit_rate.add(trio.current_time(), len(c.tx_hashes) + len(c.rejected))
        self._hook_committed(c)

    def _enqueue(self, batch: Batch) -> None:
        """A reserved batch goes to the driver, which owns the pipeline. It is never
        refused: the room it takes was promised to it (gossip leaves it alone)."""
        self._queued_txs += len(batch.txs)
        self._incoming.append(batch)
        self.adapter.verified.remember([batch])  # Torii verified its signatures
        if not self._incoming_signalled:
            try:
                self._events_send.send_nowait(("submit", None))
                self._incoming_signalled = True
            except trio.WouldBlock:
                pass  # the queue is full: the main loop is busy and drains _incoming anyway

    def _accept_submissions(self) -> None:
        self._incoming_signalled = False
        incoming, self._incoming = self._incoming, []
        for batch in incoming:
            self._queued_txs -= len(batch.txs)
            if self.pipeline.submit(batch) is AddResult.ACCEPTED:
                self._gossip.append(batch)
        if self._gossip:
            self._gossip_wake.set()

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        self.metrics.peer_frames_dropped.labels(reason).inc()

    # --- tasks -----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pump_inbound)
            nursery.start_soon(self._gossip_loop)
            nursery.start_soon(self._check_gossiped)
            await self._execute(await trio.to_thread.run_sync(self.pipeline.start, now_ms()))
            task_status.started()
            await self._main_loop()

    async def _pump_inbound(self) -> None:
        async for peer, frame in self.net.inbound:
            kind = frame.WhichOneof("kind")
            if kind == "status":
                continue
            msg, why = codec.decode(frame)
            if msg is None:
                self._drop(why)
                log.debug("frame_dropped", peer=peer[:16], reason=why)
                continue
            if isinstance(msg, BatchesMsg):
                # checked beside this pump: votes and proposals never wait behind it
                self._gossip_unchecked += sum(len(b.txs) for b in msg.batches)
                await self._checks_send.send((peer, msg))
                continue
            if isinstance(msg, VotesMsg):
                self.metrics.votes_received.inc()
            await self._events_send.send(("msg", (peer, msg)))

    def _gossip_room(self) -> int:
        """Room in the ordering cache for gossiped batches. Room promised to Torii
        (queued submissions and reservations) is theirs: gossip that took it would make
        a submission Torii already answered OK for fail. Gossip is best effort: its
        origin keeps the batch and proposes it."""
        used = self.pipeline.cache.tx_count + self._queued_txs + self.admission.reserved
        return self.max_pending_txs - used

    async def _check_gossiped(self) -> None:
        """Stateless checks of gossiped batches, all frames queued meanwhile at once, in
        slices with a checkpoint between (see ``CHECK_SLICE_TXS``); the valid ones go
        straight into the ordering cache.
        Batches already pending, or that cannot enter because the cache is full, are
        dropped before their signatures are checked: under a flood those checks would
        otherwise take the CPU consensus needs."""
        while True:
            items = [await self._checks.receive()]
            while len(items) < 64:
                try:
                    items.append(self._checks.receive_nowait())
                except trio.WouldBlock:
                    break
            verified = self.adapter.verified
            cache = self.pipeline.cache  # read only here (membership, count)
            # batches checked earlier, still on their way to the cache, take room too
            room = self._gossip_room() - self._gossip_checked
            wanted: list[tuple[str, Batch]] = []
            seen: set[bytes] = set()
            for peer, msg in items:
                for b in msg.batches:
                    key = b.batch_hash
                    if key in seen or key in cache:
                        continue  # another peer's copy, or already pending
                    seen.add(key)
                    if len(b.txs) > room:
                        self._drop("gossip_cache_full")
                        continue
                    room -= len(b.txs)
                    wanted.append((peer, b))
            fresh = [(peer, b) for peer, b in wanted if not verified.knows(b)]
            bad: set[int] = set()
            if fresh:
                v = StatelessValidator(self.adapter.ledger.params, self.limits.validation)
                now = now_ms()
                reasons: list[str | None] = []
                for i, part in enumerate(batch_slices([b for _, b in fresh])):
                    if i:
                        await trio.lowlevel.checkpoint()  # votes and Torii go between
                    reasons += v.check_batches(part, now)
                for (peer, b), r in zip(fresh, reasons, strict=True):
                    if r is not None:
                        bad.add(id(b))
                        self._drop("invalid_gossiped_batch")
                        log.info("gossip_invalid", peer=peer[:16], batches=1)
                verified.remember([b for _, b in fresh if id(b) not in bad])
            good = [b for _, b in wanted if id(b) not in bad]
            # what goes no further leaves the backlog now, the rest once in the cache
            self._gossip_unchecked -= sum(len(b.txs) for _, m in items for b in m.batches)
            self._gossip_checked += sum(len(b.txs) for b in good)
            if good:
                await self._events_send.send(("batches", good))

    async def _gossip_loop(self) -> None:
        max_frame = self.limits.peers.max_frame_bytes // 2
        while True:
            await self._gossip_wake.wait()
            self._gossip_wake = trio.Event()
            await trio.sleep(GOSSIP_INTERVAL_S)  # coalesce what arrives meanwhile
            pending, self._gossip = self._gossip, []
            chunk: list[Batch] = []
            size = 0
            for b in pending:
                n = sum(t.size for t in b.txs)
                if chunk and size + n > max_frame:
                    self.net.broadcast(codec.encode(BatchesMsg(tuple(chunk)), max_frame))
                    chunk, size = [], 0
                chunk.append(b)
                size += n
            if chunk:
                self.net.broadcast(codec.encode(BatchesMsg(tuple(chunk)), max_frame))

    async def _step(self, event: Any) -> None:
        """One pipeline step. A step that may execute or apply many transactions runs on
        a worker thread: that takes tens of milliseconds, during which Torii, gossip and
        the network must keep running. The others (votes, timers, small blocks) run here.
        Steps never overlap (this task awaits each), so the pipeline keeps one owner."""
        pipe = self.pipeline
        pipe.unreachable = frozenset(pipe.validators) - self.net.connected() - {self.me}
        inline = pipe.step_work(event) <= INLINE_STEP_TXS
        if inline:
            actions = pipe.step(event)
        else:
            actions = await trio.to_thread.run_sync(pipe.step, event)
        for result in self.adapter.drain_executed():
            self.hooks.executed(result)
        await self._execute(actions, inline)
        while self._loopback:
            msg = self._loopback.pop(0)
            await self._step(MessageReceived(self.me, msg, now_ms()))

    async def _main_loop(self) -> None:
        while True:
            deadline = self._timers[0][0] if self._timers else float("inf")
            item: tuple[str, Any] | None = None
            with trio.move_on_at(deadline):
                item = await self._events.receive()
            if item is not None:
                # Everything already queued goes before the timers that expired meanwhile:
                # a busy node must not vote for nothing on a proposal timeout while the
                # proposal sits in its queue. Only what is queued now, so a steady flood
                # cannot hold the timers back for more than one queue's worth.
                items = [item]
                for _ in range(self._events.statistics().current_buffer_used):
                    try:
                        items.append(self._events.receive_nowait())
                    except trio.WouldBlock:
                        break
                for kind, payload in items:
                    await self._handle(kind, payload)
            now = trio.current_time()
            while self._timers and self._timers[0][0] <= now:
                _, _, t = heapq.heappop(self._timers)
                await self._step(TimerExpired(t.kind, t.round, t.attempt, now_ms()))
            if self._incoming:  # its "submit" event could not be queued (queue full)
                self._accept_submissions()
            self.metrics.pending_txs.set(self.pipeline.cache.tx_count)
            self._report_round()

    async def _handle(self, kind: str, payload: Any) -> None:
        if kind == "submit":
            self._accept_submissions()
        elif kind == "batches":
            for b in payload:  # what Pipeline.step does with a BatchesMsg
                self._gossip_checked -= len(b.txs)
                if self._gossip_room() >= len(b.txs):
                    self.pipeline.cache.add(b)
                else:
                    self._drop("gossip_cache_full")
        else:
            peer, msg = payload
            await self._step(MessageReceived(peer, msg, now_ms()))

    # --- actions ---------------------------------------------------------------------

    async def _persist(self, pending: list[Any], inline: bool) -> None:
        """Sign state and voted proposals of one step: one synced write, finished before
        any action after them (a vote) leaves the process. Off the loop when the step
        was (a voted proposal may be large); a small write is cheaper than a hand-off."""

        def write() -> None:
            # one fsync for the step's sign state and proposals
            batch = WriteBatch()
            for a in pending:
                if isinstance(a, PersistVote):
                    signstate.save_sign_state(self.store, a, batch)
                else:
                    raw = self.adapter.proposal_bytes(a.proposal)
                    self._voted.save(a.height, raw, MAX_VOTED_PROPOSALS, batch)
            started = time.perf_counter()
            self.store.write(batch, sync=True)
            # the vote waits for it: a slow disk, or a LevelDB flush held up, shows here
            self.metrics.sign_state_write.observe(time.perf_counter() - started)

        if inline:
            write()
        else:
            await trio.to_thread.run_sync(write)
        pending.clear()

    async def _execute(self, actions: list[Any], inline: bool = False) -> None:
        pending: list[Any] = []
        for a in actions:
            if isinstance(a, PersistVote | PersistVotedProposal):
                pending.append(a)
                continue
            if pending:
                await self._persist(pending, inline)
            if isinstance(a, Send):
                if a.to == self.me:
                    self._loopback.append(a.message)
                elif not self.net.send(
                    a.to, codec.encode(a.message, self.limits.peers.max_frame_bytes)
                ):
                    self._drop("send_queue_full")
                if type(a.message).__name__ == "VotesMsg":
                    self.metrics.votes_sent.inc()
            elif isinstance(a, Broadcast):
                self.net.broadcast(codec.encode(a.message, self.limits.peers.max_frame_bytes))
                if type(a.message).__name__ == "VotesMsg":
                    self.metrics.votes_sent.inc()
            elif isinstance(a, SetTimer):
                self._seq += 1
                deadline = trio.current_time() + a.delay_ms / 1000
                heapq.heappush(self._timers, (deadline, self._seq, a))
            elif isinstance(a, Committed):
                self.hooks.committed(a)
                self.metrics.pending_txs.set(self.pipeline.cache.tx_count)
            elif isinstance(a, ReportEquivocation):
                self.metrics.equivocations.inc()
                log.warning("equivocation", key=a.public_key[:16], round=str(a.round))
        if pending:
            await self._persist(pending, inline)

    def _report_round(self) -> None:
        r = self.pipeline.yac.round
        if r != self.last_round:
            if (
                r.block_round == self.last_round.block_round
                and r.reject_round > self.last_round.reject_round
            ):
                self.metrics.reject_rounds.inc()
            self.last_round = r
            self.metrics.block_round.set(r.block_round)
            self.metrics.reject_round.set(r.reject_round)
            self.hooks.round_changed(r)


def status_frame(height: int, round_: Round) -> peer_pb2.Frame:
    f = peer_pb2.Frame()
    f.status.top_height = height
    f.status.round.block_round = round_.block_round
    f.status.round.reject_round = round_.reject_round
    return f
