"""Regenerate the committed protobuf modules in ``node/proto`` from ``proto/``.

Run ``python -m node.proto.generate`` (or ``make proto``) after editing a ``.proto``
file, then commit the result. ``tests/unit/test_proto_generated.py`` runs the same
generation into a temp dir and fails if the committed modules differ.

protoc writes absolute imports (``from iroha import primitive_pb2``); they are
rewritten to package-relative ones (``from node.proto.iroha import ...``) so the
generated code lives inside the ``node`` package.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "node" / "proto"
PACKAGES = ("iroha", "peer")

_IMPORT_RE = re.compile(r"^from (iroha|peer) import (\w+_pb2)", re.MULTILINE)


def proto_files() -> list[str]:
    return sorted(
        str(p.relative_to(PROTO_DIR)) for pkg in PACKAGES for p in (PROTO_DIR / pkg).glob("*.proto")
    )


def generate(out_dir: Path) -> list[Path]:
    """Generate *_pb2.py and *_pb2.pyi for every proto into ``out_dir``; return the files."""
    import grpc_tools
    from grpc_tools import protoc

    include = str(Path(grpc_tools.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *proto_files(),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed: " + " ".join(args))
    written: list[Path] = []
    for pkg in PACKAGES:
        (out_dir / pkg).mkdir(exist_ok=True)
        init = out_dir / pkg / "__init__.py"
        init.write_text(f'"""Generated protobuf modules for proto/{pkg} (do not edit)."""\n')
        written.append(init)
        for f in sorted((out_dir / pkg).glob("*_pb2.py*")):
            text = f.read_text()
            f.write_text(_IMPORT_RE.sub(r"from node.proto.\1 import \2", text))
            written.append(f)
    return written


def main() -> int:
    files = generate(OUT_DIR)
    for f in files:
        print(f.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
