"""Who orders a round, and the proposal it serves for that round."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from node.crypto import sha3_256
from node.model import Round
from node.ordering.cache import B, PendingBatches

P = TypeVar("P")


def ordering_peer(round_: Round, validators: Sequence[str], top_hash: bytes) -> str:
    """The validator that orders ``round_``, a deterministic function of round and chain.

    Validators are permuted by SHA3(top block hash || height || key) (a fresh order per
    height, unknown before the previous block exists) and the reject round walks that
    order, so each reject round moves to the next peer and n rounds visit every peer.
    """
    if not validators:
        raise ValueError("no validators")
    order = _order(top_hash, round_.block_round, tuple(validators))
    return order[round_.reject_round % len(order)]


@functools.lru_cache(maxsize=64)
def _order(top_hash: bytes, height: int, validators: tuple[str, ...]) -> tuple[str, ...]:
    # Memoised: the pipeline asks on every step (each vote, each message) for the same
    # few rounds; at low load the hashing and sort were ~2 % of a validator's CPU.
    seed = b"bakong-ordering" + top_hash + struct.pack(">Q", height)
    return tuple(sorted(validators, key=lambda pk: sha3_256(seed + pk.encode())))


class OrderingService(Generic[B, P]):
    """The ordering peer's side: one proposal per round, built once, served to all.

    ``build(height, batches)`` makes the proposal object (the ledger knows its wire
    form); no pending batches means no proposal (``None``: requesters vote "nothing").
    Storing the answer per round means a requester that asks late gets the same
    proposal as the others, so an honest ordering peer never splits a round.
    """

    def __init__(self, cache: PendingBatches[B], max_proposal_size: int, max_rounds: int = 16):
        self.cache = cache
        self.max_proposal_size = max_proposal_size
        self.max_rounds = max_rounds
        self._served: dict[Round, P | None] = {}

    @property
    def rounds_stored(self) -> int:
        return len(self._served)

    def served(self, round_: Round) -> bool:
        return round_ in self._served

    def proposal_for(self, round_: Round, build: Callable[[list[B]], P]) -> P | None:
        if round_ in self._served:
            return self._served[round_]
        batches = self.cache.select(self.max_proposal_size)
        proposal = build(batches) if batches else None
        self._served[round_] = proposal
        while len(self._served) > self.max_rounds:
            del self._served[next(iter(self._served))]
        return proposal
