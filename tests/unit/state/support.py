"""Helpers for ledger tests: deterministic keys, signed transactions, a test network."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from node.crypto import KeyPair, KeyScheme
from node.model import Tx
from node.proto.iroha import commands_pb2, transaction_pb2
from node.state import Ledger
from node.state.genesis import bakong_spec, genesis_from_spec
from node.storage import KVStore

T0 = 1_700_000_000_000


def key(n: int) -> KeyPair:
    return KeyPair.generate(KeyScheme.ED25519, rng=random.Random(n))


ADMIN = key(1)  # admin@bakong (root)
OPS = key(2)  # ops@aclb, ops@abaa, ops@wing (bank_operator, money_creator)
ALICE = key(3)  # alice@aclb (customer)
BOB = key(4)  # bob@wing (customer)
TADMIN = key(5)  # admin@test (Iroha example admin)
TUSER = key(6)  # test@test (Iroha example user)
EVE = key(7)  # eve@audit (auditor: can read accounts, cannot receive)
PEERS = [key(100 + i) for i in range(4)]


def cmd(**kw: Any) -> commands_pb2.Command:
    return commands_pb2.Command(**kw)


def make_tx(
    creator: str,
    commands: Sequence[commands_pb2.Command],
    signers: Sequence[KeyPair],
    created_time: int = T0,
    quorum: int = 1,
    batch: tuple[int, list[bytes]] | None = None,
) -> Tx:
    pb = transaction_pb2.Transaction()
    rp = pb.payload.reduced_payload
    rp.commands.extend(commands)
    rp.creator_account_id = creator
    rp.created_time = created_time
    rp.quorum = quorum
    if batch is not None:
        pb.payload.batch.type = batch[0]  # type: ignore[assignment]
        pb.payload.batch.reduced_hashes.extend(h.hex() for h in batch[1])
    payload = pb.payload.SerializeToString()
    for kp in signers:
        sig = pb.signatures.add()
        sig.public_key = kp.public_key
        sig.signature = kp.sign(payload).hex()
    return Tx(pb)


def make_batch(
    kind: int, parts: Sequence[tuple[str, Sequence[commands_pb2.Command], Sequence[KeyPair]]]
) -> list[Tx]:
    """A batch of txs (ATOMIC=0 / ORDERED=1) with correct reduced hashes."""
    unsigned = [make_tx(c, cmds, [], created_time=T0 + i) for i, (c, cmds, _) in enumerate(parts)]
    hashes = [t.reduced_hash for t in unsigned]
    return [
        make_tx(c, cmds, signers, created_time=T0 + i, batch=(kind, hashes))
        for i, (c, cmds, signers) in enumerate(parts)
    ]


def spec() -> dict[str, Any]:
    s = bakong_spec(
        peers=[(f"127.0.0.1:{10001 + i}", p.public_key) for i, p in enumerate(PEERS)],
        admin_key=ADMIN.public_key,
        banks={"aclb": OPS.public_key, "abaa": OPS.public_key, "wing": OPS.public_key},
        iroha_example_keys=(TADMIN.public_key, TUSER.public_key),
    )
    s["accounts"] += [
        {"id": "alice@aclb", "public_keys": [ALICE.public_key]},
        {"id": "bob@wing", "public_keys": [BOB.public_key]},
        {"id": "eve@audit", "public_keys": [EVE.public_key]},
    ]
    s["roles"].append({"name": "auditor", "permissions": ["can_get_all_accounts"]})
    s["domains"].append({"id": "audit", "default_role": "auditor"})
    s["balances"] = [
        {"account": "alice@aclb", "asset": "usd#bakong", "amount": "100.50"},
        {"account": "alice@aclb", "asset": "khr#bakong", "amount": "40000"},
        {"account": "bob@wing", "asset": "usd#bakong", "amount": "5"},
    ]
    return s


def new_ledger(store: KVStore) -> Ledger:
    return Ledger.create(store, genesis_from_spec(spec()))


def commit(ledger: Ledger, txs: Sequence[Tx], created_time: int = T0) -> Any:
    result = ledger.execute(txs, ledger.height + 1, created_time)
    ledger.commit(result, [], b"cert")
    return result
