"""PeerNetwork over the in-memory transport and real loopback TCP."""

from __future__ import annotations

import dataclasses
import random

import pytest
import trio

from node.net import PeerNetwork, Refusal
from node.net.framed import FramedStream
from node.net.framing import FrameDecoder, encode_frame
from node.net.handshake import make_auth, make_hello, new_challenge
from node.proto.peer import peer_pb2

from .conftest import (
    CHAIN,
    FAST,
    KEYS,
    Net,
    Node,
    closed_by_other_side,
    connect_all,
    raw_handshake,
    raw_peer,
    start_node,
    status,
    wait_until,
)


@pytest.mark.parametrize("n", [2, 4])
async def test_mesh_exchanges_frames(net: Net, n: int) -> None:
    async with trio.open_nursery() as nursery:
        nodes = [
            await start_node(nursery, KEYS[i], net.transport(), net.address()) for i in range(n)
        ]
        await connect_all(nodes)
        for i, a in enumerate(nodes):
            for b in nodes:
                if b is not a:
                    assert a.net.send(b.key, status(100 + i))
            assert a.net.broadcast(status(200 + i)) == n - 1
        await wait_until(lambda: all(len(x.received) == 2 * (n - 1) for x in nodes))
        for i, a in enumerate(nodes):
            for b in nodes:
                if b is not a:
                    heights = [f.status.top_height for f in b.frames_from(a.key)]
                    assert heights == [100 + i, 200 + i]  # in order, per sender
            info = a.net.peer_info(nodes[(i + 1) % n].key)
            assert info is not None and info.listen_address == nodes[(i + 1) % n].address
            assert a.net.stats.refused == {}
            assert a.net.stats.protocol_errors == 0
        nursery.cancel_scope.cancel()


async def test_send_to_unknown_peer_is_counted_not_raised() -> None:
    net = Net("memory")
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address())
        assert not a.net.send(KEYS[1].public_key, status(1))
        assert a.net.broadcast(status(1)) == 0
        assert a.net.stats.dropped_not_connected == 1
        nursery.cancel_scope.cancel()


async def test_oversized_send_is_dropped_locally() -> None:
    net = Net("memory")
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address())
        b = await start_node(nursery, KEYS[1], net.transport(), net.address())
        await connect_all([a, b])
        huge = peer_pb2.Frame(auth=peer_pb2.Auth(signature=b"x" * (FAST.max_frame_bytes + 1)))
        assert not a.net.send(b.key, huge)
        assert a.net.stats.dropped_oversize == 1
        assert a.net.send(b.key, status(1))
        await wait_until(lambda: len(b.received) == 1)
        nursery.cancel_scope.cancel()


async def test_queued_frames_are_coalesced_into_few_writes() -> None:
    net = Net("memory")
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address())
        b = await start_node(nursery, KEYS[1], net.transport(), net.address())
        await connect_all([a, b])
        writes = a.net.stats.writes
        for i in range(200):  # synchronously: the writer has no chance to run in between
            assert a.net.send(b.key, status(i))
        await wait_until(lambda: len(b.received) == 200)
        assert [f.status.top_height for _, f in b.received] == list(range(200))
        assert a.net.stats.writes - writes <= 2
        nursery.cancel_scope.cancel()


# --- refusals ----------------------------------------------------------------------------


async def _victim_with_friend(nursery: trio.Nursery, net: Net) -> tuple[Node, Node]:
    """Node A (the one attacked) and an honest peer B connected to it."""
    a = await start_node(nursery, KEYS[0], net.transport(), net.address())
    b = await start_node(nursery, KEYS[1], net.transport(), net.address())
    await connect_all([a, b])
    return a, b


async def _friend_still_fine(a: Node, b: Node) -> None:
    before = len(b.received)
    assert a.net.connected() == {b.key}
    assert a.net.send(b.key, status(4242))
    await wait_until(lambda: len(b.received) == before + 1)
    assert b.received[-1][1].status.top_height == 4242


def _hello(keypair_index: int, **fields: object) -> bytes:
    frame = make_hello(KEYS[keypair_index], CHAIN, new_challenge(), "raw:0", 0)
    for k, v in fields.items():
        setattr(frame.hello, k, v)
    return encode_frame(frame)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown_key", Refusal.NOT_ALLOWED),
        ("wrong_chain", Refusal.CHAIN_ID),
        ("wrong_version", Refusal.PROTOCOL_VERSION),
        ("own_key", Refusal.OWN_KEY),
        ("bad_signature", Refusal.BAD_SIGNATURE),
        ("replayed_auth", Refusal.BAD_SIGNATURE),
        ("reflected_challenge", Refusal.BAD_HELLO),
        ("garbage", Refusal.PROTOCOL_ERROR),
        ("http_request", Refusal.PROTOCOL_ERROR),
        ("oversized_hello", Refusal.PROTOCOL_ERROR),
        ("vote_instead_of_auth", Refusal.PROTOCOL_ERROR),
        ("silent", Refusal.TIMEOUT),
        ("hello_then_silent", Refusal.TIMEOUT),
    ],
)
async def test_refusal(net: Net, case: str, reason: str) -> None:
    async with trio.open_nursery() as nursery:
        a, b = await _victim_with_friend(nursery, net)
        t = net.transport()
        async with raw_peer(t, a.address) as p:
            if case == "unknown_key":
                await p.send_all(_hello(0, public_key="ab" * 32))
            elif case == "wrong_chain":
                await p.send_all(_hello(2, chain_id="other-chain"))
            elif case == "wrong_version":
                await p.send_all(_hello(2, protocol_version=99))
            elif case == "own_key":
                await p.send_all(_hello(0))
            elif case == "bad_signature":
                await p.send_all(_hello(2))
                await p.receive_frame()
                await p.send_all(
                    encode_frame(peer_pb2.Frame(auth=peer_pb2.Auth(signature=b"\1" * 64)))
                )
            elif case == "replayed_auth":
                # A signature by an allowed key over some other challenge (as recorded from
                # an earlier connection) does not open a new one.
                await p.send_all(_hello(2))
                await p.receive_frame()
                old = make_auth(KEYS[2], CHAIN, new_challenge())
                await p.send_all(encode_frame(old))
            elif case == "reflected_challenge":
                theirs = await p.receive_frame()  # A speaks first; echo its challenge
                assert theirs is not None
                await p.send_all(_hello(2, challenge=theirs.hello.challenge))
            elif case == "garbage":
                await p.send_all(b"\x00\x00\x00\x04\xff\xff\xff\xff")
            elif case == "http_request":
                await p.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            elif case == "oversized_hello":
                big = make_hello(KEYS[2], CHAIN, new_challenge(), "x" * 10_000, 0)
                await p.send_all(encode_frame(big))
            elif case == "vote_instead_of_auth":
                await p.send_all(_hello(2))
                await p.receive_frame()
                await p.send_all(encode_frame(peer_pb2.Frame(votes=peer_pb2.VoteState())))
            elif case == "silent":
                pass
            elif case == "hello_then_silent":
                await p.send_all(_hello(2))
            assert await closed_by_other_side(p), "the victim must hang up"
        await wait_until(lambda: a.net.stats.refused[reason] == 1, what=reason)
        assert sum(a.net.stats.refused.values()) == 1
        if reason == Refusal.PROTOCOL_ERROR:
            assert a.net.stats.protocol_errors == 1
        await _friend_still_fine(a, b)
        nursery.cancel_scope.cancel()


async def test_dialed_address_with_another_key_is_refused() -> None:
    net = Net("memory")
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address())
        b = await start_node(nursery, KEYS[1], net.transport(), net.address())
        a.net.set_peers({KEYS[2].public_key: b.address})  # b's address, wrong key
        await wait_until(lambda: a.net.stats.refused[Refusal.UNEXPECTED_KEY] >= 1)
        assert a.net.connected() == set()
        nursery.cancel_scope.cancel()


async def test_errors_after_handshake_close_only_that_peer(net: Net) -> None:
    async with trio.open_nursery() as nursery:
        a, b = await _victim_with_friend(nursery, net)
        cases = [
            # above max_frame_bytes: refused from the prefix alone
            (FAST.max_frame_bytes + 1).to_bytes(4, "big"),
            # a vote state above max_vote_frame_bytes
            encode_frame(
                peer_pb2.Frame(
                    votes=peer_pb2.VoteState(
                        votes=[peer_pb2.Vote(signature=b"s" * FAST.max_vote_frame_bytes)]
                    )
                )
            ),
            # a second Hello
            _hello(2),
            # bytes that are no protobuf
            b"\x00\x00\x00\x03\xff\xff\xff",
        ]
        for i, data in enumerate(cases):
            async with raw_peer(net.transport(), a.address) as p:
                await raw_handshake(p, KEYS[2])
                await wait_until(lambda: KEYS[2].public_key in a.net.connected())
                await p.send_all(data)
                assert await closed_by_other_side(p)
            await wait_until(lambda i=i: a.net.stats.protocol_errors == i + 1)  # type: ignore[misc]
            await wait_until(lambda: KEYS[2].public_key not in a.net.connected())
        assert a.net.stats.refused == {}
        await _friend_still_fine(a, b)
        nursery.cancel_scope.cancel()


async def test_frames_pipelined_behind_the_handshake_are_kept() -> None:
    net = Net("memory")
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address())
        async with raw_peer(net.transport(), a.address) as p:
            await p.send_all(_hello(2))
            theirs = await p.receive_frame()
            assert theirs is not None
            auth = make_auth(KEYS[2], CHAIN, theirs.hello.challenge)
            await p.send_all(
                encode_frame(auth) + encode_frame(status(9)) + encode_frame(status(10))
            )
            await wait_until(lambda: len(a.received) == 2)
        assert [f.status.top_height for _, f in a.received] == [9, 10]
        nursery.cancel_scope.cancel()


async def test_no_longer_allowed_peer_is_disconnected() -> None:
    net = Net("memory")
    async with trio.open_nursery() as nursery:
        allowed = {k.public_key for k in KEYS[:3]}
        a = await start_node(nursery, KEYS[0], net.transport(), net.address(), allowed=allowed)
        b = await start_node(nursery, KEYS[1], net.transport(), net.address())
        c = await start_node(nursery, KEYS[2], net.transport(), net.address())
        await connect_all([a, b, c])
        allowed.discard(c.key)  # c left the validator set on chain
        a.net.set_peers({b.key: b.address})
        await wait_until(lambda: a.net.connected() == {b.key})
        await trio.sleep(0.5)  # c keeps dialing a, and a keeps refusing it
        assert a.net.connected() == {b.key}
        assert a.net.stats.refused[Refusal.NOT_ALLOWED] >= 1
        nursery.cancel_scope.cancel()


# --- rate limit, slow peers ---------------------------------------------------------------


async def test_flood_is_throttled_then_disconnected(autojump_clock: trio.testing.MockClock) -> None:
    net = Net("memory")
    strict = dataclasses.replace(FAST, rate_msgs_per_s=50.0, rate_burst=20)
    roomy = dataclasses.replace(FAST, outbound_queue=5000)
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address(), limits=strict)
        flooder = await start_node(nursery, KEYS[1], net.transport(), net.address(), limits=roomy)
        honest = await start_node(nursery, KEYS[2], net.transport(), net.address())
        await connect_all([a, flooder, honest])

        # A burst a little over the allowance: excess dropped, peer kept.
        for i in range(30):
            flooder.net.send(a.key, status(i))
        await wait_until(lambda: a.net.stats.received + a.net.stats.dropped_rate >= 30)
        assert a.net.stats.dropped_rate == 10  # virtual time: no refill during the burst
        assert flooder.key in a.net.connected()

        # A sustained flood: dropped and finally disconnected; the honest peer still flows.
        for i in range(3000):
            flooder.net.send(a.key, status(i))
            if i % 200 == 0:  # 15 frames: within the honest peer's own burst
                honest.net.send(a.key, status(10**6 + i))
        await wait_until(lambda: a.net.stats.disconnected_flood == 1)
        assert a.net.stats.dropped_rate > 10
        from_flooder = len(a.frames_from(flooder.key))
        assert from_flooder < 3000
        await wait_until(lambda: len(a.frames_from(honest.key)) == 15)
        assert honest.key in a.net.connected()
        nursery.cancel_scope.cancel()


async def _stuck_peer(nursery: trio.Nursery, net: Net, address: str) -> trio.Event:
    """A peer that completes the handshake and then never reads again."""
    done = trio.Event()

    async def run() -> None:
        async with raw_peer(net.transport(), address) as p:
            await raw_handshake(p, KEYS[3])
            await done.wait()

    nursery.start_soon(run)
    return done


async def test_stuck_peer_does_not_block_others(net: Net) -> None:
    limits = dataclasses.replace(FAST, outbound_queue=8)
    big = peer_pb2.Frame(
        batches=peer_pb2.Batches(
            transactions=[{"signatures": [{"public_key": "k" * 100_000}]}]  # ~100 KB frame
        )
    )
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address(), limits=limits)
        b = await start_node(nursery, KEYS[1], net.transport(), net.address())
        a.net.set_peers({b.key: b.address})
        release = await _stuck_peer(nursery, net, a.address)
        stuck = KEYS[3].public_key
        await wait_until(lambda: a.net.connected() == {b.key, stuck})
        # Far more than socket buffers + queue can hold: sends to the stuck peer start
        # failing, and none of them ever blocks.
        results = []
        for i in range(400):
            results.append(a.net.send(stuck, big))
            assert a.net.send(b.key, status(i))
            await trio.sleep(0)  # let the writers run, as the node's own tasks would
            if i % 8 == 0:
                await wait_until(lambda i=i: len(b.received) == i + 1)  # type: ignore[misc]
        assert not all(results)
        assert a.net.stats.dropped_full == results.count(False)
        await wait_until(lambda: len(b.received) == 400)
        assert [f.status.top_height for _, f in b.received] == list(range(400))
        release.set()
        nursery.cancel_scope.cancel()


# --- reconnects, simultaneous dial --------------------------------------------------------


async def test_reconnect_after_restart(net: Net) -> None:
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address())
        b = await start_node(nursery, KEYS[1], net.transport(), net.address())
        await connect_all([a, b])
        b_address = b.address
        await b.stop()
        await wait_until(lambda: a.net.connected() == set())
        assert not a.net.send(b.key, status(1))
        await trio.sleep(0.3)  # a retries against a closed port meanwhile
        b2 = await start_node(nursery, KEYS[1], net.transport(), b_address)
        b2.net.set_peers({a.key: a.address})
        await wait_until(lambda: a.net.connected() == {b2.key} and b2.net.connected() == {a.key})
        assert a.net.send(b2.key, status(2))
        await wait_until(lambda: [f.status.top_height for _, f in b2.received] == [2])
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("seed", range(6))
async def test_simultaneous_dial_keeps_one_connection(seed: int) -> None:
    net = Net("memory" if seed % 3 else "tcp")
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[seed], net.transport(), net.address(), seed=seed)
        b = await start_node(nursery, KEYS[seed + 1], net.transport(), net.address(), seed=-seed)
        # both dial in the same scheduling step
        a.net.set_peers({b.key: b.address})
        b.net.set_peers({a.key: a.address})
        await wait_until(lambda: a.net.connected() == {b.key} and b.net.connected() == {a.key})
        await trio.sleep(0.3)  # let any duplicate settle
        lower = min(a.key, b.key)
        a_conn, b_conn = a.net._conns[b.key], b.net._conns[a.key]
        # both sides kept the same connection: the one the lower key dialed (or, if only
        # one dial got through, that one)
        assert a_conn.initiator == b_conn.initiator
        if a.net.stats.duplicates_closed or b.net.stats.duplicates_closed:
            assert a_conn.initiator == lower
        for i in range(20):
            assert a.net.send(b.key, status(i))
            assert b.net.send(a.key, status(i))
        await wait_until(lambda: len(a.received) == 20 and len(b.received) == 20)
        assert a.net.connected() == {b.key} and b.net.connected() == {a.key}
        nursery.cancel_scope.cancel()


async def test_backoff_is_jittered_exponential_and_capped() -> None:
    limits = dataclasses.replace(FAST, reconnect_min_s=0.1, reconnect_max_s=5.0)
    pn = PeerNetwork(
        KEYS[0], CHAIN, "x", limits, lambda k: True, Net("memory").transport(), random.Random(7)
    )
    delays = [pn._backoff(n) for n in range(1, 12)]
    for n, d in enumerate(delays, start=1):
        nominal = min(5.0, 0.1 * 2 ** (n - 1))
        assert nominal / 2 <= d <= nominal
    assert len(set(delays)) == len(delays)  # jittered
    assert max(delays) <= 5.0


@pytest.mark.parametrize("dialed_first", [True, False])
@pytest.mark.parametrize("peer_index", [2, 5])
async def test_tie_break_keeps_connection_dialed_by_lower_key(
    dialed_first: bool, peer_index: int
) -> None:
    """A (real) and a hand-driven peer P each open a connection to the other; A keeps the
    one initiated by the lower key, whichever finished its handshake first, and still
    delivers what P wrote on the other one."""
    net = Net("memory")
    peer = KEYS[peer_index]
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address())
        dialed: list[FramedStream] = []
        dial_arrived, release_dial, dial_done = trio.Event(), trio.Event(), trio.Event()

        async def p_listener(stream: trio.abc.Stream) -> None:  # A's dial lands here
            framed = FramedStream(stream, FrameDecoder(1 << 20))
            dial_arrived.set()
            await release_dial.wait()
            await raw_handshake(framed, peer)
            dialed.append(framed)
            dial_done.set()
            await trio.sleep_forever()

        await nursery.start(net.transport().serve, "p", p_listener)
        async with raw_peer(net.transport(), a.address) as accepted:
            await accepted.send_all(encode_frame(make_hello(peer, CHAIN, new_challenge(), "p", 0)))
            theirs = await accepted.receive_frame()
            assert theirs is not None
            auth = encode_frame(make_auth(peer, CHAIN, theirs.hello.challenge))
            a.net.set_peers({peer.public_key: "p"})
            await dial_arrived.wait()
            if dialed_first:
                release_dial.set()
                await dial_done.wait()
                await wait_until(lambda: a.net.connected() == {peer.public_key})
                await accepted.send_all(auth)
                assert await accepted.receive_frame() is not None  # A's Auth
            else:
                await accepted.send_all(auth)
                assert await accepted.receive_frame() is not None
                await wait_until(lambda: a.net.connected() == {peer.public_key})
                release_dial.set()
                await dial_done.wait()
            await wait_until(lambda: a.net.stats.duplicates_closed == 1)
            a_dialed = a.net._conns[peer.public_key].initiator == a.key
            assert a_dialed == (a.key < peer.public_key)
            winner, loser = (dialed[0], accepted) if a_dialed else (accepted, dialed[0])
            assert await closed_by_other_side(loser)  # A's EOF: it sends nothing more there
            # but a frame P wrote on the loser before it learned of the winner still arrives
            await loser.send_all(encode_frame(status(55)))
            await wait_until(
                lambda: [f.status.top_height for f in a.frames_from(peer.public_key)] == [55]
            )
            # P never ends the loser: A does, one handshake timeout after the tie-break
            with trio.fail_after(FAST.handshake_timeout_s + 1):
                with pytest.raises(trio.BrokenResourceError):
                    while True:
                        await loser.send_all(encode_frame(status(56)))
                        await trio.sleep(0.05)
            assert a.net.send(peer.public_key, status(77))
            frame = await winner.receive_frame()
            assert frame is not None and frame.status.top_height == 77
            assert a.net.connected() == {peer.public_key}
        nursery.cancel_scope.cancel()


async def test_connection_limit() -> None:
    net = Net("memory")
    one = dataclasses.replace(FAST, max_connections=1)
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], net.transport(), net.address(), limits=one)
        b = await start_node(nursery, KEYS[1], net.transport(), net.address())
        c = await start_node(nursery, KEYS[2], net.transport(), net.address())
        await connect_all([a, b])
        c.net.set_peers({a.key: a.address})
        await wait_until(lambda: a.net.stats.refused[Refusal.TOO_MANY] >= 1)
        assert a.net.connected() == {b.key}
        await _friend_still_fine(a, b)
        nursery.cancel_scope.cancel()
