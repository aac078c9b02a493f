"""The node's sign store: its own LevelDB beside the ledger's, and the move of a sign
state an older data dir kept in the ledger (real LevelDB in a temp dir)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node.app import StartupError, open_sign_store
from node.consensus.yac import PersistVote
from node.model import Round
from node.storage import LevelDBStore, WriteBatch
from node.sync.signstate import SIGN_PREFIX, VotedProposals, load_sign_state, save_sign_state


def _sign(store: LevelDBStore, height: int, proposal: bytes) -> None:
    batch = WriteBatch()
    save_sign_state(store, PersistVote(Round(height, 0), 1, b"p" * 32, b"b" * 32), batch)
    VotedProposals(store).save(height, proposal, 8, batch)
    store.write(batch, sync=True)


def test_a_data_dir_with_the_sign_state_in_the_ledger_moves_it_once(tmp_path: Path) -> None:
    ledger = LevelDBStore(str(tmp_path / "ledger"))
    keep = WriteBatch()
    keep.put(b"b/0000000000000001", b"block")
    ledger.write(keep, sync=True)
    _sign(ledger, 5, b"proposal-5")
    state = load_sign_state(ledger)
    assert state[0] is not None

    sign = open_sign_store(str(tmp_path), ledger)
    assert sign.path == os.path.join(str(tmp_path), "signstate")
    assert load_sign_state(sign) == state
    assert list(ledger.iterate(SIGN_PREFIX)) == []
    assert ledger.get(b"b/0000000000000001") == b"block"
    _sign(sign, 6, b"proposal-6")  # the node signs on in its own store
    newer = load_sign_state(sign)
    sign.close()

    # the next start: nothing left to move, the newer state is what it loads
    sign = open_sign_store(str(tmp_path), ledger)
    assert load_sign_state(sign) == newer
    assert newer[1] == [b"proposal-6"]
    sign.close()
    ledger.close()


def test_a_sign_store_in_use_is_a_startup_error(tmp_path: Path) -> None:
    ledger = LevelDBStore(str(tmp_path / "ledger"))
    first = open_sign_store(str(tmp_path), ledger)
    try:
        with pytest.raises(StartupError, match="signstate"):
            open_sign_store(str(tmp_path), ledger)
    finally:
        first.close()
        ledger.close()
