"""Exact decimal amounts as integers scaled by the asset precision (never floats).

An amount ``"12.5"`` of an asset with precision 2 is stored as ``1250``. Iroha keeps
balances in a 256-bit unsigned integer of such units, so a balance must stay < 2^256.
"""

from __future__ import annotations

import re

MAX_UNITS = 1 << 256  # exclusive bound of a balance in 10^-precision units

_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_amount(text: str) -> tuple[int, int] | None:
    """``(digits as int, fractional digit count)``, or None if not a plain decimal."""
    if not _AMOUNT.fullmatch(text):
        return None
    whole, _, frac = text.partition(".")
    return int(whole + frac), len(frac)


def to_units(text: str, precision: int) -> int | None:
    """Amount in units of the asset precision; None if malformed or too precise."""
    parsed = parse_amount(text)
    if parsed is None:
        return None
    value, digits = parsed
    if digits > precision:
        return None
    return int(value * 10 ** (precision - digits))


def format_units(units: int, precision: int) -> str:
    """Decimal string with exactly ``precision`` fractional digits (Iroha RocksDB form)."""
    if precision == 0:
        return str(units)
    s = str(units).rjust(precision + 1, "0")
    return f"{s[:-precision]}.{s[-precision:]}"
