"""Pay by KHQR, pure: decode a code, check it against the payer's wallet, build the transfer.

A KHQR code names the payee's Bakong account id, which is the ledger account id
(``name@bank``), and its currency, which selects the ledger asset (``KHR`` ->
``khr#bakong``, ``USD`` -> ``usd#bakong``). The bill number (tag 62/01) becomes the
transfer's description so that the payee can match the payment to its invoice.

Rules (the same as a Bakong banking app's):

* a static code (no amount) needs the payer's amount;
* a dynamic code carries its amount: a different amount is refused, and so is an
  expired code (its tag 99/01 expiry is checked against ``now_ms``);
* amounts are positive, whole riel for KHR, at most 2 decimals for USD;
* with the payer's wallet (asset id -> balance), a payment the wallet cannot cover is
  refused before anything is sent.

Nothing here reads the clock: ``now_ms`` and ``created_time_ms`` are arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from node.client import builders
from node.crypto import KeyPair
from node.model import Tx
from node.payments.khqr import (
    Currency,
    KHQRError,
    decode,
    format_amount,
    khqr_md5,
    ledger_payment,
)

#: Precision of the Bakong ledger assets (genesis: USD in cents, KHR in whole riel).
ASSET_PRECISION: Final[dict[str, int]] = {"usd#bakong": 2, "khr#bakong": 0}
#: Ledger asset id -> KHQR currency.
ASSET_CURRENCY: Final[dict[str, Currency]] = {"usd#bakong": "USD", "khr#bakong": "KHR"}
#: Iroha's default ``MaxDescriptionSize`` (node.config.ChainParameters.max_description_size).
MAX_DESCRIPTION: Final = 100

PaymentErrorKind = Literal["input", "funds"]


class PaymentError(ValueError):
    """A payment refused before anything is sent.

    ``kind`` is ``"input"`` for a bad code or amount (the user must change the request)
    and ``"funds"`` when the payer's wallet cannot make it (no such currency, too little).
    """

    def __init__(self, message: str, kind: PaymentErrorKind = "input") -> None:
        super().__init__(message)
        self.kind: PaymentErrorKind = kind


def quantum(precision: int) -> Decimal:
    """The smallest unit of an asset with ``precision`` decimals (1, 0.01, ...)."""
    return Decimal(1).scaleb(-precision)


def format_units(amount: Decimal, precision: int) -> str:
    """``amount`` written with exactly ``precision`` decimals (no exponent)."""
    return f"{amount.quantize(quantum(precision)):f}"


def currency_label(asset_id: str) -> str:
    """``usd#bakong`` -> ``USD``: the word people use for an asset."""
    return ASSET_CURRENCY.get(asset_id, asset_id.partition("#")[0].upper())


@dataclass(frozen=True)
class KhqrPayment:
    """A checked KHQR payment, ready to become one TransferAsset."""

    payer: str
    payee: str
    asset_id: str
    currency: Currency
    amount: Decimal
    description: str
    merchant_name: str
    bill_number: str | None
    dynamic: bool
    md5: str  # of the code text: what Bakong's check-by-md5 API keys a payment on

    @property
    def amount_text(self) -> str:
        return format_units(self.amount, ASSET_PRECISION[self.asset_id])


def plan_khqr_payment(
    code_text: str,
    payer: str,
    now_ms: int,
    amount: Decimal | None = None,
    wallet: Mapping[str, Decimal] | None = None,
) -> KhqrPayment:
    """Check ``code_text`` for ``payer`` and return the payment; raises PaymentError.

    ``amount`` is the payer's amount (needed for a static code; for a dynamic code it
    must equal the code's). ``wallet`` maps asset id to the payer's balance; when given,
    the payer must hold the code's currency and enough of it.
    """
    text = code_text.strip()  # a scanner's trailing newline is not part of the code
    try:
        code = decode(text, now_ms=now_ms)
        target = ledger_payment(code)
    except KHQRError as e:
        raise PaymentError(f"invalid KHQR: {e}") from None
    if code.amount is None:
        if amount is None:
            raise PaymentError("this is a static KHQR (no amount): give the amount to pay")
        chosen = amount
    else:
        if amount is not None and amount != code.amount:
            raise PaymentError(
                f"the code asks for {code.amount} {code.currency}; "
                f"a dynamic KHQR cannot be paid with another amount ({amount})"
            )
        chosen = code.amount
    try:
        format_amount(chosen, code.currency)  # positive, whole riel / cents, not too long
    except KHQRError as e:
        raise PaymentError(f"bad amount: {e.message}") from None
    if target.account_id == payer:
        raise PaymentError(f"the code pays {payer} itself; nothing to do")
    if len(target.description) > MAX_DESCRIPTION:
        raise PaymentError(f"bill number is longer than {MAX_DESCRIPTION} characters")
    payment = KhqrPayment(
        payer=payer,
        payee=target.account_id,
        asset_id=target.asset_id,
        currency=code.currency,
        amount=chosen,
        description=target.description,
        merchant_name=code.merchant_name,
        bill_number=code.bill_number,
        dynamic=code.is_dynamic,
        md5=khqr_md5(text),
    )
    if wallet is not None:
        check_funds(payment, wallet)
    return payment


def check_funds(payment: KhqrPayment, wallet: Mapping[str, Decimal]) -> None:
    """Raise PaymentError("funds") unless ``wallet`` covers ``payment``."""
    balance = wallet.get(payment.asset_id)
    if balance is None:
        raise PaymentError(
            f"{payment.payer} holds no {payment.currency} ({payment.asset_id}); "
            f"the code asks for {payment.currency}",
            "funds",
        )
    if balance < payment.amount:
        precision = ASSET_PRECISION[payment.asset_id]
        raise PaymentError(
            f"insufficient funds: {payment.payer} has {format_units(balance, precision)} "
            f"{payment.currency}, the payment is {payment.amount_text} {payment.currency}",
            "funds",
        )


def payment_tx(payment: KhqrPayment, created_time_ms: int, quorum: int = 1) -> Tx:
    """The payment as one unsigned transaction created by the payer."""
    cmd = builders.transfer_asset(
        payment.payer, payment.payee, payment.asset_id, payment.amount_text, payment.description
    )
    return builders.build_tx(payment.payer, [cmd], created_time_ms, quorum)


def sign_by_creator(txs: Sequence[Tx], keys: Mapping[str, KeyPair | Sequence[KeyPair]]) -> list[Tx]:
    """Each tx signed with the key(s) of its creator account; KeyError names a missing one."""
    out = []
    for t in txs:
        found = keys.get(t.creator)
        if found is None:
            raise KeyError(f"no key for {t.creator}, the creator of tx {t.hash_hex}")
        pairs = [found] if isinstance(found, KeyPair) else list(found)
        out.append(builders.sign_tx(t, *pairs))
    return out
