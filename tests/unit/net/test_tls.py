"""TLS between validators (mutual, certificates from a test CA made by trustme)."""

from __future__ import annotations

import ssl

import pytest
import trio
import trustme

from node.net import Refusal, TcpTransport

from .conftest import KEYS, Net, connect_all, start_node, status, wait_until


def tls_transport(ca: trustme.CA, cert_ca: trustme.CA | None = None) -> TcpTransport:
    """Mutual TLS: trust ``ca``; present a certificate issued by ``cert_ca`` (default ``ca``)."""
    cert = (cert_ca or ca).issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    for ctx in (server, client):
        ca.configure_trust(ctx)
        cert.configure_cert(ctx)
    return TcpTransport(server_ssl=server, client_ssl=client)


@pytest.fixture(scope="module")
def cas() -> tuple[trustme.CA, trustme.CA]:
    return trustme.CA(), trustme.CA()


async def test_tls_peers_connect_and_exchange(cas: tuple[trustme.CA, trustme.CA]) -> None:
    ca, _ = cas
    net = Net("tcp", make_tcp=lambda: tls_transport(ca))
    async with trio.open_nursery() as nursery:
        nodes = [
            await start_node(nursery, KEYS[i], net.transport(), net.address()) for i in range(3)
        ]
        await connect_all(nodes)
        for a in nodes:
            assert a.net.broadcast(status(5)) == 2
        await wait_until(lambda: all(len(n.received) == 2 for n in nodes))
        conn = nodes[0].net._conns[nodes[1].key]
        assert isinstance(conn.framed.stream, trio.SSLStream)  # really encrypted
        nursery.cancel_scope.cancel()


async def test_wrong_certificate_is_refused(cas: tuple[trustme.CA, trustme.CA]) -> None:
    ca, rogue = cas
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], tls_transport(ca), "127.0.0.1:0")
        b = await start_node(nursery, KEYS[1], tls_transport(ca), "127.0.0.1:0")
        await connect_all([a, b])
        # an allowed validator key, but a certificate from a CA nobody trusts
        c = await start_node(nursery, KEYS[2], tls_transport(ca, cert_ca=rogue), "127.0.0.1:0")
        c.net.set_peers({a.key: a.address})
        a.net.set_peers({b.key: b.address, c.key: c.address})
        await wait_until(lambda: a.net.stats.refused[Refusal.TLS] >= 2, what="both directions")
        assert c.net.stats.refused[Refusal.TLS] >= 1
        assert a.net.connected() == {b.key}
        assert c.net.connected() == set()
        assert a.net.send(b.key, status(1))
        await wait_until(lambda: len(b.received) == 1)
        nursery.cancel_scope.cancel()


async def test_plain_tcp_client_is_refused_by_tls_server(
    cas: tuple[trustme.CA, trustme.CA],
) -> None:
    ca, _ = cas
    async with trio.open_nursery() as nursery:
        a = await start_node(nursery, KEYS[0], tls_transport(ca), "127.0.0.1:0")
        c = await start_node(nursery, KEYS[2], TcpTransport(), "127.0.0.1:0")
        c.net.set_peers({a.key: a.address})
        await wait_until(lambda: a.net.stats.refused[Refusal.TLS] >= 1)
        assert a.net.connected() == set() and c.net.connected() == set()
        nursery.cancel_scope.cancel()
