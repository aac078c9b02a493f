"""Sign state at rest: what survives a save, a batch of saves, a restart, and its move
out of the ledger's store."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from node.consensus.yac import PersistVote
from node.model import Round
from node.storage import CrashMode, KVStore, LevelDBStore, MemoryStore, WriteBatch
from node.sync.signstate import (
    VotedProposals,
    load_sign_state,
    move_sign_state,
    save_sign_state,
)

KEEP = 3

# a step: (height increment 0-2, proposals saved in one batch 1-3, restart before it)
step = st.tuples(st.integers(0, 2), st.integers(1, 3), st.booleans())


class CountingStore:
    """A store that counts prefix scans (each one walks LevelDB's deleted keys too)."""

    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.scans = 0

    def get(self, key: bytes) -> bytes | None:
        return self.store.get(key)

    def iterate(self, *args: Any, **kwargs: Any) -> Iterator[tuple[bytes, bytes]]:
        self.scans += 1
        return self.store.iterate(*args, **kwargs)

    def write(self, batch: WriteBatch, sync: bool = False) -> None:
        self.store.write(batch, sync=sync)


@settings(max_examples=60, deadline=None)
@given(st.lists(step, min_size=1, max_size=25))
def test_the_store_keeps_the_last_proposals_of_the_latest_height(
    steps: list[tuple[int, int, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = LevelDBStore(d + "/db")
        counting = CountingStore(store)
        voted = VotedProposals(counting)  # type: ignore[arg-type]
        height, model, n = 1, [], 0
        for inc, count, restart in steps:
            if restart:
                voted = VotedProposals(counting)  # type: ignore[arg-type]
            if inc:
                height, model = height + inc, []
            scans = counting.scans
            batch = WriteBatch()
            for _ in range(count):  # several in one batch, as one step of the driver
                n += 1
                proposal = b"p%d" % n
                voted.save(height, proposal, KEEP, batch)
                model = [*model, proposal][-KEEP:]
            store.write(batch, sync=False)
            assert counting.scans == scans, "a save scans the store"
            assert load_sign_state(store)[1] == model
        store.close()


def test_one_per_save_reads_the_store_each_time() -> None:
    """As the simulator uses it."""
    with tempfile.TemporaryDirectory() as d:
        store = LevelDBStore(d + "/db")
        for n in range(5):
            VotedProposals(store).save(7, b"p%d" % n, KEEP)
        VotedProposals(store).save(8, b"q", KEEP)
        VotedProposals(store).save(8, b"r", KEEP)
        assert load_sign_state(store)[1] == [b"q", b"r"]
        store.close()


def _signed(store: KVStore, height: int, proposals: list[bytes]) -> None:
    """A sign state as the driver leaves it: a phase-1 vote and the proposals voted."""
    vote = PersistVote(Round(height, 0), 1, b"p" * 32, b"b" * 32)
    batch = WriteBatch()
    save_sign_state(store, vote, batch)
    voted = VotedProposals(store)
    for p in proposals:
        voted.save(height, p, KEEP, batch)
    store.write(batch, sync=True)


class FailingStore(CountingStore):
    """While ``fail``, a write that deletes fails (the crash between copy and delete)."""

    def __init__(self, store: KVStore) -> None:
        super().__init__(store)
        self.fail = False

    def write(self, batch: WriteBatch, sync: bool = False) -> None:
        if self.fail and any(v is None for _, v in batch.ops):
            raise OSError("power lost")
        super().write(batch, sync)


def test_move_takes_every_sign_key_and_nothing_else() -> None:
    ledger, sign = MemoryStore(), MemoryStore()
    other = WriteBatch()
    other.put(b"b/0000000000000001", b"block")
    other.put(b"t/x", b"rec")
    ledger.write(other, sync=True)
    _signed(ledger, 7, [b"p1", b"p2"])
    before = load_sign_state(ledger)
    assert before[0] is not None and before[1] == [b"p1", b"p2"]
    assert move_sign_state(ledger, sign) == 3  # vote + two proposals
    assert load_sign_state(sign) == before
    assert load_sign_state(ledger) == (None, [])
    assert ledger.get(b"b/0000000000000001") == b"block" and ledger.get(b"t/x") == b"rec"
    # a second start finds nothing to move and keeps what was moved
    assert move_sign_state(ledger, sign) == 0
    assert load_sign_state(sign) == before


def test_a_crash_between_copy_and_delete_keeps_the_newer_state() -> None:
    ledger, sign = FailingStore(MemoryStore()), MemoryStore()
    _signed(ledger, 7, [b"old"])
    moved = load_sign_state(ledger)
    ledger.fail = True
    try:
        move_sign_state(ledger, sign)
    except OSError:
        pass
    else:
        raise AssertionError("the delete should have failed")
    sign = sign.crash(CrashMode.POWER)  # the copy was synced: it survives
    assert load_sign_state(sign) == moved
    # the restarted node signs on in its own store, then starts again: the ledger's
    # stale copy goes, the newer state stays
    _signed(sign, 8, [b"new"])
    newer = load_sign_state(sign)
    ledger.fail = False
    assert move_sign_state(ledger, sign) == 2
    assert load_sign_state(sign) == newer
    assert load_sign_state(ledger) == (None, [])


def test_nothing_to_move_writes_nothing() -> None:
    ledger, sign = MemoryStore(), MemoryStore()
    _signed(sign, 3, [b"x"])
    state = load_sign_state(sign)
    assert move_sign_state(ledger, sign) == 0
    assert load_sign_state(sign) == state
