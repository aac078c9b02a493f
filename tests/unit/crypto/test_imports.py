"""node.crypto imports nothing else from node (every package may depend on it)."""

from __future__ import annotations

import ast
from pathlib import Path

import node.crypto

PACKAGE = Path(node.crypto.__file__).parent


def test_crypto_imports_only_itself_from_node() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 4
    for path in files:
        for tree_node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(tree_node, ast.ImportFrom):
                names = [tree_node.module or ""]
                assert tree_node.level == 0, f"{path.name}: relative import"
            elif isinstance(tree_node, ast.Import):
                names = [alias.name for alias in tree_node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top != "node" or name.startswith("node.crypto"), f"{path.name}: {name}"
                assert top not in {"trio", "socket"}, f"{path.name}: {name}"
