"""Pure parts of the handshake: the signed digest and the Hello/Auth checks."""

from __future__ import annotations

import random

import pytest

from node.config import PROTOCOL_VERSION
from node.crypto import KeyPair, KeyScheme, sha3_256
from node.net.handshake import (
    Refusal,
    auth_digest,
    check_auth,
    check_hello,
    make_auth,
    make_hello,
)
from node.proto.peer import peer_pb2

A = KeyPair.generate(rng=random.Random(1))
B = KeyPair.generate(KeyScheme.ED25519_SHA3, rng=random.Random(2))
CH = bytes(range(32))


def test_digest_layout() -> None:
    expected = sha3_256(
        b"bakong-peer-auth/v1"
        + (5).to_bytes(4, "big")
        + b"chain"
        + (32).to_bytes(4, "big")
        + CH
        + len(A.public_key).to_bytes(4, "big")
        + A.public_key.encode()
    )
    assert auth_digest("chain", CH, A.public_key) == expected
    assert auth_digest("chain", CH, A.public_key.upper()) == expected


def test_digest_fields_cannot_slide() -> None:
    # without length prefixes these two would hash the same bytes
    assert auth_digest("ab", b"c" + CH[1:], "k") != auth_digest("abc", CH[1:], "k")


def hello(**kw: object) -> peer_pb2.Hello:
    frame = make_hello(B, "chain", CH, "b:1", 5)
    for k, v in kw.items():
        setattr(frame.hello, k, v)
    return frame.hello


def reason(h: peer_pb2.Hello, *, allowed: bool = True, expected: str | None = None) -> str | None:
    r = check_hello(
        h,
        chain_id="chain",
        own_key=A.public_key,
        is_allowed=lambda k: allowed and k == B.public_key,
        expected_key=expected,
    )
    return None if r is None else r.reason


def test_good_hello() -> None:
    assert reason(hello()) is None
    assert reason(hello(public_key=B.public_key.upper())) is None
    assert reason(hello(), expected=B.public_key) is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"protocol_version": PROTOCOL_VERSION + 1}, Refusal.PROTOCOL_VERSION),
        ({"protocol_version": 0}, Refusal.PROTOCOL_VERSION),
        ({"chain_id": "other"}, Refusal.CHAIN_ID),
        ({"challenge": b"short"}, Refusal.BAD_HELLO),
        ({"public_key": "zz"}, Refusal.BAD_HELLO),
        ({"public_key": A.public_key}, Refusal.OWN_KEY),
    ],
)
def test_bad_hello(fields: dict[str, object], expected: str) -> None:
    assert reason(hello(**fields)) == expected


def test_not_allowed_and_unexpected() -> None:
    assert reason(hello(), allowed=False) == Refusal.NOT_ALLOWED
    assert reason(hello(), expected=A.public_key) == Refusal.UNEXPECTED_KEY


def test_auth_binds_challenge_chain_and_signer() -> None:
    auth = make_auth(B, "chain", CH).auth
    assert check_auth(auth, chain_id="chain", our_challenge=CH, peer_key=B.public_key) is None
    other = bytes(32)
    for kw in (
        {"chain_id": "other", "our_challenge": CH, "peer_key": B.public_key},
        {"chain_id": "chain", "our_challenge": other, "peer_key": B.public_key},
        {"chain_id": "chain", "our_challenge": CH, "peer_key": A.public_key},
    ):
        r = check_auth(auth, **kw)  # type: ignore[arg-type]
        assert r is not None and r.reason == Refusal.BAD_SIGNATURE
