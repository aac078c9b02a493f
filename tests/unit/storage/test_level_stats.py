"""LevelDB's per-level figures (files, size, compactions), read from a real database, and
their rendering on /metrics."""

from __future__ import annotations

import os
import re
from pathlib import Path

from node.metrics import NodeMetrics
from node.storage import LevelDBStore, WriteBatch
from node.storage.leveldb import LevelStats, parse_level_stats

STATS = """                               Compactions
Level  Files Size(MB) Time(sec) Read(MB) Write(MB)
--------------------------------------------------
  0        3       48         1        0        48
  2       12       25        14      120       118
"""


def test_parse_level_stats_reads_each_level_row() -> None:
    assert parse_level_stats(STATS) == [
        LevelStats(0, 3, 48.0, 1.0, 0.0, 48.0),
        LevelStats(2, 12, 25.0, 14.0, 120.0, 118.0),
    ]
    assert parse_level_stats("") == []
    assert parse_level_stats("  1  x 2 3 4 5\n  7 1 2 3 4\n") == []  # junk rows skipped


def _fill(store: LevelDBStore, batches: int) -> None:
    rnd = os.urandom
    for _ in range(batches):
        b = WriteBatch()
        for _ in range(256):
            b.put(rnd(16), rnd(1024))
        store.write(b)


def test_level_stats_of_a_real_store_count_its_flushes(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"), write_buffer_bytes=256 * 1024)
    try:
        # nothing flushed yet: level 0 is listed all the same, empty
        assert store.level_stats() == [LevelStats(0, 0, 0.0, 0.0, 0.0, 0.0)]
        _fill(store, 16)  # 4 MiB through a 256 KiB write buffer: table files
        store._db.compact_range()  # settles every flush and compaction it needs
        levels = store.level_stats()
        assert levels and sum(st.files for st in levels) > 0
        assert sum(st.written_mb for st in levels) >= 4
    finally:
        store.close()
    assert store.level_stats() == []


def test_metrics_show_each_store_level(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"), write_buffer_bytes=256 * 1024)
    try:
        _fill(store, 16)
        store._db.compact_range()
        m = NodeMetrics()
        m.leveldb.add("ledger", store.level_stats)
        text = m.render().decode()
    finally:
        store.close()
    files = re.findall(r'^bakong_leveldb_files\{db="ledger",level="(\d)"\} (\S+)$', text, re.M)
    assert files and sum(float(n) for _, n in files) > 0
    written = re.findall(
        r'^bakong_leveldb_compaction_written_bytes_total\{db="ledger",level="\d"\} (\S+)$',
        text,
        re.M,
    )
    assert sum(float(n) for n in written) >= 4 * 1024 * 1024
    assert "# TYPE bakong_leveldb_compaction_seconds_total counter" in text
