"""The MST pool: batches waiting for more signatures (Iroha's multisignature transactions).

A batch is pending while some transaction has fewer distinct signatures than its
``quorum`` field. Co-signers resubmit the same payload with their signature; signatures
merge per transaction, keyed by lower-case public key (iroha1.md §4.5). Unlike Iroha the
pool is bounded (``max_batches``; beyond it ``add`` answers FULL) and durable: every change
is one synced write to the node's KV store under ``mst/``, so a restart keeps pending
batches (the ledger's keys never start with ``m`` followed by ``s``; see node.state.keys).

A pool entry is keyed by the concatenated transaction hashes of its batch (payload incl.
batch meta), so two batches with equal reduced payloads but different batch meta never
merge signatures that would not verify. Expiry is measured from the batch's oldest
``created_time``; the caller passes the time (``expire(now_ms, expiration_ms)``).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from node.config import MAX_QUORUM
from node.log import get_logger
from node.model import Batch, Tx, group_batches
from node.proto.iroha import endpoint_pb2, transaction_pb2
from node.storage.kv import KVStore, WriteBatch

_log = get_logger("torii.mst")
PREFIX = b"mst/"
_SEQ = struct.Struct(">Q")


class MstState(enum.Enum):
    PENDING = "pending"  # stored (new or merged), still lacks signatures
    COMPLETE = "complete"  # merged batch is fully signed: submit it, then ``remove`` it
    FULL = "full"  # the pool is at its bound: not stored


@dataclass(frozen=True)
class MstOutcome:
    state: MstState
    batch: Batch  # the merged batch (or the incoming one when FULL)
    added_signatures: int


@dataclass(frozen=True)
class _Entry:
    seq: int
    batch: Batch

    @property
    def oldest(self) -> int:
        return min(t.created_time for t in self.batch.txs)


def batch_key(batch: Batch) -> bytes:
    return b"".join(t.hash for t in batch.txs)


def _merge(old: Tx, new: Tx) -> tuple[Tx, int]:
    have = {s.public_key.lower() for s in old.pb.signatures}
    extra = []
    for s in new.pb.signatures:
        key = s.public_key.lower()
        if key not in have and len(have) < MAX_QUORUM:
            have.add(key)
            extra.append(s)
    if not extra:
        return old, 0
    pb = transaction_pb2.Transaction()
    pb.CopyFrom(old.pb)
    pb.signatures.extend(extra)
    return Tx(pb), len(extra)


class MstPool:
    def __init__(self, store: KVStore | None, *, max_batches: int) -> None:
        self.store = store
        self.max_batches = max_batches
        self._entries: dict[bytes, _Entry] = {}  # insertion order = seq order
        self._by_tx: dict[bytes, bytes] = {}  # tx hash -> batch key
        self._seq = 0
        if store is not None:
            self._load(store)

    def _load(self, store: KVStore) -> None:
        loaded: list[tuple[int, bytes, Batch]] = []
        for key, value in store.iterate(PREFIX):
            try:
                seq = _SEQ.unpack_from(value)[0]
                txl = endpoint_pb2.TxList.FromString(value[_SEQ.size :])
            except (struct.error, DecodeError):
                txl = endpoint_pb2.TxList()
            batches = group_batches([Tx(pb) for pb in txl.transactions])
            if len(batches) != 1 or batch_key(batches[0]) != key[len(PREFIX) :]:
                _log.warning("mst_entry_skipped", key=key[:40].hex())  # never guess
                continue
            loaded.append((seq, key[len(PREFIX) :], batches[0]))
        for seq, key, batch in sorted(loaded, key=lambda e: e[0]):
            self._index(key, _Entry(seq, batch))
            self._seq = max(self._seq, seq)

    # --- reading ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_tx

    def batch_of(self, tx_hash: bytes) -> Batch | None:
        key = self._by_tx.get(tx_hash)
        return None if key is None else self._entries[key].batch

    def batches(self) -> list[Batch]:
        return [e.batch for e in self._entries.values()]

    def batches_for(self, account_id: str) -> list[Batch]:
        """Pending batches in which at least one transaction was created by ``account_id``.

        Safe from a query's worker thread: ``list(dict.values())`` is one step under the
        GIL, and entries and batches are never mutated, only replaced.
        """
        entries = list(self._entries.values())
        return [e.batch for e in entries if any(t.creator == account_id for t in e.batch.txs)]

    # --- changes (each one synced to the store) ----------------------------------------

    def _index(self, key: bytes, entry: _Entry) -> None:
        self._entries[key] = entry
        for t in entry.batch.txs:
            self._by_tx[t.hash] = key

    def _persist(self, puts: Iterable[tuple[bytes, _Entry]], deletes: Iterable[bytes]) -> None:
        if self.store is None:
            return
        wb = WriteBatch()
        for key, entry in puts:
            txl = endpoint_pb2.TxList(transactions=[t.pb for t in entry.batch.txs])
            wb.put(PREFIX + key, _SEQ.pack(entry.seq) + txl.SerializeToString())
        for key in deletes:
            wb.delete(PREFIX + key)
        if len(wb):
            self.store.write(wb, sync=True)

    def add(self, batch: Batch) -> MstOutcome:
        """Store a not-fully-signed batch or merge its signatures into the pending copy."""
        key = batch_key(batch)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.max_batches:
                return MstOutcome(MstState.FULL, batch, 0)
            self._seq += 1
            entry = _Entry(self._seq, batch)
            added = sum(len(t.signed_by()) for t in batch.txs)
        else:
            merged = [_merge(o, n) for o, n in zip(entry.batch.txs, batch.txs, strict=True)]
            added = sum(n for _, n in merged)
            if added:
                entry = _Entry(entry.seq, Batch(tuple(t for t, _ in merged), entry.batch.type))
        if added or key not in self._entries:
            self._persist([(key, entry)], [])
            self._index(key, entry)
        state = MstState.COMPLETE if entry.batch.fully_signed() else MstState.PENDING
        return MstOutcome(state, entry.batch, added)

    def remove(self, batch: Batch) -> bool:
        return bool(self._remove_keys([batch_key(batch)]))

    def _remove_keys(self, keys: Iterable[bytes]) -> list[Batch]:
        gone = [k for k in dict.fromkeys(keys) if k in self._entries]
        if not gone:
            return []
        self._persist([], gone)
        out = []
        for k in gone:
            entry = self._entries.pop(k)
            for t in entry.batch.txs:
                self._by_tx.pop(t.hash, None)
            out.append(entry.batch)
        return out

    def drop_txs(self, tx_hashes: Iterable[bytes]) -> list[Batch]:
        """Forget batches holding any of these (committed or rejected) transactions."""
        return self._remove_keys(k for h in tx_hashes if (k := self._by_tx.get(h)) is not None)

    def expire(self, now_ms: int, expiration_ms: int) -> list[Batch]:
        """Remove and return batches whose oldest tx is ``expiration_ms`` old or older."""
        old = [k for k, e in self._entries.items() if e.oldest + expiration_ms <= now_ms]
        return self._remove_keys(old)
