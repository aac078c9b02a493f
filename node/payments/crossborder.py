"""Cross-border settlement (Alipay+ style), pure: quotes and ATOMIC batches.

A partner network (Alipay+) is represented on the ledger by a **gateway account** held
at a settlement bank (``alipay_gw@aclb``). Foreign money never touches the ledger: the
gateway holds riel and dollars, and the foreign side is recorded as text.

**Inbound** (a foreign wallet pays a Cambodian merchant). The gateway pays the merchant
in the local asset; the settlement bank's fee account takes a fee out of the merchant's
proceeds (merchant discount, as card acquiring does). The gateway signs both txs::

    tx 1 (gateway): TransferAsset gateway -> merchant   gross - fee
                    CompareAndSetAccountDetail gateway  xb_<ref> = settlement record
    tx 2 (gateway): TransferAsset gateway -> fee account  fee

so the gateway is debited exactly ``gross``: what the partner owes for the foreign payment.

**Outbound** (a Cambodian pays a foreign merchant). The customer pays the gateway the
converted amount and pays the fee **on top** (the customer initiates and pays for the
service, the gateway receives exactly what it must pass on abroad). The customer signs
both txs::

    tx 1 (customer): TransferAsset customer -> gateway   gross
                     CompareAndSetAccountDetail customer  xb_<ref> = settlement record
    tx 2 (customer): TransferAsset customer -> fee account  fee

Both are one **ATOMIC** batch: the payment, its record and its fee commit together or not
at all (a customer who cannot pay the fee pays nothing). The record is written with
CompareAndSetAccountDetail *without* an old value, which succeeds only while the key is
absent: the ledger itself refuses to settle one reference twice (code 4).

**Arithmetic** is exact Decimal: ``gross = foreign_amount × rate`` rounded to the local
asset's unit (whole riel, or cents) **half up** (0.5 riel goes up), then
``fee = gross × fee_bps / 10 000`` rounded the same way. ``rate`` is local units per one
foreign unit (e.g. 560.25 KHR per CNY). A fee that rounds to 0 needs no fee transfer (an
amount of 0 is invalid on the ledger): the batch is then the payment tx alone.

Nothing reads the clock: ``created_time_ms`` is an argument.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Final, Literal

from node.client import builders
from node.crypto import KeyPair
from node.model import Tx
from node.payments.pay import (
    ASSET_CURRENCY,
    ASSET_PRECISION,
    MAX_DESCRIPTION,
    format_units,
    quantum,
    sign_by_creator,
)

ROUNDING: Final = ROUND_HALF_UP
BPS: Final = 10_000
#: Fee limit: 10 % (a settlement fee above it is certainly a typo).
MAX_FEE_BPS: Final = 1_000
MAX_RATE_DECIMALS: Final = 8
MAX_FOREIGN_DECIMALS: Final = 3  # ISO 4217 minor units are 0..3 for traded currencies
MAX_FOREIGN_AMOUNT: Final = Decimal(10) ** 15
MAX_RATE: Final = Decimal(10) ** 9
DETAIL_PREFIX: Final = "xb_"
DEFAULT_PARTNER: Final = "alipay+"

_REFERENCE = re.compile(r"[A-Za-z0-9_]{1,60}")  # "xb_" + ref fits Iroha's 64-char detail key
_CURRENCY = re.compile(r"[A-Z]{3}")
_PARTNER = re.compile(r"[a-z0-9+._-]{1,16}")
_COUNTERPARTY = re.compile(r"[\x21-\x7e]{1,32}")  # printable ASCII, no spaces

Direction = Literal["inbound", "outbound"]


class SettlementError(ValueError):
    """A settlement that cannot be built; the message says which input and why."""


@dataclass(frozen=True)
class Settlement:
    """One quoted cross-border payment: who pays whom, how much, and the FX record."""

    direction: Direction
    reference: str  # the partner's settlement reference, unique per payment
    partner: str
    counterparty: str  # foreign payer (inbound) or foreign merchant (outbound) reference
    payer: str  # ledger account debited: the gateway (inbound) or the customer (outbound)
    payee: str  # ledger account credited: the merchant (inbound) or the gateway (outbound)
    fee_account: str
    asset_id: str
    foreign_currency: str
    foreign_amount: Decimal
    rate: Decimal
    fee_bps: int
    gross: Decimal  # foreign_amount × rate, rounded
    fee: Decimal

    @property
    def precision(self) -> int:
        return ASSET_PRECISION[self.asset_id]

    @property
    def local_currency(self) -> str:
        return ASSET_CURRENCY[self.asset_id]

    @property
    def credited(self) -> Decimal:
        """What the payee receives."""
        return self.gross - self.fee if self.direction == "inbound" else self.gross

    @property
    def debited(self) -> Decimal:
        """What leaves the payer's account (payment plus fee transfer)."""
        return self.gross if self.direction == "inbound" else self.gross + self.fee

    @property
    def detail_key(self) -> str:
        return DETAIL_PREFIX + self.reference

    @property
    def foreign_text(self) -> str:
        return f"{self.foreign_currency} {self.foreign_amount:f}"

    @property
    def description(self) -> str:
        arrow = "in" if self.direction == "inbound" else "out"
        fx = f"{self.foreign_text} @ {self.rate:f} {self.local_currency}/{self.foreign_currency}"
        return f"{self.partner} {arrow} {self.reference} {self.counterparty}: {fx}"

    @property
    def fee_description(self) -> str:
        return f"{self.partner} fee {self.reference} {self.fee_bps}bps"

    @property
    def detail_value(self) -> str:
        """The settlement record (compact JSON) stored under ``detail_key``."""
        p = self.precision
        record = {
            "direction": self.direction,
            "partner": self.partner,
            "counterparty": self.counterparty,
            "foreign": self.foreign_text,
            "rate": f"{self.rate:f}",
            "asset": self.asset_id,
            "gross": format_units(self.gross, p),
            "fee": format_units(self.fee, p),
            "fee_bps": self.fee_bps,
            "payer": self.payer,
            "payee": self.payee,
            "fee_account": self.fee_account,
        }
        return json.dumps(record, separators=(",", ":"), sort_keys=True)

    def as_dict(self) -> dict[str, str | int]:
        p = self.precision
        return {
            "direction": self.direction,
            "reference": self.reference,
            "partner": self.partner,
            "counterparty": self.counterparty,
            "payer": self.payer,
            "payee": self.payee,
            "fee_account": self.fee_account,
            "asset": self.asset_id,
            "foreign_currency": self.foreign_currency,
            "foreign_amount": f"{self.foreign_amount:f}",
            "rate": f"{self.rate:f}",
            "fee_bps": self.fee_bps,
            "gross": format_units(self.gross, p),
            "fee": format_units(self.fee, p),
            "credited": format_units(self.credited, p),
            "debited": format_units(self.debited, p),
            "detail_key": self.detail_key,
        }


def convert(foreign_amount: Decimal, rate: Decimal, precision: int) -> Decimal:
    """``foreign_amount × rate`` rounded half up to ``precision`` decimals, exactly."""
    with localcontext() as ctx:
        ctx.prec = 80  # inputs are bounded (MAX_*), so the product is exact at this precision
        return (foreign_amount * rate).quantize(quantum(precision), rounding=ROUNDING)


def fee_of(gross: Decimal, fee_bps: int, precision: int) -> Decimal:
    """``gross × fee_bps / 10 000`` rounded half up to ``precision`` decimals, exactly."""
    with localcontext() as ctx:
        ctx.prec = 80
        return (gross * fee_bps / BPS).quantize(quantum(precision), rounding=ROUNDING)


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _check_decimal(name: str, value: object, max_decimals: int, limit: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise SettlementError(f"{name} must be a Decimal, got {type(value).__name__}")
    d = Decimal(value)
    if not d.is_finite() or d <= 0:
        raise SettlementError(f"{name} must be a positive number, got {d}")
    if d >= limit:
        raise SettlementError(f"{name} {d} is too large (limit {limit:f})")
    # normalize() drops trailing zeros: 50.000 has the same value as 50
    if _decimals(d.normalize()) > max_decimals:
        raise SettlementError(f"{name} {d} has more than {max_decimals} decimals")
    return d


def _quote(
    direction: Direction,
    *,
    reference: str,
    partner: str,
    counterparty: str,
    payer: str,
    payee: str,
    fee_account: str,
    asset_id: str,
    foreign_currency: str,
    foreign_amount: Decimal,
    rate: Decimal,
    fee_bps: int,
) -> Settlement:
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise SettlementError(
            f"reference {reference!r} must be 1..60 of [A-Za-z0-9_] (it keys the record)"
        )
    if not _PARTNER.fullmatch(partner):
        raise SettlementError(f"partner {partner!r} must be 1..16 of [a-z0-9+._-]")
    if not _COUNTERPARTY.fullmatch(counterparty):
        raise SettlementError(
            f"counterparty reference {counterparty!r} must be 1..32 printable ASCII, no spaces"
        )
    if asset_id not in ASSET_PRECISION:
        raise SettlementError(
            f"settlement asset {asset_id!r} is not a Bakong asset ({', '.join(ASSET_PRECISION)})"
        )
    if not _CURRENCY.fullmatch(foreign_currency):
        raise SettlementError(
            f"foreign currency {foreign_currency!r} must be an ISO 4217 code (3 capitals)"
        )
    local = ASSET_CURRENCY[asset_id]
    if foreign_currency == local:
        raise SettlementError(
            f"foreign currency {foreign_currency} is the settlement currency: no FX to settle"
        )
    amount = _check_decimal(
        "foreign amount", foreign_amount, MAX_FOREIGN_DECIMALS, MAX_FOREIGN_AMOUNT
    )
    fx = _check_decimal("FX rate", rate, MAX_RATE_DECIMALS, MAX_RATE)
    if isinstance(fee_bps, bool) or not isinstance(fee_bps, int) or not 0 <= fee_bps <= MAX_FEE_BPS:
        raise SettlementError(f"fee must be 0..{MAX_FEE_BPS} basis points, got {fee_bps!r}")
    accounts = {"payer": payer, "payee": payee, "fee account": fee_account}
    if len(set(accounts.values())) != 3:
        raise SettlementError(f"payer, payee and fee account must be three accounts: {accounts}")
    precision = ASSET_PRECISION[asset_id]
    gross = convert(amount, fx, precision)
    if gross <= 0:
        raise SettlementError(
            f"{foreign_currency} {amount:f} at {fx:f} converts to 0 {local}: nothing to settle"
        )
    # fee ≤ 10 % rounded half up stays below gross for gross ≥ 1 unit: the merchant always
    # receives something inbound.
    fee = fee_of(gross, fee_bps, precision)
    s = Settlement(
        direction=direction,
        reference=reference,
        partner=partner,
        counterparty=counterparty,
        payer=payer,
        payee=payee,
        fee_account=fee_account,
        asset_id=asset_id,
        foreign_currency=foreign_currency,
        foreign_amount=amount,
        rate=fx,
        fee_bps=fee_bps,
        gross=gross,
        fee=fee,
    )
    if len(s.description) > MAX_DESCRIPTION:
        raise SettlementError(
            f"transfer description {s.description!r} is longer than {MAX_DESCRIPTION} "
            "characters: shorten the reference or counterparty"
        )
    return s


def quote_inbound(
    *,
    reference: str,
    gateway: str,
    merchant: str,
    fee_account: str,
    foreign_currency: str,
    foreign_amount: Decimal,
    rate: Decimal,
    fee_bps: int,
    foreign_payer: str = "wallet",
    asset_id: str = "khr#bakong",
    partner: str = DEFAULT_PARTNER,
) -> Settlement:
    """A foreign payer pays ``merchant``: gateway pays gross − fee, fee account gets fee."""
    return _quote(
        "inbound",
        reference=reference,
        partner=partner,
        counterparty=foreign_payer,
        payer=gateway,
        payee=merchant,
        fee_account=fee_account,
        asset_id=asset_id,
        foreign_currency=foreign_currency,
        foreign_amount=foreign_amount,
        rate=rate,
        fee_bps=fee_bps,
    )


def quote_outbound(
    *,
    reference: str,
    customer: str,
    gateway: str,
    fee_account: str,
    foreign_merchant: str,
    foreign_currency: str,
    foreign_amount: Decimal,
    rate: Decimal,
    fee_bps: int,
    asset_id: str = "khr#bakong",
    partner: str = DEFAULT_PARTNER,
) -> Settlement:
    """``customer`` pays a foreign merchant: gateway gets gross, fee account gets fee."""
    return _quote(
        "outbound",
        reference=reference,
        partner=partner,
        counterparty=foreign_merchant,
        payer=customer,
        payee=gateway,
        fee_account=fee_account,
        asset_id=asset_id,
        foreign_currency=foreign_currency,
        foreign_amount=foreign_amount,
        rate=rate,
        fee_bps=fee_bps,
    )


def settlement_txs(s: Settlement, created_time_ms: int) -> list[Tx]:
    """The unsigned ATOMIC batch: payment + record, then the fee transfer (if any)."""
    p = s.precision
    payment = builders.build_tx(
        s.payer,
        [
            builders.transfer_asset(
                s.payer, s.payee, s.asset_id, format_units(s.credited, p), s.description
            ),
            builders.compare_and_set_account_detail(s.payer, s.detail_key, s.detail_value),
        ],
        created_time_ms,
    )
    txs = [payment]
    if s.fee > 0:
        fee = builders.transfer_asset(
            s.payer, s.fee_account, s.asset_id, format_units(s.fee, p), s.fee_description
        )
        txs.append(builders.build_tx(s.payer, [fee], created_time_ms))
    return builders.make_batch(txs, atomic=True)


def build_settlement(
    s: Settlement,
    created_time_ms: int,
    keys: Mapping[str, KeyPair | Sequence[KeyPair]],
) -> list[Tx]:
    """The signed ATOMIC batch; ``keys`` maps creator account -> key(s) (the payer's here)."""
    return sign_by_creator(settlement_txs(s, created_time_ms), keys)
