"""Commit certificates at rest: the bytes stored beside each block and served to peers.

Block sync itself (asking peers for blocks, checking each certificate against the
validator set in force at its height, applying, resuming consensus) is part of the
pure round pipeline (:mod:`node.consensus.pipeline`), so the simulator exercises it
too; this package owns the storage forms of a commit certificate (a
``bakong.peer.VoteState``) and of a validator's sign state (:mod:`signstate`: the last
votes signed, the proposals voted for), which the node and the simulator share.
"""

from node.sync.certificate import decode_certificate, encode_certificate

__all__ = ["decode_certificate", "encode_certificate"]
