"""SingleValidatorTestBackend: a stand-in for ordering + consensus until the node runtime lands.

One validator, no network: ``submit_batch`` queues a fully signed batch (False when the
queue is full, as the ordering cache will answer); ``run`` turns queued batches into
blocks with ``ledger.execute`` + ``ledger.commit`` and calls Torii's hooks in the order
the node will (``proposal_executed`` then ``block_committed``).
"""

from __future__ import annotations

import time

import trio

from node.api.torii import ToriiService
from node.crypto import KeyPair
from node.model import Batch, Tx
from node.proto.iroha import primitive_pb2
from node.state import Ledger


class SingleValidatorTestBackend:
    def __init__(
        self,
        ledger: Ledger,
        key: KeyPair,
        queue: int = 10_000,
        max_txs: int = 2000,
        block_delay: float = 0.0,
    ) -> None:
        self.ledger = ledger
        self.key = key
        self.max_txs = max_txs
        self.torii: ToriiService | None = None
        self._send, self._recv = trio.open_memory_channel[Batch](queue)
        self.submitted = 0
        self.blocks = 0
        self.paused = False
        self.block_delay = block_delay  # a round's latency, so clients see every status

    def submit_batch(self, batch: Batch) -> bool:
        try:
            self._send.send_nowait(batch)
        except trio.WouldBlock:
            return False
        self.submitted += 1
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for first in self._recv:
            await trio.sleep(self.block_delay)
            while self.paused:
                await trio.sleep(0.01)
            txs: list[Tx] = list(first.txs)
            while len(txs) < self.max_txs:
                try:
                    txs.extend(self._recv.receive_nowait().txs)
                except trio.WouldBlock:
                    break
            self.commit(txs)
            # The idle loop must not hold the last block's txs (the Torii fuzz measures heap).
            del first, txs
            await trio.sleep(0)

    def commit(self, txs: list[Tx]) -> None:
        assert self.torii is not None
        ledger = self.ledger
        result = ledger.execute(txs, ledger.height + 1, time.time_ns() // 1_000_000)
        self.torii.proposal_executed(result)
        payload = result.payload_bytes
        sig = primitive_pb2.Signature(
            public_key=self.key.public_key, signature=self.key.sign(payload).hex()
        )
        ledger.commit(result, [sig], b"test-backend")
        stored = ledger.get_block(result.height)
        assert stored is not None
        block = stored[0]
        self.blocks += 1
        self.torii.block_committed(block, dict(result.rejected))
