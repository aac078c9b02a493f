"""Twins (reliability plan rows 7, 8 and the Twins negative controls of row 10): a
validator's key run by two nodes in different partitions, scenario by scenario; the
random-fault families are in ``test_cluster.py``.
"""

from __future__ import annotations

import pytest

from node.consensus.supermajority import QuorumRule
from node.sim.cluster import SimResult
from node.sim.runner import failures, run_configs
from node.sim.twins import Schedule, all_schedules, random_schedules, twins_config

from .test_cluster import JOBS, SCALE, first_failure, report


def run_twins_family(
    validators: int, twins: tuple[int, ...], schedules: list[Schedule], only_seed: int | None
) -> list[SimResult]:
    """Scenario i runs as seed i (``--seed=i`` replays scenario i alone)."""
    work = [(i, twins_config(validators, twins, s)) for i, s in enumerate(schedules)]
    if only_seed is not None:
        work = [work[only_seed]]
    results = run_configs(work, JOBS)
    assert not failures(results), report(results)
    return results


def test_twins_n4_one_twin_all_three_phase_scenarios(only_seed: int | None) -> None:
    schedules = list(all_schedules(5, 3))
    assert len(schedules) == 15**3
    results = run_twins_family(4, (0,), schedules, only_seed)
    # the scenarios did split the twins: some rounds saw double votes
    assert only_seed is not None or sum(r.counters["yac_equivocations"] for r in results) > 0


def test_twins_n7_two_twins_two_and_three_partitions(only_seed: int | None) -> None:
    # plan row 8: 7 validators + 2 twins, every phase split in two or three partitions
    schedules = list(random_schedules(9, 3, 300 * SCALE, 3, groups=(2, 3)))
    assert {max(split) + 1 for s in schedules for split in s} == {2, 3}
    results = run_twins_family(7, (0, 1), schedules, only_seed)
    assert only_seed is not None or sum(r.counters["yac_equivocations"] for r in results) > 0


@pytest.mark.usefixtures("not_replaying")
def test_negative_two_twins_of_four_break_agreement() -> None:
    work = [(i, twins_config(4, (0, 1), s)) for i, s in enumerate(random_schedules(6, 3, 1000, 1))]
    caught = first_failure(work)
    assert caught is not None and caught.violations[0].startswith("AGREE")


@pytest.mark.usefixtures("not_replaying")
def test_negative_iroha_simple_majority_with_two_twins_of_seven() -> None:
    schedules = random_schedules(9, 3, 1000, 2)
    work = [(i, twins_config(7, (0, 1), s, QuorumRule.CFT)) for i, s in enumerate(schedules)]
    caught = first_failure(work)
    assert caught is not None and caught.violations[0].startswith("AGREE")


@pytest.mark.usefixtures("not_replaying")
def test_the_same_twins_code_passes_with_the_bft_rule() -> None:
    # control for the control: the n = 7 Twins harness with the real rule is clean
    # (the first 100 of the schedules the CFT control draws; it is caught at the 6th)
    schedules = list(random_schedules(9, 3, 100, 2))
    work = [(i, twins_config(7, (0, 1), s)) for i, s in enumerate(schedules)]
    assert not failures(run_configs(work, JOBS))
