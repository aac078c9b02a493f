"""``bakong``: the project's command-line client.

Each command group has one ``add_<group>_commands(subcommands)`` function, called from
:func:`build_parser`; every leaf command sets ``handler``, a function of the parsed
arguments returning the exit status. Handlers raise :class:`CliError` for bad input or a
failed action; :func:`main` prints it as one line on stderr, never a traceback.

Exit status: 0 success, 1 the action failed (environment, I/O), 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import TypeAlias

from node.payments.khqr import KHQR, KHQRError, as_dict, decode, encode, khqr_md5

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

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


# --- entry point -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bakong", description="Client for bakong-node validators and Bakong payments."
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_khqr_commands(subcommands)
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
        print(f"bakong: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `bakong ... | head`: nothing left to say
        return EXIT_FAILURE
