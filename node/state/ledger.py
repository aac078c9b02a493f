"""The ledger facade: execute proposals, commit blocks atomically, open and replay.

Thread model: one owner (the node's ledger task) calls ``execute``/``commit``/
``apply_block``; queries read on a storage snapshot, so they never see half a block.
Commit-certificate and block-signature checks are the caller's (consensus/sync) job:
the ledger stores the certificate as opaque bytes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence

from node.config import ChainParameters
from node.model import (
    GENESIS_PREV_HASH,
    Tx,
    block_hash,
    block_payload_bytes,
    sha3_256,
    signed_block_bytes,
)
from node.proto.iroha import block_pb2, primitive_pb2, qry_responses_pb2, queries_pb2
from node.state import keys as K
from node.state.commands import forget_masks
from node.state.execute import ExecutionResult, TxError, execute_txs
from node.state.queries import PendingSource, QueryExecutor
from node.state.records import TxRecord, committed_record
from node.state.settings import params_from_settings
from node.state.wsv import WorldStateView
from node.storage.cache import ReadCache
from node.storage.kv import KVReader, KVStore, WriteBatch


class LedgerError(Exception):
    """Base of the ledger's refusals; the message says what and why."""


class LedgerCorrupted(LedgerError):
    pass


class BlockRejected(LedgerError):
    pass


class GenesisError(LedgerError):
    pass


class StaleResult(LedgerError):
    pass


def _parse_top(raw: bytes | None) -> tuple[int, bytes]:
    if raw is None:
        return 0, GENESIS_PREV_HASH
    height, _, hash_hex = raw.decode().partition("#")
    return int(height), bytes.fromhex(hash_hex)


def _block_top(store: KVReader) -> int:
    for key, _ in store.iterate(K.BLOCK, reverse=True):
        return int(key[len(K.BLOCK) :])
    return 0


def state_digest(reader: KVReader) -> bytes:
    h = hashlib.sha3_256()
    for key, value in reader.iterate(K.STATE_PREFIX):
        h.update(struct.pack(">II", len(key), len(value)))
        h.update(key)
        h.update(value)
    return h.digest()


class Ledger:
    def __init__(self, store: KVStore) -> None:
        self.store = store
        # execution reads through this cache; _write_block keeps it exact (single writer)
        self._reader = ReadCache(store)
        self.height = 0
        self.top_hash = GENESIS_PREV_HASH
        self._version = 0
        self._perm_cache: dict[str, int] = {}
        self._params: ChainParameters | None = None
        self._peers: tuple[list[primitive_pb2.Peer], list[primitive_pb2.Peer]] | None = None
        self._legacy_tx_keys = K.legacy_layout(store)

    # --- lifecycle -------------------------------------------------------------------

    @classmethod
    def create(cls, store: KVStore, genesis: block_pb2.Block) -> Ledger:
        """Initialise an empty store from a genesis block (commands run unchecked)."""
        if store.get(K.TOP) is not None or _block_top(store):
            raise GenesisError("store already holds a ledger; open it instead")
        ledger = cls(store)
        payload = genesis.block_v1.payload
        if payload.height != 1:
            raise GenesisError(f"genesis block height must be 1, got {payload.height}")
        if payload.prev_block_hash.lower() != GENESIS_PREV_HASH.hex():
            raise GenesisError("genesis prev_block_hash must be 64 zeros")
        result = ledger._reexecute(genesis, checks=False)
        if result.rejected or result.dropped:
            if result.rejected:
                h, err = result.rejected[0]
                raise GenesisError(
                    f"genesis tx {h.hex()} failed: {err.cmd_name} #{err.cmd_index} code {err.code}"
                )
            raise GenesisError("genesis block repeats a transaction")
        ledger._write_block(
            1, block_hash(genesis.block_v1), genesis.SerializeToString(), b"", result, sync=True
        )
        return ledger

    @classmethod
    def open(cls, store: KVStore) -> Ledger:
        """Open an existing ledger; replay blocks if state is behind, refuse if ahead."""
        ledger = cls(store)
        state_height, state_hash = _parse_top(store.get(K.TOP))
        blocks = _block_top(store)
        if blocks == 0:
            raise LedgerError("empty ledger: create it from a genesis block first")
        if state_height > blocks:
            raise LedgerCorrupted(
                f"world state is at height {state_height} but the block store ends at {blocks}"
            )
        ledger.height, ledger.top_hash = state_height, state_hash
        if state_height:
            stored = ledger.get_block(state_height)
            if stored is None or block_hash(stored[0].block_v1) != state_hash:
                raise LedgerCorrupted(f"state marker does not match block {state_height}")
        for h in range(state_height + 1, blocks + 1):
            stored = ledger.get_block(h)
            if stored is None:
                raise LedgerCorrupted(f"block {h} missing from the block store")
            block, cert = stored
            result = ledger._reexecute(block, checks=h > 1)
            ledger._check_outcome(block, result)
            # the rejected txs' records too (their reasons are not in the block)
            result.rejected.extend(_rejected_of(block))
            ledger._write_block(h, block_hash(block.block_v1), None, cert, result, sync=h == blocks)
        return ledger

    @staticmethod
    def drop_state(store: KVStore) -> None:
        """Delete world state and indexes, keeping blocks and certificates (then ``open``)."""
        batch = WriteBatch()
        for prefix in (K.STATE_PREFIX, K.TX, K.HISTORY, K.ASSET_HISTORY, K.TOP):
            for key, _ in store.iterate(prefix):
                batch.delete(key)
        batch.put(K.FORMAT, K.FORMAT_CURRENT)  # the indexes are rebuilt in today's layout
        store.write(batch, sync=True)

    # --- reads -------------------------------------------------------------------------

    @property
    def params(self) -> ChainParameters:
        if self._params is None:
            self._params = params_from_settings(WorldStateView(self.store).settings())
        return self._params

    def _load_peers(self) -> tuple[list[primitive_pb2.Peer], list[primitive_pb2.Peer]]:
        if self._peers is None:
            out: list[list[primitive_pb2.Peer]] = [[], []]
            for i, prefix in enumerate((K.PEER, K.SYNC_PEER)):
                for _, value in self.store.iterate(prefix):
                    out[i].append(primitive_pb2.Peer.FromString(value))
            self._peers = (out[0], out[1])
        return self._peers

    def validators(self) -> list[primitive_pb2.Peer]:
        """Voting peers, ordered by public key (deterministic on every node)."""
        return list(self._load_peers()[0])

    def syncing_peers(self) -> list[primitive_pb2.Peer]:
        return list(self._load_peers()[1])

    def get_block(self, height: int) -> tuple[block_pb2.Block, bytes] | None:
        raw = self.store.get(K.height_key(K.BLOCK, height))
        if raw is None:
            return None
        cert = self.store.get(K.height_key(K.CERT, height)) or b""
        return block_pb2.Block.FromString(raw), cert

    def tx_status(self, tx_hash: bytes) -> TxRecord | None:
        raw = self.store.get(K.tx_key(tx_hash, self._legacy_tx_keys))
        return None if raw is None else TxRecord.decode(raw)

    def state_hash(self) -> bytes:
        snap = self.store.snapshot()
        try:
            return state_digest(snap)
        finally:
            snap.close()

    def query(
        self, query: queries_pb2.Query, pending: PendingSource | None = None
    ) -> qry_responses_pb2.QueryResponse:
        """Answer an Iroha query on a snapshot (never sees a half-applied block)."""
        snap = self.store.snapshot()
        try:
            return QueryExecutor(snap, pending).run(query)
        finally:
            snap.close()

    def view(self) -> WorldStateView:
        """A read view of the committed state (for tests and tools)."""
        return WorldStateView(self.store)

    # --- execution ---------------------------------------------------------------------

    def _known(self, tx_hash: bytes) -> bool:
        # Straight to the store, not through the read cache: every tx is looked up here
        # once, and caching those one-off keys (then their records, at commit) filled
        # the cache with ~200k useless entries (tens of MB per validator in a 5-minute
        # max-rate run, peak RSS 360 MB).
        # LevelDB's bloom filter answers the usual miss without touching a file.
        return self.store.get(K.tx_key(tx_hash, self._legacy_tx_keys)) is not None

    def _known_of(self, txs: Sequence[Tx]) -> set[bytes]:
        """The hashes of ``txs`` already in the ledger. Looked up in key order: LevelDB
        then finds each next key in blocks it just read (a miss costs about half as much
        at 500,000 transactions in the ledger, in a micro benchmark)."""
        return {h for h in sorted({t.hash for t in txs}) if self._known(h)}

    def _run(
        self, txs: Sequence[Tx], height: int, created_time: int, checks: bool
    ) -> ExecutionResult:
        wsv = WorldStateView(self._reader)
        known = self._known_of(txs).__contains__
        valid, touched, rejected, dropped, ctx = execute_txs(
            wsv, txs, self._perm_cache, known, checks
        )
        if ctx.roles_changed:
            ctx.forget_roles()  # those masks may come from this uncommitted state
        rejected_hashes = [h for h, _ in rejected]
        payload = block_payload_bytes(height, self.top_hash, created_time, valid, rejected_hashes)
        return ExecutionResult(
            height=height,
            prev_hash=self.top_hash,
            created_time=created_time,
            txs=valid,
            touched=touched,
            rejected=rejected,
            dropped=dropped,
            writes=wsv.writes,
            payload_bytes=payload,
            block_hash=sha3_256(payload),
            base_version=self._version,
            roles_changed=ctx.roles_changed,
            role_accounts=frozenset(ctx.role_accounts),
            all_roles=ctx.all_roles,
            settings_changed=ctx.settings_changed,
            peers_changed=ctx.peers_changed,
        )

    def execute(self, txs: Sequence[Tx], height: int, created_time: int) -> ExecutionResult:
        """Stateful validation of a proposal for ``height`` on a scratch view."""
        if height != self.height + 1:
            raise LedgerError(f"cannot execute height {height} on top of {self.height}")
        return self._run(txs, height, created_time, checks=True)

    def _reexecute(self, block: block_pb2.Block, checks: bool) -> ExecutionResult:
        p = block.block_v1.payload
        txs = [Tx(t) for t in p.transactions]
        return self._run(txs, p.height, p.created_time, checks)

    def _check_outcome(self, block: block_pb2.Block, result: ExecutionResult) -> None:
        p = block.block_v1.payload
        if result.rejected or result.dropped:
            bad = result.rejected[0][0] if result.rejected else result.dropped[0]
            raise BlockRejected(
                f"block {p.height}: transaction {bad.hex()} is not valid on this ledger"
            )
        if len(result.txs) != len(p.transactions):
            raise BlockRejected(f"block {p.height}: outcome differs from the block")

    # --- commit ------------------------------------------------------------------------

    def commit(
        self,
        result: ExecutionResult,
        signatures: Iterable[primitive_pb2.Signature],
        certificate: bytes,
    ) -> None:
        """Persist the executed block with its signatures and certificate (one synced batch)."""
        if result.base_version != self._version or result.prev_hash != self.top_hash:
            raise StaleResult(
                f"result for height {result.height} was computed on an older state "
                f"(ledger is at {self.height})"
            )
        # the block's bytes from the payload's, serialized once at execution (no copy of
        # its transactions into a signed message, no second serialization or hash)
        raw = signed_block_bytes(result.payload_bytes, signatures)
        self._write_block(result.height, result.block_hash, raw, certificate, result, sync=True)

    def apply_block(self, block: block_pb2.Block, certificate: bytes) -> None:
        """Apply a block received from a peer: re-execute and require the same outcome."""
        p = block.block_v1.payload
        if p.height != self.height + 1:
            raise BlockRejected(f"block height {p.height} does not follow {self.height}")
        if p.prev_block_hash.lower() != self.top_hash.hex():
            raise BlockRejected(f"block {p.height} does not link to our top block")
        result = self._reexecute(block, checks=True)
        self._check_outcome(block, result)
        result.rejected.extend(_rejected_of(block))
        self._write_block(
            p.height,
            block_hash(block.block_v1),
            block.SerializeToString(),
            certificate,
            result,
            sync=True,
        )

    def _write_block(
        self,
        height: int,
        new_hash: bytes,
        block_bytes: bytes | None,  # None: the block is stored already (replay)
        certificate: bytes,
        result: ExecutionResult,
        *,
        sync: bool,
    ) -> None:
        batch = WriteBatch()
        legacy = self._legacy_tx_keys
        if height == 1 and not legacy:
            batch.put(K.FORMAT, K.FORMAT_CURRENT)
        if block_bytes is not None:
            batch.put(K.height_key(K.BLOCK, height), block_bytes)
            batch.put(K.height_key(K.CERT, height), certificate)
        for key, value in result.writes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        # per transaction: its record, and its reference in the block's history entry of
        # its creator and of each (account, asset) it touches (the hot loop of a commit)
        put = batch.ops.append
        tx_key, pack_ref = K.tx_key, K.HISTORY_REF.pack
        created: dict[str, list[bytes]] = {}  # creator -> refs
        touching: dict[str, list[bytes]] = {}  # "account/asset" -> refs
        for index, (tx, touched) in enumerate(zip(result.txs, result.touched, strict=True)):
            rp = tx.reduced_payload
            put((tx_key(tx.hash, legacy), committed_record(height, index)))
            ref = pack_ref(index, rp.created_time)
            creator = rp.creator_account_id
            if creator:  # Iroha's genesis tx has no creator
                refs = created.get(creator)
                if refs is None:
                    created[creator] = [ref]
                else:
                    refs.append(ref)
            for account, asset in touched:
                pair = f"{account}/{asset}"
                refs = touching.get(pair)
                if refs is None:
                    touching[pair] = [ref]
                elif refs[-1] != ref:  # several commands may name the same pair
                    refs.append(ref)
        suffix = b"/%016d" % height  # read back by K.history_rows
        for table, owners in ((K.HISTORY, created), (K.ASSET_HISTORY, touching)):
            for owner, refs in owners.items():
                put((table + owner.encode() + suffix, b"".join(refs)))
        for index, (tx_hash, err) in enumerate(result.rejected):
            key = K.tx_key(tx_hash, legacy)
            if self.store.get(key) is None:  # never overwrite a known transaction's record
                error = None if err is _UNKNOWN else err
                batch.put(key, TxRecord(False, height, index, error).encode())
        batch.put(K.TOP, f"{height}#{new_hash.hex()}".encode())
        self.store.write(batch, sync=sync)
        self._reader.apply(batch.ops)
        self.height = height
        self.top_hash = new_hash
        self._version += 1
        if result.peers_changed:
            self._peers = None
        if result.settings_changed:
            self._params = None
        if result.roles_changed:  # masks cached since, from the state before this block
            forget_masks(self._perm_cache, result.all_roles, result.role_accounts)


_UNKNOWN = TxError("", 0, 0)  # reason of a rejected tx in a block from a peer: not known


def _rejected_of(block: block_pb2.Block) -> list[tuple[bytes, TxError]]:
    """The hashes a block lists as rejected, each with an unknown reason."""
    p = block.block_v1.payload
    out = []
    for raw in p.rejected_transactions_hashes:
        try:
            h = bytes.fromhex(raw)
        except ValueError:
            raise BlockRejected(f"block {p.height}: bad rejected hash {raw!r}") from None
        if len(h) != 32:
            raise BlockRejected(f"block {p.height}: bad rejected hash {raw!r}")
        out.append((h, _UNKNOWN))
    return out
