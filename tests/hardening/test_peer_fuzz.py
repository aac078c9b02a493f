"""Hostile peer bytes (issue #10 item 2, peer side): the frame decoder and the handshake
checks fed mutations of valid Hello/Auth/Frame bytes raise only the documented
``ProtocolError`` / return only ``HandshakeRefused``; a PeerNetwork on the in-memory
transport keeps serving an honest peer while a hostile one, after a valid handshake, sends
mutated frames (closed and counted, never a crash)."""

from __future__ import annotations

import logging
import random

import pytest
import trio
from hypothesis import HealthCheck, given, settings

from node.net import FrameDecoder, ProtocolError, encode_frame
from node.net.handshake import (
    CHALLENGE_BYTES,
    HANDSHAKE_MAX_FRAME_BYTES,
    HandshakeRefused,
    check_auth,
    check_hello,
    make_auth,
    make_hello,
)
from node.proto.peer import peer_pb2
from tests.hardening.test_torii_fuzz import messages, mutate
from tests.unit.net.conftest import (
    CHAIN,
    KEYS,
    Net,
    raw_handshake,
    raw_peer,
    start_node,
    status,
    wait_until,
)

OURS = KEYS[0]
THEIRS = KEYS[2]
OUR_CHALLENGE = b"c" * CHALLENGE_BYTES
THEIR_CHALLENGE = b"t" * CHALLENGE_BYTES


def valid_stream() -> bytes:
    vote = peer_pb2.Vote(
        round=peer_pb2.Round(block_round=5, reject_round=1),
        proposal_hash=b"p" * 32,
        block_hash=b"b" * 32,
        public_key=THEIRS.public_key,
        signature=b"s" * 64,
        phase=1,
    )
    frames = [
        make_hello(THEIRS, CHAIN, THEIR_CHALLENGE, "node2", 7),
        make_auth(THEIRS, CHAIN, OUR_CHALLENGE),
        peer_pb2.Frame(votes=peer_pb2.VoteState(votes=[vote, vote])),
        status(9),
        peer_pb2.Frame(block_request=peer_pb2.BlockRequest(from_height=3, max_blocks=10)),
    ]
    return b"".join(encode_frame(f) for f in frames)


def judge(frame: peer_pb2.Frame) -> None:
    """The handshake checks on whatever a decoded frame carries: a verdict, never a raise."""
    kind = frame.WhichOneof("kind")
    if kind == "hello":
        out = check_hello(
            frame.hello,
            chain_id=CHAIN,
            own_key=OURS.public_key,
            is_allowed=lambda k: k == THEIRS.public_key.lower(),
            expected_key=None,
        )
        assert out is None or isinstance(out, HandshakeRefused)
    elif kind == "auth":
        out = check_auth(
            frame.auth, chain_id=CHAIN, our_challenge=OUR_CHALLENGE, peer_key=THEIRS.public_key
        )
        assert out is None or isinstance(out, HandshakeRefused)


def decode_all(data: bytes, rng: random.Random) -> tuple[int, bool]:
    """Feed ``data`` in random chunks; (frames decoded, ended with ProtocolError)."""
    decoder = FrameDecoder(64 * 1024, initial_frames=2, initial_max_bytes=HANDSHAKE_MAX_FRAME_BYTES)
    n = 0
    i = 0
    try:
        while i < len(data):
            step = rng.randint(1, 64)
            for frame in decoder.feed(data[i : i + step]):
                judge(frame)
                n += 1
            i += step
    except ProtocolError:
        with pytest.raises(ProtocolError):  # poisoned: never resynchronizes
            decoder.feed(b"\x00\x00\x00\x00")
        return n, True
    return n, False


def test_valid_stream_decodes_and_passes_the_checks() -> None:
    frames = FrameDecoder(1 << 20).feed(valid_stream())
    assert [f.WhichOneof("kind") for f in frames] == [
        "hello",
        "auth",
        "votes",
        "status",
        "block_request",
    ]
    hello = check_hello(
        frames[0].hello,
        chain_id=CHAIN,
        own_key=OURS.public_key,
        is_allowed=lambda k: True,
        expected_key=None,
    )
    assert hello is None
    assert (
        check_auth(
            frames[1].auth,
            chain_id=CHAIN,
            our_challenge=OUR_CHALLENGE,
            peer_key=THEIRS.public_key,
        )
        is None
    )


def test_mutated_frames_raise_only_protocol_error() -> None:
    rng = random.Random(7)
    valid = valid_stream()
    decoded = errors = 0
    for _ in range(3000):
        n, failed = decode_all(mutate(valid, rng), rng)
        decoded += n
        errors += failed
    # both outcomes are common: the mutations reach the parser and the checks
    assert decoded > 1000 and errors > 300, (decoded, errors)


@pytest.mark.slow
def test_mutated_frames_raise_only_protocol_error_long() -> None:
    rng = random.Random(8)
    valid = valid_stream()
    for _ in range(60_000):
        decode_all(mutate(valid, rng), rng)


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(messages(peer_pb2.Frame))
def test_hypothesis_frames(frame: peer_pb2.Frame) -> None:
    data = encode_frame(frame)
    decode_all(data, random.Random(len(data)))


# --- a live PeerNetwork ------------------------------------------------------------------


async def hostile_session(net: Net, address: str, data: bytes) -> None:
    async with raw_peer(net.transport(), address) as p:
        await raw_handshake(p, THEIRS)
        try:
            await p.send_all(data)
            with trio.move_on_after(0.05):
                while await p.receive_frame() is not None:
                    pass
        except Exception:  # the victim hung up on us: expected
            pass


@pytest.mark.parametrize("sessions", [pytest.param(150, id="normal")])
async def test_hostile_peer_after_handshake_does_not_disturb_an_honest_one(
    sessions: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    net = Net("memory")
    rng = random.Random(11)
    # what a hostile peer may send once authenticated: mutated traffic frames
    traffic = valid_stream()[
        len(encode_frame(make_hello(THEIRS, CHAIN, THEIR_CHALLENGE, "n", 7))) :
    ]
    traffic = traffic[len(encode_frame(make_auth(THEIRS, CHAIN, OUR_CHALLENGE))) :]
    async with trio.open_nursery() as nursery:
        victim = await start_node(nursery, OURS, net.transport(), net.address())
        honest = await start_node(nursery, KEYS[1], net.transport(), net.address())
        honest.net.set_peers({victim.key: victim.address})
        await wait_until(lambda: honest.key in victim.net.connected())
        for i in range(sessions):
            await hostile_session(net, victim.address, mutate(traffic, rng))
            # the honest peer is still served after every hostile session
            honest.net.send(victim.key, status(1000 + i))
            await wait_until(
                lambda i=i: any(  # type: ignore[misc]
                    f.WhichOneof("kind") == "status" and f.status.top_height == 1000 + i
                    for f in victim.frames_from(honest.key)
                ),
                what=f"honest frame after hostile session {i}",
            )
        stats = victim.net.stats
        hostile = len(victim.frames_from(THEIRS.public_key.lower()))
        # closed and counted: protocol errors, unknown kinds dropped, or delivered if valid
        assert stats.protocol_errors + stats.dropped_unknown + hostile > 0
        assert stats.protocol_errors > sessions // 10, stats
        assert honest.key in victim.net.connected()
        await wait_until(lambda: THEIRS.public_key.lower() not in victim.net.connected())
        nursery.cancel_scope.cancel()
    bad = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert bad == []
