"""Plain HTTP endpoints of a node: ``/metrics`` (Prometheus), ``/healthcheck`` and ``/status``.

``/healthcheck`` answers like Iroha's (JSON keys ``memory_consumption``,
``last_block_round``, ``last_reject_round``, ``is_syncing``, ``status``); ``/status``
is a richer JSON document for operators and the devnet (height, round, peers, tx/s).
GET only, one request per connection, small bounded requests: this endpoint is for
scrapers and probes, not for clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import trio

from node.log import get_logger

MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT_S = 5.0

log = get_logger("http")


def _response(code: int, reason: str, body: bytes, ctype: str) -> bytes:
    head = (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class HttpEndpoint:
    """Serves the three documents from callables evaluated per request."""

    def __init__(
        self,
        metrics: Callable[[], bytes],
        health: Callable[[], dict[str, Any]],
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self._routes: dict[str, Callable[[], tuple[bytes, str]]] = {
            "/metrics": lambda: (metrics(), "text/plain; version=0.0.4; charset=utf-8"),
            "/healthcheck": lambda: (json.dumps(health()).encode(), "application/json"),
            "/status": lambda: (json.dumps(status()).encode(), "application/json"),
        }

    async def serve(
        self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        task_status.started(bound)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(REQUEST_TIMEOUT_S):
                data = b""
                while b"\r\n\r\n" not in data and len(data) <= MAX_REQUEST_BYTES:
                    chunk = await stream.receive_some(4096)
                    if not chunk:
                        return
                    data += chunk
                await stream.send_all(self._answer(data))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    def _answer(self, data: bytes) -> bytes:
        if len(data) > MAX_REQUEST_BYTES:
            return _response(431, "Request Header Fields Too Large", b"", "text/plain")
        line = data.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return _response(400, "Bad Request", b"malformed request line\n", "text/plain")
        method, target, _ = parts
        if method != "GET":
            return _response(405, "Method Not Allowed", b"GET only\n", "text/plain")
        route = self._routes.get(target.split("?", 1)[0])
        if route is None:
            known = ", ".join(self._routes)
            return _response(404, "Not Found", f"try {known}\n".encode(), "text/plain")
        try:
            body, ctype = route()
        except Exception:
            log.error("http_handler_failed", exc=True, path=target)
            return _response(500, "Internal Server Error", b"", "text/plain")
        return _response(200, "OK", body, ctype)
