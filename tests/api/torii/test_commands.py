"""CommandService over the real gRPC server, real Ledger on LevelDB, grpcio clients."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import trio

from node.api.torii import PRIORITY
from node.config import Limits, OrderingLimits
from node.crypto import KeyScheme
from node.model import Tx
from node.proto.iroha import commands_pb2
from node.proto.iroha import endpoint_pb2 as E
from tests.api.torii.support import (
    ADMIN,
    ALICE,
    BOB,
    Harness,
    batch,
    cmd,
    key,
    now_ms,
    run,
    running,
    sign,
    transfer,
    tx,
)

ATOMIC, ORDERED = 0, 1


def assert_rising(statuses: list[int]) -> None:
    prios = [PRIORITY[s] for s in statuses]
    assert prios == sorted(prios) and len(set(statuses)) == len(statuses), statuses


async def test_transfer_commits_and_stream_ends(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        t = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "1.25")], [ALICE])
        await run(h.client.send, t)
        statuses = await run(h.client.stream_statuses, t.hash)
        assert statuses[-1] == E.COMMITTED
        assert_rising(statuses)
        assert h.ledger.view().balance("bob@wing", "usd#bakong") == 625  # 5.00 + 1.25
        # after the commit the stream is one final write and ends
        assert await run(h.client.stream_statuses, t.hash) == [E.COMMITTED]
        r = await run(h.client.get_status, t.hash)
        assert r.tx_status == E.COMMITTED and r.tx_hash == t.hash_hex
        assert h.metrics.torii_requests.labels("Torii", "OK")._value.get() == 1


async def test_full_status_sequence_seen_by_early_stream(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        t = tx("bob@wing", [transfer("bob@wing", "alice@aclb", "1")], [BOB])  # legacy key
        got = [r.tx_status for r in await send_and_watch(h, t)]
        assert got == [
            E.NOT_RECEIVED,
            E.STATELESS_VALIDATION_SUCCESS,
            E.ENOUGH_SIGNATURES_COLLECTED,
            E.STATEFUL_VALIDATION_SUCCESS,
            E.COMMITTED,
        ]


async def send_and_watch(h: Harness, t: Tx) -> list[E.ToriiResponse]:
    """Hold the backend, open a stream, send, release: the stream sees every status."""
    h.backend.paused = True
    got: list[E.ToriiResponse] = []
    async with trio.open_nursery() as n:

        async def watch() -> None:
            got.extend(await run(h.client.stream_responses, t.hash))

        n.start_soon(watch)
        await trio.sleep(0.2)
        await run(h.client.send, t)
        await trio.sleep(0.05)
        h.backend.paused = False
    return got


async def test_stateful_failure_has_command_and_code(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        t = tx("bob@wing", [transfer("bob@wing", "alice@aclb", "500")], [BOB])
        resps = await send_and_watch(h, t)
        assert [r.tx_status for r in resps][-2:] == [E.STATEFUL_VALIDATION_FAILED, E.REJECTED]
        for r in resps[-2:]:
            assert (r.err_or_cmd_name, r.failed_cmd_index, r.error_code) == ("TransferAsset", 0, 6)
        # the reason is durable: a fresh status bus (cache miss) reads it from the tx index
        h.torii.status_bus._cache.clear()
        r = await run(h.client.get_status, t.hash)
        assert (r.tx_status, r.err_or_cmd_name, r.error_code) == (E.REJECTED, "TransferAsset", 6)


async def test_stateless_failure_fails_whole_list(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        good = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "1")], [ALICE])
        old = tx(
            "alice@aclb",
            [transfer("alice@aclb", "bob@wing", "1")],
            [ALICE],
            created_time=now_ms() - 25 * 3600 * 1000,
        )
        await run(h.client.send_list, [good, old])
        for t in (good, old):
            r = await run(h.client.get_status, t.hash)
            assert r.tx_status == E.STATELESS_VALIDATION_FAILED
            assert "bad timestamp: too old" in r.err_or_cmd_name
            assert (r.error_code, r.failed_cmd_index) == (0, 0)
            assert await run(h.client.stream_statuses, t.hash) == [E.STATELESS_VALIDATION_FAILED]
        future = tx(
            "alice@aclb",
            [transfer("alice@aclb", "bob@wing", "1")],
            [ALICE],
            created_time=now_ms() + 10 * 60 * 1000,
        )
        await run(h.client.send, future)
        r = await run(h.client.get_status, future.hash)
        assert "sent from future" in r.err_or_cmd_name
        # a signature by another key over the same payload: wrong signature
        forged = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "1")], [ALICE])
        forged.pb.signatures[0].public_key = BOB.public_key
        await run(h.client.send, forged)
        r = await run(h.client.get_status, forged.hash)
        assert r.tx_status == E.STATELESS_VALIDATION_FAILED
        assert "Wrong signature" in r.err_or_cmd_name
        assert h.backend.submitted == 0


async def test_replay_is_answered_never_reexecuted(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        t = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "2")], [ALICE])
        await run(h.client.send, t)
        assert (await run(h.client.wait_final, t.hash)).tx_status == E.COMMITTED
        blocks, submitted = h.backend.blocks, h.backend.submitted
        for _ in range(3):
            await run(h.client.send, t)
        await run(h.client.send_list, [t])
        h.torii.status_bus._cache.clear()  # also from the ledger's index
        await run(h.client.send, t)
        assert (await run(h.client.get_status, t.hash)).tx_status == E.COMMITTED
        await trio.sleep(0.1)
        assert (h.backend.blocks, h.backend.submitted) == (blocks, submitted)
        assert h.ledger.view().balance("bob@wing", "usd#bakong") == 700
        # a rejected tx replays as REJECTED
        bad = tx("bob@wing", [transfer("bob@wing", "alice@aclb", "999")], [BOB])
        await run(h.client.send, bad)
        assert (await run(h.client.wait_final, bad.hash)).tx_status == E.REJECTED
        submitted = h.backend.submitted
        h.torii.status_bus._cache.clear()
        await run(h.client.send, bad)
        r = await run(h.client.get_status, bad.hash)
        assert (r.tx_status, r.error_code) == (E.REJECTED, 6)
        assert h.backend.submitted == submitted


async def test_atomic_and_ordered_batches(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        ok = transfer("alice@aclb", "bob@wing", "1")
        too_much = transfer("bob@wing", "alice@aclb", "1000")
        atomic = batch(ATOMIC, [("alice@aclb", [ok], [ALICE]), ("bob@wing", [too_much], [BOB])])
        await run(h.client.send_list, atomic)
        r0 = await run(h.client.wait_final, atomic[0].hash)
        r1 = await run(h.client.wait_final, atomic[1].hash)
        assert r0.tx_status == r1.tx_status == E.REJECTED
        assert (r0.err_or_cmd_name, r0.failed_cmd_index, r0.error_code) == ("", (1 << 64) - 1, 1)
        assert (r1.err_or_cmd_name, r1.error_code) == ("TransferAsset", 6)
        ordered = batch(ORDERED, [("alice@aclb", [ok], [ALICE]), ("bob@wing", [too_much], [BOB])])
        await run(h.client.send_list, ordered)
        assert (await run(h.client.wait_final, ordered[0].hash)).tx_status == E.COMMITTED
        assert (await run(h.client.wait_final, ordered[1].hash)).tx_status == E.REJECTED
        # a partial batch (one tx of two) is stateless-invalid
        partial = batch(ATOMIC, [("alice@aclb", [ok], [ALICE]), ("bob@wing", [ok], [BOB])])[:1]
        await run(h.client.send_list, partial)
        r = await run(h.client.get_status, partial[0].hash)
        assert r.tx_status == E.STATELESS_VALIDATION_FAILED
        assert "Batch meta does not match" in r.err_or_cmd_name


async def _make_multisig(h, k1, k2) -> None:  # type: ignore[no-untyped-def]
    setup = tx(
        "admin@bakong",
        [
            cmd(
                create_account=commands_pb2.CreateAccount(
                    account_name="joint", domain_id="aclb", public_key=k1.public_key
                )
            ),
            cmd(
                add_signatory=commands_pb2.AddSignatory(
                    account_id="joint@aclb", public_key=k2.public_key
                )
            ),
            cmd(
                set_account_quorum=commands_pb2.SetAccountQuorum(account_id="joint@aclb", quorum=2)
            ),
        ],
        [ADMIN],
    )
    await run(h.client.send, setup)
    assert (await run(h.client.wait_final, setup.hash)).tx_status == E.COMMITTED


async def test_multisig_pending_survives_restart(tmp_path: Path) -> None:
    k1, k2 = key(50), key(51, KeyScheme.ED25519_SHA3)
    detail = cmd(
        set_account_detail=commands_pb2.SetAccountDetail(
            account_id="joint@aclb", key="note", value="two_signers"
        )
    )
    async with running(tmp_path) as h:
        await _make_multisig(h, k1, k2)
        unsigned = tx("joint@aclb", [detail], [], quorum=2)
        first = sign(unsigned, [k1])
        await run(h.client.send, first)
        r = await run(h.client.get_status, first.hash)
        assert r.tx_status == E.MST_PENDING
        await run(h.client.send, first)  # same signer again: still pending, no duplicate
        assert len(h.torii.mst) == 1
        assert h.metrics.mst_pending._value.get() == 1
    async with running(tmp_path) as h:  # same LevelDB: the pending batch is back
        assert len(h.torii.mst) == 1
        assert (await run(h.client.get_status, first.hash)).tx_status == E.MST_PENDING
        second = sign(unsigned, [k2])
        await run(h.client.send, second)
        r = await run(h.client.wait_final, first.hash)
        assert r.tx_status == E.COMMITTED
        assert len(h.torii.mst) == 0
        assert h.ledger.view().detail("joint@aclb", "joint@aclb", "note") == "two_signers"
        # the late co-signer's copy is a replay now
        await run(h.client.send, second)
        assert len(h.torii.mst) == 0
    async with running(tmp_path) as h:
        assert len(h.torii.mst) == 0


async def test_mst_expiry_and_bound(tmp_path: Path) -> None:
    limits = Limits(ordering=OrderingLimits(max_mst_pending_batches=2))
    async with running(tmp_path, limits=limits) as h:
        pend = [
            tx("alice@aclb", [transfer("alice@aclb", "bob@wing", f"0.0{i}")], [ALICE], quorum=2)
            for i in range(1, 4)
        ]
        await run(h.client.send, pend[0])
        await run(h.client.send, pend[1])
        with pytest.raises(grpc.RpcError) as ei:
            await run(h.client.send, pend[2])
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "busy" in (ei.value.details() or "")
        assert (await run(h.client.get_status, pend[2].hash)).tx_status != E.MST_PENDING
        oldest = min(p.created_time for p in pend[:2])
        expiration = h.ledger.params.mst_expiration_ms
        assert h.torii.expire_mst(oldest + expiration - 1000) == 0
        assert h.torii.expire_mst(oldest + expiration + 2000) == 2
        for p in pend[:2]:
            assert (await run(h.client.get_status, p.hash)).tx_status == E.MST_EXPIRED
        await run(h.client.send, pend[2])  # room again
        assert (await run(h.client.get_status, pend[2].hash)).tx_status == E.MST_PENDING


async def test_ordering_full_answers_resource_exhausted(tmp_path: Path) -> None:
    async with running(tmp_path, queue=1) as h:
        h.backend.paused = True
        t1 = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "1")], [ALICE])
        t2 = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "2")], [ALICE])
        t3 = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "3")], [ALICE])
        await run(h.client.send, t1)  # taken by the backend loop, waits while paused
        await trio.sleep(0.05)
        await run(h.client.send, t2)  # fills the queue of 1
        with pytest.raises(grpc.RpcError) as ei:
            await run(h.client.send, t3)
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert ei.value.details() == "busy, retry later"
        h.backend.paused = False
        assert (await run(h.client.wait_final, t2.hash)).tx_status == E.COMMITTED
        await run(h.client.send, t3)  # the client's retry goes through
        assert (await run(h.client.wait_final, t3.hash)).tx_status == E.COMMITTED
        assert h.metrics.torii_requests.labels("Torii", "RESOURCE_EXHAUSTED")._value.get() == 1


async def test_late_cosigner_does_not_reopen_a_collected_batch(tmp_path: Path) -> None:
    k2 = key(80)
    async with running(tmp_path) as h:
        h.backend.paused = True
        unsigned = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "1")], [], quorum=2)
        first, second = sign(unsigned, [ALICE]), sign(unsigned, [k2])
        await run(h.client.send, first)
        await run(h.client.send, second)  # complete: to ordering, out of the pool
        assert (await run(h.client.get_status, first.hash)).tx_status == (
            E.ENOUGH_SIGNATURES_COLLECTED
        )
        await run(h.client.send, first)  # late copy while in flight: not pending again
        assert len(h.torii.mst) == 0
        h.backend.paused = False
        r = await run(h.client.wait_final, first.hash)
        # k2 is not alice's signatory: stateful "signatures validation", code 1
        assert (r.tx_status, r.err_or_cmd_name, r.error_code) == (
            E.REJECTED,
            "signatures validation",
            1,
        )
        assert h.backend.submitted == 1
