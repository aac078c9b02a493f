"""The server driven by a raw HTTP/2 client: the protocol edges grpcio never shows."""

from __future__ import annotations

import h2.connection
import h2.settings
import trio
from h2.errors import ErrorCodes

from node.api.grpc import GrpcServer, Status
from node.proto.iroha.endpoint_pb2 import ToriiResponse, TxStatusRequest
from tests.api.grpc.conftest import (
    MAX_MESSAGE,
    STREAM,
    UNARY,
    Echo,
    call_unary,
    count_tasks,
    wait_for,
)
from tests.api.grpc.h2client import grpc_frame, raw_client

U, S = UNARY.encode(), STREAM.encode()


def split_messages(data: bytes) -> list[bytes]:
    out, off = [], 0
    while off < len(data):
        assert data[off] == 0  # never compressed
        n = int.from_bytes(data[off + 1 : off + 5], "big")
        out.append(data[off + 5 : off + 5 + n])
        off += 5 + n
    assert off == len(data)
    return out


def req(tx_hash: str) -> bytes:
    return grpc_frame(TxStatusRequest(tx_hash=tx_hash).SerializeToString())


async def test_raw_unary_roundtrip_and_trailers(server: GrpcServer) -> None:
    async with raw_client(server.port) as c:
        r = await c.request(U, req("raw"))
    assert r.headers[b":status"] == b"200"
    assert r.headers[b"content-type"] == b"application/grpc"
    assert r.grpc_status == 0
    assert ToriiResponse.FromString(bytes(r.data[5:])).tx_hash == "raw"
    assert r.data[:5] == b"\x00" + (len(r.data) - 5).to_bytes(4, "big")


async def test_wrong_content_type_is_415_and_connection_survives(server: GrpcServer) -> None:
    async with raw_client(server.port) as c:
        r = await c.request(U, b"{}", content_type=b"application/json")
        assert r.headers[b":status"] == b"415"
        ok = await c.request(U, req("after-415"))
        assert ok.grpc_status == 0
    assert (await call_unary(server.port, "still")).tx_hash == "still"


async def test_non_post_is_405(server: GrpcServer) -> None:
    async with raw_client(server.port) as c:
        r = await c.request(U, None, method=b"GET")
        assert r.headers[b":status"] == b"405"
        assert r.headers[b"allow"] == b"POST"
        assert (await c.request(U, req("after-405"))).grpc_status == 0


async def test_compressed_message_is_unimplemented(server: GrpcServer) -> None:
    async with raw_client(server.port) as c:
        r = await c.request(U, grpc_frame(b"\x0a\x01a", flag=1))
    assert r.grpc_status == Status.UNIMPLEMENTED
    assert b"compressed" in r.grpc_message


async def test_missing_and_extra_request_messages_are_internal(server: GrpcServer) -> None:
    async with raw_client(server.port) as c:
        none = await c.request(U, None)
        partial = await c.request(U, req("abc")[:-1])
        two = await c.request(U, req("a") + req("b"))
    assert none.grpc_status == partial.grpc_status == two.grpc_status == Status.INTERNAL
    await wait_for(lambda: server.live_streams == 0)


async def test_declared_oversize_is_refused_before_the_body_arrives(server: GrpcServer) -> None:
    async with raw_client(server.port) as c:
        # Only the 5-byte prefix, stream left open: the answer must not wait for 1 GB.
        sid = c.start_request(U, b"\x00" + (1 << 30).to_bytes(4, "big"), end_stream=False)
        await c.flush()
        r = c.responses[sid]
        with trio.fail_after(5):
            await r.done.wait()
        assert r.grpc_status == Status.RESOURCE_EXHAUSTED
        assert (
            r.grpc_message
            == f"Received message larger than max (1073741824 vs. {MAX_MESSAGE})".encode()
        )
        assert (await c.request(U, req("after"))).grpc_status == 0
    await wait_for(lambda: server.live_streams == 0)


async def test_server_side_deadline_answers_deadline_exceeded(
    server: GrpcServer, echo: Echo
) -> None:
    async with raw_client(server.port) as c:
        t0 = trio.current_time()
        r = await c.request(U, req("sleep"), extra=[(b"grpc-timeout", b"150m")])
        elapsed = trio.current_time() - t0
    assert r.grpc_status == Status.DEADLINE_EXCEEDED
    assert 0.14 < elapsed < 5
    assert echo.cancelled == ["unary"]


async def test_deadline_while_request_is_incomplete(server: GrpcServer) -> None:
    async with raw_client(server.port) as c:
        sid = c.start_request(
            U, req("abc")[:3], end_stream=False, extra=[(b"grpc-timeout", b"100000u")]
        )
        await c.flush()
        with trio.fail_after(5):
            await c.responses[sid].done.wait()
        assert c.responses[sid].grpc_status == Status.DEADLINE_EXCEEDED
    await wait_for(lambda: server.live_streams == 0)


async def test_malformed_timeout_is_internal(server: GrpcServer) -> None:
    async with raw_client(server.port) as c:
        r = await c.request(U, req("x"), extra=[(b"grpc-timeout", b"123456789S")])
    assert r.grpc_status == Status.INTERNAL
    assert b"grpc-timeout" in r.grpc_message


async def test_garbage_bytes_close_connection_server_keeps_serving(server: GrpcServer) -> None:
    for garbage in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 100, bytes(range(256)) * 40):
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        await stream.send_all(garbage)
        with trio.fail_after(5):
            while await stream.receive_some(65536):  # the server's GOAWAY, then EOF
                pass
        await stream.aclose()
    # A valid preface followed by a frame with a bad length field: a protocol error, too.
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(conn.data_to_send() + b"\x00\x00\x03\x04\x00\x00\x00\x00\x00abc")
    with trio.fail_after(5):
        while await stream.receive_some(65536):
            pass
    await stream.aclose()
    await wait_for(lambda: server.live_connections == 0)
    assert (await call_unary(server.port, "alive")).tx_hash == "alive"


async def test_respects_peer_flow_control_window(server: GrpcServer) -> None:
    window = 1000
    async with raw_client(server.port, {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}) as c:
        c.auto_ack = False
        sid = c.start_request(S, req("count:100:1000"))  # ~100 KB of replies
        await c.flush()
        await trio.sleep(0.3)
        r = c.responses[sid]
        # h2 on our side would have failed the connection had the server overrun the window.
        assert 0 < len(r.data) <= window and not r.done.is_set()
        assert server.live_streams == 1  # the handler waits for WINDOW_UPDATE, not buffering
        await c.ack_all()
        with trio.fail_after(10):
            await r.done.wait()
    assert r.grpc_status == 0
    replies = [ToriiResponse.FromString(m) for m in split_messages(bytes(r.data))]
    assert [m.failed_cmd_index for m in replies] == list(range(100))


async def test_advertises_max_concurrent_streams(nursery: trio.Nursery, echo: Echo) -> None:
    srv = GrpcServer(echo.methods(), max_concurrent_streams=7)
    port = await nursery.start(srv.serve, "127.0.0.1", 0)
    async with raw_client(port) as c:
        await c.request(U, req("x"))
        assert c.conn.remote_settings.max_concurrent_streams == 7


async def test_abandoned_streams_leave_nothing_behind(server: GrpcServer, echo: Echo) -> None:
    async with raw_client(server.port) as c:
        await c.request(U, req("warm-up"))
        baseline_tasks = count_tasks()
        for _ in range(10):
            sids = [
                c.start_request(U if i % 2 else S, req("sleep" if i % 2 else "forever"))
                for i in range(100)
            ]
            await c.flush()
            await wait_for(lambda: server.live_streams == 100)
            for sid in sids:
                c.conn.reset_stream(sid, ErrorCodes.CANCEL)
            await c.flush()
            await wait_for(lambda: server.live_streams == 0)
        await wait_for(lambda: len(echo.cancelled) == 1000)
        assert count_tasks() == baseline_tasks
        assert (await c.request(U, req("after-1000"))).grpc_status == 0
    await wait_for(lambda: server.live_connections == 0)


async def test_keepalive_closes_dead_connection(nursery: trio.Nursery, echo: Echo) -> None:
    srv = GrpcServer(echo.methods(), keepalive_interval=0.2, keepalive_timeout=0.3)
    port = await nursery.start(srv.serve, "127.0.0.1", 0)
    # A live client answers the pings and keeps its connection.
    async with raw_client(port) as live:
        # A dead one sends the preface and then never reads nor answers anything.
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        dead = await trio.open_tcp_stream("127.0.0.1", port)
        await dead.send_all(conn.data_to_send())
        await wait_for(lambda: srv.live_connections == 2)
        await wait_for(lambda: srv.live_connections == 1, timeout=5)
        assert not live.closed.is_set()
        assert (await live.request(U, req("still-alive"))).grpc_status == 0
        await dead.aclose()


async def test_graceful_shutdown_sends_goaway_and_finishes_stream(
    nursery: trio.Nursery, echo: Echo
) -> None:
    srv = GrpcServer(echo.methods())
    port = await nursery.start(srv.serve, "127.0.0.1", 0)
    async with raw_client(port) as c, trio.open_nursery() as inner:
        sid = c.start_request(U, req("slow"))
        await c.flush()
        await wait_for(lambda: srv.live_streams == 1)
        inner.start_soon(srv.shutdown, 5.0)
        await wait_for(lambda: c.goaway is not None)
        assert c.goaway == (sid, ErrorCodes.NO_ERROR)
        # A stream the GOAWAY does not cover is refused (the client may retry it elsewhere).
        late = c.start_request(U, req("too-late"))
        await c.flush()
        with trio.fail_after(5):
            await c.responses[late].done.wait()
            await c.responses[sid].done.wait()
            await c.closed.wait()
        assert c.responses[late].reset == ErrorCodes.REFUSED_STREAM
        assert c.responses[sid].grpc_status == 0


async def test_connections_beyond_the_cap_are_closed(nursery: trio.Nursery, echo: Echo) -> None:
    srv = GrpcServer(echo.methods(), max_connections=1)
    port = await nursery.start(srv.serve, "127.0.0.1", 0)
    async with raw_client(port) as first:
        assert (await first.request(U, req("one"))).grpc_status == 0
        extra = await trio.open_tcp_stream("127.0.0.1", port)
        with trio.fail_after(5):
            assert await extra.receive_some(100) == b""  # closed without a byte
        await extra.aclose()
        assert (await first.request(U, req("still-one"))).grpc_status == 0
    await wait_for(lambda: srv.live_connections == 0)
    assert (await call_unary(port, "next")).tx_hash == "next"
