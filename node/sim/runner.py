"""Running many seeds (optionally on several processes) and formatting replays."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Sequence
from dataclasses import replace

from node.consensus.supermajority import QuorumRule
from node.sim.cluster import SimConfig, SimResult, run_seed

MUTANTS = {
    "quorum-minus-one": {"quorum_rule": QuorumRule.BFT_MINUS_ONE},
    "cft": {"quorum_rule": QuorumRule.CFT},
    "forget-votes": {"forget_votes": True},
    "count-unknown": {"count_unknown_voters": True},
    "no-locks": {"locking": False},
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
    if mutant:
        parts.append(f"--mutant {mutant}")
    return " ".join(parts)


def describe(result: SimResult) -> str:
    return (
        f"seed {result.seed}: n={result.config.validators} behaviour={result.behaviour} "
        f"real_crypto={result.real_crypto} steps={result.steps} "
        f"sim={result.sim_ms / 1000:.1f}s heights={result.heights} trace={result.trace_hash[:16]}"
    )


def failures(results: Sequence[SimResult]) -> list[SimResult]:
    return [r for r in results if not r.ok]
