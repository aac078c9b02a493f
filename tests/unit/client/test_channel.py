"""The trio/h2 gRPC channel against a real grpcio server on loopback."""

from __future__ import annotations

import datetime
import gc
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import aclosing
from functools import partial

import grpc
import pytest
import trio

from node.client.channel import (
    Channel,
    GrpcConnectionError,
    GrpcError,
    StatusCode,
    encode_timeout,
    parse_target,
)
from tests.unit.client.grpc_server import GrpcTestServer


@pytest.fixture(scope="module")
def server() -> Iterator[GrpcTestServer]:
    srv = GrpcTestServer()
    yield srv
    srv.stop()


async def test_unary_echo_and_metadata(server: GrpcTestServer) -> None:
    async with Channel.connect(server.target) as ch:
        assert await ch.unary_raw("/test.Test/Echo", b"hello") == b"hello"
        assert await ch.unary_raw("/test.Test/Echo", b"") == b""
        await ch.unary_raw("/test.Test/Echo", b"m", metadata=[("X-Bank-Id", "aba")])
    assert ("x-bank-id", "aba") in server.metadata_seen[-1]


async def test_stream_larger_than_flow_control_windows(server: GrpcTestServer) -> None:
    # 3000 x 1 KiB = 3 MB: more than the 1 MiB stream window, so WINDOW_UPDATEs must flow.
    with trio.fail_after(20):
        await _big_streams(server)


async def _big_streams(server: GrpcTestServer) -> None:
    async with Channel.connect(server.target) as ch:
        seen = [
            int.from_bytes(m[:4], "big")
            async for m in ch.unary_stream_raw("/test.Test/Stream", b"3000,1024")
        ]
        assert seen == list(range(3000))
        # One 3 MiB message: larger than the stream window, acknowledged while incomplete.
        (big,) = [m async for m in ch.unary_stream_raw("/test.Test/Stream", b"1,3145728")]
        assert len(big) == 3 * 1024 * 1024


async def test_large_request_respects_server_window(server: GrpcTestServer) -> None:
    async with Channel.connect(server.target) as ch:
        data = bytes(5 * 1024 * 1024)
        with trio.fail_after(20):
            assert await ch.unary_raw("/test.Test/Size", data) == str(len(data)).encode()


async def test_unconsumed_stream_does_not_block_other_calls(server: GrpcTestServer) -> None:
    async with Channel.connect(server.target) as ch:
        stream = ch.unary_stream_raw("/test.Test/Stream", b"2000,4096")  # 8 MB
        first = await stream.__anext__()
        assert int.from_bytes(first[:4], "big") == 0
        # The stream now sits at its window; the connection still serves unary calls.
        with trio.fail_after(5):
            for _ in range(20):
                assert await ch.unary_raw("/test.Test/Echo", b"x") == b"x"
        count = 1 + len([m async for m in stream])
        assert count == 2000


async def test_error_status_and_percent_decoded_message(server: GrpcTestServer) -> None:
    async with Channel.connect(server.target) as ch:
        with pytest.raises(GrpcError) as info:
            await ch.unary_raw("/test.Test/Fail", b"NOT_FOUND")
        assert info.value.code is StatusCode.NOT_FOUND
        assert info.value.message == "bad thing: 50% of ünïcode\nsecond line"
        with pytest.raises(GrpcError) as info:
            await ch.unary_raw("/test.Test/Fail", b"PERMISSION_DENIED")
        assert info.value.code is StatusCode.PERMISSION_DENIED
        with pytest.raises(GrpcError) as info:
            await ch.unary_raw("/test.Test/NoSuchMethod", b"")
        assert info.value.code is StatusCode.UNIMPLEMENTED
        got = []
        with pytest.raises(GrpcError) as info:
            async for m in ch.unary_stream_raw("/test.Test/StreamThenFail", b""):
                got.append(m)
        assert got == [b"one", b"two"]
        assert info.value.code is StatusCode.FAILED_PRECONDITION
        assert info.value.message == "stopped after two"
        # The connection is still fine after errors.
        assert await ch.unary_raw("/test.Test/Echo", b"ok") == b"ok"


async def test_deadline(server: GrpcTestServer) -> None:
    async with Channel.connect(server.target) as ch:
        start = trio.current_time()
        with pytest.raises(GrpcError) as info:
            await ch.unary_raw("/test.Test/Slow", b"3", timeout=0.2)
        assert info.value.code is StatusCode.DEADLINE_EXCEEDED
        assert trio.current_time() - start < 2
        with pytest.raises(GrpcError) as info:
            async for _ in ch.unary_stream_raw("/test.Test/Forever", b"deadline", timeout=0.2):
                pass
        assert info.value.code is StatusCode.DEADLINE_EXCEEDED
        assert await ch.unary_raw("/test.Test/Slow", b"0.01", timeout=5) == b"late"


def test_encode_timeout_and_targets() -> None:
    assert encode_timeout(0.2) == b"200000u"
    assert encode_timeout(30) == b"30000000u"
    assert encode_timeout(1000) == b"1000000m"
    assert encode_timeout(10**6) == b"1000000S"
    assert len(encode_timeout(10**12)) <= 9
    assert parse_target("localhost:50051") == ("localhost", 50051)
    assert parse_target("10.0.0.1") == ("10.0.0.1", 50051)
    assert parse_target("[::1]:7") == ("::1", 7)
    assert parse_target("grpc://h:1") == ("h", 1)
    with pytest.raises(ValueError):
        parse_target("h:99999")


async def _assert_server_sees_cancel(server: GrpcTestServer, tag: str) -> None:
    with trio.fail_after(5):
        while tag not in server.cancelled_calls:
            await trio.sleep(0.01)


@pytest.mark.parametrize("how", ["aclose", "cancel_scope", "break"])
async def test_cancelling_a_stream_reaches_the_server(server: GrpcTestServer, how: str) -> None:
    tag = how.encode()
    async with Channel.connect(server.target) as ch:
        if how == "aclose":
            async with aclosing(ch.unary_stream_raw("/test.Test/Forever", tag)) as stream:
                async for m in stream:
                    if int.from_bytes(m, "big") == 5:
                        break
        elif how == "cancel_scope":
            n = 0
            with trio.move_on_after(0.3):
                async for _ in ch.unary_stream_raw("/test.Test/Forever", tag):
                    n += 1
            assert n > 0
        else:
            async for m in ch.unary_stream_raw("/test.Test/Forever", tag):
                if int.from_bytes(m, "big") == 5:
                    break
            gc.collect()  # the dropped generator is finalized by trio, which resets the stream
        await _assert_server_sees_cancel(server, how)
        assert not ch._calls, "the call's state is released"
        assert await ch.unary_raw("/test.Test/Echo", b"after") == b"after"


async def test_500_concurrent_calls_on_one_connection(server: GrpcTestServer) -> None:
    results: dict[int, bytes] = {}
    async with Channel.connect(server.target) as ch:

        async def one(i: int) -> None:
            results[i] = await ch.unary_raw("/test.Test/Echo", i.to_bytes(4, "big") * 50)

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for i in range(500):
                    nursery.start_soon(one, i)
        assert ch._conn.open_outbound_streams == 0
    assert results == {i: i.to_bytes(4, "big") * 50 for i in range(500)}


async def test_connection_refused_names_host_and_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GrpcConnectionError) as info:
        async with Channel.connect(f"127.0.0.1:{port}"):
            pass
    assert isinstance(info.value, ConnectionError)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert (info.value.host, info.value.port) == ("127.0.0.1", port)


async def test_server_going_away_fails_calls_with_unavailable() -> None:
    srv = GrpcTestServer()
    try:
        async with Channel.connect(srv.target) as ch:
            assert await ch.unary_raw("/test.Test/Echo", b"x") == b"x"
            with pytest.raises(GrpcError) as info:
                async for m in ch.unary_stream_raw("/test.Test/Forever", b""):
                    if int.from_bytes(m, "big") == 3:
                        await trio.to_thread.run_sync(srv.stop)
            assert info.value.code in (StatusCode.UNAVAILABLE, StatusCode.CANCELLED)
            with pytest.raises(GrpcError) as info:
                await ch.unary_raw("/test.Test/Echo", b"x")
            assert info.value.code is StatusCode.UNAVAILABLE
    finally:
        srv.stop()


async def test_body_exception_is_not_wrapped(server: GrpcTestServer) -> None:
    with pytest.raises(KeyError):
        async with Channel.connect(server.target):
            raise KeyError("mine")


# --------------------------------------------------------------------- TLS


def _self_signed() -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for localhost / 127.0.0.1, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


async def test_tls_with_self_signed_certificate() -> None:
    cert, key = _self_signed()
    srv = GrpcTestServer(grpc.ssl_server_credentials([(key, cert)]))
    try:
        ctx = ssl.create_default_context(cadata=cert.decode())
        async with Channel.connect(srv.target, ssl_context=ctx) as ch:
            assert await ch.unary_raw("/test.Test/Echo", b"secret") == b"secret"
            n = len([m async for m in ch.unary_stream_raw("/test.Test/Stream", b"500,1024")])
            assert n == 500
        async with Channel.connect(
            f"localhost:{srv.port}", ssl_context=ctx, server_hostname="localhost"
        ) as ch:
            assert await ch.unary_raw("/test.Test/Echo", b"by name") == b"by name"
        # A client that does not trust the certificate fails with a clear connection error.
        with pytest.raises(GrpcConnectionError, match="TLS handshake failed"):
            async with Channel.connect(srv.target, ssl_context=ssl.create_default_context()):
                pass
    finally:
        srv.stop()


@pytest.mark.parametrize("reply", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b""])
async def test_server_that_does_not_speak_http2(reply: bytes, nursery: trio.Nursery) -> None:
    async def handler(stream: trio.SocketStream) -> None:
        await stream.receive_some(1024)
        if reply:
            await stream.send_all(reply)
            await stream.aclose()
        else:
            await trio.sleep_forever()

    listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    with pytest.raises(GrpcConnectionError, match=rf"127\.0\.0\.1:{port}") as info:
        async with Channel.connect(f"127.0.0.1:{port}", connect_timeout=0.5):
            pass
    assert ("SETTINGS" in info.value.reason) == (not reply)
    nursery.cancel_scope.cancel()
