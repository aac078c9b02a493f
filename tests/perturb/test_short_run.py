"""The short manifest end to end: every perturbation kind once on a 4-validator devnet
under load, then agreement, acked, supply, liveness and log checks (about 60-90 s)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_manifest(
    manifest: str, tmp: Path, seed: int, timeout: float
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "devnet.perturb", "--manifest", manifest]
    cmd += ["--seed", str(seed), "--dir", str(tmp / "net")]
    env = {k: v for k, v in os.environ.items() if k != "BAKONG_CLOCK_SKEW_MS"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the runner stops its validators on SIGTERM
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if (tmp / "net" / "network.json").exists():  # whatever happened: no validator left
            subprocess.run(
                [sys.executable, "-m", "devnet", "down", "--dir", str(tmp / "net")],
                cwd=ROOT,
                capture_output=True,
                timeout=120,
            )
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def test_short_manifest_passes(tmp_path: Path) -> None:
    proc = run_manifest("devnet/manifests/short.toml", tmp_path, seed=1, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "PASSED" in out
    applied = re.search(r"^  perturbations \d+: (.*)$", out, re.M)
    assert applied is not None, out[-3000:]
    counts = {k: int(n) for k, n in (part.split() for part in applied.group(1).split(", "))}
    for kind in ("kill", "terminate", "pause", "disconnect", "wipe", "skew"):
        assert counts.get(kind, 0) >= 1, f"{kind} never applied:\n{out[-3000:]}"
    for check in ("agreement", "acked", "supply", "logs", "liveness"):
        assert f"check {check}:" in out


@pytest.mark.slow
def test_long_manifest_passes(tmp_path: Path) -> None:
    proc = run_manifest("devnet/manifests/long.toml", tmp_path, seed=20261126, timeout=3600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
