"""CommandService_v1: Torii, ListTorii, Status, StatusStream (iroha1.md §1).

Torii and ListTorii always answer Empty with gRPC OK, except when the node cannot take
the list now (ordering backlog or MST pool full): then RESOURCE_EXHAUSTED "busy, retry
later", so clients back off instead of losing transactions silently. Every other
outcome is reported through the status bus.

Admission comes first: room for the whole list is reserved in ordering before any
grouping, hashing or signature check, so the refused part of a flood costs almost
nothing, and a list is either refused whole (no status left behind for any of its txs)
or taken whole (each valid batch goes its way inside the room reserved).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Protocol

import trio
from google.protobuf import empty_pb2

from node.api.grpc import GrpcError, ServiceContext, Status
from node.api.torii.mst import MstPool, MstState
from node.api.torii.status_bus import (
    FINAL,
    StatusBus,
    TooManySubscribers,
    ToriiResponse,
    response,
)
from node.config import ValidationLimits
from node.metrics import NodeMetrics
from node.model import Batch, Tx, group_batches
from node.proto.iroha import endpoint_pb2, transaction_pb2
from node.state.records import TxRecord
from node.validation import StatelessValidator, batch_slices

S = endpoint_pb2
_EMPTY = empty_pb2.Empty()
BUSY = "busy, retry later"
# Statuses of a transaction that already left Torii for ordering (not final yet).
_IN_FLIGHT = frozenset(
    {S.ENOUGH_SIGNATURES_COLLECTED, S.STATEFUL_VALIDATION_SUCCESS, S.STATEFUL_VALIDATION_FAILED}
)


class SubmitBatch(Protocol):
    def __call__(self, batch: Batch, /) -> bool:
        """Hand a fully signed batch to ordering; False when its cache is full."""
        ...


class Reservation(Protocol):
    """Room in ordering promised to one request (node.runtime.admission.Reservation)."""

    def submit(self, batch: Batch, /) -> bool:
        """Hand a fully signed batch to ordering within the room; True when taken."""
        ...

    def release(self) -> None:
        """Give back the room not used (idempotent)."""
        ...


class Admission(Protocol):
    def reserve(self, n_txs: int, /) -> Reservation | None:
        """Room for ``n_txs`` txs, or None (busy: refuse the request whole)."""
        ...


class _Unreserved:
    """Without an admission (tests, tools): every batch is offered to ``submit_batch``,
    which may still refuse it; a list is then not guaranteed to be taken whole."""

    def __init__(self, submit_batch: SubmitBatch) -> None:
        self._submit_batch = submit_batch

    def reserve(self, n_txs: int, /) -> Reservation | None:
        return self

    def submit(self, batch: Batch, /) -> bool:
        return self._submit_batch(batch)

    def release(self) -> None:
        pass


class TxIndex(Protocol):
    def tx_status(self, tx_hash: bytes, /) -> TxRecord | None: ...


def record_response(tx_hash: bytes, rec: TxRecord) -> ToriiResponse:
    """The durable status of a transaction the ledger knows (committed or rejected)."""
    if rec.committed:
        return response(tx_hash, S.COMMITTED)
    e = rec.error
    if e is None:
        return response(tx_hash, S.REJECTED)
    return response(tx_hash, S.REJECTED, e.cmd_name, e.cmd_index, e.code)


def parse_hash(text: str) -> bytes | None:
    if len(text) != 64:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


class CommandService:
    def __init__(
        self,
        *,
        bus: StatusBus,
        mst: MstPool,
        ledger: TxIndex,
        validator: Callable[[], StatelessValidator],
        limits: ValidationLimits,
        now_ms: Callable[[], int],
        submit_batch: SubmitBatch | None = None,
        admission: Admission | None = None,
        metrics: NodeMetrics | None = None,
    ) -> None:
        """``admission`` (the consensus driver) reserves room for whole lists; without
        it, ``submit_batch`` takes batches one by one."""
        if admission is None:
            if submit_batch is None:
                raise TypeError("CommandService needs an admission or a submit_batch")
            admission = _Unreserved(submit_batch)
        self.bus = bus
        self.mst = mst
        self.ledger = ledger
        self._validator = validator
        self.limits = limits
        self.admission = admission
        self.now_ms = now_ms
        self.metrics = metrics

    # --- Torii / ListTorii ---------------------------------------------------------------

    async def torii(self, request: transaction_pb2.Transaction, ctx: ServiceContext) -> object:
        await self.process([Tx(request)])
        return _EMPTY

    async def list_torii(self, request: endpoint_pb2.TxList, ctx: ServiceContext) -> object:
        await self.process([Tx(pb) for pb in request.transactions])
        return _EMPTY

    def _fail_all(self, txs: list[Tx], reason: str) -> None:
        for tx in txs:
            self.bus.publish(tx.hash, response(tx.hash, S.STATELESS_VALIDATION_FAILED, reason))

    async def process(self, txs: list[Tx]) -> None:
        """Reserve room for the list, validate it; on any failure every tx fails, else
        each batch goes its way. Busy: refused whole, before any work on it."""
        if not txs:
            return
        if len(txs) > self.limits.max_txs_per_list:
            self._fail_all(
                txs,
                f"Too many transactions in the list: {len(txs)}, "
                f"at most {self.limits.max_txs_per_list}",
            )
            return
        reservation = self.admission.reserve(len(txs))
        if reservation is None:
            raise GrpcError(Status.RESOURCE_EXHAUSTED, BUSY)
        try:
            await self._process_reserved(txs, reservation)
        finally:
            reservation.release()  # what invalid txs, replays and MST batches did not use

    async def _process_reserved(self, txs: list[Tx], reservation: Reservation) -> None:
        batches = group_batches(txs)
        validator = self._validator()
        now = self.now_ms()

        reasons: list[str | None] = []
        for i, part in enumerate(batch_slices(batches)):
            if i:
                await trio.lowlevel.checkpoint()  # a long list lets the loop breathe
            reasons += validator.check_batches(part, now)
        bad = [r for r in reasons if r]
        if bad:
            self._fail_all(txs, bad[0] if len(bad) == 1 else "; ".join(bad))
            return
        # The MST pool is bounded too: refuse the list whole if its new partly signed
        # batches cannot all be parked, before any batch of it goes anywhere.
        new_pending = sum(
            1
            for b in batches
            if not b.fully_signed() and not any(t.hash in self.mst for t in b.txs)
        )
        if new_pending and len(self.mst) + new_pending > self.mst.max_batches:
            raise GrpcError(Status.RESOURCE_EXHAUSTED, "MST pool is full: " + BUSY)
        for batch in batches:
            self._process_batch(batch, reservation)

    def _is_replay(self, batch: Batch) -> bool:
        """A tx of the batch is already final: answer its final status, drop the batch."""
        replay = False
        for tx in batch.txs:
            if self.bus.cached_status(tx.hash) in FINAL:
                replay = True
                continue
            rec = self.ledger.tx_status(tx.hash)
            if rec is not None:
                self.bus.publish(tx.hash, record_response(tx.hash, rec))
                replay = True
        return replay

    def _process_batch(self, batch: Batch, reservation: Reservation) -> None:
        if self._is_replay(batch):
            return
        bus = self.bus
        in_pool = any(t.hash in self.mst for t in batch.txs)
        signed = batch.fully_signed()
        if not signed and not in_pool:
            for t in batch.txs:
                if bus.cached_status(t.hash) in _IN_FLIGHT:
                    return  # a late co-signer: this batch already went to ordering
        # STATELESS_VALIDATION_SUCCESS is published only once the batch is taken: a busy
        # refusal must leave no status behind (else Status shows a refused tx in progress).
        if signed and not in_pool:
            self._submit(batch, reservation, announce_valid=True)
            return
        outcome = self.mst.add(batch)
        if self.metrics is not None:
            self.metrics.mst_pending.set(len(self.mst))
        if outcome.state is MstState.FULL:
            raise GrpcError(Status.RESOURCE_EXHAUSTED, "MST pool is full: " + BUSY)
        for t in batch.txs:
            bus.publish_status(t.hash, S.STATELESS_VALIDATION_SUCCESS)
        if outcome.state is MstState.COMPLETE:
            self._submit(outcome.batch, reservation)
            self.mst.remove(outcome.batch)
            if self.metrics is not None:
                self.metrics.mst_pending.set(len(self.mst))
            return
        for t in batch.txs:
            bus.publish_status(t.hash, S.MST_PENDING)

    def _submit(self, batch: Batch, reservation: Reservation, announce_valid: bool = False) -> None:
        if not reservation.submit(batch):
            raise GrpcError(Status.RESOURCE_EXHAUSTED, BUSY)
        # _is_replay just found no final status for these txs: no ledger look-up again
        for t in batch.txs:
            h = t.hash
            if announce_valid:
                self.bus.publish_status(h, S.STATELESS_VALIDATION_SUCCESS, durable=False)
            self.bus.publish_status(h, S.ENOUGH_SIGNATURES_COLLECTED, durable=False)

    # --- Status / StatusStream -------------------------------------------------------------

    async def status(
        self, request: endpoint_pb2.TxStatusRequest, ctx: ServiceContext
    ) -> ToriiResponse:
        h = parse_hash(request.tx_hash)
        if h is None:
            return ToriiResponse(tx_status=S.NOT_RECEIVED, tx_hash=request.tx_hash)
        return self.bus.current(h)

    async def status_stream(
        self, request: endpoint_pb2.TxStatusRequest, ctx: ServiceContext
    ) -> AsyncIterator[ToriiResponse]:
        h = parse_hash(request.tx_hash)
        if h is None:
            yield ToriiResponse(tx_status=S.NOT_RECEIVED, tx_hash=request.tx_hash)
            return
        try:
            async with aclosing(self.bus.stream(h)) as stream:
                async for resp in stream:
                    yield resp
        except TooManySubscribers:
            raise GrpcError(Status.RESOURCE_EXHAUSTED, "too many status streams: " + BUSY) from None
