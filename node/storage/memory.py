"""In-memory KV store that can simulate crashes (for the simulation and crash tests).

Crash modes (``MemoryStore.crash(mode, rng)`` returns the store as a restarted process
would find it):

* ``process`` -- the process died, the OS survived: every completed write is kept.
* ``power``   -- power loss: writes after the last ``sync=True`` write are dropped.
* ``torn``    -- power loss while the log tail was being flushed: like ``power`` but a
  random prefix (chosen by the given ``random.Random``) of the unsynced batches survives.
  Batches stay whole, as in LevelDB, whose log records are checksummed per write batch.
"""

from __future__ import annotations

import bisect
import enum
import random
from collections.abc import Iterator

from node.storage.kv import WriteBatch, prefix_end


class CrashMode(enum.Enum):
    PROCESS = "process"
    POWER = "power"
    TORN = "torn"


def _apply(
    data: dict[bytes, bytes], keys: list[bytes], ops: list[tuple[bytes, bytes | None]]
) -> None:
    for key, value in ops:
        if value is None:
            if key in data:
                del data[key]
                keys.pop(bisect.bisect_left(keys, key))
        else:
            if key not in data:
                bisect.insort(keys, key)
            data[key] = value


def _iterate(
    data: dict[bytes, bytes],
    keys: list[bytes],
    prefix: bytes,
    start: bytes | None,
    stop: bytes | None,
    reverse: bool,
) -> Iterator[tuple[bytes, bytes]]:
    lo = prefix if start is None or start < prefix else start
    hi = prefix_end(prefix) if prefix else None
    if stop is not None and (hi is None or stop < hi):
        hi = stop
    i = bisect.bisect_left(keys, lo)
    j = len(keys) if hi is None else bisect.bisect_left(keys, hi)
    # Copy the selected range so writes during iteration cannot disturb it.
    selected = [(k, data[k]) for k in keys[i:j]]
    if reverse:
        selected.reverse()
    return iter(selected)


class MemorySnapshot:
    def __init__(self, data: dict[bytes, bytes], keys: list[bytes]) -> None:
        self._data = data
        self._keys = keys

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def iterate(
        self,
        prefix: bytes = b"",
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        return _iterate(self._data, self._keys, prefix, start, stop, reverse)

    def close(self) -> None:
        pass


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []
        self._durable: dict[bytes, bytes] = {}  # state as of the last sync=True write
        self._unsynced: list[list[tuple[bytes, bytes | None]]] = []
        self.closed = False

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def iterate(
        self,
        prefix: bytes = b"",
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        return _iterate(self._data, self._keys, prefix, start, stop, reverse)

    def snapshot(self) -> MemorySnapshot:
        # Copy-on-snapshot keeps the code short; snapshots are for queries and tests.
        return MemorySnapshot(dict(self._data), list(self._keys))

    def write(self, batch: WriteBatch, sync: bool = False) -> None:
        if self.closed:
            raise RuntimeError("store is closed")
        ops = list(batch.ops)
        _apply(self._data, self._keys, ops)
        self._unsynced.append(ops)
        if sync:
            # A synced write makes every earlier write durable too (one log, in order).
            for pending in self._unsynced:
                for key, value in pending:
                    if value is None:
                        self._durable.pop(key, None)
                    else:
                        self._durable[key] = value
            self._unsynced.clear()

    def close(self) -> None:
        self.closed = True

    def crash(self, mode: CrashMode, rng: random.Random | None = None) -> MemoryStore:
        """The store a restarted process sees after a crash of the given kind."""
        self.closed = True
        new = MemoryStore()
        if mode is CrashMode.PROCESS:
            survivors = self._unsynced
        elif mode is CrashMode.POWER:
            survivors = []
        else:
            if rng is None:
                raise ValueError("torn crash needs a random.Random")
            survivors = self._unsynced[: rng.randint(0, len(self._unsynced))]
        data = dict(self._durable)
        keys = sorted(data)
        for ops in survivors:
            _apply(data, keys, ops)
        new._data = data
        new._keys = keys
        new._durable = dict(data)
        return new
