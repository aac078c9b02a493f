"""``bakong-devnet demo``: a stream of realistic Bakong payments against a running devnet.

KHR and USD transfers between customers of different banks, a shop paid by scanning
its KHQR code, and an Alipay+ style cross-border settlement as one ATOMIC batch (the
gateway pays the merchant in riel together with the settlement fee, all or nothing).
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from devnet.status import fetch_status
from node.client import builders
from node.client.channel import GrpcConnectionError, GrpcError
from node.client.torii import ToriiClient, WaitTimeout
from node.crypto import KeyPair
from node.keys import load_key_file
from node.model import Tx
from node.payments.crossborder import build_settlement, quote_inbound
from node.payments.khqr import KHQR, decode, encode, ledger_payment
from node.proto.iroha import endpoint_pb2


def _now() -> int:
    return int(time.time() * 1000)


def _keys(doc: dict[str, Any]) -> dict[str, KeyPair]:
    return {a["account_id"]: load_key_file(a["key_file"]) for a in doc["accounts"]}


def _status(r: endpoint_pb2.ToriiResponse) -> str:
    name = endpoint_pb2.TxStatus.Name(r.tx_status)
    if r.tx_status == endpoint_pb2.COMMITTED:
        return "COMMITTED"
    return f"{name} {r.err_or_cmd_name} code {r.error_code}".strip()


async def _send(client: ToriiClient, txs: list[Tx], label: str) -> bool:
    if len(txs) == 1:
        await client.send_tx(txs[0])
    else:
        await client.send_txs(txs)
    finals = [await client.wait_final(t.hash, 30.0) for t in txs]
    ok = all(f.tx_status == endpoint_pb2.COMMITTED for f in finals)
    print(f"  {label:<62} {_status(finals[0])}")
    return ok


def _reachable_torii(doc: dict[str, Any]) -> str:
    """The first validator that answers /status (the demo survives a dead nbc)."""
    for v in doc["validators"]:
        if fetch_status(v["metrics"]) is not None:
            return str(v["torii"])
    return str(doc["validators"][0]["torii"])


async def _demo(doc: dict[str, Any], count: int) -> int:
    keys = _keys(doc)
    rng = random.Random()
    customers = ["sokha@aclb", "dara@abaa", "chenda@wing"]
    failures = 0
    torii = _reachable_torii(doc)
    async with ToriiClient.connect(torii) as client:
        print(f"payments through {torii}:")
        for i in range(count):
            src, dst = rng.sample(customers, 2)
            if i % 2:
                asset, amount = "khr#bakong", str(rng.randrange(1000, 40000, 100))
            else:
                asset, amount = "usd#bakong", f"{rng.randrange(100, 2500) / 100:.2f}"
            cmd = builders.transfer_asset(src, dst, asset, amount, "family support")
            tx = builders.sign_tx(builders.build_tx(src, [cmd], _now()), keys[src])
            unit = asset.split("#")[0].upper()
            failures += not await _send(client, [tx], f"{src} -> {dst} {amount} {unit}")
        # A shop shows a dynamic KHQR code; the customer's app decodes it and pays.
        code = encode(
            KHQR(
                account_id="coffee_shop@aclb",
                merchant_name="Coffee Klaing",
                merchant_city="Phnom Penh",
                currency="KHR",
                amount=Decimal(12000),
                bill_number="INV-0042",
            ),
            now_ms=_now(),
        )
        pay = ledger_payment(decode(code, now_ms=_now()))
        assert pay.amount is not None
        cmd = builders.transfer_asset(
            "sokha@aclb", pay.account_id, pay.asset_id, str(pay.amount), pay.description
        )
        tx = builders.sign_tx(builders.build_tx("sokha@aclb", [cmd], _now()), keys["sokha@aclb"])
        print(f"  KHQR {code[:40]}...")
        failures += not await _send(client, [tx], "sokha@aclb pays Coffee Klaing by KHQR 12000 KHR")
        # Alipay+ inbound: a tourist pays CNY 50; the gateway settles in riel with its fee,
        # payment and fee as one ATOMIC batch.
        gw = "alipay_gw@aclb"
        now = _now()
        settlement = quote_inbound(
            reference=f"AP{now}",
            gateway=gw,
            merchant="coffee_shop@aclb",
            fee_account="ops@aclb",
            foreign_currency="CNY",
            foreign_amount=Decimal("50.00"),
            rate=Decimal("560"),
            fee_bps=100,
        )
        batch = build_settlement(settlement, now, {gw: keys[gw]})
        label = f"Alipay+ inbound CNY 50 -> {settlement.gross} KHR (ATOMIC, fee {settlement.fee})"
        failures += not await _send(client, batch, label)
    print("demo done" + (f", {failures} payment(s) not committed" if failures else ""))
    return 1 if failures else 0


def run_demo(root: Path, doc: dict[str, Any], count: int = 20) -> int:
    try:
        return trio.run(_demo, doc, count)
    except GrpcConnectionError as e:
        print(f"bakong-devnet demo: {e} (is the network up? `bakong-devnet status --dir {root}`)")
        return 3
    except (GrpcError, WaitTimeout) as e:
        print(f"bakong-devnet demo: {e}")
        return 1
