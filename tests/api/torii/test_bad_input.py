"""Bad input gets Iroha's answer or the right gRPC status, and the server keeps serving."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import trio

from node.proto.iroha import endpoint_pb2 as E
from node.proto.iroha import transaction_pb2
from tests.api.grpc.h2client import grpc_frame, raw_client
from tests.api.torii.support import (
    ADMIN,
    ALICE,
    CMD,
    QRY,
    Harness,
    blocks_query,
    run,
    running,
    transfer,
    tx,
)


def raw_call(h: Harness, path: str, body: bytes) -> grpc.RpcError | bytes:
    call = h.client.channel.unary_unary(path)  # bytes in, bytes out
    try:
        out: bytes = call(body, timeout=10)
        return out
    except grpc.RpcError as e:
        return e


async def still_serving(h: Harness) -> None:
    t = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "0.01")], [ALICE])
    await run(h.client.send, t)
    assert (await run(h.client.wait_final, t.hash)).tx_status == E.COMMITTED


def task_count() -> int:
    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(walk(c) for n in task.child_nurseries for c in n.child_tasks)

    return walk(trio.lowlevel.current_root_task())


async def test_malformed_unknown_oversized(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        e = await run(raw_call, h, CMD + "Torii", b"\xff\xff\xff\xff")
        assert isinstance(e, grpc.RpcError) and e.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "cannot decode iroha.protocol.Transaction" in (e.details() or "")
        e = await run(raw_call, h, "/iroha.protocol.CommandService_v1/Nope", b"")
        assert isinstance(e, grpc.RpcError) and e.code() == grpc.StatusCode.UNIMPLEMENTED
        big = transaction_pb2.Transaction()
        big.payload.reduced_payload.creator_account_id = "x" * (5 * 1024 * 1024)
        e = await run(raw_call, h, CMD + "Torii", big.SerializeToString())
        assert isinstance(e, grpc.RpcError) and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # an empty Transaction parses: it is statelessly invalid, reported on the bus
        empty = transaction_pb2.Transaction()
        assert await run(raw_call, h, CMD + "Torii", empty.SerializeToString()) == b""
        r = await run(h.client.status, E.TxStatusRequest(tx_hash=_hash_of(empty)))
        assert r.tx_status == E.STATELESS_VALIDATION_FAILED
        assert "Transaction should contain at least one command" in r.err_or_cmd_name
        assert "Signatures cannot be empty" in r.err_or_cmd_name
        # a status request with a hash that is not 32 bytes of hex
        r = await run(h.client.status, E.TxStatusRequest(tx_hash="zz"))
        assert (r.tx_status, r.tx_hash) == (E.NOT_RECEIVED, "zz")
        assert await run(h.client.stream_statuses, "zz") == [E.NOT_RECEIVED]
        await still_serving(h)


def _hash_of(t: transaction_pb2.Transaction) -> str:
    import hashlib

    return hashlib.sha3_256(t.payload.SerializeToString()).hexdigest()


async def test_wrong_content_type_and_method(tmp_path: Path) -> None:
    async with running(tmp_path) as h, raw_client(h.port) as c:
        t = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "1")], [ALICE])
        body = grpc_frame(t.serialize())
        r = await c.request((CMD + "Torii").encode(), body, content_type=b"application/json")
        assert r.headers[b":status"] == b"415"
        r = await c.request((CMD + "Torii").encode(), body, method=b"GET")
        assert r.headers[b":status"] == b"405"
        assert (await run(h.client.get_status, t.hash)).tx_status == E.NOT_RECEIVED
        r = await c.request((CMD + "Torii").encode(), body)
        assert r.grpc_status == 0
        assert (await run(h.client.wait_final, t.hash)).tx_status == E.COMMITTED


async def test_abandoned_status_streams_return_to_baseline(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        await still_serving(h)
        await trio.sleep(0.1)
        base_tasks = task_count()
        bus = h.torii.status_bus
        req = grpc_frame(E.TxStatusRequest(tx_hash="ab" * 32).SerializeToString())
        opened = 0
        for _wave in range(5):  # 5 x 200 streams, each wave on its own connection
            async with raw_client(h.port) as c:
                sids = [c.start_request((CMD + "StatusStream").encode(), req) for _ in range(200)]
                await c.flush()
                with trio.fail_after(10):
                    while bus.subscribers < 200:
                        await trio.sleep(0.01)
                opened += len(sids)
                for sid in sids[:100]:
                    await c.reset(sid)  # half cancelled politely...
            # ...half dropped with the connection
            with trio.fail_after(10):
                while bus.subscribers or h.server.live_streams:
                    await trio.sleep(0.01)
        assert opened == 1000
        # grpcio clients that cancel mid-stream
        calls = [
            h.client.status_stream(E.TxStatusRequest(tx_hash=f"{i:064x}"), timeout=30)
            for i in range(50)
        ]
        with trio.fail_after(10):
            while bus.subscribers < 50:
                await trio.sleep(0.01)
        for call in calls:
            call.cancel()
        with trio.fail_after(10):
            while bus.subscribers or h.server.live_streams:
                await trio.sleep(0.01)
        # block streams dropped with their connection
        bq = grpc_frame(blocks_query("admin@bakong", ADMIN).SerializeToString())
        async with raw_client(h.port) as c:
            for _ in range(20):
                c.start_request((QRY + "FetchCommits").encode(), bq)
            await c.flush()
            with trio.fail_after(10):
                while h.torii.block_bus.subscribers < 20:
                    await trio.sleep(0.01)
        with trio.fail_after(10):
            while h.torii.block_bus.subscribers or h.server.live_streams:
                await trio.sleep(0.01)
        await trio.sleep(0.1)
        assert task_count() <= base_tasks
        await still_serving(h)


async def test_status_stream_subscriber_limit(tmp_path: Path) -> None:
    from node.config import Limits, ToriiLimits

    limits = Limits(torii=ToriiLimits(max_status_subscribers=3))
    async with running(tmp_path, limits=limits) as h:
        calls = [
            h.client.status_stream(E.TxStatusRequest(tx_hash=f"{i:064x}"), timeout=30)
            for i in range(3)
        ]
        with trio.fail_after(10):
            while h.torii.status_bus.subscribers < 3:
                await trio.sleep(0.01)
        with pytest.raises(grpc.RpcError) as ei:
            await run(h.client.stream_statuses, "cd" * 32)
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for call in calls:
            call.cancel()
        await still_serving(h)


async def test_stale_stream_closes_after_rounds(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        got: list[int] = []

        async def watch() -> None:
            got.extend(await run(h.client.stream_statuses, "ef" * 32))

        async with trio.open_nursery() as n:
            n.start_soon(watch)
            with trio.fail_after(10):
                while h.torii.status_bus.subscribers < 1:
                    await trio.sleep(0.01)
            h.torii.round_passed()
            await trio.sleep(0.05)
            assert h.torii.status_bus.subscribers == 1  # one round: still open
            h.torii.round_passed()
        assert got == [E.NOT_RECEIVED]
