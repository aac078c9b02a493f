"""The status bus and the MST pool on their own (real LevelDB, trio, no server)."""

from __future__ import annotations

from pathlib import Path

import trio

from node.api.torii import MstPool, MstState, StatusBus, response
from node.api.torii.mst import PREFIX
from node.model import Batch, group_batches
from node.proto.iroha import endpoint_pb2 as E
from node.storage import LevelDBStore, WriteBatch
from tests.api.torii.support import ALICE, BOB, batch, key, sign, transfer, tx

H = bytes(range(32))


def bus(**kw: object) -> StatusBus:
    args: dict[str, object] = {"cache_size": 3, "queue_size": 4, "max_subscribers": 10}
    args.update(kw)
    return StatusBus(**args)  # type: ignore[arg-type]


def test_priorities_never_go_backwards() -> None:
    b = bus()
    assert b.current(H).tx_status == E.NOT_RECEIVED
    assert b.publish(H, response(H, E.STATELESS_VALIDATION_SUCCESS))
    assert b.publish(H, response(H, E.ENOUGH_SIGNATURES_COLLECTED))
    assert not b.publish(H, response(H, E.MST_PENDING))  # lower: ignored
    assert not b.publish(H, response(H, E.ENOUGH_SIGNATURES_COLLECTED))  # equal: ignored
    assert b.publish(H, response(H, E.STATEFUL_VALIDATION_FAILED, "TransferAsset", 0, 6))
    assert b.publish(H, response(H, E.REJECTED, "TransferAsset", 0, 6))
    assert not b.publish(H, response(H, E.COMMITTED))  # final stays final
    assert not b.publish(H, response(H, E.STATELESS_VALIDATION_FAILED, "late"))
    assert b.current(H).tx_status == E.REJECTED and b.is_final(H)


def test_lru_bound_and_durable_fallback() -> None:
    durable = {H: response(H, E.COMMITTED)}
    b = bus(durable=durable.get)
    hashes = [bytes([i]) * 32 for i in range(5)]
    for h in hashes:
        b.publish(h, response(h, E.STATELESS_VALIDATION_SUCCESS))
    assert len(b._cache) == 3 and b.cached(hashes[0]) is None
    assert b.current(hashes[0]).tx_status == E.NOT_RECEIVED  # evicted, not durable
    # a committed tx missing from the cache: a late stateless failure cannot shadow it
    assert not b.publish(H, response(H, E.STATELESS_VALIDATION_FAILED, "bad timestamp"))
    assert b.current(H).tx_status == E.COMMITTED


async def test_stream_sees_changes_and_ends_on_final() -> None:
    b = bus()
    got: list[int] = []

    async def watch() -> None:
        async for r in b.stream(H):
            got.append(r.tx_status)

    async with trio.open_nursery() as n:
        n.start_soon(watch)
        await trio.sleep(0.01)
        for s in (E.STATELESS_VALIDATION_SUCCESS, E.MST_PENDING, E.MST_PENDING, E.COMMITTED):
            b.publish(H, response(H, s))
            await trio.sleep(0.01)
    assert got == [E.NOT_RECEIVED, E.STATELESS_VALIDATION_SUCCESS, E.MST_PENDING, E.COMMITTED]
    assert b.subscribers == 0


async def test_overflowed_subscriber_is_cut_off_not_blocking() -> None:
    b = bus(queue_size=2)
    got: list[int] = []
    with b.subscribe(H) as sub:
        # the publisher never waits: the third change overflows this queue
        for s in (E.STATELESS_VALIDATION_SUCCESS, E.MST_PENDING, E.ENOUGH_SIGNATURES_COLLECTED):
            b.publish(H, response(H, s))
        assert sub.overflowed and len(sub.queue) == 2
    assert b.subscribers == 0
    # the stream form: after the cut it writes the latest status once and ends
    b2 = bus(queue_size=1)
    async with trio.open_nursery() as n:

        async def watch() -> None:
            async for r in b2.stream(H):
                got.append(r.tx_status)

        n.start_soon(watch)
        await trio.sleep(0.01)
        b2.publish(H, response(H, E.STATELESS_VALIDATION_SUCCESS))
        b2.publish(H, response(H, E.ENOUGH_SIGNATURES_COLLECTED))
        b2.publish(H, response(H, E.STATEFUL_VALIDATION_SUCCESS))
    assert got == [
        E.NOT_RECEIVED,
        E.STATELESS_VALIDATION_SUCCESS,
        E.STATEFUL_VALIDATION_SUCCESS,
    ]


async def test_stale_stream_closes_by_time() -> None:
    b = bus(stale_timeout_s=0.05)
    with trio.fail_after(2):
        got = [r.tx_status async for r in b.stream(H)]
    assert got == [E.NOT_RECEIVED]


def _one(txs: list) -> Batch:  # type: ignore[type-arg]
    (b,) = group_batches(txs)
    return b


def test_mst_merge_persist_reload(tmp_path: Path) -> None:
    k1, k2 = key(70), key(71)
    base = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "1")], [], quorum=2)
    store = LevelDBStore(str(tmp_path / "db"))
    pool = MstPool(store, max_batches=10)
    out = pool.add(_one([sign(base, [k1])]))
    assert out.state is MstState.PENDING and out.added_signatures == 1
    out = pool.add(_one([sign(base, [k1])]))  # same signer again: nothing new
    assert out.state is MstState.PENDING and out.added_signatures == 0
    assert len(pool) == 1 and base.hash in pool
    store.close()

    store = LevelDBStore(str(tmp_path / "db"))
    pool = MstPool(store, max_batches=10)
    assert len(pool) == 1 and base.hash in pool
    out = pool.add(_one([sign(base, [k2])]))
    assert out.state is MstState.COMPLETE
    assert sorted(s.public_key for s in out.batch.txs[0].signatures) == sorted(
        [k1.public_key, k2.public_key]
    )
    assert pool.remove(out.batch)
    assert list(store.iterate(PREFIX)) == []
    # entries that do not decode to one batch under its own key are skipped, not guessed
    wb = WriteBatch()
    wb.put(PREFIX + b"x", b"\x01")
    wb.put(PREFIX + b"y" * 32, b"\x00" * 8 + b"\xff\xff")
    store.write(wb, sync=True)
    assert len(MstPool(store, max_batches=10)) == 0
    store.close()


def test_mst_batches_for_and_expire(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    pool = MstPool(store, max_batches=3)
    pair = batch(
        0,
        [
            ("alice@aclb", [transfer("alice@aclb", "bob@wing", "1")], [ALICE]),
            ("bob@wing", [transfer("bob@wing", "alice@aclb", "1")], [BOB]),
        ],
        quorum=2,
    )
    oldest = min(t.created_time for t in pair)
    single = tx(
        "bob@wing",
        [transfer("bob@wing", "alice@aclb", "2")],
        [BOB],
        quorum=2,
        created_time=oldest + 500,
    )
    assert pool.add(_one(pair)).state is MstState.PENDING
    assert pool.add(_one([single])).state is MstState.PENDING
    assert [len(b) for b in pool.batches_for("alice@aclb")] == [2]
    assert [len(b) for b in pool.batches_for("bob@wing")] == [2, 1]
    assert pool.expire(oldest + 999, 1000) == []
    gone = pool.expire(oldest + 1000, 1000)
    assert [len(b) for b in gone] == [2]
    assert pool.drop_txs([single.hash]) and len(pool) == 0
    store.close()


async def test_plain_statuses_are_built_only_when_read() -> None:
    """publish_status keeps the code alone; readers and subscribers get the same message
    publish() would have stored, and the priority rules hold across both forms."""
    b = bus()
    assert b.publish_status(H, E.STATELESS_VALIDATION_SUCCESS)
    assert isinstance(b._cache[H], int)
    assert b.cached(H) == response(H, E.STATELESS_VALIDATION_SUCCESS) == b.current(H)
    assert b.cached_status(H) == E.STATELESS_VALIDATION_SUCCESS
    assert b.cached_status(bytes(32)) is None and b.cached(bytes(32)) is None
    assert b.publish_status(H, E.ENOUGH_SIGNATURES_COLLECTED)
    assert not b.publish(H, response(H, E.MST_PENDING))  # lower than the plain one
    assert b.publish(H, response(H, E.STATEFUL_VALIDATION_FAILED, "TransferAsset", 0, 6))
    assert not b.publish_status(H, E.STATEFUL_VALIDATION_SUCCESS)  # equal: ignored
    assert b.current(H).err_or_cmd_name == "TransferAsset"
    got: list[E.ToriiResponse] = []
    other = bytes([7]) * 32

    async def watch() -> None:
        async for r in b.stream(other):
            got.append(r)

    async with trio.open_nursery() as n:
        n.start_soon(watch)
        await trio.sleep(0.01)
        b.publish_status(other, E.ENOUGH_SIGNATURES_COLLECTED, durable=False)
        await trio.sleep(0.01)
        b.publish_status(other, E.COMMITTED)
    seen = (E.NOT_RECEIVED, E.ENOUGH_SIGNATURES_COLLECTED, E.COMMITTED)
    assert got == [response(other, s) for s in seen]
    assert b.is_final(other) and not b.is_final(H)
    durable = {H: response(H, E.COMMITTED)}
    late = bus(durable=durable.get)
    assert not late.publish_status(H, E.STATEFUL_VALIDATION_SUCCESS)  # disk says final
    assert late.cached(H) == response(H, E.COMMITTED)
