"""The peer router: persistent authenticated connections to the other validators."""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import trio

from node.config import PeerLimits
from node.crypto import KeyPair
from node.net.framed import FramedStream
from node.net.framing import FrameDecoder, ProtocolError, encode_body
from node.net.handshake import (
    HANDSHAKE_MAX_FRAME_BYTES,
    HandshakeRefused,
    PeerHello,
    Refusal,
    perform_handshake,
)
from node.net.ratelimit import TokenBucket
from node.net.transport import Transport
from node.proto.peer import peer_pb2

log = logging.getLogger("node.net")

Frame = peer_pb2.Frame
Inbound = tuple[str, peer_pb2.Frame]

# Local knobs not (yet) in PeerLimits.
WRITE_BATCH_BYTES = 256 * 1024  # coalesce queued frames into writes of up to this size
WRITE_STALL_S = 30.0  # a peer that accepts no bytes for this long is disconnected


@dataclass
class NetStats:
    """Counters of the peer layer (plain ints: read them, export them as metrics)."""

    sent: int = 0  # frames written to a connection
    writes: int = 0  # send_all calls; sent / writes = frames coalesced per write
    received: int = 0  # frames delivered to ``inbound``
    bytes_sent: int = 0
    bytes_received: int = 0
    dropped_full: int = 0  # send() while the peer's outbound queue was full
    dropped_not_connected: int = 0  # send() to a peer with no connection
    dropped_oversize: int = 0  # send() of a frame above max_frame_bytes
    dropped_rate: int = 0  # inbound frames over the peer's rate limit
    dropped_unknown: int = 0  # inbound frames of a kind this version does not know
    protocol_errors: int = 0  # connections closed for bad bytes (incl. during handshake)
    refused: Counter[str] = field(default_factory=Counter)  # by Refusal reason
    disconnected_flood: int = 0
    disconnected_stalled: int = 0
    duplicates_closed: int = 0  # second connection of a pair, closed by the tie-break
    connections: int = 0  # authenticated connections established
    dial_failures: int = 0  # connect() failed (nobody listening, unreachable)


class _Conn:
    def __init__(
        self, framed: FramedStream, peer: PeerHello, initiator: str, limits: PeerLimits
    ) -> None:
        self.framed = framed
        self.peer = peer
        self.key = peer.public_key
        self.initiator = initiator  # public key of the side that dialed
        self.out_send, self.out_recv = trio.open_memory_channel[bytes](limits.outbound_queue)
        self.bucket = TokenBucket(limits.rate_msgs_per_s, limits.rate_burst, trio.current_time())
        self.scope = trio.CancelScope()
        self.closed = trio.Event()
        self.opened_at = trio.current_time()
        self.retired = False  # lost a tie-break: read only, until the peer ends it

    def close(self) -> None:
        self.scope.cancel()


class PeerNetwork:
    """See the package docstring of :mod:`node.net` for the contract."""

    def __init__(
        self,
        keypair: KeyPair,
        chain_id: str,
        listen_address: str,
        limits: PeerLimits,
        is_allowed: Callable[[str], bool],
        transport: Transport,
        rng: random.Random,
        *,
        top_height: Callable[[], int] = lambda: 0,
        write_stall_s: float = WRITE_STALL_S,
    ) -> None:
        self.keypair = keypair
        self.public_key = keypair.public_key.lower()
        self.chain_id = chain_id
        self.listen_address = listen_address  # replaced by the bound address in run()
        self.limits = limits
        self.is_allowed = is_allowed
        self.transport = transport
        self.rng = rng
        self.top_height = top_height
        self.write_stall_s = write_stall_s
        self.stats = NetStats()
        self._inbound_send, self.inbound = trio.open_memory_channel[Inbound](limits.inbound_queue)
        self._conns: dict[str, _Conn] = {}
        self._handshaking = 0
        self._desired: dict[str, str] = {}
        self._dialers: dict[str, tuple[str, trio.CancelScope]] = {}
        self._nursery: trio.Nursery | None = None
        self._scope: trio.CancelScope | None = None

    # --- public API -------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, dial the desired peers, keep connections up until cancelled or close().
        ``task_status.started`` receives the bound listen address."""
        try:
            with trio.CancelScope() as self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    self.listen_address = await nursery.start(
                        self.transport.serve, self.listen_address, self._accept
                    )
                    self._sync_dialers()
                    log.info(
                        "%s listening on %s", self._short(self.public_key), self.listen_address
                    )
                    task_status.started(self.listen_address)
        finally:
            self._nursery = None
            self._inbound_send.close()

    def close(self) -> None:
        """Stop run(): close every connection and the listener."""
        if self._scope is not None:
            self._scope.cancel()

    def set_peers(self, peers: Mapping[str, str]) -> None:
        """Desired peers, ``{public_key: address}``; dialed and kept connected. Call it
        again whenever the validator set changes. Connections whose key ``is_allowed``
        now rejects are closed."""
        self._desired = {k.lower(): a for k, a in peers.items() if k.lower() != self.public_key}
        for key, conn in list(self._conns.items()):
            if not self.is_allowed(key):
                log.info("closing %s: no longer allowed", self._short(key))
                conn.close()
        self._sync_dialers()

    def send(self, public_key: str, frame: peer_pb2.Frame) -> bool:
        """Queue ``frame`` for one peer without blocking. False = dropped (not connected,
        queue full or frame too large), counted in ``stats``."""
        return self._enqueue(public_key.lower(), frame.SerializeToString())

    def broadcast(self, frame: peer_pb2.Frame) -> int:
        """Queue ``frame`` for every connected peer (serialized once); returns how many
        queues accepted it."""
        body = frame.SerializeToString()
        return sum(self._enqueue(key, body) for key in list(self._conns))

    def connected(self) -> set[str]:
        return set(self._conns)

    def peer_info(self, public_key: str) -> PeerHello | None:
        conn = self._conns.get(public_key.lower())
        return None if conn is None else conn.peer

    def disconnect(self, public_key: str) -> None:
        """Close the connection to a peer (it is redialed if still desired)."""
        conn = self._conns.get(public_key.lower())
        if conn is not None:
            conn.close()

    # --- sending ----------------------------------------------------------------------

    def _enqueue(self, key: str, body: bytes) -> bool:
        conn = self._conns.get(key)
        if conn is None:
            self.stats.dropped_not_connected += 1
            return False
        if len(body) > self.limits.max_frame_bytes:
            self.stats.dropped_oversize += 1
            log.warning("not sending a %d-byte frame: above max_frame_bytes", len(body))
            return False
        try:
            conn.out_send.send_nowait(encode_body(body))
        except trio.WouldBlock:
            self.stats.dropped_full += 1
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self.stats.dropped_not_connected += 1
            return False
        return True

    async def _writer(self, conn: _Conn) -> None:
        # Everything queued while the previous write was in flight goes out as one write.
        async for first in conn.out_recv:
            batch, size = [first], len(first)
            while size < WRITE_BATCH_BYTES:
                try:
                    item = conn.out_recv.receive_nowait()
                except trio.WouldBlock:
                    break
                batch.append(item)
                size += len(item)
            with trio.move_on_after(self.write_stall_s) as stall:
                await conn.framed.send_all(b"".join(batch))
            if stall.cancelled_caught:
                self.stats.disconnected_stalled += 1
                log.warning("closing %s: no write progress in %.0f s", conn.key, self.write_stall_s)
                return
            self.stats.sent += len(batch)
            self.stats.writes += 1
            self.stats.bytes_sent += size
        # Only _retire closes the queue. The peer may still be sending on this connection
        # (it has not yet seen the winner): the reader goes on delivering until the peer
        # ends it, which our EOF asks it to do, or the grace deadline.
        await conn.framed.send_eof()
        await trio.sleep_forever()

    # --- receiving --------------------------------------------------------------------

    async def _reader(self, conn: _Conn) -> None:
        limits = self.limits
        while True:
            before = conn.framed.bytes_received
            frame = await conn.framed.receive_frame()
            self.stats.bytes_received += conn.framed.bytes_received - before
            if frame is None:
                log.info("%s closed the connection", self._short(conn.key))
                return
            kind = frame.WhichOneof("kind")
            if kind is None:
                self.stats.dropped_unknown += 1
                continue
            if kind in ("hello", "auth"):
                raise ProtocolError(f"{kind} after the handshake")
            if kind == "votes" and frame.ByteSize() > limits.max_vote_frame_bytes:
                raise ProtocolError(f"vote frame above {limits.max_vote_frame_bytes} bytes")
            if not conn.bucket.take(trio.current_time()):
                self.stats.dropped_rate += 1
                if conn.bucket.flooding:
                    self.stats.disconnected_flood += 1
                    log.warning("closing %s: persistent flood above rate limit", conn.key)
                    return
                continue
            # Back-pressure: a slow consumer stalls the readers, never the senders.
            await self._inbound_send.send((conn.key, frame))
            self.stats.received += 1

    async def _run_connection(self, conn: _Conn) -> None:
        try:
            with conn.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._guard, conn, self._writer)
                    nursery.start_soon(self._guard, conn, self._reader)
        finally:
            if self._conns.get(conn.key) is conn:
                del self._conns[conn.key]
            conn.out_send.close()
            conn.closed.set()
            with trio.CancelScope(shield=True):
                await conn.framed.aclose()
            if conn.retired:
                log.info("closed the duplicate connection to %s", self._short(conn.key))
            else:
                log.info("disconnected from %s", self._short(conn.key))

    async def _guard(self, conn: _Conn, part: Callable[[_Conn], Awaitable[None]]) -> None:
        """Run the reader or writer; any end of either closes the whole connection."""
        try:
            await part(conn)
        except ProtocolError as exc:
            self.stats.protocol_errors += 1
            log.warning("closing %s: protocol error: %s", self._short(conn.key), exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            log.info("connection to %s lost: %r", self._short(conn.key), exc)
        finally:
            conn.close()

    # --- establishing -----------------------------------------------------------------

    def _new_framed(self, stream: trio.abc.Stream) -> FramedStream:
        decoder = FrameDecoder(
            self.limits.max_frame_bytes,
            initial_frames=2,
            initial_max_bytes=HANDSHAKE_MAX_FRAME_BYTES,
        )
        return FramedStream(stream, decoder)

    async def _handshake(self, framed: FramedStream, expected_key: str | None) -> PeerHello:
        return await perform_handshake(
            framed,
            keypair=self.keypair,
            chain_id=self.chain_id,
            listen_address=self.listen_address,
            top_height=self.top_height(),
            is_allowed=self.is_allowed,
            expected_key=expected_key,
        )

    def _refused(self, exc: HandshakeRefused, where: str) -> None:
        self.stats.refused[exc.reason] += 1
        if exc.reason == Refusal.PROTOCOL_ERROR:
            self.stats.protocol_errors += 1
        log.warning("refused %s peer: %s (%s)", where, exc.reason, exc.detail)

    def _register(self, conn: _Conn) -> bool:
        """Make ``conn`` the connection to its peer, resolving duplicates. False = drop it;
        True = run it (as the connection, or retired if it lost the tie-break)."""
        old = self._conns.get(conn.key)
        if old is None:
            if len(self._conns) >= self.limits.max_connections:
                self._refused(
                    HandshakeRefused(Refusal.TOO_MANY, "connection limit"), "authenticated"
                )
                return False
        elif self._prefer(conn, old):
            self.stats.duplicates_closed += 1
            _move_queue(old, conn)
            self._retire(old)
        else:
            self.stats.duplicates_closed += 1
            self._retire(conn)
            return True
        self._conns[conn.key] = conn
        self.stats.connections += 1
        log.info(
            "connected to %s (%s)",
            self._short(conn.key),
            "dialed" if conn.initiator == self.public_key else "accepted",
        )
        return True

    def _retire(self, conn: _Conn) -> None:
        """Take a tie-break loser out of service without losing frames the peer wrote on
        it before it learned of the winner: nothing more is sent on it, its reader goes on
        until the peer ends it (both sides retire the same connection, and each sends
        EOF) or, on a transport without half-close (TLS), for one handshake timeout."""
        conn.retired = True
        conn.out_send.close()
        conn.scope.deadline = min(
            conn.scope.deadline, trio.current_time() + self.limits.handshake_timeout_s
        )

    def _prefer(self, new: _Conn, old: _Conn) -> bool:
        """Tie-break when both sides dialed: keep the connection initiated by the lower
        public key, which both sides compute alike. A redial by the same side replaces
        its older connection (the dialer believes the old one is dead)."""
        if new.initiator == old.initiator:
            return True
        return new.initiator == min(self.public_key, new.key)

    async def _accept(self, stream: trio.abc.Stream) -> None:
        framed = self._new_framed(stream)
        try:
            conn = await self._accept_handshake(framed)
            if conn is not None and self._register(conn):
                await self._run_connection(conn)
        except Exception:
            # one peer must never take the listener down; this is a bug, so log it loudly
            log.exception("unexpected error on an inbound peer connection")
        finally:
            with trio.CancelScope(shield=True):
                await framed.aclose()

    async def _accept_handshake(self, framed: FramedStream) -> _Conn | None:
        if self._handshaking >= self.limits.max_connections:
            self._refused(HandshakeRefused(Refusal.TOO_MANY, "too many handshakes"), "inbound")
            return None
        self._handshaking += 1
        try:
            with trio.move_on_after(self.limits.handshake_timeout_s):
                peer = await self._handshake(framed, None)
                return _Conn(framed, peer, peer.public_key, self.limits)
            self._refused(HandshakeRefused(Refusal.TIMEOUT, "handshake timeout"), "inbound")
        except HandshakeRefused as exc:
            self._refused(exc, "inbound")
        finally:
            self._handshaking -= 1
        return None

    async def _dial_once(self, key: str, address: str) -> _Conn | None:
        conn: _Conn | None = None
        framed: FramedStream | None = None
        try:
            with trio.move_on_after(self.limits.handshake_timeout_s):
                try:
                    stream = await self.transport.connect(address)
                except OSError as exc:
                    self.stats.dial_failures += 1
                    log.debug("dial %s at %s failed: %r", self._short(key), address, exc)
                    return None
                framed = self._new_framed(stream)
                peer = await self._handshake(framed, key)
                conn = _Conn(framed, peer, self.public_key, self.limits)
            if conn is None:
                self._refused(HandshakeRefused(Refusal.TIMEOUT, "handshake timeout"), "dialed")
        except HandshakeRefused as exc:
            self._refused(exc, "dialed")
        if conn is None or not self._register(conn):
            if framed is not None:
                with trio.CancelScope(shield=True):
                    await framed.aclose()
            return None
        return conn

    async def _dial_loop(self, key: str, address: str) -> None:
        attempt = 0
        if key < self.public_key:
            # The lower key's dial wins a tie-break; give it a head start so that two
            # validators starting together rarely open (and then drop) two connections.
            await trio.sleep(self._backoff(3))
        while True:
            conn = self._conns.get(key)
            if conn is None:
                conn = await self._dial_once(key, address)
                if conn is not None:
                    assert self._nursery is not None
                    self._nursery.start_soon(self._run_connection, conn)
                    continue
                attempt += 1
            else:
                await conn.closed.wait()
                # a connection that lasted resets the backoff; a flapping one does not
                held = trio.current_time() - conn.opened_at
                attempt = 0 if held >= self.limits.reconnect_max_s else attempt + 1
            await trio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter in [d/2, d], d = min(max, min * 2^(attempt-1))."""
        lo, hi = self.limits.reconnect_min_s, self.limits.reconnect_max_s
        d = min(hi, lo * math.pow(2.0, min(max(attempt - 1, 0), 30)))
        return self.rng.uniform(d / 2, d)

    def _sync_dialers(self) -> None:
        if self._nursery is None:
            return
        for key, (address, scope) in list(self._dialers.items()):
            if self._desired.get(key) != address:
                scope.cancel()
                del self._dialers[key]
        for key, address in sorted(self._desired.items()):
            if key not in self._dialers:
                scope = trio.CancelScope()
                self._dialers[key] = (address, scope)
                self._nursery.start_soon(self._run_dialer, key, address, scope)

    async def _run_dialer(self, key: str, address: str, scope: trio.CancelScope) -> None:
        with scope:
            await self._dial_loop(key, address)

    @staticmethod
    def _short(key: str) -> str:
        return key[:12]


def _move_queue(old: _Conn, new: _Conn) -> None:
    """Frames still queued on a connection that lost the tie-break go out on the winner."""
    while True:
        try:
            item = old.out_recv.receive_nowait()
            new.out_send.send_nowait(item)
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return
