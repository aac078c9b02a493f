"""SIGKILL a committing process at random moments; nothing acknowledged is ever lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.model import block_hash
from node.state import Ledger
from node.state import keys as K
from node.storage import LevelDBStore

ROOT = Path(__file__).resolve().parents[3]


def run_kills(tmp_path: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    path = str(tmp_path / "db")
    acked: dict[int, str] = {}
    last_height = 0
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.unit.state.crash_child", path],
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            text=True,
        )
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("ready"), ready
        assert int(ready.split()[1]) >= last_height
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for line in proc.stdout.read().splitlines():
            height, top = line.split()
            acked[int(height)] = top
        proc.stdout.close()
        store = LevelDBStore(path)
        try:
            ledger = Ledger.open(store)
            # top height never decreases; everything acknowledged is there, unchanged
            assert ledger.height >= last_height
            assert ledger.height >= max(acked, default=0)
            for height, top in acked.items():
                stored = ledger.get_block(height)
                assert stored is not None and block_hash(stored[0].block_v1).hex() == top
            # block store and state agree: the marker names the last stored block
            last_block = next(store.iterate(K.BLOCK, reverse=True))[0]
            assert int(last_block[len(K.BLOCK) :]) == ledger.height
            view = ledger.view()
            assert view.detail("alice@aclb", "alice@aclb", "h") == (
                str(ledger.height) if ledger.height > 1 else None
            )
            last_height = ledger.height
        finally:
            store.close()
    assert last_height > 1  # the child did commit blocks


def test_sigkill_during_commits(tmp_path: Path) -> None:
    run_kills(tmp_path, kills=10, seed=1)


@pytest.mark.slow
def test_sigkill_during_commits_long(tmp_path: Path) -> None:
    run_kills(tmp_path, kills=60, seed=2)
