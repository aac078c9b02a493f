"""Transactions and batches with Iroha 1's hashing rules.

Iroha hashes its own canonical re-serialization of a sub-message, so hashes are taken
over ``SerializeToString()`` of the parsed message (deterministic=True keeps unknown
fields in order; Python's output matches C++ for these messages, which have no maps).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError as _PbDecodeError

from node.crypto import sha3_256
from node.proto.iroha import commands_pb2, primitive_pb2, transaction_pb2

BatchMeta = transaction_pb2.Transaction.Payload.BatchMeta
ReducedPayload = transaction_pb2.Transaction.Payload.ReducedPayload
# A command as (the name of its set oneof field or None, that field's message or the
# Command itself when none is set).
CommandPair = tuple[str | None, Any]


class DecodeError(ValueError):
    """Bytes that are not a well-formed protobuf message of the expected type."""


class Tx:
    """One transaction; hashes are computed once and cached.

    The wrapped message must not be mutated after the first hash, size or serialization
    is taken. The cached values are computed on first read, without a lock: a
    transaction's hashes are read on the event loop and on worker threads alike, and a
    race is harmless (both threads compute the same pure value and one store wins).
    Plain slots rather than ``functools.cached_property``, which takes a lock shared by
    every instance (Python 3.11) and which the native build (node.native) cannot compile.

    Sub-messages read often (the reduced payload, each command's set field) are kept
    too: every protobuf attribute read builds a new Python wrapper, and stateless checks,
    execution and commit each walk the same paths; read them through this class.
    """

    __slots__ = (
        "_batch_meta",
        "_commands",
        "_created_time",
        "_hash",
        "_hash_hex",
        "_meta_known",
        "_payload_bytes",
        "_quorum",
        "_raw",
        "_reduced_hash",
        "_reduced_payload_bytes",
        "_rp",
        "_signed_by",
        "_signed_hash",
        "_sigs",
        "pb",
    )

    def __init__(self, pb: transaction_pb2.Transaction) -> None:
        self.pb = pb
        self._raw: bytes | None = None
        self._payload_bytes: bytes | None = None
        self._hash: bytes | None = None
        self._hash_hex: str | None = None
        self._reduced_payload_bytes: bytes | None = None
        self._reduced_hash: bytes | None = None
        self._created_time: int | None = None
        self._quorum: int | None = None
        self._rp: ReducedPayload | None = None
        self._commands: list[CommandPair] | None = None
        self._sigs: list[tuple[str, str]] | None = None
        self._batch_meta: BatchMeta | None = None
        self._meta_known = False
        self._signed_by: dict[str, bytes] | None = None
        self._signed_hash: bytes | None = None

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

    @property
    def payload_bytes(self) -> bytes:
        """The exact bytes that are hashed and signed (payload incl. batch meta):
        ``pb.payload.SerializeToString()``, cut from the whole message's serialization
        (see :func:`first_field`) rather than serialized a second time."""
        v = self._payload_bytes
        if v is None:
            v = self._payload_bytes = first_field(self.serialize())
        return v

    @property
    def hash(self) -> bytes:
        v = self._hash
        if v is None:
            v = self._hash = sha3_256(self.payload_bytes)
        return v

    @property
    def hash_hex(self) -> str:
        v = self._hash_hex
        if v is None:
            v = self._hash_hex = self.hash.hex()
        return v

    @property
    def reduced_payload_bytes(self) -> bytes:
        """``reduced_payload.SerializeToString()``, cut from :attr:`payload_bytes`."""
        v = self._reduced_payload_bytes
        if v is None:
            v = self._reduced_payload_bytes = first_field(self.payload_bytes)
        return v

    @property
    def reduced_hash(self) -> bytes:
        v = self._reduced_hash
        if v is None:
            v = self._reduced_hash = sha3_256(self.reduced_payload_bytes)
        return v

    @property
    def reduced_payload(self) -> ReducedPayload:
        v = self._rp
        if v is None:
            v = self._rp = self.pb.payload.reduced_payload
        return v

    @property
    def creator(self) -> str:
        return self.reduced_payload.creator_account_id

    @property
    def created_time(self) -> int:
        # cached: checked at Torii or gossip, again in each proposal, and by the MST pool
        v = self._created_time
        if v is None:
            v = self._created_time = self.reduced_payload.created_time
        return v

    @property
    def quorum(self) -> int:
        v = self._quorum
        if v is None:
            v = self._quorum = self.reduced_payload.quorum
        return v

    @property
    def commands(self) -> Sequence[commands_pb2.Command]:
        return self.reduced_payload.commands

    def command_pairs(self) -> list[CommandPair]:
        """Each command as (name of its set field, that field's message), or (None, the
        Command) when none is set; built once (checked, then executed, on every node)."""
        v = self._commands
        if v is None:
            v = []
            for cmd in self.reduced_payload.commands:
                kind = cmd.WhichOneof("command")
                v.append((kind, cmd if kind is None else getattr(cmd, kind)))
            self._commands = v
        return v

    @property
    def signatures(self) -> Sequence[primitive_pb2.Signature]:
        return self.pb.signatures

    def signature_pairs(self) -> list[tuple[str, str]]:
        """Each signature as (public key, signature) in hex as sent, in order; read once
        (checked, counted, and used as a key by the verified-tx cache)."""
        v = self._sigs
        if v is None:
            v = self._sigs = [(s.public_key, s.signature) for s in self.pb.signatures]
        return v

    @property
    def batch_meta(self) -> BatchMeta | None:
        # cached: batches are regrouped from it at Torii, in each proposal and execution
        if not self._meta_known:
            p = self.pb.payload
            self._batch_meta = p.batch if p.HasField("batch") else None
            self._meta_known = True
        return self._batch_meta

    def signed_by(self) -> dict[str, bytes]:
        """Lower-case public key -> raw signature; one entry per key (duplicates collapse).

        Signatures whose hex does not decode are left out: stateless validation reports
        them; this view is for counting distinct signers. Computed once (Torii counts
        signers twice, execution once more): read it, do not change it.
        """
        out = self._signed_by
        if out is None:
            out = {}
            for public_key, signature in self.signature_pairs():
                try:
                    out.setdefault(public_key.lower(), bytes.fromhex(signature))
                except ValueError:
                    continue
            self._signed_by = out
        return out

    def serialize(self) -> bytes:
        """The whole message serialized, once: the payload's bytes, the reduced payload's,
        the signed hash and the size all come from it (one serialization per transaction
        on each node instead of three)."""
        v = self._raw
        if v is None:
            v = self._raw = self.pb.SerializeToString()
        return v

    @property
    def signed_hash(self) -> bytes:
        """SHA-256 of the whole message, signatures included: two copies of a transaction
        with other signatures have the same ``hash`` but not the same ``signed_hash``.
        Only this node's caches of checked transactions use it, so it need not be Iroha's
        SHA3: SHA-256, as collision-resistant, takes 0.35 us on 300 bytes here against
        0.9 us, once for every transaction on every validator."""
        v = self._signed_hash
        if v is None:
            v = self._signed_hash = hashlib.sha256(self.serialize()).digest()
        return v

    @property
    def size(self) -> int:
        """Serialized size in bytes."""
        return len(self.serialize())


def varint(n: int) -> bytes:
    """Protobuf's base-128 encoding of a non-negative integer."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def len_field(number: int, data: bytes) -> bytes:
    """Field ``number`` of a message, length-delimited, holding ``data`` (serialized)."""
    return varint(number << 3 | 2) + varint(len(data)) + data


def first_field(data: bytes) -> bytes:
    """The value of field 1 of a serialized message whose field 1 is a sub-message: the
    bytes ``msg.<field 1>.SerializeToString()`` gives; b"" when it is absent.

    ``data`` must be protobuf's own serialization of the parsed message (as
    ``SerializeToString()`` gives it, never bytes as received): that writes the known
    fields in field-number order, each sub-message once and as its own serialization,
    and unknown fields last, so field 1 comes first when present. Tests compare this
    with serializing the sub-message, unknown fields and long payloads included.
    """
    if not data or data[0] != 0x0A:  # tag of field 1, length-delimited
        return b""
    n = 0
    shift = 0
    i = 1
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
    return data[i : i + n]


class BatchType(enum.IntEnum):
    ATOMIC = 0
    ORDERED = 1
    SINGLE = 2  # a transaction without batch meta


class Batch:
    """Consecutive txs of one batch (or one tx alone); immutable once built."""

    __slots__ = ("_batch_hash", "txs", "type")

    def __init__(self, txs: tuple[Tx, ...], type: BatchType) -> None:
        self.txs = txs
        self.type = type
        self._batch_hash: bytes | None = None

    def __repr__(self) -> str:
        return f"Batch(txs={self.txs!r}, type={self.type!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Batch):
            return NotImplemented
        return self.txs == other.txs and self.type == other.type

    def __hash__(self) -> int:
        return hash((self.txs, self.type))

    @property
    def batch_hash(self) -> bytes:
        """The batch's id in this node (ordering cache, gossip): Iroha's, the raw reduced
        hashes of its txs concatenated (not re-hashed); for a tx without batch meta, its
        hash. Its payload is then its reduced payload alone, so the hash names it as well
        and is computed anyway: a second SHA3 per payment saved."""
        v = self._batch_hash
        if v is None:
            txs = self.txs
            if self.type is BatchType.SINGLE:
                v = txs[0].hash
            else:
                v = b"".join(t.reduced_hash for t in txs)
            self._batch_hash = v
        return v

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
