"""A read-through cache in front of a store, for a single writer that knows its writes.

The ledger executes every proposal against the committed state; most of what it reads
(asset precisions, account quorums, signatories, roles, balances of active accounts)
changes rarely or was just written. LevelDB answers such point reads from several
level-0 files, which profiling showed to be a large share of execution time. The
ledger is the only writer of world state, so it keeps this cache exact by passing every
committed write set to :meth:`ReadCache.apply` (values and deletions alike).
Missing keys are cached too. Bounded: the oldest entries are evicted first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from node.storage.kv import KVReader

_MISSING = object()


class ReadCache:
    def __init__(self, store: KVReader, max_entries: int = 200_000) -> None:
        self.store = store
        self.max_entries = max_entries
        self._d: OrderedDict[bytes, bytes | None] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> bytes | None:
        d = self._d
        v = d.get(key, _MISSING)
        if v is not _MISSING:
            self.hits += 1
            return v  # type: ignore[return-value]
        self.misses += 1
        value = self.store.get(key)
        d[key] = value
        if len(d) > self.max_entries:
            d.popitem(last=False)
        return value

    def iterate(
        self,
        prefix: bytes = b"",
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        return self.store.iterate(prefix, start, stop, reverse)

    def apply(self, writes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Record what was just written to the store (after the write succeeded)."""
        d = self._d
        for key, value in writes:
            if key in d:
                d[key] = value

    def clear(self) -> None:
        self._d.clear()
