"""bakong-devnet usage errors get one clear line and exit 2 (issue #7)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.integration.devnet_support import devnet, free_base_port, running_devnet


def test_bad_usage_is_explained(tmp_path: Path) -> None:
    # not a devnet directory
    out = devnet("status", "--dir", str(tmp_path), check=False)
    assert out.returncode == 2 and "not a devnet directory" in out.stderr
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file").write_text("x")
    out = devnet("up", "--dir", str(tmp_path / "junk"), "--detach", check=False)
    assert out.returncode == 2 and "not empty" in out.stderr
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "network.json").write_text(json.dumps({"chain_id": "mainnet"}))
    out = devnet("status", "--dir", str(tmp_path / "other"), check=False)
    assert out.returncode == 2 and "does not describe a bakong devnet" in out.stderr
    # a port of the range in use
    base = free_base_port(1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", base + 100))
        s.listen()
        out = devnet(
            "up",
            "--dir",
            str(tmp_path / "n1"),
            "--validators",
            "1",
            "--base-port",
            str(base),
            "--port-wait",
            "0.5",
            "--detach",
            check=False,
        )
    assert out.returncode == 2 and f"port {base + 100}" in out.stderr and "in use" in out.stderr
    assert "waiting up to 0.5 s" in out.stderr
    assert "Traceback" not in out.stderr


def test_up_waits_for_a_port_held_for_a_moment(tmp_path: Path) -> None:
    """The default ports lie in the ephemeral range: another program's connection may hold
    one briefly. ``up`` waits for it instead of failing."""
    base = free_base_port(1)
    holder = socket.socket()
    holder.bind(("127.0.0.1", base))  # the validator's Torii port
    holder.listen()
    threading.Timer(1.5, holder.close).start()
    root = tmp_path / "n1"
    args = ["--validators", "1", "--base-port", str(base), "--port-wait", "20", "--detach"]
    try:
        out = devnet("up", "--dir", str(root), *args, check=False, timeout=120)
        assert out.returncode == 0, out.stderr
        assert f"port {base} (nbc torii) is in use; waiting up to 20 s" in out.stderr
        assert "1 validators up" in out.stdout
    finally:
        holder.close()
        devnet("down", "--dir", str(root), check=False)


def test_unknown_node_and_status_json(tmp_path: Path) -> None:
    with running_devnet(tmp_path, 1) as doc:
        out = devnet("kill", "bank9", "--dir", doc["dir"], check=False)
        assert out.returncode == 2 and "unknown validator 'bank9'" in out.stderr
        assert "0=nbc" in out.stderr
        rows = json.loads(devnet("status", "--dir", doc["dir"], "--json").stdout)["validators"]
        assert rows[0]["name"] == "nbc" and rows[0]["state"] == "alive"
        assert rows[0]["height"] >= 1
        out = devnet("demo", "--dir", doc["dir"], "--count", "2", timeout=120)
        assert "demo done" in out.stdout and out.stdout.count("COMMITTED") >= 4


def test_a_validator_that_died_says_how(tmp_path: Path) -> None:
    """A validator that dies before it logs anything: the devnet still says how it ended."""
    from devnet import procs

    def ended(code: str) -> str | None:
        with open(os.devnull, "wb") as sink:
            p = subprocess.Popen([sys.executable, "-c", code], stdout=sink, stderr=sink)
        procs._children[tmp_path.resolve()] = p  # as procs.start registers a validator
        deadline = time.monotonic() + 10
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return procs.exit_reason(tmp_path)

    assert ended("import sys; sys.exit(3)") == "exit code 3"
    assert ended("import os, signal; os.kill(os.getpid(), signal.SIGKILL)") == "killed by SIGKILL"
    assert procs.exit_reason(tmp_path / "other") is None  # not one it started
