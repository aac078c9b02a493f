"""``bakong``: the project's command-line client.

Each command group has one ``add_<group>_commands(subcommands)`` function, called from
:func:`build_parser`; every leaf command sets ``handler``, a function of the parsed
arguments returning the exit status. Handlers raise :class:`CliError` for bad input or a
failed action; :func:`main` prints it as one line on stderr, never a traceback.

Commands that talk to a peer (account, balance, transfer, tx, batch, multisig, blocks,
health, pay, xb) share the connection options ``--torii HOST:PORT`` (env
``BAKONG_TORII``, default 127.0.0.1:50051), ``--account ID`` / ``--key KEYFILE`` (env
``BAKONG_ACCOUNT``, ``BAKONG_KEY``), ``--json`` and ``--timeout SECONDS``, accepted before
or after the command name. They are thin: the work is in node.client.wallet.

Exit status: 0 success; 1 the ledger said no (rejected, stateless failure, not found,
query refused) or the action failed (I/O); 2 bad usage or input; 3 Torii cannot be
reached (connection refused, TLS, unavailable, deadline).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

import trio
from google.protobuf import json_format

from node.client import builders, wallet
from node.client.channel import GrpcConnectionError, GrpcError, StatusCode, parse_target
from node.client.torii import FINAL_STATUSES, ToriiClient, WaitTimeout
from node.client.wallet import BatchResult, CosignError, Identity, QueryError, TxResult
from node.crypto import KeyPair, KeyScheme
from node.keys import KeyFileError, keypair_to_json, load_key_file, write_key_file
from node.model import Tx
from node.payments.crossborder import (
    DEFAULT_PARTNER,
    SettlementError,
    quote_inbound,
    quote_outbound,
)
from node.payments.khqr import KHQR, KHQRError, as_dict, decode, encode, khqr_md5
from node.payments.pay import (
    ASSET_PRECISION,
    PaymentError,
    format_units,
    plan_khqr_payment,
    sign_by_creator,
)
from node.proto.iroha import endpoint_pb2 as E
from node.proto.iroha import transaction_pb2

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A one-line answer for the user, with the exit status to leave with."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def _now_ms() -> int:
    # The CLI is the edge where the clock is read; payments/ gets time as an argument.
    return time.time_ns() // 1_000_000


def _print_json(data: object) -> None:
    # Khmer text stays readable on a UTF-8 terminal; elsewhere it is escaped (still JSON).
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    print(json.dumps(data, ensure_ascii=not utf8, indent=2))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


# --- khqr --------------------------------------------------------------------------------


def add_khqr_commands(subcommands: Subcommands) -> None:
    khqr = subcommands.add_parser(
        "khqr", help="encode and decode KHQR payment codes", description="KHQR payment codes."
    )
    actions = khqr.add_subparsers(dest="khqr_command", metavar="ACTION", required=True)

    enc = actions.add_parser(
        "encode",
        help="print a KHQR string (and optionally a QR image)",
        description="Print a KHQR string. With --amount the code is dynamic (one payment) "
        "and expires; without, it is static and reusable.",
    )
    enc.add_argument("--account", required=True, help="Bakong account id, name@bank")
    enc.add_argument("--name", required=True, help="merchant or person name (≤ 25)")
    enc.add_argument("--city", required=True, help="merchant city (≤ 15)")
    enc.add_argument("--currency", required=True, choices=("KHR", "USD"))
    enc.add_argument("--amount", type=_decimal, help="KHR whole riel, USD ≤ 2 decimals")
    enc.add_argument(
        "--expires-in",
        type=_positive_int,
        metavar="SECONDS",
        help="lifetime of a dynamic code (default 900)",
    )
    enc.add_argument("--merchant-id", help="makes a merchant code (tag 30); needs --acquiring-bank")
    enc.add_argument("--acquiring-bank", help="acquiring bank name (≤ 32)")
    enc.add_argument("--account-information", help="individual codes: e.g. bank account number")
    enc.add_argument("--bill-number")
    enc.add_argument("--mobile")
    enc.add_argument("--store-label")
    enc.add_argument("--terminal-label")
    enc.add_argument("--purpose")
    enc.add_argument("--language", help="language preference of --name-alt, e.g. km")
    enc.add_argument("--name-alt", help="merchant name in that language (≤ 25)")
    enc.add_argument("--city-alt", help="merchant city in that language (≤ 15)")
    enc.add_argument("--upi", help="UnionPay merchant account (KHR codes only)")
    enc.add_argument("--mcc", default="5999", help="merchant category code, 4 digits")
    enc.add_argument("--png", metavar="PATH", help="also write the QR image (needs segno)")
    enc.set_defaults(handler=_khqr_encode)

    dec = actions.add_parser(
        "decode",
        help="check a KHQR string and print its fields as JSON",
        description="Check a KHQR string and print its fields as JSON; exit 2 if invalid.",
    )
    dec.add_argument("code", metavar="STRING", help="the KHQR string, or - to read stdin")
    dec.add_argument(
        "--check-expiry", action="store_true", help="also refuse a dynamic code that has expired"
    )
    dec.set_defaults(handler=_khqr_decode)


def _khqr_encode(args: argparse.Namespace) -> int:
    if args.expires_in is not None and args.amount is None:
        raise CliError("--expires-in needs --amount: a static code (no amount) does not expire")
    merchant = args.merchant_id is not None
    if merchant and args.acquiring_bank is None:
        raise CliError("--merchant-id needs --acquiring-bank (a merchant code carries both)")
    if merchant and args.account_information is not None:
        raise CliError("--account-information is for individual codes, not with --merchant-id")
    code = KHQR(
        account_id=args.account,
        merchant_name=args.name,
        merchant_city=args.city,
        currency=args.currency,
        merchant_type="merchant" if merchant else "individual",
        amount=args.amount,
        merchant_id=args.merchant_id,
        acquiring_bank=args.acquiring_bank,
        account_information=args.account_information,
        bill_number=args.bill_number,
        mobile_number=args.mobile,
        store_label=args.store_label,
        terminal_label=args.terminal_label,
        purpose=args.purpose,
        language_preference=args.language,
        merchant_name_alt=args.name_alt,
        merchant_city_alt=args.city_alt,
        upi_merchant_account=args.upi,
        mcc=args.mcc,
    )
    kwargs = {} if args.expires_in is None else {"ttl_ms": args.expires_in * 1000}
    try:
        text = encode(code, now_ms=_now_ms(), **kwargs)
    except KHQRError as e:
        raise CliError(f"cannot encode: {e}") from None
    if args.png is not None:
        _write_png(text, args.png)
    print(text)
    return EXIT_OK


def _write_png(text: str, path: str) -> None:
    try:
        import segno
    except ImportError:
        raise CliError(
            "--png needs the 'segno' package (pip install segno)", EXIT_FAILURE
        ) from None
    # make_qr, not make: a Micro QR is smaller but banking apps do not scan it. UTF-8 so
    # that Khmer names arrive as the bytes the SDK hashes and checks.
    qr = segno.make_qr(text, error="m", encoding="utf-8")
    try:
        qr.save(path, kind="png", scale=8, border=4)
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror or e}", EXIT_FAILURE) from None


def _khqr_decode(args: argparse.Namespace) -> int:
    text: str = args.code
    if text == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError as e:
            raise CliError(f"invalid KHQR: standard input is not UTF-8 text ({e.reason})") from None
    text = text.strip()  # a trailing newline from a shell or a scanner is not part of it
    try:
        code = decode(text, now_ms=_now_ms() if args.check_expiry else None)
    except KHQRError as e:
        raise CliError(f"invalid KHQR: {e}") from None
    data = as_dict(code)
    data["md5"] = khqr_md5(text)
    _print_json(data)
    return EXIT_OK


# --- connection options and the async runner ----------------------------------------------

DEFAULT_TORII = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 30.0
_HEX_HASH = re.compile(r"[0-9a-fA-F]{64}")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every network command takes. On the top-level parser they carry the
    defaults; on each command (``suppress``) they only override what was given before."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection")
    group.add_argument(
        "--torii",
        metavar="HOST:PORT",
        default=default(os.environ.get("BAKONG_TORII") or DEFAULT_TORII),
        help=f"peer's Torii address (env BAKONG_TORII; default {DEFAULT_TORII})",
    )
    group.add_argument(
        "--account",
        metavar="ID",
        default=default(os.environ.get("BAKONG_ACCOUNT")),
        help="our account, name@domain (env BAKONG_ACCOUNT)",
    )
    group.add_argument(
        "--key",
        metavar="KEYFILE",
        default=default(os.environ.get("BAKONG_KEY")),
        help="key file of that account: JSON or Iroha .priv (env BAKONG_KEY)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print machine-readable JSON",
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        default=default(DEFAULT_TIMEOUT_S),
        help="per call and for waiting on a final status (default 30)",
    )


Action: TypeAlias = Callable[[ToriiClient], Awaitable[int]]


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    e: BaseException = group
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


def _run(args: argparse.Namespace, action: Action) -> int:
    """Connect to ``--torii``, run ``action``, and turn client errors into CliError."""
    try:
        host, port = parse_target(args.torii)
    except ValueError as e:
        raise CliError(f"--torii: {e}") from None

    async def go() -> int:
        async with ToriiClient.connect(
            args.torii, connect_timeout=min(args.timeout, 10.0), timeout=args.timeout
        ) as client:
            return await action(client)

    try:
        try:
            return trio.run(go)
        except BaseExceptionGroup as group:
            # a nursery wrapped the real error (possibly beside a secondary one): answer
            # the first, like any other, in one line
            raise _first_error(group) from None
    except GrpcConnectionError as e:
        raise CliError(
            f"cannot reach Torii at {host}:{port}: {e.reason}", EXIT_UNREACHABLE
        ) from None
    except GrpcError as e:
        status = EXIT_UNREACHABLE if e.code in _UNREACHABLE_CODES else EXIT_FAILURE
        raise CliError(f"Torii at {host}:{port}: {e}", status) from None
    except WaitTimeout as e:
        raise CliError(str(e), EXIT_FAILURE) from None
    except QueryError as e:
        raise CliError(str(e), EXIT_FAILURE) from None
    except CosignError as e:
        raise CliError(str(e), EXIT_FAILURE) from None
    except PaymentError as e:
        raise CliError(str(e), EXIT_FAILURE if e.kind == "funds" else EXIT_USAGE) from None
    except SettlementError as e:
        raise CliError(f"cannot settle: {e}") from None


_UNREACHABLE_CODES = frozenset(
    {StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED, StatusCode.CANCELLED}
)


def _identity(args: argparse.Namespace, option: str = "--account") -> Identity:
    if not args.account:
        raise CliError(f"{option} ID (or BAKONG_ACCOUNT) is needed: the account that signs")
    if not _ACCOUNT_ID.fullmatch(args.account):
        raise CliError(f"{option}: {args.account!r} is not an account id (name@domain)")
    if not args.key:
        raise CliError("--key KEYFILE (or BAKONG_KEY) is needed to sign")
    return Identity(args.account, _load_key(args.key))


def _load_key(path: str) -> KeyPair:
    try:
        return load_key_file(path)
    except KeyFileError as e:
        raise CliError(f"--key: {e}") from None


_ACCOUNT_ID = re.compile(r"[a-z_0-9]{1,32}@[a-zA-Z0-9.-]{1,253}")
_ASSET_ID = re.compile(r"[a-z_0-9]{1,32}#[a-zA-Z0-9.-]{1,253}")


def _account_arg(text: str) -> str:
    if not _ACCOUNT_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not an account id (name@domain): {text!r}")
    return text


def _asset_arg(text: str) -> str:
    if not _ASSET_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not an asset id (name#domain): {text!r}")
    return text


def _hash_arg(text: str) -> str:
    if not _HEX_HASH.fullmatch(text):
        raise argparse.ArgumentTypeError(f"a tx hash is 64 hex digits, got {text!r}")
    return text.lower()


def _check_amount(amount: Decimal, asset_id: str, option: str = "--amount") -> str:
    if amount <= 0:
        raise CliError(f"{option} must be greater than 0, got {amount}")
    if amount.adjusted() >= _MAX_AMOUNT_DIGITS:  # before quantize, which has a size limit
        raise CliError(f"{option}: {amount} is too large")
    precision = ASSET_PRECISION.get(asset_id)
    if precision is not None and _fraction_digits(amount) > precision:
        unit = "whole units" if precision == 0 else f"at most {precision} decimals"
        raise CliError(f"{option}: {asset_id} amounts have {unit}, got {amount}")
    return format(amount, "f")


# Iroha amounts are < 2^256 as integers (78 digits); more is certainly a typo.
_MAX_AMOUNT_DIGITS = 78


def _fraction_digits(d: Decimal) -> int:
    """Decimals of ``d`` without trailing zeros, exactly (no context rounding)."""
    t = d.as_tuple()
    digits, exp = list(t.digits), t.exponent
    if not isinstance(exp, int):
        return 0
    while exp < 0 and digits and digits[-1] == 0:
        digits.pop()
        exp += 1
    return max(0, -exp)


def _emit(args: argparse.Namespace, data: object, text: str) -> None:
    if args.json:
        _print_json(data)
    elif text:
        print(text)


def _finish(args: argparse.Namespace, data: object, text: str, ok: bool, error: str) -> int:
    """Print the result; a result the ledger refused also leaves one line on stderr."""
    if args.json:
        _print_json(data)
    elif ok:
        print(text)
    if not ok:
        raise CliError(error, EXIT_FAILURE)
    return EXIT_OK


def _tx_line(r: TxResult) -> str:
    return f"tx {r.tx_hash}: {r.summary()}"


def _batch_outcome(args: argparse.Namespace, result: BatchResult, data: dict[str, Any]) -> int:
    lines = [_tx_line(r) for r in result.results]
    ok = all(r.committed or r.pending for r in result.results)
    failed_all = [r for r in result.results if not (r.committed or r.pending)]
    # name the tx that failed for its own reason, not a sibling of its ATOMIC batch
    own = [r for r in failed_all if r.failed_index != wallet.SIBLING_FAILED_INDEX]
    worst = own or failed_all
    error = _tx_line(worst[0]) if worst else ""
    if not ok and len(result.results) > 1:
        error = f"batch not committed; {error}"
    return _finish(args, data, "\n".join(lines), ok, error)


# --- account, balance, keygen, health ------------------------------------------------------


def add_network_commands(subcommands: Subcommands) -> None:
    add_account_commands(subcommands)
    add_balance_commands(subcommands)
    add_transfer_commands(subcommands)
    add_tx_commands(subcommands)
    add_batch_commands(subcommands)
    add_multisig_commands(subcommands)
    add_blocks_commands(subcommands)
    add_pay_commands(subcommands)
    add_xb_commands(subcommands)
    add_keygen_commands(subcommands)
    add_health_commands(subcommands)


def _network_parser(
    actions: Subcommands, name: str, help_text: str, description: str | None = None
) -> argparse.ArgumentParser:
    p = actions.add_parser(name, help=help_text, description=description or help_text)
    add_connection_options(p, suppress=True)
    return p


def add_account_commands(subcommands: Subcommands) -> None:
    account = subcommands.add_parser("account", help="show or create accounts")
    actions = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    show = _network_parser(actions, "show", "account, roles, quorum, signatories, details")
    show.add_argument("id", metavar="ID", nargs="?", type=_account_arg, help="default: --account")
    show.set_defaults(handler=_account_show)
    create = _network_parser(actions, "create", "create an account (needs can_create_account)")
    create.add_argument("id", metavar="NAME@DOMAIN", type=_account_arg)
    create.add_argument("--public-key", required=True, metavar="HEX", help="its first signatory")
    create.add_argument("--no-wait", action="store_true", help="do not wait for the commit")
    create.set_defaults(handler=_account_create)


def _account_show(args: argparse.Namespace) -> int:
    who = _identity(args)

    async def action(client: ToriiClient) -> int:
        info = await wallet.account(client, who, args.id)
        lines = [
            f"account      {info.account_id}",
            f"domain       {info.domain_id}",
            f"quorum       {info.quorum}",
            f"roles        {', '.join(info.roles) or '-'}",
        ]
        if info.signatories is not None:
            lines += [f"signatory    {k}" for k in info.signatories]
        for writer, values in sorted(info.details.items()):
            for key, value in sorted(values.items()) if isinstance(values, dict) else []:
                lines.append(f"detail       {key} = {value}  (by {writer})")
        _emit(args, info.as_dict(), "\n".join(lines))
        return EXIT_OK

    return _run(args, action)


def _account_create(args: argparse.Namespace) -> int:
    who = _identity(args)
    name, _, domain = args.id.partition("@")
    key = args.public_key.strip()
    if not re.fullmatch(r"(?:ed0120)?[0-9a-fA-F]{64}", key):
        raise CliError(f"--public-key: expected 64 hex (or ed0120 + 64 hex), got {key!r}")

    async def action(client: ToriiClient) -> int:
        tx = builders.sign_tx(
            builders.build_tx(
                who.account_id, [builders.create_account(name, domain, key)], _now_ms()
            ),
            who.key,
        )
        res = await wallet.submit_and_wait(
            client, [tx], timeout=args.timeout, wait=not args.no_wait, heights_for=who
        )
        return _batch_outcome(args, res, res.as_dict())

    return _run(args, action)


def add_balance_commands(subcommands: Subcommands) -> None:
    bal = _network_parser(subcommands, "balance", "balances of an account, by asset")
    bal.add_argument("id", metavar="ID", nargs="?", type=_account_arg, help="default: --account")
    bal.set_defaults(handler=_balance)


def _balance(args: argparse.Namespace) -> int:
    who = _identity(args)
    target = args.id or who.account_id

    async def action(client: ToriiClient) -> int:
        found = await wallet.balances(client, target, who.key, creator=who.account_id)
        width = max((len(b.asset_id) for b in found), default=0)
        lines = [f"{b.asset_id:<{width}}  {b.text:>20} {b.currency}" for b in found]
        data = {"account": target, "balances": [b.as_dict() for b in found]}
        _emit(args, data, "\n".join(lines) or f"{target} holds no assets")
        return EXIT_OK

    return _run(args, action)


def add_keygen_commands(subcommands: Subcommands) -> None:
    kg = subcommands.add_parser(
        "keygen",
        help="make a key pair",
        description="Make a key pair; print it as a key file (JSON), or write it with --out.",
    )
    kg.add_argument("--scheme", choices=[s.value for s in KeyScheme], default="ed25519")
    kg.add_argument("--out", metavar="PATH", help="write the key file (0600, never overwrites)")
    kg.add_argument("--json", action="store_true", help="print the public key as JSON")
    kg.set_defaults(handler=_keygen)


def _keygen(args: argparse.Namespace) -> int:
    kp = KeyPair.generate(KeyScheme(args.scheme))
    if args.out is None:
        print(keypair_to_json(kp), end="")
        return EXIT_OK
    try:
        write_key_file(args.out, kp)
    except FileExistsError:
        raise CliError(f"--out: {args.out} exists; not overwriting a key") from None
    except OSError as e:
        raise CliError(f"--out: cannot write {args.out}: {e.strerror or e}", EXIT_FAILURE) from None
    data = {"scheme": kp.scheme.value, "public_key": kp.public_key, "key_file": args.out}
    _emit(args, data, f"{kp.public_key}  (written to {args.out})")
    return EXIT_OK


def add_health_commands(subcommands: Subcommands) -> None:
    h = _network_parser(subcommands, "health", "the peer's Healthcheck")
    h.set_defaults(handler=_health)


def _health(args: argparse.Namespace) -> int:
    async def action(client: ToriiClient) -> int:
        hc = await client.healthcheck()
        data: dict[str, Any] = {"torii": args.torii}
        for name in (
            "is_healthy",
            "is_syncing",
            "last_block_height",
            "last_block_reject",
            "memory_consumption",
        ):
            if hc.HasField(name):
                data[name] = getattr(hc, name)
        healthy = data.get("is_healthy", True)
        parts = [f"{args.torii}: {'healthy' if healthy else 'NOT healthy'}"]
        if "last_block_height" in data:
            parts.append(f"height {data['last_block_height']}")
        if "is_syncing" in data:
            parts.append("syncing" if data["is_syncing"] else "not syncing")
        return _finish(
            args, data, ", ".join(parts), bool(healthy), f"{args.torii} reports not healthy"
        )

    return _run(args, action)


# --- transfer, tx --------------------------------------------------------------------------


def add_transfer_commands(subcommands: Subcommands) -> None:
    t = _network_parser(subcommands, "transfer", "transfer an asset from --account and wait")
    t.add_argument("--to", required=True, metavar="ID", type=_account_arg)
    t.add_argument(
        "--asset", required=True, metavar="ASSET", type=_asset_arg, help="e.g. usd#bakong"
    )
    t.add_argument("--amount", required=True, type=_decimal, help="e.g. 12.50")
    t.add_argument("--description", default="", metavar="TEXT")
    t.add_argument(
        "--quorum", type=_positive_int, default=1, help="signatures the tx needs (multisig)"
    )
    t.add_argument("--no-wait", action="store_true", help="print the hash, do not wait")
    t.set_defaults(handler=_transfer)


def _transfer(args: argparse.Namespace) -> int:
    who = _identity(args)
    amount = _check_amount(args.amount, args.asset)
    if args.to == who.account_id:
        raise CliError("--to is --account itself: a transfer needs two accounts")

    async def action(client: ToriiClient) -> int:
        r = await wallet.transfer_and_wait(
            client, who, args.to, args.asset, amount, args.description,
            quorum=args.quorum, timeout=args.timeout, wait=not args.no_wait,
        )  # fmt: skip
        text = _tx_line(r)
        if r.pending:
            text += f"\nco-signers: bakong multisig sign {r.tx_hash}"
        ok = r.committed or r.pending or (args.no_wait and not r.final)
        return _finish(args, r.as_dict(), text, ok, _tx_line(r))

    return _run(args, action)


def add_tx_commands(subcommands: Subcommands) -> None:
    tx = subcommands.add_parser("tx", help="status of transactions")
    actions = tx.add_subparsers(dest="tx_command", metavar="ACTION", required=True)
    st = _network_parser(actions, "status", "the current status of a tx")
    st.add_argument("hash", metavar="HASH", type=_hash_arg)
    st.set_defaults(handler=_tx_status)
    w = _network_parser(actions, "watch", "print each status change until the tx is final")
    w.add_argument("hash", metavar="HASH", type=_hash_arg)
    w.set_defaults(handler=_tx_watch)


_BAD_STATUSES = frozenset(
    {
        E.REJECTED,
        E.STATELESS_VALIDATION_FAILED,
        E.STATEFUL_VALIDATION_FAILED,
        E.MST_EXPIRED,
        E.NOT_RECEIVED,
    }
)


def _status_data(r: E.ToriiResponse) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tx_hash": r.tx_hash,
        "status": E.TxStatus.Name(r.tx_status),
        "summary": wallet.describe(r),
    }
    if r.err_or_cmd_name or r.error_code:
        data["error"] = {
            "command": r.err_or_cmd_name,
            "code": r.error_code,
            "index": r.failed_cmd_index,
        }
    return data


def _tx_status(args: argparse.Namespace) -> int:
    async def action(client: ToriiClient) -> int:
        r = await client.status(args.hash)
        line = f"{E.TxStatus.Name(r.tx_status)}: {wallet.describe(r)}"
        return _finish(
            args,
            _status_data(r),
            line,
            r.tx_status not in _BAD_STATUSES,
            f"tx {args.hash}: {wallet.describe(r)}",
        )

    return _run(args, action)


def _tx_watch(args: argparse.Namespace) -> int:
    async def action(client: ToriiClient) -> int:
        last: E.ToriiResponse | None = None
        with trio.move_on_after(args.timeout):
            while last is None or last.tx_status not in FINAL_STATUSES:
                async with aclosing(client.status_stream(args.hash)) as stream:
                    async for r in stream:
                        if last is not None and r.tx_status == last.tx_status:
                            continue
                        last = r
                        if args.json:
                            print(json.dumps(_status_data(r)), flush=True)
                        else:
                            print(
                                f"{E.TxStatus.Name(r.tx_status)}: {wallet.describe(r)}", flush=True
                            )
                if last is not None and last.tx_status in FINAL_STATUSES:
                    break
                await trio.sleep(0.2)
        if last is None or last.tx_status not in FINAL_STATUSES:
            seen = E.TxStatus.Name(last.tx_status) if last is not None else "nothing"
            raise CliError(
                f"tx {args.hash} not final after {args.timeout} s (last: {seen})", EXIT_FAILURE
            )
        if last.tx_status in _BAD_STATUSES:
            raise CliError(f"tx {args.hash}: {wallet.describe(last)}", EXIT_FAILURE)
        return EXIT_OK

    return _run(args, action)


# --- batch ---------------------------------------------------------------------------------


def add_batch_commands(subcommands: Subcommands) -> None:
    b = _network_parser(
        subcommands,
        "batch",
        "submit a batch of transactions from a JSON file",
        description="Submit one batch. FILE is a JSON list of transactions, each "
        '{"creator": ID, "key": KEYFILE, "quorum": N, "transfer": {...} | [...], '
        '"commands": [<Iroha command in protobuf JSON>]}; a transfer is {"to", "asset", '
        '"amount" (a string), "description", "from" (default: creator)}. "creator" and '
        '"key" default to --account and --key; key paths are relative to FILE.',
    )
    kind = b.add_mutually_exclusive_group(required=True)
    kind.add_argument("--atomic", action="store_true", help="all or nothing")
    kind.add_argument("--ordered", action="store_true", help="in order, failures independent")
    b.add_argument("file", metavar="FILE.json")
    b.set_defaults(handler=_batch)


def _load_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except OSError as e:
        raise CliError(f"{path}: cannot read: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise CliError(f"{path}: not JSON: {e}") from None


def _batch_txs(args: argparse.Namespace) -> tuple[list[Tx], dict[str, KeyPair]]:
    doc = _load_json(args.file)
    entries = doc.get("transactions") if isinstance(doc, dict) else doc
    if not isinstance(entries, list) or not entries:
        raise CliError(f"{args.file}: expected a non-empty JSON list of transactions")
    base = os.path.dirname(os.path.abspath(args.file))
    keys: dict[str, KeyPair] = {}
    txs: list[Tx] = []
    now = _now_ms()
    for i, entry in enumerate(entries):
        where = f"{args.file}: transaction {i}"
        if not isinstance(entry, dict):
            raise CliError(f"{where}: expected an object")
        unknown = set(entry) - {"creator", "key", "quorum", "transfer", "transfers", "commands"}
        if unknown:
            raise CliError(f"{where}: unknown field(s) {sorted(unknown)}")
        creator = entry.get("creator") or args.account
        if not isinstance(creator, str) or not _ACCOUNT_ID.fullmatch(creator):
            raise CliError(
                f"{where}: 'creator' (or --account) must be an account id, got {creator!r}"
            )
        key_path = entry.get("key") or args.key
        if not key_path:
            raise CliError(f"{where}: 'key' (or --key) is needed for {creator}")
        kp = _load_key(os.path.join(base, key_path))
        if keys.setdefault(creator, kp).public_key != kp.public_key:
            raise CliError(f"{where}: a different key for {creator} than an earlier transaction")
        cmds = _entry_commands(entry, creator, where)
        quorum = entry.get("quorum", 1)
        if not isinstance(quorum, int) or not 1 <= quorum <= 128:
            raise CliError(f"{where}: 'quorum' must be 1..128, got {quorum!r}")
        # created times differ per tx so that equal commands are still different txs
        txs.append(builders.build_tx(creator, cmds, now + i, quorum))
    return builders.make_batch(txs, atomic=args.atomic), keys


def _entry_commands(entry: dict[str, Any], creator: str, where: str) -> list[builders.Command]:
    cmds: list[builders.Command] = []
    transfers = entry.get("transfer", entry.get("transfers", []))
    for t in transfers if isinstance(transfers, list) else [transfers]:
        if not isinstance(t, dict):
            raise CliError(f"{where}: a transfer is an object")
        extra = set(t) - {"from", "to", "asset", "amount", "description"}
        if extra:
            raise CliError(f"{where}: unknown transfer field(s) {sorted(extra)}")
        missing = [k for k in ("to", "asset", "amount") if k not in t]
        if missing:
            raise CliError(f"{where}: transfer needs {', '.join(missing)}")
        raw = t["amount"]
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise CliError(f'{where}: amount must be a string like "12.50", got {raw!r}')
        try:
            amount = Decimal(str(raw))
        except InvalidOperation:
            raise CliError(f"{where}: amount {raw!r} is not a decimal number") from None
        asset = str(t["asset"])
        text = _check_amount(amount, asset, f"{where}: amount")
        cmds.append(
            builders.transfer_asset(
                str(t.get("from", creator)),
                str(t["to"]),
                asset,
                text,
                str(t.get("description", "")),
            )
        )
    raw_cmds = entry.get("commands", [])
    if not isinstance(raw_cmds, list):
        raise CliError(f"{where}: 'commands' must be a list")
    for c in raw_cmds:
        try:
            cmds.append(json_format.ParseDict(c, builders.Command()))
        except (json_format.ParseError, TypeError, AttributeError) as e:
            raise CliError(f"{where}: bad command {json.dumps(c)[:60]}: {e}") from None
    if not cmds:
        raise CliError(f"{where}: no 'transfer' and no 'commands'")
    return cmds


def _batch(args: argparse.Namespace) -> int:
    txs, keys = _batch_txs(args)
    signed = sign_by_creator(txs, keys)

    async def action(client: ToriiClient) -> int:
        res = await wallet.submit_batch_and_wait(client, signed, timeout=args.timeout, keys=keys)
        data = res.as_dict()
        data["type"] = "ATOMIC" if args.atomic else "ORDERED"
        return _batch_outcome(args, res, data)

    return _run(args, action)


# --- multisig ------------------------------------------------------------------------------


def add_multisig_commands(subcommands: Subcommands) -> None:
    ms = subcommands.add_parser("multisig", help="pending multisignature transactions")
    actions = ms.add_subparsers(dest="multisig_command", metavar="ACTION", required=True)
    pending = _network_parser(
        actions,
        "pending",
        "list pending batches of --account",
        description="List batches waiting for signatures that involve --account. With "
        "--json the output holds the transactions and can be given to 'multisig sign'.",
    )
    pending.set_defaults(handler=_multisig_pending)
    sign = _network_parser(
        actions,
        "sign",
        "add our signature to a pending tx and resubmit",
        description="Sign a pending batch with --key (the txs created by --account) and "
        "resubmit it. HASH: a pending tx's hash, fetched with GetPendingTransactions. FILE: "
        "JSON from 'multisig pending --json' (one batch) or a list of Iroha transactions.",
    )
    sign.add_argument("target", metavar="FILE|HASH")
    sign.set_defaults(handler=_multisig_sign)


def _tx_summary(t: Tx) -> dict[str, Any]:
    return {
        "hash": t.hash_hex,
        "creator": t.creator,
        "quorum": t.quorum,
        "signatures": [s.public_key for s in t.signatures],
        "commands": [c.WhichOneof("command") for c in t.commands],
        "transaction": json_format.MessageToDict(t.pb),
    }


def _multisig_pending(args: argparse.Namespace) -> int:
    who = _identity(args)

    async def action(client: ToriiClient) -> int:
        batches = await wallet.pending_batches(client, who)
        lines = []
        for n, b in enumerate(batches):
            for t in b:
                cmds = ",".join(c.WhichOneof("command") or "?" for c in t.commands)
                lines.append(
                    f"batch {n}  tx {t.hash_hex}  {t.creator}  "
                    f"signatures {len(t.signatures)}/{t.quorum}  {cmds}"
                )
        data = {"batches": [[_tx_summary(t) for t in b] for b in batches]}
        _emit(args, data, "\n".join(lines) or f"nothing pending for {who.account_id}")
        return EXIT_OK

    return _run(args, action)


def _txs_from_file(path: str) -> list[Tx]:
    doc = _load_json(path)
    if isinstance(doc, dict) and "batches" in doc:
        batches = doc["batches"]
        if not isinstance(batches, list) or len(batches) != 1:
            raise CliError(
                f"{path}: holds {len(batches) if isinstance(batches, list) else '?'} "
                "batches; sign one at a time (or by HASH)"
            )
        items = [e.get("transaction") if isinstance(e, dict) else e for e in batches[0]]
    elif isinstance(doc, dict) and "transactions" in doc:
        items = doc["transactions"]
    else:
        items = doc if isinstance(doc, list) else [doc]
    txs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise CliError(f"{path}: transaction {i} is not a JSON object")
        try:
            txs.append(Tx(json_format.ParseDict(item, transaction_pb2.Transaction())))
        except (json_format.ParseError, TypeError, AttributeError) as e:
            raise CliError(f"{path}: transaction {i} is not an Iroha transaction: {e}") from None
    if not txs:
        raise CliError(f"{path}: no transactions")
    return txs


def _multisig_sign(args: argparse.Namespace) -> int:
    who = _identity(args)
    target: str | list[Tx]
    if _HEX_HASH.fullmatch(args.target):
        target = args.target.lower()
    elif os.path.exists(args.target):
        target = _txs_from_file(args.target)
    else:
        raise CliError(f"{args.target!r} is neither a tx hash (64 hex) nor a file")

    async def action(client: ToriiClient) -> int:
        res = await wallet.cosign(client, who, target, timeout=args.timeout)
        return _batch_outcome(args, res, res.as_dict())

    return _run(args, action)


# --- blocks --------------------------------------------------------------------------------


def add_blocks_commands(subcommands: Subcommands) -> None:
    blocks = subcommands.add_parser("blocks", help="follow committed blocks")
    actions = blocks.add_subparsers(dest="blocks_command", metavar="ACTION", required=True)
    w = _network_parser(
        actions,
        "watch",
        "one line per new block: height, txs, rejected, hash (needs can_get_blocks)",
    )
    w.add_argument("--count", type=_positive_int, metavar="N", help="stop after N blocks")
    w.set_defaults(handler=_blocks_watch)


def _blocks_watch(args: argparse.Namespace) -> int:
    who = _identity(args)

    async def action(client: ToriiClient) -> int:
        seen = 0
        async with aclosing(wallet.watch_blocks(client, who)) as blocks:
            async for b in blocks:
                if args.json:
                    print(json.dumps(b.as_dict()), flush=True)
                else:
                    print(
                        f"height {b.height:>8}  txs {b.txs:>5}  "
                        f"rejected {b.rejected:>4}  hash {b.hash}",
                        flush=True,
                    )
                seen += 1
                if args.count is not None and seen >= args.count:
                    break
        return EXIT_OK

    return _run(args, action)


# --- pay -----------------------------------------------------------------------------------


def add_pay_commands(subcommands: Subcommands) -> None:
    p = _network_parser(
        subcommands,
        "pay",
        "pay a KHQR code from --account (--from)",
        description="Decode a KHQR code and pay it: the code's Bakong account receives a "
        "TransferAsset in khr#bakong or usd#bakong, the bill number as description. A static "
        "code needs --amount; a dynamic one refuses another amount and refuses once expired. "
        "The payer's balance is checked first.",
    )
    p.add_argument("code", metavar="STRING", help="the KHQR string, or - to read stdin")
    p.add_argument(
        "--from",
        dest="account",
        metavar="ACCOUNT",
        default=argparse.SUPPRESS,
        help="the payer (same as --account)",
    )
    p.add_argument("--amount", type=_decimal, help="for a static code: the amount to pay")
    p.set_defaults(handler=_pay)


def _pay(args: argparse.Namespace) -> int:
    who = _identity(args, "--from")
    text: str = args.code
    if text == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError as e:
            raise CliError(f"invalid KHQR: standard input is not UTF-8 text ({e.reason})") from None

    try:  # a bad code or amount is refused before connecting
        plan_khqr_payment(text, who.account_id, _now_ms(), args.amount)
    except PaymentError as e:
        raise CliError(str(e)) from None

    async def action(client: ToriiClient) -> int:
        paid = await wallet.pay_khqr(client, who, text, amount=args.amount, timeout=args.timeout)
        p, r = paid.payment, paid.result
        bill = f", bill {p.bill_number}" if p.bill_number else ""
        head = f"pay {p.amount_text} {p.currency} to {p.payee} ({p.merchant_name}){bill}"
        data = {
            "payer": p.payer,
            "payee": p.payee,
            "merchant_name": p.merchant_name,
            "asset": p.asset_id,
            "amount": p.amount_text,
            "currency": p.currency,
            "bill_number": p.bill_number,
            "dynamic": p.dynamic,
            "md5": p.md5,
            **r.as_dict(),
        }
        return _finish(args, data, f"{head}\n{_tx_line(r)}", r.committed, f"{head}: {r.summary()}")

    return _run(args, action)


# --- xb (cross-border) ---------------------------------------------------------------------


def add_xb_commands(subcommands: Subcommands) -> None:
    xb = subcommands.add_parser(
        "xb",
        help="cross-border settlement (Alipay+ style) as ATOMIC batches",
        description="Inbound: a foreign payer pays a Cambodian merchant; --account is the "
        "gateway, which pays the merchant gross − fee and the fee account the fee. Outbound: "
        "--account (a customer) pays a foreign merchant through the gateway, fee on top. "
        "gross = foreign amount × rate, rounded half up to whole riel (or cents); fee = "
        "gross × bps / 10000, rounded the same way.",
    )
    actions = xb.add_subparsers(dest="xb_command", metavar="DIRECTION", required=True)
    inbound = _network_parser(
        actions, "inbound", "a foreign payer pays --merchant (we are the gateway)"
    )
    inbound.add_argument("--merchant", required=True, type=_account_arg, metavar="ID")
    inbound.add_argument("--foreign-payer", default="wallet", metavar="REF", help="payer reference")
    outbound = _network_parser(actions, "outbound", "we pay a foreign merchant via --gateway")
    outbound.add_argument("--gateway", required=True, type=_account_arg, metavar="ID")
    outbound.add_argument("--foreign-merchant", required=True, metavar="REF")
    for p in (inbound, outbound):
        p.add_argument(
            "--reference", required=True, metavar="REF", help="settlement reference, unique"
        )
        p.add_argument(
            "--foreign-currency", required=True, metavar="CCY", help="ISO 4217, e.g. CNY"
        )
        p.add_argument("--foreign-amount", required=True, type=_decimal, metavar="AMOUNT")
        p.add_argument(
            "--rate", required=True, type=_decimal, help="local units per 1 foreign unit"
        )
        p.add_argument(
            "--fee-bps", required=True, type=int, metavar="BPS", help="fee in basis points"
        )
        p.add_argument("--fee-account", required=True, type=_account_arg, metavar="ID")
        p.add_argument("--asset", default="khr#bakong", type=_asset_arg, help="default khr#bakong")
        p.add_argument("--partner", default=DEFAULT_PARTNER)
        p.add_argument("--quote", action="store_true", help="print the amounts, send nothing")
        p.set_defaults(handler=_xb)


def _xb(args: argparse.Namespace) -> int:
    if not args.account:
        raise CliError("--account ID (or BAKONG_ACCOUNT) is needed: the account that pays")
    common: dict[str, Any] = {
        "reference": args.reference,
        "fee_account": args.fee_account,
        "foreign_currency": args.foreign_currency,
        "foreign_amount": args.foreign_amount,
        "rate": args.rate,
        "fee_bps": args.fee_bps,
        "asset_id": args.asset,
        "partner": args.partner,
    }
    try:
        if args.xb_command == "inbound":
            s = quote_inbound(
                gateway=args.account,
                merchant=args.merchant,
                foreign_payer=args.foreign_payer,
                **common,
            )
        else:
            s = quote_outbound(
                customer=args.account,
                gateway=args.gateway,
                foreign_merchant=args.foreign_merchant,
                **common,
            )
    except SettlementError as e:
        raise CliError(f"cannot settle: {e}") from None
    unit = s.local_currency
    p = s.precision
    head = (
        f"{s.direction} {s.reference}: {s.foreign_text} @ {s.rate:f} = "
        f"{format_units(s.gross, p)} {unit}; "
        f"{s.payee} gets {format_units(s.credited, p)}, fee {format_units(s.fee, p)} to "
        f"{s.fee_account}, {s.payer} pays {format_units(s.debited, p)}"
    )
    if args.quote:
        _emit(args, {"settlement": s.as_dict()}, head)
        return EXIT_OK
    who = _identity(args)

    async def action(client: ToriiClient) -> int:
        res = await wallet.settle(client, s, {who.account_id: who.key}, timeout=args.timeout)
        data = {"settlement": s.as_dict(), **res.as_dict()}
        if not args.json and res.committed:
            print(head)
        return _batch_outcome(args, res, data)

    return _run(args, action)


# --- entry point -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bakong", description="Client for bakong-node validators and Bakong payments."
    )
    add_connection_options(parser, suppress=False)
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_khqr_commands(subcommands)
    add_network_commands(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed usage or help already
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    try:
        return handler(args)
    except CliError as e:
        # one line, whatever a library put in the message
        text = " ".join(str(e).split())
        print(f"bakong: {text}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `bakong ... | head`: nothing left to say
        return EXIT_FAILURE
