"""Queries: permission matrix (my/domain/all), error codes, pagination, response shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.crypto import KeyPair
from node.model import Tx
from node.proto.iroha import qry_responses_pb2 as R
from node.proto.iroha import queries_pb2 as Q
from node.state import Ledger
from node.storage import LevelDBStore
from tests.unit.state.support import (
    ADMIN,
    ALICE,
    BOB,
    EVE,
    OPS,
    T0,
    TADMIN,
    commit,
    key,
    make_tx,
    new_ledger,
)
from tests.unit.state.test_commands import detail, transfer

SIGNER: dict[str, KeyPair] = {
    "alice@aclb": ALICE,
    "bob@wing": BOB,
    "ops@aclb": OPS,
    "admin@test": TADMIN,
    "admin@bakong": ADMIN,
    "eve@audit": EVE,
}


def query(creator: str, signer: KeyPair | None = None, **kw: Any) -> Q.Query:
    q = Q.Query()
    q.payload.meta.creator_account_id = creator
    q.payload.meta.created_time = T0
    q.payload.meta.query_counter = 1
    for name, value in kw.items():
        getattr(q.payload, name).CopyFrom(value)
    kp = signer or SIGNER[creator]
    q.signature.public_key = kp.public_key
    q.signature.signature = kp.sign(q.payload.SerializeToString()).hex()
    return q


def error(resp: R.QueryResponse) -> tuple[str, int] | None:
    if resp.WhichOneof("response") != "error_response":
        return None
    e = resp.error_response
    return R.ErrorResponse.Reason.Name(e.reason), e.error_code


@pytest.fixture(scope="module")
def led(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    store = LevelDBStore(str(tmp_path_factory.mktemp("q") / "db"))
    ledger = new_ledger(store)
    for i in range(5):
        commit(
            ledger,
            [
                make_tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "1")], [ALICE], T0 + i),
                make_tx("bob@wing", [detail("bob@wing", f"k{i}", str(i))], [BOB], T0 + i),
            ],
            created_time=T0 + i,
        )
    r = commit(ledger, [make_tx("ops@aclb", [detail("bob@wing", "x", "y")], [OPS], T0 + 9)])
    assert r.rejected == []
    yield ledger
    store.close()


PAGE = Q.TxPaginationMeta(page_size=10)


def account_query(name: str, target: str) -> dict[str, Any]:
    return {
        "GetAccount": {"get_account": Q.GetAccount(account_id=target)},
        "GetSignatories": {"get_signatories": Q.GetSignatories(account_id=target)},
        "GetAccountAssets": {"get_account_assets": Q.GetAccountAssets(account_id=target)},
        "GetAccountDetail": {"get_account_detail": Q.GetAccountDetail(account_id=target)},
        "GetAccountTransactions": {
            "get_account_transactions": Q.GetAccountTransactions(
                account_id=target, pagination_meta=PAGE
            )
        },
        "GetAccountAssetTransactions": {
            "get_account_asset_transactions": Q.GetAccountAssetTransactions(
                account_id=target, asset_id="usd#bakong", pagination_meta=PAGE
            )
        },
    }[name]


TRIPLET_QUERIES = [
    "GetAccount",
    "GetSignatories",
    "GetAccountAssets",
    "GetAccountDetail",
    "GetAccountTransactions",
    "GetAccountAssetTransactions",
]
# creator, target, which queries are allowed (others must fail with code 2)
MATRIX = [
    ("alice@aclb", "alice@aclb", set(TRIPLET_QUERIES)),  # my
    ("alice@aclb", "bob@wing", set()),
    ("ops@aclb", "alice@aclb", set(TRIPLET_QUERIES)),  # domain
    ("ops@aclb", "bob@wing", set()),
    ("admin@test", "bob@wing", set(TRIPLET_QUERIES)),  # all
    ("admin@bakong", "bob@wing", set(TRIPLET_QUERIES)),  # root
    ("eve@audit", "alice@aclb", {"GetAccount"}),
]


@pytest.mark.parametrize("name", TRIPLET_QUERIES)
@pytest.mark.parametrize(("creator", "target", "allowed"), MATRIX)
def test_permission_matrix(
    led: Ledger, name: str, creator: str, target: str, allowed: set[str]
) -> None:
    resp = led.query(query(creator, **account_query(name, target)))
    if name in allowed:
        assert error(resp) is None, resp
    else:
        assert error(resp) == ("STATEFUL_INVALID", 2)
    assert resp.query_hash and len(resp.query_hash) == 64


def test_signatory_check(led: Ledger) -> None:
    q = query("alice@aclb", signer=BOB, get_account=Q.GetAccount(account_id="alice@aclb"))
    assert error(led.query(q)) == ("STATEFUL_INVALID", 3)
    q = query("ghost@aclb", signer=BOB, get_roles=Q.GetRoles())
    assert error(led.query(q)) == ("STATEFUL_INVALID", 3)


def test_get_account_shape(led: Ledger) -> None:
    r = led.query(query("admin@test", get_account=Q.GetAccount(account_id="bob@wing")))
    acc = r.account_response.account
    assert (acc.account_id, acc.domain_id, acc.quorum) == ("bob@wing", "wing", 1)
    details = json.loads(acc.json_data)
    assert details["bob@wing"]["k3"] == "3" and details["ops@aclb"] == {"x": "y"}
    assert list(r.account_response.account_roles) == ["customer"]
    r = led.query(query("admin@test", get_account=Q.GetAccount(account_id="no@wing")))
    assert error(r) == ("NO_ACCOUNT", 0)


def test_account_assets_and_pagination(led: Ledger) -> None:
    r = led.query(
        query("alice@aclb", get_account_assets=Q.GetAccountAssets(account_id="alice@aclb"))
    )
    rows = [(a.asset_id, a.balance) for a in r.account_assets_response.account_assets]
    assert rows == [("khr#bakong", "40000"), ("usd#bakong", "95.50")]
    meta = Q.AssetPaginationMeta(page_size=1)
    page = led.query(
        query(
            "alice@aclb",
            get_account_assets=Q.GetAccountAssets(account_id="alice@aclb", pagination_meta=meta),
        )
    ).account_assets_response
    assert len(page.account_assets) == 1 and page.total_number == 2
    assert page.next_asset_id == "usd#bakong"
    meta = Q.AssetPaginationMeta(page_size=1, first_asset_id="nope#bakong")
    r = led.query(
        query(
            "alice@aclb",
            get_account_assets=Q.GetAccountAssets(account_id="alice@aclb", pagination_meta=meta),
        )
    )
    assert error(r) == ("STATEFUL_INVALID", 4)


def test_account_detail_filters_and_pages(led: Ledger) -> None:
    def get(**kw: Any) -> R.QueryResponse:
        return led.query(query("bob@wing", get_account_detail=Q.GetAccountDetail(**kw)))

    r = get(key="k1").account_detail_response
    assert json.loads(r.detail) == {"bob@wing": {"k1": "1"}}
    r = get(writer="ops@aclb").account_detail_response
    assert json.loads(r.detail) == {"ops@aclb": {"x": "y"}}
    meta = Q.AccountDetailPaginationMeta(page_size=2)
    seen: list[tuple[str, str]] = []
    while True:
        r = get(pagination_meta=meta).account_detail_response
        seen += [(w, k) for w, d in json.loads(r.detail).items() for k in d]
        assert r.total_number == 6
        if not r.HasField("next_record_id"):
            break
        meta.first_record_id.CopyFrom(r.next_record_id)
    assert len(seen) == 6 and len(set(seen)) == 6
    meta.first_record_id.writer, meta.first_record_id.key = "nobody@wing", "k"
    assert error(get(pagination_meta=meta)) == ("STATEFUL_INVALID", 4)


def test_account_transactions_pages_and_ordering(led: Ledger) -> None:
    def page(**meta: Any) -> R.TransactionsPageResponse:
        q = Q.GetAccountTransactions(
            account_id="alice@aclb", pagination_meta=Q.TxPaginationMeta(**meta)
        )
        r = led.query(query("alice@aclb", get_account_transactions=q))
        assert error(r) is None, r
        return r.transactions_page_response

    everything = page(page_size=100)
    # genesis balances tx + 5 transfers
    assert everything.all_transactions_size == 6 and not everything.HasField("next_tx_hash")
    hashes = [Tx(t).hash_hex for t in everything.transactions]
    walked: list[str] = []
    meta: dict[str, Any] = {"page_size": 3}
    while True:
        p = page(**meta)
        walked += [Tx(t).hash_hex for t in p.transactions]
        if not p.HasField("next_tx_hash"):
            break
        meta["first_tx_hash"] = p.next_tx_hash
    assert walked == hashes
    desc = Q.Ordering()
    desc.sequence.add(field="kPosition", direction="kDescending")
    assert [Tx(t).hash_hex for t in page(page_size=100, ordering=desc).transactions] == hashes[::-1]
    ranged = page(page_size=100, first_tx_height=3, last_tx_height=4)
    assert ranged.all_transactions_size == 2
    by_time = Q.Ordering()
    by_time.sequence.add(field="kCreatedTime", direction="kDescending")
    times = sorted((Tx(t).created_time for t in everything.transactions), reverse=True)
    assert [Tx(t).created_time for t in page(page_size=100, ordering=by_time).transactions] == times
    # a transaction that is committed, but not one of this account's
    block, _ = led.get_block(2) or (None, b"")
    assert block is not None
    bobs = Tx(block.block_v1.payload.transactions[1])
    assert bobs.creator != "alice@aclb"
    r = led.query(
        query(
            "alice@aclb",
            get_account_transactions=Q.GetAccountTransactions(
                account_id="alice@aclb",
                pagination_meta=Q.TxPaginationMeta(page_size=1, first_tx_hash=bobs.hash_hex),
            ),
        )
    )
    assert error(r) == ("STATEFUL_INVALID", 4)
    bad = Q.GetAccountTransactions(
        account_id="alice@aclb",
        pagination_meta=Q.TxPaginationMeta(page_size=1, first_tx_hash="ab" * 32),
    )
    assert error(led.query(query("alice@aclb", get_account_transactions=bad))) == (
        "STATEFUL_INVALID",
        4,
    )
    missing = Q.GetAccountTransactions(account_id="no@aclb", pagination_meta=PAGE)
    assert error(led.query(query("admin@test", get_account_transactions=missing))) == (
        "STATEFUL_INVALID",
        5,
    )


def test_account_asset_transactions(led: Ledger) -> None:
    q = Q.GetAccountAssetTransactions(
        account_id="bob@wing", asset_id="usd#bakong", pagination_meta=PAGE
    )
    r = led.query(query("bob@wing", get_account_asset_transactions=q)).transactions_page_response
    assert r.all_transactions_size == 6  # genesis balance + 5 incoming transfers
    q.asset_id = "nope#bakong"
    assert error(led.query(query("bob@wing", get_account_asset_transactions=q))) == (
        "STATEFUL_INVALID",
        6,
    )


def test_get_transactions(led: Ledger) -> None:
    block, _ = led.get_block(2) or (None, b"")
    assert block is not None
    mine, bobs = (Tx(t).hash_hex for t in block.block_v1.payload.transactions)
    ok = led.query(query("alice@aclb", get_transactions=Q.GetTransactions(tx_hashes=[mine])))
    assert Tx(ok.transactions_response.transactions[0]).hash_hex == mine
    r = led.query(query("alice@aclb", get_transactions=Q.GetTransactions(tx_hashes=[mine, bobs])))
    assert error(r) == ("STATEFUL_INVALID", 4)
    r = led.query(query("admin@test", get_transactions=Q.GetTransactions(tx_hashes=[bobs, mine])))
    assert len(r.transactions_response.transactions) == 2
    r = led.query(query("admin@test", get_transactions=Q.GetTransactions(tx_hashes=["00" * 32])))
    assert error(r) == ("STATEFUL_INVALID", 4)
    r = led.query(query("eve@audit", get_transactions=Q.GetTransactions(tx_hashes=[mine])))
    assert error(r) == ("STATEFUL_INVALID", 2)


def test_blocks_assets_roles_peers(led: Ledger) -> None:
    r = led.query(query("admin@test", get_block=Q.GetBlock(height=2)))
    assert r.block_response.block.block_v1.payload.height == 2
    assert error(led.query(query("admin@test", get_block=Q.GetBlock(height=99)))) == (
        "STATEFUL_INVALID",
        3,
    )
    assert error(led.query(query("alice@aclb", get_block=Q.GetBlock(height=1)))) == (
        "STATEFUL_INVALID",
        2,
    )
    r = led.query(query("admin@test", get_asset_info=Q.GetAssetInfo(asset_id="usd#bakong")))
    a = r.asset_response.asset
    assert (a.asset_id, a.domain_id, a.precision) == ("usd#bakong", "bakong", 2)
    assert error(led.query(query("admin@test", get_asset_info=Q.GetAssetInfo(asset_id="x#y")))) == (
        "NO_ASSET",
        0,
    )
    assert error(
        led.query(query("alice@aclb", get_asset_info=Q.GetAssetInfo(asset_id="usd#bakong")))
    ) == ("STATEFUL_INVALID", 2)
    roles = led.query(query("admin@test", get_roles=Q.GetRoles())).roles_response.roles
    assert {"admin", "user", "money_creator", "bank_operator", "customer"} <= set(roles)
    r = led.query(
        query("admin@test", get_role_permissions=Q.GetRolePermissions(role_id="money_creator"))
    )
    assert list(r.role_permissions_response.permissions) == [3, 11, 12, 13]
    r = led.query(query("admin@test", get_role_permissions=Q.GetRolePermissions(role_id="nope")))
    assert error(r) == ("NO_ROLES", 0)
    assert len(led.query(query("admin@test", get_peers=Q.GetPeers())).peers_response.peers) == 4
    assert error(led.query(query("alice@aclb", get_peers=Q.GetPeers()))) == ("STATEFUL_INVALID", 2)
    r = led.query(query("admin@bakong", get_engine_receipts=Q.GetEngineReceipts(tx_hash="00" * 32)))
    assert r.WhichOneof("response") == "engine_receipts_response"


def test_pending_transactions(tmp_path: Path) -> None:
    batches = [
        [
            make_tx("alice@aclb", [detail("alice@aclb", "p", f"{n}-{i}")], [], T0 + i)
            for i in range(n)
        ]
        for n in (1, 3, 2)
    ]
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = new_ledger(store)

    def pending(account: str) -> list[list[Tx]]:
        return batches if account == "alice@aclb" else []

    r = ledger.query(
        query("alice@aclb", get_pending_transactions=Q.GetPendingTransactions()), pending
    )
    assert len(r.transactions_response.transactions) == 6
    meta = Q.TxPaginationMeta(page_size=3)
    gp = Q.GetPendingTransactions(pagination_meta=meta)
    p = ledger.query(
        query("alice@aclb", get_pending_transactions=gp), pending
    ).pending_transactions_page_response
    assert (
        len(p.transactions) == 1 and p.all_transactions_size == 6
    )  # next batch (3) does not fit in 2
    assert (
        p.next_batch_info.first_tx_hash == batches[1][0].hash_hex
        and p.next_batch_info.batch_size == 3
    )
    meta.first_tx_hash = p.next_batch_info.first_tx_hash
    gp = Q.GetPendingTransactions(pagination_meta=meta)
    p = ledger.query(
        query("alice@aclb", get_pending_transactions=gp), pending
    ).pending_transactions_page_response
    assert len(p.transactions) == 3 and p.next_batch_info.batch_size == 2
    meta.first_tx_hash = "ab" * 32
    gp = Q.GetPendingTransactions(pagination_meta=meta)
    r = ledger.query(query("alice@aclb", get_pending_transactions=gp), pending)
    assert error(r) == ("STATEFUL_INVALID", 4)
    store.close()


def test_query_sees_committed_state_only(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = new_ledger(store)
    q = query("alice@aclb", get_account_assets=Q.GetAccountAssets(account_id="alice@aclb"))
    before = ledger.query(q).account_assets_response.account_assets[1].balance
    result = ledger.execute(
        [make_tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "50")], [ALICE])], 2, T0
    )
    assert ledger.query(q).account_assets_response.account_assets[1].balance == before
    ledger.commit(result, [], b"")
    assert ledger.query(q).account_assets_response.account_assets[1].balance == "50.50"
    assert key(1).public_key == ADMIN.public_key
    store.close()
