"""Admission of Torii submissions into ordering: room is reserved before any work.

A ListTorii asks for room for all its transactions at once, before grouping, hashing or
checking a single signature. Refused, it costs the node almost nothing (the flood of an
overload is mostly refused); taken, every batch of it that turns out valid is handed to
ordering inside the room promised, so a list is never half taken. What the request does
not use (invalid lists, replays, batches parked in the MST pool) goes back on release.

Two bounds: the ordering cache (``limits.ordering.max_pending_txs``, a hard memory
bound, shared with gossip) and a soft one on the work admitted but not yet committed
(:class:`AdmissionLimits`), so that under overload an accepted tx waits a few rounds,
not a whole cache, and the CPU goes to consensus rather than to a backlog.

No trio, no clock: the driver gives the counters and the sink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from node.model import Batch


@dataclass(frozen=True)
class AdmissionLimits:
    """Torii admits new txs while the backlog (pending in the ordering cache, queued for
    it, reserved by requests in progress) stays within ``backlog_proposals`` full
    proposals (chain parameter ``max_proposal_size``): about that many rounds of
    commits. 10 x 500 = 5,000 txs, ~4-5 s at the 4-validator max rate: enough that
    proposals are always full at normal load (the max-rate benchmark keeps <= 4,000 txs
    in flight), short enough that latency stays bounded under a flood. Gossiped batches
    may fill the cache beyond it, up to ``max_pending_txs``."""

    backlog_proposals: int = 10


ADMISSION = AdmissionLimits()


class Reservation:
    """Room for ``n`` txs promised to one Torii request. ``submit`` spends it (the batch
    goes to ordering, never refused); ``release`` gives back what is left (idempotent;
    also on leaving a ``with`` block)."""

    __slots__ = ("_gate", "_left")

    def __init__(self, gate: AdmissionGate, n: int) -> None:
        self._gate = gate
        self._left = n

    @property
    def remaining(self) -> int:
        return self._left

    def submit(self, batch: Batch) -> bool:
        n = len(batch.txs)
        if n > self._left:
            raise ValueError(f"batch of {n} txs exceeds the {self._left} reserved")
        self._left -= n
        self._gate.reserved -= n
        self._gate.sink(batch)
        return True

    def release(self) -> None:
        self._gate.reserved -= self._left
        self._left = 0

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class AdmissionGate:
    """Reserves room against ``pending()`` (txs already in or queued for the ordering
    cache) plus what is reserved: at most ``soft()`` in all, or one request of at most
    ``hard()`` when nothing is pending (a list larger than the soft bound still gets in
    when the node is idle). ``sink`` receives each submitted batch."""

    def __init__(
        self,
        *,
        soft: Callable[[], int],
        hard: Callable[[], int],
        pending: Callable[[], int],
        sink: Callable[[Batch], None],
    ) -> None:
        self.soft = soft
        self.hard = hard
        self.pending = pending
        self.sink = sink
        self.reserved = 0

    @property
    def used(self) -> int:
        return self.pending() + self.reserved

    def reserve(self, n_txs: int) -> Reservation | None:
        if n_txs <= 0:
            return Reservation(self, 0)
        used = self.used
        if used + n_txs > min(self.soft(), self.hard()) and (used or n_txs > self.hard()):
            return None
        self.reserved += n_txs
        return Reservation(self, n_txs)
