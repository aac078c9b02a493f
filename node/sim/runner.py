"""Running many seeds (optionally on several processes) and formatting replays."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Sequence
from dataclasses import replace

from node.consensus.supermajority import QuorumRule, max_faulty
from node.sim.cluster import SimConfig, SimResult, run_seed
from node.storage.memory import CrashMode

MUTANTS = {
    "quorum-minus-one": {"quorum_rule": QuorumRule.BFT_MINUS_ONE},
    "cft": {"quorum_rule": QuorumRule.CFT},
    "forget-votes": {"forget_votes": True},
    "unsynced-votes": {"sync_votes": False},
    "unsynced-blocks": {"sync_blocks": False},
    "count-unknown": {"count_unknown_voters": True},
    "no-locks": {"locking": False},
    "send-before-persist": {"send_before_persist": True},
}


def apply_mutant(config: SimConfig, mutant: str | None) -> SimConfig:
    if not mutant:
        return config
    return replace(config, **MUTANTS[mutant])  # type: ignore[arg-type]


def _run(args: tuple[int, SimConfig]) -> SimResult:
    return run_seed(*args)


def run_many(seeds: Iterable[int], config: SimConfig, jobs: int = 1) -> list[SimResult]:
    return run_configs([(s, config) for s in seeds], jobs)


def run_configs(work: Sequence[tuple[int, SimConfig]], jobs: int = 1) -> list[SimResult]:
    """Run (seed, config) pairs, on ``jobs`` processes; results in input order."""
    if jobs <= 1 or len(work) < 2:
        return [_run(w) for w in work]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs) as pool:
        return pool.map(_run, work, chunksize=max(1, len(work) // (jobs * 8)))


def replay_command(result: SimResult, mutant: str | None = None) -> str:
    c = result.config
    parts = [
        "python -m node.sim",
        f"--validators {c.validators}",
        f"--byzantine {c.byzantine}",
        f"--steps {c.steps}",
        f"--seed {result.seed}",
    ]
    if c.behaviour:
        parts.append(f"--behaviour {c.behaviour}")
    if c.crypto != "auto":
        parts.append(f"--crypto {c.crypto}")
    if c.failpoint:
        parts.append(f"--failpoint {c.failpoint}")
    if c.proposal_fill_ms:
        parts.append(f"--proposal-fill-ms {c.proposal_fill_ms}")
    if c.crash_modes != tuple(CrashMode):
        parts.extend(f"--crash-mode {m.value}" for m in c.crash_modes)
    if mutant:
        parts.append(f"--mutant {mutant}")
    return " ".join(parts)


def describe(result: SimResult) -> str:
    """One line with everything needed to triage a run (reliability plan 8.6): seed, n,
    f, fault parameters, then the first violated invariant with its step, if any."""
    r, c = result, result.config
    n = c.validators
    crashes = ",".join(f"{m.value}:{r.counters['crash_' + m.value]}" for m in CrashMode)
    line = (
        f"seed {r.seed}: n={n} f={max_faulty(n)} faulty={list(r.faulty)} "
        f"behaviour={r.behaviour} quorum_rule={c.quorum_rule.name} "
        f"drop={r.drop_p:.3f} dup={r.dup_p:.3f} max_delay={r.max_delay_ms}ms "
        f"partitions={r.counters['partitions']} crashes={crashes} "
        f"real_crypto={r.real_crypto} steps={r.steps} injected={r.counters['injected_events']} "
        f"sim={r.sim_ms / 1000:.1f}s heights={r.heights} trace={r.trace_hash[:16]}"
    )
    if c.failpoint:
        line += f" failpoint={c.failpoint}:{r.counters['crash_at_' + c.failpoint]}"
    if c.twins:
        line += f" twins={list(c.twins)} schedule={[list(p) for p in c.twin_schedule]}"
    if r.violations:
        line += f"\n  first violation: {r.violations[0]}"
    return line


def failures(results: Sequence[SimResult]) -> list[SimResult]:
    return [r for r in results if not r.ok]
