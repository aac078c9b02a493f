"""ToriiClient against a scripted grpcio Torii (iroha.protocol services) on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import aclosing

import pytest
import trio

from node.client import builders as b
from node.client.channel import GrpcConnectionError
from node.client.torii import FINAL_STATUSES, ToriiClient, WaitTimeout, encode_tx_list
from node.crypto import KeyPair, KeyScheme
from node.proto.iroha import endpoint_pb2
from tests.unit.client.grpc_server import GrpcTestServer

KEY = KeyPair.from_seed(bytes(range(32)), KeyScheme.ED25519_SHA3)
T0 = 1_700_000_000_000


@pytest.fixture
def server() -> Iterator[GrpcTestServer]:
    srv = GrpcTestServer()
    yield srv
    srv.stop()


def _tx(i: int) -> b.Tx:
    cmd = b.transfer_asset("alice@bank", "bob@bank", "usd#bank", f"{i}.00")
    return b.sign_tx(b.build_tx("alice@bank", [cmd], T0 + i), KEY)


def test_tx_list_encoding_matches_protobuf() -> None:
    txs = [_tx(i) for i in range(3)] + [b.build_tx("a@b", [b.create_domain("x" * 200, "r")], T0)]
    expected = endpoint_pb2.TxList(transactions=[t.pb for t in txs]).SerializeToString()
    assert encode_tx_list(txs) == expected
    assert encode_tx_list([]) == b""


async def test_send_tx_and_list(server: GrpcTestServer) -> None:
    async with ToriiClient.connect(server.target) as c:
        tx = _tx(1)
        assert await c.send_tx(tx) == tx.hash
        batch = [b.sign_tx(t, KEY) for t in b.make_batch([_tx(2), _tx(3)])]
        assert await c.send_txs(batch) == [t.hash for t in batch]
        assert await c.send_tx(_tx(4).pb) == _tx(4).hash  # a bare protobuf works too
    got = [t.SerializeToString() for t in server.received_txs]
    assert got == [t.serialize() for t in [tx, *batch, _tx(4)]]


async def test_status_and_stream(server: GrpcTestServer) -> None:
    tx = _tx(1)
    async with ToriiClient.connect(server.target) as c:
        r = await c.status(tx.hash)
        assert r.tx_status == endpoint_pb2.NOT_RECEIVED and r.tx_hash == tx.hash_hex
        r = await c.status(tx.hash_hex.upper())
        assert r.tx_hash == tx.hash_hex
        seen = [r.tx_status async for r in c.status_stream(tx.hash)]
        assert seen == server.status_script


async def test_wait_final(server: GrpcTestServer) -> None:
    async with ToriiClient.connect(server.target) as c:
        r = await c.wait_final(_tx(1).hash, timeout=5)
        assert r.tx_status == endpoint_pb2.COMMITTED and r.tx_hash == _tx(1).hash_hex
        server.status_script = [endpoint_pb2.MST_PENDING, endpoint_pb2.MST_EXPIRED]
        r = await c.wait_final(_tx(1).hash, timeout=5)
        assert r.tx_status == endpoint_pb2.MST_EXPIRED
        server.status_script = [endpoint_pb2.STATELESS_VALIDATION_FAILED]
        assert (await c.wait_final(_tx(1).hash, 5)).tx_status in FINAL_STATUSES
        # A stream that closes without a final status is reopened until the timeout.
        server.status_script = [endpoint_pb2.ENOUGH_SIGNATURES_COLLECTED]
        start = time.monotonic()
        with pytest.raises(WaitTimeout) as info:
            await c.wait_final(_tx(1).hash, timeout=0.5)
        assert 0.4 < time.monotonic() - start < 3
        assert info.value.last is not None
        assert info.value.last.tx_status == endpoint_pb2.ENOUGH_SIGNATURES_COLLECTED
        assert "ENOUGH_SIGNATURES_COLLECTED" in str(info.value)
        assert isinstance(info.value, TimeoutError)


async def test_query_fetch_commits_and_healthcheck(server: GrpcTestServer) -> None:
    async with ToriiClient.connect(server.target) as c:
        q = b.build_query("alice@bank", T0, 1, KEY, get_account={"account_id": "bob@bank"})
        resp = await c.query(q)
        assert resp.WhichOneof("response") == "account_response"
        assert resp.account_response.account.account_id == "bob@bank"
        bq = b.build_blocks_query("alice@bank", T0, 2, KEY)
        async with aclosing(c.fetch_commits(bq)) as blocks:
            heights = [r.block_response.block.block_v1.payload.height async for r in blocks]
        assert heights == [1, 2, 3]
        health = await c.healthcheck()
        assert health.is_healthy and health.last_block_height == 7


async def test_many_clients_tasks_share_one_connection(server: GrpcTestServer) -> None:
    async with ToriiClient.connect(server.target) as c:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for i in range(200):
                    nursery.start_soon(c.send_tx, _tx(i))
    assert len(server.received_txs) == 200


async def test_connect_error_is_a_connection_error() -> None:
    with pytest.raises(ConnectionError, match=r"127\.0\.0\.1:1\b"):
        async with ToriiClient.connect("127.0.0.1:1"):
            pass
    with pytest.raises(GrpcConnectionError):
        async with ToriiClient.connect("127.0.0.1:1", tls=True):
            pass
