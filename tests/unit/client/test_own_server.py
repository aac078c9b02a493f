"""The client against the project's own gRPC server (node.api.grpc) on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest
import trio
from google.protobuf.wrappers_pb2 import BytesValue, UInt32Value

from node.api.grpc import GrpcError as ServerError
from node.api.grpc import GrpcServer, ServiceContext, Status, server_stream, unary
from node.client.channel import Channel, GrpcError, StatusCode


class _Handlers:
    def __init__(self) -> None:
        self.cancelled = trio.Event()

    async def echo(self, req: BytesValue, ctx: ServiceContext) -> BytesValue:
        await trio.sleep(0.001)  # keep calls in flight together
        return req

    async def fail(self, req: BytesValue, ctx: ServiceContext) -> BytesValue:
        raise ServerError(Status.ALREADY_EXISTS, "tx 100% known")

    async def count(self, req: UInt32Value, ctx: ServiceContext) -> AsyncIterator[UInt32Value]:
        for i in range(req.value):
            yield UInt32Value(value=i)

    async def forever(self, req: UInt32Value, ctx: ServiceContext) -> AsyncIterator[UInt32Value]:
        i = 0
        try:
            while True:
                yield UInt32Value(value=i)
                i += 1
                await trio.sleep(0.005)
        except trio.Cancelled:
            self.cancelled.set()
            raise


@pytest.fixture
async def own_server(nursery: trio.Nursery) -> AsyncIterator[tuple[str, _Handlers]]:
    h = _Handlers()
    server = GrpcServer(
        {
            "/t.T/Echo": unary(BytesValue, h.echo),
            "/t.T/Fail": unary(BytesValue, h.fail),
            "/t.T/Count": server_stream(UInt32Value, h.count),
            "/t.T/Forever": server_stream(UInt32Value, h.forever),
        },
        max_concurrent_streams=16,
    )
    port = await nursery.start(server.serve, "127.0.0.1", 0)
    yield f"127.0.0.1:{port}", h
    nursery.cancel_scope.cancel()


async def test_calls_against_own_server(own_server: tuple[str, _Handlers]) -> None:
    target, handlers = own_server
    async with Channel.connect(target) as ch:
        r = await ch.unary_unary("/t.T/Echo", BytesValue(value=b"hi"), BytesValue)
        assert r.value == b"hi"
        with pytest.raises(GrpcError) as info:
            await ch.unary_unary("/t.T/Fail", BytesValue(), BytesValue)
        assert (info.value.code, info.value.message) == (StatusCode.ALREADY_EXISTS, "tx 100% known")
        values = [
            m.value
            async for m in ch.unary_stream("/t.T/Count", UInt32Value(value=20000), UInt32Value)
        ]
        assert values == list(range(20000))
        async with aclosing(ch.unary_stream("/t.T/Forever", UInt32Value(), UInt32Value)) as stream:
            async for m in stream:
                if m.value == 3:
                    break
        with trio.fail_after(5):
            await handlers.cancelled.wait()


async def test_more_calls_than_the_server_stream_limit(own_server: tuple[str, _Handlers]) -> None:
    # The server allows 16 concurrent streams; 300 calls must queue for slots, not fail.
    target, _ = own_server
    results: dict[int, bytes] = {}
    async with Channel.connect(target) as ch:

        async def one(i: int) -> None:
            r = await ch.unary_unary("/t.T/Echo", BytesValue(value=b"%d" % i), BytesValue)
            results[i] = r.value

        with trio.fail_after(30):
            async with trio.open_nursery() as n:
                for i in range(300):
                    n.start_soon(one, i)
    assert results == {i: b"%d" % i for i in range(300)}


async def test_request_over_the_server_limit(own_server: tuple[str, _Handlers]) -> None:
    target, _ = own_server
    async with Channel.connect(target) as ch:
        with trio.fail_after(10), pytest.raises(GrpcError) as info:
            await ch.unary_unary("/t.T/Echo", BytesValue(value=bytes(5 << 20)), BytesValue)
        assert info.value.code is StatusCode.RESOURCE_EXHAUSTED
        await trio.sleep(0.05)
        assert ch._conn.open_outbound_streams == 0, "no half-open stream is left behind"
        r = await ch.unary_unary("/t.T/Echo", BytesValue(value=b"ok"), BytesValue)
        assert r.value == b"ok"
