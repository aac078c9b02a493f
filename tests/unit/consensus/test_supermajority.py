"""Quorum arithmetic, exhaustively for n = 1..100 (reliability plan row 1)."""

from __future__ import annotations

import itertools
import math

import pytest

from node.consensus.supermajority import (
    QuorumRule,
    can_still_reach,
    has_quorum,
    kf1_satisfied,
    max_faulty,
    quorum,
)


@pytest.mark.parametrize("n", range(1, 101))
def test_bft_quorum_is_n_minus_f_and_matches_iroha_kf1_with_k3(n: int) -> None:
    f = max_faulty(n)
    assert n >= 3 * f + 1 and n < 3 * (f + 1) + 1
    q = quorum(n)
    assert q == n - f
    # Iroha's checker with k = 3 accepts exactly the vote counts >= n - f
    for v in range(n + 1):
        assert kf1_satisfied(v, n, 3) == (v >= q) == has_quorum(v, n)
    assert q == math.ceil((2 * n + 1) / 3)


@pytest.mark.parametrize("n", range(1, 101))
def test_two_bft_quorums_share_an_honest_validator(n: int) -> None:
    f = max_faulty(n)
    q = quorum(n)
    # the smallest possible intersection of two q-subsets of n is 2q - n
    assert 2 * q - n >= f + 1
    # and n - f honest validators can always form a quorum on their own (liveness)
    assert n - f >= q


@pytest.mark.parametrize("n", range(1, 9))
def test_quorum_intersection_by_enumeration(n: int) -> None:
    f, q = max_faulty(n), quorum(n)
    subsets = [frozenset(c) for c in itertools.combinations(range(n), q)]
    assert min(len(a & b) for a in subsets for b in subsets) >= f + 1


@pytest.mark.parametrize("n", range(1, 101))
def test_cft_rule_is_iroha_simple_majority(n: int) -> None:
    q = quorum(n, QuorumRule.CFT)
    for v in range(n + 1):
        assert kf1_satisfied(v, n, 2) == (v >= q)


def test_cft_quorums_at_n7_can_overlap_in_one_validator_only() -> None:
    # why Iroha's rule is not BFT: two majorities of 7 may share one (byzantine) voter
    q = quorum(7, QuorumRule.CFT)
    assert q == 4 and 2 * q - 7 == 1 <= max_faulty(7)


def test_mutant_rule_is_one_short() -> None:
    assert [quorum(n, QuorumRule.BFT_MINUS_ONE) for n in (1, 4, 7)] == [1, 2, 4]


def test_can_still_reach() -> None:
    assert can_still_reach(2, 1, 4, QuorumRule.BFT)
    assert not can_still_reach(2, 0, 4, QuorumRule.BFT)


def test_max_faulty_rejects_empty_set() -> None:
    with pytest.raises(ValueError):
        max_faulty(0)
