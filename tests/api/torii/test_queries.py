"""QueryService: Find (replay, stateless, pending), FetchCommits, Healthcheck."""

from __future__ import annotations

import hashlib
from pathlib import Path

import trio
from google.protobuf import empty_pb2

from node.proto.iroha import endpoint_pb2 as E
from node.proto.iroha import qry_responses_pb2 as R
from node.proto.iroha import queries_pb2 as Q
from tests.api.torii.support import (
    ADMIN,
    ALICE,
    BOB,
    batch,
    blocks_query,
    cmd,
    query,
    run,
    running,
    transfer,
    tx,
)

Reason = R.ErrorResponse


def pending_query(creator: str, signer, page_size: int | None, first: str | None = None):  # type: ignore[no-untyped-def]
    body = Q.GetPendingTransactions()
    if page_size is not None:
        body.pagination_meta.page_size = page_size
        if first is not None:
            body.pagination_meta.first_tx_hash = first
    return query(creator, signer, get_pending_transactions=body)


async def test_find_replay_and_stateless(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        q = pending_query("alice@aclb", ALICE, 10)
        first = await run(h.client.find, q)
        assert first.WhichOneof("response") == "pending_transactions_page_response"
        assert first.query_hash == hashlib.sha3_256(q.payload.SerializeToString()).hexdigest()
        again = await run(h.client.find, q)
        assert again.WhichOneof("response") == "error_response"
        assert (again.error_response.reason, again.error_response.message) == (
            Reason.STATELESS_INVALID,
            "",
        )
        assert again.query_hash == first.query_hash and len(first.query_hash) == 64
        bad = pending_query("alice@aclb", ALICE, 0)
        r = await run(h.client.find, bad)
        assert r.error_response.reason == Reason.STATELESS_INVALID
        assert "Page size" in r.error_response.message and r.query_hash
        forged = pending_query("alice@aclb", BOB, 5)  # BOB is not alice's signatory
        r = await run(h.client.find, forged)
        assert (r.error_response.reason, r.error_response.error_code) == (
            Reason.STATEFUL_INVALID,
            3,
        )


async def test_pending_transactions_pages(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        # quorum 2 on alice's txs: they stay pending (alice has one key)
        singles = [
            tx("alice@aclb", [transfer("alice@aclb", "bob@wing", f"0.0{i}")], [ALICE], quorum=2)
            for i in range(1, 4)
        ]
        pair = batch(
            0,
            [
                ("alice@aclb", [transfer("alice@aclb", "bob@wing", "0.5")], [ALICE]),
                ("bob@wing", [transfer("bob@wing", "alice@aclb", "0.5")], [BOB]),
            ],
            quorum=2,
        )
        other = tx("bob@wing", [transfer("bob@wing", "alice@aclb", "1")], [BOB], quorum=2)
        await run(h.client.send, singles[0])
        await run(h.client.send_list, pair)
        await run(h.client.send, singles[1])
        await run(h.client.send, singles[2])
        await run(h.client.send, other)
        assert len(h.torii.mst) == 5
        # alice sees 3 singles + the pair (it has one of her txs) = 5 txs in 4 batches
        r = (
            await run(h.client.find, pending_query("alice@aclb", ALICE, 2))
        ).pending_transactions_page_response
        assert r.all_transactions_size == 5
        assert [t.payload.reduced_payload.creator_account_id for t in r.transactions] == [
            "alice@aclb"
        ]
        # the pair does not fit in the remaining page room: next_batch_info says so
        assert r.next_batch_info.first_tx_hash == pair[0].hash_hex
        assert r.next_batch_info.batch_size == 2
        q = pending_query("alice@aclb", ALICE, 2, r.next_batch_info.first_tx_hash)
        r2 = (await run(h.client.find, q)).pending_transactions_page_response
        assert [t.payload.SerializeToString() for t in r2.transactions] == [
            t.pb.payload.SerializeToString() for t in pair
        ]
        assert r2.next_batch_info.first_tx_hash == singles[1].hash_hex
        q = pending_query("alice@aclb", ALICE, 10, singles[1].hash_hex)
        r3 = (await run(h.client.find, q)).pending_transactions_page_response
        assert len(r3.transactions) == 2 and not r3.HasField("next_batch_info")
        # unknown first hash: stateful error code 4
        q = pending_query("alice@aclb", ALICE, 10, "ab" * 32)
        err = (await run(h.client.find, q)).error_response
        assert (err.reason, err.error_code) == (Reason.STATEFUL_INVALID, 4)
        # the deprecated unpaged form: a TransactionsResponse
        legacy = (
            await run(h.client.find, pending_query("bob@wing", BOB, None))
        ).transactions_response
        assert len(legacy.transactions) == 3  # the pair + bob's own


async def test_fetch_commits_streams_new_blocks(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        # alice (customer) lacks can_get_blocks: one error message, then the stream ends
        denied = await run(
            lambda: list(h.client.fetch_commits(blocks_query("alice@aclb", ALICE), timeout=10))
        )
        assert len(denied) == 1 and denied[0].block_error_response.message == "stateful invalid"
        stale = blocks_query("admin@bakong", ADMIN)
        stale.meta.created_time -= 48 * 3600 * 1000
        denied = await run(lambda: list(h.client.fetch_commits(stale, timeout=10)))
        assert "bad timestamp: too old" in denied[0].block_error_response.message

        call = h.client.fetch_commits(blocks_query("admin@bakong", ADMIN), timeout=20)
        got: list[R.BlockQueryResponse] = []

        def read_two() -> None:
            for item in call:
                got.append(item)
                if len(got) == 2:
                    call.cancel()
                    return

        async with trio.open_nursery() as n:
            n.start_soon(run, read_two)
            while h.torii.block_bus.subscribers == 0:
                await trio.sleep(0.01)
            start = h.ledger.height
            for amount in ("1", "2"):
                t = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", amount)], [ALICE])
                await run(h.client.send, t)
                await run(h.client.wait_final, t.hash)
        heights = [g.block_response.block.block_v1.payload.height for g in got]
        assert heights == [start + 1, start + 2]
        with trio.fail_after(5):
            while h.torii.block_bus.subscribers:
                await trio.sleep(0.01)


async def test_healthcheck(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        r = await run(h.client.healthcheck, empty_pb2.Empty())
        assert r.is_healthy and r.HasField("is_syncing")
        assert h.metrics.torii_requests.labels("Healthcheck", "OK")._value.get() == 1


async def test_paged_queries_over_grpc(tmp_path: Path) -> None:
    from node.proto.iroha import commands_pb2

    async with running(tmp_path) as h:
        setup = tx(
            "admin@bakong",
            [
                cmd(
                    add_asset_quantity=commands_pb2.AddAssetQuantity(
                        asset_id="khr#bakong", amount="7"
                    )
                ),
                transfer("admin@bakong", "alice@aclb", "7", "khr#bakong"),
                *(
                    cmd(
                        set_account_detail=commands_pb2.SetAccountDetail(
                            account_id="alice@aclb", key=f"k{i}", value=f"v{i}"
                        )
                    )
                    for i in range(3)
                ),
            ],
            [ADMIN],
        )
        await run(h.client.send, setup)
        assert (await run(h.client.wait_final, setup.hash)).tx_status == E.COMMITTED

        assets = Q.GetAccountAssets(account_id="alice@aclb")
        assets.pagination_meta.page_size = 1
        r = await run(h.client.find, query("admin@bakong", ADMIN, get_account_assets=assets))
        page = r.account_assets_response
        assert (len(page.account_assets), page.total_number) == (1, 2)
        assets.pagination_meta.first_asset_id = page.next_asset_id
        r = await run(h.client.find, query("admin@bakong", ADMIN, get_account_assets=assets))
        assert r.account_assets_response.account_assets[0].asset_id == page.next_asset_id
        assert not r.account_assets_response.HasField("next_asset_id")

        detail = Q.GetAccountDetail(account_id="alice@aclb")
        detail.pagination_meta.page_size = 2
        r = await run(h.client.find, query("admin@bakong", ADMIN, get_account_detail=detail))
        d = r.account_detail_response
        assert d.total_number == 3 and d.next_record_id.key == "k2"
        detail.pagination_meta.first_record_id.CopyFrom(d.next_record_id)
        r = await run(h.client.find, query("admin@bakong", ADMIN, get_account_detail=detail))
        assert '"k2"' in r.account_detail_response.detail

        hist = Q.GetAccountAssetTransactions(account_id="alice@aclb", asset_id="khr#bakong")
        hist.pagination_meta.page_size = 5
        q = query("admin@bakong", ADMIN, get_account_asset_transactions=hist)
        r = await run(h.client.find, q)
        assert r.transactions_page_response.all_transactions_size == 1
        assert r.transactions_page_response.transactions[0].payload == setup.pb.payload

        # a customer reading someone else's account: stateful code 2 (no permission)
        r = await run(
            h.client.find,
            query("alice@aclb", ALICE, get_account=Q.GetAccount(account_id="bob@wing")),
        )
        assert (r.error_response.reason, r.error_response.error_code) == (
            Reason.STATEFUL_INVALID,
            2,
        )


async def test_pending_query_after_restart(tmp_path: Path) -> None:
    t = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "0.01")], [ALICE], quorum=2)
    async with running(tmp_path) as h:
        await run(h.client.send, t)
    async with running(tmp_path) as h:
        r = await run(h.client.find, pending_query("alice@aclb", ALICE, 5))
        page = r.pending_transactions_page_response
        assert [x.payload for x in page.transactions] == [t.pb.payload]
        assert (await run(h.client.get_status, t.hash)).tx_status == E.MST_PENDING
