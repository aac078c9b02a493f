"""Access control (issue #10 item 4; reliability plan row 19): every command and every query,
run by each default Bakong role and Iroha's example roles against a real Ledger on LevelDB.

The expected outcomes are the two tables below (data, not code), derived from the role
definitions in ``node/state/genesis.py`` and Iroha's rules (iroha1.md §5.2, §5.3, §6.1).
Actors and the roles they hold (every account also holds its domain's default role):

====== ================ =================================================================
NBC    admin@bakong     root, admin, money_creator (+ customer)
OPS    ops@aclb         bank_operator, money_creator (+ customer)
CUST   alice@aclb       customer (= Iroha's user permissions)
TADM   admin@test       admin, money_creator (+ user: Iroha's example admin)
TUSR   test@test        user
====== ================ =================================================================

Targets: ``self`` = the actor's own account, ``same`` = another account of its domain,
``other`` = an account of another domain (see ``TARGETS``). Every command is built so that
it succeeds when permitted; anything else is a permission failure, reported as Iroha does:
commands ``TxError(<command name>, <index>, 2)`` (STATEFUL_VALIDATION_FAILED), queries
``ErrorResponse{STATEFUL_INVALID, error_code 2}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from node.crypto import KeyPair
from node.model import Tx
from node.proto.iroha import commands_pb2 as C
from node.proto.iroha import primitive_pb2, queries_pb2
from node.proto.iroha import qry_responses_pb2 as R
from node.state import Ledger, TxError
from node.state.genesis import bakong_spec, genesis_from_spec
from node.storage import LevelDBStore
from tests.api.torii.support import (
    ADMIN,
    ALICE,
    BOB,
    OPS,
    TADMIN,
    TUSER,
    VALIDATOR,
    cmd,
    key,
    query,
    tx,
)

CAROL = key(7)  # carol@aclb, customer
CLERK = key(8)  # clerk@bakong, customer
SPARE = key(9)  # every account's second signatory (so RemoveSignatory/SetQuorum 2 can succeed)
NEWKEY = key(10)
PEER2 = key(11)  # second validator (so RemovePeer can succeed)
NEWPEER = key(12)

ACTORS: dict[str, tuple[str, KeyPair]] = {
    "NBC": ("admin@bakong", ADMIN),
    "OPS": ("ops@aclb", OPS),
    "CUST": ("alice@aclb", ALICE),
    "TADM": ("admin@test", TADMIN),
    "TUSR": ("test@test", TUSER),
}
COLUMNS = list(ACTORS)
KEYS: dict[str, KeyPair] = {
    "admin@bakong": ADMIN,
    "clerk@bakong": CLERK,
    "ops@aclb": OPS,
    "ops@wing": OPS,
    "alice@aclb": ALICE,
    "carol@aclb": CAROL,
    "bob@wing": BOB,
    "admin@test": TADMIN,
    "test@test": TUSER,
}
TARGETS: dict[str, dict[str, str]] = {
    "NBC": {"self": "admin@bakong", "same": "clerk@bakong", "other": "alice@aclb"},
    "OPS": {"self": "ops@aclb", "same": "alice@aclb", "other": "bob@wing"},
    "CUST": {"self": "alice@aclb", "same": "carol@aclb", "other": "bob@wing"},
    "TADM": {"self": "admin@test", "same": "test@test", "other": "alice@aclb"},
    "TUSR": {"self": "test@test", "same": "admin@test", "other": "alice@aclb"},
}

OK, NO = 0, 2  # committed / "no permission"
ENGINE = 1  # CallEngine: "engine not configured" (no EVM), checked before permissions as Iroha
INVISIBLE = 4  # GetTransactions: a hash the creator may not see (Iroha: code 4, not 2)

# fmt: off
# command variant                 target    NBC  OPS  CUST TADM TUSR
COMMANDS: list[tuple[str, str, int, int, int, int, int]] = [
    ("AddAssetQuantity",          "-",      OK,  OK,  NO,  OK,  NO),  # money_creator
    ("SubtractAssetQuantity",     "-",      OK,  NO,  NO,  NO,  NO),  # no default role has it
    ("AddPeer",                   "-",      OK,  NO,  NO,  OK,  NO),  # admin: can_add_peer
    ("RemovePeer",                "-",      OK,  NO,  NO,  OK,  NO),  # can_add_peer suffices
    ("AddSignatory",              "self",   OK,  OK,  OK,  OK,  OK),
    ("AddSignatory",              "same",   OK,  NO,  NO,  NO,  NO),  # others: grant only
    ("AddSignatory",              "other",  OK,  NO,  NO,  NO,  NO),
    ("RemoveSignatory",           "self",   OK,  OK,  OK,  OK,  OK),
    ("RemoveSignatory",           "same",   OK,  NO,  NO,  NO,  NO),
    ("RemoveSignatory",           "other",  OK,  NO,  NO,  NO,  NO),
    ("SetAccountQuorum",          "self",   OK,  OK,  OK,  OK,  OK),
    ("SetAccountQuorum",          "same",   OK,  NO,  NO,  NO,  NO),
    ("SetAccountQuorum",          "other",  OK,  NO,  NO,  NO,  NO),
    ("SetAccountDetail",          "self",   OK,  OK,  OK,  OK,  OK),  # own: no permission
    ("SetAccountDetail",          "same",   OK,  OK,  NO,  NO,  NO),  # can_set_detail (any
    ("SetAccountDetail",          "other",  OK,  OK,  NO,  NO,  NO),  # domain, as Iroha)
    ("CompareAndSetAccountDetail", "self",  OK,  OK,  OK,  OK,  OK),  # + can_get_my_acc_detail
    ("CompareAndSetAccountDetail", "same",  OK,  OK,  NO,  NO,  NO),  # + domain read
    ("CompareAndSetAccountDetail", "other", OK,  NO,  NO,  NO,  NO),  # OPS cannot read it
    ("TransferAsset",             "self",   OK,  OK,  OK,  OK,  OK),  # can_transfer
    ("TransferAsset",             "same",   OK,  NO,  NO,  NO,  NO),  # src != creator: grant
    ("TransferAsset",             "other",  OK,  NO,  NO,  NO,  NO),
    ("AppendRole:teller",         "self",   OK,  OK,  NO,  NO,  NO),  # can_append_role
    ("AppendRole:teller",         "same",   OK,  OK,  NO,  NO,  NO),
    ("AppendRole:teller",         "other",  OK,  OK,  NO,  NO,  NO),
    ("AppendRole:admin",          "other",  OK,  NO,  NO,  NO,  NO),  # must hold role's perms
    ("DetachRole",                "self",   OK,  OK,  NO,  NO,  NO),  # can_detach_role
    ("DetachRole",                "same",   OK,  OK,  NO,  NO,  NO),
    ("DetachRole",                "other",  OK,  OK,  NO,  NO,  NO),
    ("CreateAccount",             "self",   OK,  OK,  NO,  OK,  NO),  # in the actor's domain;
    ("CreateAccount",             "other",  OK,  OK,  NO,  OK,  NO),  # needs default role's perms
    ("CreateAsset",               "self",   OK,  OK,  NO,  OK,  NO),  # money_creator
    ("CreateAsset",               "other",  OK,  OK,  NO,  OK,  NO),
    ("CreateDomain",              "-",      OK,  NO,  NO,  OK,  NO),
    ("CreateRole:subset",         "-",      OK,  OK,  NO,  NO,  NO),  # bank_operator
    ("CreateRole:can_add_peer",   "-",      OK,  NO,  NO,  NO,  NO),  # perm the creator lacks
    ("GrantPermission:can_add_my_signatory",         "same", OK, OK, OK, OK, OK),
    ("GrantPermission:can_remove_my_signatory",      "same", OK, OK, OK, OK, OK),
    ("GrantPermission:can_set_my_quorum",            "same", OK, OK, OK, OK, OK),
    ("GrantPermission:can_set_my_account_detail",    "same", OK, OK, OK, OK, OK),
    ("GrantPermission:can_transfer_my_assets",       "same", OK, OK, OK, OK, OK),
    ("GrantPermission:can_call_engine_on_my_behalf", "same", OK, NO, NO, NO, NO),
    ("RevokePermission:not_granted", "same", NO,  NO,  NO,  NO,  NO),  # even root (Iroha SQL)
    ("SetSettingValue",           "-",      OK,  NO,  NO,  NO,  NO),  # root only (our choice)
    ("CallEngine",                "-",  ENGINE, ENGINE, ENGINE, ENGINE, ENGINE),
]

# query                          target    NBC  OPS  CUST TADM TUSR
QUERIES: list[tuple[str, str, int, int, int, int, int]] = [
    ("GetAccount",                "self",   OK,  OK,  OK,  OK,  OK),
    ("GetAccount",                "same",   OK,  OK,  NO,  OK,  NO),
    ("GetAccount",                "other",  OK,  NO,  NO,  OK,  NO),
    ("GetSignatories",            "self",   OK,  OK,  OK,  OK,  OK),
    ("GetSignatories",            "same",   OK,  OK,  NO,  OK,  NO),
    ("GetSignatories",            "other",  OK,  NO,  NO,  OK,  NO),
    ("GetAccountAssets",          "self",   OK,  OK,  OK,  OK,  OK),
    ("GetAccountAssets",          "same",   OK,  OK,  NO,  OK,  NO),
    ("GetAccountAssets",          "other",  OK,  NO,  NO,  OK,  NO),
    ("GetAccountDetail",          "self",   OK,  OK,  OK,  OK,  OK),
    ("GetAccountDetail",          "same",   OK,  OK,  NO,  OK,  NO),
    ("GetAccountDetail",          "other",  OK,  NO,  NO,  OK,  NO),
    ("GetAccountTransactions",    "self",   OK,  OK,  OK,  OK,  OK),
    ("GetAccountTransactions",    "same",   OK,  OK,  NO,  OK,  NO),
    ("GetAccountTransactions",    "other",  OK,  NO,  NO,  OK,  NO),
    ("GetAccountAssetTransactions", "self", OK,  OK,  OK,  OK,  OK),
    ("GetAccountAssetTransactions", "same", OK,  OK,  NO,  OK,  NO),
    ("GetAccountAssetTransactions", "other", OK, NO,  NO,  OK,  NO),
    ("GetEngineReceipts",         "self",   OK,  NO,  NO,  NO,  NO),  # no default role has
    ("GetEngineReceipts",         "same",   OK,  NO,  NO,  NO,  NO),  # can_get_*_engine_receipts
    ("GetEngineReceipts",         "other",  OK,  NO,  NO,  NO,  NO),
    ("GetTransactions",           "self",   OK,  OK,  OK,  OK,  OK),  # can_get_my_txs
    ("GetTransactions",           "other",  OK, INVISIBLE, INVISIBLE, OK, INVISIBLE),
    ("GetBlock",                  "-",      OK,  OK,  NO,  OK,  NO),  # can_get_blocks
    ("GetAssetInfo",              "-",      OK,  OK,  NO,  OK,  NO),  # can_read_assets
    ("GetRoles",                  "-",      OK,  OK,  NO,  OK,  NO),  # can_get_roles
    ("GetRolePermissions",        "-",      OK,  OK,  NO,  OK,  NO),
    ("GetPeers",                  "-",      OK,  OK,  NO,  OK,  NO),  # can_get_peers/_blocks
    ("GetPendingTransactions",    "-",      OK,  OK,  OK,  OK,  OK),  # own pending: no perm
]
# fmt: on

GRANTABLES = [
    "can_add_my_signatory",
    "can_remove_my_signatory",
    "can_set_my_quorum",
    "can_set_my_account_detail",
    "can_transfer_my_assets",
]


def spec() -> dict[str, Any]:
    s = bakong_spec(
        peers=[("127.0.0.1:10001", VALIDATOR.public_key), ("127.0.0.1:10002", PEER2.public_key)],
        admin_key=ADMIN.public_key,
        banks={"aclb": OPS.public_key, "wing": OPS.public_key},
        iroha_example_keys=(TADMIN.public_key, TUSER.public_key),
    )
    s["accounts"] += [
        {"id": "alice@aclb", "public_keys": [ALICE.public_key]},
        {"id": "carol@aclb", "public_keys": [CAROL.public_key]},
        {"id": "clerk@bakong", "public_keys": [CLERK.public_key]},
        {"id": "bob@wing", "public_keys": [BOB.public_key]},
    ]
    for acc in s["accounts"]:
        acc["public_keys"].append(SPARE.public_key)
    s["roles"].append({"name": "teller", "permissions": ["can_receive"]})
    s["balances"] = [
        {"account": a["id"], "asset": "usd#bakong", "amount": "10.00"} for a in s["accounts"]
    ]
    return s


class World:
    """The ledger plus one committed transaction per account (for the history queries)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.own_tx: dict[str, Tx] = {}
        txs = []
        for account, kp in KEYS.items():
            t = tx(account, [detail(account, "note", "x")], [kp])
            self.own_tx[account] = t
            txs.append(t)
        result = ledger.execute(txs, ledger.height + 1, 1)
        assert not result.rejected and len(result.txs) == len(txs)
        ledger.commit(result, [], b"cert")

    def outcome(self, txs: Sequence[Tx]) -> TxError | None:
        """Execute (never commit) ``txs``; all but the last must pass. The last's error."""
        result = self.ledger.execute(txs, self.ledger.height + 1, 1)
        errors = dict(result.rejected)
        for t in txs[:-1]:
            assert t.hash not in errors, f"setup tx failed: {errors[t.hash]}"
        assert not result.dropped
        return errors.get(txs[-1].hash)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path: Path = tmp_path_factory.mktemp("matrix") / "db"
    store = LevelDBStore(str(path))
    try:
        yield World(Ledger.create(store, genesis_from_spec(spec())))
    finally:
        store.close()


# --- command builders ----------------------------------------------------------------------


def detail(account: str, k: str, v: str) -> C.Command:
    return cmd(set_account_detail=C.SetAccountDetail(account_id=account, key=k, value=v))


def default_role(account: str) -> str:
    return "user" if account.endswith("@test") else "customer"


def dest_for(src: str) -> str:
    return "carol@aclb" if src == "bob@wing" else "bob@wing"


def other_domain(creator: str) -> str:
    return "wing" if creator.endswith("@aclb") else "aclb"


def build_command(variant: str, creator: str, target: str) -> C.Command:
    name, _, arg = variant.partition(":")
    own_domain = creator.partition("@")[2]
    domain = own_domain if target in ("self", "-") else other_domain(creator)
    if name == "AddAssetQuantity":
        return cmd(add_asset_quantity=C.AddAssetQuantity(asset_id="usd#bakong", amount="1.00"))
    if name == "SubtractAssetQuantity":
        return cmd(
            subtract_asset_quantity=C.SubtractAssetQuantity(asset_id="usd#bakong", amount="0.01")
        )
    if name == "AddPeer":
        peer = primitive_pb2.Peer(address="10.0.0.9:10001", peer_key=NEWPEER.public_key)
        return cmd(add_peer=C.AddPeer(peer=peer))
    if name == "RemovePeer":
        return cmd(remove_peer=C.RemovePeer(public_key=PEER2.public_key))
    if name == "AddSignatory":
        return cmd(add_signatory=C.AddSignatory(account_id=target, public_key=NEWKEY.public_key))
    if name == "RemoveSignatory":
        return cmd(
            remove_signatory=C.RemoveSignatory(account_id=target, public_key=SPARE.public_key)
        )
    if name == "SetAccountQuorum":
        return cmd(set_account_quorum=C.SetAccountQuorum(account_id=target, quorum=2))
    if name == "SetAccountDetail":
        return detail(target, "kyc", "ok")
    if name == "CompareAndSetAccountDetail":
        return cmd(
            compare_and_set_account_detail=C.CompareAndSetAccountDetail(
                account_id=target, key="kyc", value="ok"
            )
        )
    if name == "TransferAsset":
        return cmd(
            transfer_asset=C.TransferAsset(
                src_account_id=target,
                dest_account_id=dest_for(target),
                asset_id="usd#bakong",
                amount="0.01",
            )
        )
    if name == "AppendRole":
        return cmd(append_role=C.AppendRole(account_id=target, role_name=arg))
    if name == "DetachRole":
        return cmd(detach_role=C.DetachRole(account_id=target, role_name=default_role(target)))
    if name == "CreateAccount":
        return cmd(
            create_account=C.CreateAccount(
                account_name="newacct", domain_id=domain, public_key=NEWKEY.public_key
            )
        )
    if name == "CreateAsset":
        return cmd(create_asset=C.CreateAsset(asset_name="newtok", domain_id=domain, precision=2))
    if name == "CreateDomain":
        return cmd(create_domain=C.CreateDomain(domain_id="newdom", default_role="customer"))
    if name == "CreateRole":
        perm = "can_receive" if arg == "subset" else arg
        role = C.CreateRole(role_name="newrole")
        role.permissions.append(primitive_pb2.RolePermission.Value(perm))  # type: ignore[arg-type]
        return cmd(create_role=role)
    if name == "GrantPermission":
        return cmd(grant_permission=C.GrantPermission(account_id=target, permission=arg))
    if name == "RevokePermission":
        revoke = C.RevokePermission(account_id=target, permission="can_transfer_my_assets")
        return cmd(revoke_permission=revoke)
    if name == "SetSettingValue":
        return cmd(set_setting_value=C.SetSettingValue(key="MaxDescriptionSize", value="200"))
    if name == "CallEngine":
        return cmd(call_engine=C.CallEngine(caller=creator, input="00"))
    raise AssertionError(f"no builder for {variant}")


def _cases(
    table: list[tuple[str, str, int, int, int, int, int]],
) -> list[Any]:
    return [
        pytest.param(variant, target, actor, row[2 + i], id=f"{variant}-{target}-{actor}")
        for row in table
        for variant, target in [row[:2]]
        for i, actor in enumerate(COLUMNS)
    ]


def test_table_covers_every_command_and_query() -> None:
    commands = {v.partition(":")[0] for v, *_ in COMMANDS}
    iroha_names = {
        "".join(p.capitalize() for p in f.name.split("_"))
        for f in C.Command.DESCRIPTOR.oneofs_by_name["command"].fields
    }
    assert commands == iroha_names  # all 19 + CallEngine
    queries = {q for q, *_ in QUERIES}
    names = {
        "".join(p.capitalize() for p in f.name.split("_"))
        for f in queries_pb2.Query.Payload.DESCRIPTOR.oneofs_by_name["query"].fields
    }
    assert queries == names
    assert {g for g in GRANTABLES} | {"can_call_engine_on_my_behalf"} == set(
        primitive_pb2.GrantablePermission.keys()
    )


@pytest.mark.parametrize(("variant", "target", "actor", "expected"), _cases(COMMANDS))
def test_command(world: World, variant: str, target: str, actor: str, expected: int) -> None:
    creator, kp = ACTORS[actor]
    account = TARGETS[actor].get(target, creator)
    c = build_command(variant, creator, account)
    err = world.outcome([tx(creator, [c], [kp])])
    name = variant.partition(":")[0]
    if expected == OK:
        assert err is None, f"{actor} {variant} on {account}: {err}"
    else:
        assert err == TxError(name, 0, expected), f"{actor} {variant} on {account}"


# --- grantable permissions granted by another account ------------------------------------

GRANTED_USE: dict[str, str] = {
    "can_add_my_signatory": "AddSignatory",
    "can_remove_my_signatory": "RemoveSignatory",
    "can_set_my_quorum": "SetAccountQuorum",
    "can_set_my_account_detail": "SetAccountDetail",
    "can_transfer_my_assets": "TransferAsset",
}


def grant(owner: str, grantee: str, permission: str) -> Tx:
    c = cmd(grant_permission=C.GrantPermission(account_id=grantee, permission=permission))
    return tx(owner, [c], [KEYS[owner]])


def revoke(owner: str, grantee: str, permission: str) -> Tx:
    c = cmd(revoke_permission=C.RevokePermission(account_id=grantee, permission=permission))
    return tx(owner, [c], [KEYS[owner]])


# (owner who grants, grantee who uses it): customers across and within a domain, and Iroha's
# test user granting its domain's admin (who holds no role permission over test@test).
GRANT_PAIRS = [
    ("bob@wing", "alice@aclb"),
    ("test@test", "admin@test"),
    ("alice@aclb", "carol@aclb"),
]


@pytest.mark.parametrize("permission", GRANTABLES)
@pytest.mark.parametrize(("owner", "grantee"), GRANT_PAIRS)
def test_granted_permission_allows_exactly_its_command(
    world: World, permission: str, owner: str, grantee: str
) -> None:
    name = GRANTED_USE[permission]
    use = build_command(name, grantee, owner)
    kp = KEYS[grantee]
    # without the grant: no permission
    assert world.outcome([tx(grantee, [use], [kp])]) == TxError(name, 0, NO)
    # granted by the owner: allowed
    assert world.outcome([grant(owner, grantee, permission), tx(grantee, [use], [kp])]) is None
    # granted to someone else: still not allowed
    t = tx(grantee, [use], [kp])
    assert world.outcome([grant(owner, "clerk@bakong", permission), t]) == TxError(name, 0, NO)
    # grants are directional: the grantee cannot use it on the owner's behalf in reverse
    back = build_command(name, owner, grantee)
    t = tx(owner, [back], [KEYS[owner]])
    assert world.outcome([grant(owner, grantee, permission), t]) == TxError(name, 0, NO)
    # another grantable permission from the same owner does not stand in for this one
    for other in GRANTABLES:
        if other != permission:
            t = tx(grantee, [use], [kp])
            assert world.outcome([grant(owner, grantee, other), t]) == TxError(name, 0, NO)
    # revoked again: not allowed; only the granter can revoke
    t = tx(grantee, [use], [kp])
    steps = [grant(owner, grantee, permission), revoke(owner, grantee, permission), t]
    assert world.outcome(steps) == TxError(name, 0, NO)
    r = revoke("clerk@bakong", grantee, permission)
    assert world.outcome([grant(owner, grantee, permission), r]) == TxError(
        "RevokePermission", 0, NO
    )


def test_transfer_on_behalf_still_needs_receiver_permission(world: World) -> None:
    # can_transfer_my_assets lets alice move bob's money, but only to accounts that may
    # receive: a role without can_receive on the destination refuses with code 2.
    detach = cmd(detach_role=C.DetachRole(account_id="carol@aclb", role_name="customer"))
    steps = [
        tx("admin@bakong", [detach], [ADMIN]),
        grant("bob@wing", "alice@aclb", "can_transfer_my_assets"),
    ]
    c = build_command("TransferAsset", "alice@aclb", "bob@wing")
    c.transfer_asset.dest_account_id = "carol@aclb"
    assert world.outcome([*steps, tx("alice@aclb", [c], [ALICE])]) == TxError(
        "TransferAsset", 0, NO
    )


def test_domain_asset_quantity_permissions(world: World) -> None:
    # No default role holds can_add/subtract_domain_asset_qty: a role that does may mint
    # and burn assets of its own domain only.
    role = C.CreateRole(role_name="domain_minter")
    for p in ("can_add_domain_asset_qty", "can_subtract_domain_asset_qty"):
        role.permissions.append(primitive_pb2.RolePermission.Value(p))  # type: ignore[arg-type]
    setup = [
        tx(
            "admin@bakong",
            [
                cmd(create_role=role),
                cmd(append_role=C.AppendRole(account_id="clerk@bakong", role_name="domain_minter")),
                cmd(append_role=C.AppendRole(account_id="bob@wing", role_name="domain_minter")),
            ],
            [ADMIN],
        )
    ]
    add = cmd(add_asset_quantity=C.AddAssetQuantity(asset_id="usd#bakong", amount="1"))
    sub = cmd(subtract_asset_quantity=C.SubtractAssetQuantity(asset_id="usd#bakong", amount="1"))
    assert world.outcome([*setup, tx("clerk@bakong", [add, sub], [CLERK])]) is None
    assert world.outcome([*setup, tx("bob@wing", [add], [BOB])]) == TxError(
        "AddAssetQuantity", 0, NO
    )
    assert world.outcome([*setup, tx("bob@wing", [sub], [BOB])]) == TxError(
        "SubtractAssetQuantity", 0, NO
    )


def test_append_role_cannot_escalate(world: World) -> None:
    # An operator may hand out roles, but never one with a permission it lacks itself:
    # neither root, nor a role it created with an extra permission (CreateRole refuses).
    root = cmd(append_role=C.AppendRole(account_id="ops@aclb", role_name="root"))
    assert world.outcome([tx("ops@aclb", [root], [OPS])]) == TxError("AppendRole", 0, NO)
    role = C.CreateRole(role_name="sneaky")
    role.permissions.append(primitive_pb2.RolePermission.Value("root"))  # type: ignore[arg-type]
    assert world.outcome([tx("ops@aclb", [cmd(create_role=role)], [OPS])]) == TxError(
        "CreateRole", 0, NO
    )


def test_commands_signed_by_a_non_signatory_fail_signature_validation(world: World) -> None:
    # A valid signature by a key that is not the creator's signatory never executes.
    c = build_command("TransferAsset", "bob@wing", "bob@wing")
    assert world.outcome([tx("bob@wing", [c], [ALICE])]) == TxError("signatures validation", 0, 1)


# --- queries ---------------------------------------------------------------------------------


def build_query(world: World, name: str, creator: str, target: str) -> dict[str, Any]:
    if name == "GetAccount":
        return {"get_account": queries_pb2.GetAccount(account_id=target)}
    if name == "GetSignatories":
        return {"get_signatories": queries_pb2.GetSignatories(account_id=target)}
    if name == "GetAccountAssets":
        return {"get_account_assets": queries_pb2.GetAccountAssets(account_id=target)}
    if name == "GetAccountDetail":
        return {"get_account_detail": queries_pb2.GetAccountDetail(account_id=target)}
    page = queries_pb2.TxPaginationMeta(page_size=10)
    if name == "GetAccountTransactions":
        q = queries_pb2.GetAccountTransactions(account_id=target, pagination_meta=page)
        return {"get_account_transactions": q}
    if name == "GetAccountAssetTransactions":
        aq = queries_pb2.GetAccountAssetTransactions(
            account_id=target, asset_id="usd#bakong", pagination_meta=page
        )
        return {"get_account_asset_transactions": aq}
    if name == "GetEngineReceipts":
        h = world.own_tx[target].hash_hex
        return {"get_engine_receipts": queries_pb2.GetEngineReceipts(tx_hash=h)}
    if name == "GetTransactions":
        h = world.own_tx[target].hash_hex
        return {"get_transactions": queries_pb2.GetTransactions(tx_hashes=[h])}
    if name == "GetBlock":
        return {"get_block": queries_pb2.GetBlock(height=1)}
    if name == "GetAssetInfo":
        return {"get_asset_info": queries_pb2.GetAssetInfo(asset_id="usd#bakong")}
    if name == "GetRoles":
        return {"get_roles": queries_pb2.GetRoles()}
    if name == "GetRolePermissions":
        return {"get_role_permissions": queries_pb2.GetRolePermissions(role_id="customer")}
    if name == "GetPeers":
        return {"get_peers": queries_pb2.GetPeers()}
    if name == "GetPendingTransactions":
        return {"get_pending_transactions": queries_pb2.GetPendingTransactions()}
    raise AssertionError(f"no builder for {name}")


@pytest.mark.parametrize(("name", "target", "actor", "expected"), _cases(QUERIES))
def test_query(world: World, name: str, target: str, actor: str, expected: int) -> None:
    creator, kp = ACTORS[actor]
    account = TARGETS[actor].get(target, creator)
    resp = world.ledger.query(query(creator, kp, **build_query(world, name, creator, account)))
    which = resp.WhichOneof("response")
    if expected == OK:
        assert which != "error_response", f"{actor} {name} on {account}: {resp.error_response}"
    else:
        assert which == "error_response", f"{actor} {name} on {account}: got {which}"
        err = resp.error_response
        assert (err.reason, err.error_code) == (R.ErrorResponse.STATEFUL_INVALID, expected)


def test_query_signed_by_a_non_signatory_is_code_3(world: World) -> None:
    resp = world.ledger.query(
        query("alice@aclb", BOB, get_account=queries_pb2.GetAccount(account_id="alice@aclb"))
    )
    err = resp.error_response
    assert (err.reason, err.error_code) == (R.ErrorResponse.STATEFUL_INVALID, 3)


def test_upper_case_query_key_is_the_same_signatory(world: World) -> None:
    q = query("bob@wing", BOB, get_account=queries_pb2.GetAccount(account_id="bob@wing"))
    q.signature.public_key = q.signature.public_key.upper()
    assert world.ledger.query(q).WhichOneof("response") == "account_response"
