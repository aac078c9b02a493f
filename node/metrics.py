"""The node's Prometheus metrics, one registry per node (tests run several in a process).

Every component receives the ``NodeMetrics`` of its node and updates it; the metrics
HTTP endpoint (node.api.http) renders it. Names follow Prometheus conventions with the
``bakong_`` prefix.
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class NodeMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        # What an operator's dashboards expect of any Python service: the process's CPU,
        # memory and open files (process_*), its collector's work (python_gc_*, tuned in
        # node.app) and the interpreter (python_info). Read-only views of this process.
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            r.register(collector)
        self.height = Gauge("bakong_block_height", "Committed height", registry=r)
        self.block_round = Gauge("bakong_round_block", "Current YAC block round", registry=r)
        self.reject_round = Gauge("bakong_round_reject", "Current YAC reject round", registry=r)
        self.reject_rounds = Counter(
            "bakong_reject_rounds", "Rounds that ended without a block", registry=r
        )
        self.blocks = Counter("bakong_blocks_committed", "Blocks committed", registry=r)
        self.txs_committed = Counter(
            "bakong_transactions_committed", "Transactions committed", registry=r
        )
        self.txs_rejected = Counter(
            "bakong_transactions_rejected", "Transactions rejected statefully", registry=r
        )
        self.votes_sent = Counter("bakong_votes_sent", "YAC vote messages sent", registry=r)
        self.votes_received = Counter(
            "bakong_votes_received", "YAC vote messages received", registry=r
        )
        self.votes_dropped = Counter(
            "bakong_votes_dropped",
            "Votes ignored (invalid, unknown voter, ...)",
            ["reason"],
            registry=r,
        )
        self.equivocations = Counter(
            "bakong_equivocations", "Conflicting votes detected from one key", registry=r
        )
        self.peers_connected = Gauge("bakong_peers_connected", "Connected validators", registry=r)
        self.peer_frames_dropped = Counter(
            "bakong_peer_frames_dropped", "Peer frames dropped", ["reason"], registry=r
        )
        self.pending_txs = Gauge(
            "bakong_pending_transactions", "Txs in the ordering cache", registry=r
        )
        self.mst_pending = Gauge(
            "bakong_mst_pending_batches", "Batches waiting for signatures", registry=r
        )
        self.torii_requests = Counter(
            "bakong_torii_requests", "Torii RPCs", ["method", "code"], registry=r
        )
        self.commit_latency = Histogram(
            "bakong_commit_latency_seconds",
            "From the previous commit (start of the height) to this block's commit",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0),
            registry=r,
        )
        self.sign_state_write = Histogram(
            "bakong_sign_state_write_seconds",
            "Synced write of the sign state (and voted proposals) before a vote leaves",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=r,
        )
        self.syncing = Gauge("bakong_syncing", "1 while catching up from peers", registry=r)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
