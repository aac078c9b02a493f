"""In-memory transport with the same interface as TCP, for tests and the simulation.

A :class:`MemoryHub` is a namespace of listen addresses (any strings). Each connection is
a pair of bounded byte pipes, so a peer that stops reading applies back-pressure exactly
like a full TCP window (``trio.testing.memory_stream_pair`` buffers without bound, which
would hide slow-peer bugs). Closing one end gives the other EOF on read and
``BrokenResourceError`` on write, as a socket does.
"""

from __future__ import annotations

import errno

import trio

from node.net.transport import StreamHandler

DEFAULT_PIPE_BYTES = 64 * 1024


class _Pipe:
    """One direction of a connection: a byte buffer of bounded size."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.buf = bytearray()
        self.writer_closed = False
        self.reader_closed = False
        self.lot = trio.lowlevel.ParkingLot()


class PipeSendStream(trio.abc.SendStream):
    def __init__(self, pipe: _Pipe) -> None:
        self._pipe = pipe
        self._busy = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        if self._busy:
            raise trio.BusyResourceError("another task is sending on this stream")
        pipe = self._pipe
        view = memoryview(data)
        self._busy = True
        try:
            while True:
                if pipe.writer_closed:
                    raise trio.ClosedResourceError("stream closed")
                if pipe.reader_closed:
                    raise trio.BrokenResourceError("other side closed")
                if not view:
                    return
                room = pipe.capacity - len(pipe.buf)
                if room <= 0:
                    await pipe.lot.park()
                    continue
                pipe.buf += view[:room]
                view = view[room:]
                pipe.lot.unpark_all()
        finally:
            self._busy = False

    async def wait_send_all_might_not_block(self) -> None:
        pipe = self._pipe
        while len(pipe.buf) >= pipe.capacity and not (pipe.reader_closed or pipe.writer_closed):
            await pipe.lot.park()
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        self._pipe.writer_closed = True
        self._pipe.lot.unpark_all()
        await trio.lowlevel.checkpoint()


class PipeReceiveStream(trio.abc.ReceiveStream):
    def __init__(self, pipe: _Pipe) -> None:
        self._pipe = pipe

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        pipe = self._pipe
        while True:
            if pipe.reader_closed:
                raise trio.ClosedResourceError("stream closed")
            if pipe.buf:
                n = len(pipe.buf) if max_bytes is None else min(max_bytes, len(pipe.buf))
                data = bytes(pipe.buf[:n])
                del pipe.buf[:n]
                pipe.lot.unpark_all()
                return data
            if pipe.writer_closed:
                return b""
            await pipe.lot.park()

    async def aclose(self) -> None:
        self._pipe.reader_closed = True
        self._pipe.buf.clear()
        self._pipe.lot.unpark_all()
        await trio.lowlevel.checkpoint()


MemoryStream = trio.StapledStream[PipeSendStream, PipeReceiveStream]


def memory_pipe_pair(capacity: int = DEFAULT_PIPE_BYTES) -> tuple[MemoryStream, MemoryStream]:
    """Two connected bidirectional streams, each direction buffering ``capacity`` bytes."""
    a_to_b, b_to_a = _Pipe(capacity), _Pipe(capacity)
    a = trio.StapledStream(PipeSendStream(a_to_b), PipeReceiveStream(b_to_a))
    b = trio.StapledStream(PipeSendStream(b_to_a), PipeReceiveStream(a_to_b))
    return a, b


class MemoryHub:
    """Shared by every :class:`MemoryTransport` of one test or simulated cluster."""

    def __init__(self, pipe_bytes: int = DEFAULT_PIPE_BYTES) -> None:
        self.pipe_bytes = pipe_bytes
        self._listeners: dict[str, tuple[trio.Nursery, StreamHandler]] = {}

    def transport(self) -> MemoryTransport:
        return MemoryTransport(self)

    def listening(self) -> set[str]:
        return set(self._listeners)


class MemoryTransport:
    def __init__(self, hub: MemoryHub) -> None:
        self.hub = hub

    async def connect(self, address: str) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        entry = self.hub._listeners.get(address)
        if entry is None:
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"nobody listens on {address}")
        nursery, handler = entry
        ours, theirs = memory_pipe_pair(self.hub.pipe_bytes)
        nursery.start_soon(handler, theirs)
        return ours

    async def serve(
        self,
        address: str,
        handler: StreamHandler,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        if address in self.hub._listeners:
            raise OSError(errno.EADDRINUSE, f"{address} is already in use")
        # handlers run in this nursery, so stopping the server ends its connections, as
        # trio.serve_tcp does
        async with trio.open_nursery() as nursery:
            self.hub._listeners[address] = (nursery, handler)
            try:
                task_status.started(address)
                await trio.sleep_forever()
            finally:
                self.hub._listeners.pop(address, None)
