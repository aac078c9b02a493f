"""node.payments is a pure core: no trio, no sockets, no clock, no global randomness."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "node" / "payments"
FORBIDDEN_MODULES = {"trio", "socket", "ssl", "asyncio", "time", "random", "datetime", "os"}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_payments_imports_nothing_impure() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert sources
    for source in sources:
        bad = imported_modules(source) & FORBIDDEN_MODULES
        assert not bad, f"{source.name} imports {sorted(bad)}"


def test_the_check_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import time\nfrom trio import sleep\n")
    assert imported_modules(sample) & FORBIDDEN_MODULES == {"time", "trio"}
