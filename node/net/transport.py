"""Transports: how byte streams between peers are opened. The peer layer sees only
``trio.abc.Stream``; TCP, TLS over TCP and :mod:`node.net.memory` are interchangeable."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

StreamHandler = Callable[[trio.abc.Stream], Awaitable[None]]


class Transport(Protocol):
    async def connect(self, address: str) -> trio.abc.Stream:
        """Open a stream to ``address``; raise OSError when nobody listens there."""
        ...

    async def serve(
        self,
        address: str,
        handler: StreamHandler,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``address`` and run ``handler(stream)`` in a new task per connection
        until cancelled. ``task_status.started`` receives the bound address (port 0 in a
        TCP address is replaced by the real port)."""
        ...


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6-host]:port`` → (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class TcpTransport:
    """TCP, optionally wrapped in TLS.

    ``server_ssl`` is used for accepted connections, ``client_ssl`` for dialed ones; give
    both for TLS between validators (require client certificates in ``server_ssl`` for
    mutual TLS). The TLS handshake runs on first I/O, i.e. inside the peer handshake
    timeout, so a stalled TLS client cannot hold the accept loop. Peer identity is still
    proven by the Auth signature; TLS adds confidentiality and an operator-controlled gate.
    """

    def __init__(
        self,
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.server_hostname = server_hostname

    async def connect(self, address: str) -> trio.abc.Stream:
        host, port = split_address(address)
        tcp = await trio.open_tcp_stream(host, port)
        _tune(tcp)
        if self.client_ssl is None:
            return tcp
        return trio.SSLStream(tcp, self.client_ssl, server_hostname=self.server_hostname or host)

    async def serve(
        self,
        address: str,
        handler: StreamHandler,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        host, port = split_address(address)
        tcp_listeners = await trio.open_tcp_listeners(port, host=host or None)
        bound_host, bound_port = tcp_listeners[0].socket.getsockname()[:2]
        listeners: list[trio.abc.Listener[trio.abc.Stream]] = []
        for lst in tcp_listeners:
            if self.server_ssl is None:
                listeners.append(lst)
            else:
                listeners.append(trio.SSLListener(lst, self.server_ssl))

        async def tuned(stream: trio.abc.Stream) -> None:
            inner = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
            if isinstance(inner, trio.SocketStream):
                _tune(inner)
            await handler(stream)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, tuned, listeners)
            task_status.started(join_address(host or bound_host, bound_port))


def _tune(stream: trio.SocketStream) -> None:
    # keepalive: a peer that vanished without FIN (power loss) is eventually noticed
    # even on an idle connection
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
