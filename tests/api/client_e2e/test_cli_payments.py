"""Payments through the `bakong` CLI against a real Torii: pay by KHQR (KHR and USD,
static and dynamic, refusals) and Alipay+-style cross-border settlement batches."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

from node.payments.khqr import KHQR, encode
from tests.api.client_e2e.harness import serving
from tests.api.client_e2e.test_cli_ledger import committed_hash, one_line_error


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def code(currency: str, amount: str | None = None, **kw: object) -> str:
    args: dict[str, object] = {
        "account_id": "coffee_shop@aclb",
        "merchant_name": "Coffee Klaing",
        "merchant_city": "Phnom Penh",
        "currency": currency,
        "amount": None if amount is None else Decimal(amount),
    }
    args.update(kw)
    return encode(KHQR(**args), now_ms=now_ms())  # type: ignore[arg-type]


async def test_pay_khqr_static_and_dynamic_in_both_currencies(tmp_path: Path) -> None:
    async with serving(tmp_path) as s:
        sokha = s.as_("sokha@aclb")
        # static KHR code: the payer chooses the amount
        r = await s.run("pay", code("KHR"), "--amount", "12000", *sokha)
        height = committed_hash(r)[1]
        assert r.stdout.startswith("pay 12000 KHR to coffee_shop@aclb (Coffee Klaing)\n")
        assert s.balance("coffee_shop@aclb", "khr#bakong") == 212000
        assert s.balance("sokha@aclb", "khr#bakong") == 3988000
        # dynamic USD code with a bill number; --from is the payer, options after the code
        dyn = code("USD", "3.75", bill_number="INV-0042")
        r = await s.run(
            "pay", dyn, "--from", "sokha@aclb", "--key", str(s.key_files["sokha@aclb"]),
            "--torii", s.target, "--json",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert {k: data[k] for k in ("payee", "asset", "amount", "currency", "bill_number")} == {
            "payee": "coffee_shop@aclb",
            "asset": "usd#bakong",
            "amount": "3.75",
            "currency": "USD",
            "bill_number": "INV-0042",
        }
        assert data["status"] == "COMMITTED" and data["dynamic"] is True
        assert data["height"] > height and len(data["md5"]) == 32
        assert s.balance("coffee_shop@aclb", "usd#bakong") == Decimal("53.75")
        # the bill number travels as the transfer description
        found = s.ledger.get_block(data["height"])
        assert found is not None
        block = found[0]
        (tx,) = block.block_v1.payload.transactions
        assert tx.payload.reduced_payload.commands[0].transfer_asset.description == "INV-0042"
        # a dynamic code paid with the same amount spelled differently is fine
        r = await s.run("pay", code("USD", "2.5"), "--amount", "2.50", *sokha)
        committed_hash(r)
        # static USD with cents; dynamic KHR
        r = await s.run("pay", code("USD"), "--amount", "0.99", *s.as_("dara@abaa"))
        committed_hash(r)
        r = await s.run("pay", code("KHR", "4000"), *s.as_("chenda@wing"))
        committed_hash(r)
        assert s.balance("coffee_shop@aclb", "usd#bakong") == Decimal("57.24")
        assert s.balance("coffee_shop@aclb", "khr#bakong") == 216000


async def test_pay_khqr_refusals(tmp_path: Path) -> None:
    async with serving(tmp_path) as s:
        chenda = s.as_("chenda@wing")
        before = s.balances("chenda@wing", "coffee_shop@aclb")
        r = await s.run("pay", code("USD", "500.00", bill_number="INV-9"), *chenda)
        one_line_error(
            r, 1, "insufficient funds: chenda@wing has 120.00 USD, the payment is 500.00 USD"
        )
        r = await s.run("pay", code("KHR"), *chenda)
        one_line_error(r, 2, "static KHQR (no amount): give the amount")
        r = await s.run("pay", code("KHR", "5000"), "--amount", "6000", *chenda)
        one_line_error(r, 2, "cannot be paid with another amount")
        r = await s.run("pay", code("KHR"), "--amount", "10.5", *chenda)
        one_line_error(r, 2, "KHR amounts are whole riel")
        r = await s.run("pay", code("USD"), "--amount", "1.001", *chenda)
        one_line_error(r, 2, "at most 2 decimals")
        past = now_ms() - 3_600_000
        expired = encode(
            KHQR(
                account_id="coffee_shop@aclb", merchant_name="Coffee Klaing",
                merchant_city="Phnom Penh", currency="KHR", amount=Decimal(1000),
            ),
            now_ms=past, ttl_ms=60_000,
        )  # fmt: skip
        r = await s.run("pay", expired, *chenda)
        one_line_error(r, 2, "expired")
        r = await s.run("pay", code("KHR")[:-1] + "0", "--amount", "1", *chenda)
        one_line_error(r, 2, "invalid KHQR", "CRC")
        # a payee that is not on the ledger: the ledger says no (dest account, code 4)
        r = await s.run("pay", code("KHR", "100", account_id="nobody@aclb"), *chenda)
        one_line_error(r, 1, "rejected: no such destination account (TransferAsset code 4)")
        assert s.balances("chenda@wing", "coffee_shop@aclb") == before
        # the payer's wallet holds no such currency (joint@aclb has no riel)
        r = await s.run("pay", code("KHR", "100"), *s.as_("joint@aclb"))
        one_line_error(r, 1, "holds no KHR")


async def test_crossborder_inbound_outbound_and_atomic_failure(tmp_path: Path) -> None:
    async with serving(tmp_path) as s:
        gw = s.as_("alipay_gw@aclb")
        inbound = [
            "xb", "inbound", "--reference", "AP20251126001", "--merchant", "coffee_shop@aclb",
            "--foreign-currency", "CNY", "--foreign-amount", "50.00", "--rate", "560.25",
            "--fee-bps", "100", "--fee-account", "ops@aclb",
        ]  # fmt: skip
        r = await s.run(*inbound, "--quote", "--account", "alipay_gw@aclb")
        assert r.returncode == 0 and r.stdout.startswith(
            "inbound AP20251126001: CNY 50.00 @ 560.25 = 28013 KHR; coffee_shop@aclb gets 27733"
        ), r.stdout
        assert s.ledger.height == 1  # a quote sends nothing
        r = await s.run(*inbound, *gw)
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("committed in block") == 2, r.stdout
        assert s.balance("coffee_shop@aclb", "khr#bakong") == 200000 + 27733
        assert s.balance("ops@aclb", "khr#bakong") == 280
        assert s.balance("alipay_gw@aclb", "khr#bakong") == 400000000 - 28013
        record = json.loads(s.detail("alipay_gw@aclb", "alipay_gw@aclb", "xb_AP20251126001") or "")
        assert (record["foreign"], record["rate"], record["gross"]) == (
            "CNY 50.00",
            "560.25",
            "28013",
        )

        # the same reference again: the record refuses it and nothing moves
        before = s.balances("coffee_shop@aclb", "ops@aclb", "alipay_gw@aclb")
        r = await s.run(*inbound, *gw, "--json")
        assert r.returncode == 1
        data = json.loads(r.stdout)
        assert data["txs"][0]["error"]["command"] == "CompareAndSetAccountDetail"
        assert data["txs"][0]["error"]["code"] == 4
        assert s.balances("coffee_shop@aclb", "ops@aclb", "alipay_gw@aclb") == before

        # outbound: sokha pays a Chinese shop in USD, the fee on top
        r = await s.run(
            "xb", "outbound", "--reference", "AP20251126002", "--gateway", "alipay_gw@aclb",
            "--foreign-merchant", "CN-SHOP-7781", "--foreign-currency", "CNY",
            "--foreign-amount", "100", "--rate", "0.1405", "--fee-bps", "50",
            "--fee-account", "ops@aclb", "--asset", "usd#bakong", *s.as_("sokha@aclb"), "--json",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["committed"] is True and len(data["txs"]) == 2
        assert data["settlement"]["debited"] == "14.12"
        assert s.balance("sokha@aclb", "usd#bakong") == Decimal("2485.88")
        assert s.balance("alipay_gw@aclb", "usd#bakong") == Decimal("100014.05")
        assert s.balance("ops@aclb", "usd#bakong") == Decimal("0.07")

        # outbound that chenda can pay but not with its fee: ATOMIC, nothing moves
        accounts = ("chenda@wing", "alipay_gw@aclb", "ops@aclb")
        before = s.balances(*accounts)
        r = await s.run(
            "xb", "outbound", "--reference", "AP20251126003", "--gateway", "alipay_gw@aclb",
            "--foreign-merchant", "CN-TAOBAO-1", "--foreign-currency", "CNY",
            "--foreign-amount", "1000", "--rate", "599", "--fee-bps", "100",
            "--fee-account", "ops@aclb", *s.as_("chenda@wing"), "--json",
        )  # fmt: skip
        assert r.returncode == 1
        data = json.loads(r.stdout)
        assert [t["status"] for t in data["txs"]] == ["REJECTED", "REJECTED"]
        assert data["txs"][1]["error"]["words"] == "insufficient funds"  # the fee tx
        assert data["txs"][0]["summary"].startswith("rejected: another transaction")
        assert s.balances(*accounts) == before
        assert s.detail("chenda@wing", "chenda@wing", "xb_AP20251126003") is None

        # bad input is refused before connecting
        r = await s.run(*inbound[:-4], "--fee-bps", "5000", "--fee-account", "ops@aclb", *gw)
        one_line_error(r, 2, "cannot settle: fee must be 0..1000 basis points")
        bad = [a if a != "560.25" else "-1" for a in inbound]
        r = await s.run(*bad, *gw)
        one_line_error(r, 2, "FX rate must be a positive number")
