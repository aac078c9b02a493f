"""Torii: Iroha 1's client API (CommandService_v1, QueryService_v1) over node.api.grpc.

Owns the status bus (latest status per tx hash, Iroha's priorities, durable fallback to
the ledger's tx index), the block bus (FetchCommits), the bounded and persistent MST
pool, the command service (Torii, ListTorii, Status, StatusStream) and the query service
(Find, FetchCommits, Healthcheck), and ``ToriiService`` that registers all seven RPCs.

Talks to the rest of the node only through what it is given: the ledger (tx index,
queries, chain parameters), the KV store (MST pool, ``mst/`` keys), an ``admission``
into ordering (room for a whole list reserved before any work; or, in tests and tools, a
plain ``submit_batch`` callable), and the hooks the node calls (``proposal_executed``,
``block_committed``, ``round_passed``, ``expire_mst``). Must not import node.consensus,
node.ordering, node.net or node.sync.
"""

from node.api.torii.block_bus import BlockBus, BlockSubscription
from node.api.torii.commands import (
    BUSY,
    Admission,
    CommandService,
    Reservation,
    SubmitBatch,
    record_response,
)
from node.api.torii.ledger import LedgerAccess
from node.api.torii.mst import MstOutcome, MstPool, MstState
from node.api.torii.queries import QueryExecutor, QueryService, ReplayCache
from node.api.torii.service import (
    COMMAND_SERVICE,
    QUERY_SERVICE,
    ToriiLedger,
    ToriiService,
)
from node.api.torii.status_bus import (
    FINAL,
    PRIORITY,
    STREAM_END,
    StatusBus,
    Subscription,
    TooManySubscribers,
    response,
)

__all__ = [
    "BUSY",
    "COMMAND_SERVICE",
    "FINAL",
    "PRIORITY",
    "QUERY_SERVICE",
    "STREAM_END",
    "Admission",
    "BlockBus",
    "BlockSubscription",
    "CommandService",
    "LedgerAccess",
    "MstOutcome",
    "MstPool",
    "MstState",
    "QueryExecutor",
    "QueryService",
    "ReplayCache",
    "Reservation",
    "StatusBus",
    "SubmitBatch",
    "Subscription",
    "TooManySubscribers",
    "ToriiLedger",
    "ToriiService",
    "record_response",
    "response",
]
