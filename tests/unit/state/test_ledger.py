"""Committed effects, batches, replay protection, commit/open/replay/sync and genesis."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from node.model import Tx
from node.proto.iroha import block_pb2, qry_responses_pb2
from node.proto.iroha import commands_pb2 as C
from node.proto.iroha import queries_pb2 as Q
from node.state import (
    SIBLING_FAILED,
    BlockRejected,
    GenesisError,
    Ledger,
    LedgerCorrupted,
    StaleResult,
    TxError,
)
from node.state import keys as K
from node.state.genesis import (
    ADMIN_PERMISSIONS,
    MONEY_CREATOR_PERMISSIONS,
    USER_PERMISSIONS,
    block_to_json,
    genesis_from_spec,
    load_iroha_genesis,
    load_spec,
)
from node.state.records import TxRecord
from node.storage import LevelDBStore, WriteBatch
from tests.unit.state.support import (
    ADMIN,
    ALICE,
    BOB,
    OPS,
    PEERS,
    T0,
    TADMIN,
    TUSER,
    commit,
    key,
    make_batch,
    make_tx,
    new_ledger,
    spec,
)
from tests.unit.state.test_commands import (
    AL,
    BO,
    add_peer,
    add_qty,
    add_sig,
    append,
    detail,
    grant,
    quorum,
    rm_peer,
    role,
    setting,
    transfer,
)
from tests.unit.state.test_queries import query


def bal(ledger: Ledger, acc: str, asset: str = "usd#bakong") -> int:
    return ledger.view().balance(acc, asset)


def test_transfer_commits_and_indexes(ledger: Ledger) -> None:
    tx = make_tx(AL, [transfer(AL, BO, "0.50")], [ALICE])
    bad = make_tx(AL, [transfer(AL, BO, "1000")], [ALICE])
    r = commit(ledger, [tx, bad])
    assert ledger.height == 2
    assert bal(ledger, AL) == 10000 and bal(ledger, BO) == 550
    rec = ledger.tx_status(tx.hash)
    assert rec is not None and rec.committed and (rec.height, rec.index) == (2, 0)
    rej = ledger.tx_status(bad.hash)
    assert rej is not None and not rej.committed and rej.error == TxError("TransferAsset", 0, 6)
    block, cert = ledger.get_block(2) or (None, None)
    assert block is not None and cert == b"cert"
    assert block.block_v1.payload.rejected_transactions_hashes == [bad.hash_hex]
    assert block.block_v1.payload.prev_block_hash == r.prev_hash.hex()
    hist = [k for k, _ in ledger.store.iterate(K.HISTORY + b"alice@aclb/")]
    assert len(hist) == 2  # genesis balances tx + this transfer
    assert len(list(ledger.store.iterate(K.ASSET_HISTORY + b"bob@wing/usd#bakong/"))) == 2


def test_atomic_batch_all_or_nothing(ledger: Ledger) -> None:
    batch = make_batch(
        0,
        [
            (AL, [transfer(AL, BO, "1")], [ALICE]),
            (BO, [transfer(BO, AL, "999")], [BOB]),
            (AL, [transfer(AL, BO, "2")], [ALICE]),
        ],
    )
    r = commit(ledger, batch)
    assert r.txs == []
    assert [e for _, e in r.rejected] == [
        SIBLING_FAILED,
        TxError("TransferAsset", 0, 6),
        SIBLING_FAILED,
    ]
    assert SIBLING_FAILED.cmd_index == 2**64 - 1
    assert bal(ledger, AL) == 10050


def test_ordered_batch_independent(ledger: Ledger) -> None:
    batch = make_batch(
        1,
        [
            (AL, [transfer(AL, BO, "1")], [ALICE]),
            (BO, [transfer(BO, AL, "999")], [BOB]),
            (AL, [transfer(AL, BO, "2")], [ALICE]),
        ],
    )
    r = commit(ledger, batch)
    assert [t.hash for t in r.txs] == [batch[0].hash, batch[2].hash]
    assert r.rejected_hashes == [batch[1].hash]
    assert bal(ledger, BO) == 800


def test_replayed_and_duplicate_txs_are_dropped(ledger: Ledger) -> None:
    tx = make_tx(AL, [transfer(AL, BO, "1")], [ALICE])
    r = commit(ledger, [tx, tx])
    assert r.dropped == [tx.hash] and len(r.txs) == 1
    r2 = commit(ledger, [tx])
    assert r2.dropped == [tx.hash] and r2.txs == [] and r2.rejected == []
    assert bal(ledger, BO) == 600


def test_account_quorum_enforced(ledger: Ledger) -> None:
    k = key(60)
    commit(ledger, [make_tx(AL, [add_sig(AL, k.public_key), quorum(AL, 2)], [ALICE])])
    one = make_tx(AL, [detail(AL, "a", "1")], [ALICE])
    two = make_tx(AL, [detail(AL, "a", "2")], [ALICE, k])
    r = commit(ledger, [one, two])
    assert r.rejected == [(one.hash, TxError("signatures validation", 0, 2))]
    assert [t.hash for t in r.txs] == [two.hash]


def test_granted_transfer(ledger: Ledger) -> None:
    steal = make_tx(BO, [transfer(AL, BO, "1")], [BOB])
    r = commit(ledger, [steal])
    assert r.rejected[0][1] == TxError("TransferAsset", 0, 2)
    commit(ledger, [make_tx(AL, [grant(BO, "can_transfer_my_assets")], [ALICE])])
    r = commit(ledger, [make_tx(BO, [transfer(AL, BO, "1")], [BOB], created_time=T0 + 1)])
    assert r.rejected == [] and bal(ledger, BO) == 600


def test_domain_asset_quantity_and_overflow(ledger: Ledger) -> None:
    # a role with only the domain variant may mint assets of its own domain
    r = commit(
        ledger,
        [
            make_tx(
                "admin@bakong",
                [role("minter", "can_add_domain_asset_qty"), append(AL, "minter")],
                [ADMIN],
            ),
            make_tx(
                "admin@bakong",
                [
                    C.Command(
                        create_asset=C.CreateAsset(asset_name="pts", domain_id="aclb", precision=0)
                    )
                ],
                [ADMIN],
            ),
        ],
    )
    assert r.rejected == []
    ok = make_tx(AL, [add_qty("pts#aclb", "5")], [ALICE])
    no = make_tx(AL, [add_qty("usd#bakong", "5")], [ALICE])
    r = commit(ledger, [ok, no])
    assert r.rejected == [(no.hash, TxError("AddAssetQuantity", 0, 2))]
    # destination overflow: admin holds 2^256 - 1 units, alice sends one more
    top = str((1 << 256) - 1)
    commit(ledger, [make_tx("admin@bakong", [add_qty("khr#bakong", top)], [ADMIN])])
    over = make_tx(AL, [transfer(AL, "admin@bakong", "1", "khr#bakong")], [ALICE])
    r = commit(ledger, [over])
    assert r.rejected == [(over.hash, TxError("TransferAsset", 0, 7))]


def test_setting_changes_params(ledger: Ledger) -> None:
    assert ledger.params.max_description_size == 100
    commit(ledger, [make_tx("admin@bakong", [setting("MaxDescriptionSize", "5")], [ADMIN])])
    assert ledger.params.max_description_size == 5
    long = make_tx(AL, [transfer(AL, BO, "1", desc="123456")], [ALICE])
    assert commit(ledger, [long]).rejected[0][1] == TxError("TransferAsset", 0, 8)
    # the ordering peer's fill wait: on chain, and 0 (off) is a value of its own
    assert ledger.params.proposal_fill_ms == 100
    commit(ledger, [make_tx("admin@bakong", [setting("ProposalFillMs", "0")], [ADMIN])])
    assert ledger.params.proposal_fill_ms == 0


def test_peers(ledger: Ledger) -> None:
    assert sorted(p.peer_key for p in ledger.validators()) == sorted(p.public_key for p in PEERS)
    k = key(70).public_key
    commit(ledger, [make_tx("admin@test", [add_peer("10.0.0.5:1", k, syncing=True)], [TADMIN])])
    assert [p.peer_key for p in ledger.syncing_peers()] == [k]
    assert len(ledger.validators()) == 4
    # the peer lists are kept between blocks and read again after any peer change
    v = key(71).public_key
    commit(ledger, [make_tx(AL, [transfer(AL, BO, "0.01")], [ALICE])])
    commit(ledger, [make_tx("admin@test", [add_peer("10.0.0.6:1", v)], [TADMIN])])
    assert v in [p.peer_key for p in ledger.validators()] and len(ledger.validators()) == 5
    commit(ledger, [make_tx("admin@test", [rm_peer(k), rm_peer(PEERS[0].public_key)], [TADMIN])])
    assert ledger.syncing_peers() == [] and len(ledger.validators()) == 4
    assert PEERS[0].public_key not in [p.peer_key for p in ledger.validators()]
    # a peer change that fails leaves the lists as they were
    ghost = key(72).public_key
    r = commit(
        ledger,
        [
            make_tx(
                "admin@test",
                [add_peer("10.0.0.7:1", ghost), rm_peer(ghost), rm_peer(ghost)],
                [TADMIN],
            )
        ],
    )
    assert r.rejected and len(ledger.validators()) == 4


def test_stale_result_refused(ledger: Ledger) -> None:
    a = ledger.execute([make_tx(AL, [detail(AL, "a", "1")], [ALICE])], 2, T0)
    b = ledger.execute([make_tx(AL, [detail(AL, "a", "2")], [ALICE])], 2, T0)
    ledger.commit(a, [], b"")
    with pytest.raises(StaleResult):
        ledger.commit(b, [], b"")


def test_reopen_and_replay_rebuild_identical_state(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = new_ledger(store)
    for i in range(5):
        commit(
            ledger,
            [
                make_tx(
                    AL,
                    [transfer(AL, BO, "0.01"), detail(AL, "i", str(i))],
                    [ALICE],
                    created_time=T0 + i,
                )
            ],
        )
    bad = make_tx(AL, [transfer(AL, BO, "99999")], [ALICE], created_time=T0 + 99)
    commit(ledger, [bad])
    height, top, digest = ledger.height, ledger.top_hash, ledger.state_hash()
    state = list(store.iterate(b"w"))
    index = list(store.iterate(K.TX)) + list(store.iterate(K.HISTORY))
    store.close()
    store = LevelDBStore(str(tmp_path / "db"))
    again = Ledger.open(store)
    assert (again.height, again.top_hash, again.state_hash()) == (height, top, digest)
    Ledger.drop_state(store)
    assert list(store.iterate(b"w")) == []
    rebuilt = Ledger.open(store)
    assert (rebuilt.height, rebuilt.top_hash) == (height, top)
    assert list(store.iterate(b"w")) == state  # byte-identical world state
    assert list(store.iterate(K.HISTORY)) == [kv for kv in index if kv[0].startswith(K.HISTORY)]
    # every tx record is back; a rejected tx's reason is not in its block, so it is unknown
    assert [k for k, _ in store.iterate(K.TX)] == [k for k, _ in index if k.startswith(K.TX)]
    rec = rebuilt.tx_status(bad.hash)
    assert rec == TxRecord(False, height, 0, None)
    store.close()


def _get_transactions(ledger: Ledger, hashes: list[str]) -> qry_responses_pb2.QueryResponse:
    return ledger.query(query("admin@test", get_transactions=Q.GetTransactions(tx_hashes=hashes)))


def test_tx_records_are_keyed_by_raw_hash(ledger: Ledger) -> None:
    tx = make_tx(AL, [transfer(AL, BO, "0.01")], [ALICE])
    commit(ledger, [tx])
    assert ledger.store.get(K.FORMAT) == K.FORMAT_CURRENT
    assert ledger.store.get(K.TX + tx.hash) is not None
    assert ledger.store.get(K.TX + tx.hash_hex.encode()) is None
    assert all(len(k) == len(K.TX) + 32 for k, _ in ledger.store.iterate(K.TX))
    r = _get_transactions(ledger, [tx.hash_hex.upper()])
    assert [Tx(t).hash for t in r.transactions_response.transactions] == [tx.hash]
    for bad in ("zz", tx.hash_hex[:10], tx.hash_hex + "00"):  # not found, never a traceback
        assert _get_transactions(ledger, [bad]).error_response.error_code == 4


def test_tx_record_encodings() -> None:
    recs = [TxRecord(True, 7, 3), TxRecord(False, 2, 5), TxRecord(False, 9, 0, TxError("X", 1, 6))]
    for rec in recs:
        assert TxRecord.decode(rec.encode()) == rec
    assert [len(r.encode()) for r in recs] == [13, 13, 27]
    # layout 1 wrote every record in the long form
    assert TxRecord.decode(struct.pack(">BQIBIQ", 1, 7, 3, 0, 0, 0)) == TxRecord(True, 7, 3)


def _to_per_tx_history(store: LevelDBStore, ledger: Ledger, b: WriteBatch, hashed: bool) -> None:
    """Split each block's history entries into one entry per transaction, as nodes wrote
    them before: ``.../{height}/{index}`` -> created_time, after the tx hash if
    ``hashed`` (layout 1)."""
    for prefix in (K.HISTORY, K.ASSET_HISTORY):
        for k, v in store.iterate(prefix):
            b.delete(k)
            for height, index, created in K.history_rows(k.rsplit(b"/", 1)[1], v):
                value = struct.pack(">Q", created)
                if hashed:
                    block, _ = ledger.get_block(height) or (None, b"")
                    assert block is not None
                    value = Tx(block.block_v1.payload.transactions[index]).hash + value
                b.put(k + b"/%06d" % index, value)


def _to_layout_1(store: LevelDBStore, ledger: Ledger) -> None:
    """Rewrite a data dir the way a node before ``m/format`` left it: hex tx keys, and
    per-transaction history values that start with the tx hash."""
    b = WriteBatch()
    for k, v in store.iterate(K.TX):
        b.delete(k)
        b.put(K.TX + k[len(K.TX) :].hex().encode(), v)
    _to_per_tx_history(store, ledger, b, hashed=True)
    b.delete(K.FORMAT)
    store.write(b, sync=True)


def _history_walk(ledger: Ledger, account: str) -> list[bytes]:
    """Every tx of ``account``'s history, a page of one at a time."""
    walked: list[bytes] = []
    meta = Q.TxPaginationMeta(page_size=1)
    while True:
        q = Q.GetAccountTransactions(account_id=account, pagination_meta=meta)
        page = ledger.query(query("admin@test", get_account_transactions=q))
        walked += [Tx(t).hash for t in page.transactions_page_response.transactions]
        if not page.transactions_page_response.next_tx_hash:
            assert page.transactions_page_response.all_transactions_size == len(walked)
            return walked
        meta.first_tx_hash = page.transactions_page_response.next_tx_hash


def test_history_is_one_entry_per_account_and_block(ledger: Ledger) -> None:
    """A merchant paid three times in a block gets one asset-history entry for it, with
    the three transactions in block order; each payer's entries stay their own."""
    pays = [
        make_tx(AL, [transfer(AL, BO, "0.01")], [ALICE], created_time=T0 + 1),
        make_tx(AL, [transfer(AL, BO, "0.02")], [ALICE], created_time=T0 + 2),
        make_tx(BO, [transfer(BO, AL, "0.03")], [BOB], created_time=T0 + 3),
        make_tx(AL, [transfer(AL, BO, "0.04")], [ALICE], created_time=T0 + 4),
    ]
    commit(ledger, pays)
    at = K.ASSET_HISTORY + b"bob@wing/usd#bakong/"
    entries = [(k, v) for k, v in ledger.store.iterate(at) if k.endswith(b"%016d" % 2)]
    assert len(entries) == 1
    rows = K.history_rows(entries[0][0][len(at) :], entries[0][1])
    assert rows == [(2, i, T0 + i + 1) for i in range(4)]
    created = [(k, v) for k, v in ledger.store.iterate(K.HISTORY + b"alice@aclb/")]
    assert K.history_rows(created[-1][0].rsplit(b"/", 1)[1], created[-1][1]) == [
        (2, 0, T0 + 1),
        (2, 1, T0 + 2),
        (2, 3, T0 + 4),
    ]
    assert _history_walk(ledger, AL)[-3:] == [pays[0].hash, pays[1].hash, pays[3].hash]
    # a tx naming the same (account, asset) in several commands is in its entry once
    twice = [
        make_tx(AL, [transfer(AL, BO, "0.05"), transfer(AL, BO, "0.06")], [ALICE]),
        make_tx("admin@bakong", [add_qty("usd#bakong", "1"), add_qty("usd#bakong", "2")], [ADMIN]),
    ]
    commit(ledger, twice)
    for prefix in (at, K.ASSET_HISTORY + b"alice@aclb/usd#bakong/"):
        k, v = list(ledger.store.iterate(prefix))[-1]
        assert K.history_rows(k[len(prefix) :], v) == [(3, 0, T0)]
    k, v = list(ledger.store.iterate(K.ASSET_HISTORY + b"admin@bakong/usd#bakong/"))[-1]
    assert K.history_rows(k.rsplit(b"/", 1)[1], v) == [(3, 1, T0)]


def test_per_tx_history_written_before_keeps_paging(tmp_path: Path) -> None:
    """A layout-2 data dir from before the per-block history entries: its old entries
    and the new ones page as one history, and a reindex writes the new form only."""
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = new_ledger(store)
    old = make_tx(AL, [transfer(AL, BO, "0.01")], [ALICE])
    commit(ledger, [old])
    b = WriteBatch()
    _to_per_tx_history(store, ledger, b, hashed=False)
    store.write(b, sync=True)
    assert all(k.count(b"/") == 3 for k, _ in store.iterate(K.HISTORY))
    store.close()
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = Ledger.open(store)
    new = make_tx(AL, [transfer(AL, BO, "0.02")], [ALICE], created_time=T0 + 1)
    commit(ledger, [new])
    walked = _history_walk(ledger, AL)
    assert walked[-2:] == [old.hash, new.hash]
    Ledger.drop_state(store)
    ledger = Ledger.open(store)
    assert all(k.count(b"/") == 2 for k, _ in store.iterate(K.HISTORY))
    assert _history_walk(ledger, AL) == walked
    store.close()


def test_layout_1_data_dir_keeps_working_until_reindexed(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = new_ledger(store)
    old = make_tx(AL, [transfer(AL, BO, "0.01")], [ALICE])
    commit(ledger, [old])
    _to_layout_1(store, ledger)
    store.close()
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = Ledger.open(store)
    rec = ledger.tx_status(old.hash)
    assert rec is not None and rec.committed and rec.height == 2
    new = make_tx(AL, [transfer(AL, BO, "0.02")], [ALICE], created_time=T0 + 1)
    r = commit(ledger, [old, new])  # the old one is recognised as a replay
    assert r.dropped == [old.hash] and [t.hash for t in r.txs] == [new.hash]
    assert store.get(K.TX + new.hash_hex.encode()) is not None  # still layout 1
    assert store.get(K.FORMAT) is None
    got = _get_transactions(ledger, [old.hash_hex, new.hash_hex]).transactions_response
    assert [Tx(t).hash for t in got.transactions] == [old.hash, new.hash]
    # history pages over old entries (hash + created_time) and a new block's entry
    assert _history_walk(ledger, AL)[-2:] == [old.hash, new.hash]
    # drop_state + open (the reindex) rebuilds the records in today's layout
    Ledger.drop_state(store)
    ledger = Ledger.open(store)
    assert store.get(K.FORMAT) == K.FORMAT_CURRENT
    assert all(len(k) == len(K.TX) + 32 for k, _ in store.iterate(K.TX))
    rec = ledger.tx_status(new.hash)
    assert rec is not None and rec.committed and rec.height == 3
    store.close()


def test_state_ahead_of_blocks_refused(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = new_ledger(store)
    commit(ledger, [make_tx(AL, [detail(AL, "a", "1")], [ALICE])])
    b = WriteBatch()
    b.delete(K.height_key(K.BLOCK, 2))
    store.write(b, sync=True)
    with pytest.raises(LedgerCorrupted, match="height 2"):
        Ledger.open(store)
    store.close()


def test_apply_block_from_peer(tmp_path: Path, ledger: Ledger) -> None:
    other_store = LevelDBStore(str(tmp_path / "other"))
    other = new_ledger(other_store)
    good = make_tx(AL, [transfer(AL, BO, "1")], [ALICE])
    bad = make_tx(AL, [transfer(AL, BO, "1000")], [ALICE])
    commit(ledger, [good, bad])
    block, cert = ledger.get_block(2) or (block_pb2.Block(), b"")
    other.apply_block(block, cert)
    assert other.state_hash() == ledger.state_hash()
    assert other.top_hash == ledger.top_hash
    rec = other.tx_status(bad.hash)
    assert rec is not None and not rec.committed and rec.error is None
    with pytest.raises(BlockRejected, match="does not follow"):
        other.apply_block(block, cert)
    # a block whose transaction is invalid here is refused and changes nothing
    commit(ledger, [make_tx(AL, [transfer(AL, BO, "2")], [ALICE])])
    forged, _ = ledger.get_block(3) or (block_pb2.Block(), b"")
    t = forged.block_v1.payload.transactions[0]
    t.payload.reduced_payload.commands[0].transfer_asset.amount = "5000"
    before = other.state_hash()
    with pytest.raises(BlockRejected, match="not valid"):
        other.apply_block(forged, b"")
    assert other.state_hash() == before and other.height == 2
    forged.block_v1.payload.prev_block_hash = "00" * 32
    with pytest.raises(BlockRejected, match="link"):
        other.apply_block(forged, b"")
    other_store.close()


def _iroha_genesis() -> dict[str, object]:
    """Iroha's example/genesis.block, with this test's keys."""
    roles = {"admin": ADMIN_PERMISSIONS, "user": USER_PERMISSIONS}
    roles["money_creator"] = MONEY_CREATOR_PERMISSIONS
    peer = {"address": "127.0.0.1:10001", "peerKey": PEERS[0].public_key}
    commands: list[dict[str, object]] = [{"addPeer": {"peer": peer}}]
    commands += [{"createRole": {"roleName": n, "permissions": p}} for n, p in roles.items()]
    commands += [
        {"createDomain": {"domainId": "test", "defaultRole": "user"}},
        {"createAsset": {"assetName": "coin", "domainId": "test", "precision": 2}},
    ]
    for name, kp in (("admin", TADMIN), ("test", TUSER)):
        acc = {"accountName": name, "domainId": "test", "publicKey": kp.public_key}
        commands.append({"createAccount": acc})
    for r in ("admin", "money_creator"):
        commands.append({"appendRole": {"accountId": "admin@test", "roleName": r}})
    tx = {"payload": {"reducedPayload": {"commands": commands, "quorum": 1}}}
    payload = {"transactions": [tx], "txNumber": 1, "height": "1", "prevBlockHash": "0" * 64}
    return {"block_v1": {"payload": payload}}


def test_iroha_example_genesis_and_tutorial_flow(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = Ledger.create(store, load_iroha_genesis(json.dumps(_iroha_genesis())))
    assert ledger.height == 1 and len(ledger.validators()) == 1
    mint = make_tx("admin@test", [add_qty("coin#test", "1000.00")], [TADMIN])
    send = make_tx(
        "admin@test", [transfer("admin@test", "test@test", "2.50", "coin#test")], [TADMIN]
    )
    r = commit(ledger, [mint, send])
    assert r.rejected == []
    assert ledger.view().balance("test@test", "coin#test") == 250
    store.close()
    again = Ledger.open(LevelDBStore(str(tmp_path / "db")))
    assert again.height == 2


def test_genesis_errors(tmp_path: Path, ledger: Ledger) -> None:
    with pytest.raises(GenesisError, match="already"):
        Ledger.create(ledger.store, genesis_from_spec(spec()))
    bad = spec()
    bad["domains"].append({"id": "x", "default_role": "nope"})
    store = LevelDBStore(str(tmp_path / "bad"))
    with pytest.raises(GenesisError, match="CreateDomain"):
        Ledger.create(store, genesis_from_spec(bad))
    store.close()


def test_spec_round_trips_json_and_toml(tmp_path: Path) -> None:
    s = spec()
    assert load_spec(json.dumps(s)) == s
    toml = 'domains = [{id = "d", default_role = "r"}]\nroles = [{name = "r"}]\n'
    assert load_spec(toml)["domains"][0]["id"] == "d"
    block = genesis_from_spec(s)
    assert load_iroha_genesis(block_to_json(block)) == block
    assert Tx(block.block_v1.payload.transactions[0]).creator == ""


def test_genesis_is_deterministic() -> None:
    assert (
        genesis_from_spec(spec()).SerializeToString()
        == genesis_from_spec(spec()).SerializeToString()
    )
    assert OPS.public_key != ADMIN.public_key


@pytest.mark.parametrize("mode", ["process", "power", "torn"])
def test_memory_store_crash_keeps_committed_blocks(mode: str) -> None:
    import random

    from node.storage import CrashMode, MemoryStore

    store = MemoryStore()
    ledger = new_ledger(store)
    for i in range(3):
        commit(ledger, [make_tx(AL, [detail(AL, "i", str(i))], [ALICE], created_time=T0 + i)])
    digest = ledger.state_hash()
    # an uncommitted execution leaves nothing behind, whatever the crash
    ledger.execute([make_tx(AL, [detail(AL, "i", "x")], [ALICE])], 5, T0)
    after = Ledger.open(store.crash(CrashMode(mode), random.Random(3)))
    assert (after.height, after.state_hash()) == (4, digest)


def test_open_replays_block_ahead_of_state(tmp_path: Path) -> None:
    from node.storage import MemoryStore

    ahead = new_ledger(MemoryStore())
    behind_store = LevelDBStore(str(tmp_path / "db"))
    behind = new_ledger(behind_store)
    commit(ahead, [make_tx(AL, [transfer(AL, BO, "3")], [ALICE])])
    block, cert = ahead.get_block(2) or (block_pb2.Block(), b"")
    b = WriteBatch()  # a block store one block ahead of the world state
    b.put(K.height_key(K.BLOCK, 2), block.SerializeToString())
    b.put(K.height_key(K.CERT, 2), cert)
    behind_store.write(b, sync=True)
    reopened = Ledger.open(behind_store)
    assert (reopened.height, reopened.state_hash()) == (2, ahead.state_hash())
    behind_store.close()
    assert behind.height == 1
