"""Twins scenarios (DiemBFT's Twins, adapted to YAC).

A twin is a second instance of a validator with the same key: both run the honest
code, so together they behave like one equivocating validator. A scenario gives, for
each phase (about one YAC round), a split of all instances into two (or three) partitions; the
twinned key orders every round (it serves proposals, and each twin serves its own), so
twins in different partitions hand out different proposals and cast double votes.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from node.consensus.supermajority import QuorumRule
from node.sim.cluster import SimConfig, SimResult, run_seed

Schedule = tuple[tuple[int, ...], ...]


def two_partitions(instances: int) -> list[tuple[int, ...]]:
    """Every split of ``instances`` nodes into two non-empty groups (node 0 in group 0)."""
    out = []
    for mask in range(1, 2 ** (instances - 1)):
        out.append((0, *((mask >> i) & 1 for i in range(instances - 1))))
    return out


def three_partitions(instances: int) -> list[tuple[int, ...]]:
    """Every split of ``instances`` nodes into three non-empty groups, each once: group
    labels in order of first appearance (node 0 in group 0), S(n, 3) splits."""
    out: list[tuple[int, ...]] = []

    def grow(prefix: tuple[int, ...], top: int) -> None:
        if len(prefix) == instances:
            if top == 2:
                out.append(prefix)
            return
        for g in range(min(top + 1, 2) + 1):
            grow((*prefix, g), max(top, g))

    grow((0,), 0)
    return out


def all_schedules(instances: int, phases: int) -> Iterator[Schedule]:
    yield from itertools.product(two_partitions(instances), repeat=phases)


def random_schedules(
    instances: int, phases: int, count: int, seed: int, groups: tuple[int, ...] = (2,)
) -> Iterator[Schedule]:
    """``count`` random schedules; each phase first draws how many partitions it has
    (from ``groups``: 2 and/or 3), then one split with that many."""
    rng = random.Random(seed)
    by_groups = {2: two_partitions(instances), 3: three_partitions(instances)}
    for _ in range(count):
        yield tuple(rng.choice(by_groups[rng.choice(groups)]) for _ in range(phases))


def twins_config(
    validators: int,
    twins: tuple[int, ...],
    schedule: Schedule,
    quorum_rule: QuorumRule = QuorumRule.BFT,
) -> SimConfig:
    return SimConfig(
        validators=validators,
        byzantine=0,
        faults=False,
        crypto="fake",
        twins=twins,
        twin_schedule=schedule,
        quorum_rule=quorum_rule,
    )


def run_twins(
    seed: int,
    validators: int,
    twins: tuple[int, ...],
    schedule: Schedule,
    quorum_rule: QuorumRule = QuorumRule.BFT,
) -> SimResult:
    return run_seed(seed, twins_config(validators, twins, schedule, quorum_rule))
