"""The ledger as Torii needs it: tx index, chain parameters, queries, FetchCommits rights.

``LedgerAccess`` adapts node.state's ``Ledger`` to ``ToriiLedger``. GetPendingTransactions
is answered here from the MST pool (after the same signature check as every query),
since pending batches are Torii's, not the ledger's.
"""

from __future__ import annotations

from node.api.torii.mst import MstPool, PendingPageError
from node.config import ChainParameters
from node.proto.iroha import primitive_pb2, qry_responses_pb2, queries_pb2
from node.state import Ledger
from node.state.permissions import has
from node.state.records import TxRecord

QueryResponse = qry_responses_pb2.QueryResponse
Reason = qry_responses_pb2.ErrorResponse
_CAN_GET_BLOCKS = primitive_pb2.RolePermission.Value("can_get_blocks")


def error(reason: int, message: str = "", code: int = 0) -> QueryResponse:
    resp = QueryResponse()
    e = resp.error_response
    e.reason = reason  # type: ignore[assignment]
    e.message = message
    e.error_code = code
    return resp


class LedgerAccess:
    def __init__(self, ledger: Ledger, mst: MstPool | None = None) -> None:
        self.ledger = ledger
        self.mst = mst

    @property
    def params(self) -> ChainParameters:
        return self.ledger.params

    def tx_status(self, tx_hash: bytes, /) -> TxRecord | None:
        return self.ledger.tx_status(tx_hash)

    def _signed_by_signatory(self, creator: str, public_key: str) -> bool:
        return self.ledger.view().is_signatory(creator, public_key)

    def query(self, q: queries_pb2.Query, /) -> QueryResponse:
        meta = q.payload.meta
        if q.payload.WhichOneof("query") == "get_pending_transactions":
            if not self._signed_by_signatory(meta.creator_account_id, q.signature.public_key):
                return error(
                    Reason.STATEFUL_INVALID, "query signatories did not pass validation", 3
                )
            body = q.payload.get_pending_transactions
            page_meta = body.pagination_meta if body.HasField("pagination_meta") else None
            if self.mst is None:
                return self.mst_less_pending(page_meta)
            try:
                return self.mst.page(meta.creator_account_id, page_meta)
            except PendingPageError as e:
                return error(Reason.STATEFUL_INVALID, f"pending batch {e.args[0]} was not found", 4)
        run = getattr(self.ledger, "query", None)
        if run is None:
            return error(Reason.NOT_SUPPORTED, "queries are not available on this node yet")
        resp: QueryResponse = run(q)
        return resp

    @staticmethod
    def mst_less_pending(page_meta: queries_pb2.TxPaginationMeta | None) -> QueryResponse:
        resp = QueryResponse()
        if page_meta is None:
            resp.transactions_response.SetInParent()
        else:
            resp.pending_transactions_page_response.SetInParent()
        return resp

    def can_fetch_commits(self, q: queries_pb2.BlocksQuery, /) -> bool:
        creator = q.meta.creator_account_id
        view = self.ledger.view()
        if not view.is_signatory(creator, q.signature.public_key):
            return False
        return has(view.account_permissions(creator), _CAN_GET_BLOCKS)
