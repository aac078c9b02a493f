"""Table-driven: every command's success and each of its stateful error codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from node.crypto import KeyPair
from node.proto.iroha import commands_pb2 as C
from node.proto.iroha import primitive_pb2 as pr
from node.state import Ledger
from node.storage import LevelDBStore
from tests.unit.state.support import (
    ADMIN,
    ALICE,
    BOB,
    OPS,
    PEERS,
    TADMIN,
    cmd,
    key,
    make_tx,
    new_ledger,
)

K50 = key(50).public_key
K51 = key(51).public_key
BIG = str(1 << 256)

SIGNERS: dict[str, KeyPair] = {
    "admin@bakong": ADMIN,
    "ops@aclb": OPS,
    "alice@aclb": ALICE,
    "bob@wing": BOB,
    "admin@test": TADMIN,
}


def transfer(
    src: str, dest: str, amount: str, asset: str = "usd#bakong", desc: str = ""
) -> C.Command:
    return cmd(
        transfer_asset=C.TransferAsset(
            src_account_id=src,
            dest_account_id=dest,
            asset_id=asset,
            amount=amount,
            description=desc,
        )
    )


def add_qty(asset: str, amount: str) -> C.Command:
    return cmd(add_asset_quantity=C.AddAssetQuantity(asset_id=asset, amount=amount))


def sub_qty(asset: str, amount: str) -> C.Command:
    return cmd(subtract_asset_quantity=C.SubtractAssetQuantity(asset_id=asset, amount=amount))


def add_sig(acc: str, k: str) -> C.Command:
    return cmd(add_signatory=C.AddSignatory(account_id=acc, public_key=k))


def rm_sig(acc: str, k: str) -> C.Command:
    return cmd(remove_signatory=C.RemoveSignatory(account_id=acc, public_key=k))


def quorum(acc: str, q: int) -> C.Command:
    return cmd(set_account_quorum=C.SetAccountQuorum(account_id=acc, quorum=q))


def role(name: str, *perms: str) -> C.Command:
    c = C.CreateRole(role_name=name)
    for p in perms:
        c.permissions.append(pr.RolePermission.Value(p))  # type: ignore[arg-type]
    return cmd(create_role=c)


def append(acc: str, r: str) -> C.Command:
    return cmd(append_role=C.AppendRole(account_id=acc, role_name=r))


def detach(acc: str, r: str) -> C.Command:
    return cmd(detach_role=C.DetachRole(account_id=acc, role_name=r))


def grant(acc: str, p: str) -> C.Command:
    return cmd(
        grant_permission=C.GrantPermission(
            account_id=acc,
            permission=pr.GrantablePermission.Value(p),  # type: ignore[arg-type]
        )
    )


def revoke(acc: str, p: str) -> C.Command:
    return cmd(
        revoke_permission=C.RevokePermission(
            account_id=acc,
            permission=pr.GrantablePermission.Value(p),  # type: ignore[arg-type]
        )
    )


def detail(acc: str, k: str, v: str) -> C.Command:
    return cmd(set_account_detail=C.SetAccountDetail(account_id=acc, key=k, value=v))


def cas(acc: str, k: str, v: str, old: str | None = None, check_empty: bool = False) -> C.Command:
    c = C.CompareAndSetAccountDetail(account_id=acc, key=k, value=v, check_empty=check_empty)
    if old is not None:
        c.old_value = old
    return cmd(compare_and_set_account_detail=c)


def add_peer(addr: str, k: str, syncing: bool = False) -> C.Command:
    return cmd(add_peer=C.AddPeer(peer=pr.Peer(address=addr, peer_key=k, syncing_peer=syncing)))


def rm_peer(k: str) -> C.Command:
    return cmd(remove_peer=C.RemovePeer(public_key=k))


def setting(k: str, v: str) -> C.Command:
    return cmd(set_setting_value=C.SetSettingValue(key=k, value=v))


def domain(d: str, r: str) -> C.Command:
    return cmd(create_domain=C.CreateDomain(domain_id=d, default_role=r))


def account(name: str, d: str, k: str) -> C.Command:
    return cmd(create_account=C.CreateAccount(account_name=name, domain_id=d, public_key=k))


def asset(name: str, d: str, p: int) -> C.Command:
    return cmd(create_asset=C.CreateAsset(asset_name=name, domain_id=d, precision=p))


AL, BO, OP, RT, TA = "alice@aclb", "bob@wing", "ops@aclb", "admin@bakong", "admin@test"
GHOST = "ghost@aclb"

# (id, creator, commands, expected (name, index, code) or None)
CASES: list[tuple[str, str, list[C.Command], tuple[str, int, int] | None]] = [
    ("domain-ok", TA, [domain("newdom", "user")], None),
    ("domain-2", AL, [domain("newdom", "user")], ("CreateDomain", 0, 2)),
    ("domain-3", TA, [domain("aclb", "user")], ("CreateDomain", 0, 3)),
    ("domain-4", TA, [domain("newdom", "nope")], ("CreateDomain", 0, 4)),
    ("account-ok", OP, [account("carol", "aclb", K50)], None),
    ("account-2", AL, [account("carol", "aclb", K50)], ("CreateAccount", 0, 2)),
    ("account-2-default-role", OP, [account("carol", "audit", K50)], ("CreateAccount", 0, 2)),
    ("account-3", OP, [account("carol", "nodomain", K50)], ("CreateAccount", 0, 3)),
    ("account-4", OP, [account("alice", "aclb", K50)], ("CreateAccount", 0, 4)),
    ("asset-ok", OP, [asset("eur", "aclb", 2)], None),
    ("asset-2", AL, [asset("eur", "aclb", 2)], ("CreateAsset", 0, 2)),
    ("asset-3", OP, [asset("eur", "nodomain", 2)], ("CreateAsset", 0, 3)),
    ("asset-4", OP, [asset("usd", "bakong", 2)], ("CreateAsset", 0, 4)),
    ("add-ok", OP, [add_qty("usd#bakong", "10.5")], None),
    ("add-2", AL, [add_qty("usd#bakong", "1")], ("AddAssetQuantity", 0, 2)),
    ("add-3", OP, [add_qty("nope#bakong", "1")], ("AddAssetQuantity", 0, 3)),
    ("add-3-precision", OP, [add_qty("usd#bakong", "1.001")], ("AddAssetQuantity", 0, 3)),
    ("add-3-khr-fraction", OP, [add_qty("khr#bakong", "1.5")], ("AddAssetQuantity", 0, 3)),
    ("add-4", OP, [add_qty("khr#bakong", BIG)], ("AddAssetQuantity", 0, 4)),
    ("sub-ok", RT, [add_qty("usd#bakong", "10"), sub_qty("usd#bakong", "4.99")], None),
    ("sub-2", OP, [sub_qty("usd#bakong", "1")], ("SubtractAssetQuantity", 0, 2)),
    ("sub-3", RT, [sub_qty("nope#bakong", "1")], ("SubtractAssetQuantity", 0, 3)),
    ("sub-4", RT, [sub_qty("usd#bakong", "0.01")], ("SubtractAssetQuantity", 0, 4)),
    ("transfer-ok", AL, [transfer(AL, BO, "100.50")], None),
    ("transfer-4", AL, [transfer(AL, "nobody@wing", "1")], ("TransferAsset", 0, 4)),
    ("transfer-2-not-mine", AL, [transfer(BO, AL, "1")], ("TransferAsset", 0, 2)),
    ("transfer-2-receive", AL, [transfer(AL, "eve@audit", "1")], ("TransferAsset", 0, 2)),
    ("transfer-2-no-transfer", "eve@audit", [transfer("eve@audit", AL, "1")], None),
    ("transfer-3", RT, [transfer(GHOST, AL, "1")], ("TransferAsset", 0, 3)),
    ("transfer-5", AL, [transfer(AL, BO, "1", "nope#bakong")], ("TransferAsset", 0, 5)),
    ("transfer-5-precision", AL, [transfer(AL, BO, "1.001")], ("TransferAsset", 0, 5)),
    ("transfer-6", AL, [transfer(AL, BO, "100.51")], ("TransferAsset", 0, 6)),
    ("transfer-8", AL, [transfer(AL, BO, "1", desc="x" * 101)], ("TransferAsset", 0, 8)),
    ("transfer-desc-limit-ok", AL, [transfer(AL, BO, "1", desc="x" * 100)], None),
    ("addsig-ok", AL, [add_sig(AL, K50)], None),
    ("addsig-2", AL, [add_sig(BO, K50)], ("AddSignatory", 0, 2)),
    ("addsig-3", RT, [add_sig(GHOST, K50)], ("AddSignatory", 0, 3)),
    ("addsig-4", AL, [add_sig(AL, ALICE.public_key.upper())], ("AddSignatory", 0, 4)),
    ("rmsig-ok", AL, [add_sig(AL, K50), rm_sig(AL, K50)], None),
    ("rmsig-2", AL, [rm_sig(BO, BOB.public_key)], ("RemoveSignatory", 0, 2)),
    ("rmsig-3", RT, [rm_sig(GHOST, K50)], ("RemoveSignatory", 0, 3)),
    ("rmsig-4", AL, [rm_sig(AL, K51)], ("RemoveSignatory", 0, 4)),
    ("rmsig-5", AL, [rm_sig(AL, ALICE.public_key)], ("RemoveSignatory", 0, 5)),
    ("quorum-ok", AL, [add_sig(AL, K50), quorum(AL, 2)], None),
    ("quorum-2", AL, [quorum(BO, 1)], ("SetAccountQuorum", 0, 2)),
    ("quorum-3", RT, [quorum(GHOST, 1)], ("SetAccountQuorum", 0, 3)),
    ("quorum-5", AL, [quorum(AL, 2)], ("SetAccountQuorum", 0, 5)),
    ("role-ok", OP, [role("teller", "can_transfer", "can_receive")], None),
    ("role-2", AL, [role("teller", "can_transfer")], ("CreateRole", 0, 2)),
    ("role-2-not-held", OP, [role("teller", "can_add_peer")], ("CreateRole", 0, 2)),
    ("role-3", OP, [role("user", "can_transfer")], ("CreateRole", 0, 3)),
    ("append-ok", OP, [append(AL, "money_creator")], None),
    ("append-2", AL, [append(AL, "money_creator")], ("AppendRole", 0, 2)),
    ("append-2-not-held", OP, [append(AL, "admin")], ("AppendRole", 0, 2)),
    ("append-3", OP, [append(GHOST, "user")], ("AppendRole", 0, 3)),
    ("append-4", OP, [append(AL, "nope")], ("AppendRole", 0, 4)),
    ("append-1-duplicate", OP, [append(AL, "customer")], ("AppendRole", 0, 1)),
    ("detach-ok", OP, [detach(AL, "customer")], None),
    ("detach-2", AL, [detach(AL, "customer")], ("DetachRole", 0, 2)),
    ("detach-3", OP, [detach(GHOST, "customer")], ("DetachRole", 0, 3)),
    ("detach-4", OP, [detach(AL, "admin")], ("DetachRole", 0, 4)),
    ("detach-5", OP, [detach(AL, "nope")], ("DetachRole", 0, 5)),
    ("grant-ok", AL, [grant(BO, "can_transfer_my_assets")], None),
    ("grant-2", "eve@audit", [grant(BO, "can_transfer_my_assets")], ("GrantPermission", 0, 2)),
    ("grant-3", AL, [grant(GHOST, "can_transfer_my_assets")], ("GrantPermission", 0, 3)),
    (
        "revoke-ok",
        AL,
        [grant(BO, "can_set_my_quorum"), revoke(BO, "can_set_my_quorum")],
        None,
    ),
    ("revoke-2", AL, [revoke(BO, "can_set_my_quorum")], ("RevokePermission", 0, 2)),
    ("revoke-3", AL, [revoke(GHOST, "can_set_my_quorum")], ("RevokePermission", 0, 3)),
    ("detail-ok-self", AL, [detail(AL, "k", "v")], None),
    ("detail-ok-can-set-detail", OP, [detail(BO, "k", "v")], None),
    ("detail-2", AL, [detail(BO, "k", "v")], ("SetAccountDetail", 0, 2)),
    ("detail-3", OP, [detail(GHOST, "k", "v")], ("SetAccountDetail", 0, 3)),
    ("cas-ok-new", AL, [cas(AL, "k", "v")], None),
    ("cas-ok-match", AL, [detail(AL, "k", "1"), cas(AL, "k", "2", old="1")], None),
    (
        "cas-4-mismatch",
        AL,
        [detail(AL, "k", "1"), cas(AL, "k", "2", old="0")],
        ("CompareAndSetAccountDetail", 1, 4),
    ),
    (
        "cas-4-no-old",
        AL,
        [detail(AL, "k", "1"), cas(AL, "k", "2")],
        ("CompareAndSetAccountDetail", 1, 4),
    ),
    (
        "cas-4-check-empty",
        AL,
        [cas(AL, "k", "2", old="1", check_empty=True)],
        ("CompareAndSetAccountDetail", 0, 4),
    ),
    ("cas-ok-legacy-empty", AL, [cas(AL, "k", "2", old="1", check_empty=False)], None),
    ("cas-2", AL, [cas(BO, "k", "v")], ("CompareAndSetAccountDetail", 0, 2)),
    ("cas-2-no-read", OP, [cas(BO, "k", "v")], ("CompareAndSetAccountDetail", 0, 2)),
    ("cas-3", RT, [cas(GHOST, "k", "v")], ("CompareAndSetAccountDetail", 0, 3)),
    ("addpeer-ok", TA, [add_peer("10.0.0.9:10001", K50)], None),
    ("addpeer-ok-syncing", TA, [add_peer("10.0.0.9:10001", K50, syncing=True)], None),
    ("addpeer-2", AL, [add_peer("10.0.0.9:10001", K50)], ("AddPeer", 0, 2)),
    ("addpeer-1-dup", TA, [add_peer("10.0.0.9:10001", PEERS[0].public_key)], ("AddPeer", 0, 1)),
    ("rmpeer-ok", TA, [rm_peer(PEERS[0].public_key)], None),
    ("rmpeer-2", AL, [rm_peer(PEERS[0].public_key)], ("RemovePeer", 0, 2)),
    ("rmpeer-3", TA, [rm_peer(K50)], ("RemovePeer", 0, 3)),
    ("rmpeer-4", TA, [rm_peer(p.public_key) for p in PEERS], ("RemovePeer", 3, 4)),
    ("setting-ok-root", RT, [setting("MaxDescriptionSize", "10")], None),
    ("setting-2", TA, [setting("MaxDescriptionSize", "10")], ("SetSettingValue", 0, 2)),
    ("setting-1-bad-value", RT, [setting("MaxProposalSize", "abc")], ("SetSettingValue", 0, 1)),
    ("setting-1-zero", RT, [setting("MaxProposalSize", "0")], ("SetSettingValue", 0, 1)),
    ("setting-ok-fill-zero", RT, [setting("ProposalFillMs", "0")], None),
    ("setting-1-fill-negative", RT, [setting("ProposalFillMs", "-1")], ("SetSettingValue", 0, 1)),
    (
        "engine-1",
        RT,
        [cmd(call_engine=C.CallEngine(caller=RT, input="00"))],
        ("CallEngine", 0, 1),
    ),
    (
        "second-command-fails",
        AL,
        [detail(AL, "a", "b"), transfer(AL, BO, "999")],
        ("TransferAsset", 1, 6),
    ),
]
# eve@audit has no can_transfer: fix the expectation in the table above via an override.
CASES = [
    (c[0], c[1], c[2], ("TransferAsset", 0, 2)) if c[0] == "transfer-2-no-transfer" else c
    for c in CASES
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    store = LevelDBStore(str(tmp_path_factory.mktemp("cmds") / "db"))
    yield new_ledger(store)
    store.close()


@pytest.mark.parametrize(
    ("creator", "commands", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_command(
    shared: Ledger,
    creator: str,
    commands: list[C.Command],
    expected: tuple[str, int, int] | None,
) -> None:
    from tests.unit.state.support import EVE

    signer = SIGNERS.get(creator, EVE)
    tx = make_tx(creator, commands, [signer])
    before = shared.state_hash()
    result = shared.execute([tx], shared.height + 1, 0)
    assert shared.state_hash() == before  # execution never touches the committed state
    if expected is None:
        assert [t.hash for t in result.txs] == [tx.hash]
        assert result.rejected == []
        assert result.writes
    else:
        assert result.txs == []
        [(h, err)] = result.rejected
        assert h == tx.hash
        assert (err.cmd_name, err.cmd_index, err.code) == expected
        assert result.writes == {}


def test_all_commands_covered() -> None:
    names = {c[3][0] for c in CASES if c[3]}
    assert names >= {
        "CreateDomain", "CreateAccount", "CreateAsset", "AddAssetQuantity",
        "SubtractAssetQuantity", "TransferAsset", "AddSignatory", "RemoveSignatory",
        "SetAccountQuorum", "CreateRole", "AppendRole", "DetachRole", "GrantPermission",
        "RevokePermission", "SetAccountDetail", "CompareAndSetAccountDetail", "AddPeer",
        "RemovePeer", "SetSettingValue", "CallEngine",
    }  # fmt: skip


def test_signatures_validation(shared: Ledger) -> None:
    wrong_key = make_tx(AL, [detail(AL, "k", "v")], [BOB])
    ghost = make_tx(GHOST, [detail(GHOST, "k", "v")], [ALICE])
    unsigned = make_tx(AL, [detail(AL, "k2", "v")], [])
    r = shared.execute([wrong_key, ghost, unsigned], shared.height + 1, 0)
    errs = [(e.cmd_name, e.cmd_index, e.code) for _, e in r.rejected]
    assert errs == [
        ("signatures validation", 0, 1),
        ("signatures validation", 0, 1),
        ("signatures validation", 0, 2),
    ]
