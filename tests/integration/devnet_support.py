"""Helpers for tests that run real bakong-node processes through the devnet CLI."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio

from devnet.admin import admin_key, now_ms
from devnet.network import port_free
from node.client import builders
from node.client.torii import ToriiClient
from node.crypto import KeyPair
from node.keys import load_key_file
from node.model import Tx
from node.proto.iroha import endpoint_pb2, qry_responses_pb2

ROOT = Path(__file__).resolve().parents[2]


def free_base_port(n: int) -> int:
    rng = random.Random()
    for _ in range(200):
        # below Linux's ephemeral range (32768+): a restarted validator must find its
        # port free, not taken as the source port of some outgoing connection
        base = rng.randrange(20000, 32400, 10)
        ports = [base + d * 100 + i for d in range(3) for i in range(n + 2)]
        if all(port_free(p) for p in ports):
            return base
    raise RuntimeError("no free port range")


def devnet(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "devnet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"bakong-devnet {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@contextmanager
def running_devnet(tmp: Path, validators: int = 4) -> Iterator[dict[str, Any]]:
    d = tmp / "net"
    base = free_base_port(validators)
    try:
        devnet(
            "up",
            "--dir",
            str(d),
            "--validators",
            str(validators),
            "--base-port",
            str(base),
            "--detach",
        )
        doc = json.loads((d / "network.json").read_text())
        doc["dir"] = str(d)
        yield doc
    finally:
        devnet("down", "--dir", str(d), check=False)
        for v in (
            json.loads((d / "network.json").read_text())["validators"]
            if (d / "network.json").exists()
            else []
        ):
            log = d / v["name"] / "node.log"
            if log.exists() and "Traceback" in log.read_text(errors="replace"):
                print(f"--- {log} has a traceback ---\n{log.read_text(errors='replace')[-4000:]}")


def account_key(doc: dict[str, Any], account: str) -> KeyPair:
    for a in doc["accounts"]:
        if a["account_id"] == account:
            return load_key_file(a["key_file"])
    raise KeyError(account)


def transfer(doc: dict[str, Any], src: str, dst: str, amount: str, asset: str = "usd#bakong") -> Tx:
    cmd = builders.transfer_asset(src, dst, asset, amount, "test")
    return builders.sign_tx(builders.build_tx(src, [cmd], now_ms()), account_key(doc, src))


async def submit_and_wait(torii: str, txs: list[Tx], timeout: float = 30.0) -> list[int]:
    async with ToriiClient.connect(torii) as c:
        await c.send_txs(txs)
        return [(await c.wait_final(t.hash, timeout)).tx_status for t in txs]


async def query(torii: str, doc: dict[str, Any], **q: Any) -> qry_responses_pb2.QueryResponse:
    kp = admin_key(doc)
    query = builders.build_query("admin@bakong", now_ms(), random.randrange(1, 1 << 40), kp, **q)
    async with ToriiClient.connect(torii) as c:
        return await c.query(query)


async def block_hashes(torii: str, doc: dict[str, Any], upto: int) -> list[str]:
    from node.model import block_hash

    out = []
    for h in range(1, upto + 1):
        r = await query(torii, doc, get_block={"height": h})
        out.append(block_hash(r.block_response.block.block_v1).hex())
    return out


def status(doc: dict[str, Any]) -> list[dict[str, Any]]:
    proc = devnet("status", "--dir", doc["dir"], "--json")
    rows: list[dict[str, Any]] = json.loads(proc.stdout)["validators"]
    return rows


def wait_heights(doc: dict[str, Any], at_least: int, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = {r["name"]: r for r in status(doc)}
        if all((rows[n]["height"] or 0) >= at_least for n in names):
            return
        time.sleep(0.3)
    raise AssertionError(f"heights not >= {at_least} within {timeout}s: {status(doc)}")


COMMITTED = endpoint_pb2.COMMITTED
run = trio.run
