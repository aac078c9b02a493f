"""Pinned seeds and Twins scenarios from ``regressions.toml`` (reliability plan 8.6).

Each case runs on every ``make test``; ``expect = "fail"`` cases are negative controls
that must still be caught with the named first invariant.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from node.consensus.supermajority import QuorumRule
from node.sim.cluster import SimConfig, SimResult, run_seed
from node.sim.runner import apply_mutant, describe, replay_command
from node.sim.twins import twins_config
from node.storage.memory import CrashMode

FILE = Path(__file__).with_name("regressions.toml")
CASES: dict[str, list[dict[str, Any]]] = tomllib.loads(FILE.read_text())
KEYS = {
    "seed": {
        "seed",
        "validators",
        "byzantine",
        "steps",
        "behaviour",
        "crypto",
        "mutant",
        "crash_modes",
        "failpoint",
        "expect",
        "invariant",
        "note",
    },
    "twins": {
        "seed",
        "validators",
        "twins",
        "schedule",
        "quorum_rule",
        "expect",
        "invariant",
        "note",
    },
}


def seed_config(case: dict[str, Any]) -> SimConfig:
    config = SimConfig(
        validators=case["validators"],
        byzantine=case["byzantine"],
        steps=case["steps"],
        behaviour=case.get("behaviour"),
        crypto=case.get("crypto", "auto"),
        failpoint=case.get("failpoint"),
    )
    if "crash_modes" in case:
        modes = tuple(CrashMode(m) for m in case["crash_modes"])
        config = SimConfig(**{**config.__dict__, "crash_modes": modes})
    return apply_mutant(config, case.get("mutant"))


def twins_case_config(case: dict[str, Any]) -> SimConfig:
    schedule = tuple(tuple(split) for split in case["schedule"])
    rule = QuorumRule[case.get("quorum_rule", "BFT")]
    return twins_config(case["validators"], tuple(case["twins"]), schedule, rule)


def cases() -> list[Any]:
    out = []
    for kind in ("seed", "twins"):
        for i, case in enumerate(CASES.get(kind, [])):
            name = f"{kind}{i}-{case['expect']}-{case.get('mutant') or case.get('behaviour') or ''}"
            out.append(pytest.param(kind, case, id=name.rstrip("-")))
    return out


def check(kind: str, case: dict[str, Any], result: SimResult) -> None:
    how = (
        replay_command(result, case.get("mutant"))
        if kind == "seed"
        else f"the [[twins]] case with seed {case['seed']} in {FILE.name}"
    )
    message = f"{case['note']}\n{describe(result)}\nreplay: {how}"
    if case["expect"] == "pass":
        assert result.ok, message
    else:
        assert not result.ok, "negative control no longer caught: " + message
        assert result.violations[0].startswith(case["invariant"]), message


def test_the_file_is_well_formed() -> None:
    assert set(CASES) <= set(KEYS)
    for kind, entries in CASES.items():
        for case in entries:
            assert set(case) <= KEYS[kind], case
            assert case["expect"] in ("pass", "fail"), case
            assert case["expect"] == "pass" or "invariant" in case, case
    expects = {c["expect"] for entries in CASES.values() for c in entries}
    assert expects == {"pass", "fail"}


@pytest.mark.parametrize(("kind", "case"), cases())
def test_regression(kind: str, case: dict[str, Any]) -> None:
    config = seed_config(case) if kind == "seed" else twins_case_config(case)
    check(kind, case, run_seed(case["seed"], config))


def test_the_sign_state_store_is_pure() -> None:
    # the simulator persists through the node's own module; it must not reach trio
    # through node.runtime either
    import ast

    from tests.unit.consensus.test_purity import test_module_is_pure

    path = Path(__file__).resolve().parents[2] / "node" / "sync" / "signstate.py"
    test_module_is_pure(path)
    tree = ast.parse(path.read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.startswith("node.runtime") for m in modules), modules


def test_the_simulation_loop_never_loads_trio() -> None:
    import subprocess
    import sys

    code = (
        "import sys, node.sim.cluster, node.sim.twins, node.sync.signstate\n"
        "print(sorted(m for m in sys.modules if m == 'trio' or m.startswith('node.runtime')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
