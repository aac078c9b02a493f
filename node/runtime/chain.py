"""The consensus pipeline's ledger seam, implemented over ``node.state.Ledger``.

Proposals are ``iroha.protocol.Proposal`` messages built from whole batches; executing
one first re-checks every transaction statelessly against the proposal's created_time
(signature cryptography once per node: transactions verified before, signatures included,
are remembered), then runs it on a scratch view of the ledger. An invalid proposal (bad
tx, split batch, wrong height) yields ``None``: the node votes for nothing. Blocks are
signed by this validator; the signatures of a commit certificate's voters become the
committed block's ``Block_v1.signatures`` as in Iroha.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from node.config import ValidationLimits
from node.consensus.pipeline import BlockCandidate
from node.consensus.vote import Vote
from node.crypto import KeyPair, sha3_256, verify
from node.model import Batch, Tx, block_hash, group_batches
from node.proto.iroha import block_pb2, primitive_pb2, proposal_pb2, transaction_pb2
from node.state import ExecutionResult, Ledger, LedgerError
from node.sync.certificate import decode_certificate, encode_certificate
from node.validation import StatelessValidator

MAX_CANDIDATES = 8


class VerifiedCache:
    """Transactions whose signatures this node already verified (bounded LRU).

    Keyed by ``Tx.signed_hash`` (signatures included), not by the tx hash: a copy of a
    known payload carrying other signatures is verified again.

    It also keeps the most recent verified ``Tx`` objects (at most ``recent`` of them,
    found by their first signature), so that a follower takes a proposal's transactions
    as the objects it checked when they were gossiped, hashes already computed, instead
    of wrapping and hashing every one again. A candidate is used only if it equals the
    proposal's message exactly (unknown fields included). A tx leaves this set once it
    is in a proposal (taken by a follower, or proposed by this node): a tx proposed again
    after a failed round is simply wrapped anew.
    """

    def __init__(self, size: int = 200_000, recent: int = 20_000) -> None:
        self._size = size
        self._d: OrderedDict[bytes, None] = OrderedDict()
        self._recent_size = recent
        self._recent: dict[str, Tx] = {}  # first signature (hex, as sent) -> tx

    def knows(self, batch: Batch) -> bool:
        d = self._d
        return all(t.signed_hash in d for t in batch.txs)

    def remember(self, batches: Sequence[Batch]) -> None:
        d = self._d
        recent = self._recent
        for b in batches:
            for t in b.txs:
                d[t.signed_hash] = None
                sigs = t.signature_pairs()
                if sigs:
                    recent[sigs[0][1]] = t
        while len(d) > self._size:
            d.popitem(last=False)
        if len(recent) > self._recent_size:
            for key in list(itertools.islice(recent, len(recent) - self._recent_size)):
                del recent[key]

    def take(self, pbs: Iterable[transaction_pb2.Transaction]) -> list[Tx]:
        """``Tx`` objects for a proposal's messages: a remembered one where it is the
        same message, else a new wrapper."""
        recent = self._recent
        out = []
        for pb in pbs:
            sigs = pb.signatures
            t = recent.pop(sigs[0].signature, None) if sigs else None
            out.append(t if t is not None and t.pb == pb else Tx(pb))
        return out

    def forget(self, txs: Iterable[Tx]) -> None:
        """These are in this node's own proposal."""
        recent = self._recent
        for t in txs:
            sigs = t.signature_pairs()
            if sigs:
                recent.pop(sigs[0][1], None)


class ChainAdapter:
    """``node.consensus.pipeline.Ledger`` for a real node."""

    def __init__(
        self,
        ledger: Ledger,
        keypair: KeyPair,
        limits: ValidationLimits,
        verified: VerifiedCache,
    ) -> None:
        self.ledger = ledger
        self.keypair = keypair
        self.limits = limits
        self.verified = verified
        self._results: OrderedDict[bytes, ExecutionResult] = OrderedDict()
        # executions since the driver last looked: it publishes their STATEFUL_* statuses
        # on the trio thread (a big execution runs on a worker thread)
        self._executed: list[ExecutionResult] = []
        # the proposal this node last built as ordering peer, with the Tx objects it was
        # built from (hashes already cached): executing it needs no re-wrapping/hashing
        self._made: tuple[proposal_pb2.Proposal, list[Tx]] | None = None
        # the last proposal serialized (for its hash), kept for the driver, which stores
        # the proposal it votes for: a proposal of 1,000 txs is serialized once, not twice
        self._serialized: tuple[proposal_pb2.Proposal, bytes] | None = None

    def drain_executed(self) -> list[ExecutionResult]:
        out, self._executed = self._executed, []
        return out

    # --- reads ----------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self.ledger.height

    @property
    def top_hash(self) -> bytes:
        return self.ledger.top_hash

    # --- proposals ------------------------------------------------------------------

    def make_proposal(
        self, height: int, created_time_ms: int, batches: Sequence[Batch]
    ) -> proposal_pb2.Proposal:
        txs = [t for b in batches for t in b.txs]
        p = proposal_pb2.Proposal(height=height, created_time=created_time_ms)
        p.transactions.extend(t.pb for t in txs)
        self._made = (p, txs)
        self.verified.forget(txs)
        return p

    def proposal_hash(self, proposal: proposal_pb2.Proposal) -> bytes:
        return sha3_256(self.proposal_bytes(proposal))

    def proposal_bytes(self, proposal: proposal_pb2.Proposal) -> bytes:
        """``proposal`` serialized; computed once for the proposal last asked about."""
        last = self._serialized
        if last is not None and last[0] is proposal:
            return last[1]
        raw = proposal.SerializeToString()
        self._serialized = (proposal, raw)
        return raw

    def proposal_size(self, proposal: proposal_pb2.Proposal) -> int:
        return len(proposal.transactions)

    def _stateless_ok(self, txs: list[Tx], created_time: int) -> bool:
        """Every batch complete and valid at the proposal's time. A batch whose exact
        signed bytes this node validated before (Torii or gossip) is only re-checked for
        what can have changed: its time against the proposal's, its size against the
        chain's parameters, and its completeness; the others get every rule."""
        v = StatelessValidator(self.ledger.params, self.limits, verify)
        fresh = []
        for b in group_batches(txs):
            seen = self.verified.knows(b)
            why = v.recheck_batch(b, created_time) if seen else v.batch_reasons(b, created_time)
            if why is not None:
                return False
            if not seen:
                fresh.append(b)
        self.verified.remember(fresh)
        return True

    def execute(self, proposal: proposal_pb2.Proposal) -> BlockCandidate | None:
        if proposal.height != self.ledger.height + 1 or not proposal.transactions:
            return None
        made = self._made
        if made is not None and made[0] is proposal:
            txs = made[1]
        else:
            txs = self.verified.take(proposal.transactions)
        if not self._stateless_ok(txs, proposal.created_time):
            return None
        try:
            result = self.ledger.execute(txs, proposal.height, proposal.created_time)
        except LedgerError:
            return None
        self._results[result.block_hash] = result
        while len(self._results) > MAX_CANDIDATES:
            self._results.popitem(last=False)
        self._executed.append(result)
        signature = self.keypair.sign(result.payload_bytes)  # serialized at execution
        return BlockCandidate(
            height=result.height,
            block_hash=result.block_hash,
            proposal_hash=self.proposal_hash(proposal),
            tx_hashes=tuple(t.hash for t in result.txs),
            rejected=tuple(result.rejected_hashes),
            block_signature=signature,
        )

    # --- commit ---------------------------------------------------------------------

    @staticmethod
    def _block_signatures(certificate: Sequence[Vote]) -> list[primitive_pb2.Signature]:
        seen: set[str] = set()
        out = []
        for v in certificate:
            if v.block_signature and v.public_key not in seen:
                seen.add(v.public_key)
                out.append(
                    primitive_pb2.Signature(
                        public_key=v.public_key, signature=v.block_signature.hex()
                    )
                )
        return out

    def commit(self, block_hash_: bytes, certificate: tuple[Vote, ...]) -> BlockCandidate | None:
        result = self._results.get(block_hash_)
        if result is None or result.height != self.ledger.height + 1:
            return None
        try:
            self.ledger.commit(
                result, self._block_signatures(certificate), encode_certificate(certificate)
            )
        except LedgerError:
            return None
        self._results.clear()
        return BlockCandidate(
            height=result.height,
            block_hash=result.block_hash,
            proposal_hash=b"",
            tx_hashes=tuple(t.hash for t in result.txs),
            rejected=tuple(result.rejected_hashes),
        )

    def validator_keys(self) -> list[str]:
        return [p.peer_key.lower() for p in self.ledger.validators()]

    def block_info(self, block: block_pb2.Block) -> tuple[int, bytes]:
        return block.block_v1.payload.height, block_hash(block.block_v1)

    def committed_block(self, height: int) -> tuple[block_pb2.Block, tuple[Vote, ...]] | None:
        stored = self.ledger.get_block(height)
        if stored is None:
            return None
        block, raw = stored
        votes = decode_certificate(raw) if raw else []
        return block, tuple(votes or ())

    def apply_block(
        self, block: block_pb2.Block, certificate: tuple[Vote, ...]
    ) -> BlockCandidate | None:
        p = block.block_v1.payload
        try:
            self.ledger.apply_block(block, encode_certificate(certificate))
        except LedgerError:
            return None
        self._results.clear()
        return BlockCandidate(
            height=p.height,
            block_hash=block_hash(block.block_v1),
            proposal_hash=b"",
            tx_hashes=tuple(Tx(t).hash for t in p.transactions),
            rejected=tuple(bytes.fromhex(h) for h in p.rejected_transactions_hashes),
        )
