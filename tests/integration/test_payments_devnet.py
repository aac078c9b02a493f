"""Bakong payments end to end on a 4-validator devnet, through the `bakong` CLI (issue #9):
pay by KHQR in both currencies; an inbound and an outbound cross-border batch; an outbound
batch that fails for insufficient funds leaves every balance unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from node.payments.khqr import KHQR, encode
from tests.integration.devnet_support import ROOT, running_devnet


def bakong(doc: dict[str, Any], account: str, *args: str) -> subprocess.CompletedProcess[str]:
    if account == "admin@bakong":
        key = str(Path(doc["dir"]) / "admin.key")
    else:
        key = next(a["key_file"] for a in doc["accounts"] if a["account_id"] == account)
    env = {
        **os.environ,
        "BAKONG_TORII": doc["validators"][1]["torii"],
        "BAKONG_ACCOUNT": account,
        "BAKONG_KEY": key,
    }
    return subprocess.run(
        [sys.executable, "-m", "node.client", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip


def balance(doc: dict[str, Any], account: str, asset: str) -> Decimal:
    out = bakong(doc, "admin@bakong", "--json", "balance", account)  # root reads any wallet
    assert out.returncode == 0, out.stderr
    doc_ = json.loads(out.stdout)
    rows = doc_["balances"] if isinstance(doc_, dict) else doc_
    for row in rows:
        if row["asset"] == asset:
            return Decimal(row["balance"])
    return Decimal(0)


def khqr(currency: str, amount: str | None, bill: str | None = None) -> str:
    return encode(
        KHQR(
            account_id="coffee_shop@aclb",
            merchant_name="Coffee Klaing",
            merchant_city="Phnom Penh",
            currency=currency,
            amount=None if amount is None else Decimal(amount),
            bill_number=bill,
        ),
        now_ms=time.time_ns() // 1_000_000,
    )


def test_payments_on_devnet(tmp_path: Path) -> None:
    with running_devnet(tmp_path, 4) as doc:
        shop_khr = balance(doc, "coffee_shop@aclb", "khr#bakong")
        shop_usd = balance(doc, "coffee_shop@aclb", "usd#bakong")
        # pay by KHQR: a dynamic riel code and a static dollar code
        r = bakong(doc, "sokha@aclb", "pay", khqr("KHR", "15000", "INV-7"))
        assert r.returncode == 0 and "committed in block" in r.stdout, r.stderr
        r = bakong(doc, "dara@abaa", "pay", khqr("USD", None), "--amount", "2.50")
        assert r.returncode == 0 and "committed" in r.stdout, r.stderr
        assert balance(doc, "coffee_shop@aclb", "khr#bakong") == shop_khr + 15000
        assert balance(doc, "coffee_shop@aclb", "usd#bakong") == shop_usd + Decimal("2.50")

        # inbound: the Alipay+ gateway pays the merchant in riel with its fee (ATOMIC)
        gw_before = balance(doc, "alipay_gw@aclb", "khr#bakong")
        r = bakong(
            doc, "alipay_gw@aclb", "xb", "inbound", "--merchant", "coffee_shop@aclb",
            "--reference", "AP1", "--foreign-currency", "CNY", "--foreign-amount", "50",
            "--rate", "560", "--fee-bps", "100", "--fee-account", "ops@aclb",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert balance(doc, "alipay_gw@aclb", "khr#bakong") == gw_before - 28000
        assert balance(doc, "coffee_shop@aclb", "khr#bakong") == shop_khr + 15000 + 27720

        # outbound: a Cambodian pays a merchant abroad through the gateway, fee on top
        chenda = balance(doc, "chenda@wing", "usd#bakong")
        r = bakong(
            doc, "chenda@wing", "xb", "outbound", "--gateway", "alipay_gw@aclb",
            "--foreign-merchant", "CN-SHOP-9", "--reference", "AP2", "--foreign-currency",
            "CNY", "--foreign-amount", "20", "--rate", "0.14", "--fee-bps", "50",
            "--fee-account", "ops@aclb", "--asset", "usd#bakong",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert balance(doc, "chenda@wing", "usd#bakong") == chenda - Decimal("2.80") - Decimal(
            "0.01"
        )

        # an outbound batch she cannot afford: rejected as a whole, no balance moves
        before = {
            a: balance(doc, a, "usd#bakong") for a in ("chenda@wing", "alipay_gw@aclb", "ops@aclb")
        }
        r = bakong(
            doc, "chenda@wing", "xb", "outbound", "--gateway", "alipay_gw@aclb",
            "--foreign-merchant", "CN-SHOP-9", "--reference", "AP3", "--foreign-currency",
            "CNY", "--foreign-amount", "100000", "--rate", "0.14", "--fee-bps", "50",
            "--fee-account", "ops@aclb", "--asset", "usd#bakong",
        )  # fmt: skip
        assert r.returncode == 1 and "rejected" in r.stderr, (r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        after = {a: balance(doc, a, "usd#bakong") for a in before}
        assert after == before
