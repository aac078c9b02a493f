"""The native build's guard (node/native.py): a build that does not match the sources
never runs. Each case imports a copy of the ``node`` package in a fresh interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from node import native

SUFFIX = native.SUFFIX
PROBE = (
    "import node.native as n, node.state.wsv as w, node.state.ledger as l; "
    "print(n.mode()); print(w.__file__); print(l.__file__)"
)


def copy_of_node(tmp_path: Path) -> Path:
    shutil.copytree(
        native.ROOT / "node", tmp_path / "node", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def child_env(root: Path) -> dict[str, str]:
    """This process's environment for a child importing ``node`` from ``root``, without
    ``BAKONG_PURE`` (set when ``make test-long`` runs the suite as plain Python)."""
    environ = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    return {**environ, "PYTHONPATH": str(root)}


def python_in(
    root: Path, *args: str, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python args...`` importing ``node`` from ``root``, output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=root,
        env={**child_env(root), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_child(root: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` importing ``node`` from ``root``, output captured."""
    return python_in(root, "-c", code, **env)


def probe(root: Path, **env: str) -> tuple[str, str, str, str]:
    """(mode, wsv's file, ledger's file, stderr) of a fresh import from ``root``."""
    proc = run_child(root, PROBE, **env)
    assert proc.returncode == 0, proc.stderr
    mode, wsv, ledger = proc.stdout.splitlines()
    return mode, wsv, ledger, proc.stderr


def test_the_module_list_holds_only_plain_synchronous_modules() -> None:
    for m in native.MODULES:
        src = native.source(m)
        assert src.is_file() and src.name != "__init__.py", m
        text = src.read_text()
        assert "async def" not in text and "import trio" not in text, m
    assert len(set(native.MODULES)) == len(native.MODULES)


def test_a_stale_or_refused_build_is_never_loaded(tmp_path: Path) -> None:
    root = copy_of_node(tmp_path)
    # Not a loadable extension: importing it would fail, so each import below shows the
    # guard routed the module to its source.
    bogus = native.extension("node.state.wsv").relative_to(native.ROOT)
    (root / bogus).write_bytes(b"not a shared object")
    (root / native.MANIFEST.relative_to(native.ROOT)).write_text('{"python": "0", "sources": {}}')
    mode, wsv, ledger, err = probe(root)
    assert mode.startswith("pure (stale build: built for Python 0")
    assert wsv.endswith("wsv.py") and ledger.endswith("ledger.py")
    assert "compiled modules not used" in err
    mode, wsv, _, err = probe(root, BAKONG_PURE="1")
    assert mode == "pure (BAKONG_PURE=1)" and wsv.endswith("wsv.py") and err == ""


def test_an_extension_left_for_an_unlisted_module_is_not_loaded(tmp_path: Path) -> None:
    root = copy_of_node(tmp_path)
    for so in list((root / "node").rglob(f"*{SUFFIX}")):
        so.unlink()
    assert "node.runtime.clock" not in native.MODULES
    bogus = native.extension("node.runtime.clock").relative_to(native.ROOT)
    (root / bogus).write_bytes(b"not a shared object")
    proc = run_child(root, "import node.runtime.clock as c, node.native as n; print(c.__file__)")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("clock.py"), proc.stderr
    assert "compiled modules not used" in proc.stderr


def test_no_build_means_plain_python_quietly(tmp_path: Path) -> None:
    root = copy_of_node(tmp_path)
    for so in list((root / "node").rglob(f"*{SUFFIX}")):
        so.unlink()
    mode, wsv, _, err = probe(root)
    assert (mode, err) == ("pure", "") and wsv.endswith("wsv.py")


@pytest.mark.skipif(
    not (native.built() and native.stale_reason() is None),
    reason="no current native build here (`make native`; it needs a C compiler)",
)
def test_a_current_build_runs_and_an_edit_turns_it_off(tmp_path: Path) -> None:
    root = copy_of_node(tmp_path)
    mode, wsv, ledger, err = probe(root)
    assert mode == "native" and err == ""
    assert wsv.endswith(SUFFIX) and ledger.endswith(SUFFIX)
    # One changed source turns off every compiled module: they call each other directly.
    amount = root / "node" / "state" / "amount.py"
    amount.write_text(amount.read_text() + "\n# edited after the build\n")
    mode, wsv, ledger, err = probe(root)
    assert mode.startswith("pure (stale build: node/state/amount.py changed")
    assert wsv.endswith("wsv.py") and ledger.endswith("ledger.py")
    assert "node/state/amount.py changed since the build" in err


def legacy_equation_loaded(root: Path) -> tuple[bool, str]:
    """(whether the compiled SHA3-key equation loaded, stderr) in a fresh import."""
    proc = run_child(root, "import node.crypto.ed25519_sha3 as e; print(e._equation)")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip() != "None", proc.stderr


@pytest.mark.skipif(
    not (native.built() and native.stale_reason() is None),
    reason="no current native build here (`make native`; it needs a C compiler)",
)
def test_the_c_extension_loads_with_a_current_build_only(tmp_path: Path) -> None:
    root = copy_of_node(tmp_path)
    assert legacy_equation_loaded(root) == (True, "")
    # An edited C source makes the whole build stale, the extension with it.
    c_file = root / "node" / "crypto" / "donna" / "_donna.c"
    c_file.write_text(c_file.read_text() + "\n/* edited after the build */\n")
    loaded, err = legacy_equation_loaded(root)
    assert not loaded and "node/crypto/donna/ changed since the build" in err
    mode, wsv, _, _ = probe(root)
    assert mode.startswith("pure (stale build: node/crypto/donna/ changed")
    assert wsv.endswith("wsv.py")


def test_the_c_extension_is_refused_in_plain_python_mode(tmp_path: Path) -> None:
    root = copy_of_node(tmp_path)
    proc = run_child(root, "import node.crypto._donna", **{native.PURE_ENV: "1"})
    assert proc.returncode != 0 and "compiled modules are off" in proc.stderr


def native_build(root: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``bakong-node native build --force [flags]`` on the copy of ``node`` at ``root``."""
    return python_in(
        root, "-m", "node.cli", "native", "build", "--force", *flags, timeout=300, **env
    )


@pytest.mark.skipif(not native.can_build(), reason="no C compiler or no mypyc here")
def test_a_failed_build_is_an_error_only_when_required(tmp_path: Path) -> None:
    root = copy_of_node(tmp_path)
    broken = root / "node" / "consensus" / "yac.py"
    broken.write_text(broken.read_text() + "\ndef broken(:\n")
    proc = native_build(root, "--require")  # as `make test` runs it
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "native build: failed" in proc.stdout and "required (--require)" in proc.stderr
    proc = native_build(root)  # as `make devnet` runs it: the node falls back to Python
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "native build: failed" in proc.stdout


def test_without_a_compiler_the_build_is_skipped_even_when_required(tmp_path: Path) -> None:
    root = copy_of_node(tmp_path)
    before = sorted(p.name for p in root.rglob(f"*{SUFFIX}"))
    proc = native_build(root, "--require", CC=str(tmp_path / "no-such-cc"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipped, no C compiler" in proc.stdout
    # skipped before anything was cleaned: a build already there stays
    assert sorted(p.name for p in root.rglob(f"*{SUFFIX}")) == before
