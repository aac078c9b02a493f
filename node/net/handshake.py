"""Authenticated handshake: Hello then Auth in both directions.

Both sides send ``Hello`` at once (so neither waits on the other), check the peer's Hello,
then send ``Auth``: a signature over :func:`auth_digest` of the *peer's* challenge. Signing
the other side's fresh challenge proves possession of the key on this very connection, so
a recorded Auth is worthless on any other one. The pure checks (:func:`check_hello`,
:func:`check_auth`) are separate from the I/O (:func:`perform_handshake`).
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import trio

from node.config import PROTOCOL_VERSION
from node.crypto import KeyPair, scheme_of, sha3_256, verify
from node.net.framed import FramedStream
from node.net.framing import ProtocolError, encode_frame
from node.proto.peer import peer_pb2

AUTH_DOMAIN = b"bakong-peer-auth/v1"
CHALLENGE_BYTES = 32
SUPPORTED_VERSIONS = frozenset({PROTOCOL_VERSION})
# Hello and Auth are tiny; an unauthenticated peer may not make us buffer more than this.
HANDSHAKE_MAX_FRAME_BYTES = 4096


class Refusal:
    """Reasons a connection is refused; the values are the keys of ``stats.refused``."""

    PROTOCOL_VERSION = "protocol_version"
    CHAIN_ID = "chain_id"
    BAD_HELLO = "bad_hello"  # malformed challenge or key
    OWN_KEY = "own_key"
    UNEXPECTED_KEY = "unexpected_key"  # dialed address answered with another key
    NOT_ALLOWED = "not_allowed"
    BAD_SIGNATURE = "bad_signature"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"  # garbage, oversized or out-of-order frame
    CLOSED = "closed"  # the other side hung up during the handshake
    TLS = "tls"
    TOO_MANY = "too_many_connections"


class HandshakeRefused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PeerHello:
    """What an authenticated peer told us about itself."""

    public_key: str
    listen_address: str
    top_height: int
    protocol_version: int


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def auth_digest(chain_id: str, challenge: bytes, signer_public_key: str) -> bytes:
    """The 32 bytes an Auth signs. Layout (every field length-prefixed, 4-byte big-endian,
    so that no two different triples share an encoding):

        SHA3-256( "bakong-peer-auth/v1" || lp(utf8 chain_id) || lp(challenge)
                  || lp(utf8 lower-case signer public key) )
    """
    return sha3_256(
        AUTH_DOMAIN
        + _lp(chain_id.encode())
        + _lp(challenge)
        + _lp(signer_public_key.lower().encode())
    )


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def make_hello(
    keypair: KeyPair, chain_id: str, challenge: bytes, listen_address: str, top_height: int
) -> peer_pb2.Frame:
    return peer_pb2.Frame(
        hello=peer_pb2.Hello(
            protocol_version=PROTOCOL_VERSION,
            chain_id=chain_id,
            public_key=keypair.public_key,
            challenge=challenge,
            listen_address=listen_address,
            top_height=top_height,
        )
    )


def make_auth(keypair: KeyPair, chain_id: str, peer_challenge: bytes) -> peer_pb2.Frame:
    digest = auth_digest(chain_id, peer_challenge, keypair.public_key)
    return peer_pb2.Frame(auth=peer_pb2.Auth(signature=keypair.sign(digest)))


def check_hello(
    hello: peer_pb2.Hello,
    *,
    chain_id: str,
    own_key: str,
    is_allowed: Callable[[str], bool],
    expected_key: str | None,
) -> HandshakeRefused | None:
    """None if the Hello is acceptable, else the refusal (checked cheapest first)."""
    if hello.protocol_version not in SUPPORTED_VERSIONS:
        return HandshakeRefused(
            Refusal.PROTOCOL_VERSION, f"protocol version {hello.protocol_version} not supported"
        )
    if hello.chain_id != chain_id:
        return HandshakeRefused(Refusal.CHAIN_ID, f"chain id {hello.chain_id!r} != {chain_id!r}")
    if len(hello.challenge) != CHALLENGE_BYTES:
        return HandshakeRefused(Refusal.BAD_HELLO, f"challenge of {len(hello.challenge)} bytes")
    key = hello.public_key.lower()
    if scheme_of(key) is None:
        return HandshakeRefused(Refusal.BAD_HELLO, f"malformed public key {hello.public_key!r}")
    if key == own_key.lower():
        return HandshakeRefused(Refusal.OWN_KEY, "peer presents our own key")
    if expected_key is not None and key != expected_key.lower():
        return HandshakeRefused(Refusal.UNEXPECTED_KEY, f"expected {expected_key}, got {key}")
    if not is_allowed(key):
        return HandshakeRefused(Refusal.NOT_ALLOWED, f"key {key} is not an allowed peer")
    return None


def check_auth(
    auth: peer_pb2.Auth, *, chain_id: str, our_challenge: bytes, peer_key: str
) -> HandshakeRefused | None:
    digest = auth_digest(chain_id, our_challenge, peer_key)
    if not verify(peer_key, digest, auth.signature):
        return HandshakeRefused(Refusal.BAD_SIGNATURE, f"bad auth signature from {peer_key}")
    return None


def _transport_refusal(exc: BaseException) -> HandshakeRefused:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return HandshakeRefused(Refusal.TLS, str(cause))
        cause = cause.__cause__ or cause.__context__
    return HandshakeRefused(Refusal.CLOSED, f"connection lost during handshake ({exc!r})")


async def _expect(framed: FramedStream, kind: str) -> peer_pb2.Frame:
    frame = await framed.receive_frame()
    if frame is None:
        raise HandshakeRefused(Refusal.CLOSED, f"connection closed before {kind}")
    got = frame.WhichOneof("kind")
    if got != kind:
        raise HandshakeRefused(Refusal.PROTOCOL_ERROR, f"expected {kind}, got {got}")
    return frame


async def perform_handshake(
    framed: FramedStream,
    *,
    keypair: KeyPair,
    chain_id: str,
    listen_address: str,
    top_height: int,
    is_allowed: Callable[[str], bool],
    expected_key: str | None = None,
    challenge: bytes | None = None,
) -> PeerHello:
    """Run both halves of the handshake; return the authenticated peer or raise
    :class:`HandshakeRefused`. No timeout here: the caller bounds connect + handshake."""
    ours = challenge if challenge is not None else new_challenge()
    try:
        await framed.send_all(
            encode_frame(make_hello(keypair, chain_id, ours, listen_address, top_height))
        )
        hello = (await _expect(framed, "hello")).hello
        refused = check_hello(
            hello,
            chain_id=chain_id,
            own_key=keypair.public_key,
            is_allowed=is_allowed,
            expected_key=expected_key,
        )
        if refused is not None:
            raise refused
        if hello.challenge == ours:
            # our own challenge reflected back: a relay trying to make us sign for it
            raise HandshakeRefused(Refusal.BAD_HELLO, "peer echoed our challenge")
        peer_key = hello.public_key.lower()
        await framed.send_all(encode_frame(make_auth(keypair, chain_id, hello.challenge)))
        auth = (await _expect(framed, "auth")).auth
        refused = check_auth(auth, chain_id=chain_id, our_challenge=ours, peer_key=peer_key)
        if refused is not None:
            raise refused
    except ProtocolError as exc:
        raise HandshakeRefused(Refusal.PROTOCOL_ERROR, str(exc)) from None
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        raise _transport_refusal(exc) from None
    return PeerHello(
        public_key=peer_key,
        listen_address=hello.listen_address,
        top_height=hello.top_height,
        protocol_version=hello.protocol_version,
    )
