"""Frame decoder: any split, any garbage, limits checked before buffering."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.net.framing import FrameDecoder, ProtocolError, encode_body, encode_frame, encode_frames
from node.proto.peer import peer_pb2


def status(height: int, block_round: int = 0) -> peer_pb2.Frame:
    return peer_pb2.Frame(
        status=peer_pb2.Status(top_height=height, round=peer_pb2.Round(block_round=block_round))
    )


def test_prefix_is_big_endian_length() -> None:
    frame = status(7)
    body = frame.SerializeToString()
    assert encode_frame(frame) == len(body).to_bytes(4, "big") + body


def test_decodes_byte_by_byte() -> None:
    frames = [status(i) for i in range(5)] + [peer_pb2.Frame(auth=peer_pb2.Auth(signature=b"s"))]
    data = encode_frames(frames)
    dec = FrameDecoder(1024)
    out: list[peer_pb2.Frame] = []
    for i in range(len(data)):
        out += dec.feed(data[i : i + 1])
    assert out == frames
    assert dec.buffered == 0


def test_empty_frame_is_a_frame_without_kind() -> None:
    assert FrameDecoder(10).feed(b"\x00\x00\x00\x00")[0].WhichOneof("kind") is None


def test_oversized_prefix_refused_before_body_arrives() -> None:
    dec = FrameDecoder(100)
    with pytest.raises(ProtocolError, match="exceeds the limit of 100"):
        dec.feed((101).to_bytes(4, "big"))  # no body byte sent yet
    assert dec.buffered == 0
    # poisoned: the stream cannot be resynchronized
    with pytest.raises(ProtocolError):
        dec.feed(encode_frame(status(1)))


def test_limit_is_inclusive() -> None:
    body = status(123456).SerializeToString()
    assert FrameDecoder(len(body)).feed(encode_body(body)) == [status(123456)]


def test_initial_frames_have_their_own_limit() -> None:
    big = peer_pb2.Frame(auth=peer_pb2.Auth(signature=b"x" * 200))
    small = status(1)
    # two small handshake frames, then a big one pipelined in the same chunk: accepted
    dec = FrameDecoder(1000, initial_frames=2, initial_max_bytes=50)
    assert dec.feed(encode_frames([small, small, big])) == [small, small, big]
    # a big frame in handshake position is refused
    dec = FrameDecoder(1000, initial_frames=2, initial_max_bytes=50)
    with pytest.raises(ProtocolError):
        dec.feed(encode_frames([small, big]))


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x00\x00\x03\xff\xff\xff",  # truncated varint / bad tag
        b"\x00\x00\x00\x02\x0a\x05",  # length-delimited field running past the end
        b"\x00\x00\x00\x01\x00",  # field number 0
        b"GET / HTTP/1.1\r\n\r\n",  # length 0x47455420, far above the limit
    ],
)
def test_garbage_is_a_protocol_error(garbage: bytes) -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder(4096).feed(garbage)


frames_st = st.lists(
    st.one_of(
        st.builds(status, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
        st.builds(
            lambda sig: peer_pb2.Frame(auth=peer_pb2.Auth(signature=sig)), st.binary(max_size=300)
        ),
        st.builds(
            lambda key, ch: peer_pb2.Frame(hello=peer_pb2.Hello(public_key=key, challenge=ch)),
            st.text(max_size=80),
            st.binary(max_size=40),
        ),
        st.just(peer_pb2.Frame()),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(frames=frames_st, cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_valid_frames_split_anywhere_decode_identically(
    frames: list[peer_pb2.Frame], cuts: list[int]
) -> None:
    data = encode_frames(frames)
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    dec = FrameDecoder(4096)
    out: list[peer_pb2.Frame] = []
    for a, b in itertools.pairwise(points):
        out += dec.feed(data[a:b])
    assert out == frames
    assert [f.SerializeToString() for f in out] == [f.SerializeToString() for f in frames]
    assert dec.buffered == 0


@settings(max_examples=500, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(
            st.binary(max_size=64),
            # a plausible prefix followed by random bytes, to reach the protobuf parser
            st.builds(
                lambda b: len(b).to_bytes(4, "big") + b,
                st.binary(max_size=60),
            ),
        ),
        max_size=10,
    )
)
def test_arbitrary_bytes_raise_only_protocol_error(chunks: list[bytes]) -> None:
    dec = FrameDecoder(512, initial_frames=1, initial_max_bytes=40)
    for chunk in chunks:
        try:
            for frame in dec.feed(chunk):
                assert isinstance(frame, peer_pb2.Frame)
        except ProtocolError:
            # and the decoder stays failed
            with pytest.raises(ProtocolError):
                dec.feed(b"")
            return
        assert dec.buffered <= 512 + 4
