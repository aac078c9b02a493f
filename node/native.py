"""The native build: which modules mypyc compiles to C, the build, and the stale-build guard.

mypyc (part of mypy, which already checks these modules under ``--strict``) compiles typed
Python to C extensions. The per-transaction paths (stateless checks, execution, the
world-state view, storage, the consensus and ordering cores) then spend less time in the
interpreter; the README gives the measured gain. ``make native`` builds, and every make
target that runs the node or its tests builds first; without a C compiler the node runs
as plain Python, which is always correct, only slower.

The same build compiles the C extensions in ``C_EXTENSIONS`` (vendored C code: the
Ed25519 verification equation); their importers fall back to a pure path, and the guard
below refuses them whenever it refuses the rest.

The extensions sit next to their sources (``node/state/wsv.cpython-311-*.so``), and
Python prefers them to the ``.py``. Compiled modules call each other directly, not
through the import system, so a build is all or nothing: :func:`activate` (run by
``node/__init__``) loads every listed module from source when any source differs from
what was compiled (an edit or a checkout since the build), and says so once on stderr.
``BAKONG_PURE=1`` loads them from source on purpose.

    bakong-node native build [--require] | status | clean

``--require`` (``make test``) makes a failed build an error where the machine could build:
the fallback to plain Python is for machines without a compiler, not for a broken build.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import os
import shutil
import sys
import sysconfig
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
# Pure, typed modules on the per-transaction path. Left out: anything with async code
# (trio drives it); node/crypto/keys.py, whose verify takes any junk by contract, which
# compiled argument checks would turn into TypeErrors; node/consensus/pipeline.py (its
# generic frozen dataclasses fail to load compiled); package __init__ files (so the
# guard routes plain modules only).
MODULES: tuple[str, ...] = (
    "node.config",
    "node.model.block",
    "node.model.round",
    "node.model.tx",
    "node.validation.stateless",
    "node.state.amount",
    "node.state.commands",
    "node.state.execute",
    "node.state.genesis",
    "node.state.keys",
    "node.state.ledger",
    "node.state.permissions",
    "node.state.queries",
    "node.state.records",
    "node.state.settings",
    "node.state.wsv",
    "node.storage.cache",
    "node.storage.kv",
    "node.storage.leveldb",
    "node.storage.memory",
    "node.ordering.cache",
    "node.ordering.service",
    "node.consensus.codec",
    "node.consensus.supermajority",
    "node.consensus.vote",
    "node.consensus.yac",
    "node.runtime.admission",
    "node.runtime.chain",
    "node.runtime.codec",
    "node.net.framing",
    "node.sync.certificate",
    "node.sync.signstate",
)
# Plain C extensions built beside them: module -> its source folder (every .c and .h file
# in it counts as its source). node.crypto._donna: the Ed25519 verification equation
# (node/crypto/equation.py); outside the "native" mode its import is refused.
C_EXTENSIONS: dict[str, str] = {"node.crypto._donna": "node/crypto/donna"}
GROUP = "node._native"  # the shared library every compiled module loads
MANIFEST = ROOT / "node" / "_native.json"  # source digests the build was made from
PURE_ENV = "BAKONG_PURE"
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"

_state: dict[str, str] = {"mode": "unknown"}


def source(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def extension(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_name(module.rsplit(".", 1)[1] + SUFFIX)


def c_sources(module: str) -> list[Path]:
    folder = ROOT / C_EXTENSIONS[module]
    return sorted(p for p in folder.iterdir() if p.suffix in (".c", ".h"))


def _label(module: str) -> str:
    """The source a module is built from, as messages name it."""
    if module in C_EXTENSIONS:
        return C_EXTENSIONS[module] + "/"
    return str(source(module).relative_to(ROOT))


def digests() -> dict[str, str]:
    out = {m: hashlib.sha256(source(m).read_bytes()).hexdigest() for m in MODULES}
    for m in C_EXTENSIONS:
        h = hashlib.sha256()
        for path in c_sources(m):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
        out[m] = h.hexdigest()
    return out


def built() -> bool:
    """Some compiled extension is on disk (current or not, listed or not)."""
    return bool(_on_disk())


def stale_reason(on_disk: list[str] | None = None) -> str | None:
    """Why the build on disk must not run, or None when it matches the sources.
    ``on_disk``: :func:`_on_disk`, when the caller has it already."""
    try:
        recorded = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return "no build manifest"
    if recorded.get("python") != sys.version.split()[0]:
        return f"built for Python {recorded.get('python')}"
    unlisted = sorted(set(_on_disk() if on_disk is None else on_disk) - set(MODULES))
    if unlisted:
        return f"{unlisted[0]} is compiled but no longer listed"
    want = recorded.get("sources", {})
    for m, digest in digests().items():
        if want.get(m) != digest:
            return f"{_label(m)} changed since the build"
        if not extension(m).exists():
            return f"{extension(m).name} is missing"
    return None


def _on_disk() -> list[str]:
    """Modules of the node package with an extension beside their source."""
    out = []
    for ext in (ROOT / "node").rglob(f"*{SUFFIX}"):
        src = ext.with_name(ext.name[: -len(SUFFIX)] + ".py")
        if src.exists():
            out.append(".".join(src.relative_to(ROOT).with_suffix("").parts))
    return out


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Loads compiled modules from their .py files, past the extensions beside them, and
    refuses the C extensions, which have no source to fall back to (their importers
    catch the ImportError and take their pure path)."""

    def __init__(self, names: set[str], why: str) -> None:
        self.names = names
        self.why = why

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in C_EXTENSIONS:
            raise ImportError(f"{fullname}: compiled modules are off ({self.why})", name=fullname)
        if fullname not in self.names:
            return None
        return importlib.util.spec_from_file_location(fullname, source(fullname))


def activate() -> str:
    """Decide once per process whether the compiled modules may load; returns the mode:
    "native", "pure" (no build, or BAKONG_PURE=1) or "pure (stale build: ...)"."""
    if _state["mode"] != "unknown":
        return _state["mode"]
    on_disk = _on_disk()
    if not on_disk:
        mode = "pure"
    elif os.environ.get(PURE_ENV, "") not in ("", "0"):
        mode = f"pure ({PURE_ENV}=1)"
    else:
        why = stale_reason(on_disk)
        mode = "native" if why is None else f"pure (stale build: {why}; run `make native`)"
        if why is not None:
            print(f"bakong-node: compiled modules not used: {why}", file=sys.stderr)
    if mode != "native":
        names = set(MODULES) | set(on_disk)
        loaded = [m for m in names | set(C_EXTENSIONS) if m in sys.modules]
        if loaded:  # too late to choose; only a bug in import order gets here
            raise ImportError(f"compiled modules imported before the build check: {loaded}")
        sys.meta_path.insert(0, _SourceFirst(names if on_disk else set(), mode))
    _state["mode"] = mode
    return mode


def mode() -> str:
    return _state["mode"]


# --- building ---------------------------------------------------------------------------


def clean() -> int:
    removed = 0
    for m in _on_disk():  # listed or not: an extension left behind would still load
        extension(m).unlink()
        removed += 1
    for lib in (ROOT / "node").glob("_native__mypyc*"):
        lib.unlink()
        removed += 1
    for m in C_EXTENSIONS:
        if extension(m).exists():
            extension(m).unlink()
            removed += 1
    MANIFEST.unlink(missing_ok=True)
    return removed


def compiler() -> str | None:
    """The C compiler the build would run (``$CC``, else the one Python was built with),
    when it is on this machine."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shutil.which(cc.split()[0])


def can_build() -> bool:
    """This machine has what the build needs: mypyc and a C compiler."""
    return importlib.util.find_spec("mypyc") is not None and compiler() is not None


def build(force: bool = False) -> bool:
    """Compile MODULES in place; True when a current build is on disk afterwards."""
    if not force and built() and stale_reason() is None:
        print("native build: up to date")
        return True
    try:
        from mypyc.build import mypycify
        from setuptools import Distribution, Extension  # type: ignore[import-untyped]
    except ImportError as e:
        print(f"native build: skipped, {e.name} is not installed; running as plain Python")
        return False
    if compiler() is None:
        print("native build: skipped, no C compiler on this machine; running as plain Python")
        return False
    clean()
    started = time.monotonic()
    print(
        f"native build: compiling {len(MODULES)} modules with mypyc and "
        f"{len(C_EXTENSIONS)} C extension (about a minute)..."
    )
    sys.stdout.flush()
    cwd = os.getcwd()
    os.chdir(ROOT)  # mypyc names modules by their path from here
    try:
        config = ROOT / "build" / "native" / "mypy.ini"  # build/ is git-ignored
        config.parent.mkdir(parents=True, exist_ok=True)
        # The project's mypy settings warn on unused sections, which mypyc treats as errors.
        # A cache of its own: `make test` type-checks (mypy, other options) while this runs.
        config.write_text(
            "[mypy]\npython_version = 3.11\nignore_missing_imports = True\n"
            f"cache_dir = {config.parent / 'mypy-cache'}\n"
            "[mypy-node.proto.*]\nignore_errors = True\n"
        )
        paths = [str(source(m).relative_to(ROOT)) for m in MODULES]
        notes = io.StringIO()  # mypyc's notes (shown only if it fails)
        try:
            with contextlib.redirect_stdout(notes):
                # One C file per module, so the compiler runs on every core (the single
                # file took 90 s on one). Measured: no runtime cost beyond the noise.
                exts = mypycify(
                    ["--config-file", str(config), *paths],
                    opt_level="3",
                    group_name=GROUP,
                    multi_file=True,
                )
        except (Exception, SystemExit):
            print(notes.getvalue(), end="")
            raise
        # mypyc writes the group's headers under build/node/ but its module files in
        # build/, which include them by bare name.
        for ext in exts:
            ext.include_dirs.append(str(Path("build", *GROUP.split(".")[:-1])))
        for m, folder in C_EXTENSIONS.items():
            exts.append(
                Extension(
                    m,
                    sources=[str(p.relative_to(ROOT)) for p in c_sources(m) if p.suffix == ".c"],
                    include_dirs=[folder],
                    # vendored headers define more than the module uses
                    extra_compile_args=["-O3", "-Wno-unused-function"],
                )
            )
        dist = Distribution({"name": "bakong-node-native", "ext_modules": exts})
        dist.cmdclass["build_ext"] = _build_ext_side_by_side()
        cmd = dist.get_command_obj("build_ext")
        cmd.inplace = True
        cmd.build_temp = str(config.parent / "temp")
        cmd.ensure_finalized()
        cmd.run()
    except (Exception, SystemExit) as e:  # a compiler error must not stop the node
        clean()
        print(f"native build: failed ({e!r}); running as plain Python")
        return False
    finally:
        os.chdir(cwd)
    MANIFEST.write_text(
        json.dumps({"python": sys.version.split()[0], "sources": digests()}, indent=1) + "\n"
    )
    print(f"native build: done in {time.monotonic() - started:.0f} s")
    return True


def _build_ext_side_by_side() -> type:
    """setuptools' build_ext, compiling an extension's C files side by side, one compiler
    per core (setuptools compiles them one after another)."""
    from setuptools.command.build_ext import build_ext  # type: ignore[import-untyped]

    class BuildExt(build_ext):  # type: ignore[misc]
        def build_extensions(self) -> None:
            serial = self.compiler.compile

            def compile(sources: list[str], *args: object, **kwargs: object) -> list[str]:
                def one(src: str) -> list[str]:
                    objects: list[str] = serial([src], *args, **kwargs)
                    return objects

                with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
                    return [obj for objs in pool.map(one, sources) for obj in objs]

            self.compiler.compile = compile
            super().build_extensions()

    return BuildExt
