"""A minimal raw HTTP/2 client (h2 on trio) for what grpcio will not send: odd headers,
compressed flags, half-sent requests, thousands of opened-and-reset streams."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.settings
import trio
from h2.errors import ErrorCodes


@dataclass
class Response:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    trailers: dict[bytes, bytes] = field(default_factory=dict)
    reset: int | None = None
    done: trio.Event = field(default_factory=trio.Event)

    @property
    def grpc_status(self) -> int | None:
        value = self.trailers.get(b"grpc-status", self.headers.get(b"grpc-status"))
        return None if value is None else int(value)

    @property
    def grpc_message(self) -> bytes:
        return self.trailers.get(b"grpc-message", self.headers.get(b"grpc-message", b""))


def grpc_frame(payload: bytes, flag: int = 0) -> bytes:
    return struct.pack(">BI", flag, len(payload)) + payload


class RawClient:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.responses: dict[int, Response] = {}
        self.closed = trio.Event()
        self.goaway: tuple[int, int] | None = None  # (last_stream_id, error_code)
        self.send_lock = trio.Lock()
        self.inbuf = bytearray()
        self.auto_ack = True  # acknowledge received DATA (False: let the server's window run dry)
        self.unacked: list[tuple[int, int]] = []

    async def flush(self) -> None:
        async with self.send_lock:  # the reader task flushes too (acks, window updates)
            data = self.conn.data_to_send()
            if data:
                await self.stream.send_all(data)

    def _strip_goaway(self, data: bytes) -> bytes:
        """Record and drop GOAWAY frames: h2 refuses every frame after one, while HTTP/2 lets
        the streams it covers finish, which is exactly what a graceful shutdown test needs."""
        self.inbuf += data
        out = bytearray()
        while len(self.inbuf) >= 9:
            length = int.from_bytes(self.inbuf[:3], "big")
            if len(self.inbuf) < 9 + length:
                break
            frame, self.inbuf = self.inbuf[: 9 + length], self.inbuf[9 + length :]
            if frame[3] == 0x7:
                last = int.from_bytes(frame[9:13], "big") & 0x7FFFFFFF
                self.goaway = (last, int.from_bytes(frame[13:17], "big"))
            else:
                out += frame
        return bytes(out)

    async def _reader(self) -> None:
        try:
            while True:
                data = await self.stream.receive_some(65536)
                if not data:
                    break
                for ev in self.conn.receive_data(self._strip_goaway(data)):
                    self._on_event(ev)
                await self.flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.closed.set()
            for r in self.responses.values():
                r.done.set()

    def _on_event(self, ev: h2.events.Event) -> None:
        sid = getattr(ev, "stream_id", None)
        r = self.responses.get(sid) if sid else None
        if isinstance(ev, h2.events.ResponseReceived) and r is not None:
            r.headers = dict(ev.headers)
        elif isinstance(ev, h2.events.DataReceived) and r is not None:
            r.data += ev.data or b""
            if self.auto_ack:
                self.conn.acknowledge_received_data(ev.flow_controlled_length or 0, ev.stream_id)
            else:
                self.unacked.append((ev.flow_controlled_length or 0, ev.stream_id))
        elif isinstance(ev, h2.events.TrailersReceived) and r is not None:
            r.trailers = dict(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded) and r is not None:
            r.done.set()
        elif isinstance(ev, h2.events.StreamReset) and r is not None:
            r.reset = ev.error_code
            r.done.set()

    def start_request(
        self,
        path: bytes,
        body: bytes | None,
        *,
        method: bytes = b"POST",
        content_type: bytes = b"application/grpc",
        extra: list[tuple[bytes, bytes]] | None = None,
        end_stream: bool = True,
    ) -> int:
        """Queue a request (call flush() to send it); returns the stream id."""
        sid = self.conn.get_next_available_stream_id()
        headers = [
            (b":method", method),
            (b":scheme", b"http"),
            (b":path", path),
            (b":authority", b"localhost"),
            (b"content-type", content_type),
            (b"te", b"trailers"),
            *(extra or []),
        ]
        self.responses[sid] = Response()
        self.conn.send_headers(sid, headers, end_stream=body is None and end_stream)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=end_stream)
        return sid

    async def request(self, path: bytes, body: bytes | None, **kw: object) -> Response:
        sid = self.start_request(path, body, **kw)  # type: ignore[arg-type]
        await self.flush()
        r = self.responses[sid]
        with trio.fail_after(10):
            await r.done.wait()
        return r

    async def ack_all(self) -> None:
        self.auto_ack = True
        for size, sid in self.unacked:
            self.conn.acknowledge_received_data(size, sid)
        self.unacked.clear()
        await self.flush()

    async def reset(self, sid: int) -> None:
        self.conn.reset_stream(sid, ErrorCodes.CANCEL)
        await self.flush()


@asynccontextmanager
async def raw_client(
    port: int, settings: dict[h2.settings.SettingCodes, int] | None = None
) -> AsyncIterator[RawClient]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    client = RawClient(stream)
    if settings:
        client.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
    client.conn.initiate_connection()
    await client.flush()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client._reader)
        try:
            yield client
        finally:
            nursery.cancel_scope.cancel()
            await trio.aclose_forcefully(stream)
