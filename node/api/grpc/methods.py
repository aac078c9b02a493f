"""Method descriptors (unary / server-streaming) and the per-call context handlers receive."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import trio
from google.protobuf.message import Message

Req = TypeVar("Req", bound=Message)


class ServiceContext:
    """What a handler may know about its call: the method, the peer, the deadline, the headers."""

    __slots__ = ("_headers", "_metadata", "deadline", "method", "peer")

    def __init__(
        self,
        method: str,
        peer: str,
        deadline: float | None,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.method = method  #: full path, e.g. "/iroha.protocol.CommandService_v1/Torii"
        self.peer = peer  #: "ipv4:127.0.0.1:51234" (gRPC's peer string format)
        self.deadline = deadline  #: trio time (trio.current_time() clock) or None
        self._headers = headers
        self._metadata: dict[str, str] | None = None

    @property
    def metadata(self) -> Mapping[str, str]:
        """Request headers without HTTP/2 pseudo-headers (decoded on first use; last one wins)."""
        if self._metadata is None:
            self._metadata = {
                k.decode("ascii", "replace"): v.decode("utf-8", "replace")
                for k, v in self._headers
                if not k.startswith(b":")
            }
        return self._metadata

    def time_remaining(self) -> float | None:
        """Seconds until the deadline (never negative), or None when the call has none."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - trio.current_time())


@dataclass(frozen=True, slots=True)
class Method:
    """One RPC: how to decode its request and the handler that answers it."""

    request_type: type[Message]
    handler: Callable[[Any, ServiceContext], Any]
    streaming: bool


def unary(
    request_type: type[Req],
    handler: Callable[[Req, ServiceContext], Awaitable[Message]],
) -> Method:
    """A unary RPC: ``async def handler(request, ctx) -> Message``."""
    return Method(request_type, handler, streaming=False)


def server_stream(
    request_type: type[Req],
    handler: Callable[[Req, ServiceContext], AsyncIterator[Message]],
) -> Method:
    """A server-streaming RPC: ``async def handler(request, ctx)`` that yields messages."""
    return Method(request_type, handler, streaming=True)
