"""Admission of Torii submissions into ordering: room is reserved before any work.

A ListTorii asks for room for all its transactions at once, before grouping, hashing or
checking a single signature. Refused, it costs the node almost nothing (the flood of an
overload is mostly refused); taken, every batch of it that turns out valid is handed to
ordering inside the room promised, so a list is never half taken. What the request does
not use (invalid lists, replays, batches parked in the MST pool) goes back on release.

Two bounds: the ordering cache (``limits.ordering.max_pending_txs``, a hard memory
bound, shared with gossip) and a soft one on the work admitted but not yet committed
(``limits.admission``, :class:`node.config.AdmissionLimits`: a few seconds of the
measured commit rate), so that under overload an accepted tx waits seconds, not a whole
cache, and the CPU goes to consensus rather than to a backlog.

No trio, no clock: the driver gives the counters and the sink.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from types import TracebackType

from node.model import Batch


class CommitRate:
    """Txs committed (or rejected) per second over the last ``window_s`` seconds; times
    are given (any monotonic clock)."""

    MIN_SPAN_S = 2.0

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._sum = 0

    def add(self, now: float, n_txs: int) -> None:
        self._events.append((now, n_txs))
        self._sum += n_txs
        self._trim(now)

    def per_second(self, now: float) -> float:
        self._trim(now)
        if not self._events:
            return 0.0
        # over the history kept, at least MIN_SPAN_S: a fresh start (or the first commits
        # after idling) is not diluted over a whole window, one early block not inflated
        span = min(self.window_s, max(self.MIN_SPAN_S, now - self._events[0][0]))
        return self._sum / span

    def _trim(self, now: float) -> None:
        while self._events and self._events[0][0] < now - self.window_s:
            self._sum -= self._events.popleft()[1]


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
