"""Hashing and batch structure, checked against the official Iroha SDK."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from node.model import (
    GENESIS_PREV_HASH,
    BatchType,
    Round,
    Tx,
    block_hash,
    block_payload_bytes,
    group_batches,
    make_block,
    proposal_hash,
    sha3_256,
    signed_block_bytes,
)
from node.model.tx import first_field, len_field
from node.proto.iroha import block_pb2, primitive_pb2, proposal_pb2, transaction_pb2
from tests.support.iroha_sdk import run_sdk

_SDK_BATCH = r"""
import json
from iroha import Iroha, IrohaCrypto
iroha = Iroha('admin@test')
key = 'f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70'
txs = [iroha.transaction([iroha.command('TransferAsset', src_account_id='admin@test',
        dest_account_id='u%d@test' % i, asset_id='coin#test', amount='1.00')],
        created_time=1700000000000 + i) for i in range(3)]
single = iroha.transaction([iroha.command('CreateDomain', domain_id='d', default_role='user')],
                           created_time=1700000000000)
iroha.batch(txs, atomic=False)
for t in txs + [single]:
    IrohaCrypto.sign_transaction(t, key)
print(json.dumps({
    'txs': [t.SerializeToString().hex() for t in txs + [single]],
    'hashes': [IrohaCrypto.hash(t).hex() for t in txs + [single]],
    'reduced': [IrohaCrypto.reduced_hash(t).decode() for t in txs + [single]],
}))
"""


def test_hashes_and_batches_match_sdk() -> None:
    out = run_sdk(_SDK_BATCH)
    txs = [Tx.from_bytes(bytes.fromhex(h)) for h in out["txs"]]
    assert [t.hash_hex for t in txs] == out["hashes"]
    assert [t.reduced_hash.hex() for t in txs] == out["reduced"]
    batches = group_batches(txs)
    assert [(b.type, len(b)) for b in batches] == [(BatchType.ORDERED, 3), (BatchType.SINGLE, 1)]
    meta = txs[0].batch_meta
    assert meta is not None
    assert list(meta.reduced_hashes) == out["reduced"][:3]
    assert batches[0].batch_hash == b"".join(bytes.fromhex(h) for h in out["reduced"][:3])
    # a tx without batch meta: its payload is its reduced payload, its hash names the batch
    assert txs[3].payload_bytes == len_field(1, txs[3].reduced_payload_bytes)
    assert batches[1].batch_hash == txs[3].hash
    assert batches[0].fully_signed()
    assert set(txs[0].signed_by()) == {
        "313a07e6384776ed95447710d15e59148473ccfc052a681317a72a69f2a49910"
    }


def test_block_and_proposal_hashes() -> None:
    tx = Tx.from_bytes(b"")
    block = make_block(2, GENESIS_PREV_HASH, 1_700_000_000_000, [tx], [b"\x01" * 32])
    assert block.payload.prev_block_hash == "0" * 64
    assert block.payload.tx_number == 1
    h = block_hash(block)
    block.signatures.add(public_key="ab", signature="cd")
    assert block_hash(block) == h, "signatures are not part of the block hash"
    again = block_pb2.Block_v1.FromString(block.SerializeToString())
    assert block_hash(again) == h
    p = proposal_pb2.Proposal(height=2, created_time=5)
    p2 = proposal_pb2.Proposal(height=2, created_time=6)
    assert proposal_hash(p) != proposal_hash(p2)


@settings(max_examples=200, deadline=None)
@given(
    n_txs=st.integers(0, 40),
    note=st.text(max_size=300),
    height=st.integers(0, 2**64 - 1),
    created=st.integers(0, 2**64 - 1),
    rejected=st.lists(st.binary(min_size=32, max_size=32), max_size=5),
    sigs=st.lists(st.tuples(st.text(max_size=70), st.text(max_size=200)), max_size=7),
)
def test_signed_block_bytes_are_the_messages_serialization(
    n_txs: int,
    note: str,
    height: int,
    created: int,
    rejected: list[bytes],
    sigs: list[tuple[str, str]],
) -> None:
    """Execution builds a block's payload bytes from its transactions' and the commit a
    block's bytes from its payload's; they must be exactly what protobuf gives for the
    messages (lengths cross the 1- and 2-byte varint edges; zeros are left out)."""
    txs = []
    for i in range(n_txs):
        pb = transaction_pb2.Transaction()
        rp = pb.payload.reduced_payload
        rp.creator_account_id = f"u{i}@bank"
        rp.created_time = created
        rp.commands.add().transfer_asset.description = note * (i % 3)
        pb.signatures.add(public_key="ab" * 32, signature="cd" * 64)
        if i == 1:  # a field this schema does not know (field 127, varint 1) is kept
            pb = transaction_pb2.Transaction.FromString(pb.SerializeToString() + b"\xf8\x07\x01")
        txs.append(Tx(pb))
    unsigned = make_block(height, GENESIS_PREV_HASH, created, txs, rejected)
    # what the ledger hashes and stores, built from the transactions' own bytes
    payload = block_payload_bytes(height, GENESIS_PREV_HASH, created, txs, rejected)
    assert payload == unsigned.payload.SerializeToString()
    signatures = [primitive_pb2.Signature(public_key=k, signature=v) for k, v in sigs]
    expected = block_pb2.Block()
    expected.block_v1.CopyFrom(unsigned)
    expected.block_v1.signatures.extend(signatures)
    raw = signed_block_bytes(unsigned.payload.SerializeToString(), signatures)
    assert raw == expected.SerializeToString()
    assert block_hash(block_pb2.Block.FromString(raw).block_v1) == block_hash(unsigned)


def test_tx_reads_its_commands_signatures_and_size_once() -> None:
    """Tx keeps the sub-messages that checks and execution walk: each command as (the
    name of its set field, that field), an unset one as (None, the Command), and the
    serialized size, which must equal ByteSize() whether signed_hash was taken or not."""
    pb = transaction_pb2.Transaction()
    rp = pb.payload.reduced_payload
    rp.creator_account_id = "alice@bank"
    rp.commands.add().transfer_asset.amount = "1.00"
    rp.commands.add()  # no command set
    rp.commands.add().create_domain.domain_id = "shop"
    pb.signatures.add(public_key="ab" * 32, signature="cd" * 64)
    tx = Tx(pb)
    pairs = tx.command_pairs()
    assert [k for k, _ in pairs] == ["transfer_asset", None, "create_domain"]
    assert pairs[0][1].amount == "1.00" and pairs[2][1].domain_id == "shop"
    assert pairs[1][1] == rp.commands[1]
    assert tx.command_pairs() is pairs
    assert tx.reduced_payload == rp and tx.creator == "alice@bank"
    assert tx.size == pb.ByteSize()
    assert tx.signature_pairs() == [("ab" * 32, "cd" * 64)]
    assert tx.signature_pairs() is tx.signature_pairs()
    fresh = Tx(pb)
    assert len(fresh.signed_hash) == 32
    assert fresh.size == pb.ByteSize() == len(pb.SerializeToString())


# unknown fields: a varint (field 15), and a length-delimited one (field 99)
_UNKNOWN = [b"", b"\x78\x01", len_field(99, b"junk")]


@settings(max_examples=300, deadline=None)
@given(
    description=st.text(max_size=20_000),
    commands=st.integers(min_value=0, max_value=3),
    batch=st.booleans(),
    signatures=st.integers(min_value=0, max_value=2),
    unknown=st.lists(st.sampled_from(_UNKNOWN), min_size=6, max_size=6),
    has_rp=st.booleans(),
    has_payload=st.booleans(),
    split_payload=st.booleans(),
)
def test_payload_bytes_cut_from_the_whole_are_the_sub_messages_serialization(
    description: str,
    commands: int,
    batch: bool,
    signatures: int,
    unknown: list[bytes],
    has_rp: bool,
    has_payload: bool,
    split_payload: bool,
) -> None:
    """Tx serializes a transaction once and cuts the payload's and the reduced payload's
    bytes out of it: they must be what serializing those sub-messages gives, whatever the
    bytes received (unknown fields anywhere, a payload sent in two parts, absent parts,
    lengths over one varint byte)."""
    rp = transaction_pb2.Transaction.Payload.ReducedPayload(
        creator_account_id="alice@bank", created_time=1_700_000_000_000, quorum=1
    )
    for i in range(commands):
        c = rp.commands.add().transfer_asset
        c.src_account_id, c.dest_account_id, c.amount = "alice@bank", f"u{i}@bank", "1.00"
        c.description = description
    rp_raw = unknown[0] + rp.SerializeToString() + unknown[1]
    parts = [len_field(1, rp_raw)] if has_rp else []
    if batch:
        meta = transaction_pb2.Transaction.Payload.BatchMeta(reduced_hashes=["ab" * 32])
        parts.append(len_field(5, meta.SerializeToString()))
    parts.append(unknown[2])
    sigs = b"".join(
        len_field(
            2,
            primitive_pb2.Signature(
                public_key="cd" * 32, signature=f"{i:02x}" * 64
            ).SerializeToString(),
        )
        for i in range(signatures)
    )
    if not has_payload:
        tx_raw = unknown[3] + sigs + unknown[4]
    elif split_payload:  # field 1 twice: the parser merges the two
        tx_raw = len_field(1, parts[0]) + unknown[3] + sigs + len_field(1, b"".join(parts[1:]))
    else:
        tx_raw = unknown[3] + len_field(1, b"".join(parts)) + sigs + unknown[4]
    tx_raw += unknown[5]
    pb = transaction_pb2.Transaction.FromString(tx_raw)
    tx = Tx(pb)
    assert tx.payload_bytes == pb.payload.SerializeToString()
    assert tx.reduced_payload_bytes == pb.payload.reduced_payload.SerializeToString()
    assert tx.serialize() == pb.SerializeToString()
    assert tx.size == pb.ByteSize()
    assert tx.signed_hash == hashlib.sha256(pb.SerializeToString()).digest()
    assert tx.hash == sha3_256(pb.payload.SerializeToString())
    assert tx.reduced_hash == sha3_256(pb.payload.reduced_payload.SerializeToString())


def test_first_field_of_messages_without_it() -> None:
    assert first_field(b"") == b""
    assert first_field(b"\x12\x00") == b""  # field 2 only
    assert first_field(b"\x0a\x00\x12\x01x") == b""  # field 1 present and empty
    assert first_field(b"\x0a\x81\x01" + b"y" * 129) == b"y" * 129


def test_round_order() -> None:
    r = Round(5, 0)
    assert r.next_reject() == Round(5, 1) and r.next_reject() > r
    assert r.next_reject().next_block() == Round(6, 0)
    assert str(Round(7, 2)) == "7:2"
