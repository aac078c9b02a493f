"""A test service over the real GrpcServer on loopback, and grpcio helpers run in threads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
import trio

from node.api.grpc import GrpcError, GrpcServer, ServiceContext, Status, server_stream, unary
from node.proto.iroha.endpoint_pb2 import COMMITTED, ToriiResponse, TxStatusRequest

UNARY = "/bakong.test.Echo/Unary"
STREAM = "/bakong.test.Echo/Stream"
ERROR_TEXT = "refused: 100% sure – ✓ ñ 日本\nline2 %41"
MAX_MESSAGE = 64 * 1024


class Echo:
    """Behaviour is chosen by the request's tx_hash; cancellations are recorded."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.started = 0
        self.barrier_target = 200
        self.barrier_count = 0
        self.barrier = trio.Event()

    def methods(self) -> dict[str, Any]:
        return {
            UNARY: unary(TxStatusRequest, self.unary),
            STREAM: server_stream(TxStatusRequest, self.stream),
        }

    async def _sleep_forever(self, what: str) -> None:
        self.started += 1
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            self.cancelled.append(what)
            raise

    async def unary(self, req: TxStatusRequest, ctx: ServiceContext) -> ToriiResponse:
        h = req.tx_hash
        if h == "error":
            raise GrpcError(Status.FAILED_PRECONDITION, ERROR_TEXT)
        if h == "boom":
            raise RuntimeError("secret internal detail")
        if h == "sleep":
            await self._sleep_forever("unary")
        if h == "group-error":

            async def fail() -> None:
                raise GrpcError(Status.NOT_FOUND, "raised inside a nursery")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(fail)
                await trio.sleep_forever()
        if h == "slow":
            await trio.sleep(0.3)
        if h == "barrier":
            self.barrier_count += 1
            if self.barrier_count >= self.barrier_target:
                self.barrier.set()
            with trio.fail_after(20):
                await self.barrier.wait()
        if h == "ctx":
            remaining = ctx.time_remaining()
            return ToriiResponse(
                tx_hash=ctx.metadata.get("x-test", ""),
                err_or_cmd_name=f"{ctx.method} {ctx.peer}",
                failed_cmd_index=0 if remaining is None else int(remaining * 1000),
            )
        return ToriiResponse(tx_status=COMMITTED, tx_hash=h)

    async def stream(
        self, req: TxStatusRequest, ctx: ServiceContext
    ) -> AsyncIterator[ToriiResponse]:
        h = req.tx_hash
        if h.startswith("count:"):
            _, n, size = h.split(":")
            for i in range(int(n)):
                yield ToriiResponse(tx_hash="x" * int(size), failed_cmd_index=i)
        elif h == "forever":
            yield ToriiResponse(tx_hash="first")
            await self._sleep_forever("stream")
        elif h == "fail-after-2":
            yield ToriiResponse(failed_cmd_index=0)
            yield ToriiResponse(failed_cmd_index=1)
            raise GrpcError(Status.ABORTED, "stopped after 2")


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
async def server(nursery: trio.Nursery, echo: Echo) -> GrpcServer:
    srv = GrpcServer(echo.methods(), max_message_bytes=MAX_MESSAGE)
    await nursery.start(srv.serve, "127.0.0.1", 0)
    return srv


def channel(port: int) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{port}")


def unary_call(ch: grpc.Channel, serializer: Callable[[Any], bytes] | None = None) -> Any:
    return ch.unary_unary(
        UNARY,
        request_serializer=serializer or TxStatusRequest.SerializeToString,
        response_deserializer=ToriiResponse.FromString,
    )


def stream_call(ch: grpc.Channel) -> Any:
    return ch.unary_stream(
        STREAM,
        request_serializer=TxStatusRequest.SerializeToString,
        response_deserializer=ToriiResponse.FromString,
    )


async def call_unary(port: int, tx_hash: str, timeout: float = 10, **kw: Any) -> ToriiResponse:
    """One unary call from a fresh grpcio channel in a worker thread (raises grpc.RpcError)."""

    def go() -> ToriiResponse:
        with channel(port) as ch:
            reply: ToriiResponse = unary_call(ch)(
                TxStatusRequest(tx_hash=tx_hash), timeout=timeout, **kw
            )
            return reply

    return await trio.to_thread.run_sync(go)


async def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


def count_tasks() -> int:
    """Every live task in this trio run (walks the task tree from the root)."""

    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(walk(t) for n in task.child_nurseries for t in n.child_tasks)

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return walk(root)
