"""Admission before any work: a ListTorii is refused whole or taken whole.

Real CommandService, StatusBus, MstPool and Ledger on LevelDB, the driver's real
AdmissionGate (node.runtime.admission); ordering is a list the gate's sink appends to.
The last test goes over the real gRPC server with a grpcio client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import trio

from node.api.grpc import GrpcError, GrpcServer, Status
from node.api.torii import CommandService, MstPool, StatusBus, ToriiService
from node.api.torii.status_bus import response
from node.config import AdmissionLimits, Limits, ValidationLimits
from node.model import Batch, Tx
from node.proto.iroha import endpoint_pb2 as E
from node.runtime.admission import AdmissionGate, CommitRate
from node.state import Ledger
from node.storage import LevelDBStore
from node.validation import CHECK_SLICE_TXS, StatelessValidator
from tests.api.torii.backend import SingleValidatorTestBackend
from tests.api.torii.support import (
    ALICE,
    VALIDATOR,
    Client,
    genesis,
    key,
    now_ms,
    run,
    sign,
    transfer,
    tx,
)


class Ordering:
    """What the driver would hold: submitted batches, counted as pending until taken."""

    def __init__(self, soft: int, hard: int = 10_000) -> None:
        self.batches: list[Batch] = []
        self.soft = soft
        self.gate = AdmissionGate(
            soft=lambda: self.soft,
            hard=lambda: hard,
            pending=lambda: self.pending,
            sink=self.batches.append,
        )

    @property
    def pending(self) -> int:
        return sum(len(b.txs) for b in self.batches)

    def commit_all(self) -> None:
        self.batches.clear()


class Setup:
    def __init__(self, ledger: Ledger, ordering: Ordering) -> None:
        self.ledger = ledger
        self.ordering = ordering
        self.validations = 0
        self.bus = StatusBus(cache_size=10_000, queue_size=16, max_subscribers=10)
        self.mst = MstPool(None, max_batches=100)
        self.service = CommandService(
            bus=self.bus,
            mst=self.mst,
            ledger=ledger,
            validator=self._validator,
            limits=ValidationLimits(),
            admission=ordering.gate,
            now_ms=now_ms,
        )

    def _validator(self) -> StatelessValidator:
        self.validations += 1
        return StatelessValidator(self.ledger.params, ValidationLimits())

    def status(self, t: Tx) -> int:
        return self.bus.current(t.hash).tx_status


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    store = LevelDBStore(str(tmp_path / "db"))
    try:
        yield Ledger.create(store, genesis())
    finally:
        store.close()


def transfers(n: int, amount: str = "0.01") -> list[Tx]:
    return [
        tx("alice@aclb", [transfer("alice@aclb", "bob@wing", amount)], [ALICE]) for _ in range(n)
    ]


async def test_list_over_the_bound_is_refused_whole_before_any_check(ledger: Ledger) -> None:
    s = Setup(ledger, Ordering(soft=10))
    s.ordering.gate.reserve(4)  # another request in progress holds 4
    txs = transfers(7)  # 4 + 7 > 10
    with pytest.raises(GrpcError) as ei:
        await s.service.process(txs)
    assert ei.value.status is Status.RESOURCE_EXHAUSTED and ei.value.message == "busy, retry later"
    assert s.validations == 0  # refused before grouping or any signature check
    assert s.ordering.batches == []
    assert all(s.status(t) == E.NOT_RECEIVED for t in txs)  # no status left behind
    assert s.ordering.gate.reserved == 4


async def test_list_within_the_bound_is_taken_whole(ledger: Ledger) -> None:
    s = Setup(ledger, Ordering(soft=10))
    txs = transfers(10)  # exactly the bound, one SINGLE batch per tx
    await s.service.process(txs)
    assert [b.txs[0].hash for b in s.ordering.batches] == [t.hash for t in txs]
    assert all(s.status(t) == E.ENOUGH_SIGNATURES_COLLECTED for t in txs)
    assert s.ordering.gate.reserved == 0
    # the bound is reached: the next single tx is busy, and taken once ordering drains
    extra = transfers(1)
    with pytest.raises(GrpcError):
        await s.service.process(extra)
    assert s.status(extra[0]) == E.NOT_RECEIVED
    s.ordering.commit_all()
    await s.service.process(extra)
    assert s.status(extra[0]) == E.ENOUGH_SIGNATURES_COLLECTED


async def test_room_of_an_invalid_list_is_released_and_reusable(ledger: Ledger) -> None:
    s = Setup(ledger, Ordering(soft=5))
    forged = transfers(1)[0].pb
    forged.signatures[0].signature = "00" * 64  # a wrong signature: the whole list fails
    bad = [*transfers(4), Tx(forged)]
    await s.service.process(bad)
    assert all(s.status(t) == E.STATELESS_VALIDATION_FAILED for t in bad)
    assert s.ordering.gate.reserved == 0 and s.ordering.batches == []
    good = transfers(5)
    await s.service.process(good)  # the whole room again
    assert s.ordering.pending == 5


async def test_room_of_replays_and_mst_batches_is_released(ledger: Ledger) -> None:
    s = Setup(ledger, Ordering(soft=4))
    first = transfers(2)
    await s.service.process(first)
    s.ordering.commit_all()
    for t in first:  # final on the bus: a replay is answered, not submitted again
        s.bus.publish(t.hash, response(t.hash, E.COMMITTED))
    partly = tx(
        "alice@aclb", [transfer("alice@aclb", "bob@wing", "2")], [ALICE], quorum=2
    )  # one of two signatures: parked in the MST pool
    await s.service.process([*first, partly, *transfers(1)])
    assert s.status(partly) == E.MST_PENDING and len(s.mst) == 1
    assert s.ordering.pending == 1  # only the fresh transfer went to ordering
    assert s.ordering.gate.reserved == 0
    await s.service.process(transfers(3))  # 1 + 3: the released room is there
    assert s.ordering.pending == 4
    # the co-signature completes the batch: it goes to ordering within a new reservation
    s.ordering.commit_all()
    await s.service.process([sign(partly, [key(81)])])
    assert s.ordering.pending == 1 and len(s.mst) == 0
    assert s.status(partly) == E.ENOUGH_SIGNATURES_COLLECTED


async def test_list_larger_than_the_soft_bound_enters_an_idle_node(ledger: Ledger) -> None:
    s = Setup(ledger, Ordering(soft=3, hard=8))
    await s.service.process(transfers(6))  # idle: one request may exceed the soft bound
    assert s.ordering.pending == 6
    with pytest.raises(GrpcError):
        await s.service.process(transfers(1))  # not idle any more
    s.ordering.commit_all()
    with pytest.raises(GrpcError):
        await s.service.process(transfers(9))  # never over the hard bound (the cache)
    assert s.ordering.gate.reserved == 0


async def test_reservation_released_when_the_request_is_cancelled(ledger: Ledger) -> None:
    s = Setup(ledger, Ordering(soft=1000))
    # cancelled at its first checkpoint: after the first slice of signature checks
    with trio.move_on_after(0):
        await s.service.process(transfers(CHECK_SLICE_TXS + 1))
    assert s.ordering.gate.reserved == 0 and s.ordering.batches == []


async def test_list_torii_over_grpc_refused_whole_then_taken(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = Ledger.create(store, genesis())
    backend = SingleValidatorTestBackend(ledger, VALIDATOR)
    backend.paused = True  # nothing commits: what was submitted stays pending
    submitted: list[Batch] = []

    def sink(b: Batch) -> None:
        submitted.append(b)
        assert backend.submit_batch(b)

    gate = AdmissionGate(
        soft=lambda: 6,
        hard=lambda: 100,
        pending=lambda: sum(len(b.txs) for b in submitted),
        sink=sink,
    )
    torii = ToriiService(ledger=ledger, store=store, admission=gate, limits=Limits())
    backend.torii = torii
    server = GrpcServer(torii.methods(), max_message_bytes=4 * 1024 * 1024)
    try:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server.serve, "127.0.0.1", 0)
            await nursery.start(backend.run)
            client = Client(port)
            try:
                first, second = transfers(4), transfers(4)
                await run(client.send_list, first)
                with pytest.raises(grpc.RpcError) as ei:
                    await run(client.send_list, second)  # 4 + 4 > 6: none of it taken
                assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert ei.value.details() == "busy, retry later"
                for t in second:
                    assert (await run(client.get_status, t.hash)).tx_status == E.NOT_RECEIVED
                backend.paused = False
                for t in first:
                    assert (await run(client.wait_final, t.hash)).tx_status == E.COMMITTED
                submitted.clear()  # committed: the backlog is empty again
                await run(client.send_list, second)  # the client's retry is taken whole
                for t in second:
                    assert (await run(client.wait_final, t.hash)).tx_status == E.COMMITTED
            finally:
                client.close()
                nursery.cancel_scope.cancel()
    finally:
        store.close()


def test_commit_rate_over_its_window() -> None:
    rate = CommitRate(window_s=10.0)
    assert rate.per_second(0.0) == 0.0
    rate.add(1.0, 500)
    assert rate.per_second(1.5) == 250.0  # one block: over at least MIN_SPAN_S (2 s)
    rate.add(4.0, 500)
    assert rate.per_second(5.0) == 250.0  # a fresh start: over its 4 s of history
    rate.add(10.0, 500)
    assert rate.per_second(10.0) == 1500 / 9
    rate.add(11.5, 500)  # the commit at t=1 falls out of the window
    assert rate.per_second(11.5) == 1500 / 7.5
    assert rate.per_second(30.0) == 0.0  # idle


def test_backlog_bound_follows_the_commit_rate_within_its_clamp() -> None:
    limits = AdmissionLimits(backlog_s=6.0, min_backlog_proposals=4, max_backlog_proposals=10)
    assert limits.bound(0.0, 500) == 2000  # idle or just started: the floor keeps blocks full
    assert limits.bound(500.0, 500) == 3000  # 6 s of commits
    assert limits.bound(900.0, 500) == 5000  # never above 10 proposals
    assert limits.bound(500.0, 100) == 1000  # the chain parameter moves both ends
