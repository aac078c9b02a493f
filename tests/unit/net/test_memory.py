"""The in-memory pipe behaves like a socket: bounded buffer, EOF, broken pipe."""

from __future__ import annotations

import pytest
import trio

from node.net.memory import MemoryHub, memory_pipe_pair


async def test_round_trip_and_backpressure() -> None:
    a, b = memory_pipe_pair(capacity=10)
    await a.send_all(b"0123456789")  # fills the buffer exactly
    with trio.move_on_after(0.2) as cs:
        await a.send_all(b"x")
    assert cs.cancelled_caught  # blocked: nobody reads
    assert await b.receive_some(4) == b"0123"
    assert await b.receive_some() == b"456789"


async def test_blocked_writer_resumes_when_reader_drains() -> None:
    a, b = memory_pipe_pair(capacity=4)
    got = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.send_all, b"abcdefghij")
        while len(got) < 10:
            got += await b.receive_some()
    assert got == b"abcdefghij"


async def test_eof_and_broken() -> None:
    a, b = memory_pipe_pair()
    await a.send_all(b"last")
    await a.aclose()
    assert await b.receive_some() == b"last"
    assert await b.receive_some() == b""
    with pytest.raises(trio.BrokenResourceError):
        await b.send_all(b"to a closed peer")
    with pytest.raises(trio.ClosedResourceError):
        await a.send_all(b"after close")


async def test_close_wakes_blocked_writer() -> None:
    a, b = memory_pipe_pair(capacity=1)
    await a.send_all(b"x")
    outcome: list[type[BaseException]] = []

    async def write() -> None:
        try:
            await a.send_all(b"y")
        except trio.BrokenResourceError as exc:
            outcome.append(type(exc))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        await trio.sleep(0.01)
        assert outcome == []  # still blocked
        await b.aclose()
    assert outcome == [trio.BrokenResourceError]


async def test_hub_refuses_unknown_and_duplicate_addresses() -> None:
    hub = MemoryHub()
    t = hub.transport()
    with pytest.raises(ConnectionRefusedError):
        await t.connect("nowhere")

    async def echo(stream: trio.abc.Stream) -> None:
        await stream.send_all(await stream.receive_some())

    async with trio.open_nursery() as nursery:
        assert await nursery.start(t.serve, "n1", echo) == "n1"
        with pytest.raises(OSError):
            await t.serve("n1", echo)
        s = await t.connect("n1")
        await s.send_all(b"ping")
        assert await s.receive_some() == b"ping"
        nursery.cancel_scope.cancel()
    assert hub.listening() == set()
