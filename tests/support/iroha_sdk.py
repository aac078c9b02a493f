"""The official Iroha Python SDK (``iroha==1.6.0.2``) in a venv of its own.

The SDK pins ``protobuf<=3.20.1``, which cannot live beside our protobuf, so tests
run SDK code as a subprocess of ``.venv-iroha-sdk/bin/python``. The venv is created
on first use (pip, no network beyond the package index) and reused afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.locks import exclusive

ROOT = Path(__file__).resolve().parents[2]
SDK_VENV = Path(os.environ.get("BAKONG_IROHA_SDK_VENV", ROOT / ".venv-iroha-sdk"))
SDK_PY = SDK_VENV / "bin" / "python"
_STAMP = SDK_VENV / ".installed-1.6.0.2"


def ensure_sdk() -> Path:
    """Create the SDK venv when missing; return its python."""
    if _STAMP.exists():
        return SDK_PY
    # `make test` runs two pytest workers: one creates the venv, the other waits for it
    with exclusive(SDK_VENV.with_name(SDK_VENV.name + ".lock")):
        if _STAMP.exists():
            return SDK_PY
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(SDK_VENV)], check=True)
        pip = [str(SDK_PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        # --no-deps: the SDK's own metadata drags in grpcio-tools; it needs only these.
        subprocess.run([*pip, "--no-deps", "iroha==1.6.0.2"], check=True)
        subprocess.run([*pip, "protobuf==3.20.1", "grpcio", "pynacl"], check=True)
        _STAMP.touch()
    return SDK_PY


def run_sdk(script: str, *args: str, timeout: float = 120) -> Any:
    """Run ``script`` with the SDK's python; it must print one JSON document."""
    py = ensure_sdk()
    proc = subprocess.run(
        [str(py), "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"SDK script failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)
