"""Block sync: catching up with committed blocks and their commit certificates.

Owns: verifying a commit certificate against the validator set in force at a height
(:mod:`node.sync.certificate`, pure), serving ``BlockRequest``s from the local block
store, and the catch-up driver that fetches blocks in chunks from peers, verifies and
applies them, and tells consensus where the chain now is (:mod:`node.sync.syncer`).
Must not import node.api; talks to the network only through the callables it is given.
"""

from node.sync.certificate import certificate_problem, decode_certificate, encode_certificate
from node.sync.syncer import BlockSyncer, serve_block_request

__all__ = [
    "BlockSyncer",
    "certificate_problem",
    "decode_certificate",
    "encode_certificate",
    "serve_block_request",
]
