"""The pure cores (consensus, ordering, validation, state execution, model) and the
simulation loop never reach trio, sockets, the clock, the
global random or OS entropy (DESIGN rule 1); only ``random.Random`` instances are used."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3] / "node"
PURE = [
    *sorted((ROOT / "consensus").glob("*.py")),
    *sorted((ROOT / "ordering").glob("*.py")),
    *sorted((ROOT / "validation").glob("*.py")),
    *sorted((ROOT / "state").glob("*.py")),
    *sorted((ROOT / "model").glob("*.py")),
    ROOT / "sim" / "cluster.py",
    ROOT / "sim" / "bank.py",
    ROOT / "sim" / "twins.py",
    ROOT / "sync" / "signstate.py",
]
BANNED_MODULES = {"trio", "socket", "time", "datetime", "uuid", "secrets", "asyncio", "os"}


@pytest.mark.parametrize("path", PURE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in BANNED_MODULES, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] not in BANNED_MODULES, node.module
            if node.module == "random":
                assert [a.name for a in node.names] == ["Random"], "only random.Random"
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "random"
        ):
            assert node.attr == "Random", f"global random.{node.attr} in {path.name}"


def test_the_scan_sees_the_packages() -> None:
    assert len(PURE) >= 10 and all(p.exists() for p in PURE)
