"""The node's Prometheus metrics, one registry per node (tests run several in a process).

Every component receives the ``NodeMetrics`` of its node and updates it; the metrics
HTTP endpoint (node.api.http) renders it. Names follow Prometheus conventions with the
``bakong_`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

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
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from node.storage.leveldb import LevelStats

MB = 1024 * 1024


class LevelDBCollector(Collector):
    """Each LevelDB's levels, read from LevelDB at scrape time: table files and bytes per
    level, and the compactions that wrote into each (time, bytes read and written). Level-0
    files piling up towards 8 (writes slowed) and 12 (writes stopped) mean compaction is
    falling behind the blocks; its seconds and bytes show what it costs."""

    def __init__(self) -> None:
        self._dbs: dict[str, Callable[[], Sequence[LevelStats]]] = {}

    def add(self, name: str, level_stats: Callable[[], Sequence[LevelStats]]) -> None:
        self._dbs[name] = level_stats

    def collect(self) -> Iterator[Metric]:
        labels = ["db", "level"]
        files = GaugeMetricFamily("bakong_leveldb_files", "Table files in the level", labels=labels)
        size = GaugeMetricFamily(
            "bakong_leveldb_bytes", "Size of the level (whole MB)", labels=labels
        )
        spent = CounterMetricFamily(
            "bakong_leveldb_compaction_seconds",
            "Time of the compactions that wrote into the level (level 0: flushes)",
            labels=labels,
        )
        read = CounterMetricFamily(
            "bakong_leveldb_compaction_read_bytes", "Bytes those compactions read", labels=labels
        )
        written = CounterMetricFamily(
            "bakong_leveldb_compaction_written_bytes",
            "Bytes those compactions wrote",
            labels=labels,
        )
        for name, level_stats in self._dbs.items():
            for st in level_stats():
                lv = [name, str(st.level)]
                files.add_metric(lv, st.files)
                size.add_metric(lv, st.size_mb * MB)
                spent.add_metric(lv, st.compaction_s)
                read.add_metric(lv, st.read_mb * MB)
                written.add_metric(lv, st.written_mb * MB)
        yield from (files, size, spent, read, written)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # unknown until a store is added: nothing to check names against


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
        self.leveldb = LevelDBCollector()
        r.register(self.leveldb)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
