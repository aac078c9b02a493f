"""The status bus: latest status per transaction hash, and its subscribers.

Iroha's rules (iroha1.md §4.1): a cached status is replaced only by one of strictly
higher priority, so statuses never go backwards; COMMITTED and REJECTED are final.
The cache is a bounded LRU; on a miss ``current`` asks the durable sources (the
ledger's tx index, then the MST pool), so a status asked after a restart or on another
validator is still right.

Subscribers (StatusStream calls) get every accepted change through a bounded queue.
``publish`` never waits: a subscriber whose queue is full is cut off (it then re-reads
``current`` and ends its stream). Streams also end after ``stale_rounds`` consensus
rounds (fed by the node through ``round_passed``) or ``stale_timeout_s`` seconds
without a change, like Iroha's ``stale_stream_max_rounds``.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import contextmanager

import trio

from node.proto.iroha import endpoint_pb2

ToriiResponse = endpoint_pb2.ToriiResponse
TxStatus = endpoint_pb2.TxStatus

S = endpoint_pb2
_FINAL_PRIORITY = 6
PRIORITY: dict[int, int] = {
    S.NOT_RECEIVED: 0,
    S.STATELESS_VALIDATION_SUCCESS: 1,
    S.MST_PENDING: 2,
    S.ENOUGH_SIGNATURES_COLLECTED: 3,
    S.STATEFUL_VALIDATION_SUCCESS: 4,
    S.STATELESS_VALIDATION_FAILED: 5,
    S.STATEFUL_VALIDATION_FAILED: 5,
    S.MST_EXPIRED: 5,
    S.COMMITTED: _FINAL_PRIORITY,
    S.REJECTED: _FINAL_PRIORITY,
}
FINAL = frozenset({S.COMMITTED, S.REJECTED})
# Statuses after which a StatusStream closes (MST_EXPIRED is not one of them in Iroha).
STREAM_END = frozenset({S.COMMITTED, S.REJECTED, S.STATELESS_VALIDATION_FAILED})

DurableLookup = Callable[[bytes], "ToriiResponse | None"]
# A cached status: the response, or only its status code when that is all it carries
# (the usual case: four per tx on the validator that took it, two on the others, for txs
# that nobody asks about at a payment network's rates); the message is built when read.
Entry = ToriiResponse | int


def _status(entry: Entry) -> int:
    return entry if isinstance(entry, int) else entry.tx_status


def _message(tx_hash: bytes, entry: Entry) -> ToriiResponse:
    return response(tx_hash, entry) if isinstance(entry, int) else entry


def response(
    tx_hash: bytes,
    status: int,
    err_or_cmd_name: str = "",
    failed_cmd_index: int = 0,
    error_code: int = 0,
) -> ToriiResponse:
    if not (err_or_cmd_name or failed_cmd_index or error_code):
        # the usual case (two per tx on every validator): proto3 zero values are absent
        # anyway, and leaving them out halves the cost of building the message
        return ToriiResponse(tx_status=status, tx_hash=tx_hash.hex())  # type: ignore[arg-type]
    return ToriiResponse(
        tx_status=status,  # type: ignore[arg-type]
        tx_hash=tx_hash.hex(),
        err_or_cmd_name=err_or_cmd_name,
        failed_cmd_index=failed_cmd_index,
        error_code=error_code,
    )


class TooManySubscribers(Exception):
    """The bus already serves its maximum number of status streams."""


class Subscription:
    """One StatusStream's view of a hash: changes arrive in a bounded queue."""

    __slots__ = ("_rounds", "_wake", "overflowed", "queue", "queue_size", "tx_hash")

    def __init__(self, tx_hash: bytes, queue_size: int) -> None:
        self.tx_hash = tx_hash
        self.queue_size = queue_size
        self.queue: deque[ToriiResponse] = deque()
        self.overflowed = False
        self._rounds = 0
        self._wake = trio.Event()

    def _push(self, resp: ToriiResponse) -> bool:
        if len(self.queue) >= self.queue_size:
            self.overflowed = True
            self._wake.set()
            return False
        self.queue.append(resp)
        self._wake.set()
        return True

    def _tick(self) -> None:
        self._rounds += 1
        self._wake.set()

    async def changes(
        self, first: ToriiResponse, stale_rounds: int, stale_timeout_s: float | None
    ) -> AsyncIterator[ToriiResponse]:
        """Distinct statuses after ``first``; stops when stale, final or overflowed."""
        last = first.tx_status
        self._rounds = 0
        timeout = float("inf") if stale_timeout_s is None else stale_timeout_s
        while True:
            while self.queue:
                resp = self.queue.popleft()
                if resp.tx_status == last:
                    continue
                last = resp.tx_status
                self._rounds = 0
                yield resp
                if last in STREAM_END:
                    return
            if self.overflowed or self._rounds >= stale_rounds:
                return
            self._wake = trio.Event()
            with trio.move_on_after(timeout) as scope:
                await self._wake.wait()
            if scope.cancelled_caught:
                return


class StatusBus:
    def __init__(
        self,
        *,
        cache_size: int,
        queue_size: int,
        max_subscribers: int,
        durable: DurableLookup | None = None,
        stale_rounds: int = 2,
        stale_timeout_s: float | None = 30.0,
    ) -> None:
        self.cache_size = cache_size
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self.stale_rounds = stale_rounds
        self.stale_timeout_s = stale_timeout_s
        self._durable = durable
        self._cache: OrderedDict[bytes, Entry] = OrderedDict()
        self._subs: dict[bytes, list[Subscription]] = {}
        self._n_subs = 0

    # --- reading -------------------------------------------------------------------------

    @property
    def subscribers(self) -> int:
        return self._n_subs

    def cached(self, tx_hash: bytes) -> ToriiResponse | None:
        entry = self._cache.get(tx_hash)
        return None if entry is None else _message(tx_hash, entry)

    def cached_status(self, tx_hash: bytes) -> int | None:
        """The cached status code alone (no message built)."""
        entry = self._cache.get(tx_hash)
        return None if entry is None else _status(entry)

    def current(self, tx_hash: bytes) -> ToriiResponse:
        """Cache, else the durable sources, else NOT_RECEIVED."""
        entry = self._cache.get(tx_hash)
        if entry is not None:
            self._cache.move_to_end(tx_hash)
            return _message(tx_hash, entry)
        if self._durable is not None:
            resp = self._durable(tx_hash)
            if resp is not None:
                return resp
        return response(tx_hash, S.NOT_RECEIVED)

    def is_final(self, tx_hash: bytes) -> bool:
        entry = self._cache.get(tx_hash)
        return entry is not None and _status(entry) in FINAL

    # --- writing -------------------------------------------------------------------------

    def publish(self, tx_hash: bytes, resp: ToriiResponse, *, durable: bool = True) -> bool:
        """Record ``resp`` if it outranks the known status; True when it was accepted.
        ``durable=False``: the caller knows the tx has no final status on disk (it was
        just executed as new), so a cache miss needs no ledger look-up."""
        return self._publish(tx_hash, resp.tx_status, resp, durable)

    def publish_status(self, tx_hash: bytes, status: int, *, durable: bool = True) -> bool:
        """:meth:`publish` of a status without reason or error code, the message unbuilt."""
        return self._publish(tx_hash, status, status, durable)

    def _publish(self, tx_hash: bytes, status: int, entry: Entry, durable: bool) -> bool:
        cache = self._cache
        old = cache.get(tx_hash)
        new_prio = PRIORITY.get(status, 0)
        if old is None and new_prio < _FINAL_PRIORITY and durable and self._durable is not None:
            # Evicted or never seen here: a final status on disk must not be shadowed.
            old = self._durable(tx_hash)
        if old is not None:
            old_status = _status(old)
            if new_prio <= PRIORITY.get(old_status, 0):
                if tx_hash not in cache and old_status in FINAL:
                    self._remember(tx_hash, old)
                return False
        self._remember(tx_hash, entry)
        subs = self._subs.get(tx_hash)
        if subs:
            resp = _message(tx_hash, entry)
            for sub in subs:
                sub._push(resp)
        return True

    def _remember(self, tx_hash: bytes, entry: Entry) -> None:
        cache = self._cache
        cache[tx_hash] = entry
        cache.move_to_end(tx_hash)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def round_passed(self) -> None:
        """A consensus round ended (block or reject): counts toward stale-stream closing."""
        for subs in self._subs.values():
            for sub in subs:
                sub._tick()

    # --- subscribing ---------------------------------------------------------------------

    @contextmanager
    def subscribe(self, tx_hash: bytes) -> Iterator[Subscription]:
        """Register before reading ``current`` so that no change is missed in between."""
        if self._n_subs >= self.max_subscribers:
            raise TooManySubscribers
        sub = Subscription(tx_hash, self.queue_size)
        self._subs.setdefault(tx_hash, []).append(sub)
        self._n_subs += 1
        try:
            yield sub
        finally:
            self._n_subs -= 1
            subs = self._subs[tx_hash]
            subs.remove(sub)
            if not subs:
                del self._subs[tx_hash]

    async def stream(self, tx_hash: bytes) -> AsyncGenerator[ToriiResponse, None]:
        """What StatusStream writes: the current status, then every change until the end."""
        with self.subscribe(tx_hash) as sub:
            first = self.current(tx_hash)
            yield first
            if first.tx_status in STREAM_END:
                return
            last = first
            async for resp in sub.changes(first, self.stale_rounds, self.stale_timeout_s):
                last = resp
                yield resp
            if sub.overflowed:
                # The queue was cut off: the latest status is still worth one write.
                now = self.current(tx_hash)
                if now.tx_status != last.tx_status:
                    yield now
