"""Whole-cluster simulation of the real cores (reliability plan rows 4-7, 9, 10).

``BAKONG_LONG=1`` (``make test-long``) runs ten times more seeds. Seeds run on two
processes; every failure message carries the command that replays it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

from node.consensus.supermajority import QuorumRule
from node.sim.cluster import BEHAVIOURS, SimConfig, SimResult
from node.sim.runner import describe, failures, replay_command, run_configs, run_many
from node.sim.twins import all_schedules, random_schedules, twins_config

SCALE = 10 if os.environ.get("BAKONG_LONG") == "1" else 1
JOBS = 2


def report(results: list[SimResult], mutant: str | None = None) -> str:
    lines = []
    for r in failures(results)[:10]:
        lines += [describe(r), *r.violations[:3], "replay: " + replay_command(r, mutant)]
    return "\n".join(lines)


def check_suite(results: list[SimResult]) -> None:
    assert not failures(results), report(results)
    behaviours = Counter(r.behaviour for r in results)
    assert set(behaviours) == set(BEHAVIOURS), behaviours
    assert sum(r.real_crypto for r in results) * 10 >= len(results)
    for r in results:
        c = r.counters
        assert r.steps >= r.config.steps and max(r.heights) >= 3
        # every byzantine behaviour was actually exercised and caught, never counted
        if r.behaviour == "equivocate":
            assert c["yac_equivocations"] > 0, describe(r)
        if r.behaviour == "badsig":
            assert c["yac_bad_signature"] > 0, describe(r)
        if r.behaviour == "nonvalidator":
            assert c["yac_unknown_voter"] > 0, describe(r)


def test_n4_one_faulty_crashes_network_faults_byzantine() -> None:
    config = SimConfig(validators=4, byzantine=1, steps=3000)
    results = run_many(range(300 * SCALE), config, JOBS)
    check_suite(results)


def test_n7_two_faulty() -> None:
    config = SimConfig(validators=7, byzantine=2, steps=5000)
    results = run_many(range(100 * SCALE), config, JOBS)
    check_suite(results)


def test_twins_n4_one_twin_all_three_phase_scenarios() -> None:
    schedules = list(all_schedules(5, 3))
    assert len(schedules) == 15**3
    work = [(i, twins_config(4, (0,), s)) for i, s in enumerate(schedules)]
    results = run_configs(work, JOBS)
    bad = failures(results)
    assert not bad, [(r.seed, schedules[r.seed], r.violations[:1]) for r in bad[:5]]
    # the scenarios did split the twins: some rounds saw double votes
    assert sum(r.counters["yac_equivocations"] for r in results) > 0


def test_determinism_same_seed_same_trace() -> None:
    config = SimConfig(validators=4, byzantine=1, steps=3000)
    seeds = range(0, 300, 20)  # 5% of the n = 4 seeds
    first = run_many(seeds, config, JOBS)
    again = run_many(seeds, config, 1)
    assert [r.trace_hash for r in first] == [r.trace_hash for r in again]
    assert len({r.trace_hash for r in first}) == len(first)


def test_determinism_across_hash_seeds() -> None:
    # str/bytes hashing is randomised per process: the trace must not depend on it
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        cmd = [sys.executable, "-m", "node.sim", "--seed", "7", "--steps", "1500", "--verbose"]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        outputs.append(out.stdout)
    assert outputs[0] == outputs[1] and "trace=" in outputs[0]


# --- negative controls: the checker must catch each of these (plan row 10) -------------


def first_failure(work: list[tuple[int, SimConfig]]) -> SimResult | None:
    for i in range(0, len(work), 50):
        bad = failures(run_configs(work[i : i + 50], JOBS))
        if bad:
            return bad[0]
    return None


def test_negative_two_twins_of_four_break_agreement() -> None:
    work = [(i, twins_config(4, (0, 1), s)) for i, s in enumerate(random_schedules(6, 3, 1000, 1))]
    caught = first_failure(work)
    assert caught is not None and caught.violations[0].startswith("AGREE")


def test_negative_iroha_simple_majority_with_two_twins_of_seven() -> None:
    schedules = random_schedules(9, 3, 1000, 2)
    work = [(i, twins_config(7, (0, 1), s, QuorumRule.CFT)) for i, s in enumerate(schedules)]
    caught = first_failure(work)
    assert caught is not None and caught.violations[0].startswith("AGREE")


def test_negative_quorum_one_short() -> None:
    config = SimConfig(validators=4, byzantine=1, quorum_rule=QuorumRule.BFT_MINUS_ONE)
    caught = first_failure([(s, config) for s in range(200)])
    assert caught is not None


def test_negative_sign_state_forgotten_across_restart() -> None:
    config = SimConfig(validators=4, byzantine=1, forget_votes=True)
    caught = first_failure([(s, config) for s in range(200)])
    assert caught is not None and caught.violations[0].startswith(("NOEQUIV", "AGREE"))


def test_the_same_twins_code_passes_with_the_bft_rule() -> None:
    # control for the control: the n = 7 Twins harness with the real rule is clean
    schedules = list(random_schedules(9, 3, 300, 2))
    work = [(i, twins_config(7, (0, 1), s)) for i, s in enumerate(schedules)]
    assert not failures(run_configs(work, JOBS))


# --- the CLI ----------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "node.sim", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_cli_passes_and_summarises() -> None:
    out = run_cli("--validators", "4", "--byzantine", "1", "--seeds", "3", "--steps", "500")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "3 passed, 0 failed"


def test_cli_prints_a_replay_command_that_reproduces_the_failure() -> None:
    out = run_cli("--seeds", "3", "--steps", "1500", "--mutant", "forget-votes")
    assert out.returncode == 1
    lines = out.stdout.strip().splitlines()
    assert lines[-1].endswith("failed") and not lines[-1].endswith(" 0 failed"), out.stdout
    replay = next(line for line in lines if "replay: " in line).split("replay: ")[1]
    assert replay.startswith("python -m node.sim ")
    again = run_cli(*replay.split()[3:])
    assert again.returncode == 1
    assert again.stdout.strip().splitlines()[-1] == "0 passed, 1 failed"
