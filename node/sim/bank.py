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
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.consensus.pipeline import BlockCandidate
from node.consensus.vote import Vote

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

    def digest(self, height: int) -> bytes:
        raw = struct.pack(f">Q{ACCOUNTS}qqq", height, *self.balances, self.minted, self.burned)
        return hashlib.sha256(raw).digest()


class BankLedger:
    """One node's committed chain and world state; survives crashes (synced writes)."""

    def __init__(self) -> None:
        self.state = BankState()
        self.chain: list[tuple[BankBlock, tuple[Vote, ...]]] = []
        self.seen: set[bytes] = set()  # tx hashes in the chain, committed or rejected
        self.digests: list[bytes] = [self.state.digest(0)]  # world-state hash per height
        self._pending: dict[bytes, tuple[BankBlock, BankState, bytes]] = {}

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

    def _append(self, block: BankBlock, state: BankState, cert: tuple[Vote, ...]) -> None:
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
        self._append(block, scratch, certificate)
        return BlockCandidate(
            block.height, block.bhash, b"", tuple(t.tx_hash for t in block.txs), block.rejected
        )

    def forget_uncommitted(self) -> None:
        """A crash loses the scratch states of executed, uncommitted candidates."""
        self._pending.clear()
