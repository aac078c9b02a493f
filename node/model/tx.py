"""Transactions and batches with Iroha 1's hashing rules.

Iroha hashes its own canonical re-serialization of a sub-message, so hashes are taken
over ``SerializeToString()`` of the parsed message (deterministic=True keeps unknown
fields in order; Python's output matches C++ for these messages, which have no maps).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError as _PbDecodeError

from node.crypto import sha3_256
from node.proto.iroha import commands_pb2, primitive_pb2, transaction_pb2

BatchMeta = transaction_pb2.Transaction.Payload.BatchMeta

if TYPE_CHECKING:  # the type checker knows the stdlib one; this one only drops a lock
    from functools import cached_property
else:

    class cached_property:
        """``functools.cached_property`` without its lock (Python 3.12 dropped it too).

        Python 3.11's takes one RLock per property, shared by every instance, on each
        first access: a transaction's hashes are first read on the event loop and on
        worker threads alike. A race here is harmless: both threads compute the same
        pure value and one store wins.
        """

        def __init__(self, func):
            self.func = func
            self.name = func.__name__
            self.__doc__ = func.__doc__

        def __set_name__(self, owner, name):
            self.name = name

        def __get__(self, obj, owner=None):
            if obj is None:
                return self
            value = obj.__dict__[self.name] = self.func(obj)
            return value


class DecodeError(ValueError):
    """Bytes that are not a well-formed protobuf message of the expected type."""


class Tx:
    """One transaction; hashes are computed once and cached.

    The wrapped message must not be mutated after the first hash is taken.
    """

    __slots__ = ("__dict__", "pb")

    def __init__(self, pb: transaction_pb2.Transaction) -> None:
        self.pb = pb

    @classmethod
    def from_bytes(cls, data: bytes) -> Tx:
        pb = transaction_pb2.Transaction()
        try:
            pb.ParseFromString(data)
        except (_PbDecodeError, RuntimeError, ValueError) as e:
            raise DecodeError(f"malformed transaction: {e}") from None
        return cls(pb)

    def __repr__(self) -> str:
        return f"Tx({self.hash_hex[:16]}…, creator={self.creator!r})"

    @cached_property
    def payload_bytes(self) -> bytes:
        """The exact bytes that are hashed and signed (payload incl. batch meta)."""
        return self.pb.payload.SerializeToString()

    @cached_property
    def hash(self) -> bytes:
        return sha3_256(self.payload_bytes)

    @cached_property
    def hash_hex(self) -> str:
        return self.hash.hex()

    @cached_property
    def reduced_payload_bytes(self) -> bytes:
        return self.pb.payload.reduced_payload.SerializeToString()

    @cached_property
    def reduced_hash(self) -> bytes:
        return sha3_256(self.reduced_payload_bytes)

    @property
    def creator(self) -> str:
        return self.pb.payload.reduced_payload.creator_account_id

    @cached_property
    def created_time(self) -> int:
        # cached: checked at Torii or gossip, again in each proposal, and by the MST pool
        return self.pb.payload.reduced_payload.created_time

    @cached_property
    def quorum(self) -> int:
        return self.pb.payload.reduced_payload.quorum

    @property
    def commands(self) -> Sequence[commands_pb2.Command]:
        return self.pb.payload.reduced_payload.commands

    @property
    def signatures(self) -> Sequence[primitive_pb2.Signature]:
        return self.pb.signatures

    @cached_property
    def batch_meta(self) -> BatchMeta | None:
        # cached: batches are regrouped from it at Torii, in each proposal and execution
        p = self.pb.payload
        return p.batch if p.HasField("batch") else None

    def signed_by(self) -> dict[str, bytes]:
        """Lower-case public key -> raw signature; one entry per key (duplicates collapse).

        Signatures whose hex does not decode are left out: stateless validation reports
        them; this view is for counting distinct signers. Computed once (Torii counts
        signers twice, execution once more): read it, do not change it.
        """
        return self._signed_by

    @cached_property
    def _signed_by(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for s in self.pb.signatures:
            try:
                out.setdefault(s.public_key.lower(), bytes.fromhex(s.signature))
            except ValueError:
                continue
        return out

    def serialize(self) -> bytes:
        return self.pb.SerializeToString()

    @cached_property
    def signed_hash(self) -> bytes:
        """SHA3-256 of the whole message, signatures included: two copies of a transaction
        with other signatures have the same ``hash`` but not the same ``signed_hash``."""
        return sha3_256(self.serialize())


class BatchType(enum.IntEnum):
    ATOMIC = 0
    ORDERED = 1
    SINGLE = 2  # a transaction without batch meta


@dataclass(frozen=True)
class Batch:
    txs: tuple[Tx, ...]
    type: BatchType

    @cached_property
    def batch_hash(self) -> bytes:
        """Iroha's batch id: the raw reduced hashes of its txs, concatenated (not re-hashed)."""
        return b"".join(t.reduced_hash for t in self.txs)

    @property
    def tx_hashes(self) -> tuple[bytes, ...]:
        return tuple(t.hash for t in self.txs)

    def fully_signed(self) -> bool:
        """Every tx carries at least as many distinct signatures as its declared quorum."""
        return all(len(t.signed_by()) >= t.quorum for t in self.txs)

    def __len__(self) -> int:
        return len(self.txs)


def _meta_key(tx: Tx) -> bytes | None:
    meta = tx.batch_meta
    return None if meta is None else meta.SerializeToString()


def group_batches(txs: Sequence[Tx]) -> list[Batch]:
    """Consecutive txs with identical batch meta form one batch; a tx without meta is alone.

    Structure only: whether the batch is complete and consistent is node.validation's job.
    """
    out: list[Batch] = []
    i = 0
    n = len(txs)
    while i < n:
        key = _meta_key(txs[i])
        if key is None:
            out.append(Batch((txs[i],), BatchType.SINGLE))
            i += 1
            continue
        j = i + 1
        while j < n and _meta_key(txs[j]) == key:
            j += 1
        meta = txs[i].batch_meta
        assert meta is not None
        kind = BatchType.ORDERED if meta.type == BatchMeta.ORDERED else BatchType.ATOMIC
        out.append(Batch(tuple(txs[i:j]), kind))
        i = j
    return out
