"""Iroha 1 stateless rules (shared_model/validators), with Iroha's reason texts.

Each check returns ``None`` when the input is valid, else one human-readable reason
(several problems are joined with "; "), which Torii reports in
``ToriiResponse.err_or_cmd_name`` with STATELESS_VALIDATION_FAILED.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from node.config import (
    MAX_AMOUNT_FRACTION_DIGITS,
    MAX_DESCRIPTION_BYTES,
    MAX_DETAIL_VALUE_BYTES,
    MAX_FUTURE_CREATED_MS,
    MAX_HEX_KEY_CHARS,
    MAX_PRECISION,
    MAX_QUORUM,
    ChainParameters,
    ValidationLimits,
)
from node.model import Batch, BatchType, Tx
from node.proto.iroha import primitive_pb2, queries_pb2

Verifier = Callable[[str, bytes, bytes], bool]

# Iroha's patterns (field_validator.cpp), anchored with fullmatch.
_NAME = r"[a-z_0-9]{1,32}"
_DOMAIN = r"([a-zA-Z]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?"
_OCTET = r"([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])"
_IPV4 = rf"(({_OCTET}\.){{3}}){_OCTET}"
_PORT = r"(6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}|0)"
ACCOUNT_ID_PATTERN = _NAME + r"\@" + _DOMAIN
ASSET_ID_PATTERN = _NAME + r"\#" + _DOMAIN
ROLE_ID_PATTERN = _NAME
DETAIL_KEY_PATTERN = r"[A-Za-z0-9_]{1,64}"

_name_re = re.compile(_NAME)
_domain_re = re.compile(_DOMAIN)
_account_re = re.compile(ACCOUNT_ID_PATTERN)
_asset_re = re.compile(ASSET_ID_PATTERN)
_key_re = re.compile(DETAIL_KEY_PATTERN)
_peer_re = re.compile(f"(({_IPV4})|({_DOMAIN})):{_PORT}")
_hex_re = re.compile(r"[A-Fa-f0-9]*")
_amount_re = re.compile(r"[0-9]+(\.[0-9]*)?")
_hex64_re = re.compile(r"[A-Fa-f0-9]{64}")

_ROLE_PERMISSIONS = frozenset(primitive_pb2.RolePermission.values())
_GRANTABLE = frozenset(primitive_pb2.GrantablePermission.values())
_AMOUNT_LIMIT = 1 << 256
# Callers check transactions on their event loop, in slices of at most this many with a
# checkpoint between (~20 ms of work on this VM): a worker thread cost more than it
# saved. Each signature check releases the GIL, and a checking thread had to win it back
# from the busy event loop every time; with the checks on the loop, 4 validators on 2
# cores spent 5-15 % less CPU per transaction at max rate (alternating devnet runs).
CHECK_SLICE_TXS = 256

# Identifiers of checked transactions and queries. Every transfer names three accounts
# and an asset, mostly the same few thousand: a set look-up instead of a regex match
# saves about a fifth of a transaction's checks besides its signature. Only the ids of a
# transaction or query that passed every check, its signatures included, are kept
# (``_Reasons.done``; bounded: emptied when full), so neither junk nor well-formed ids
# in unsigned or forged requests fill it.
_WELL_FORMED_MAX = 65_536
_well_formed_accounts: set[str] = set()
_well_formed_assets: set[str] = set()
_well_formed_keys: set[str] = set()


def _remember(known: set[str], value: str) -> None:
    if len(value) > 128:
        return  # rare and long: not worth the memory
    if len(known) >= _WELL_FORMED_MAX:
        known.clear()
    known.add(value)


def is_valid_account_id(s: str) -> bool:
    return s in _well_formed_accounts or _account_re.fullmatch(s) is not None


def is_valid_asset_id(s: str) -> bool:
    return s in _well_formed_assets or _asset_re.fullmatch(s) is not None


def is_valid_domain_id(s: str) -> bool:
    return _domain_re.fullmatch(s) is not None


def is_valid_public_key(key: str) -> bool:
    """64 hex (legacy ed25519-sha3) or ``ed0120`` + 64 hex (multihash ed25519), any case."""
    if key in _well_formed_keys:
        return True
    if len(key) == 64:
        return _hex64_re.fullmatch(key) is not None
    if len(key) == 70 and key[:6].lower() == "ed0120":
        return _hex64_re.fullmatch(key[6:]) is not None
    return False


def _hex_bytes(s: str) -> bytes | None:
    """The bytes of a string of hex digits only (either case), else None. One C call
    instead of a regex match and then the decode: fromhex rejects non-hex characters
    but skips whitespace, so whitespace shows as fewer bytes than len(s) / 2."""
    try:
        raw = bytes.fromhex(s)
    except ValueError:
        return None
    return raw if 2 * len(raw) == len(s) else None


def parse_amount(s: str) -> tuple[int, int] | None:
    """Iroha amount text -> (integer value, fractional digits); None if malformed.

    Digits with at most one '.', not starting with '.', at most 255 fractional digits,
    below 2^256 as an integer (positivity is checked separately).
    """
    if not s or _amount_re.fullmatch(s) is None:
        return None
    whole, _, frac = s.partition(".")
    if len(frac) > MAX_AMOUNT_FRACTION_DIGITS:
        return None
    value = int(whole + frac) if (whole + frac) else 0
    if value >= _AMOUNT_LIMIT:
        return None
    return value, len(frac)


class _Reasons:
    """The problems found in one transaction or query, and the well-formed ids it named
    that the memo does not hold yet (kept by ``done`` only if nothing was found)."""

    __slots__ = ("fresh", "items")

    def __init__(self) -> None:
        self.items: list[str] = []
        self.fresh: list[tuple[set[str], str]] = []

    def add(self, msg: str) -> None:
        self.items.append(msg)

    def account_id(self, value: str, field: str = "account_id") -> None:
        if value in _well_formed_accounts:
            return
        if _account_re.fullmatch(value) is None:
            self.add(
                f"Wrongly formed {field}, passed value: '{value}'. "
                f"Field should match regex '{ACCOUNT_ID_PATTERN}'"
            )
        else:
            self.fresh.append((_well_formed_accounts, value))

    def asset_id(self, value: str) -> None:
        if value in _well_formed_assets:
            return
        if _asset_re.fullmatch(value) is None:
            self.add(
                f"Wrongly formed asset_id, passed value: '{value}'. "
                f"Field should match regex '{ASSET_ID_PATTERN}'"
            )
        else:
            self.fresh.append((_well_formed_assets, value))

    def domain_id(self, value: str) -> None:
        if _domain_re.fullmatch(value) is None:
            self.add(
                f"Wrongly formed domain_id, passed value: '{value}'. "
                f"Field should match regex '{_DOMAIN}'"
            )

    def name(self, value: str, field: str) -> None:
        if _name_re.fullmatch(value) is None:
            self.add(
                f"Wrongly formed {field}, passed value: '{value}'. "
                f"Field should match regex '{_NAME}'"
            )

    def pubkey(self, value: str) -> None:
        if not self.key_ok(value):
            self.add(
                f"Public key has wrong format, passed value: '{value[:MAX_HEX_KEY_CHARS]}'. "
                "Expected 64 hex characters (ed25519-sha3) or 'ed0120' + 64 hex (ed25519)"
            )

    def key_ok(self, value: str) -> bool:
        """``is_valid_public_key``, noting a key the memo does not hold yet."""
        if value in _well_formed_keys:
            return True
        if not is_valid_public_key(value):
            return False
        self.fresh.append((_well_formed_keys, value))
        return True

    def amount(self, value: str) -> None:
        parsed = parse_amount(value)
        if parsed is None:
            self.add(f"Wrongly formed amount, passed value: '{value[:80]}'")
        elif parsed[0] <= 0:
            self.add(f"Amount must be greater than 0, passed value: {value}")

    def detail_key(self, value: str) -> None:
        if _key_re.fullmatch(value) is None:
            self.add(
                f"Wrongly formed key, passed value: '{value[:80]}'. "
                f"Field should match regex '{DETAIL_KEY_PATTERN}'"
            )

    def detail_value(self, value: str) -> None:
        if len(value.encode()) > MAX_DETAIL_VALUE_BYTES:
            self.add(f"Detail value size should be less or equal '{MAX_DETAIL_VALUE_BYTES}'")

    def quorum(self, value: int) -> None:
        if value == 0 or value > MAX_QUORUM:
            self.add(f"Quorum should be within range (0, {MAX_QUORUM}]")

    def description(self, value: str) -> None:
        if len(value.encode()) > MAX_DESCRIPTION_BYTES:
            self.add(f"Description size should be less or equal '{MAX_DESCRIPTION_BYTES}'")

    def done(self) -> str | None:
        """The reasons joined, or None: then the ids it named join the memo."""
        if self.items:
            return "; ".join(self.items)
        for known, value in self.fresh:
            _remember(known, value)
        return None


def _check_command(r: _Reasons, kind: str | None, c: Any) -> None:
    """One command: ``kind`` names its set field, ``c`` is that field's message."""
    if kind is None:
        r.add("Undefined command: the command oneof is not set")
        return
    if kind == "transfer_asset":  # first: nearly every command of a payment network
        r.account_id(c.src_account_id, "src_account_id")
        r.account_id(c.dest_account_id, "dest_account_id")
        r.asset_id(c.asset_id)
        r.amount(c.amount)
        r.description(c.description)
        if c.src_account_id == c.dest_account_id:
            r.add("Source and destination accounts cannot be the same")
    elif kind in ("add_asset_quantity", "subtract_asset_quantity"):
        r.asset_id(c.asset_id)
        r.amount(c.amount)
        if c.HasField("description"):
            r.description(c.description)
    elif kind == "add_peer":
        if _peer_re.fullmatch(c.peer.address) is None:
            r.add(
                f"Wrongly formed peer address, passed value: '{c.peer.address}'. Field should "
                "have a valid 'host:port' format where host is IPv4 or a hostname following "
                "RFC1035, RFC1123 specifications"
            )
        r.pubkey(c.peer.peer_key)
    elif kind in ("add_signatory", "remove_signatory"):
        r.account_id(c.account_id)
        r.pubkey(c.public_key)
    elif kind in ("append_role", "detach_role"):
        r.account_id(c.account_id)
        r.name(c.role_name, "role_id")
    elif kind == "create_account":
        r.name(c.account_name, "account_name")
        r.domain_id(c.domain_id)
        r.pubkey(c.public_key)
    elif kind == "create_asset":
        r.name(c.asset_name, "asset_name")
        r.domain_id(c.domain_id)
        if c.precision > MAX_PRECISION:
            r.add(f"Precision value ({c.precision}) is out of allowed range [0; {MAX_PRECISION}]")
    elif kind == "create_domain":
        r.domain_id(c.domain_id)
        r.name(c.default_role, "role_id")
    elif kind == "create_role":
        r.name(c.role_name, "role_id")
        if any(p not in _ROLE_PERMISSIONS for p in c.permissions):
            r.add("Provided role permission does not exist")
    elif kind in ("grant_permission", "revoke_permission"):
        r.account_id(c.account_id)
        if c.permission not in _GRANTABLE:
            r.add("Provided grantable permission does not exist")
    elif kind == "remove_peer":
        r.pubkey(c.public_key)
    elif kind == "set_account_detail":
        r.account_id(c.account_id)
        r.detail_key(c.key)
        r.detail_value(c.value)
    elif kind == "compare_and_set_account_detail":
        r.account_id(c.account_id)
        r.detail_key(c.key)
        r.detail_value(c.value)
        if c.HasField("old_value"):
            r.detail_value(c.old_value)
    elif kind == "set_account_quorum":
        r.account_id(c.account_id)
        r.quorum(c.quorum)
    elif kind == "set_setting_value":
        if not c.key:
            r.add("Setting key cannot be empty")
    elif kind == "call_engine":
        r.account_id(c.caller, "caller")
        if c.HasField("callee") and (len(c.callee) != 40 or not _hex_re.fullmatch(c.callee)):
            r.add(f"Wrongly formed callee, passed value: '{c.callee[:80]}'")
        if _hex_re.fullmatch(c.input) is None:
            r.add("Wrongly formed input: must be hex")


def batch_slices(batches: Sequence[Batch], max_txs: int = CHECK_SLICE_TXS) -> Iterator[list[Batch]]:
    """Consecutive runs of ``batches`` with at most ``max_txs`` transactions in all (a
    bigger batch is a run of its own): units of work between two checkpoints."""
    run: list[Batch] = []
    n = 0
    for b in batches:
        if run and n + len(b.txs) > max_txs:
            yield run
            run, n = [], 0
        run.append(b)
        n += len(b.txs)
    if run:
        yield run


class StatelessValidator:
    """Stateless checks with the chain's parameters and the node's input limits."""

    def __init__(
        self,
        params: ChainParameters,
        limits: ValidationLimits,
        verify: Verifier | None = None,
    ) -> None:
        self.params = params
        self.limits = limits
        if verify is None:
            from node.crypto import verify as _verify

            verify = _verify
        self._verify = verify
        # a batch of one tx is within the batch size limit (see _batch_reasons)
        self._single_fits = min(limits.max_batch_txs, params.max_proposal_size) >= 1

    # --- transactions ---------------------------------------------------------------

    def _in_time(self, ts: int, now_ms: int) -> bool:
        """created_time ``ts`` is within Iroha's window around ``now_ms`` (edges included)."""
        return now_ms - self.params.max_past_created_ms <= ts <= now_ms + MAX_FUTURE_CREATED_MS

    def _created_time(self, r: _Reasons, ts: int, now_ms: int) -> None:
        if self._in_time(ts, now_ms):
            return
        if ts > now_ms:
            r.add(f"bad timestamp: sent from future, timestamp: {ts}, now: {now_ms}")
        else:
            r.add(f"bad timestamp: too old, timestamp: {ts}, now: {now_ms}")

    def _signatures(self, r: _Reasons, sigs: Sequence[tuple[str, str]], blob: bytes) -> None:
        """``sigs``: (public key, signature) pairs in hex as sent."""
        for public_key, sig_hex in sigs:
            raw = _hex_bytes(sig_hex) if len(sig_hex) == 128 else None
            if raw is None:
                r.add(f"Invalid signature: {sig_hex[:MAX_HEX_KEY_CHARS]}")
            if not r.key_ok(public_key):
                r.add(f"Invalid pubkey: {public_key[:MAX_HEX_KEY_CHARS]}")
            elif raw is not None and not self._verify(public_key, blob, raw):
                r.add(f"Wrong signature [{sig_hex};{public_key}]")

    def tx_reasons(self, tx: Tx, now_ms: int, *, in_batch: bool = False) -> str | None:
        """All stateless problems of one transaction, or None."""
        r = _Reasons()
        limits = self.limits
        # each protobuf attribute read builds a wrapper: Tx reads each once and keeps it
        rp = tx.reduced_payload
        cmds = tx.command_pairs()
        n_cmds = len(cmds)
        if n_cmds == 0:
            r.add("Transaction should contain at least one command")
        elif n_cmds > limits.max_commands_per_tx:
            r.add(f"Too many commands: {n_cmds}, at most {limits.max_commands_per_tx}")
        r.account_id(rp.creator_account_id, "creator_account_id")
        self._created_time(r, rp.created_time, now_ms)
        r.quorum(rp.quorum)
        if n_cmds <= limits.max_commands_per_tx:
            for kind, c in cmds:
                _check_command(r, kind, c)
        sigs = tx.signature_pairs()
        n_sigs = len(sigs)
        if n_sigs > limits.max_signatures_per_tx:
            r.add(f"Too many signatures: {n_sigs}, at most {limits.max_signatures_per_tx}")
        else:
            if n_sigs == 0:
                if not in_batch:
                    r.add("Signatures cannot be empty")
                r.fresh.clear()  # an unsigned tx of a batch: nothing vouches for its ids
            self._signatures(r, sigs, tx.payload_bytes)
        size = tx.size
        if size > limits.max_tx_bytes:
            r.add(f"Transaction too large: {size} bytes, at most {limits.max_tx_bytes}")
        return r.done()

    def _time_reasons(self, tx: Tx, now_ms: int, *, in_batch: bool = False) -> str | None:
        r = _Reasons()
        self._created_time(r, tx.created_time, now_ms)
        return r.done()

    def batch_reasons(self, batch: Batch, now_ms: int) -> str | None:
        """Stateless problems of a whole batch (its txs and its meta), or None."""
        return self._batch_reasons(batch, now_ms, self.tx_reasons)

    def recheck_batch(self, batch: Batch, now_ms: int) -> str | None:
        """For a batch whose exact bytes (``Tx.signed_hash`` of each tx) passed
        :meth:`batch_reasons` on this node before, under the same limits: only what can
        have changed since -- created_time against ``now_ms``, the batch size against the
        chain's max_proposal_size -- and the batch's completeness (which txs are grouped
        together). Every other rule is a function of the bytes and the limits alone."""
        # the common case, answered without building a reason: a lone tx whose time is
        # still in range (out of range, the full path words the reason)
        lone = batch.type is BatchType.SINGLE and self._single_fits
        if lone and self._in_time(batch.txs[0].created_time, now_ms):
            return None
        return self._batch_reasons(batch, now_ms, self._time_reasons)

    def _batch_reasons(
        self, batch: Batch, now_ms: int, tx_check: Callable[..., str | None]
    ) -> str | None:
        r = _Reasons()
        n = len(batch.txs)
        max_txs = min(self.limits.max_batch_txs, self.params.max_proposal_size)
        if n > max_txs:
            r.add(f"Batch too large: {n} transactions, at most {max_txs}")
            return r.done()
        in_batch = batch.type != BatchType.SINGLE
        for i, tx in enumerate(batch.txs):
            why = tx_check(tx, now_ms, in_batch=in_batch)
            if why:
                r.add(f"Transaction {i} ({tx.hash_hex}): {why}" if in_batch else why)
        if in_batch:
            meta = batch.txs[0].batch_meta
            assert meta is not None
            hashes = [h.lower() for h in meta.reduced_hashes]
            expected = [t.reduced_hash.hex() for t in batch.txs]
            if len(set(hashes)) != len(hashes):
                r.add("Batch meta contains duplicate reduced hashes")
            if hashes != expected:
                r.add(
                    f"Batch meta does not match its transactions: {len(hashes)} reduced hashes "
                    f"for {n} transactions, or a different order (batches must be complete)"
                )
            if sum(len(t.signature_pairs()) for t in batch.txs) == 0:
                r.add("Batch must contain at least one signature")
        return r.done()

    def check_batches(self, batches: Sequence[Batch], now_ms: int) -> list[str | None]:
        return [self.batch_reasons(b, now_ms) for b in batches]

    # --- queries --------------------------------------------------------------------

    def _query_meta(self, r: _Reasons, meta: queries_pb2.QueryPayloadMeta, now_ms: int) -> None:
        r.account_id(meta.creator_account_id, "creator_account_id")
        self._created_time(r, meta.created_time, now_ms)
        if meta.query_counter <= 0:
            r.add(f"Counter should be > 0, passed value: {meta.query_counter}")

    def _query_signature(
        self, r: _Reasons, q: queries_pb2.Query | queries_pb2.BlocksQuery, blob: bytes
    ) -> None:
        if not q.HasField("signature"):
            r.add("Signatures cannot be empty")
        else:
            s = q.signature
            self._signatures(r, [(s.public_key, s.signature)], blob)

    def _tx_pagination(self, r: _Reasons, p: queries_pb2.TxPaginationMeta) -> None:
        if p.page_size <= 0:
            r.add(f"Page size is {p.page_size}, while it must be a non-zero positive number")
        if p.HasField("first_tx_hash") and _hex64_re.fullmatch(p.first_tx_hash) is None:
            r.add(f"First tx hash has invalid format: '{p.first_tx_hash[:80]}'")
        if (
            p.HasField("first_tx_height")
            and p.HasField("last_tx_height")
            and p.first_tx_height > p.last_tx_height
        ):
            r.add("first_tx_height is greater than last_tx_height")
        if p.HasField("first_tx_time") and p.HasField("last_tx_time"):
            a, b = p.first_tx_time, p.last_tx_time
            if (a.seconds, a.nanos) > (b.seconds, b.nanos):
                r.add("first_tx_time is later than last_tx_time")

    def query_reasons(self, q: queries_pb2.Query, now_ms: int) -> str | None:
        r = _Reasons()
        self._query_meta(r, q.payload.meta, now_ms)
        kind = q.payload.WhichOneof("query")
        if kind is None:
            r.add("Undefined query: the query oneof is not set")
        else:
            body = getattr(q.payload, kind)
            if kind in ("get_account", "get_signatories"):
                r.account_id(body.account_id)
            elif kind == "get_account_transactions":
                r.account_id(body.account_id)
                self._tx_pagination(r, body.pagination_meta)
            elif kind == "get_account_asset_transactions":
                r.account_id(body.account_id)
                r.asset_id(body.asset_id)
                self._tx_pagination(r, body.pagination_meta)
            elif kind == "get_transactions":
                for h in body.tx_hashes:
                    if _hex64_re.fullmatch(h) is None:
                        r.add(f"Hash has invalid format: '{h[:80]}'")
            elif kind == "get_account_assets":
                r.account_id(body.account_id)
                if body.HasField("pagination_meta"):
                    pm = body.pagination_meta
                    if pm.page_size <= 0:
                        r.add(f"Page size is {pm.page_size}, it must be a non-zero positive number")
                    if pm.HasField("first_asset_id"):
                        r.asset_id(pm.first_asset_id)
            elif kind == "get_account_detail":
                if body.HasField("account_id"):
                    r.account_id(body.account_id)
                if body.HasField("key"):
                    r.detail_key(body.key)
                if body.HasField("writer"):
                    r.account_id(body.writer, "writer")
                if body.HasField("pagination_meta") and body.pagination_meta.page_size <= 0:
                    r.add("Page size must be a non-zero positive number")
            elif kind == "get_role_permissions":
                r.name(body.role_id, "role_id")
            elif kind == "get_asset_info":
                r.asset_id(body.asset_id)
            elif kind == "get_pending_transactions":
                if body.HasField("pagination_meta"):
                    self._tx_pagination(r, body.pagination_meta)
            elif kind == "get_block":
                if body.height <= 0:
                    r.add(f"Height should be > 0, passed value: {body.height}")
            elif kind == "get_engine_receipts" and _hex64_re.fullmatch(body.tx_hash) is None:
                r.add(f"Hash has invalid format: '{body.tx_hash[:80]}'")
        self._query_signature(r, q, q.payload.SerializeToString())
        return r.done()

    def blocks_query_reasons(self, q: queries_pb2.BlocksQuery, now_ms: int) -> str | None:
        r = _Reasons()
        self._query_meta(r, q.meta, now_ms)
        self._query_signature(r, q, q.meta.SerializeToString())
        return r.done()


def amount_decimal(s: str) -> Decimal:
    """Exact Decimal of a well-formed amount (for display and client helpers)."""
    return Decimal(s)
