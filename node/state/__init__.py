"""The ledger: world state, command execution, commit, genesis and queries.

Owns: the key layout (node.state.keys), the world-state view with savepoints, Iroha 1.6
command semantics and permissions, proposal execution into a block candidate, atomic
commit of a block with its state changes and indexes, replay on start, genesis loading
and generation, and Iroha's queries.

Must not import: trio, sockets, the clock, the global random (pure execution over
node.storage); nor node.api, node.consensus, node.ordering (they call us).
"""

from node.state.execute import SIBLING_FAILED, ExecutionResult, TxError
from node.state.ledger import (
    BlockRejected,
    GenesisError,
    Ledger,
    LedgerCorrupted,
    LedgerError,
    StaleResult,
)
from node.state.queries import PendingSource
from node.state.records import TxRecord

__all__ = [
    "SIBLING_FAILED",
    "BlockRejected",
    "ExecutionResult",
    "GenesisError",
    "Ledger",
    "LedgerCorrupted",
    "LedgerError",
    "PendingSource",
    "StaleResult",
    "TxError",
    "TxRecord",
]
