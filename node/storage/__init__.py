"""Key-value storage for the ledger: one protocol, two implementations.

Owns: the ``KVStore`` protocol (point reads, ordered prefix/range iteration, consistent
snapshots, atomic write batches with a ``sync`` flag), the LevelDB implementation
(plyvel) and an in-memory implementation that can simulate process and power crashes.
Both pass the same conformance tests (tests/unit/storage).

Must not import: trio, sockets, node.state, node.model (storage knows bytes only).
"""

from node.storage.kv import KVReader, KVSnapshot, KVStore, WriteBatch
from node.storage.leveldb import LevelDBStore
from node.storage.memory import CrashMode, MemoryStore

__all__ = [
    "CrashMode",
    "KVReader",
    "KVSnapshot",
    "KVStore",
    "LevelDBStore",
    "MemoryStore",
    "WriteBatch",
]
