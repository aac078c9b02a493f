"""Blocks and proposals: construction and hashing as Iroha 1 does it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from node.crypto import sha3_256
from node.model.tx import Tx, len_field, varint
from node.proto.iroha import block_pb2, primitive_pb2, proposal_pb2

GENESIS_PREV_HASH = bytes(32)  # genesis prev_block_hash is 64 hex zeros


def hex_hash(h: bytes) -> str:
    return h.hex()


def make_block(
    height: int,
    prev_hash: bytes,
    created_time: int,
    txs: Sequence[Tx],
    rejected: Sequence[bytes],
) -> block_pb2.Block_v1:
    """An unsigned block message; signatures are added from the commit certificate.
    Execution does not build it: it serializes the payload with :func:`block_payload_bytes`,
    which tests hold to this message's serialization byte for byte."""
    block = block_pb2.Block_v1()
    p = block.payload
    p.transactions.extend(t.pb for t in txs)
    p.tx_number = len(txs)
    p.height = height
    p.prev_block_hash = prev_hash.hex()
    p.created_time = created_time
    p.rejected_transactions_hashes.extend(h.hex() for h in rejected)
    return block


def block_payload_bytes(
    height: int,
    prev_hash: bytes,
    created_time: int,
    txs: Sequence[Tx],
    rejected: Sequence[bytes],
) -> bytes:
    """``make_block(...).payload.SerializeToString()``, byte for byte (fields in number
    order, zeros left out as proto3 does), from each transaction's own serialization:
    no copy of 1,000 transactions into a block message just to serialize them again."""
    parts = [len_field(1, t.serialize()) for t in txs]
    if txs:
        parts.append(b"\x10" + varint(len(txs)))  # tx_number = 2
    if height:
        parts.append(b"\x18" + varint(height))  # height = 3
    if prev_hash:
        parts.append(len_field(4, prev_hash.hex().encode()))  # prev_block_hash = 4
    if created_time:
        parts.append(b"\x28" + varint(created_time))  # created_time = 5
    parts += [len_field(6, h.hex().encode()) for h in rejected]
    return b"".join(parts)


def signed_block_bytes(
    payload_bytes: bytes, signatures: Iterable[primitive_pb2.Signature]
) -> bytes:
    """``Block{block_v1{payload, signatures}}`` serialized, from the payload already
    serialized: byte for byte ``SerializeToString()`` of that message (fields in number
    order), without copying the payload's transactions into a new message to get it."""
    v1 = len_field(1, payload_bytes) + b"".join(
        len_field(2, s.SerializeToString()) for s in signatures
    )
    return len_field(1, v1)


def block_hash(block: block_pb2.Block_v1) -> bytes:
    """SHA3-256 of the block payload (signatures excluded)."""
    return sha3_256(block.payload.SerializeToString())


def proposal_hash(proposal: proposal_pb2.Proposal) -> bytes:
    """SHA3-256 of the whole proposal message (used in YAC votes)."""
    return sha3_256(proposal.SerializeToString())
