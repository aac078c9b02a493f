"""``bakong-node`` keygen/init/run: outputs, clear errors, exit codes (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devnet.network import generate
from node.crypto import KeyScheme

ROOT = Path(__file__).resolve().parents[3]


def node_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_keygen_both_schemes(tmp_path: Path) -> None:
    out = node_cli("keygen", "--scheme", "ed25519")
    assert out.returncode == 0
    doc = json.loads(out.stdout)
    assert doc["public_key"].startswith("ed0120") and len(doc["private_key"]) == 64
    key = tmp_path / "k.json"
    out = node_cli("keygen", "--scheme", "ed25519-sha3", "--out", str(key))
    assert out.returncode == 0 and len(out.stdout.strip()) == 64
    assert os.stat(key).st_mode & 0o777 == 0o600
    again = node_cli("keygen", "--out", str(key))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr


def test_run_errors_are_one_line(tmp_path: Path) -> None:
    out = node_cli("run", "--config", str(tmp_path / "missing.toml"))
    assert out.returncode == 2 and "no such file" in out.stderr
    assert "Traceback" not in out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[node]\nchain_id='x'\n")
    out = node_cli("run", "--config", str(bad))
    assert out.returncode == 2 and "missing required key 'data_dir'" in out.stderr


def test_init_then_run_rejects_foreign_data_dir(tmp_path: Path) -> None:
    net = generate(tmp_path / "net", 1, 16100, KeyScheme.ED25519)
    cfg = net["validators"][0]["config"]
    other = generate(tmp_path / "other", 1, 16200, KeyScheme.ED25519)
    # run node A once to create its ledger, then point node B's genesis at A's data dir
    genesis_b = tmp_path / "other" / "genesis.json"
    text = Path(cfg).read_text().replace(str(tmp_path / "net" / "genesis.json"), str(genesis_b))
    foreign = tmp_path / "foreign.toml"
    foreign.write_text(text)
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "run", "--config", cfg],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "node_started" in line:
                break
        # a second process on the same data dir is refused (LevelDB lock)
        dup = node_cli("run", "--config", cfg)
        assert dup.returncode == 2 and "in use by another bakong-node process" in dup.stderr
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0, "SIGTERM must stop the node cleanly"
    out = node_cli("run", "--config", str(foreign))
    assert out.returncode == 2 and "holds another chain" in out.stderr
    assert other["chain_id"] != net["chain_id"]


def test_init_writes_config(tmp_path: Path) -> None:
    gen = tmp_path / "g.json"
    gen.write_text("{}")
    out = node_cli(
        "init",
        "--dir",
        str(tmp_path / "n"),
        "--chain-id",
        "c1",
        "--genesis",
        str(gen),
        "--peer",
        "127.0.0.1:10002",
    )
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "n" / "node.toml").read_text()
    assert 'chain_id = "c1"' in text and '"127.0.0.1:10002"' in text
    assert (tmp_path / "n" / "node.key").exists()
    again = node_cli(
        "init", "--dir", str(tmp_path / "n"), "--chain-id", "c1", "--genesis", str(gen)
    )
    assert again.returncode == 2 and "exists" in again.stderr


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    net = generate(tmp_path / "net", 1, 23800, KeyScheme.ED25519)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 23900))  # the p2p port
        s.listen()
        out = node_cli("run", "--config", net["validators"][0]["config"])
    assert out.returncode == 2, out.stderr
    assert "cannot listen on" in out.stderr and "Address already in use" in out.stderr
    assert "Traceback" not in out.stderr
