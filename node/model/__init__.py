"""Plain value types over the Iroha wire messages: transactions, batches, blocks, rounds.

Owns hashing rules (what bytes are hashed for a tx, a reduced payload, a block, a
proposal) and batch structure. Pure: imports only the generated protobuf modules and
node.crypto (hashing); never trio, sockets, the clock or the global random.
"""

from node.crypto import sha3_256
from node.model.block import (
    GENESIS_PREV_HASH,
    block_hash,
    block_payload_bytes,
    hex_hash,
    make_block,
    proposal_hash,
    signed_block_bytes,
)
from node.model.round import Round
from node.model.tx import Batch, BatchType, DecodeError, Tx, group_batches

__all__ = [
    "GENESIS_PREV_HASH",
    "Batch",
    "BatchType",
    "DecodeError",
    "Round",
    "Tx",
    "block_hash",
    "block_payload_bytes",
    "group_batches",
    "hex_hash",
    "make_block",
    "proposal_hash",
    "sha3_256",
    "signed_block_bytes",
]
