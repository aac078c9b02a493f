"""A grpcio server in the test process: generic test methods and a scripted Torii.

It stands in for the project's own server (node/api/grpc) so that the client is
checked against the reference gRPC implementation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from node.proto.iroha import (
    block_pb2,
    endpoint_pb2,
    qry_responses_pb2,
    queries_pb2,
    transaction_pb2,
)

_raw: Callable[[bytes], bytes] = lambda b: b  # noqa: E731


class GrpcTestServer:
    """Starts on 127.0.0.1 with a free port; ``stop()`` when done."""

    def __init__(self, credentials: grpc.ServerCredentials | None = None) -> None:
        self.cancelled_calls: set[str] = set()
        self.received_txs: list[transaction_pb2.Transaction] = []
        self.status_script: list[int] = [
            endpoint_pb2.STATELESS_VALIDATION_SUCCESS,
            endpoint_pb2.ENOUGH_SIGNATURES_COLLECTED,
            endpoint_pb2.STATEFUL_VALIDATION_SUCCESS,
            endpoint_pb2.COMMITTED,
        ]
        self.metadata_seen: list[tuple[tuple[str, str], ...]] = []
        self.server = grpc.server(
            ThreadPoolExecutor(max_workers=16),
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        self.server.add_generic_rpc_handlers(
            (self._test_service(), self._command_service(), self._query_service())
        )
        addr = "127.0.0.1:0"
        if credentials is None:
            self.port = self.server.add_insecure_port(addr)
        else:
            self.port = self.server.add_secure_port(addr, credentials)
        self.server.start()
        self.target = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None)

    # ---------------------------------------------------------- test.Test

    def _test_service(self) -> grpc.GenericRpcHandler:
        def echo(req: bytes, ctx: grpc.ServicerContext) -> bytes:
            self.metadata_seen.append(tuple(ctx.invocation_metadata()))
            return req

        def size(req: bytes, ctx: grpc.ServicerContext) -> bytes:
            return str(len(req)).encode()

        def fail(req: bytes, ctx: grpc.ServicerContext) -> bytes:
            code = grpc.StatusCode.__members__[req.decode()]
            ctx.abort(code, "bad thing: 50% of ünïcode\nsecond line")
            raise AssertionError("unreachable")

        def slow(req: bytes, ctx: grpc.ServicerContext) -> bytes:
            time.sleep(float(req.decode()))
            return b"late"

        def stream(req: bytes, ctx: grpc.ServicerContext) -> Iterator[bytes]:
            count, size_ = (int(x) for x in req.decode().split(","))
            for i in range(count):
                yield i.to_bytes(4, "big") + bytes(size_ - 4)

        def forever(req: bytes, ctx: grpc.ServicerContext) -> Iterator[bytes]:
            # Runs until the client goes away; the request is a tag naming the call.
            i = 0
            try:
                while ctx.is_active():
                    yield i.to_bytes(4, "big")
                    i += 1
                    time.sleep(0.005)
            finally:
                if not ctx.is_active():
                    self.cancelled_calls.add(req.decode())

        def stream_then_fail(req: bytes, ctx: grpc.ServicerContext) -> Iterator[bytes]:
            yield b"one"
            yield b"two"
            ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, "stopped after two")

        u = grpc.unary_unary_rpc_method_handler
        s = grpc.unary_stream_rpc_method_handler
        kw: dict[str, Any] = {"request_deserializer": _raw, "response_serializer": _raw}
        return grpc.method_handlers_generic_handler(
            "test.Test",
            {
                "Echo": u(echo, **kw),
                "Size": u(size, **kw),
                "Fail": u(fail, **kw),
                "Slow": u(slow, **kw),
                "Stream": s(stream, **kw),
                "Forever": s(forever, **kw),
                "StreamThenFail": s(stream_then_fail, **kw),
            },
        )

    # ------------------------------------------------ iroha.protocol (scripted)

    def _command_service(self) -> grpc.GenericRpcHandler:
        def torii(req: transaction_pb2.Transaction, ctx: grpc.ServicerContext) -> bytes:
            self.received_txs.append(req)
            return b""

        def list_torii(req: endpoint_pb2.TxList, ctx: grpc.ServicerContext) -> bytes:
            self.received_txs.extend(req.transactions)
            return b""

        def status(req: endpoint_pb2.TxStatusRequest, ctx: grpc.ServicerContext) -> Any:
            return endpoint_pb2.ToriiResponse(
                tx_status=endpoint_pb2.NOT_RECEIVED, tx_hash=req.tx_hash
            )

        def status_stream(
            req: endpoint_pb2.TxStatusRequest, ctx: grpc.ServicerContext
        ) -> Iterator[Any]:
            for st in self.status_script:
                yield endpoint_pb2.ToriiResponse(tx_status=st, tx_hash=req.tx_hash)
                time.sleep(0.01)

        ser = {
            "response_serializer": lambda m: m if isinstance(m, bytes) else m.SerializeToString()
        }
        u = grpc.unary_unary_rpc_method_handler
        return grpc.method_handlers_generic_handler(
            "iroha.protocol.CommandService_v1",
            {
                "Torii": u(
                    torii, request_deserializer=transaction_pb2.Transaction.FromString, **ser
                ),
                "ListTorii": u(
                    list_torii, request_deserializer=endpoint_pb2.TxList.FromString, **ser
                ),
                "Status": u(
                    status, request_deserializer=endpoint_pb2.TxStatusRequest.FromString, **ser
                ),
                "StatusStream": grpc.unary_stream_rpc_method_handler(
                    status_stream,
                    request_deserializer=endpoint_pb2.TxStatusRequest.FromString,
                    **ser,
                ),
            },
        )

    def _query_service(self) -> grpc.GenericRpcHandler:
        def find(req: queries_pb2.Query, ctx: grpc.ServicerContext) -> Any:
            resp = qry_responses_pb2.QueryResponse()
            resp.query_hash = "ab" * 32
            resp.account_response.account.account_id = req.payload.get_account.account_id
            resp.account_response.account.quorum = 1
            return resp

        def fetch_commits(req: queries_pb2.BlocksQuery, ctx: grpc.ServicerContext) -> Iterator[Any]:
            for h in range(1, 4):
                r = qry_responses_pb2.BlockQueryResponse()
                r.block_response.block.block_v1.CopyFrom(
                    block_pb2.Block_v1(payload=block_pb2.Block_v1.Payload(height=h))
                )
                yield r

        def health(req: bytes, ctx: grpc.ServicerContext) -> Any:
            return qry_responses_pb2.HealthcheckData(is_healthy=True, last_block_height=7)

        ser = {"response_serializer": lambda m: m.SerializeToString()}
        return grpc.method_handlers_generic_handler(
            "iroha.protocol.QueryService_v1",
            {
                "Find": grpc.unary_unary_rpc_method_handler(
                    find, request_deserializer=queries_pb2.Query.FromString, **ser
                ),
                "FetchCommits": grpc.unary_stream_rpc_method_handler(
                    fetch_commits, request_deserializer=queries_pb2.BlocksQuery.FromString, **ser
                ),
                "Healthcheck": grpc.unary_unary_rpc_method_handler(
                    health, request_deserializer=_raw, **ser
                ),
            },
        )
