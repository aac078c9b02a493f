"""A small gRPC client over HTTP/2 on trio (h2 is the sans-IO protocol engine).

One :class:`Channel` is one HTTP/2 connection that multiplexes any number of calls.
Two tasks own the socket: a reader that feeds bytes to h2 and dispatches its events to
per-call state, and a writer that flushes whatever h2 has queued. Calls mutate the h2
connection synchronously (never awaiting in between) and then wake the writer, so many
concurrent calls are coalesced into few socket writes.

Flow control: a call acknowledges received bytes when its own task takes them, so a
consumer that stops reading stops the server (after one window) instead of growing a
buffer; large requests are sent in window-sized pieces.

Why not grpcio: it is not trio-native, and the devnet, benchmarks and CLI are trio programs.
"""

from __future__ import annotations

import math
import ssl
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Final, TypeVar

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import trio
from google.protobuf.message import DecodeError, Message

from node.api.grpc.status import Status

M = TypeVar("M", bound=Message)
T = TypeVar("T")

#: Iroha's server limit (``kMaxMessageSize``); also our default receive limit.
DEFAULT_MAX_MESSAGE_SIZE: Final = 128 * 1024 * 1024
#: Per-stream receive window we advertise (h2's default 64 KiB throttles block streams).
STREAM_WINDOW: Final = 1 << 20
#: Connection receive window, shared by all calls.
CONNECTION_WINDOW: Final = 16 << 20
#: Bytes asked from the socket per read.
READ_SIZE: Final = 256 * 1024
DEFAULT_PORT: Final = 50051
USER_AGENT: Final = b"bakong-node-client/0.1"


# One definition of the canonical codes, shared with the server layer (a plain enum
# module: importing it brings nothing of the server).
StatusCode = Status


class GrpcError(Exception):
    """A call ended with a non-OK gRPC status (from the server or decided locally)."""

    def __init__(self, code: StatusCode | int, message: str = "") -> None:
        try:
            status = StatusCode(code)
        except ValueError:
            status = StatusCode.UNKNOWN
        self.code: StatusCode = status
        self.message: str = message
        super().__init__(f"{status.name}: {message}" if message else status.name)


class GrpcConnectionError(ConnectionError):
    """The channel could not be opened (TCP connect, TLS handshake or ALPN failed)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"cannot connect to {_authority(host, port)}: {reason}")


# HTTP status -> gRPC code when a response is not a gRPC one (grpc/doc/http-grpc-status-mapping.md).
_HTTP_TO_GRPC: Final = {
    400: StatusCode.INTERNAL,
    401: StatusCode.UNAUTHENTICATED,
    403: StatusCode.PERMISSION_DENIED,
    404: StatusCode.UNIMPLEMENTED,
    429: StatusCode.UNAVAILABLE,
    502: StatusCode.UNAVAILABLE,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.UNAVAILABLE,
}

# RST_STREAM error code from the server -> gRPC code (same document, "Errors" section).
_RST_TO_GRPC: Final = {
    h2.errors.ErrorCodes.NO_ERROR: StatusCode.INTERNAL,
    h2.errors.ErrorCodes.REFUSED_STREAM: StatusCode.UNAVAILABLE,
    h2.errors.ErrorCodes.CANCEL: StatusCode.CANCELLED,
    h2.errors.ErrorCodes.ENHANCE_YOUR_CALM: StatusCode.RESOURCE_EXHAUSTED,
    h2.errors.ErrorCodes.INADEQUATE_SECURITY: StatusCode.PERMISSION_DENIED,
}

_TIMEOUT_UNITS: Final = ((1e9, b"n"), (1e6, b"u"), (1e3, b"m"), (1.0, b"S"), (1 / 60, b"M"))


def encode_timeout(seconds: float) -> bytes:
    """``grpc-timeout`` value: at most 8 digits and a unit, rounded up."""
    for scale, unit in _TIMEOUT_UNITS:
        value = math.ceil(max(seconds, 0.0) * scale)
        if value < 100_000_000:
            return str(value).encode() + unit
    return str(min(math.ceil(seconds / 3600), 99_999_999)).encode() + b"H"


def parse_target(target: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``host`` (port 50051) -> (host, port)."""
    text = target.strip()
    for prefix in ("grpc://", "http://", "https://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"no host in target {target!r}")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port in target {target!r}")
    return host, int(port_text)


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def client_ssl_context(
    cafile: str | None = None, cadata: str | bytes | None = None
) -> ssl.SSLContext:
    """A verifying TLS client context that offers ALPN ``h2`` (system CAs unless given)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile, cadata=cadata)
    ctx.set_alpn_protocols(["h2"])
    return ctx


class _Call:
    """Per-stream state, written by the reader task and consumed by the call's task."""

    __slots__ = (
        "chunks",
        "ended",
        "error",
        "headers",
        "reset_code",
        "sid",
        "trailers",
        "unacked",
        "waiter",
    )

    def __init__(self, sid: int) -> None:
        self.sid = sid
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.unacked = 0  # flow-controlled bytes received and not yet acknowledged
        self.ended = False  # no more events will arrive for this stream
        self.reset_code: int | None = None
        self.error: GrpcError | None = None
        self.waiter: trio.Event | None = None

    def wake(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            w.set()

    async def wait(self) -> None:
        ev = trio.Event()
        self.waiter = ev
        await ev.wait()


class Channel:
    """One HTTP/2 connection carrying gRPC calls. Open with :meth:`connect`."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        host: str,
        port: int,
        *,
        tls: bool,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self._sock = stream
        self.host = host
        self.port = port
        self.authority = _authority(host, port)
        self._scheme = b"https" if tls else b"http"
        self._authority_b = self.authority.encode()
        self.max_message_size = max_message_size
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            # Our own headers are built canonical; skipping these checks saves CPU per call.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._conn = h2.connection.H2Connection(config=config)
        self._conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                # MAX_CONCURRENT_STREAMS stays at h2's 100: h2 applies that limit to frames
                # arriving on streams we reset and forgot, so 0 would break the connection.
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024,
            },
        )
        self._conn.initiate_connection()
        self._conn.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._calls: dict[int, _Call] = {}
        self._send_blocked: set[_Call] = set()
        self._slot_freed = trio.Event()
        self._write_wanted = trio.Event()
        self._send_lock = trio.StrictFIFOLock()
        self._write_wanted.set()  # the preface is queued
        self._closed: GrpcError | None = None  # set once no new call may start
        self._settings_received = trio.Event()

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        target: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        connect_timeout: float = 10.0,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> AsyncIterator[Channel]:
        """Open a connection to ``host:port``; TLS when ``ssl_context`` is given (ALPN h2).

        Raises :class:`GrpcConnectionError` (a ``ConnectionError``) naming host:port when the
        connection or the TLS handshake fails.
        """
        host, port = parse_target(target)
        stream = await _open_stream(host, port, ssl_context, server_hostname, connect_timeout)
        channel = cls(
            stream, host, port, tls=ssl_context is not None, max_message_size=max_message_size
        )
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(channel._reader)
                nursery.start_soon(channel._writer)
                try:
                    await channel._await_settings(connect_timeout)
                    yield channel
                finally:
                    channel._shutdown("channel closed")
                    with trio.move_on_after(1) as cs:
                        cs.shield = True
                        await channel._flush()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The socket tasks never raise, so a group holds the caller's own exception:
            # hand it back unwrapped, as if there were no nursery.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)

    async def _await_settings(self, timeout: float) -> None:
        # Calls wait for the server's SETTINGS: before it we would not know its stream
        # limit, and a burst of calls would exceed it (the server answers with GOAWAY).
        with trio.move_on_after(timeout):
            await self._settings_received.wait()
        if self._closed is not None:
            reason = self._closed.message
        elif not self._settings_received.is_set():
            reason = f"no HTTP/2 SETTINGS from the server within {timeout} s"
        else:
            return
        raise GrpcConnectionError(self.host, self.port, reason)

    def _shutdown(self, reason: str) -> None:
        """No new calls; outstanding calls fail with UNAVAILABLE; send GOAWAY."""
        if self._closed is None:
            self._closed = GrpcError(StatusCode.UNAVAILABLE, f"{reason} ({self.authority})")
            with suppress(h2.exceptions.ProtocolError):
                self._conn.close_connection()
            self._kick()
        self._fail_calls(self._closed)

    def _fail_calls(self, error: GrpcError, above: int = 0) -> None:
        self._settings_received.set()  # wake a connect waiting for SETTINGS
        for sid, call in list(self._calls.items()):
            if sid > above and not call.ended:
                call.error = error
                call.ended = True
                call.wake()
        self._wake_senders()
        self._slot_freed.set()

    async def _flush(self) -> None:
        # the writer task may be mid-write: one writer at a time on the socket
        async with self._send_lock:
            data = self._conn.data_to_send()
            if data:
                with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._sock.send_all(data)

    # ------------------------------------------------------------ socket tasks

    def _kick(self) -> None:
        self._write_wanted.set()

    async def _writer(self) -> None:
        while True:
            await self._write_wanted.wait()
            self._write_wanted = trio.Event()
            async with self._send_lock:
                data = self._conn.data_to_send()
                if not data:
                    continue
                try:
                    await self._sock.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
                    self._lost(f"write failed: {e}")
                    return

    def _lost(self, reason: str) -> None:
        error = GrpcError(StatusCode.UNAVAILABLE, f"connection to {self.authority} lost: {reason}")
        if self._closed is None:
            self._closed = error
        self._fail_calls(error)

    async def _reader(self) -> None:
        conn = self._conn
        calls = self._calls
        while True:
            try:
                data = await self._sock.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
                self._lost(f"read failed: {e}")
                return
            if not data:
                self._lost("closed by the server")
                return
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError as e:
                self._kick()  # h2 queued a GOAWAY
                self._lost(f"HTTP/2 protocol error: {e}")
                return
            for ev in events:
                if isinstance(ev, h2.events.DataReceived):
                    assert ev.stream_id is not None and ev.data is not None
                    call = calls.get(ev.stream_id)
                    n = ev.flow_controlled_length or 0
                    if call is None or call.ended:
                        # Abandoned stream: give the connection window back at once.
                        if n:
                            conn.acknowledge_received_data(n, ev.stream_id)
                        continue
                    call.chunks.append(ev.data)
                    call.unacked += n
                    call.wake()
                elif isinstance(ev, h2.events.ResponseReceived):
                    call = calls.get(ev.stream_id or 0)
                    if call is not None:
                        call.headers = list(ev.headers or ())
                elif isinstance(ev, h2.events.TrailersReceived):
                    call = calls.get(ev.stream_id or 0)
                    if call is not None:
                        call.trailers = list(ev.headers or ())
                elif isinstance(ev, h2.events.StreamEnded):
                    call = calls.get(ev.stream_id or 0)
                    if call is not None:
                        call.ended = True
                        call.wake()
                elif isinstance(ev, h2.events.StreamReset):
                    call = calls.get(ev.stream_id or 0)
                    if call is not None and not call.ended:
                        call.reset_code = int(ev.error_code or 0)
                        call.ended = True
                        call.wake()
                        self._send_blocked.discard(call)
                    self._slot_freed.set()
                elif isinstance(ev, h2.events.WindowUpdated):
                    if not ev.stream_id:
                        self._wake_senders()
                    else:
                        call = calls.get(ev.stream_id)
                        if call is not None and call in self._send_blocked:
                            call.wake()
                elif isinstance(ev, h2.events.RemoteSettingsChanged):
                    self._settings_received.set()
                    # A new initial window or stream limit may unblock senders.
                    self._wake_senders()
                    self._slot_freed.set()
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    # GOAWAY: streams above last_stream_id were not processed; the rest may finish.
                    msg = f"server sent GOAWAY (error code {ev.error_code})"
                    error = GrpcError(StatusCode.UNAVAILABLE, f"{msg} ({self.authority})")
                    if self._closed is None:
                        self._closed = error
                    self._fail_calls(error, above=ev.last_stream_id or 0)
            self._kick()

    def _wake_senders(self) -> None:
        for call in self._send_blocked:
            call.wake()

    # ------------------------------------------------------------- call pieces

    async def _start(
        self, path: str, timeout: float | None, metadata: Sequence[tuple[str, str]]
    ) -> _Call:
        conn = self._conn
        while True:
            if self._closed is not None:
                raise self._closed
            # Our live calls bound h2's open streams from above (h2 counts them in O(n)).
            if len(self._calls) < conn.remote_settings.max_concurrent_streams:
                break
            if self._slot_freed.is_set():
                self._slot_freed = trio.Event()
            await self._slot_freed.wait()
        headers = [
            (b":method", b"POST"),
            (b":scheme", self._scheme),
            (b":path", path.encode()),
            (b":authority", self._authority_b),
            (b"te", b"trailers"),
            (b"content-type", b"application/grpc"),
            (b"user-agent", USER_AGENT),
        ]
        if timeout is not None:
            headers.append((b"grpc-timeout", encode_timeout(timeout)))
        for key, value in metadata:
            headers.append((key.lower().encode(), value.encode()))
        try:
            sid = conn.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:
            self._shutdown("stream ids exhausted")
            raise self._closed or GrpcError(StatusCode.UNAVAILABLE) from None
        call = _Call(sid)
        self._calls[sid] = call
        conn.send_headers(sid, headers)
        self._kick()
        return call

    async def _send(self, call: _Call, message: bytes) -> None:
        """Send one length-prefixed message and half-close, within the flow-control windows."""
        if len(message) > self.max_message_size:
            raise GrpcError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"request of {len(message)} bytes exceeds the limit {self.max_message_size}",
            )
        frame = b"\x00" + len(message).to_bytes(4, "big") + message
        conn = self._conn
        total = len(frame)
        offset = 0
        view = memoryview(frame)
        while True:
            if call.ended:
                return  # the server answered or reset early; the status says why
            size = min(
                conn.local_flow_control_window(call.sid),
                conn.max_outbound_frame_size,
                total - offset,
            )
            if size > 0:
                end = offset + size == total
                conn.send_data(call.sid, view[offset : offset + size].tobytes(), end_stream=end)
                self._kick()
                offset += size
                if end:
                    return
                continue
            self._send_blocked.add(call)
            try:
                await call.wait()
            finally:
                self._send_blocked.discard(call)

    def _ack(self, call: _Call) -> None:
        if call.unacked:
            n, call.unacked = call.unacked, 0
            try:
                self._conn.acknowledge_received_data(n, call.sid)
            except h2.exceptions.ProtocolError:
                return  # connection already closing
            self._kick()

    def _finish(self, call: _Call) -> None:
        """Forget the call; reset its stream if it is still open (cancel, early exit)."""
        if self._calls.pop(call.sid, None) is None:
            return
        self._send_blocked.discard(call)
        # Also when the server already ended its side while our request was still being
        # sent (an early error status): h2 would count the half-open stream forever.
        stream = self._conn.streams.get(call.sid)
        if stream is not None and not stream.closed:
            with suppress(h2.exceptions.ProtocolError):
                self._conn.reset_stream(call.sid, h2.errors.ErrorCodes.CANCEL)
            self._kick()
        call.chunks.clear()
        self._ack(call)
        self._slot_freed.set()

    async def _next(self, call: _Call, buf: bytearray) -> bytes | None:
        """The next message of the call, or None after an OK status; raises GrpcError."""
        while True:
            if call.chunks:
                buf += b"".join(call.chunks)
                call.chunks.clear()
                self._ack(call)
            if len(buf) >= 5:
                size = int.from_bytes(buf[1:5], "big")
                if size > self.max_message_size:
                    raise GrpcError(
                        StatusCode.RESOURCE_EXHAUSTED,
                        f"response of {size} bytes exceeds the limit {self.max_message_size}",
                    )
                if len(buf) >= 5 + size:
                    if buf[0]:
                        raise GrpcError(
                            StatusCode.INTERNAL, "compressed message but no encoding was agreed"
                        )
                    message = bytes(buf[5 : 5 + size])
                    del buf[: 5 + size]
                    return message
            if call.ended and not call.chunks:
                self._raise_status(call, buf)
                return None
            await call.wait()

    def _raise_status(self, call: _Call, leftover: bytearray) -> None:
        if call.error is not None:
            raise call.error
        if call.reset_code is not None and call.trailers is None:
            code = _RST_TO_GRPC.get(call.reset_code, StatusCode.INTERNAL)  # type: ignore[call-overload]
            raise GrpcError(code, f"stream reset by the server (HTTP/2 error {call.reset_code})")
        headers = dict(call.headers or ())
        http_status = headers.get(b":status", b"")
        if http_status != b"200":
            code = _HTTP_TO_GRPC.get(int(http_status or b"0"), StatusCode.UNKNOWN)
            raise GrpcError(code, f"HTTP status {http_status.decode(errors='replace')}")
        # A trailers-only response carries the status in its only HEADERS frame.
        meta = dict(call.trailers) if call.trailers is not None else headers
        status = meta.get(b"grpc-status")
        if status is None:
            raise GrpcError(StatusCode.INTERNAL, "response has no grpc-status")
        try:
            code = int(status)
        except ValueError:
            raise GrpcError(StatusCode.UNKNOWN, f"bad grpc-status {status!r}") from None
        if code != StatusCode.OK:
            text = urllib.parse.unquote(meta.get(b"grpc-message", b"").decode(errors="replace"))
            raise GrpcError(code, text)
        if leftover:
            raise GrpcError(StatusCode.INTERNAL, "stream ended inside a message")

    # ------------------------------------------------------------------- calls

    async def unary_unary(
        self,
        path: str,
        request: Message,
        response_type: type[M],
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> M:
        """One request, one response. ``timeout`` in seconds (sent as grpc-timeout too)."""
        return _parse(
            response_type,
            await self.unary_raw(
                path, request.SerializeToString(), timeout=timeout, metadata=metadata
            ),
        )

    async def unary_raw(
        self,
        path: str,
        request: bytes,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        """:meth:`unary_unary` on serialized messages."""
        deadline = math.inf if timeout is None else trio.current_time() + timeout
        with trio.move_on_at(deadline):
            call = await self._start(path, timeout, metadata)
            try:
                await self._send(call, request)
                buf = bytearray()
                message = await self._next(call, buf)
                if message is None:
                    raise GrpcError(StatusCode.UNIMPLEMENTED, "no response message")
                if await self._next(call, buf) is not None:
                    raise GrpcError(StatusCode.UNIMPLEMENTED, "more than one response message")
                return message
            finally:
                self._finish(call)
        raise GrpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")

    def unary_stream(
        self,
        path: str,
        request: Message,
        response_type: type[M],
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> AsyncGenerator[M, None]:
        """Server streaming: an async generator of responses.

        The request is sent on the first iteration; ``timeout`` covers the whole stream.
        Leaving early resets the stream (RST_STREAM CANCEL) so the server sees the
        cancellation: at once on ``aclose()`` (``contextlib.aclosing``) or when a cancel
        scope fires, and after a ``break`` as soon as trio finalizes the dropped generator.
        """
        return self._stream(
            path, request.SerializeToString(), partial(_parse, response_type), timeout, metadata
        )

    def unary_stream_raw(
        self,
        path: str,
        request: bytes,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> AsyncGenerator[bytes, None]:
        """:meth:`unary_stream` on serialized messages."""
        return self._stream(path, request, bytes, timeout, metadata)

    async def _stream(
        self,
        path: str,
        payload: bytes,
        parse: Callable[[bytes], T],
        timeout: float | None,
        metadata: Sequence[tuple[str, str]],
    ) -> AsyncGenerator[T, None]:
        deadline = math.inf if timeout is None else trio.current_time() + timeout
        call: _Call | None = None
        try:
            with trio.move_on_at(deadline) as cs:
                call = await self._start(path, timeout, metadata)
                await self._send(call, payload)
            if cs.cancelled_caught or call is None:
                raise GrpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            buf = bytearray()
            while True:
                message: bytes | None = None
                with trio.move_on_at(deadline) as cs:
                    message = await self._next(call, buf)
                if cs.cancelled_caught:
                    raise GrpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
                if message is None:
                    return
                yield parse(message)
        finally:
            if call is not None:
                self._finish(call)


def _parse(response_type: type[M], data: bytes) -> M:
    msg = response_type()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise GrpcError(
            StatusCode.INTERNAL, f"cannot parse {response_type.__name__}: {e}"
        ) from None
    return msg


async def _open_stream(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    connect_timeout: float,
) -> trio.abc.Stream:
    try:
        with trio.fail_after(connect_timeout):
            tcp = await trio.open_tcp_stream(host, port)
    except trio.TooSlowError:
        raise GrpcConnectionError(host, port, f"timed out after {connect_timeout} s") from None
    except OSError as e:
        raise GrpcConnectionError(host, port, e.strerror or str(e)) from e
    if ssl_context is None:
        return tcp
    # gRPC needs HTTP/2: always offer ALPN h2 (this sets it on the caller's context).
    ssl_context.set_alpn_protocols(["h2"])
    tls = trio.SSLStream(tcp, ssl_context, server_hostname=server_hostname or host)
    try:
        with trio.fail_after(connect_timeout):
            await tls.do_handshake()
    except trio.TooSlowError:
        await trio.aclose_forcefully(tcp)
        raise GrpcConnectionError(host, port, "TLS handshake timed out") from None
    except (trio.BrokenResourceError, ssl.SSLError, OSError) as e:
        await trio.aclose_forcefully(tcp)
        cause = e.__cause__ if e.__cause__ is not None else e
        raise GrpcConnectionError(host, port, f"TLS handshake failed: {cause}") from e
    if tls.selected_alpn_protocol() != "h2":
        await trio.aclose_forcefully(tls)
        raise GrpcConnectionError(host, port, "server did not negotiate HTTP/2 (ALPN h2)")
    return tls
