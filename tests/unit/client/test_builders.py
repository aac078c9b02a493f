"""Builders checked byte-for-byte against the official Iroha SDK (iroha==1.6.0.2)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from node.client import builders as b
from node.crypto import KeyPair, KeyScheme, verify
from node.model import Tx, group_batches
from node.proto.iroha import primitive_pb2, queries_pb2
from tests.support.iroha_sdk import run_sdk

LEGACY_PRIV = "f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70"
LEGACY2_PRIV = "7e00405ece477bb6dd9b03a78eee4e708afc2f5bcdce399573a5958942f4a390"
SHA2_SEED = "a" * 64
T0 = 1_700_000_000_000
LEGACY = KeyPair.from_private_hex(LEGACY_PRIV)
LEGACY2 = KeyPair.from_private_hex(LEGACY2_PRIV)
SHA2 = KeyPair.from_seed(bytes.fromhex(SHA2_SEED), KeyScheme.ED25519)
PEER_KEY = "ab" * 32

# The SDK builds the same objects from the same inputs; everything it makes is printed as hex.
_SDK = r"""
import json, sys, binascii
from iroha import Iroha, IrohaCrypto, primitive_pb2, queries_pb2
import nacl.signing
args = json.loads(sys.argv[1])
T0 = args['t0']; K1 = args['k1']; K2 = args['k2']
sha2 = nacl.signing.SigningKey(binascii.unhexlify(args['sha2']))
iroha = Iroha('admin@test')
peer = primitive_pb2.Peer(address='10.0.0.1:10001', peer_key=args['peer'])
c = Iroha.command
commands = [
    c('AddAssetQuantity', asset_id='usd#bank', amount='10.50'),
    c('AddAssetQuantity', asset_id='usd#bank', amount='1', description='mint'),
    c('SubtractAssetQuantity', asset_id='khr#bank', amount='100'),
    c('TransferAsset', src_account_id='admin@test', dest_account_id='bob@test',
      asset_id='usd#bank', description='rent', amount='12.34'),
    c('CreateDomain', domain_id='bank', default_role='user'),
    c('CreateAsset', asset_name='usd', domain_id='bank', precision=2),
    c('CreateAccount', account_name='bob', domain_id='test', public_key=args['peer']),
    c('SetAccountDetail', account_id='bob@test', key='kyc', value='ok'),
    c('CompareAndSetAccountDetail', account_id='bob@test', key='kyc', value='v2',
      old_value='ok', check_empty=False),
    c('AddSignatory', account_id='bob@test', public_key=args['peer']),
    c('RemoveSignatory', account_id='bob@test', public_key=args['peer']),
    c('SetAccountQuorum', account_id='bob@test', quorum=2),
    c('CreateRole', role_name='teller', permissions=[primitive_pb2.can_transfer,
      primitive_pb2.can_receive, primitive_pb2.can_get_my_acc_ast]),
    c('AppendRole', account_id='bob@test', role_name='teller'),
    c('DetachRole', account_id='bob@test', role_name='teller'),
    c('GrantPermission', account_id='bob@test', permission=primitive_pb2.can_set_my_quorum),
    c('RevokePermission', account_id='bob@test', permission=primitive_pb2.can_transfer_my_assets),
    c('AddPeer', peer=peer),
    c('RemovePeer', public_key=args['peer']),
    c('SetSettingValue', key='MaxDescriptionSize', value='64'),
]
tx = iroha.transaction(commands, quorum=2, created_time=T0)
IrohaCrypto.sign_transaction(tx, K1, K2)
tx_sha2 = iroha.transaction(commands[:1], created_time=T0 + 1)
IrohaCrypto.sign_transaction(tx_sha2, sha2)

batch = [iroha.transaction([c('TransferAsset', src_account_id='admin@test',
         dest_account_id='u%d@test' % i, asset_id='usd#bank', amount='1')],
         created_time=T0 + i) for i in range(3)]
Iroha.batch(batch, atomic=True)
for t in batch:
    IrohaCrypto.sign_transaction(t, K1)
ordered = [iroha.transaction([c('CreateDomain', domain_id='d%d' % i, default_role='user')],
           created_time=T0 + i) for i in range(2)]
Iroha.batch(ordered, atomic=False)

q = iroha.query('GetAccountTransactions', counter=3, created_time=T0, account_id='bob@test',
                page_size=10)
q_plain = iroha.query('GetAccount', counter=4, created_time=T0, account_id='bob@test')
q_roles = iroha.query('GetRoles', counter=5, created_time=T0)
q_txs = iroha.query('GetTransactions', counter=6, created_time=T0, tx_hashes=['ab' * 32])
IrohaCrypto.sign_query(q, K1)
IrohaCrypto.sign_query(q_plain, K1)
bq = iroha.blocks_query(counter=7, created_time=T0)
IrohaCrypto.sign_query(bq, K1)

ours = queries_pb2.Query.FromString(binascii.unhexlify(args['our_query']))
ours_sha2 = queries_pb2.Query.FromString(binascii.unhexlify(args['our_query_sha2']))
ours_bq = queries_pb2.BlocksQuery.FromString(binascii.unhexlify(args['our_blocks_query']))
h = lambda m: m.SerializeToString().hex()
print(json.dumps({
    'tx': h(tx), 'tx_hash': IrohaCrypto.hash(tx).hex(),
    'tx_sha2': h(tx_sha2),
    'batch': [h(t) for t in batch],
    'batch_reduced': [IrohaCrypto.reduced_hash(t).decode() for t in batch],
    'ordered_payloads': [t.payload.SerializeToString().hex() for t in ordered],
    'q': h(q), 'q_plain': h(q_plain), 'q_roles': h(q_roles), 'q_txs': h(q_txs), 'bq': h(bq),
    'q_hash': IrohaCrypto.hash(q).hex(),
    'our_query_valid': IrohaCrypto.is_signature_valid(ours, ours.signature),
    'our_query_sha2_valid': IrohaCrypto.is_sha2_signature_valid(ours_sha2, ours_sha2.signature),
    'our_blocks_query_valid': IrohaCrypto.is_signature_valid(ours_bq, ours_bq.signature),
}))
"""


def _our_commands() -> list[b.Command]:
    return [
        b.add_asset_quantity("usd#bank", Decimal("10.50")),
        b.add_asset_quantity("usd#bank", 1, description="mint"),
        b.subtract_asset_quantity("khr#bank", "100"),
        b.transfer_asset("admin@test", "bob@test", "usd#bank", "12.34", "rent"),
        b.create_domain("bank", "user"),
        b.create_asset("usd", "bank", 2),
        b.create_account("bob", "test", PEER_KEY),
        b.set_account_detail("bob@test", "kyc", "ok"),
        b.compare_and_set_account_detail("bob@test", "kyc", "v2", old_value="ok"),
        b.add_signatory("bob@test", PEER_KEY),
        b.remove_signatory("bob@test", PEER_KEY),
        b.set_account_quorum("bob@test", 2),
        b.create_role("teller", ["can_transfer", primitive_pb2.can_receive, "can_get_my_acc_ast"]),
        b.append_role("bob@test", "teller"),
        b.detach_role("bob@test", "teller"),
        b.grant_permission("bob@test", "can_set_my_quorum"),
        b.revoke_permission("bob@test", primitive_pb2.can_transfer_my_assets),
        b.add_peer("10.0.0.1:10001", PEER_KEY),
        b.remove_peer(PEER_KEY),
        b.set_setting_value("MaxDescriptionSize", "64"),
    ]


@pytest.fixture(scope="module")
def sdk() -> dict[str, Any]:
    our_query = b.build_query("admin@test", T0, 9, LEGACY, get_account={"account_id": "x@test"})
    our_query_sha2 = b.build_query("admin@test", T0, 9, SHA2, get_peers={})
    our_bq = b.build_blocks_query("admin@test", T0, 10, LEGACY)
    args = {
        "t0": T0,
        "k1": LEGACY_PRIV,
        "k2": LEGACY2_PRIV,
        "sha2": SHA2_SEED,
        "peer": PEER_KEY,
        "our_query": our_query.SerializeToString().hex(),
        "our_query_sha2": our_query_sha2.SerializeToString().hex(),
        "our_blocks_query": our_bq.SerializeToString().hex(),
    }
    out: dict[str, Any] = run_sdk(_SDK, json.dumps(args))
    return out


def test_signed_tx_is_byte_identical_to_sdk(sdk: dict[str, Any]) -> None:
    tx = b.sign_tx(b.build_tx("admin@test", _our_commands(), T0, quorum=2), LEGACY, LEGACY2)
    assert tx.serialize().hex() == sdk["tx"]
    assert tx.hash_hex == sdk["tx_hash"]


def test_standard_ed25519_signature_matches_sdk(sdk: dict[str, Any]) -> None:
    tx = b.sign_tx(b.build_tx("admin@test", _our_commands()[:1], T0 + 1), SHA2)
    assert tx.serialize().hex() == sdk["tx_sha2"]
    assert tx.signatures[0].public_key.startswith("ed0120")


def test_batches_match_sdk(sdk: dict[str, Any]) -> None:
    txs = [
        b.build_tx(
            "admin@test",
            [b.transfer_asset("admin@test", f"u{i}@test", "usd#bank", "1")],
            T0 + i,
        )
        for i in range(3)
    ]
    batch = [b.sign_tx(t, LEGACY) for t in b.make_batch(txs, atomic=True)]
    assert [t.serialize().hex() for t in batch] == sdk["batch"]
    meta = batch[0].batch_meta
    assert meta is not None and list(meta.reduced_hashes) == sdk["batch_reduced"]
    (grouped,) = group_batches(batch)
    assert len(grouped) == 3

    ordered = b.make_batch(
        [b.build_tx("admin@test", [b.create_domain(f"d{i}", "user")], T0 + i) for i in range(2)],
        atomic=False,
    )
    assert [t.payload_bytes.hex() for t in ordered] == sdk["ordered_payloads"]


def test_make_batch_drops_stale_signatures() -> None:
    signed = b.sign_tx(b.build_tx("a@test", [b.create_domain("d", "user")], T0), LEGACY)
    (batched,) = b.make_batch([signed])
    assert len(batched.signatures) == 0
    assert batched.reduced_hash == signed.reduced_hash
    assert batched.hash != signed.hash, "batch meta is part of the tx hash"
    with pytest.raises(ValueError):
        b.make_batch([])


def test_queries_match_sdk(sdk: dict[str, Any]) -> None:
    q = b.build_query(
        "admin@test",
        T0,
        3,
        LEGACY,
        get_account_transactions={"account_id": "bob@test", "pagination_meta": {"page_size": 10}},
    )
    assert q.SerializeToString().hex() == sdk["q"]
    assert b.query_hash(q).hex() == sdk["q_hash"]
    plain = b.build_query(
        "admin@test", T0, 4, LEGACY, get_account=queries_pb2.GetAccount(account_id="bob@test")
    )
    assert plain.SerializeToString().hex() == sdk["q_plain"]
    roles = b.build_query("admin@test", T0, 5, get_roles={})
    assert roles.SerializeToString().hex() == sdk["q_roles"]
    assert roles.payload.WhichOneof("query") == "get_roles"
    txs = b.build_query("admin@test", T0, 6, get_transactions={"tx_hashes": ["ab" * 32]})
    assert txs.SerializeToString().hex() == sdk["q_txs"]
    bq = b.build_blocks_query("admin@test", T0, 7, LEGACY)
    assert bq.SerializeToString().hex() == sdk["bq"]


def test_sdk_verifies_our_query_signatures(sdk: dict[str, Any]) -> None:
    assert sdk["our_query_valid"] is True
    assert sdk["our_query_sha2_valid"] is True
    assert sdk["our_blocks_query_valid"] is True


def test_build_query_rejects_bad_keywords() -> None:
    with pytest.raises(TypeError, match="exactly one"):
        b.build_query("a@test", T0, 1)
    with pytest.raises(TypeError, match="exactly one"):
        b.build_query("a@test", T0, 1, get_roles={}, get_peers={})
    with pytest.raises(TypeError, match="unknown query"):
        b.build_query("a@test", T0, 1, get_everything={})


def test_sign_tx_merges_by_public_key() -> None:
    tx = b.build_tx("a@test", [b.create_domain("d", "user")], T0, quorum=2)
    one = b.sign_tx(tx, LEGACY)
    assert len(tx.signatures) == 0, "signing returns a copy"
    again = b.sign_tx(one, LEGACY, LEGACY)
    assert [s.public_key for s in again.signatures] == [LEGACY.public_key]
    both = b.sign_tx(one, SHA2)
    assert set(both.signed_by()) == {LEGACY.public_key, SHA2.public_key}
    assert both.hash == tx.hash
    for s in both.signatures:
        assert verify(s.public_key, tx.payload_bytes, bytes.fromhex(s.signature))
    # Co-signers sign separately; their copies merge into one tx.
    merged = b.merge_signatures(b.sign_tx(tx, LEGACY), b.sign_tx(tx, SHA2), b.sign_tx(tx, LEGACY))
    assert set(merged.signed_by()) == {LEGACY.public_key, SHA2.public_key}
    assert len(merged.signatures) == 2
    other = b.build_tx("a@test", [b.create_domain("e", "user")], T0)
    with pytest.raises(ValueError, match="not the same transaction"):
        b.merge_signatures(tx, other)


def test_builders_are_plain_values() -> None:
    tx = b.build_tx("a@test", [b.add_asset_quantity("usd#bank", Decimal("1E+2"))], T0)
    assert tx.commands[0].add_asset_quantity.amount == "100"
    assert isinstance(tx, Tx) and tx.created_time == T0 and tx.quorum == 1
    assert not tx.commands[0].add_asset_quantity.HasField("description")
    peer = b.add_peer("h:1", PEER_KEY, tls_certificate="PEM", syncing_peer=True)
    assert peer.add_peer.peer.tls_certificate == "PEM" and peer.add_peer.peer.syncing_peer
    engine = b.call_engine("a@test", "00ff", callee="11" * 20)
    assert engine.call_engine.callee == "11" * 20
