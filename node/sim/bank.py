"""A deterministic in-memory bank: the simulator's stand-in for the Ledger.

Implements :class:`node.consensus.pipeline.Ledger` over light value types (no protobuf,
SHA-256 instead of SHA3) so a simulated step costs microseconds. 20 accounts, one asset,
transfers that overdraft and fail statefully, mint and burn by an admin account, so the
invariants SUPPLY (conservation) and NODUP (no replay, no negative balance) mean
something. Replace by the real Ledger behind the same protocol when it lands.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from node.consensus.pipeline import BlockCandidate
from node.consensus.vote import Vote
from node.storage.kv import KVStore, WriteBatch
from node.sync.certificate import decode_certificate, encode_certificate

ACCOUNTS = 20
ADMIN = 0
OPENING_BALANCE = 50_000
GENESIS_SUPPLY = ACCOUNTS * OPENING_BALANCE
GENESIS_HASH = hashlib.sha256(b"bakong-sim-genesis").digest()

TRANSFER, MINT, BURN = 0, 1, 2


@dataclass(frozen=True, slots=True)
class BankTx:
    tx_hash: bytes
    kind: int
    src: int
    dst: int
    amount: int
    sig_ok: bool  # stands for "signatures verify" (stateless validity)

    @staticmethod
    def make(nonce: int, kind: int, src: int, dst: int, amount: int, sig_ok: bool) -> BankTx:
        raw = struct.pack(">QBBBQ?", nonce, kind, src, dst, amount, sig_ok)
        return BankTx(hashlib.sha256(raw).digest(), kind, src, dst, amount, sig_ok)


@dataclass(frozen=True, slots=True)
class BankBatch:
    txs: tuple[BankTx, ...]
    batch_hash: bytes = field(init=False)
    tx_hashes: tuple[bytes, ...] = field(init=False)

    def __post_init__(self) -> None:
        hashes = tuple(t.tx_hash for t in self.txs)
        object.__setattr__(self, "tx_hashes", hashes)
        object.__setattr__(self, "batch_hash", hashlib.sha256(b"".join(hashes)).digest())


@dataclass(frozen=True, slots=True)
class BankProposal:
    height: int
    created_time: int
    batches: tuple[BankBatch, ...]
    phash: bytes = field(init=False)

    def __post_init__(self) -> None:
        head = struct.pack(">QQ", self.height, self.created_time)
        body = b"".join(b.batch_hash for b in self.batches)
        object.__setattr__(self, "phash", hashlib.sha256(b"P" + head + body).digest())


@dataclass(frozen=True, slots=True)
class BankBlock:
    height: int
    prev_hash: bytes
    created_time: int
    txs: tuple[BankTx, ...]
    rejected: tuple[bytes, ...]
    bhash: bytes = field(init=False)

    def __post_init__(self) -> None:
        head = struct.pack(">QQ", self.height, self.created_time) + self.prev_hash
        body = b"".join(t.tx_hash for t in self.txs) + b"|" + b"".join(self.rejected)
        object.__setattr__(self, "bhash", hashlib.sha256(b"B" + head + body).digest())


# --- storage form (what a simulated node writes to its MemoryStore) ----------------------

_TX = struct.Struct(">32sBBBQ?")
_COUNT = struct.Struct(">I")
_HEAD = struct.Struct(">QQ")


def _encode_txs(txs: Sequence[BankTx]) -> bytes:
    parts = [_COUNT.pack(len(txs))]
    parts += [_TX.pack(t.tx_hash, t.kind, t.src, t.dst, t.amount, t.sig_ok) for t in txs]
    return b"".join(parts)


def _decode_txs(raw: bytes, i: int) -> tuple[tuple[BankTx, ...], int]:
    (count,) = _COUNT.unpack_from(raw, i)
    i += _COUNT.size
    txs = []
    for _ in range(count):
        txs.append(BankTx(*_TX.unpack_from(raw, i)))
        i += _TX.size
    return tuple(txs), i


def encode_proposal(p: BankProposal) -> bytes:
    parts = [_HEAD.pack(p.height, p.created_time), _COUNT.pack(len(p.batches))]
    parts += [_encode_txs(b.txs) for b in p.batches]
    return b"".join(parts)


def decode_proposal(raw: bytes) -> BankProposal:
    height, created = _HEAD.unpack_from(raw)
    i = _HEAD.size
    (count,) = _COUNT.unpack_from(raw, i)
    i += _COUNT.size
    batches = []
    for _ in range(count):
        txs, i = _decode_txs(raw, i)
        batches.append(BankBatch(txs))
    return BankProposal(height, created, tuple(batches))


def encode_block(b: BankBlock, certificate: Sequence[Vote]) -> bytes:
    rejected = _COUNT.pack(len(b.rejected)) + b"".join(b.rejected)
    cert = encode_certificate(certificate)
    body = _HEAD.pack(b.height, b.created_time) + b.prev_hash + _encode_txs(b.txs) + rejected
    return _COUNT.pack(len(body)) + body + cert


def decode_block(raw: bytes) -> tuple[BankBlock, tuple[Vote, ...]]:
    (size,) = _COUNT.unpack_from(raw)
    i = _COUNT.size
    height, created = _HEAD.unpack_from(raw, i)
    i += _HEAD.size
    prev = raw[i : i + 32]
    txs, i = _decode_txs(raw, i + 32)
    (nrej,) = _COUNT.unpack_from(raw, i)
    i += _COUNT.size
    rejected = tuple(raw[i + 32 * k : i + 32 * (k + 1)] for k in range(nrej))
    cert = tuple(decode_certificate(raw[_COUNT.size + size :]) or ())
    return BankBlock(height, prev, created, txs, rejected), cert


BLOCK_PREFIX = b"b/"  # b/<height> -> block and its commit certificate
WSV_KEY = b"w"  # the world state after the top block (height first)


class BankState:
    """Balances plus the running mint/burn totals; ``apply`` is the stateful validation."""

    __slots__ = ("balances", "burned", "minted")

    def __init__(self) -> None:
        self.balances = [OPENING_BALANCE] * ACCOUNTS
        self.minted = 0
        self.burned = 0

    def copy(self) -> BankState:
        other = BankState()
        other.balances = list(self.balances)
        other.minted, other.burned = self.minted, self.burned
        return other

    def apply(self, tx: BankTx) -> bool:
        bal = self.balances
        if tx.kind == TRANSFER:
            if tx.amount <= 0 or bal[tx.src] < tx.amount or tx.src == tx.dst:
                return False
            bal[tx.src] -= tx.amount
            bal[tx.dst] += tx.amount
            return True
        if tx.kind == MINT:
            bal[ADMIN] += tx.amount
            self.minted += tx.amount
            return True
        if bal[ADMIN] < tx.amount:
            return False
        bal[ADMIN] -= tx.amount
        self.burned += tx.amount
        return True

    def encode(self, height: int) -> bytes:
        return struct.pack(f">Q{ACCOUNTS}qqq", height, *self.balances, self.minted, self.burned)

    def digest(self, height: int) -> bytes:
        return hashlib.sha256(self.encode(height)).digest()


class BankLedger:
    """One node's committed chain and world state.

    With a ``store``, every committed block is one write holding the block, its
    certificate and the new world state (reliability plan 8.5), synced unless
    ``sync_blocks`` is off (a mutant); :meth:`load` rebuilds the ledger from what a
    store kept after a crash.
    """

    def __init__(self, store: KVStore | None = None, sync_blocks: bool = True) -> None:
        self.store = store
        self.sync_blocks = sync_blocks
        self.state = BankState()
        self.chain: list[tuple[BankBlock, tuple[Vote, ...]]] = []
        self.seen: set[bytes] = set()  # tx hashes in the chain, committed or rejected
        self.digests: list[bytes] = [self.state.digest(0)]  # world-state hash per height
        self._pending: dict[bytes, tuple[BankBlock, BankState, bytes]] = {}
        # crash-point hook of the simulator (reliability plan row 11): called with a
        # point's name around each block write; it may raise to crash the node there
        self.failpoint: Callable[[str], None] | None = None

    @property
    def height(self) -> int:
        return len(self.chain)

    @property
    def top_hash(self) -> bytes:
        return self.chain[-1][0].bhash if self.chain else GENESIS_HASH

    def make_proposal(
        self, height: int, created_time_ms: int, batches: Sequence[BankBatch]
    ) -> BankProposal:
        return BankProposal(height, created_time_ms, tuple(batches))

    def proposal_hash(self, proposal: BankProposal) -> bytes:
        return proposal.phash

    def proposal_size(self, proposal: BankProposal) -> int:
        return sum(len(b.txs) for b in proposal.batches)

    def _run(self, txs: Sequence[BankTx], created: int) -> tuple[BankBlock, BankState]:
        scratch = self.state.copy()
        ok: list[BankTx] = []
        rejected: list[bytes] = []
        in_block: set[bytes] = set()
        for tx in txs:
            if tx.tx_hash in self.seen or tx.tx_hash in in_block:
                continue  # replay: dropped from the proposal, never executed twice
            in_block.add(tx.tx_hash)
            if scratch.apply(tx):
                ok.append(tx)
            else:
                rejected.append(tx.tx_hash)
        block = BankBlock(self.height + 1, self.top_hash, created, tuple(ok), tuple(rejected))
        return block, scratch

    def execute(self, proposal: BankProposal) -> BlockCandidate | None:
        if proposal.height != self.height + 1:
            return None
        txs = [tx for b in proposal.batches for tx in b.txs]
        if not all(tx.sig_ok for tx in txs):
            return None  # a stateless-invalid tx makes the whole proposal invalid
        block, scratch = self._run(txs, proposal.created_time)
        self._pending[block.bhash] = (block, scratch, proposal.phash)
        while len(self._pending) > 16:  # bounded like the pipeline's candidates
            del self._pending[next(iter(self._pending))]
        return BlockCandidate(
            block.height,
            block.bhash,
            proposal.phash,
            tuple(t.tx_hash for t in block.txs),
            block.rejected,
        )

    @classmethod
    def load(cls, store: KVStore, sync_blocks: bool = True) -> tuple[BankLedger, str | None]:
        """The ledger a restarted node finds in ``store``, and what is wrong with the
        store if anything: blocks replayed from genesis must give the stored world state
        at the stored height (block store and WSV never diverge)."""
        ledger = cls(None, sync_blocks)
        problem = None
        for key, raw in store.iterate(BLOCK_PREFIX):
            block, cert = decode_block(raw)
            if int(key[len(BLOCK_PREFIX) :]) != block.height:
                problem = f"block stored under {key!r} has height {block.height}"
                break
            if ledger.apply_block(block, cert) is None:
                problem = f"stored block {block.height} does not apply on its parent"
                break
        wsv = store.get(WSV_KEY)
        expected = ledger.state.encode(ledger.height) if ledger.height else None
        if problem is None and wsv != expected:
            problem = f"world state differs from the replay of {ledger.height} stored blocks"
        ledger.store = store
        return ledger, problem

    def _append(
        self, block: BankBlock, state: BankState, cert: tuple[Vote, ...], downloaded: bool = False
    ) -> None:
        hook = self.failpoint
        if hook is not None and not downloaded:
            hook("before_block_write")
        if self.store is not None:
            batch = WriteBatch()
            batch.put(BLOCK_PREFIX + b"%016d" % block.height, encode_block(block, cert))
            batch.put(WSV_KEY, state.encode(block.height))
            self.store.write(batch, sync=self.sync_blocks)
        if hook is not None:
            hook("mid_sync" if downloaded else "after_block_write")
        self.chain.append((block, cert))
        self.state = state
        self.digests.append(state.digest(block.height))
        for tx in block.txs:
            self.seen.add(tx.tx_hash)
        self.seen.update(block.rejected)
        self._pending.clear()

    def commit(self, block_hash: bytes, certificate: tuple[Vote, ...]) -> BlockCandidate | None:
        item = self._pending.get(block_hash)
        if item is None or item[0].height != self.height + 1:
            return None
        block, state, phash = item
        self._append(block, state, certificate)
        return BlockCandidate(
            block.height, block.bhash, phash, tuple(t.tx_hash for t in block.txs), block.rejected
        )

    def block_info(self, block: BankBlock) -> tuple[int, bytes]:
        return block.height, block.bhash

    def committed_block(self, height: int) -> tuple[BankBlock, tuple[Vote, ...]] | None:
        if 1 <= height <= len(self.chain):
            return self.chain[height - 1]
        return None

    def validator_keys(self) -> None:
        return None  # the simulated validator set is fixed

    def apply_block(self, block: BankBlock, certificate: tuple[Vote, ...]) -> BlockCandidate | None:
        if block.height != self.height + 1 or block.prev_hash != self.top_hash:
            return None
        scratch = self.state.copy()
        for tx in block.txs:
            if not tx.sig_ok or tx.tx_hash in self.seen or not scratch.apply(tx):
                return None
        if any(h in self.seen for h in block.rejected):
            return None
        self._append(block, scratch, certificate, downloaded=True)
        return BlockCandidate(
            block.height, block.bhash, b"", tuple(t.tx_hash for t in block.txs), block.rejected
        )
