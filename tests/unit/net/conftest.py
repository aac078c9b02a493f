"""Helpers for peer-network tests: key sets, node start/stop, raw (hand-driven) peers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import trio

from node.config import PeerLimits
from node.crypto import KeyPair, KeyScheme
from node.net import MemoryHub, PeerNetwork, TcpTransport, Transport
from node.net.framed import FramedStream
from node.net.framing import FrameDecoder, encode_frame
from node.net.handshake import make_auth, make_hello, new_challenge
from node.proto.peer import peer_pb2

CHAIN = "bakong-test"
# mixed schemes: Iroha's legacy keys and standard ed25519 both speak the protocol
KEYS = [
    KeyPair.generate(KeyScheme.ED25519 if i % 2 else KeyScheme.ED25519_SHA3, rng=random.Random(i))
    for i in range(8)
]
FAST = PeerLimits(
    handshake_timeout_s=1.0,
    reconnect_min_s=0.02,
    reconnect_max_s=0.2,
    max_frame_bytes=256 * 1024,
    max_vote_frame_bytes=16 * 1024,
)


def status(height: int) -> peer_pb2.Frame:
    return peer_pb2.Frame(status=peer_pb2.Status(top_height=height))


class Net:
    """A transport factory: fresh transports and listen addresses for one test."""

    def __init__(self, kind: str, make_tcp: Callable[[], TcpTransport] = TcpTransport) -> None:
        self.kind = kind
        self.hub = MemoryHub()
        self._make_tcp = make_tcp
        self._n = 0

    def transport(self) -> Transport:
        return self.hub.transport() if self.kind == "memory" else self._make_tcp()

    def address(self) -> str:
        self._n += 1
        return f"node{self._n}" if self.kind == "memory" else "127.0.0.1:0"


@pytest.fixture(params=["memory", "tcp"])
def net(request: pytest.FixtureRequest) -> Iterator[Net]:
    yield Net(request.param)


@dataclass
class Node:
    net: PeerNetwork
    received: list[tuple[str, peer_pb2.Frame]] = field(default_factory=list)
    done: trio.Event = field(default_factory=trio.Event)

    @property
    def key(self) -> str:
        return self.net.public_key

    @property
    def address(self) -> str:
        return self.net.listen_address

    def frames_from(self, key: str) -> list[peer_pb2.Frame]:
        return [f for k, f in self.received if k == key]

    async def stop(self) -> None:
        self.net.close()
        await self.done.wait()


async def start_node(
    nursery: trio.Nursery,
    keypair: KeyPair,
    transport: Transport,
    address: str,
    *,
    allowed: set[str] | None = None,
    limits: PeerLimits = FAST,
    chain: str = CHAIN,
    seed: int = 0,
) -> Node:
    """Start a PeerNetwork that accepts ``allowed`` keys (default: all of KEYS) and
    collects whatever it receives into ``node.received``."""
    allow = {k.public_key for k in KEYS} if allowed is None else allowed
    pn = PeerNetwork(
        keypair, chain, address, limits, lambda k: k in allow, transport, random.Random(seed)
    )
    node = Node(pn)

    async def run() -> None:
        try:
            async with trio.open_nursery() as inner:
                await inner.start(pn.run)
                started.set()
                async for item in pn.inbound:
                    node.received.append(item)
        finally:
            node.done.set()

    started = trio.Event()
    nursery.start_soon(run)
    await started.wait()
    return node


async def wait_until(pred: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    with trio.fail_after(timeout):
        while not pred():
            await trio.sleep(0.005)
    assert pred(), what


async def connect_all(nodes: list[Node]) -> None:
    for n in nodes:
        n.net.set_peers({m.key: m.address for m in nodes if m is not n})

    def mesh() -> bool:
        return all(n.net.connected() == {m.key for m in nodes if m is not n} for n in nodes)

    await wait_until(mesh, what="full mesh")
    # A simultaneous dial may still replace a connection (what was written on it still
    # arrives, but out of order with the winner's frames); let the tie-break settle.
    await trio.sleep(0.2)
    await wait_until(mesh, what="full mesh after settling")


@asynccontextmanager
async def raw_peer(transport: Transport, address: str) -> AsyncIterator[FramedStream]:
    """A hand-driven connection for playing a misbehaving peer."""
    stream = await transport.connect(address)
    framed = FramedStream(stream, FrameDecoder(1 << 20))
    try:
        yield framed
    finally:
        await framed.aclose()


async def raw_handshake(
    framed: FramedStream, keypair: KeyPair, *, chain: str = CHAIN
) -> peer_pb2.Hello:
    """Do an honest handshake by hand; return the other side's Hello."""
    await framed.send_all(encode_frame(make_hello(keypair, chain, new_challenge(), "raw:0", 0)))
    theirs = await framed.receive_frame()
    assert theirs is not None and theirs.WhichOneof("kind") == "hello"
    await framed.send_all(encode_frame(make_auth(keypair, chain, theirs.hello.challenge)))
    auth = await framed.receive_frame()
    assert auth is not None and auth.WhichOneof("kind") == "auth"
    return theirs.hello


async def closed_by_other_side(framed: FramedStream, timeout: float = 5.0) -> bool:
    """True when the other side ends the connection (EOF or reset) within ``timeout``."""
    with trio.move_on_after(timeout):
        try:
            while await framed.receive_frame() is not None:
                pass
        except Exception:  # reset, broken pipe or garbage: all mean "hung up"
            pass
        return True
    return False
