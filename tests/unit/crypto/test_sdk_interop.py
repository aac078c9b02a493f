"""Interoperability with the official Iroha Python SDK (iroha==1.6.0.2).

The SDK signs transactions, queries and raw messages with legacy (ed25519-sha3) keys
and with ``ed0120`` (nacl) keys; we verify them and reproduce the signatures
byte for byte (Ed25519 is deterministic). Then we sign and the SDK verifies.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from node.crypto import KeyPair, KeyScheme, verify
from node.crypto.ed25519_sha3 import L
from tests.support.iroha_sdk import run_sdk

ADMIN_SEED = "f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70"

SDK_SIGN = r"""
import hashlib, json, sys
import nacl.signing
from iroha import Iroha, IrohaCrypto, ed25519

cfg = json.loads(sys.argv[1])
iroha = Iroha("admin@test")
keys = [("ed25519-sha3", s, s) for s in cfg["legacy"]]
keys += [("ed25519", s, nacl.signing.SigningKey(bytes.fromhex(s))) for s in cfg["sha2"]]
out = {"derived": {}, "signed": []}
for s in cfg["legacy"]:
    out["derived"][s] = IrohaCrypto.derive_public_key(s).decode()
for i, (scheme, seed, key) in enumerate(keys):
    tx = iroha.transaction(
        [Iroha.command("TransferAsset", src_account_id="admin@test",
                       dest_account_id="test@test", asset_id="coin#test",
                       description="payment %d" % i, amount="1%d.50" % i)],
        created_time=1700000000000 + i,
    )
    IrohaCrypto.sign_transaction(tx, key)
    q = iroha.query("GetAccount", account_id="admin@test", counter=i + 1,
                    created_time=1700000000000 + i)
    IrohaCrypto.sign_query(q, key)
    for msg, sig in ((tx.payload, tx.signatures[0]), (q.payload, q.signature)):
        out["signed"].append({"scheme": scheme, "seed": seed,
                              "message": msg.SerializeToString().hex(),
                              "public_key": sig.public_key, "signature": sig.signature})
    for m in cfg["messages"]:
        raw = bytes.fromhex(m)
        if scheme == "ed25519-sha3":
            sk = bytes.fromhex(seed)
            pk = ed25519.publickey_unsafe(sk)
            sig = ed25519.signature_unsafe(hashlib.sha3_256(raw).digest(), sk, pk)
            pub = pk.hex()
        else:
            sig = key.sign(raw).signature
            pub = IrohaCrypto.derive_public_key(key)
        out["signed"].append({"scheme": scheme, "seed": seed, "message": m,
                              "public_key": pub, "signature": sig.hex()})
print(json.dumps(out))
"""

SDK_VERIFY = r"""
import hashlib, json, sys
import nacl.signing
from iroha import IrohaCrypto, ed25519, primitive_pb2, queries_pb2, transaction_pb2

def check(item):
    raw = bytes.fromhex(item["message"])
    sig = primitive_pb2.Signature(public_key=item["public_key"], signature=item["signature"])
    sha2 = item["public_key"].startswith("ed0120")
    if item["kind"] == "raw":
        try:
            if sha2:
                key = nacl.signing.VerifyKey(bytes.fromhex(item["public_key"])[3:])
                key.verify(raw, bytes.fromhex(item["signature"]))
            else:
                ed25519.checkvalid(bytes.fromhex(item["signature"]),
                                   hashlib.sha3_256(raw).digest(),
                                   bytes.fromhex(item["public_key"]))
            return True
        except Exception:
            return False
    proto = transaction_pb2.Transaction() if item["kind"] == "tx" else queries_pb2.Query()
    proto.payload.ParseFromString(raw)
    assert proto.payload.SerializeToString() == raw
    if sha2:
        try:
            return IrohaCrypto.is_sha2_signature_valid(proto, sig)
        except Exception:
            return False
    return IrohaCrypto.is_signature_valid(proto, sig)

print(json.dumps([check(item) for item in json.loads(sys.argv[1])]))
"""


@pytest.fixture(scope="module")
def sdk_signed() -> dict[str, Any]:
    rng = random.Random(2024)
    cfg = {
        "legacy": [ADMIN_SEED] + [rng.randbytes(32).hex() for _ in range(2)],
        "sha2": [rng.randbytes(32).hex() for _ in range(2)],
        "messages": ["", "00", "48656c6c6f2c204261666f6e6721", rng.randbytes(1500).hex()],
    }
    result: dict[str, Any] = run_sdk(SDK_SIGN, json.dumps(cfg))
    return result


def test_sdk_and_we_derive_the_same_legacy_keys(sdk_signed: dict[str, Any]) -> None:
    assert sdk_signed["derived"][ADMIN_SEED] == (
        "313a07e6384776ed95447710d15e59148473ccfc052a681317a72a69f2a49910"
    )
    for seed, public in sdk_signed["derived"].items():
        assert KeyPair.from_private_hex(seed).public_key == public


def test_we_verify_and_reproduce_sdk_signatures(sdk_signed: dict[str, Any]) -> None:
    signed = sdk_signed["signed"]
    assert len(signed) == 5 * 6  # 5 keys x (tx, query, 4 raw messages)
    assert {item["scheme"] for item in signed} == {"ed25519", "ed25519-sha3"}
    for item in signed:
        message = bytes.fromhex(item["message"])
        sig = bytes.fromhex(item["signature"])
        pair = KeyPair.from_seed(bytes.fromhex(item["seed"]), KeyScheme(item["scheme"]))
        assert pair.public_key == item["public_key"]
        assert verify(item["public_key"], message, sig)
        assert pair.sign(message) == sig
        assert not verify(item["public_key"], message + b"\x01", sig)


def test_sdk_verifies_our_signatures(sdk_signed: dict[str, Any]) -> None:
    rng = random.Random(7)
    ours = [KeyPair.generate(scheme, rng) for scheme in KeyScheme for _ in range(2)]
    items: list[dict[str, str]] = []
    expected: list[bool] = []

    def add(kind: str, pair: KeyPair, message: bytes, sig: bytes, valid: bool) -> None:
        items.append(
            {
                "kind": kind,
                "message": message.hex(),
                "public_key": pair.public_key,
                "signature": sig.hex(),
            }
        )
        expected.append(valid)

    payloads = [bytes.fromhex(item["message"]) for item in sdk_signed["signed"]]
    tx_payload, query_payload = payloads[0], payloads[1]
    for pair in ours:
        for kind, message in (("tx", tx_payload), ("query", query_payload)):
            sig = pair.sign(message)
            add(kind, pair, message, sig, True)
            add(kind, pair, message, sig[:5] + bytes([sig[5] ^ 1]) + sig[6:], False)
        for message in (b"", b"\x00", rng.randbytes(777)):
            sig = pair.sign(message)
            add("raw", pair, message, sig, True)
            add("raw", pair, message + b"x", sig, False)
    assert run_sdk(SDK_VERIFY, json.dumps(items)) == expected


def test_sdk_accepts_malleable_twin_that_we_refuse(sdk_signed: dict[str, Any]) -> None:
    # Documented divergence: the SDK's pure-python checker does not require S < L,
    # libsodium (and we) do, so S + L verifies there and not here.
    pair = KeyPair.from_private_hex(ADMIN_SEED)
    message = bytes.fromhex(sdk_signed["signed"][0]["message"])
    sig = pair.sign(message)
    twin = sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    item = {"kind": "tx", "message": message.hex(), "public_key": pair.public_key}
    sdk = run_sdk(SDK_VERIFY, json.dumps([{**item, "signature": s.hex()} for s in (sig, twin)]))
    assert sdk == [True, True]
    assert verify(pair.public_key, message, sig)
    assert not verify(pair.public_key, message, twin)
