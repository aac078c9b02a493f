"""YAC votes: the signed value, its signing bytes, and the signer/verifier seams.

A vote says "in round R, I accept proposal P executed into block B" (empty hashes =
"nothing": no usable proposal); a phase-2 *commit vote* says "I saw q votes for B in R
and lock on it". The signature covers :func:`vote_body`, a fixed binary layout of
(round, phase, proposal hash, block hash, block signature), so it does not depend on
protobuf serialization. Signing and verification are injected: a real node
passes a :class:`node.crypto.KeyPair` and :func:`node.crypto.verify`; the simulator
mostly uses :class:`FakeKeyring` (HMAC, ~100x faster), with real ed25519 in some seeds.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from node.model import Round

VOTE_DOMAIN = b"bakong-yac-vote/v1"
EMPTY: tuple[bytes, bytes] = (b"", b"")


@dataclass(frozen=True, slots=True)
class Vote:
    round: Round
    proposal_hash: bytes
    block_hash: bytes
    public_key: str
    signature: bytes
    block_signature: bytes = b""
    phase: int = 1  # 1 = vote (Tendermint's prevote), 2 = commit vote (precommit)

    @property
    def value(self) -> tuple[bytes, bytes]:
        """What the vote is for; two votes agree iff round and value are equal."""
        return (self.proposal_hash, self.block_hash)

    @property
    def is_empty(self) -> bool:
        return not self.block_hash


def vote_body(
    round_: Round,
    proposal_hash: bytes,
    block_hash: bytes,
    block_signature: bytes,
    phase: int = 1,
) -> bytes:
    """The exact bytes a vote signature covers (phase included: a vote is never
    mistaken for a commit vote)."""
    return b"".join(
        (
            VOTE_DOMAIN,
            struct.pack(">QIB", round_.block_round, round_.reject_round, phase),
            struct.pack(">H", len(proposal_hash)),
            proposal_hash,
            struct.pack(">H", len(block_hash)),
            block_hash,
            struct.pack(">H", len(block_signature)),
            block_signature,
        )
    )


class VoteSigner(Protocol):
    """What the machine needs from a key: :class:`node.crypto.KeyPair` fits."""

    @property
    def public_key(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


# (public_key, message, signature) -> valid?  node.crypto.verify fits.
VoteVerifier = Callable[[str, bytes, bytes], bool]


def sign_vote(
    signer: VoteSigner,
    round_: Round,
    proposal_hash: bytes,
    block_hash: bytes,
    block_signature: bytes = b"",
    phase: int = 1,
) -> Vote:
    sig = signer.sign(vote_body(round_, proposal_hash, block_hash, block_signature, phase))
    return Vote(round_, proposal_hash, block_hash, signer.public_key, sig, block_signature, phase)


def vote_is_valid(vote: Vote, verifier: VoteVerifier) -> bool:
    body = vote_body(
        vote.round, vote.proposal_hash, vote.block_hash, vote.block_signature, vote.phase
    )
    return verifier(vote.public_key, body, vote.signature)


@dataclass(frozen=True)
class FakeSigner:
    """HMAC-SHA256 "signature" with a per-key secret held by a :class:`FakeKeyring`."""

    public_key: str
    secret: bytes

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self.secret, message, hashlib.sha256).digest()


class FakeKeyring:
    """Fake keys for the simulator: only the holder of a signer can make valid votes."""

    def __init__(self) -> None:
        self._secrets: dict[str, bytes] = {}

    def new_signer(self, rng: random.Random) -> FakeSigner:
        public_key = "fa" + rng.randbytes(31).hex()
        secret = rng.randbytes(32)
        self._secrets[public_key] = secret
        return FakeSigner(public_key, secret)

    def verify(self, public_key: str, message: bytes, signature: bytes) -> bool:
        secret = self._secrets.get(public_key)
        if secret is None:
            return False
        expected = hmac.new(secret, message, hashlib.sha256).digest()
        return hmac.compare_digest(expected, signature)


def distinct_signers(votes: Iterable[Vote]) -> set[str]:
    return {v.public_key for v in votes}
