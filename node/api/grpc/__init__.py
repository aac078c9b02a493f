"""gRPC server layer: HTTP/2 (h2, sans-IO) on trio streams, unary and server-streaming calls.

Owns gRPC framing, status trailers, deadlines, cancellation, flow control, limits, TLS,
keepalive and graceful shutdown, so that services are plain async functions::

    server = GrpcServer({"/pkg.Service/Method": unary(RequestMsg, handler)})
    port = await nursery.start(server.serve, "127.0.0.1", 0)

Knows nothing about Iroha: must not import node.api services, ordering, state, storage or
consensus. Depends only on trio, h2 and protobuf's ``Message`` interface.
"""

from node.api.grpc.methods import Method, ServiceContext, server_stream, unary
from node.api.grpc.server import GrpcServer
from node.api.grpc.status import (
    GrpcError,
    Status,
    decode_grpc_message,
    encode_grpc_message,
    parse_grpc_timeout,
)

__all__ = [
    "GrpcError",
    "GrpcServer",
    "Method",
    "ServiceContext",
    "Status",
    "decode_grpc_message",
    "encode_grpc_message",
    "parse_grpc_timeout",
    "server_stream",
    "unary",
]
