"""A byte stream (TCP, TLS or in-memory) read and written as whole frames."""

from __future__ import annotations

from collections import deque

import trio

from node.net.framing import FrameDecoder, ProtocolError
from node.proto.peer import peer_pb2

READ_CHUNK = 64 * 1024


class FramedStream:
    """Wraps any ``trio.abc.Stream``; the peer layer never sees which transport it is.

    Reading is done by one task at a time (the handshake, then the connection's reader);
    frames decoded ahead of need stay queued here, so nothing pipelined behind the
    handshake is lost.
    """

    def __init__(self, stream: trio.abc.Stream, decoder: FrameDecoder) -> None:
        self.stream = stream
        self.decoder = decoder
        self._ready: deque[peer_pb2.Frame] = deque()
        self.bytes_received = 0

    async def receive_frame(self) -> peer_pb2.Frame | None:
        """Next frame, or None on a clean end of stream. Raises ProtocolError on bad bytes
        (including a stream that ends in the middle of a frame)."""
        while not self._ready:
            data = await self.stream.receive_some(READ_CHUNK)
            if not data:
                if self.decoder.buffered:
                    raise ProtocolError("stream ended inside a frame")
                return None
            self.bytes_received += len(data)
            self._ready.extend(self.decoder.feed(data))
        return self._ready.popleft()

    async def send_all(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send_eof(self) -> None:
        """End our direction only, where the transport can (TCP, memory pipes); the other
        side reads EOF and may still write. A no-op on TLS, which cannot half-close."""
        if isinstance(self.stream, trio.abc.HalfCloseableStream):
            await self.stream.send_eof()

    async def aclose(self) -> None:
        # forcefully: a TLS close_notify to a dead peer must not hang the caller
        await trio.aclose_forcefully(self.stream)
