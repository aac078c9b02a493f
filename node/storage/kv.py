"""The KV protocol shared by LevelDB and the in-memory store.

Keys and values are bytes; iteration is in bytewise key order (LevelDB's default
comparator). A ``WriteBatch`` is applied atomically: after any crash either all of its
operations are visible or none. ``sync=True`` makes the batch (and every earlier one)
durable before ``write`` returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


def prefix_end(prefix: bytes) -> bytes | None:
    """Smallest key greater than every key starting with ``prefix`` (None = no bound)."""
    b = bytearray(prefix)
    while b and b[-1] == 0xFF:
        b.pop()
    if not b:
        return None
    b[-1] += 1
    return bytes(b)


class WriteBatch:
    """An ordered list of puts and deletes; later operations on a key win."""

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: list[tuple[bytes, bytes | None]] = []

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append((key, value))

    def delete(self, key: bytes) -> None:
        self.ops.append((key, None))

    def __len__(self) -> int:
        return len(self.ops)


class KVReader(Protocol):
    """Read access: the store itself (latest state) or a snapshot (frozen state)."""

    def get(self, key: bytes) -> bytes | None: ...

    def iterate(
        self,
        prefix: bytes = b"",
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs with key starting with ``prefix`` and ``start <= key < stop``, in key order."""
        ...


class KVSnapshot(KVReader, Protocol):
    def close(self) -> None: ...


class KVStore(KVReader, Protocol):
    def snapshot(self) -> KVSnapshot: ...

    def write(self, batch: WriteBatch, sync: bool = False) -> None: ...

    def close(self) -> None: ...
