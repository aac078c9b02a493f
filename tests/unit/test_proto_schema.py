"""Our proto/ sources against generated code and against the official Iroha SDK."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

from node.proto import generate
from node.proto.iroha import (
    block_pb2,
    commands_pb2,
    endpoint_pb2,
    primitive_pb2,
    proposal_pb2,
    qry_responses_pb2,
    queries_pb2,
    transaction_pb2,
)
from tests.support.iroha_sdk import run_sdk

OURS = {
    "primitive": primitive_pb2,
    "commands": commands_pb2,
    "transaction": transaction_pb2,
    "queries": queries_pb2,
    "qry_responses": qry_responses_pb2,
    "endpoint": endpoint_pb2,
    "block": block_pb2,
    "proposal": proposal_pb2,
}


def test_generated_modules_match_sources(tmp_path: Path) -> None:
    generate.generate(tmp_path)
    for pkg in generate.PACKAGES:
        committed = generate.OUT_DIR / pkg
        fresh = tmp_path / pkg
        names = sorted(p.name for p in fresh.iterdir() if p.is_file())
        assert names == sorted(
            p.name for p in committed.iterdir() if p.is_file() and p.suffix in (".py", ".pyi")
        ), f"files in node/proto/{pkg} differ from a fresh generation: run `make proto`"
        _, mismatch, errors = filecmp.cmpfiles(committed, fresh, names, shallow=False)
        assert not mismatch and not errors, f"stale generated files {mismatch}: run `make proto`"
    shutil.rmtree(tmp_path)


_SDK_DUMP = r"""
import json, sys
from iroha import (primitive_pb2, commands_pb2, transaction_pb2, queries_pb2,
                   qry_responses_pb2, endpoint_pb2, block_pb2, proposal_pb2)
mods = dict(primitive=primitive_pb2, commands=commands_pb2, transaction=transaction_pb2,
            queries=queries_pb2, qry_responses=qry_responses_pb2, endpoint=endpoint_pb2,
            block=block_pb2, proposal=proposal_pb2)
out = {}
for name, m in mods.items():
    out[name] = m.DESCRIPTOR.serialized_pb.hex()
print(json.dumps(out))
"""


def _shape(fd: descriptor_pb2.FileDescriptorProto) -> dict[str, Any]:
    """What matters on the wire and to generated clients; file names excluded."""

    def msg(m: descriptor_pb2.DescriptorProto, prefix: str, out: dict[str, Any]) -> None:
        full = f"{prefix}.{m.name}"
        oneofs = [o.name for o in m.oneof_decl]
        out[full] = sorted(
            (
                f.name,
                f.number,
                f.type,
                f.label,
                f.type_name,
                oneofs[f.oneof_index] if f.HasField("oneof_index") else None,
                f.proto3_optional,
            )
            for f in m.field
        )
        for e in m.enum_type:
            out[f"{full}.{e.name}"] = sorted((v.name, v.number) for v in e.value)
        for n in m.nested_type:
            msg(n, full, out)

    shape: dict[str, Any] = {"package": fd.package}
    for m in fd.message_type:
        msg(m, fd.package, shape)
    for e in fd.enum_type:
        shape[f"{fd.package}.{e.name}"] = sorted((v.name, v.number) for v in e.value)
    for s in fd.service:
        shape[f"service {s.name}"] = sorted(
            (
                mt.name,
                mt.input_type,
                mt.output_type,
                mt.client_streaming,
                mt.server_streaming,
            )
            for mt in s.method
        )
    return shape


def test_client_schema_matches_official_sdk() -> None:
    sdk = run_sdk(_SDK_DUMP)
    assert set(sdk) == set(OURS)
    for name, module in OURS.items():
        theirs = descriptor_pb2.FileDescriptorProto.FromString(bytes.fromhex(sdk[name]))
        ours = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        a, b = _shape(ours), _shape(theirs)
        assert a.keys() == b.keys(), f"{name}.proto: messages differ"
        for key in a:
            assert a[key] == b[key], f"{name}.proto {key}:\nours {a[key]}\nsdk  {b[key]}"


def test_sdk_built_transaction_parses_identically() -> None:
    """Bytes produced by the SDK round-trip through our classes unchanged."""
    script = r"""
import json
from iroha import Iroha, IrohaCrypto, primitive_pb2
iroha = Iroha('admin@test')
tx = iroha.transaction([
    iroha.command('CreateDomain', domain_id='bank', default_role='user'),
    iroha.command('TransferAsset', src_account_id='admin@test', dest_account_id='a@bank',
                  asset_id='usd#bakong', description='rent', amount='12.50'),
    iroha.command('CreateRole', role_name='r', permissions=[0, 46, 47, 52]),
    iroha.command('AddPeer', peer=primitive_pb2.Peer(address='127.0.0.1:10001',
                                                     peer_key='ab' * 32, syncing_peer=True)),
    iroha.command('CompareAndSetAccountDetail', account_id='a@bank', key='k', value='v',
                  old_value='o', check_empty=True),
    iroha.command('AddAssetQuantity', asset_id='usd#bakong', amount='1.00', description='mint'),
], quorum=2)
IrohaCrypto.sign_transaction(tx, 'f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70')
q = iroha.query('GetAccountTransactions', account_id='a@bank', page_size=10,
                first_tx_hash='ab' * 32)
IrohaCrypto.sign_query(q, 'f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70')
print(json.dumps({'tx': tx.SerializeToString().hex(), 'hash': IrohaCrypto.hash(tx).hex(),
                  'q': q.SerializeToString().hex()}))
"""
    out = run_sdk(script)
    raw = bytes.fromhex(out["tx"])
    tx = transaction_pb2.Transaction.FromString(raw)
    assert tx.SerializeToString() == raw
    cmds = tx.payload.reduced_payload.commands
    assert cmds[1].transfer_asset.amount == "12.50"
    assert list(cmds[2].create_role.permissions) == [0, 46, 47, 52]
    assert cmds[3].add_peer.peer.syncing_peer
    assert cmds[4].compare_and_set_account_detail.old_value == "o"
    assert cmds[5].add_asset_quantity.HasField("description")
    q = queries_pb2.Query.FromString(bytes.fromhex(out["q"]))
    assert q.SerializeToString() == bytes.fromhex(out["q"])
    assert q.payload.get_account_transactions.pagination_meta.first_tx_hash == "ab" * 32
