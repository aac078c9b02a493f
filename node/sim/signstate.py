"""A simulated node's sign state in its :class:`node.storage.memory.MemoryStore`.

The byte format and the keys are those of ``node.runtime.driver`` (``save_sign_state``,
``save_voted_proposal``, ``load_sign_state``), reproduced here because the driver module
imports trio and the simulation loop must not. The only difference: a voted proposal is
a :class:`node.sim.bank.BankProposal` in the simulator's own encoding, not a protobuf
``Proposal``. Certificates use the node's stored form (:mod:`node.sync.certificate`).
"""

from __future__ import annotations

import struct

from node.consensus.vote import Vote
from node.consensus.yac import PersistVote, SignState
from node.model import Round
from node.sim.bank import BankProposal, decode_proposal, encode_proposal
from node.storage.kv import KVStore, WriteBatch
from node.sync.certificate import decode_certificate, encode_certificate

VOTE_KEY = b"y/vote"  # last phase-1 vote: round, proposal hash, block hash
COMMIT_KEY = b"y/commit"  # last commit vote, then the polka it followed
PROPOSAL_PREFIX = b"y/p/"  # proposals we voted for: y/p/<height>/<seq>
_ROUND = struct.Struct(">QI")

Signed = tuple[Round, bytes, bytes]


def _signed(a: PersistVote) -> bytes:
    return (
        _ROUND.pack(a.round.block_round, a.round.reject_round)
        + bytes([len(a.proposal_hash), len(a.block_hash)])
        + a.proposal_hash
        + a.block_hash
    )


def _unsigned(raw: bytes) -> tuple[Signed, bytes]:
    h, r = _ROUND.unpack_from(raw)
    i = _ROUND.size
    np, nb = raw[i], raw[i + 1]
    ph = raw[i + 2 : i + 2 + np]
    bh = raw[i + 2 + np : i + 2 + np + nb]
    return (Round(h, r), ph, bh), raw[i + 2 + np + nb :]


def save_sign_state(store: KVStore, a: PersistVote, sync: bool = True) -> None:
    """One write before the vote leaves the node; ``sync=False`` only for the mutant
    that shows the checker catches an unsynced sign state (power loss forgets it)."""
    batch = WriteBatch()
    if a.phase == 1:
        batch.put(VOTE_KEY, _signed(a))
    else:
        batch.put(COMMIT_KEY, _signed(a) + encode_certificate(a.justification))
    store.write(batch, sync=sync)


def save_voted_proposal(
    store: KVStore, height: int, proposal: BankProposal, keep: int, sync: bool = True
) -> None:
    """Keep the proposals voted at the current height (at most ``keep``), drop older ones."""
    batch = WriteBatch()
    existing = [k for k, _ in store.iterate(PROPOSAL_PREFIX)]
    prefix = PROPOSAL_PREFIX + b"%016d/" % height
    mine = [k for k in existing if k.startswith(prefix)]
    for k in existing:
        if not k.startswith(prefix):
            batch.delete(k)
    for k in mine[: max(0, len(mine) - keep + 1)]:
        batch.delete(k)
    seq = int(mine[-1][len(prefix) :]) + 1 if mine else 0
    batch.put(prefix + b"%08d" % seq, encode_proposal(proposal))
    store.write(batch, sync=sync)


def load_sign_state(store: KVStore) -> tuple[SignState | None, list[BankProposal]]:
    vote_raw, commit_raw = store.get(VOTE_KEY), store.get(COMMIT_KEY)
    state = None
    if vote_raw is not None or commit_raw is not None:
        vote = _unsigned(vote_raw)[0] if vote_raw is not None else None
        commit: Signed | None = None
        justification: tuple[Vote, ...] = ()
        if commit_raw is not None:
            commit, rest = _unsigned(commit_raw)
            justification = tuple(decode_certificate(rest) or ())
        state = SignState(vote, commit, justification)
    proposals = [decode_proposal(v) for _, v in store.iterate(PROPOSAL_PREFIX)]
    return state, proposals
