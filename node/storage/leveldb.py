"""LevelDB implementation of the KV protocol (plyvel)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


class LevelDBStore:
    """A LevelDB database directory; ``write`` maps onto one atomic LevelDB write batch."""

    def __init__(self, path: str, create_if_missing: bool = True) -> None:
        self.path = path
        # bloom filters spare most point reads of absent keys a disk/table probe; a
        # larger block cache keeps the hot world state in memory. No compression: every
        # byte is rewritten by several compactions (the history indexes' keys spread over
        # all accounts), and Snappy on each rewrite made the compaction thread cost about
        # as much CPU as executing and committing the transactions; uncompressed, about a
        # third of that, for some 40 % more disk.
        self._db = plyvel.DB(
            path,
            create_if_missing=create_if_missing,
            bloom_filter_bits=10,
            lru_cache_size=64 * 1024 * 1024,
            write_buffer_size=16 * 1024 * 1024,
            compression=None,
        )

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

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()
