"""Pending batches cache, ordering peer choice and per-round proposals."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from node.model import Round
from node.ordering import AddResult, OrderingService, PendingBatches, ordering_peer


@dataclass(frozen=True)
class B:
    tx_hashes: tuple[bytes, ...]

    @property
    def batch_hash(self) -> bytes:
        return hashlib.sha256(b"".join(self.tx_hashes)).digest()


def h(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(4, "big")).digest()


def batch(*ids: int) -> B:
    return B(tuple(h(i) for i in ids))


def test_add_dedupes_by_batch_and_by_tx() -> None:
    cache: PendingBatches[B] = PendingBatches(max_txs=10)
    assert cache.add(batch(1, 2)) is AddResult.ACCEPTED
    assert cache.add(batch(1, 2)) is AddResult.DUPLICATE
    assert cache.add(batch(2, 3)) is AddResult.DUPLICATE  # tx 2 already pending
    assert cache.tx_count == 2 and cache.batch_count == 1


def test_full_cache_is_busy_and_never_splits_a_batch() -> None:
    cache: PendingBatches[B] = PendingBatches(max_txs=3)
    assert cache.add(batch(1, 2)) is AddResult.ACCEPTED
    assert cache.add(batch(3, 4)) is AddResult.BUSY
    assert cache.add(batch(5)) is AddResult.ACCEPTED
    assert cache.add(batch(6)) is AddResult.BUSY
    assert cache.add(batch(7, 8, 9, 10)) is AddResult.TOO_LARGE
    assert cache.tx_count == 3


def test_finalized_batches_leave_whole_and_replays_are_refused() -> None:
    cache: PendingBatches[B] = PendingBatches(max_txs=10)
    cache.add(batch(1, 2))
    cache.add(batch(3))
    assert cache.finalize([h(2)]) == 1  # one tx committed: its whole batch leaves
    assert cache.tx_count == 1
    assert cache.add(batch(1, 2)) is AddResult.FINALIZED
    # only hashes reported final are remembered; a tx that left with its batch is not
    assert cache.add(batch(1)) is AddResult.ACCEPTED


def test_finalized_memory_keeps_the_newest_hashes_in_order() -> None:
    cache: PendingBatches[B] = PendingBatches(max_txs=10, max_finalized=3)
    for start in range(0, 12, 4):  # several finalize calls, each past the bound
        cache.finalize([h(i) for i in range(start, start + 4)])
    # exactly the last three stay refused; everything older is forgotten
    refused = [cache.add(batch(i)) is AddResult.FINALIZED for i in range(12)]
    assert refused == [False] * 9 + [True] * 3


def test_select_takes_whole_batches_oldest_first_up_to_the_limit() -> None:
    cache: PendingBatches[B] = PendingBatches(max_txs=100)
    batches = [batch(i, i + 100) if i % 3 == 0 else batch(i) for i in range(20)]
    for b in batches:
        cache.add(b)
    chosen = cache.select(10)
    # 2-tx batches at 0, 3, 6 and 1-tx ones between: the first 10 txs, none split
    assert chosen == batches[:7]
    assert sum(len(b.tx_hashes) for b in chosen) == 10
    # arrival order, not hash order: the reversed arrival gives the other end first
    other: PendingBatches[B] = PendingBatches(max_txs=100)
    for b in reversed(batches):
        other.add(b)
    # 19..13 take 9 txs, 12 (2 txs) does not fit and is skipped, 11 fills the tenth
    assert other.select(10) == [batches[i] for i in (19, 18, 17, 16, 15, 14, 13, 11)]
    # what leaves makes room for the next oldest
    cache.finalize([t for b in chosen for t in b.tx_hashes])
    assert cache.select(3) == [batches[7], batches[8], batches[10]]  # 9 has 2 txs


def test_select_skips_at_most_eight_batches_that_do_not_fit() -> None:
    cache: PendingBatches[B] = PendingBatches(max_txs=1000)
    big = [batch(*range(i * 10, i * 10 + 5)) for i in range(1, 30)]
    for b in big:
        cache.add(b)
    assert cache.select(4) == []


def test_ordering_peer_is_deterministic_and_rotates_through_all_validators() -> None:
    validators = [f"{i:064x}" for i in range(7)]
    top = h(99)
    peers = [ordering_peer(Round(5, r), validators, top) for r in range(7)]
    assert sorted(peers) == sorted(validators)
    assert peers == [ordering_peer(Round(5, r), list(reversed(validators)), top) for r in range(7)]
    assert ordering_peer(Round(5, 7), validators, top) == peers[0]


def test_service_serves_one_proposal_per_round() -> None:
    cache: PendingBatches[B] = PendingBatches(max_txs=100)
    service: OrderingService[B, tuple[int, tuple[B, ...]]] = OrderingService(cache, 5)
    assert service.proposal_for(Round(1, 0), lambda bs: (1, tuple(bs))) is None  # empty
    cache.add(batch(1))
    assert service.proposal_for(Round(1, 0), lambda bs: (1, tuple(bs))) is None  # stored
    first = service.proposal_for(Round(1, 1), lambda bs: (1, tuple(bs)))
    cache.add(batch(2))
    assert service.proposal_for(Round(1, 1), lambda bs: (2, tuple(bs))) == first
    for r in range(2, 40):
        service.proposal_for(Round(1, r), lambda bs: (1, tuple(bs)))
    assert service.rounds_stored <= service.max_rounds
