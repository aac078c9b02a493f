"""The block bus: committed blocks fanned out to FetchCommits streams.

The node calls ``publish`` after each commit (the block is durable by then). Every
subscriber has a bounded queue; ``publish`` never waits, and a subscriber that falls
behind by more than its queue is cut off (its stream ends with RESOURCE_EXHAUSTED: it
has lost blocks and must re-subscribe and fetch the gap with GetBlock).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import trio

from node.api.torii.status_bus import TooManySubscribers
from node.proto.iroha import block_pb2


class BlockSubscription:
    __slots__ = ("_wake", "overflowed", "queue", "queue_size")

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.queue: deque[block_pb2.Block] = deque()
        self.overflowed = False
        self._wake = trio.Event()

    def _push(self, block: block_pb2.Block) -> None:
        if len(self.queue) >= self.queue_size:
            self.overflowed = True
        else:
            self.queue.append(block)
        self._wake.set()

    async def next(self) -> block_pb2.Block | None:
        """The next block, or None once this subscriber has been cut off."""
        while not self.queue:
            if self.overflowed:
                return None
            self._wake = trio.Event()
            await self._wake.wait()
        return self.queue.popleft()


class BlockBus:
    def __init__(self, *, queue_size: int, max_subscribers: int) -> None:
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self._subs: set[BlockSubscription] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, block: block_pb2.Block) -> None:
        for sub in self._subs:
            sub._push(block)

    @contextmanager
    def subscribe(self) -> Iterator[BlockSubscription]:
        if len(self._subs) >= self.max_subscribers:
            raise TooManySubscribers
        sub = BlockSubscription(self.queue_size)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)
