"""Iroha 1.6 queries over a storage snapshot (iroha1.md §6).

Order of checks, as Iroha: the query's signing key must be a signatory of its creator
(``STATEFUL_INVALID``, code 3), then the permission (code 2; "my/domain/all" triplets:
*my* = target is the creator, *domain* = target in the creator's domain, *all* = any),
then the query's own checks. ``root`` passes every permission check. Signature
validity and stateless field checks are the API layer's job.

Choices: ``GetPeers`` accepts ``can_get_peers`` or ``can_get_blocks`` (Iroha's docs keep
the latter for compatibility, and Iroha's example admin role only has it);
``GetEngineReceipts`` returns no receipts (no EVM); ``GetAccountAssets`` of a missing
account returns an empty page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from node.model import Tx, sha3_256
from node.proto.iroha import block_pb2, queries_pb2, transaction_pb2
from node.proto.iroha import qry_responses_pb2 as R
from node.state import keys as K
from node.state import permissions as P
from node.state.amount import format_units
from node.state.commands import domain_of
from node.state.records import TxRecord
from node.state.wsv import WorldStateView
from node.storage.kv import KVReader

PendingSource = Callable[[str], Sequence[Sequence[Tx]]]
"""account id -> pending batches (each a sequence of Tx) that involve that account."""

Reason = R.ErrorResponse.Reason
PR = P.P


class _Fail(Exception):
    def __init__(self, reason: int, code: int, message: str) -> None:
        super().__init__(message)
        self.reason, self.code, self.message = reason, code, message


def _stateful(code: int, message: str) -> _Fail:
    return _Fail(Reason.Value("STATEFUL_INVALID"), code, message)


def _missing(reason: str, message: str) -> _Fail:
    return _Fail(Reason.Value(reason), 0, message)


def _ms(ts: Any) -> int:
    return int(ts.seconds) * 1000 + int(ts.nanos) // 1_000_000


class QueryExecutor:
    def __init__(self, reader: KVReader, pending: PendingSource | None) -> None:
        self.reader = reader
        self.wsv = WorldStateView(reader)
        top = reader.get(K.TOP)  # the height as of this snapshot
        self.height = int(top.split(b"#")[0]) if top else 0
        self.pending = pending
        self._legacy_tx_keys = K.legacy_layout(reader)
        self.creator = ""
        self.perms = 0
        self._blocks: dict[int, block_pb2.Block] = {}

    # --- entry -----------------------------------------------------------------------

    def run(self, query: queries_pb2.Query) -> R.QueryResponse:
        resp = R.QueryResponse()
        try:
            self._authenticate(query)
            which = query.payload.WhichOneof("query")
            handler = getattr(self, f"_q_{which}", None) if which else None
            if handler is None:
                raise _Fail(Reason.Value("STATELESS_INVALID"), 0, "query is not set")
            handler(getattr(query.payload, which), resp)
        except _Fail as f:
            resp.Clear()
            resp.error_response.reason = f.reason  # type: ignore[assignment]
            resp.error_response.message = f.message
            resp.error_response.error_code = f.code
        resp.query_hash = sha3_256(query.payload.SerializeToString()).hex()
        return resp

    def _authenticate(self, query: queries_pb2.Query) -> None:
        self.creator = query.payload.meta.creator_account_id
        key = query.signature.public_key.lower()
        if not key or not self.wsv.is_signatory(self.creator, key):
            raise _stateful(3, "query signatory is not a signatory of the creator")
        self.perms = self.wsv.account_permissions(self.creator)

    def _need(self, ok: bool) -> None:
        if not ok:
            raise _stateful(2, "query creator has no permission for this query")

    def _can(self, permission: int) -> bool:
        return P.has(self.perms, permission)

    def _triplet(self, target: str, my: str, domain: str, everyone: str) -> None:
        self._need(
            self._can(PR.Value(everyone))
            or (domain_of(target) == domain_of(self.creator) and self._can(PR.Value(domain)))
            or (target == self.creator and self._can(PR.Value(my)))
        )

    def _block(self, height: int) -> block_pb2.Block:
        b = self._blocks.get(height)
        if b is None:
            raw = self.reader.get(K.height_key(K.BLOCK, height))
            if raw is None:
                raise _stateful(1, f"block {height} is missing")
            b = self._blocks[height] = block_pb2.Block.FromString(raw)
        return b

    # --- accounts ---------------------------------------------------------------------

    def _account_json(self, account_id: str, writer: str = "", key: str = "") -> dict[str, Any]:
        out: dict[str, dict[str, str]] = {}
        prefix = K.DETAIL + account_id.encode() + b"/"
        for k, v in self.wsv.iterate(prefix):
            w, _, dk = k[len(prefix) :].decode().partition("/")
            if (writer and w != writer) or (key and dk != key):
                continue
            out.setdefault(w, {})[dk] = v.decode()
        return out

    def _q_get_account(self, q: queries_pb2.GetAccount, resp: R.QueryResponse) -> None:
        self._triplet(
            q.account_id, "can_get_my_account", "can_get_domain_accounts", "can_get_all_accounts"
        )
        quorum = self.wsv.account_quorum(q.account_id)
        if quorum is None:
            raise _missing("NO_ACCOUNT", f"no account {q.account_id}")
        r = resp.account_response
        r.account.account_id = q.account_id
        r.account.domain_id = domain_of(q.account_id)
        r.account.quorum = quorum
        r.account.json_data = json.dumps(self._account_json(q.account_id))
        r.account_roles.extend(self.wsv.account_roles(q.account_id))

    def _q_get_signatories(self, q: queries_pb2.GetSignatories, resp: R.QueryResponse) -> None:
        self._triplet(
            q.account_id,
            "can_get_my_signatories",
            "can_get_domain_signatories",
            "can_get_all_signatories",
        )
        keys = self.wsv.signatories(q.account_id)
        if not keys:
            raise _missing("NO_SIGNATORIES", f"no signatories of {q.account_id}")
        resp.signatories_response.keys.extend(keys)

    def _q_get_account_assets(self, q: queries_pb2.GetAccountAssets, resp: R.QueryResponse) -> None:
        self._triplet(
            q.account_id, "can_get_my_acc_ast", "can_get_domain_acc_ast", "can_get_all_acc_ast"
        )
        prefix = K.BALANCE + q.account_id.encode() + b"/"
        rows = [(k[len(prefix) :].decode(), int(v)) for k, v in self.wsv.iterate(prefix)]
        start, size = 0, len(rows)
        if q.HasField("pagination_meta"):
            meta = q.pagination_meta
            size = meta.page_size or size
            if meta.HasField("first_asset_id"):
                ids = [a for a, _ in rows]
                if meta.first_asset_id not in ids:
                    raise _stateful(4, f"first asset {meta.first_asset_id} not found")
                start = ids.index(meta.first_asset_id)
        r = resp.account_assets_response
        for asset_id, units in rows[start : start + size]:
            precision = self.wsv.asset_precision(asset_id) or 0
            r.account_assets.add(
                asset_id=asset_id, account_id=q.account_id, balance=format_units(units, precision)
            )
        r.total_number = len(rows)
        if start + size < len(rows):
            r.next_asset_id = rows[start + size][0]

    def _q_get_account_detail(self, q: queries_pb2.GetAccountDetail, resp: R.QueryResponse) -> None:
        target = q.account_id if q.HasField("account_id") else self.creator
        self._triplet(
            target, "can_get_my_acc_detail", "can_get_domain_acc_detail", "can_get_all_acc_detail"
        )
        if self.wsv.account_quorum(target) is None:
            raise _missing("NO_ACCOUNT_DETAIL", f"no account {target}")
        writer = q.writer if q.HasField("writer") else ""
        key = q.key if q.HasField("key") else ""
        details = self._account_json(target, writer, key)
        records = [(w, k, v) for w in sorted(details) for k, v in sorted(details[w].items())]
        r = resp.account_detail_response
        r.total_number = len(records)
        start, size = 0, len(records)
        if q.HasField("pagination_meta"):
            meta = q.pagination_meta
            size = meta.page_size or size
            if meta.HasField("first_record_id"):
                first = (meta.first_record_id.writer, meta.first_record_id.key)
                ids = [(w, k) for w, k, _ in records]
                if first not in ids:
                    raise _stateful(4, "first record id not found")
                start = ids.index(first)
        page: dict[str, dict[str, str]] = {}
        for w, k, v in records[start : start + size]:
            page.setdefault(w, {})[k] = v
        r.detail = json.dumps(page)
        if start + size < len(records):
            nw, nk, _ = records[start + size]
            r.next_record_id.writer = nw
            r.next_record_id.key = nk

    # --- assets, roles, peers ------------------------------------------------------------

    def _q_get_asset_info(self, q: queries_pb2.GetAssetInfo, resp: R.QueryResponse) -> None:
        self._need(self._can(P.P.Value("can_read_assets")))
        precision = self.wsv.asset_precision(q.asset_id)
        if precision is None:
            raise _missing("NO_ASSET", f"no asset {q.asset_id}")
        a = resp.asset_response.asset
        a.asset_id, a.domain_id, a.precision = q.asset_id, domain_of(q.asset_id), precision

    def _q_get_roles(self, q: queries_pb2.GetRoles, resp: R.QueryResponse) -> None:
        self._need(self._can(P.P.Value("can_get_roles")))
        roles = self.wsv.keys_after(K.ROLE)
        if not roles:
            raise _missing("NO_ROLES", "no roles")
        resp.roles_response.roles.extend(roles)

    def _q_get_role_permissions(
        self, q: queries_pb2.GetRolePermissions, resp: R.QueryResponse
    ) -> None:
        self._need(self._can(P.P.Value("can_get_roles")))
        m = self.wsv.role_permissions(q.role_id)
        if m is None:
            raise _missing("NO_ROLES", f"no role {q.role_id}")
        resp.role_permissions_response.permissions.extend(P.unmask(m))  # type: ignore[arg-type]

    def _q_get_peers(self, q: queries_pb2.GetPeers, resp: R.QueryResponse) -> None:
        self._need(self._can(P.P.Value("can_get_peers")) or self._can(P.P.Value("can_get_blocks")))
        for prefix in (K.PEER, K.SYNC_PEER):
            for _, v in self.wsv.iterate(prefix):
                resp.peers_response.peers.add().ParseFromString(v)

    def _q_get_engine_receipts(
        self, q: queries_pb2.GetEngineReceipts, resp: R.QueryResponse
    ) -> None:
        target = self.creator
        at = self._committed_at(q.tx_hash)
        if at is not None:
            target = self._tx_at(*at).payload.reduced_payload.creator_account_id
        self._triplet(
            target,
            "can_get_my_engine_receipts",
            "can_get_domain_engine_receipts",
            "can_get_all_engine_receipts",
        )
        resp.engine_receipts_response.SetInParent()  # no EVM: never any receipt

    # --- blocks and transactions ---------------------------------------------------------

    def _q_get_block(self, q: queries_pb2.GetBlock, resp: R.QueryResponse) -> None:
        self._need(self._can(P.P.Value("can_get_blocks")))
        if q.height < 1 or q.height > self.height:
            raise _stateful(3, f"no block at height {q.height}")
        resp.block_response.block.CopyFrom(self._block(q.height))

    def _committed_at(self, hash_hex: str) -> tuple[int, int] | None:
        """(height, index) of a committed transaction; None if unknown or rejected."""
        try:
            tx_hash = bytes.fromhex(hash_hex)
        except ValueError:
            return None  # not a hash: no such transaction
        raw = self.reader.get(K.tx_key(tx_hash, self._legacy_tx_keys))
        rec = None if raw is None else TxRecord.decode(raw)
        return (rec.height, rec.index) if rec is not None and rec.committed else None

    def _tx_at(self, height: int, index: int) -> transaction_pb2.Transaction:
        tx: transaction_pb2.Transaction = self._block(height).block_v1.payload.transactions[index]
        return tx

    def _q_get_transactions(self, q: queries_pb2.GetTransactions, resp: R.QueryResponse) -> None:
        all_txs = self._can(P.P.Value("can_get_all_txs"))
        self._need(all_txs or self._can(P.P.Value("can_get_my_txs")))
        out = []
        for h in q.tx_hashes:
            at = self._committed_at(h)
            tx = None if at is None else self._tx_at(*at)
            if tx is None:
                raise _stateful(4, f"transaction {h} not found")
            if not all_txs and tx.payload.reduced_payload.creator_account_id != self.creator:
                raise _stateful(4, f"transaction {h} not visible to {self.creator}")
            out.append(tx)
        resp.transactions_response.transactions.extend(out)

    def _history_page(
        self, prefix: bytes, meta: queries_pb2.TxPaginationMeta, resp: R.QueryResponse
    ) -> None:
        rows: list[tuple[int, int, int]] = []  # height, index, created
        lo_h = meta.first_tx_height if meta.HasField("first_tx_height") else 0
        hi_h = meta.last_tx_height if meta.HasField("last_tx_height") else 1 << 64
        lo_t = _ms(meta.first_tx_time) if meta.HasField("first_tx_time") else 0
        hi_t = _ms(meta.last_tx_time) if meta.HasField("last_tx_time") else 1 << 64
        for k, v in self.reader.iterate(prefix):
            for row in K.history_rows(k[len(prefix) :], v):
                if lo_h <= row[0] <= hi_h and lo_t <= row[2] <= hi_t:
                    rows.append(row)
        sequence = list(meta.ordering.sequence) or [
            queries_pb2.Ordering.FieldOrdering(field="kPosition")
        ]

        def sort_key(row: tuple[int, int, int]) -> tuple[int, ...]:
            parts: list[int] = []
            for fo in sequence:
                sign = -1 if fo.direction == queries_pb2.Direction.Value("kDescending") else 1
                if fo.field == queries_pb2.Field.Value("kCreatedTime"):
                    parts.append(sign * row[2])
                else:
                    parts += [sign * row[0], sign * row[1]]
            parts += [row[0], row[1]]  # position breaks ties deterministically
            return tuple(parts)

        rows.sort(key=sort_key)
        start = 0
        if meta.HasField("first_tx_hash"):
            # the hash is not in the index (it would be a third of its bytes): its record
            # gives the position, which must be one of this page's rows
            pos = self._committed_at(meta.first_tx_hash)
            at = next((i for i, r in enumerate(rows) if r[:2] == pos), None)
            if at is None:
                raise _stateful(4, f"first tx hash {meta.first_tx_hash} not found")
            start = at
        size = meta.page_size or len(rows)
        r = resp.transactions_page_response
        for height, index, _ in rows[start : start + size]:
            r.transactions.append(self._tx_at(height, index))
        r.all_transactions_size = len(rows)
        if start + size < len(rows):
            height, index, _ = rows[start + size]
            r.next_tx_hash = Tx(self._tx_at(height, index)).hash_hex

    def _q_get_account_transactions(
        self, q: queries_pb2.GetAccountTransactions, resp: R.QueryResponse
    ) -> None:
        self._triplet(
            q.account_id, "can_get_my_acc_txs", "can_get_domain_acc_txs", "can_get_all_acc_txs"
        )
        if self.wsv.account_quorum(q.account_id) is None:
            raise _stateful(5, f"no account {q.account_id}")
        self._history_page(K.HISTORY + q.account_id.encode() + b"/", q.pagination_meta, resp)

    def _q_get_account_asset_transactions(
        self, q: queries_pb2.GetAccountAssetTransactions, resp: R.QueryResponse
    ) -> None:
        self._triplet(
            q.account_id,
            "can_get_my_acc_ast_txs",
            "can_get_domain_acc_ast_txs",
            "can_get_all_acc_ast_txs",
        )
        if self.wsv.account_quorum(q.account_id) is None:
            raise _stateful(5, f"no account {q.account_id}")
        if self.wsv.asset_precision(q.asset_id) is None:
            raise _stateful(6, f"no asset {q.asset_id}")
        prefix = K.k(K.ASSET_HISTORY, q.account_id, q.asset_id) + b"/"
        self._history_page(prefix, q.pagination_meta, resp)

    def _q_get_pending_transactions(
        self, q: queries_pb2.GetPendingTransactions, resp: R.QueryResponse
    ) -> None:
        batches = [list(b) for b in (self.pending(self.creator) if self.pending else [])]
        if not q.HasField("pagination_meta"):
            resp.transactions_response.transactions.extend(t.pb for b in batches for t in b)
            return
        meta = q.pagination_meta
        start = 0
        if meta.HasField("first_tx_hash"):
            firsts = [b[0].hash_hex for b in batches]
            if meta.first_tx_hash.lower() not in firsts:
                raise _stateful(4, f"no pending batch starts with {meta.first_tx_hash}")
            start = firsts.index(meta.first_tx_hash.lower())
        r = resp.pending_transactions_page_response
        r.all_transactions_size = sum(len(b) for b in batches)
        room = meta.page_size
        i = start
        while i < len(batches) and len(batches[i]) <= room:
            r.transactions.extend(t.pb for t in batches[i])
            room -= len(batches[i])
            i += 1
        if i < len(batches):
            r.next_batch_info.first_tx_hash = batches[i][0].hash_hex
            r.next_batch_info.batch_size = len(batches[i])
