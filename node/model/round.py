"""Consensus rounds: (block_round, reject_round), ordered lexicographically."""

from __future__ import annotations

from typing import NamedTuple


class Round(NamedTuple):
    block_round: int  # height being decided
    reject_round: int  # attempt number at that height

    def next_block(self) -> Round:
        """Round after a commit of this height."""
        return Round(self.block_round + 1, 0)

    def next_reject(self) -> Round:
        """Round after a reject (or an agreement on nothing) at this height."""
        return Round(self.block_round, self.reject_round + 1)

    def __str__(self) -> str:
        return f"{self.block_round}:{self.reject_round}"
