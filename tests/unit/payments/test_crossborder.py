"""Cross-border settlement builders: exact FX and fee arithmetic, batch shape, signatures."""

from __future__ import annotations

import json
import math
import random
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.client import builders
from node.crypto import KeyPair, KeyScheme, verify
from node.model import group_batches
from node.payments.crossborder import (
    Settlement,
    SettlementError,
    build_settlement,
    convert,
    fee_of,
    quote_inbound,
    quote_outbound,
    settlement_txs,
)
from node.payments.khqr import KHQR, encode
from node.payments.pay import PaymentError, payment_tx, plan_khqr_payment, sign_by_creator
from node.proto.iroha import transaction_pb2

GW = KeyPair.generate(KeyScheme.ED25519, rng=random.Random(1))
CUSTOMER = KeyPair.generate(KeyScheme.ED25519_SHA3, rng=random.Random(2))
T0 = 1_700_000_000_000
ATOMIC = transaction_pb2.Transaction.Payload.BatchMeta.ATOMIC


def inbound(**kw: Any) -> Settlement:
    args: dict[str, Any] = {
        "reference": "AP20251126001",
        "gateway": "alipay_gw@aclb",
        "merchant": "coffee_shop@aclb",
        "fee_account": "ops@aclb",
        "foreign_currency": "CNY",
        "foreign_amount": Decimal("50.00"),
        "rate": Decimal("560.25"),
        "fee_bps": 100,
    }
    args.update(kw)
    return quote_inbound(**args)


def outbound(**kw: Any) -> Settlement:
    args: dict[str, Any] = {
        "reference": "AP20251126002",
        "customer": "sokha@aclb",
        "gateway": "alipay_gw@aclb",
        "fee_account": "ops@aclb",
        "foreign_merchant": "CN-SHOP-7781",
        "foreign_currency": "CNY",
        "foreign_amount": Decimal("100"),
        "rate": Decimal("0.1405"),
        "fee_bps": 50,
        "asset_id": "usd#bakong",
    }
    args.update(kw)
    return quote_outbound(**args)


def transfers(tx: Any) -> list[Any]:
    return [c.transfer_asset for c in tx.commands if c.WhichOneof("command") == "transfer_asset"]


# --- arithmetic ------------------------------------------------------------------------


def test_inbound_amounts_round_half_up_to_whole_riel() -> None:
    s = inbound()  # 50.00 × 560.25 = 28012.5 -> 28013 (half up)
    assert s.gross == Decimal(28013)
    assert s.fee == Decimal(280)  # 280.13 -> 280
    assert s.credited == Decimal(27733)  # merchant bears the fee
    assert s.debited == Decimal(28013)  # gateway pays exactly the converted amount


def test_outbound_amounts_in_cents_fee_on_top() -> None:
    s = outbound()  # 100 × 0.1405 = 14.05 USD; fee 0.5 % = 0.07025 -> 0.07
    assert (s.gross, s.fee) == (Decimal("14.05"), Decimal("0.07"))
    assert s.credited == Decimal("14.05")  # the gateway gets the full converted amount
    assert s.debited == Decimal("14.12")  # the customer pays the fee on top


@pytest.mark.parametrize(
    ("foreign", "rate", "precision", "expected"),
    [
        ("1", "0.5", 0, "1"),  # half goes up
        ("1", "1.5", 0, "2"),  # not to even: 1.5 -> 2, 2.5 -> 3
        ("1", "2.5", 0, "3"),
        ("1", "2.49999999", 0, "2"),
        ("3", "0.00166667", 2, "0.01"),  # 0.00500001 -> 0.01
        ("3", "0.00166666", 2, "0.00"),  # 0.00499998 -> 0.00
    ],
)
def test_convert_is_exact_half_up(foreign: str, rate: str, precision: int, expected: str) -> None:
    assert convert(Decimal(foreign), Decimal(rate), precision) == Decimal(expected)


def half_up(x: Fraction, precision: int) -> Fraction:
    scaled = x * 10**precision
    return Fraction(math.floor(scaled + Fraction(1, 2)), 10**precision)


@given(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**15) - 1, places=3),
    st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(10**9) - 1, places=8),
    st.sampled_from([0, 2]),
)
def test_convert_matches_exact_rational_rounding(
    foreign: Decimal, rate: Decimal, precision: int
) -> None:
    # up to 35 significant digits: more than Decimal's default 28, so a default-context
    # product would round before the half-up step
    exact = half_up(Fraction(foreign) * Fraction(rate), precision)
    assert Fraction(convert(foreign, rate, precision)) == exact


def test_fee_in_basis_points() -> None:
    assert fee_of(Decimal(28013), 100, 0) == Decimal(280)
    assert fee_of(Decimal(150), 100, 0) == Decimal(2)  # 1.5 -> 2
    assert fee_of(Decimal(149), 100, 0) == Decimal(1)  # 1.49 -> 1
    assert fee_of(Decimal("10.00"), 25, 2) == Decimal("0.03")  # 0.025 -> 0.03
    assert fee_of(Decimal(1000), 0, 0) == 0


@given(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**9), places=3),
    st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(10**5), places=8),
    st.integers(0, 1000),
)
def test_amounts_balance_exactly(foreign: Decimal, rate: Decimal, bps: int) -> None:
    try:
        s = inbound(foreign_amount=foreign, rate=rate, fee_bps=bps)
    except SettlementError:
        return  # converts to 0, or fee eats it all: refused, checked elsewhere
    assert abs(s.gross - foreign * rate) <= Decimal("0.5")
    assert s.credited + s.fee == s.debited == s.gross
    txs = settlement_txs(s, T0)
    moved = sum(Decimal(t.amount) for tx in txs for t in transfers(tx))
    assert moved == s.debited


# --- batches ---------------------------------------------------------------------------


def test_inbound_batch_shape_and_record() -> None:
    s = inbound()
    txs = build_settlement(s, T0, {"alipay_gw@aclb": GW})
    assert len(txs) == 2
    (batch,) = group_batches(txs)
    meta = txs[0].batch_meta
    assert meta is not None and meta.type == ATOMIC
    assert list(meta.reduced_hashes) == [t.reduced_hash.hex() for t in txs]
    assert all(t.batch_meta == meta for t in txs)
    assert batch.fully_signed()
    pay, fee = txs
    assert pay.creator == fee.creator == "alipay_gw@aclb"
    assert pay.created_time == T0
    (t,) = transfers(pay)
    assert (t.src_account_id, t.dest_account_id, t.asset_id, t.amount) == (
        "alipay_gw@aclb",
        "coffee_shop@aclb",
        "khr#bakong",
        "27733",
    )
    assert t.description == "alipay+ in AP20251126001 wallet: CNY 50.00 @ 560.25 KHR/CNY"
    record = pay.commands[1].compare_and_set_account_detail
    assert record.account_id == "alipay_gw@aclb" and record.key == "xb_AP20251126001"
    assert not record.HasField("old_value")  # set only while absent: no double settlement
    assert json.loads(record.value) == {
        "asset": "khr#bakong",
        "counterparty": "wallet",
        "direction": "inbound",
        "fee": "280",
        "fee_account": "ops@aclb",
        "fee_bps": 100,
        "foreign": "CNY 50.00",
        "gross": "28013",
        "partner": "alipay+",
        "payee": "coffee_shop@aclb",
        "payer": "alipay_gw@aclb",
        "rate": "560.25",
    }
    (f,) = transfers(fee)
    assert (f.src_account_id, f.dest_account_id, f.amount) == ("alipay_gw@aclb", "ops@aclb", "280")
    assert f.description == "alipay+ fee AP20251126001 100bps"


def test_outbound_batch_signed_by_customer_only() -> None:
    s = outbound()
    txs = build_settlement(s, T0, {"sokha@aclb": CUSTOMER, "alipay_gw@aclb": GW})
    for t in txs:
        assert t.creator == "sokha@aclb"
        assert [sig.public_key for sig in t.signatures] == [CUSTOMER.public_key]
        (sig,) = t.signatures
        assert verify(sig.public_key, t.payload_bytes, bytes.fromhex(sig.signature))
    pay, fee = (transfers(t)[0] for t in txs)
    assert (pay.dest_account_id, pay.amount, pay.asset_id) == (
        "alipay_gw@aclb",
        "14.05",
        "usd#bakong",
    )
    assert "CN-SHOP-7781" in pay.description and "CNY 100 @ 0.1405 USD/CNY" in pay.description
    assert (fee.dest_account_id, fee.amount) == ("ops@aclb", "0.07")
    assert txs[0].commands[1].compare_and_set_account_detail.account_id == "sokha@aclb"


def test_missing_creator_key_is_refused() -> None:
    with pytest.raises(KeyError, match="sokha@aclb"):
        build_settlement(outbound(), T0, {"alipay_gw@aclb": GW})


def test_zero_fee_is_a_batch_of_one() -> None:
    txs = build_settlement(inbound(fee_bps=0), T0, {"alipay_gw@aclb": GW})
    assert len(txs) == 1 and txs[0].batch_meta is not None
    assert transfers(txs[0])[0].amount == "28013"


def test_same_inputs_same_batch() -> None:
    a = settlement_txs(inbound(), T0)
    b = settlement_txs(inbound(), T0)
    assert [t.hash for t in a] == [t.hash for t in b]


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"rate": Decimal(0)}, "FX rate must be a positive"),
        ({"rate": Decimal(-560)}, "FX rate must be a positive"),
        ({"rate": Decimal("NaN")}, "FX rate must be a positive"),
        ({"rate": Decimal("Infinity")}, "FX rate must be a positive"),
        ({"rate": Decimal("560.123456789")}, "more than 8 decimals"),
        ({"rate": Decimal(10) ** 9}, "too large"),
        ({"rate": 560.25}, "must be a Decimal"),
        ({"foreign_amount": Decimal(0)}, "foreign amount must be a positive"),
        ({"foreign_amount": Decimal("1.0001")}, "more than 3 decimals"),
        ({"foreign_amount": Decimal(10) ** 15}, "too large"),
        ({"foreign_amount": Decimal("0.001"), "rate": Decimal("1")}, "converts to 0 KHR"),
        ({"foreign_currency": "cny"}, "ISO 4217"),
        ({"foreign_currency": "KHR"}, "is the settlement currency"),
        ({"asset_id": "coin#test"}, "not a Bakong asset"),
        ({"fee_bps": -1}, "basis points"),
        ({"fee_bps": 1001}, "basis points"),
        ({"fee_bps": True}, "basis points"),
        ({"reference": "AP 1"}, "reference"),
        ({"reference": ""}, "reference"),
        ({"reference": "x" * 61}, "reference"),
        ({"fee_account": "coffee_shop@aclb"}, "three accounts"),
        ({"merchant": "alipay_gw@aclb"}, "three accounts"),
        ({"foreign_payer": "two words"}, "counterparty"),
        ({"partner": "Alipay Plus"}, "partner"),
        ({"reference": "R" * 60, "foreign_payer": "P" * 32}, "longer than 100"),
    ],
)
def test_bad_input_is_refused(kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SettlementError, match=fragment):
        inbound(**kw)


def test_trailing_zeros_do_not_count_as_decimals() -> None:
    s = inbound(foreign_amount=Decimal("50.0000"), rate=Decimal("560.2500000000"))
    assert s.gross == Decimal(28013)


def test_tiny_fee_rounds_to_nothing() -> None:
    # 10 % of 1 riel rounds to 0: the merchant gets 1 and there is no fee tx
    s = inbound(foreign_amount=Decimal(1), rate=Decimal(1), fee_bps=1000)
    assert (s.credited, s.fee) == (Decimal(1), Decimal(0))


# --- node.payments.pay: KHQR payment planning and the helpers settlement shares ---------


def khqr(currency: str, amount: str | None = None, **kw: Any) -> str:
    code = KHQR(
        account_id="coffee_shop@aclb",
        merchant_name="Coffee Klaing",
        merchant_city="Phnom Penh",
        currency=currency,  # type: ignore[arg-type]
        amount=None if amount is None else Decimal(amount),
        **kw,
    )
    return encode(code, now_ms=T0)


def test_plan_static_and_dynamic() -> None:
    p = plan_khqr_payment(khqr("KHR") + "\n", "sokha@aclb", T0, Decimal(12000))
    assert (p.payee, p.asset_id, p.amount_text, p.dynamic) == (
        "coffee_shop@aclb",
        "khr#bakong",
        "12000",
        False,
    )
    p = plan_khqr_payment(khqr("USD", "3.5", bill_number="INV-1"), "sokha@aclb", T0 + 1000)
    assert (p.asset_id, p.amount_text, p.description, p.dynamic) == (
        "usd#bakong",
        "3.50",
        "INV-1",
        True,
    )
    tx = payment_tx(p, T0 + 5)
    t = tx.commands[0].transfer_asset
    assert (tx.creator, t.src_account_id, t.dest_account_id, t.amount, t.description) == (
        "sokha@aclb",
        "sokha@aclb",
        "coffee_shop@aclb",
        "3.50",
        "INV-1",
    )
    assert tx.created_time == T0 + 5 and not tx.signatures


@pytest.mark.parametrize(
    ("code", "amount", "now", "fragment"),
    [
        ("static-khr", None, T0, "static KHQR (no amount)"),
        ("dynamic-usd", "3.51", T0, "cannot be paid with another amount"),
        ("dynamic-usd", None, T0 + 15 * 60_000 + 1, "expired"),
        ("static-khr", "0.5", T0, "whole riel"),
        ("static-khr", "-5", T0, "greater than 0"),
        ("static-usd", "0.001", T0, "at most 2 decimals"),
    ],
)
def test_plan_refuses(code: str, amount: str | None, now: int, fragment: str) -> None:
    text = {
        "static-khr": khqr("KHR"),
        "static-usd": khqr("USD"),
        "dynamic-usd": khqr("USD", "3.50"),
    }[code]
    with pytest.raises(PaymentError, match=re.escape(fragment)) as e:
        plan_khqr_payment(text, "sokha@aclb", now, None if amount is None else Decimal(amount))
    assert e.value.kind == "input"


def test_plan_checks_the_wallet() -> None:
    code = khqr("USD", "10.00")
    ok = plan_khqr_payment(code, "sokha@aclb", T0, wallet={"usd#bakong": Decimal("10.00")})
    assert ok.amount == 10
    with pytest.raises(
        PaymentError, match=re.escape("has 9.99 USD, the payment is 10.00 USD")
    ) as e:
        plan_khqr_payment(code, "sokha@aclb", T0, wallet={"usd#bakong": Decimal("9.99")})
    assert e.value.kind == "funds"
    with pytest.raises(PaymentError, match="holds no USD") as e:
        plan_khqr_payment(code, "sokha@aclb", T0, wallet={"khr#bakong": Decimal(10**9)})
    assert e.value.kind == "funds"
    with pytest.raises(PaymentError, match="pays coffee_shop@aclb itself"):
        plan_khqr_payment(code, "coffee_shop@aclb", T0)


def test_sign_by_creator_signs_each_tx_with_its_creators_keys() -> None:
    other = KeyPair.generate(KeyScheme.ED25519, rng=random.Random(3))
    txs = builders.make_batch(
        [
            builders.build_tx("a@x", [builders.set_account_detail("a@x", "k", "v")], T0),
            builders.build_tx("b@x", [builders.set_account_detail("b@x", "k", "v")], T0, 2),
        ]
    )
    signed = sign_by_creator(txs, {"a@x": GW, "b@x": [CUSTOMER, other]})
    assert [[s.public_key for s in t.signatures] for t in signed] == [
        [GW.public_key],
        [CUSTOMER.public_key, other.public_key],
    ]
    assert all(
        verify(s.public_key, t.payload_bytes, bytes.fromhex(s.signature))
        for t in signed
        for s in t.signatures
    )
    with pytest.raises(KeyError, match="no key for b@x"):
        sign_by_creator(txs, {"a@x": GW})
