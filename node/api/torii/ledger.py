"""The ledger as Torii needs it: tx index, chain parameters, queries, FetchCommits rights.

``LedgerAccess`` adapts node.state's ``Ledger`` to ``ToriiLedger``; GetPendingTransactions
is answered by the ledger's query executor from the MST pool's batches (pending batches
are Torii's, their pagination and checks the ledger's).
"""

from __future__ import annotations

from node.api.torii.mst import MstPool
from node.config import ChainParameters
from node.model import Tx
from node.proto.iroha import primitive_pb2, qry_responses_pb2, queries_pb2
from node.state import Ledger
from node.state.permissions import has
from node.state.records import TxRecord

QueryResponse = qry_responses_pb2.QueryResponse
_CAN_GET_BLOCKS = primitive_pb2.RolePermission.Value("can_get_blocks")


class LedgerAccess:
    def __init__(self, ledger: Ledger, mst: MstPool | None = None) -> None:
        self.ledger = ledger
        self.mst = mst

    @property
    def params(self) -> ChainParameters:
        return self.ledger.params

    def tx_status(self, tx_hash: bytes, /) -> TxRecord | None:
        return self.ledger.tx_status(tx_hash)

    def _pending(self, account_id: str) -> list[tuple[Tx, ...]]:
        return [] if self.mst is None else [b.txs for b in self.mst.batches_for(account_id)]

    def query(self, q: queries_pb2.Query, /) -> QueryResponse:
        return self.ledger.query(q, pending=self._pending)

    def can_fetch_commits(self, q: queries_pb2.BlocksQuery, /) -> bool:
        creator = q.meta.creator_account_id
        view = self.ledger.view()
        if not view.is_signatory(creator, q.signature.public_key):
            return False
        return has(view.account_permissions(creator), _CAN_GET_BLOCKS)
