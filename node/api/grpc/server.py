"""gRPC over HTTP/2 on trio: h2 (sans-IO) drives each connection; handlers are async functions.

Per connection: one task reads the socket, feeds h2 and dispatches its events; one writer task
sends whatever h2 has queued (so the responses of many streams produced in one scheduler pass
go out in one ``send_all``); one task per stream runs the handler under the stream's own
cancel scope, which carries the ``grpc-timeout`` deadline and is cancelled on RST_STREAM.
h2 is only touched from trio tasks of the one thread, between checkpoints, so it needs no lock.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import trio
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame

from node.api.grpc.methods import Method, ServiceContext
from node.api.grpc.status import GrpcError, Status, encode_grpc_message, parse_grpc_timeout

_log = logging.getLogger("node.api.grpc")

_PREFIX = struct.Struct(">BI")  # compressed flag, big-endian message length
_RECV_BYTES = 65536
_STREAM_WINDOW = 1 << 20  # per-stream receive window we advertise
_CONN_WINDOW = 1 << 24  # connection receive window: data is acknowledged as soon as it arrives
_HIGH_WATER = 1 << 20  # queued-but-unwritten bytes above which a sending stream waits
_FINAL_FLUSH_S = 1.0  # how long a closing connection may spend sending its last frames

_RESPONSE_HEADERS = [(b":status", b"200"), (b"content-type", b"application/grpc")]
_OK_TRAILERS = [(b"grpc-status", b"0")]
_STATUS_BYTES = {s: str(int(s)).encode() for s in Status}

MAX_CLOSED_STREAMS = 512
_H2_CONFIG = h2.config.H2Configuration(
    client_side=False,
    header_encoding=None,  # keep headers as bytes: no per-header decode on the hot path
    validate_outbound_headers=False,  # we only send constant, well-formed headers
    normalize_outbound_headers=False,
    validate_inbound_headers=True,
    normalize_inbound_headers=False,
)


class _StreamGone(Exception):
    """The stream can no longer be answered (client reset it, or the connection closed)."""


class _Stream:
    __slots__ = (
        "body",
        "closed",
        "complete",
        "deadline",
        "ended",
        "headers",
        "headers_sent",
        "id",
        "method",
        "msg_len",
        "path",
        "scope",
        "waiter",
    )

    def __init__(
        self,
        stream_id: int,
        path: str,
        method: Method,
        headers: list[tuple[bytes, bytes]],
        deadline: float | None,
    ) -> None:
        self.id = stream_id
        self.path = path
        self.method = method
        self.headers = headers
        self.deadline = deadline
        self.body: bytes | bytearray = b""
        self.msg_len = -1  # declared length of the request message, once its prefix arrived
        self.ended = False  # client half-closed (END_STREAM received)
        self.closed = False  # nothing more may be sent: reset by client or already answered
        self.headers_sent = False
        self.complete: trio.Event | None = None  # set when the request ends (created lazily)
        self.waiter: trio.Event | None = None  # flow-control wait for WINDOW_UPDATE
        self.scope = trio.CancelScope(deadline=deadline if deadline is not None else float("inf"))


class GrpcServer:
    """A gRPC server for unary and server-streaming methods.

    ``methods`` maps full paths ("/package.Service/Method") to :func:`unary` /
    :func:`server_stream` descriptors. Limits: ``max_message_bytes`` per request message
    (larger ones get RESOURCE_EXHAUSTED before they are buffered), ``max_concurrent_streams``
    per connection (advertised in SETTINGS), ``max_concurrent_handlers`` over the whole
    server (beyond it: RESOURCE_EXHAUSTED), ``max_connections`` (beyond it: closed at once).
    With ``keepalive_interval`` set, idle connections are pinged and closed when the ping is
    not answered within ``keepalive_timeout``.
    """

    def __init__(
        self,
        methods: Mapping[str, Method],
        *,
        max_message_bytes: int = 4 * 1024 * 1024,
        max_concurrent_streams: int = 256,
        max_concurrent_handlers: int = 1024,
        max_connections: int = 1024,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_interval: float | None = None,
        keepalive_timeout: float = 20.0,
        handshake_timeout: float = 10.0,
    ) -> None:
        self._methods: dict[bytes, tuple[str, Method]] = {
            path.encode("ascii"): (path, m) for path, m in methods.items()
        }
        self.max_message_bytes = max_message_bytes
        self.max_concurrent_streams = max_concurrent_streams
        self.max_concurrent_handlers = max_concurrent_handlers
        self.max_connections = max_connections
        self.keepalive_interval = keepalive_interval
        self.keepalive_timeout = keepalive_timeout
        self.handshake_timeout = handshake_timeout
        self._ssl_context = ssl_context
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2"])
        self._settings = {
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 16,
        }
        self._connections: set[_Connection] = set()
        self._live_connections = 0  # including those still in the TLS handshake
        self._live_streams = 0
        self._shutdown_requested = trio.Event()
        self._grace = 0.0
        self._stopped = trio.Event()
        self._no_connections: trio.Event | None = None
        self.ports: list[int] = []

    # --- observability -------------------------------------------------------------------

    @property
    def live_streams(self) -> int:
        """Streams with a running task (handler or waiting for its request)."""
        return self._live_streams

    @property
    def live_connections(self) -> int:
        return self._live_connections

    @property
    def port(self) -> int:
        """The first bound port (after :meth:`serve` started)."""
        return self.ports[0]

    # --- lifecycle -----------------------------------------------------------------------

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled or :meth:`shutdown`; ``nursery.start`` returns the port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.ports = [ln.socket.getsockname()[1] for ln in listeners]
        try:
            async with trio.open_nursery() as conn_nursery:
                async with trio.open_nursery() as accept_nursery:
                    await accept_nursery.start(
                        partial(
                            trio.serve_listeners,
                            self._handle_tcp,
                            listeners,
                            handler_nursery=conn_nursery,
                        )
                    )
                    task_status.started(self.ports[0])
                    await self._shutdown_requested.wait()
                    accept_nursery.cancel_scope.cancel()  # stop accepting, close listeners
                # Graceful: GOAWAY everywhere, let in-flight calls finish until the grace runs out.
                with trio.move_on_after(self._grace):
                    for c in list(self._connections):
                        c.start_drain()
                    while self._live_connections:
                        self._no_connections = trio.Event()
                        await self._no_connections.wait()
                conn_nursery.cancel_scope.cancel()
        finally:
            self._stopped.set()

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop accepting, send GOAWAY, wait up to ``grace`` s for in-flight calls, then close."""
        self._grace = grace
        self._shutdown_requested.set()
        await self._stopped.wait()

    # --- connections ---------------------------------------------------------------------

    async def _handle_tcp(self, tcp: trio.SocketStream) -> None:
        if self._live_connections >= self.max_connections:
            await trio.aclose_forcefully(tcp)
            return
        self._live_connections += 1
        try:
            peer = _peer_name(tcp.socket)
            stream: trio.abc.Stream = tcp
            if self._ssl_context is not None:
                ssl_stream = trio.SSLStream(tcp, self._ssl_context, server_side=True)
                ok = False
                with trio.move_on_after(self.handshake_timeout):
                    try:
                        await ssl_stream.do_handshake()
                        ok = True
                    except trio.BrokenResourceError as e:
                        _log.debug("TLS handshake with %s failed: %s", peer, e)
                if not ok:
                    await trio.aclose_forcefully(ssl_stream)
                    return
                stream = ssl_stream
            conn = _Connection(self, stream, peer)
            self._connections.add(conn)
            try:
                await conn.run()
            except Exception:
                # A bug in event handling must cost one connection, never the server.
                _log.exception("gRPC connection from %s failed", peer)
            finally:
                self._connections.discard(conn)
        finally:
            self._live_connections -= 1
            if self._no_connections is not None and not self._live_connections:
                self._no_connections.set()


class _Connection:
    def __init__(self, server: GrpcServer, stream: trio.abc.Stream, peer: str) -> None:
        self.server = server
        self.stream = stream
        self.peer = peer
        self.conn = h2.connection.H2Connection(config=_H2_CONFIG)
        # h2 remembers 2**16 closed stream ids per connection (~6.5 MB); a few hundred
        # cover late frames for streams just closed and keep 1,024 connections bounded.
        self.conn.MAX_CLOSED_STREAMS = MAX_CLOSED_STREAMS
        self.streams: dict[int, _Stream] = {}
        self.nursery: trio.Nursery | None = None
        self.read_scope = trio.CancelScope()
        self.wake = trio.Event()  # set to make the writer look at h2's output
        self.flushed: trio.Event | None = None  # set after the next send_all (backpressure)
        self.writer_done = trio.Event()
        self.unflushed = 0
        self.closing = False
        self.draining = False
        self.goaway_last = -1
        self.extra = b""  # raw frames h2 cannot send for us (a graceful GOAWAY)
        self.last_recv = 0.0
        self.ping_acked: trio.Event | None = None

    async def run(self) -> None:
        conn = self.conn
        conn.local_settings = h2.settings.Settings(
            client=False, initial_values=self.server._settings
        )
        conn.initiate_connection()
        conn.increment_flow_control_window(_CONN_WINDOW - 65535)
        if self.server._shutdown_requested.is_set():
            self.start_drain()  # accepted (or TLS-handshaking) just as the shutdown began
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                nursery.start_soon(self._write_loop)
                if self.server.keepalive_interval is not None:
                    nursery.start_soon(self._keepalive_loop, self.server.keepalive_interval)
                with self.read_scope:
                    await self._read_loop()
                # The connection is over (EOF, protocol error, GOAWAY, drained, dead peer):
                # in-flight handlers are cancelled, and the last frames (GOAWAY) flushed.
                for st in self.streams.values():
                    st.closed = True
                    st.scope.cancel()
                self.closing = True
                self.wake.set()
                with trio.move_on_after(_FINAL_FLUSH_S):
                    await self.writer_done.wait()
                nursery.cancel_scope.cancel()
        finally:
            await trio.aclose_forcefully(self.stream)

    def start_drain(self) -> None:
        """Graceful close: GOAWAY(last seen stream), refuse newer streams, close when idle."""
        if self.draining or self.closing:
            return
        self.draining = True
        self.goaway_last = self.conn.highest_inbound_stream_id
        # h2 moves to CLOSED on its own GOAWAY and would then refuse to finish in-flight
        # streams, so this frame is built by hand and written after h2's output.
        self.extra += GoAwayFrame(0, last_stream_id=self.goaway_last, error_code=0).serialize()
        self.wake.set()
        if not self.streams:
            self.read_scope.cancel()

    # --- I/O loops -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        conn = self.conn
        receive = self.stream.receive_some
        keepalive = self.server.keepalive_interval is not None
        if keepalive:
            self.last_recv = trio.current_time()
        while True:
            try:
                data = await receive(_RECV_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            if keepalive:
                self.last_recv = trio.current_time()
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError as e:
                # h2 has queued a GOAWAY with the error code; run() flushes it and closes.
                _log.debug("HTTP/2 protocol error from %s: %s", self.peer, e)
                return
            for ev in events:
                cls = ev.__class__
                if cls is h2.events.DataReceived:
                    self._on_data(ev)  # type: ignore[arg-type]
                elif cls is h2.events.RequestReceived:
                    self._on_request(ev)  # type: ignore[arg-type]
                elif cls is h2.events.StreamEnded:
                    self._on_end(ev.stream_id)  # type: ignore[attr-defined]
                elif cls is h2.events.StreamReset:
                    self._on_reset(ev.stream_id)  # type: ignore[attr-defined]
                elif cls is h2.events.WindowUpdated:
                    self._on_window(ev.stream_id)  # type: ignore[attr-defined]
                elif cls is h2.events.RemoteSettingsChanged:
                    self._on_window(0)
                elif cls is h2.events.PingAckReceived:
                    if self.ping_acked is not None:
                        self.ping_acked.set()
                elif cls is h2.events.ConnectionTerminated:
                    # Client GOAWAY: h2 is now closed for sending too; nothing more to do.
                    self.wake.set()
                    return
            self.wake.set()

    async def _write_loop(self) -> None:
        conn = self.conn
        send_all = self.stream.send_all
        try:
            while True:
                data = conn.data_to_send()
                if self.extra:
                    data, self.extra = data + self.extra, b""
                if data:
                    self.unflushed = 0
                    await send_all(data)
                    if self.flushed is not None:
                        self.flushed.set()
                        self.flushed = None
                    continue
                if self.closing:
                    return
                if self.wake.is_set():
                    self.wake = trio.Event()
                    continue
                await self.wake.wait()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.read_scope.cancel()  # the peer is gone: stop reading too
        finally:
            self.writer_done.set()

    async def _keepalive_loop(self, interval: float) -> None:
        timeout = self.server.keepalive_timeout
        while True:
            await trio.sleep_until(self.last_recv + interval)
            if trio.current_time() < self.last_recv + interval:
                continue  # something arrived meanwhile: not idle
            self.ping_acked = trio.Event()
            try:
                self.conn.ping(b"bakongKA")
            except h2.exceptions.ProtocolError:
                return
            self.wake.set()
            with trio.move_on_after(timeout):
                await self.ping_acked.wait()
            if not self.ping_acked.is_set():
                _log.info("closing gRPC connection from %s: keepalive ping unanswered", self.peer)
                self.read_scope.cancel()
                return
            self.ping_acked = None

    # --- h2 events -------------------------------------------------------------------------

    def _on_request(self, ev: h2.events.RequestReceived) -> None:
        sid = ev.stream_id
        headers: list[tuple[bytes, bytes]] = ev.headers
        ended = ev.stream_ended is not None
        if self.draining and sid > self.goaway_last:
            self._safe(self.conn.reset_stream, sid, ErrorCodes.REFUSED_STREAM)
            return
        method = path = ctype = timeout = None
        for name, value in headers:
            if name == b":path":
                path = value
            elif name == b":method":
                method = value
            elif name == b"content-type":
                ctype = value
            elif name == b"grpc-timeout":
                timeout = value
        if method != b"POST":
            self._http_error(sid, b"405", "gRPC requires POST", ended, [(b"allow", b"POST")])
            return
        if ctype is None or not ctype.startswith(b"application/grpc"):
            self._http_error(sid, b"415", "invalid gRPC request content-type", ended, [])
            return
        entry = self.server._methods.get(path) if path is not None else None
        if entry is None:
            shown = (path or b"").decode("utf-8", "replace")
            self._trailers_only(sid, Status.UNIMPLEMENTED, f"Method not found: {shown}", ended)
            return
        server = self.server
        if server._live_streams >= server.max_concurrent_handlers:
            self._trailers_only(sid, Status.RESOURCE_EXHAUSTED, "too many concurrent calls", ended)
            return
        deadline = None
        if timeout is not None:
            try:
                deadline = trio.current_time() + parse_grpc_timeout(timeout)
            except ValueError as e:
                self._trailers_only(sid, Status.INTERNAL, str(e), ended)
                return
        st = _Stream(sid, entry[0], entry[1], headers, deadline)
        self.streams[sid] = st
        server._live_streams += 1
        assert self.nursery is not None
        self.nursery.start_soon(self._run_stream, st)

    def _on_data(self, ev: h2.events.DataReceived) -> None:
        sid: int = ev.stream_id
        # Hand the window back at once: the message-size check bounds what one stream buffers.
        self.conn.acknowledge_received_data(ev.flow_controlled_length or 0, sid)
        st = self.streams.get(sid)
        if st is None or st.closed or ev.data is None:
            return
        body = st.body
        if body:
            if isinstance(body, bytes):
                body = bytearray(body)
            body += ev.data
        else:
            body = ev.data
        st.body = body
        if st.msg_len < 0 and len(body) >= 5:
            flag, length = _PREFIX.unpack_from(body)
            if flag:
                if flag == 1:
                    self._fail(st, Status.UNIMPLEMENTED, "compressed messages are not supported")
                else:
                    self._fail(st, Status.INTERNAL, f"invalid message flag {flag}")
                return
            if length > self.server.max_message_bytes:
                self._fail(
                    st,
                    Status.RESOURCE_EXHAUSTED,
                    f"Received message larger than max ({length} vs. "
                    f"{self.server.max_message_bytes})",
                )
                return
            st.msg_len = length
        if 0 <= st.msg_len < len(body) - 5:
            self._fail(st, Status.INTERNAL, "more than one request message in a unary request")

    def _on_end(self, sid: int) -> None:
        st = self.streams.get(sid)
        if st is None:
            return
        st.ended = True
        if st.complete is not None:
            st.complete.set()

    def _on_reset(self, sid: int) -> None:
        st = self.streams.get(sid)
        if st is not None:
            st.closed = True
            st.scope.cancel()

    def _on_window(self, sid: int) -> None:
        if sid:
            st = self.streams.get(sid)
            if st is not None and st.waiter is not None:
                st.waiter.set()
            return
        for st in self.streams.values():
            if st.waiter is not None:
                st.waiter.set()

    # --- answers without a handler ------------------------------------------------------

    def _safe(self, fn: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            fn(*args, **kwargs)
            return True
        except h2.exceptions.ProtocolError:
            return False  # the stream or connection is already closed: nobody to answer

    def _trailers_only(self, sid: int, status: Status, message: str, ended: bool) -> None:
        headers = [
            *_RESPONSE_HEADERS,
            (b"grpc-status", _STATUS_BYTES[status]),
            (b"grpc-message", encode_grpc_message(message)),
        ]
        if self._safe(self.conn.send_headers, sid, headers, end_stream=True) and not ended:
            # Tell the client to stop sending a request nobody will read.
            self._safe(self.conn.reset_stream, sid, ErrorCodes.NO_ERROR)

    def _http_error(
        self,
        sid: int,
        status: bytes,
        message: str,
        ended: bool,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        headers = [
            (b":status", status),
            (b"content-type", b"text/plain; charset=utf-8"),
            *extra,
            (b"grpc-status", _STATUS_BYTES[Status.INTERNAL]),
            (b"grpc-message", encode_grpc_message(message)),
        ]
        if self._safe(self.conn.send_headers, sid, headers, end_stream=True) and not ended:
            self._safe(self.conn.reset_stream, sid, ErrorCodes.NO_ERROR)

    def _fail(self, st: _Stream, status: Status, message: str) -> None:
        """Answer a stream whose request is unacceptable before its handler started."""
        st.closed = True
        st.scope.cancel()
        self._trailers_only(st.id, status, message, st.ended)

    # --- streams with a handler --------------------------------------------------------------

    async def _run_stream(self, st: _Stream) -> None:
        try:
            with st.scope:
                if not st.ended:
                    st.complete = trio.Event()
                    await st.complete.wait()
                await self._call(st)
            # Only our deadline cancels this scope without closing the stream.
            if st.scope.cancelled_caught and not st.closed:
                self._finish(st, Status.DEADLINE_EXCEEDED, "Deadline Exceeded")
        except _StreamGone:
            pass
        finally:
            del self.streams[st.id]
            self.server._live_streams -= 1
            if self.draining and not self.streams:
                self.read_scope.cancel()

    async def _call(self, st: _Stream) -> None:
        body = st.body
        if len(body) < 5 or len(body) != 5 + st.msg_len:
            status, text = Status.INTERNAL, "missing or incomplete request message"
        else:
            method = st.method
            try:
                # upb parses any buffer: no copy of the request bytes.
                request = method.request_type.FromString(memoryview(body)[5:])  # type: ignore[arg-type]
            except Exception as e:
                name = method.request_type.DESCRIPTOR.full_name
                self._finish(st, Status.INVALID_ARGUMENT, f"cannot decode {name}: {e}")
                return
            st.body = b""  # drop the buffer while the handler runs
            ctx = ServiceContext(st.path, self.peer, st.deadline, st.headers)
            try:
                if method.streaming:
                    agen: AsyncIterator[Any] = method.handler(request, ctx)
                    async with contextlib.aclosing(agen):  # type: ignore[type-var]
                        async for reply in agen:
                            await self._send_message(st, reply.SerializeToString())
                else:
                    reply = await method.handler(request, ctx)
                    await self._send_message(st, reply.SerializeToString())
            except _StreamGone:
                raise
            except GrpcError as e:
                status, text = e.status, e.message
            except ExceptionGroup as eg:
                status, text = _status_of_group(eg, st.path)
            except Exception:
                _log.exception("gRPC handler %s failed", st.path)
                status, text = Status.INTERNAL, "internal error"
            else:
                status, text = Status.OK, ""
        self._finish(st, status, text)

    def _finish(self, st: _Stream, status: Status, message: str) -> None:
        if st.closed:
            return
        st.closed = True
        if not st.headers_sent:
            self._trailers_only(st.id, status, message, st.ended)
        else:
            if status is Status.OK:
                trailers = _OK_TRAILERS
            else:
                trailers = [
                    (b"grpc-status", _STATUS_BYTES[status]),
                    (b"grpc-message", encode_grpc_message(message)),
                ]
            self._safe(self.conn.send_headers, st.id, trailers, end_stream=True)
        self.wake.set()

    async def _send_message(self, st: _Stream, payload: bytes) -> None:
        if st.closed:
            raise _StreamGone
        data = _PREFIX.pack(0, len(payload)) + payload
        conn = self.conn
        sid = st.id
        try:
            if not st.headers_sent:
                conn.send_headers(sid, _RESPONSE_HEADERS)
                st.headers_sent = True
            total = len(data)
            off = 0
            while True:
                size = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if size > 0:
                    if off == 0 and size >= total:
                        conn.send_data(sid, data)
                        self.unflushed += total
                        break
                    size = min(size, total - off)
                    conn.send_data(sid, memoryview(data)[off : off + size])
                    off += size
                    self.unflushed += size
                    if off >= total:
                        break
                else:
                    # The peer's window is shut: flush and wait for its WINDOW_UPDATE.
                    self.wake.set()
                    st.waiter = trio.Event()
                    await st.waiter.wait()
                    st.waiter = None
                    if st.closed:
                        raise _StreamGone
        except h2.exceptions.ProtocolError as e:
            st.closed = True
            raise _StreamGone from e
        self.wake.set()
        while self.unflushed > _HIGH_WATER:
            # The socket is slower than this stream produces: wait for the writer.
            if self.flushed is None:
                self.flushed = trio.Event()
            await self.flushed.wait()
        if st.closed:
            raise _StreamGone


def _status_of_group(eg: ExceptionGroup[Exception], path: str) -> tuple[Status, str]:
    """A handler's nursery raised: use the first GrpcError inside, else INTERNAL."""
    match, _ = eg.split(GrpcError)
    if match is not None:
        first: BaseException = match
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        assert isinstance(first, GrpcError)
        return first.status, first.message
    _log.error("gRPC handler %s failed", path, exc_info=eg)
    return Status.INTERNAL, "internal error"


def _peer_name(sock: trio.socket.SocketType) -> str:
    try:
        addr = sock.getpeername()
    except OSError:
        return "unknown"
    if sock.family == socket.AF_INET6:
        return f"ipv6:[{addr[0]}]:{addr[1]}"
    if sock.family == socket.AF_INET:
        return f"ipv4:{addr[0]}:{addr[1]}"
    return str(addr)
