"""Process supervision of devnet validators through pid files and signals.

Each validator's process is started in its own session (so Ctrl-C in the devnet's
terminal does not reach it directly), its output goes to ``DIR/<name>/node.log``,
and its pid to ``DIR/<name>/node.pid``. State is read from ``/proc``: a stopped
(SIGSTOP) process shows state ``T``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def pid_file(node_dir: Path) -> Path:
    return node_dir / "node.pid"


def log_file(node_dir: Path) -> Path:
    return node_dir / "node.log"


def read_pid(node_dir: Path) -> int | None:
    try:
        return int(pid_file(node_dir).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def proc_state(pid: int) -> str | None:
    """Linux process state letter (R, S, D, T, Z, ...) or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name may contain spaces and parentheses: the state follows the last ')'
    return stat.rsplit(")", 1)[1].split()[0]


def node_state(node_dir: Path) -> tuple[str, int | None]:
    """('alive' | 'paused' | 'dead', pid)."""
    pid = read_pid(node_dir)
    if pid is None:
        return "dead", None
    st = proc_state(pid)
    if st is None or st in ("Z", "X"):
        if st == "Z":
            _reap(pid)
        return "dead", pid
    if st in ("T", "t"):
        return "paused", pid
    if not _is_our_node(pid, node_dir):
        return "dead", pid  # a recycled pid belongs to someone else
    return "alive", pid


def _is_our_node(pid: int, node_dir: Path) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().split(b"\0")
    except OSError:
        return False
    return any(str(node_dir).encode() in part for part in cmd)


# The latest process this one started for each validator (by node dir): how it ended
# stays readable (one that dies before it logs anything leaves only that), and nothing
# else reaps it first. A restart replaces the entry, so this holds one per validator.
_children: dict[Path, subprocess.Popen[bytes]] = {}


def _reap(pid: int) -> None:
    for child in _children.values():
        if child.pid == pid:
            child.poll()
            return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def exit_reason(node_dir: Path) -> str | None:
    """How the validator process this one last started in ``node_dir`` ended ("exit code
    1", "killed by SIGKILL"), or None: still running, or started by another process."""
    child = _children.get(node_dir.resolve())
    code = None if child is None else child.poll()
    if code is None:
        return None
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def start(node_dir: Path, config: Path, python: str | None = None) -> int:
    """Start ``bakong-node run`` for one validator; return its pid."""
    state, pid = node_state(node_dir)
    if state != "dead" and pid is not None:
        return pid
    log = open(log_file(node_dir), "ab")  # noqa: SIM115 - handed to the child
    exe = python or sys.executable
    proc = subprocess.Popen(
        [exe, "-m", "node.cli", "run", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(node_dir),
    )
    log.close()
    _children[node_dir.resolve()] = proc
    pid_file(node_dir).write_text(f"{proc.pid}\n")
    return proc.pid


def send(node_dir: Path, sig: signal.Signals) -> int | None:
    """Send a signal to a validator; return its pid, or None if it is not running."""
    state, pid = node_state(node_dir)
    if pid is None or state == "dead":
        return None
    if sig in (signal.SIGTERM, signal.SIGKILL) and state == "paused":
        os.kill(pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
    os.kill(pid, sig)
    return pid


def wait_dead(node_dir: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node_state(node_dir)[0] == "dead":
            return True
        time.sleep(0.05)
    return node_state(node_dir)[0] == "dead"


def stop(node_dir: Path, timeout: float = 10.0) -> bool:
    """SIGTERM, wait for a graceful exit, SIGKILL after ``timeout``. True if it is gone."""
    if send(node_dir, signal.SIGTERM) is None:
        return True
    if wait_dead(node_dir, timeout):
        return True
    send(node_dir, signal.SIGKILL)
    return wait_dead(node_dir, 5.0)
