"""A real Torii for the CLI: GrpcServer + ToriiService over a Ledger on LevelDB, with the
single-validator test backend (tests/api/torii/backend.py) standing in for consensus.

The genesis is the devnet's Bakong network in small: NBC admin, bank operators, the demo
customers, a shop, the Alipay+ gateway and a quorum-2 joint account. The CLI runs as real
subprocesses (``python -m node.client``) against the server's loopback port.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import trio

from node.api.grpc import GrpcServer
from node.api.torii import ToriiService
from node.crypto import KeyPair, KeyScheme
from node.keys import write_key_file
from node.proto.iroha import block_pb2, qry_responses_pb2
from node.state import Ledger
from node.state.genesis import bakong_spec, genesis_from_spec
from node.storage import LevelDBStore
from tests.api.torii.backend import SingleValidatorTestBackend
from tests.api.torii.support import limits_for_tests

ROOT = Path(__file__).resolve().parents[3]


def _key(n: int, scheme: KeyScheme = KeyScheme.ED25519) -> KeyPair:
    return KeyPair.generate(scheme, rng=random.Random(7000 + n))


VALIDATOR = _key(0)
KEYS: dict[str, KeyPair] = {
    "admin@bakong": _key(1),
    "ops@aclb": _key(2),
    "sokha@aclb": _key(3),
    "dara@abaa": _key(4, KeyScheme.ED25519_SHA3),  # an Iroha legacy key
    "chenda@wing": _key(5),
    "coffee_shop@aclb": _key(6),
    "alipay_gw@aclb": _key(7),
    "joint@aclb": _key(8),
}
JOINT_SECOND = _key(9)  # joint@aclb's second signatory (quorum 2)

# (account, USD, KHR) as devnet/network.py's DEMO_ACCOUNTS, plus the joint account
BALANCES = [
    ("sokha@aclb", "2500.00", "4000000"),
    ("dara@abaa", "800.00", "1500000"),
    ("chenda@wing", "120.00", "600000"),
    ("coffee_shop@aclb", "50.00", "200000"),
    ("alipay_gw@aclb", "100000.00", "400000000"),
    ("joint@aclb", "100.00", "0"),
]
PRECISION = {"usd#bakong": 2, "khr#bakong": 0}


def genesis() -> block_pb2.Block:
    ops = KEYS["ops@aclb"].public_key
    spec = bakong_spec(
        peers=[("127.0.0.1:10001", VALIDATOR.public_key)],
        admin_key=KEYS["admin@bakong"].public_key,
        banks={"aclb": ops, "abaa": ops, "wing": ops},
    )
    for account, usd, khr in BALANCES:
        keys = [KEYS[account].public_key]
        entry: dict[str, object] = {"id": account, "public_keys": keys}
        if account == "joint@aclb":
            entry = {"id": account, "public_keys": [*keys, JOINT_SECOND.public_key], "quorum": 2}
        spec["accounts"].append(entry)
        spec.setdefault("balances", [])
        spec["balances"].append({"account": account, "asset": "usd#bakong", "amount": usd})
        if khr != "0":
            spec["balances"].append({"account": account, "asset": "khr#bakong", "amount": khr})
    return genesis_from_spec(spec)


@dataclass
class Server:
    ledger: Ledger
    backend: SingleValidatorTestBackend
    port: int
    keydir: Path
    key_files: dict[str, Path] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def balance(self, account: str, asset: str) -> Decimal:
        units = self.ledger.view().balance(account, asset)
        return Decimal(units).scaleb(-PRECISION[asset])

    def balances(self, *accounts: str) -> dict[tuple[str, str], Decimal]:
        return {(a, s): self.balance(a, s) for a in accounts for s in PRECISION}

    def detail(self, account: str, writer: str, key: str) -> str | None:
        return self.ledger.view().detail(account, writer, key)

    def as_(self, account: str, key: str | None = None) -> list[str]:
        """Connection options for ``account`` (its key file unless ``key`` names another)."""
        return [
            "--torii",
            self.target,
            "--account",
            account,
            "--key",
            str(self.key_files[key or account]),
        ]

    def bakong(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAKONG_")}
        return subprocess.run(
            [sys.executable, "-m", "node.client", *args],
            cwd=ROOT,
            env=dict(env, PYTHONIOENCODING="utf-8"),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )

    async def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI in a subprocess, waited for on a worker thread (the server keeps serving)."""
        return await trio.to_thread.run_sync(lambda: self.bakong(*args))


@asynccontextmanager
async def serving(tmp: Path, block_delay: float = 0.0) -> AsyncIterator[Server]:
    store = LevelDBStore(str(tmp / "db"))
    try:
        ledger = Ledger.create(store, genesis())
        backend = SingleValidatorTestBackend(ledger, VALIDATOR, block_delay=block_delay)

        def health() -> qry_responses_pb2.HealthcheckData:
            return qry_responses_pb2.HealthcheckData(
                is_healthy=True, is_syncing=False, last_block_height=ledger.height
            )

        limits = limits_for_tests()
        torii = ToriiService(
            ledger=ledger,
            store=store,
            submit_batch=backend.submit_batch,
            limits=limits,
            health=health,
        )
        backend.torii = torii
        server = GrpcServer(
            torii.methods(), max_message_bytes=limits.validation.max_grpc_message_bytes
        )
        keydir = tmp / "keys"
        keydir.mkdir()
        files = {}
        for account, kp in [*KEYS.items(), ("joint2", JOINT_SECOND)]:
            path = keydir / f"{account.split('@')[0]}.key"
            write_key_file(str(path), kp)
            files[account] = path
        async with trio.open_nursery() as nursery:
            port: int = await nursery.start(server.serve, "127.0.0.1", 0)
            await nursery.start(backend.run)
            try:
                yield Server(ledger, backend, port, keydir, files)
            finally:
                nursery.cancel_scope.cancel()
    finally:
        store.close()
