"""A validator's sign state at rest: the last votes it signed and the proposals it voted for.

One format for the node (``node.runtime.driver`` persists, ``node.app`` loads) and for
the simulator (over its in-memory store), so the simulation's crash tests exercise the
bytes the node writes. Proposals are stored as the caller's bytes (the node's protobuf
``Proposal``, the simulator's own encoding). Keys:

* ``y/vote``: the last phase-1 vote: round, proposal hash, block hash;
* ``y/commit``: the last commit vote, then the polka (certificate) it followed;
* ``y/p/<height>/<seq>``: proposals voted for at the current height (older ones go).

A node keeps them in a store of their own, beside the ledger's (``node.app``): a voted
proposal is as large as its block and is overwritten at the next height, and in the
ledger's LevelDB each one went through the same flushes and compactions as the blocks
(about a quarter of the compaction thread's CPU at max rate). Data dirs that kept them
in the ledger's store move them with :func:`move_sign_state`.

Pure: a :class:`node.storage.kv.KVStore` is given; no trio, no clock.
"""

from __future__ import annotations

import struct

from node.consensus.vote import Vote
from node.consensus.yac import PersistVote, SignState
from node.model import Round
from node.storage.kv import KVStore, WriteBatch
from node.sync.certificate import decode_certificate, encode_certificate

SIGN_PREFIX = b"y/"  # every key of the sign state
VOTE_KEY = b"y/vote"
COMMIT_KEY = b"y/commit"
PROPOSAL_PREFIX = b"y/p/"
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


def save_sign_state(
    store: KVStore, a: PersistVote, batch: WriteBatch | None = None, sync: bool = True
) -> None:
    """One write before the vote leaves the process (never sign twice); with ``batch``,
    only add the write to it (the caller writes it). ``sync=False`` only for the
    simulator's mutant that shows an unsynced sign state is caught."""
    own = batch is None
    batch = WriteBatch() if batch is None else batch
    if a.phase == 1:
        batch.put(VOTE_KEY, _signed(a))
    else:
        batch.put(COMMIT_KEY, _signed(a) + encode_certificate(a.justification))
    if own:
        store.write(batch, sync=sync)


class VotedProposals:
    """The voted proposals' keys, kept in memory by their only writer (the simulator,
    which keeps no such state, builds one per save: it reads the keys from the store).

    Scanning the store's prefix each round instead walked every key deleted since
    LevelDB last compacted it, in its memtable and young tables: 57 us a round at
    first, 2.5 ms after 15,000 rounds (45 rounds a second at 200 tx/s offered).
    """

    def __init__(self, store: KVStore) -> None:
        self.store = store
        self._keys = [k for k, _ in store.iterate(PROPOSAL_PREFIX)]  # in key order

    def save(
        self,
        height: int,
        proposal: bytes,
        keep: int,
        batch: WriteBatch | None = None,
        sync: bool = True,
    ) -> None:
        """Keep the proposals voted at ``height`` (at most ``keep``), drop older ones.
        With ``batch``, only add the writes to it (the caller writes it, or crashes)."""
        own = batch is None
        batch = WriteBatch() if batch is None else batch
        prefix = PROPOSAL_PREFIX + b"%016d/" % height
        mine = [k for k in self._keys if k.startswith(prefix)]
        for k in self._keys:
            if not k.startswith(prefix):
                batch.delete(k)
        cut = max(0, len(mine) - keep + 1)
        for k in mine[:cut]:
            batch.delete(k)
        seq = int(mine[-1][len(prefix) :]) + 1 if mine else 0
        key = prefix + b"%08d" % seq
        batch.put(key, proposal)
        self._keys = [*mine[cut:], key]
        if own:
            self.store.write(batch, sync=sync)


def load_sign_state(store: KVStore) -> tuple[SignState | None, list[bytes]]:
    """The stored sign state (None on a fresh node) and the voted proposals' bytes."""
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
    return state, [v for _, v in store.iterate(PROPOSAL_PREFIX)]


def move_sign_state(src: KVStore, dst: KVStore) -> int:
    """Move the sign state from ``src`` (where older nodes kept it, in the ledger's
    store) to ``dst``; returns the number of keys found in ``src``.

    Copied first (synced), then deleted from ``src`` (synced). A crash between leaves
    both: the next call finds ``dst`` holding a sign state and only deletes ``src``'s,
    since ``dst``'s is the same or newer (the node signs into ``dst`` only). Never
    losing it matters: a validator that forgot its last votes could sign twice."""
    found = list(src.iterate(SIGN_PREFIX))
    if not found:
        return 0
    if next(iter(dst.iterate(SIGN_PREFIX)), None) is None:
        copy = WriteBatch()
        for key, value in found:
            copy.put(key, value)
        dst.write(copy, sync=True)
    drop = WriteBatch()
    for key, _ in found:
        drop.delete(key)
    src.write(drop, sync=True)
    return len(found)
