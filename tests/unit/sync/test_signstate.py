"""Voted proposals at rest: what survives a save, a batch of saves and a restart."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from node.storage import KVStore, LevelDBStore, WriteBatch
from node.sync.signstate import VotedProposals, load_sign_state

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
