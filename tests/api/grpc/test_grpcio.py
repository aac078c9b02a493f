"""The server driven by a real grpcio client (run in worker threads)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
import trio

from node.api.grpc import GrpcServer
from node.proto.iroha.endpoint_pb2 import COMMITTED, ToriiResponse, TxStatusRequest
from tests.api.grpc.conftest import (
    ERROR_TEXT,
    MAX_MESSAGE,
    UNARY,
    Echo,
    call_unary,
    channel,
    stream_call,
    unary_call,
    wait_for,
)


async def test_unary_ok(server: GrpcServer) -> None:
    reply = await call_unary(server.port, "abc")
    assert reply == ToriiResponse(tx_status=COMMITTED, tx_hash="abc")


async def test_context_carries_metadata_peer_and_deadline(server: GrpcServer) -> None:
    reply = await call_unary(server.port, "ctx", timeout=30, metadata=(("x-test", "hello"),))
    assert reply.tx_hash == "hello"
    method, peer = reply.err_or_cmd_name.split(" ")
    assert method == UNARY
    assert peer.startswith("ipv4:127.0.0.1:")
    assert 20_000 < reply.failed_cmd_index <= 30_000  # ms left of the 30 s grpc-timeout


async def test_empty_request_message_is_valid(server: GrpcServer) -> None:
    reply = await call_unary(server.port, "")
    assert reply.tx_status == COMMITTED and reply.tx_hash == ""


async def test_server_streaming_beyond_flow_control_window(server: GrpcServer) -> None:
    n, size = 2000, 1000  # ~2 MB: far past the 64 KiB initial HTTP/2 windows

    def go() -> list[ToriiResponse]:
        with channel(server.port) as ch:
            return list(stream_call(ch)(TxStatusRequest(tx_hash=f"count:{n}:{size}"), timeout=30))

    replies = await trio.to_thread.run_sync(go)
    assert [r.failed_cmd_index for r in replies] == list(range(n))
    assert all(len(r.tx_hash) == size for r in replies)
    await wait_for(lambda: server.live_streams == 0)


async def test_stream_error_after_messages(server: GrpcServer) -> None:
    def go() -> tuple[list[int], grpc.RpcError]:
        got: list[int] = []
        with channel(server.port) as ch:
            try:
                for r in stream_call(ch)(TxStatusRequest(tx_hash="fail-after-2"), timeout=10):
                    got.append(r.failed_cmd_index)
            except grpc.RpcError as e:
                return got, e
        raise AssertionError("stream ended without error")

    got, err = await trio.to_thread.run_sync(go)
    assert got == [0, 1]
    assert err.code() == grpc.StatusCode.ABORTED
    assert err.details() == "stopped after 2"


async def test_error_status_and_non_ascii_message(server: GrpcServer) -> None:
    with pytest.raises(grpc.RpcError) as info:
        await call_unary(server.port, "error")
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == ERROR_TEXT


async def test_handler_crash_is_internal_and_server_survives(
    server: GrpcServer, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        await call_unary(server.port, "boom")
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "internal error"  # no traceback, no internals leaked
    assert "secret internal detail" in caplog.text  # but logged on our side
    assert (await call_unary(server.port, "after")).tx_hash == "after"


async def test_grpc_error_from_a_handler_nursery(server: GrpcServer) -> None:
    with pytest.raises(grpc.RpcError) as info:
        await call_unary(server.port, "group-error")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "raised inside a nursery"


async def test_deadline_exceeded_cancels_handler(server: GrpcServer, echo: Echo) -> None:
    with pytest.raises(grpc.RpcError) as info:
        await call_unary(server.port, "sleep", timeout=0.3)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await wait_for(lambda: echo.cancelled == ["unary"])
    await wait_for(lambda: server.live_streams == 0)


async def test_client_cancels_stream_midway(server: GrpcServer, echo: Echo) -> None:
    def go() -> str:
        with channel(server.port) as ch:
            call = stream_call(ch)(TxStatusRequest(tx_hash="forever"), timeout=30)
            first: ToriiResponse = next(call)
            call.cancel()
            return first.tx_hash

    assert await trio.to_thread.run_sync(go) == "first"
    await wait_for(lambda: echo.cancelled == ["stream"])
    await wait_for(lambda: server.live_streams == 0)
    assert (await call_unary(server.port, "still-serving")).tx_hash == "still-serving"


async def test_oversized_request_is_resource_exhausted(server: GrpcServer) -> None:
    with pytest.raises(grpc.RpcError) as info:
        await call_unary(server.port, "x" * (MAX_MESSAGE + 10))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The largest accepted request is exactly the limit (3 bytes of tag and length, then data).
    reply = await call_unary(server.port, "y" * (MAX_MESSAGE - 4))
    assert len(reply.tx_hash) == MAX_MESSAGE - 4
    with pytest.raises(grpc.RpcError) as info:
        await call_unary(server.port, "y" * (MAX_MESSAGE - 3))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_malformed_protobuf_is_invalid_argument(server: GrpcServer) -> None:
    def go() -> None:
        with channel(server.port) as ch:
            unary_call(ch, serializer=lambda raw: raw)(b"\x0a\xff\xff\xff", timeout=10)

    with pytest.raises(grpc.RpcError) as info:
        await trio.to_thread.run_sync(go)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot decode iroha.protocol.TxStatusRequest" in (info.value.details() or "")


async def test_unknown_method_is_unimplemented(server: GrpcServer) -> None:
    def go() -> None:
        with channel(server.port) as ch:
            ch.unary_unary("/bakong.test.Echo/Nope")(b"", timeout=10)

    with pytest.raises(grpc.RpcError) as info:
        await trio.to_thread.run_sync(go)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "/bakong.test.Echo/Nope" in (info.value.details() or "")


async def test_200_concurrent_unary_calls(server: GrpcServer, echo: Echo) -> None:
    # Every handler waits until all 200 are running at once: only concurrency can finish this.
    echo.barrier_target = 200

    def go() -> list[ToriiResponse]:
        with channel(server.port) as ch:
            call = unary_call(ch)
            with ThreadPoolExecutor(max_workers=200) as pool:
                futures = [
                    pool.submit(call, TxStatusRequest(tx_hash="barrier"), timeout=30)
                    for _ in range(200)
                ]
                return [f.result() for f in futures]

    replies = await trio.to_thread.run_sync(go)
    assert len(replies) == 200 and all(r.tx_hash == "barrier" for r in replies)
    await wait_for(lambda: server.live_streams == 0)


async def test_handler_cap_answers_resource_exhausted(nursery: trio.Nursery, echo: Echo) -> None:
    srv = GrpcServer(echo.methods(), max_concurrent_handlers=2)
    port = await nursery.start(srv.serve, "127.0.0.1", 0)

    def go() -> grpc.RpcError:
        with channel(port) as ch:
            call = unary_call(ch)
            held = [call.future(TxStatusRequest(tx_hash="sleep"), timeout=30) for _ in range(2)]
            try:
                while echo.started < 2:  # plain read of an int written by the trio thread
                    pass
                call(TxStatusRequest(tx_hash="one-too-many"), timeout=10)
            except grpc.RpcError as e:
                return e
            finally:
                for f in held:
                    f.cancel()
        raise AssertionError("third call was accepted")

    err = await trio.to_thread.run_sync(go)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await wait_for(lambda: srv.live_streams == 0)
    assert (await call_unary(port, "free-again")).tx_hash == "free-again"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
async def test_tls_with_grpcio_secure_channel(
    nursery: trio.Nursery, echo: Echo, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    srv = GrpcServer(echo.methods(), ssl_context=ctx)
    port = await nursery.start(srv.serve, "127.0.0.1", 0)

    def go() -> tuple[ToriiResponse, list[int]]:
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        opts = [("grpc.ssl_target_name_override", "localhost")]
        with grpc.secure_channel(f"127.0.0.1:{port}", creds, options=opts) as ch:
            one = unary_call(ch)(TxStatusRequest(tx_hash="over-tls"), timeout=10)
            many = [
                r.failed_cmd_index
                for r in stream_call(ch)(TxStatusRequest(tx_hash="count:300:1000"), timeout=10)
            ]
            return one, many

    one, many = await trio.to_thread.run_sync(go)
    assert one.tx_hash == "over-tls"
    assert many == list(range(300))

    # A plaintext client cannot talk to the TLS port, and the server survives it.
    with pytest.raises(grpc.RpcError) as info:
        await call_unary(port, "plain", timeout=3)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    await wait_for(lambda: srv.live_connections == 0)


async def test_graceful_shutdown_lets_inflight_calls_finish(
    nursery: trio.Nursery, echo: Echo
) -> None:
    srv = GrpcServer(echo.methods())
    port = await nursery.start(srv.serve, "127.0.0.1", 0)
    results: list[object] = []

    async def slow_call() -> None:
        results.append(await call_unary(port, "slow"))

    async with trio.open_nursery() as inner:
        inner.start_soon(slow_call)
        await wait_for(lambda: srv.live_streams == 1)
        with trio.fail_after(5):
            await srv.shutdown(grace=5)
    assert results == [ToriiResponse(tx_status=COMMITTED, tx_hash="slow")]
    assert srv.live_connections == 0
    with pytest.raises(grpc.RpcError) as info:
        await call_unary(port, "after-shutdown", timeout=2)
    assert info.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_shutdown_grace_expiry_cancels_handlers(nursery: trio.Nursery, echo: Echo) -> None:
    srv = GrpcServer(echo.methods())
    port = await nursery.start(srv.serve, "127.0.0.1", 0)

    async def hanging_call() -> None:
        with pytest.raises(grpc.RpcError):
            await call_unary(port, "sleep", timeout=10)

    async with trio.open_nursery() as inner:
        inner.start_soon(hanging_call)
        await wait_for(lambda: srv.live_streams == 1)
        with trio.fail_after(5):
            await srv.shutdown(grace=0.2)
    assert echo.cancelled == ["unary"]
    assert srv.live_streams == 0 and srv.live_connections == 0
