"""Quorum arithmetic for YAC: BFT quorum ``n - f`` with ``f = (n - 1) // 3``.

Iroha 1 writes the rule as ``v * k >= (k - 1) * (n - 1) + k`` ("Kf+1" checker); with
``k = 3`` that is exactly ``v >= n - f`` for every n (tested exhaustively), with ``k = 2``
it is the simple-majority (CFT) rule Iroha has run since 1.2. Two BFT quorums always
share at least ``f + 1`` validators, hence at least one honest one: the whole safety
argument of :mod:`node.consensus.yac` rests on that.

The other rules exist only as *mutants* for the simulator's negative controls.
"""

from __future__ import annotations

import enum


class QuorumRule(enum.Enum):
    BFT = "bft"  # n - f: the only rule a real node uses
    BFT_MINUS_ONE = "bft-1"  # mutant: one vote short of a BFT quorum
    CFT = "cft"  # mutant: Iroha >= 1.2 simple majority (Kf+1 with k = 2)


def max_faulty(n: int) -> int:
    """Largest f with n >= 3f + 1."""
    if n < 1:
        raise ValueError("a validator set has at least one member")
    return (n - 1) // 3


def kf1_satisfied(votes: int, n: int, k: int) -> bool:
    """Iroha's ``SupermajorityCheckerKfPlus1``: ``votes * k >= (k - 1) * (n - 1) + k``."""
    return votes * k >= (k - 1) * (n - 1) + k


def quorum(n: int, rule: QuorumRule = QuorumRule.BFT) -> int:
    """Number of matching votes that decide a round among ``n`` validators."""
    if rule is QuorumRule.BFT:
        return n - max_faulty(n)
    if rule is QuorumRule.BFT_MINUS_ONE:
        return max(1, n - max_faulty(n) - 1)
    return n // 2 + 1  # smallest v with 2v >= (n - 1) + 2


def has_quorum(votes: int, n: int, rule: QuorumRule = QuorumRule.BFT) -> bool:
    return votes >= quorum(n, rule)


def can_still_reach(largest_group: int, not_voted: int, n: int, rule: QuorumRule) -> bool:
    """Could some group still reach a quorum if every silent validator joined it?"""
    return largest_group + not_voted >= quorum(n, rule)
