from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.state import Ledger
from node.storage import LevelDBStore
from tests.unit.state.support import new_ledger


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LevelDBStore]:
    s = LevelDBStore(str(tmp_path / "ledger"))
    yield s
    s.close()


@pytest.fixture
def ledger(store: LevelDBStore) -> Ledger:
    return new_ledger(store)
