"""The lock the test workers share for one-time installs (tests/support/locks.py): a second
process waits until the first has finished its set-up."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.support.locks import exclusive

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from pathlib import Path
from tests.support.locks import exclusive
lock, log = Path(sys.argv[1]), Path(sys.argv[2])
with exclusive(lock):
    with log.open("a") as f:
        f.write("first in\\n")
    time.sleep(1.0)
    with log.open("a") as f:
        f.write("first out\\n")
"""


def test_a_second_process_waits_for_the_first(tmp_path: Path) -> None:
    lock, log = tmp_path / "sub" / "setup.lock", tmp_path / "log"
    log.touch()
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(log)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while "first in" not in log.read_text():
            assert time.monotonic() < deadline and child.poll() is None, "holder never locked"
            time.sleep(0.01)
        with exclusive(lock), log.open("a") as f:
            f.write("second in\n")
    finally:
        assert child.wait(timeout=30) == 0
    assert log.read_text().splitlines() == ["first in", "first out", "second in"]
