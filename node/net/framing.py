"""Length-prefixed framing of ``bakong.peer.Frame`` messages, sans-IO.

On the wire every message is ``len (4 bytes, big-endian) || Frame``. The decoder owns no
socket: it is fed whatever bytes arrived (any split) and returns the complete frames, in the
style of h2's ``receive_data``. It raises only :class:`ProtocolError`, so a reader task has
exactly one failure to handle for any hostile input.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import DecodeError

from node.proto.peer import peer_pb2

Frame = peer_pb2.Frame

LENGTH_BYTES = 4
_MAX_LENGTH_FIELD = (1 << (8 * LENGTH_BYTES)) - 1


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid frame stream; the connection must close."""


def encode_body(body: bytes) -> bytes:
    """Prefix an already serialized Frame with its length."""
    if len(body) > _MAX_LENGTH_FIELD:
        raise ValueError(f"frame of {len(body)} bytes does not fit the length prefix")
    return len(body).to_bytes(LENGTH_BYTES, "big") + body


def encode_frame(frame: peer_pb2.Frame) -> bytes:
    """Serialize one Frame with its length prefix."""
    return encode_body(frame.SerializeToString())


def encode_frames(frames: Iterable[peer_pb2.Frame]) -> bytes:
    """Serialize several frames into one buffer (one write for the whole batch)."""
    return b"".join(encode_frame(f) for f in frames)


class FrameDecoder:
    """Incremental decoder: ``feed(chunk)`` returns the frames completed by that chunk.

    The length prefix is checked against ``max_frame_bytes`` as soon as its 4 bytes are
    in, so an oversized frame is refused before any of its body is buffered; at most one
    frame body (plus one prefix) is ever held. After a :class:`ProtocolError` the decoder
    is poisoned and every further ``feed`` raises again: the stream cannot be resynchronized.
    """

    def __init__(
        self, max_frame_bytes: int, *, initial_frames: int = 0, initial_max_bytes: int = 0
    ) -> None:
        # The first ``initial_frames`` frames (the handshake, from a peer not yet
        # authenticated) are held to the smaller ``initial_max_bytes``. The limit is
        # per frame position, not per phase, so frames pipelined right behind the
        # handshake in the same chunk already get the full limit.
        self.max_frame_bytes = max_frame_bytes
        self._initial_frames = initial_frames
        self._initial_max = initial_max_bytes
        self._count = 0
        self._buf = bytearray()
        self._need: int | None = None  # body length of the frame being read, once known
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[peer_pb2.Frame]:
        if self._error is not None:
            raise self._error
        self._buf += data
        frames: list[peer_pb2.Frame] = []
        try:
            while True:
                if self._need is None:
                    if len(self._buf) < LENGTH_BYTES:
                        break
                    size = int.from_bytes(self._buf[:LENGTH_BYTES], "big")
                    limit = self._limit()
                    if size > limit:
                        raise ProtocolError(f"frame of {size} bytes exceeds the limit of {limit}")
                    del self._buf[:LENGTH_BYTES]
                    self._need = size
                if len(self._buf) < self._need:
                    break
                body = bytes(self._buf[: self._need])
                del self._buf[: self._need]
                self._need = None
                self._count += 1
                frames.append(_parse(body))
        except ProtocolError as exc:
            self._error = exc
            self._buf.clear()
            raise
        return frames

    def _limit(self) -> int:
        if self._count < self._initial_frames:
            return min(self._initial_max, self.max_frame_bytes)
        return self.max_frame_bytes


def _parse(body: bytes) -> peer_pb2.Frame:
    frame = peer_pb2.Frame()
    try:
        frame.ParseFromString(body)
    except DecodeError as exc:
        raise ProtocolError(f"malformed frame: {exc}") from None
    except Exception as exc:  # any parser failure on peer bytes is the peer's fault
        raise ProtocolError(f"malformed frame: {exc}") from None
    return frame
