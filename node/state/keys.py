"""Key layout of the ledger in one LevelDB keyspace.

Every key starts with a short ASCII prefix that names its table; fields are joined by
``/`` (no identifier can contain ``/``: account/asset/role names are ``[a-z_0-9]``,
domains are DNS labels, detail keys ``[A-Za-z0-9_]``, public keys hex). Heights are
16-digit zero-padded decimals so byte order is numeric order.

World state (prefix ``w``; exactly these keys make up ``state_hash``):

====================================  ===============================================
``wd/{domain}``                        default role name
``wa/{account_id}``                    account quorum (decimal)
``ws/{account_id}/{pubkey}``           signatory (lower-case hex), value empty
``wR/{account_id}/{role}``             role membership, value empty
``wr/{role}``                          role permission bit mask (decimal int; bit n =
                                       ``RolePermission`` value n)
``wg/{granter}/{grantee}``             grantable permissions ``granter`` gave ``grantee``
                                       (bit mask over ``GrantablePermission``)
``wx/{asset_id}``                      asset precision (decimal)
``wb/{account_id}/{asset_id}``         balance, integer in units of 10^-precision
``wD/{account_id}/{writer}/{key}``     account detail value (UTF-8)
``wp/{pubkey}``                        validator peer (serialized ``iroha.protocol.Peer``)
``wP/{pubkey}``                        syncing (non-voting) peer, same value
``wi/{key}``                           chain setting value (see node.state.settings)
====================================  ===============================================

Chain and indexes (not part of the world-state digest):

====================================  ===============================================
``b/{height:016}``                     block: serialized ``iroha.protocol.Block``
``c/{height:016}``                     commit certificate, opaque bytes from consensus
``m/top``                              ``{height}#{hash hex}`` of the last applied block
``m/format``                           index layout version (absent: 1, see below)
``t/{tx hash, 32 raw bytes}``          tx record (node.state.records.TxRecord)
``h/{account}/{height:016}``           the txs ``account`` created in that block: one
                                       (index u32, created_time u64) per tx, in order
``H/{account}/{asset}/{height:016}``   the txs touching ``account``'s ``asset`` in that
                                       block (same value)
====================================  ===============================================

Layout 1 (data dirs written before ``m/format`` existed) keyed the tx records by the
hash's 64 hex digits and began each history value with the tx hash (40 bytes in all).
These per-transaction entries land all over the keyspace, so every LevelDB compaction
rewrites them; layout 2 (raw 32-byte keys, history values of 8 bytes: a page's hashes
come from its blocks) cut the compaction thread's CPU by about 30 %. Layout-1 dirs keep
working as they are: :func:`tx_key` with ``legacy=True``, and queries read the
created_time from a history value's last 8 bytes in either layout.

Both layouts began with one history entry per transaction, keyed
``.../{height:016}/{idx:06}``. Those entries are spread over all accounts, so LevelDB's
compactions rewrite them again and again: leaving them out of a 300-block run of 1,000
transfers each (``benchmarks.ledger``'s blocks) cut the compaction thread's CPU by four
fifths. Blocks are now written with one entry per account (and asset) per block, its
transactions packed in the value. That halves the entries of a block of payments among
1,000 accounts (a merchant paid many times in one block gains far more) and cut the
compaction thread's CPU over 400 such blocks by about a third (8.1-8.3 -> 4.9-5.5 s).
:func:`history_rows` reads both forms, so a data dir written before keeps its history
without a rewrite.

All keys of one block (block, certificate, state writes, records, history, marker) go
into one synced LevelDB write batch, so block store and state can never diverge.
"""

from __future__ import annotations

import struct

from node.storage.kv import KVReader

STATE_PREFIX = b"w"
DOMAIN = b"wd/"
ACCOUNT = b"wa/"
# annotated: wsv reads these at import time, through an import cycle mypyc cannot infer
SIGNATORY: bytes = b"ws/"
ACCOUNT_ROLE: bytes = b"wR/"
ROLE = b"wr/"
GRANT = b"wg/"
ASSET = b"wx/"
BALANCE = b"wb/"
DETAIL = b"wD/"
PEER = b"wp/"
SYNC_PEER = b"wP/"
SETTING = b"wi/"

BLOCK = b"b/"
CERT = b"c/"
TOP = b"m/top"
TX = b"t/"
FORMAT = b"m/format"
FORMAT_CURRENT = b"2"
HISTORY = b"h/"
ASSET_HISTORY = b"H/"


def height_key(prefix: bytes, height: int) -> bytes:
    return prefix + b"%016d" % height


def k(prefix: bytes, *parts: str) -> bytes:
    return prefix + "/".join(parts).encode()


def tx_key(tx_hash: bytes, legacy: bool = False) -> bytes:
    """The tx record's key: raw hash bytes, or its hex in a layout-1 data dir."""
    return TX + (tx_hash.hex().encode() if legacy else tx_hash)


def legacy_layout(reader: KVReader) -> bool:
    """True for a data dir holding a ledger written before the layout marker existed."""
    return reader.get(FORMAT) is None and reader.get(TOP) is not None


HISTORY_REF = struct.Struct(">IQ")  # one tx in a block's history entry: index, created_time
_CREATED = struct.Struct(">Q")  # a per-tx entry's created_time: its value's last 8 bytes


def history_rows(rest: bytes, value: bytes) -> list[tuple[int, int, int]]:
    """(height, index, created_time) of the txs in one history entry; ``rest`` is its
    key after the ``h/{account}/`` or ``H/{account}/{asset}/`` prefix."""
    height_s, sep, index_s = rest.partition(b"/")
    height = int(height_s)
    if sep:  # a per-transaction entry (both layouts before)
        (created,) = _CREATED.unpack_from(value, len(value) - _CREATED.size)
        return [(height, int(index_s), created)]
    return [(height, index, created) for index, created in HISTORY_REF.iter_unpack(value)]
