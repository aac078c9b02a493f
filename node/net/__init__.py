"""Validator-to-validator network: framing, authenticated handshake, transports, router.

Owns everything between a ``bakong.peer.Frame`` object and a socket. It knows nothing of
consensus, ordering or storage: it must not import node.consensus, node.ordering,
node.state, node.storage or node.api. What it needs from the node comes in as arguments
(``is_allowed(public_key)`` for the changing validator set, ``top_height()``).

Wire: each message is ``len (4-byte big-endian) || Frame`` (:mod:`node.net.framing`, a
sans-IO decoder). A connection opens with Hello then Auth in both directions; Auth signs
``auth_digest(chain_id, other side's challenge, signer key)``
(:mod:`node.net.handshake`). Refusals are counted in ``stats.refused`` by
:class:`Refusal` reason.

Use::

    net = PeerNetwork(keypair, chain_id, "0.0.0.0:10001", limits.peers, is_allowed,
                      TcpTransport(), random.Random(seed), top_height=lambda: height)
    address = await nursery.start(net.run)    # listens; returns the bound address
    net.set_peers({public_key: "host:port"})  # desired validators; redial with backoff
    net.send(public_key, frame) -> bool       # never blocks; False = dropped (counted)
    net.broadcast(frame) -> int               # to every connected peer
    async for public_key, frame in net.inbound: ...   # one bounded channel, all peers
    net.connected() -> set[str]; net.peer_info(key) -> PeerHello | None
    net.disconnect(key); net.close(); net.stats (NetStats counters)

Guarantees: one connection per pair (the one dialed by the lower key wins when both
dial; frames already written on the loser are still delivered, as it is read until the
peer ends it or for one handshake timeout); a full per-peer outbound queue drops instead
of blocking; inbound frames pass a per-peer token bucket (excess dropped, a persistent
flood disconnects); a peer that stops reading only fills its own queue. Transports:
:class:`TcpTransport` (optionally TLS) and :class:`MemoryTransport` on a
:class:`MemoryHub` (tests, simulation), interchangeable.
A ``PeerNetwork`` runs once; build a new one to restart.
"""

from node.net.framing import FrameDecoder, ProtocolError, encode_frame, encode_frames
from node.net.handshake import HandshakeRefused, PeerHello, Refusal, auth_digest
from node.net.memory import MemoryHub, MemoryTransport, memory_pipe_pair
from node.net.peers import NetStats, PeerNetwork
from node.net.ratelimit import TokenBucket
from node.net.transport import TcpTransport, Transport, split_address

__all__ = [
    "FrameDecoder",
    "HandshakeRefused",
    "MemoryHub",
    "MemoryTransport",
    "NetStats",
    "PeerHello",
    "PeerNetwork",
    "ProtocolError",
    "Refusal",
    "TcpTransport",
    "TokenBucket",
    "Transport",
    "auth_digest",
    "encode_frame",
    "encode_frames",
    "memory_pipe_pair",
    "split_address",
]
