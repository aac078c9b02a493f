"""Mutated HTTP/2 byte streams: every connection ends cleanly, nothing is logged as a crash,
and the server keeps answering. (Seeded, so a failure replays; Torii fuzz in the reliability
plan, row 13, builds on this at the service level.)"""

from __future__ import annotations

import logging
import random

import h2.config
import h2.connection
import pytest
import trio

from node.api.grpc import GrpcServer
from node.proto.iroha.endpoint_pb2 import TxStatusRequest
from tests.api.grpc.conftest import STREAM, UNARY, call_unary, wait_for
from tests.api.grpc.h2client import grpc_frame


def _valid_client_bytes() -> bytes:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    body = grpc_frame(TxStatusRequest(tx_hash="fuzz").SerializeToString())
    for path in (UNARY, STREAM, UNARY):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(
            sid,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", path),
                (":authority", "x"),
                ("content-type", "application/grpc"),
                ("grpc-timeout", "5S"),
                ("x-meta", "v"),
            ],
        )
        conn.send_data(sid, body, end_stream=True)
    conn.ping(b"12345678")
    conn.increment_flow_control_window(1000)
    conn.reset_stream(3)
    return conn.data_to_send()


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:  # flip a few bytes
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif kind == 1:  # truncate
        del buf[rng.randrange(len(buf)) :]
    elif kind == 2:  # splice random garbage in
        at = rng.randrange(len(buf))
        buf[at:at] = rng.randbytes(rng.randint(1, 64))
    else:  # duplicate a slice (repeated frames, repeated stream ids)
        a = rng.randrange(len(buf))
        b = min(len(buf), a + rng.randint(1, 200))
        buf[b:b] = buf[a:b]
    return bytes(buf)


async def _exchange(port: int, data: bytes) -> int:
    """Send ``data``; read until the server closes or stays quiet for 50 ms; bytes received."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = 0
    try:
        await stream.send_all(data)
        while True:
            with trio.move_on_after(0.05):
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                received += len(chunk)
                continue
            break  # quiet: whatever the server could answer, it has
    except trio.BrokenResourceError:
        pass  # reset by the server after its GOAWAY
    finally:
        await stream.aclose()
    return received


async def test_mutated_streams_never_crash_the_server(
    server: GrpcServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="node.api.grpc")
    valid = _valid_client_bytes()
    rng = random.Random(20240613)
    inputs = [valid] + [_mutate(valid, rng) for _ in range(300)]
    sizes: list[int] = [0] * len(inputs)
    limit = trio.Semaphore(10)

    async def one(i: int) -> None:
        async with limit:
            sizes[i] = await _exchange(server.port, inputs[i])

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for i in range(len(inputs)):
                nursery.start_soon(one, i)
    # The unmutated stream gets two full answers (stream 3 it resets itself), ~200 bytes with
    # SETTINGS and acks; many mutations still get answers, so the fuzz reaches the handlers.
    assert sizes[0] > 150
    assert sum(size > 150 for size in sizes[1:]) > 20
    await wait_for(lambda: server.live_connections == 0 and server.live_streams == 0)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert (await call_unary(server.port, "after-fuzz")).tx_hash == "after-fuzz"
