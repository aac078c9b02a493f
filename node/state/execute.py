"""Stateful validation and execution of a proposal on a scratch world-state view.

``execute_txs`` runs transactions batch by batch (iroha1.md §4.3-4.4): per transaction
first "signatures validation" (every signing key is a signatory of the creator and there
are at least ``account quorum`` distinct ones), then the commands in order; the first
failing command rolls the transaction back. ATOMIC batches are all-or-nothing (the other
transactions get Iroha's "another transaction failed the batch" error); ORDERED batches
and single transactions stand alone. A transaction whose hash is already in the ledger,
or repeats within the proposal, is dropped (neither committed nor rejected) so that a
replayed transaction can never commit twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from node.model import BatchType, Tx, group_batches
from node.state import keys as K
from node.state.commands import HANDLERS, ExecContext
from node.state.wsv import WorldStateView

SIBLING_FAILED_INDEX = (1 << 64) - 1


@dataclass(frozen=True)
class TxError:
    """Iroha's stateful failure triple (ToriiResponse err_or_cmd_name/failed_cmd_index/code)."""

    cmd_name: str
    cmd_index: int
    code: int


SIBLING_FAILED = TxError("", SIBLING_FAILED_INDEX, 1)


@dataclass
class ExecutionResult:
    """A block candidate and the state it produces; nothing persisted until commit."""

    height: int
    prev_hash: bytes
    created_time: int
    txs: list[Tx]  # valid, in proposal order
    touched: list[list[tuple[str, str]]]  # per valid tx: (account, asset) histories it joins
    rejected: list[tuple[bytes, TxError]]  # hash, reason; in proposal order
    dropped: list[bytes]  # already known / duplicate hashes, left out of the block
    writes: dict[bytes, bytes | None]  # world-state write set
    payload_bytes: bytes  # the unsigned block's payload serialized: what block_hash hashes
    block_hash: bytes
    base_version: int = 0  # ledger state version the result was computed on
    roles_changed: bool = field(default=False)
    role_accounts: frozenset[str] = frozenset()  # whose roles changed (all_roles: everyone's)
    all_roles: bool = False
    settings_changed: bool = field(default=False)
    peers_changed: bool = field(default=False)

    @property
    def rejected_hashes(self) -> list[bytes]:
        return [h for h, _ in self.rejected]


def check_signatures(wsv: WorldStateView, creator: str, tx: Tx) -> TxError | None:
    quorum = wsv.account_quorum(creator)
    if quorum is None:
        return TxError("signatures validation", 0, 1)
    signers = tx.signed_by()
    prefix = K.SIGNATORY + creator.encode() + b"/"
    for key in signers:
        if wsv.get(prefix + key.encode()) is None:
            return TxError("signatures validation", 0, 1)
    if len(signers) < quorum:
        return TxError("signatures validation", 0, 2)
    return None


def apply_tx(ctx: ExecContext, tx: Tx) -> TxError | None:
    """Run one transaction inside its own savepoint; roll it back on failure."""
    wsv = ctx.wsv
    creator = ctx.creator = tx.creator
    ctx.touched = []
    if ctx.checks:
        err = check_signatures(wsv, creator, tx)
        if err is not None:
            return err
    wsv.begin()
    for index, (which, c) in enumerate(tx.command_pairs()):
        entry = HANDLERS.get(which) if which is not None else None
        if entry is None:
            wsv.rollback()
            return TxError("", index, 1)
        name, handler = entry
        code = handler(ctx, c)
        if code:
            wsv.rollback()
            if ctx.roles_changed:
                ctx.forget_roles()  # masks cached after the rolled-back change
            return TxError(name, index, code)
    wsv.release()
    return None


def execute_txs(
    wsv: WorldStateView,
    txs: Sequence[Tx],
    perm_cache: dict[str, int],
    known: Callable[[bytes], bool],
    checks: bool = True,
) -> tuple[
    list[Tx], list[list[tuple[str, str]]], list[tuple[bytes, TxError]], list[bytes], ExecContext
]:
    """Execute ``txs`` on ``wsv``: (valid, the (account, asset) pairs whose history each
    valid tx joins, rejected, dropped, context with change flags)."""
    ctx = ExecContext(wsv, perm_cache, checks)
    valid: list[Tx] = []
    touched: list[list[tuple[str, str]]] = []
    rejected: list[tuple[bytes, TxError]] = []
    dropped: list[bytes] = []
    seen: set[bytes] = set()
    for batch in group_batches(txs):
        fresh = []
        for tx in batch.txs:
            h = tx.hash
            if h in seen or known(h):
                dropped.append(h)
            else:
                seen.add(h)
                fresh.append(tx)
        if not fresh:
            continue
        if batch.type is BatchType.ATOMIC:
            wsv.begin()
            failed: tuple[int, TxError] | None = None
            pairs = []
            for i, tx in enumerate(fresh):
                err = apply_tx(ctx, tx)
                if err is not None:
                    failed = (i, err)
                    break
                pairs.append(ctx.touched)
            if failed is None:
                wsv.release()
                valid.extend(fresh)
                touched.extend(pairs)
            else:
                wsv.rollback()
                if ctx.roles_changed:
                    ctx.forget_roles()
                for i, tx in enumerate(fresh):
                    rejected.append((tx.hash, failed[1] if i == failed[0] else SIBLING_FAILED))
        else:
            for tx in fresh:
                err = apply_tx(ctx, tx)
                if err is None:
                    valid.append(tx)
                    touched.append(ctx.touched)
                else:
                    rejected.append((tx.hash, err))
    return valid, touched, rejected, dropped, ctx
