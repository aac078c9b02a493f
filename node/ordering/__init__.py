"""On-demand ordering, pure: pending batches, the round's ordering peer, proposals.

Owns :mod:`cache` (bounded, deduplicated pending batches; whole batches only; "busy"
when full) and :mod:`service` (which validator orders a round, one stored proposal per
round so every requester gets the same answer). Generic over the batch type: anything
with ``batch_hash`` and ``tx_hashes`` (``node.model.Batch`` in the node, a lighter type
in the simulator).

Must not import trio, sockets, the clock or the global ``random``.
"""

from node.ordering.cache import AddResult, BatchLike, PendingBatches
from node.ordering.service import OrderingService, ordering_peer

__all__ = ["AddResult", "BatchLike", "OrderingService", "PendingBatches", "ordering_peer"]
