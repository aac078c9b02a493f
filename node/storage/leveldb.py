"""LevelDB implementation of the KV protocol (plyvel)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import plyvel

from node.storage.kv import WriteBatch, prefix_end


def _bounds(prefix: bytes, start: bytes | None, stop: bytes | None) -> tuple[bytes, bytes | None]:
    lo = prefix if start is None or start < prefix else start
    hi = prefix_end(prefix) if prefix else None
    if stop is not None and (hi is None or stop < hi):
        hi = stop
    return lo, hi


def _iterate(
    src: Any, prefix: bytes, start: bytes | None, stop: bytes | None, reverse: bool
) -> Iterator[tuple[bytes, bytes]]:
    lo, hi = _bounds(prefix, start, stop)
    if hi is not None and hi <= lo:
        return iter(())
    it: Iterator[tuple[bytes, bytes]] = src.iterator(start=lo, stop=hi, reverse=reverse)
    return it


class LevelDBSnapshot:
    def __init__(self, snap: Any) -> None:
        self._snap = snap

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._snap.get(key)
        return value

    def iterate(
        self,
        prefix: bytes = b"",
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        return _iterate(self._snap, prefix, start, stop, reverse)

    def close(self) -> None:
        self._snap.close()


# LevelDB runs every compaction of a process on one background thread, started by the
# first write or open that needs one, and a Linux thread inherits its creator's nice value.
# Validators sharing a host apply the same blocks at the same pace, so their memtables
# fill in step and all of them flush and compact at once; at normal priority those
# compactions took both cores from consensus and rounds stalled for 2-5 s. Started from a
# helper thread this many steps nicer, the compaction thread gets idle time and a small
# share under load (a nice-10 thread weighs about a tenth of a nice-0 one) while the
# validator's own work goes first; LevelDB writes once per block, so even its write
# slowdown (1 ms per write at 8 level-0 files) costs nothing that matters.
COMPACTION_NICE_STEPS = 10

_background_lock = threading.Lock()
_background_nice: int | None = None  # the compaction thread's nice, once started here
_background_started = False


def _open_starting_compaction_thread(open_db: Callable[[], Any]) -> tuple[Any, int | None]:
    """Open the process's first LevelDB from a lowered helper thread, and make LevelDB
    start its compaction thread there (an empty-range compaction schedules background
    work), so that thread runs at the lowered priority for the life of the process."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            if sys.platform == "linux":  # elsewhere nice applies to the whole process
                tid = threading.get_native_id()
                target = min(19, os.getpriority(os.PRIO_PROCESS, tid) + COMPACTION_NICE_STEPS)
                try:
                    os.setpriority(os.PRIO_PROCESS, tid, target)
                    result["nice"] = target
                except OSError:
                    pass  # not permitted here: compactions run at the node's priority
            result["db"] = open_db()
            result["db"].compact_range(start=b"\x00", stop=b"\x00")
        except BaseException as e:  # re-raised in the caller, e.g. "lock" on a busy dir
            result["error"] = e

    helper = threading.Thread(target=run, name="leveldb-open")
    helper.start()
    helper.join()
    if "error" in result:
        if "db" in result:
            result["db"].close()
        raise result["error"]
    return result["db"], result.get("nice")


# LevelDB slows each write by 1 ms at this many level-0 files and stops writes until a
# compaction finishes at L0_STOP_FILES (its kL0_SlowdownWritesTrigger, kL0_StopWritesTrigger)
L0_SLOWDOWN_FILES = 8
L0_STOP_FILES = 12


class LevelStats(NamedTuple):
    """One level of a LevelDB, as its ``leveldb.stats`` property reports it: table files,
    size, and the compactions that wrote into the level (level 0: memtable flushes)."""

    level: int
    files: int
    size_mb: float
    compaction_s: float
    read_mb: float
    written_mb: float


def parse_level_stats(text: str) -> list[LevelStats]:
    """The rows of a ``leveldb.stats`` text (levels with files or compactions only;
    sizes in whole MB and times in whole seconds, as LevelDB prints them)."""
    out = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) != 6 or not cols[0].isdigit():
            continue  # the title, the header and the dashes
        try:
            out.append(
                LevelStats(
                    int(cols[0]),
                    int(cols[1]),
                    float(cols[2]),
                    float(cols[3]),
                    float(cols[4]),
                    float(cols[5]),
                )
            )
        except ValueError:
            continue
    return out


class LevelDBStore:
    """A LevelDB database directory; ``write`` maps onto one atomic LevelDB write batch.

    ``compaction_nice`` is the nice value of the process's LevelDB compaction thread when
    this process started it lowered (None: started at the node's priority). It holds when
    every LevelDB of the process is opened here, as in the node: a database opened with
    plyvel directly first would have started that thread at its own priority."""

    def __init__(
        self,
        path: str,
        create_if_missing: bool = True,
        *,
        cache_bytes: int = 64 * 1024 * 1024,
        write_buffer_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.path = path

        def open_db() -> Any:
            # bloom filters spare most point reads of absent keys a disk/table probe; a
            # larger block cache keeps the hot world state in memory. No compression: every
            # byte is rewritten by several compactions (the history indexes' keys spread over
            # all accounts), and Snappy on each rewrite made the compaction thread cost about
            # as much CPU as executing and committing the transactions; uncompressed, about a
            # third of that, for some 40 % more disk. A small store (a validator's sign
            # state) takes a small cache and write buffer: both are held per database.
            return plyvel.DB(
                path,
                create_if_missing=create_if_missing,
                bloom_filter_bits=10,
                lru_cache_size=cache_bytes,
                write_buffer_size=write_buffer_bytes,
                compression=None,
            )

        global _background_nice, _background_started
        with _background_lock:
            if _background_started:
                self._db = open_db()
            else:
                self._db, _background_nice = _open_starting_compaction_thread(open_db)
                _background_started = True
            self.compaction_nice = _background_nice

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def iterate(
        self,
        prefix: bytes = b"",
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        return _iterate(self._db, prefix, start, stop, reverse)

    def snapshot(self) -> LevelDBSnapshot:
        return LevelDBSnapshot(self._db.snapshot())

    def write(self, batch: WriteBatch, sync: bool = False) -> None:
        # transaction=False: plyvel's default batch already is one atomic LevelDB WriteBatch.
        with self._db.write_batch(sync=sync) as wb:
            for key, value in batch.ops:
                if value is None:
                    wb.delete(key)
                else:
                    wb.put(key, value)

    def level_stats(self) -> list[LevelStats]:
        """Files, size and compaction totals per level (for metrics and /status), level 0
        always first (LevelDB lists a level only once it has files or compactions); empty
        once closed."""
        if self._db.closed:
            return []
        raw: bytes | None = self._db.get_property(b"leveldb.stats")
        levels = parse_level_stats(raw.decode()) if raw else []
        if not levels or levels[0].level != 0:
            levels.insert(0, LevelStats(0, 0, 0.0, 0.0, 0.0, 0.0))
        return levels

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()
