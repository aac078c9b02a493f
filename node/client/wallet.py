"""Wallet operations over an open ToriiClient: what the CLI, the devnet and benchmarks call.

Each function does one user-level thing (read balances, transfer and wait, pay a KHQR
code, settle a cross-border batch, co-sign a pending transaction, follow blocks) and
returns a typed result. Outcomes the ledger decides are *results* (``TxResult`` with a
readable reason), not exceptions; exceptions are for what stops the operation:

* ``QueryError``: a query answered with an error response (no such account, no
  permission, ...);
* ``PaymentError`` / ``SettlementError`` (node.payments): refused before sending;
* ``GrpcConnectionError`` / ``GrpcError`` (node.client.channel): transport;
* ``WaitTimeout``: no final status in time.

This module reads the clock (it is the client edge); node.payments stays pure.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import trio

from node.client import builders
from node.client.torii import ToriiClient, WaitTimeout
from node.crypto import KeyPair
from node.model import Tx, block_hash, group_batches
from node.payments.crossborder import Settlement, build_settlement
from node.payments.pay import (
    ASSET_PRECISION,
    KhqrPayment,
    currency_label,
    format_units,
    payment_tx,
    plan_khqr_payment,
)
from node.proto.iroha import endpoint_pb2, qry_responses_pb2

S = endpoint_pb2
Clock = Callable[[], int]

#: Index Iroha puts in ``failed_cmd_index`` of a tx rejected only because its ATOMIC
#: batch failed elsewhere (2^64 − 1).
SIBLING_FAILED_INDEX = (1 << 64) - 1
#: Heights below the reported ledger height searched for a committed tx's block.
_HEIGHT_SEARCH = 8
_PAGE = 100


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


# The peer's replay cache keys on the query payload hash (creator, created_time, counter,
# query): a random start keeps two processes asking the same in the same millisecond apart.
_counter = itertools.count(secrets.randbits(40) + 1)


# --------------------------------------------------------------------------- errors


_COMMON_CODES = {1: "internal error", 2: "no permission"}
_COMMAND_CODES: dict[str, dict[int, str]] = {
    "TransferAsset": {
        3: "no such source account",
        4: "no such destination account",
        5: "no such asset",
        6: "insufficient funds",
        7: "destination balance would overflow",
        8: "description too long",
    },
    "signatures validation": {
        1: "a signature is not from a signatory of the creator account",
        2: "not enough signatures for the account quorum",
    },
    "AddAssetQuantity": {3: "no such asset (or too many decimals)", 4: "balance would overflow"},
    "SubtractAssetQuantity": {3: "no such asset", 4: "insufficient funds"},
    "CreateAccount": {3: "no such domain", 4: "account already exists"},
    "CreateAsset": {3: "no such domain", 4: "asset already exists"},
    "CreateDomain": {3: "domain already exists", 4: "default role not found"},
    "AddSignatory": {3: "no such account", 4: "signatory already exists"},
    "RemoveSignatory": {
        3: "no such account",
        4: "no such signatory",
        5: "quorum would exceed the signatories",
    },
    "SetAccountQuorum": {
        3: "no such account",
        4: "no signatories",
        5: "quorum greater than the signatories",
    },
    "AppendRole": {3: "no such account", 4: "no such role"},
    "DetachRole": {3: "no such account", 4: "account lacks that role", 5: "no such role"},
    "SetAccountDetail": {3: "no such account"},
    "CompareAndSetAccountDetail": {
        3: "no such account",
        4: "value already set (old value mismatch)",
    },
    "GrantPermission": {3: "no such account"},
    "RevokePermission": {3: "no such account"},
}


def error_words(command: str, code: int, index: int = 0) -> str:
    """Iroha's stateful error (command name, code) in words, e.g. ``insufficient funds``."""
    if not command and index == SIBLING_FAILED_INDEX:
        return "another transaction of its ATOMIC batch failed"
    words = _COMMAND_CODES.get(command, {}).get(code) or _COMMON_CODES.get(code)
    return words or "refused"


def describe(r: endpoint_pb2.ToriiResponse) -> str:
    """A ToriiResponse in words: ``committed``, ``rejected: insufficient funds
    (TransferAsset code 6)``, ``stateless validation failed: <reason>``."""
    st = r.tx_status
    if st == S.COMMITTED:
        return "committed"
    if st == S.STATELESS_VALIDATION_FAILED:
        return f"stateless validation failed: {r.err_or_cmd_name or 'no reason given'}"
    if st == S.MST_PENDING:
        return "pending: waiting for more signatures"
    if st == S.MST_EXPIRED:
        return "expired waiting for signatures"
    if st == S.NOT_RECEIVED:
        return "not received (unknown to this peer)"
    if st in (S.REJECTED, S.STATEFUL_VALIDATION_FAILED):
        if r.err_or_cmd_name or r.error_code:
            words = error_words(r.err_or_cmd_name, r.error_code, r.failed_cmd_index)
            where = r.err_or_cmd_name or "batch"
            return f"rejected: {words} ({where} code {r.error_code})"
        return "rejected"
    return S.TxStatus.Name(st).lower().replace("_", " ")


class QueryError(Exception):
    """A query answered with ErrorResponse; ``reason`` is its enum name."""

    def __init__(self, reason: str, code: int, message: str) -> None:
        self.reason = reason
        self.code = code
        self.message = message
        super().__init__(self._words())

    def _words(self) -> str:
        if self.reason == "STATEFUL_INVALID":
            what = {2: "no permission", 3: "the signing key is not a signatory of the creator"}
            base = what.get(self.code, "refused")
            tail = f": {self.message}" if self.message else ""
            return f"query refused: {base} (code {self.code}){tail}"
        names = {
            "STATELESS_INVALID": "malformed query",
            "NO_ACCOUNT": "no such account",
            "NO_ACCOUNT_ASSETS": "no assets",
            "NO_ACCOUNT_DETAIL": "no such detail",
            "NO_SIGNATORIES": "no signatories",
            "NOT_SUPPORTED": "query not supported",
            "NO_ASSET": "no such asset",
            "NO_ROLES": "no roles",
        }
        text = names.get(self.reason, self.reason.lower())
        return f"{text}: {self.message}" if self.message else text


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Identity:
    """Who signs: an account id and one of its signatory keys."""

    account_id: str
    key: KeyPair


@dataclass(frozen=True)
class Balance:
    asset_id: str
    amount: Decimal
    precision: int

    @property
    def text(self) -> str:
        return format_units(self.amount, self.precision)

    @property
    def currency(self) -> str:
        return currency_label(self.asset_id)

    def as_dict(self) -> dict[str, str | int]:
        return {"asset": self.asset_id, "balance": self.text, "precision": self.precision}


@dataclass(frozen=True)
class AccountInfo:
    account_id: str
    domain_id: str
    quorum: int
    roles: tuple[str, ...]
    details: dict[str, Any]  # {writer: {key: value}}
    signatories: tuple[str, ...] | None  # None: not permitted to read them

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "domain_id": self.domain_id,
            "quorum": self.quorum,
            "roles": list(self.roles),
            "details": self.details,
            "signatories": None if self.signatories is None else list(self.signatories),
        }


@dataclass(frozen=True)
class TxResult:
    """The outcome of one transaction as far as it was followed."""

    tx_hash: str
    status: int  # endpoint_pb2.TxStatus
    reason: str  # describe() of the response that decided it
    command: str = ""
    error_code: int = 0
    failed_index: int = 0
    height: int | None = None

    @property
    def status_name(self) -> str:
        return S.TxStatus.Name(self.status)

    @property
    def committed(self) -> bool:
        return self.status == S.COMMITTED

    @property
    def pending(self) -> bool:
        return self.status == S.MST_PENDING

    @property
    def final(self) -> bool:
        return self.status in (
            S.COMMITTED,
            S.REJECTED,
            S.STATELESS_VALIDATION_FAILED,
            S.MST_EXPIRED,
        )

    def summary(self) -> str:
        if self.committed:
            return "committed" if self.height is None else f"committed in block {self.height}"
        return self.reason

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tx_hash": self.tx_hash,
            "status": self.status_name,
            "summary": self.summary(),
        }
        if self.height is not None:
            out["height"] = self.height
        if self.command or self.error_code:
            out["error"] = {
                "command": self.command,
                "code": self.error_code,
                "index": self.failed_index,
                "words": error_words(self.command, self.error_code, self.failed_index),
            }
        return out


@dataclass(frozen=True)
class BatchResult:
    results: tuple[TxResult, ...]

    @property
    def committed(self) -> bool:
        return all(r.committed for r in self.results)

    @property
    def pending(self) -> bool:
        return any(r.pending for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"committed": self.committed, "txs": [r.as_dict() for r in self.results]}


@dataclass(frozen=True)
class PayResult:
    payment: KhqrPayment
    result: TxResult


@dataclass(frozen=True)
class BlockSummary:
    height: int
    hash: str
    txs: int
    rejected: int
    created_time_ms: int
    tx_hashes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "hash": self.hash,
            "txs": self.txs,
            "rejected": self.rejected,
            "created_time": self.created_time_ms,
        }


def _result(
    tx_hash: str,
    r: endpoint_pb2.ToriiResponse | None,
    decided: endpoint_pb2.ToriiResponse | None,
) -> TxResult:
    if r is None:
        return TxResult(tx_hash, S.NOT_RECEIVED, "not received (unknown to this peer)")
    # A REJECTED from a peer that only saw the commit may carry no reason; the earlier
    # STATEFUL_VALIDATION_FAILED does.
    bare = not (r.err_or_cmd_name or r.error_code)
    src = decided if (r.tx_status == S.REJECTED and bare and decided is not None) else r
    stateless = r.tx_status == S.STATELESS_VALIDATION_FAILED  # its text is a reason
    return TxResult(
        tx_hash=tx_hash,
        status=r.tx_status,
        reason=describe(src),
        command="" if stateless else src.err_or_cmd_name,
        error_code=src.error_code,
        failed_index=src.failed_cmd_index,
    )


# --------------------------------------------------------------------------- queries


async def query(
    client: ToriiClient, who: Identity, now_ms: Clock = wall_clock_ms, **body: Any
) -> qry_responses_pb2.QueryResponse:
    """One signed query (``get_account={...}`` etc.); raises QueryError on an error answer."""
    q = builders.build_query(who.account_id, now_ms(), next(_counter), who.key, **body)
    r = await client.query(q)
    if r.WhichOneof("response") == "error_response":
        e = r.error_response
        raise QueryError(
            qry_responses_pb2.ErrorResponse.Reason.Name(e.reason), e.error_code, e.message
        )
    return r


async def account(client: ToriiClient, who: Identity, account_id: str | None = None) -> AccountInfo:
    """GetAccount (+ GetSignatories when permitted) of ``account_id`` (default: own)."""
    target = account_id or who.account_id
    r = await query(client, who, get_account={"account_id": target})
    acc = r.account_response.account
    try:
        details = json.loads(acc.json_data) if acc.json_data else {}
    except ValueError:
        details = {"_raw": acc.json_data}
    try:
        sr = await query(client, who, get_signatories={"account_id": target})
        signatories: tuple[str, ...] | None = tuple(sr.signatories_response.keys)
    except QueryError:
        signatories = None
    return AccountInfo(
        account_id=acc.account_id,
        domain_id=acc.domain_id,
        quorum=acc.quorum,
        roles=tuple(r.account_response.account_roles),
        details=details,
        signatories=signatories,
    )


def _precision(asset_id: str, text: str) -> int:
    known = ASSET_PRECISION.get(asset_id)
    if known is not None:
        return known
    _, _, frac = text.partition(".")
    return len(frac)


async def balances(
    client: ToriiClient, account_id: str, key: KeyPair, *, creator: str | None = None
) -> list[Balance]:
    """Every asset of ``account_id`` (all pages); the query is signed by ``creator``
    (default: the account itself) with ``key``."""
    who = Identity(creator or account_id, key)
    out: list[Balance] = []
    first: str | None = None
    while True:
        meta: dict[str, Any] = {"page_size": _PAGE}
        if first is not None:
            meta["first_asset_id"] = first
        r = await query(
            client, who, get_account_assets={"account_id": account_id, "pagination_meta": meta}
        )
        page = r.account_assets_response
        for a in page.account_assets:
            out.append(Balance(a.asset_id, Decimal(a.balance), _precision(a.asset_id, a.balance)))
        if not page.HasField("next_asset_id") or not page.next_asset_id:
            return out
        first = page.next_asset_id


async def wallet(client: ToriiClient, who: Identity) -> dict[str, Decimal]:
    """Asset id -> balance of ``who``'s own account."""
    return {b.asset_id: b.amount for b in await balances(client, who.account_id, who.key)}


async def find_height(
    client: ToriiClient, who: Identity, tx: Tx, near: int | None = None
) -> int | None:
    """Height of the block holding committed ``tx`` (created by ``who``), or None.

    Uses only the creator's own history permission: the ledger height from Healthcheck
    (when the peer reports it), then GetAccountTransactions restricted to one height
    starting at ``tx``'s hash, for a few heights downwards.
    """
    if tx.creator != who.account_id:
        return None
    if near is None:
        health = await client.healthcheck()
        if not health.HasField("last_block_height"):
            return None
        near = health.last_block_height
    for h in range(near, max(0, near - _HEIGHT_SEARCH), -1):
        meta = {
            "page_size": 1,
            "first_tx_hash": tx.hash_hex,
            "first_tx_height": h,
            "last_tx_height": h,
        }
        try:
            await query(
                client,
                who,
                get_account_transactions={"account_id": who.account_id, "pagination_meta": meta},
            )
        except QueryError as e:
            if e.code == 4:  # not at this height
                continue
            return None
        return h
    return None


# --------------------------------------------------------------------------- commands


async def follow(
    client: ToriiClient, tx_hash: bytes | str, timeout: float, *, until_pending: bool = False
) -> TxResult:
    """Follow a tx's statuses until final (or MST_PENDING with ``until_pending``).

    Raises WaitTimeout. Keeps the reason of a STATEFUL_VALIDATION_FAILED for the
    REJECTED that follows it.
    """
    hex_hash = tx_hash.hex() if isinstance(tx_hash, bytes) else tx_hash.lower()
    last: endpoint_pb2.ToriiResponse | None = None
    decided: endpoint_pb2.ToriiResponse | None = None
    stop = {S.COMMITTED, S.REJECTED, S.STATELESS_VALIDATION_FAILED, S.MST_EXPIRED}
    if until_pending:
        stop.add(S.MST_PENDING)
    pause = 0.05
    with trio.move_on_after(timeout):
        while True:
            async with aclosing(client.status_stream(hex_hash)) as stream:
                async for r in stream:
                    last = r
                    if r.tx_status == S.STATEFUL_VALIDATION_FAILED:
                        decided = r
                    if r.tx_status in stop:
                        return _result(hex_hash, r, decided)
            await trio.sleep(pause)
            pause = min(pause * 2, 1.0)
    raise WaitTimeout(hex_hash, timeout, last)


async def submit_and_wait(
    client: ToriiClient,
    txs: Sequence[Tx],
    *,
    timeout: float = 30.0,
    wait: bool = True,
    heights_for: Identity | Mapping[str, KeyPair] | None = None,
) -> BatchResult:
    """Send ``txs`` (one tx with Torii, several with ListTorii) and follow each.

    A tx that lacks signatures for its quorum stops at MST_PENDING. With ``wait`` False
    the results are the statuses right after sending. ``heights_for``: find the block
    height of committed txs created by that identity, or by any account of a mapping
    account id -> key (see find_height).
    """
    if not txs:
        raise ValueError("nothing to submit")
    if len(txs) == 1:
        await client.send_tx(txs[0])
    else:
        await client.send_txs(txs)
    results: list[TxResult] = []
    deadline = trio.current_time() + timeout
    for t in txs:
        if not wait:
            r = await client.status(t.hash)
            results.append(_result(t.hash_hex, r, None))
            continue
        short = len(t.signatures) < t.quorum
        left = max(0.0, deadline - trio.current_time())
        results.append(await follow(client, t.hash, left, until_pending=short))
    if heights_for is not None and wait:
        keys = (
            {heights_for.account_id: heights_for.key}
            if isinstance(heights_for, Identity)
            else heights_for
        )
        near: int | None = None
        out = []
        for t, res in zip(txs, results, strict=True):
            key = keys.get(t.creator)
            if res.committed and key is not None:
                h = await find_height(client, Identity(t.creator, key), t, near)
                near = h if h is not None else near
                res = TxResult(
                    res.tx_hash, res.status, res.reason, res.command, res.error_code,
                    res.failed_index, h,
                )  # fmt: skip
            out.append(res)
        results = out
    return BatchResult(tuple(results))


async def submit_batch_and_wait(
    client: ToriiClient,
    txs: Sequence[Tx],
    *,
    timeout: float = 30.0,
    keys: Mapping[str, KeyPair] | None = None,
) -> BatchResult:
    """A signed batch (make_batch + signatures) through ListTorii, each tx followed;
    ``keys`` (creator -> key) lets committed txs report their block height."""
    return await submit_and_wait(client, txs, timeout=timeout, heights_for=keys)


async def transfer_and_wait(
    client: ToriiClient,
    who: Identity,
    dest: str,
    asset_id: str,
    amount: str | Decimal,
    description: str = "",
    *,
    quorum: int = 1,
    timeout: float = 30.0,
    wait: bool = True,
    now_ms: Clock = wall_clock_ms,
) -> TxResult:
    """One TransferAsset from ``who``'s account, signed by ``who``, followed to its end."""
    cmd = builders.transfer_asset(who.account_id, dest, asset_id, amount, description)
    tx = builders.sign_tx(builders.build_tx(who.account_id, [cmd], now_ms(), quorum), who.key)
    res = await submit_and_wait(client, [tx], timeout=timeout, wait=wait, heights_for=who)
    return res.results[0]


async def pay_khqr(
    client: ToriiClient,
    who: Identity,
    code_text: str,
    *,
    amount: Decimal | None = None,
    check_funds: bool = True,
    timeout: float = 30.0,
    now_ms: Clock = wall_clock_ms,
) -> PayResult:
    """Pay a KHQR code from ``who``'s account; PaymentError when refused before sending."""
    funds = await wallet(client, who) if check_funds else None
    now = now_ms()
    payment = plan_khqr_payment(code_text, who.account_id, now, amount, funds)
    tx = builders.sign_tx(payment_tx(payment, now), who.key)
    res = await submit_and_wait(client, [tx], timeout=timeout, heights_for=who)
    return PayResult(payment, res.results[0])


async def settle(
    client: ToriiClient,
    settlement: Settlement,
    keys: Mapping[str, KeyPair | Sequence[KeyPair]],
    *,
    timeout: float = 30.0,
    now_ms: Clock = wall_clock_ms,
) -> BatchResult:
    """Submit a cross-border settlement (one ATOMIC batch) and follow every tx."""
    txs = build_settlement(settlement, now_ms(), keys)
    first = {a: k if isinstance(k, KeyPair) else k[0] for a, k in keys.items() if k}
    return await submit_and_wait(client, txs, timeout=timeout, heights_for=first)


# --------------------------------------------------------------------------- multisig


async def pending_batches(client: ToriiClient, who: Identity) -> list[list[Tx]]:
    """Pending (MST) batches that involve ``who``'s account, all pages."""
    out: list[Tx] = []
    first: str | None = None
    while True:
        meta: dict[str, Any] = {"page_size": _PAGE}
        if first is not None:
            meta["first_tx_hash"] = first
        r = await query(client, who, get_pending_transactions={"pagination_meta": meta})
        kind = r.WhichOneof("response")
        if kind == "transactions_response":  # an old peer ignoring pagination
            out.extend(Tx(t) for t in r.transactions_response.transactions)
            break
        page = r.pending_transactions_page_response
        out.extend(Tx(t) for t in page.transactions)
        nxt = page.next_batch_info.first_tx_hash if page.HasField("next_batch_info") else ""
        if not nxt:
            break
        first = nxt
    return [list(b.txs) for b in group_batches(out)]


class CosignError(Exception):
    """Nothing to co-sign: the tx is not pending for this account, or already signed."""


def cosigned(batch: Sequence[Tx], who: Identity) -> list[Tx]:
    """``batch`` with ``who``'s signature added to each tx that ``who``'s account created."""
    mine = [t for t in batch if t.creator == who.account_id]
    if not mine:
        raise CosignError(f"no transaction of this batch is created by {who.account_id}")
    if all(who.key.public_key in {s.public_key.lower() for s in t.signatures} for t in mine):
        raise CosignError(f"already signed with {who.key.public_key[:16]}…")
    return [builders.sign_tx(t, who.key) if t.creator == who.account_id else t for t in batch]


async def cosign(
    client: ToriiClient,
    who: Identity,
    target: str | Sequence[Tx],
    *,
    timeout: float = 30.0,
) -> BatchResult:
    """Add ``who``'s signature to a pending batch and resubmit it.

    ``target`` is a tx hash (hex; the batch is fetched with GetPendingTransactions) or
    the batch's txs (e.g. from a file). Follows each tx until final, or until it is
    known to be still short of signatures (MST_PENDING).
    """
    if isinstance(target, str):
        wanted = target.lower()
        batch = next(
            (b for b in await pending_batches(client, who) if any(t.hash_hex == wanted for t in b)),
            None,
        )
        if batch is None:
            raise CosignError(f"no pending transaction {wanted} for {who.account_id}")
    else:
        batch = list(target)
    signed = cosigned(batch, who)
    return await submit_and_wait(client, signed, timeout=timeout, heights_for=who)


# --------------------------------------------------------------------------- blocks


async def watch_blocks(
    client: ToriiClient, who: Identity, now_ms: Clock = wall_clock_ms
) -> AsyncGenerator[BlockSummary, None]:
    """Blocks committed from now on (FetchCommits), until the caller stops iterating.

    Raises QueryError("STATEFUL_INVALID") when the peer refuses the stream (no
    can_get_blocks, or a bad signature).
    """
    bq = builders.build_blocks_query(who.account_id, now_ms(), next(_counter), who.key)
    async with aclosing(client.fetch_commits(bq)) as stream:
        async for r in stream:
            if r.WhichOneof("response") == "block_error_response":
                raise QueryError("STATEFUL_INVALID", 2, r.block_error_response.message)
            b = r.block_response.block.block_v1
            p = b.payload
            yield BlockSummary(
                height=p.height,
                hash=block_hash(b).hex(),
                txs=len(p.transactions),
                rejected=len(p.rejected_transactions_hashes),
                created_time_ms=p.created_time,
                tx_hashes=tuple(Tx(t).hash_hex for t in p.transactions),
            )
