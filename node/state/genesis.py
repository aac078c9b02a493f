"""Genesis blocks: Iroha's JSON form, our own spec form, and a Bakong-style generator.

**Iroha form** (``load_iroha_genesis``): a ``Block`` in protobuf's canonical JSON mapping,
as Iroha's ``example/genesis.block``: one unsigned transaction without creator or
created_time whose commands run without permission checks.

**Spec form** (``genesis_from_spec``): a JSON (or TOML, same structure) document::

    {"peers":    [{"address": "10.0.0.1:10001", "public_key": "<hex>", "syncing": false}],
     "settings": {"MaxProposalSize": "2000", ...},        # node.state.settings keys
     "roles":    [{"name": "admin", "permissions": ["can_add_peer", ...]}],
     "domains":  [{"id": "bakong", "default_role": "customer"}],
     "assets":   [{"id": "usd#bakong", "precision": 2}],
     "accounts": [{"id": "admin@bakong", "public_keys": ["<hex>"], "roles": ["admin"],
                   "quorum": 1, "details": {"kind": "central-bank"}}],
     "balances": [{"account": "aclb_ops@aclb", "asset": "usd#bakong", "amount": "1000.00"}]}

It becomes one creator-less transaction (peers, settings, roles, domains, assets,
accounts, their extra signatories, roles and quorum) followed by one transaction per
account that has balances or details, created by that account (AddAssetQuantity acts
on the creator's balance and details are written by the creator). Genesis transactions
carry no signatures: genesis runs without checks (iroha1.md §5.1).

**Bakong generator** (``bakong_spec``): domain ``bakong`` for the National Bank of
Cambodia with ``admin@bakong`` holding ``root``; one domain per member bank (``aclb``,
``abaa``, ``wing`` by default) with an operator account ``ops@<bank>`` holding
``bank_operator``; assets ``usd#bakong`` (precision 2, cents) and ``khr#bakong``
(precision 0: Bakong and KHQR use whole riel -- the KHQR SDK rejects fractional KHR);
Iroha's example roles ``admin``, ``user``, ``money_creator`` with the permissions of
Iroha's example genesis (so Iroha tutorials and SDK examples work unchanged) plus
``bank_operator`` and ``customer``; the validator peers; and the chain parameters as
settings. Iroha's example domain ``test`` with ``admin@test``/``test@test`` and asset
``coin#test`` can be added (``iroha_example_keys``) for SDK examples.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format

from node.config import ChainParameters
from node.model import GENESIS_PREV_HASH
from node.proto.iroha import block_pb2, commands_pb2, primitive_pb2, transaction_pb2
from node.state.settings import settings_from_params

ADMIN_PERMISSIONS = [
    "can_add_peer",
    "can_add_signatory",
    "can_create_account",
    "can_create_domain",
    "can_get_all_acc_ast",
    "can_get_all_acc_ast_txs",
    "can_get_all_acc_detail",
    "can_get_all_acc_txs",
    "can_get_all_accounts",
    "can_get_all_signatories",
    "can_get_all_txs",
    "can_get_blocks",
    "can_get_roles",
    "can_read_assets",
    "can_remove_signatory",
    "can_set_quorum",
]
USER_PERMISSIONS = [
    "can_add_signatory",
    "can_get_my_acc_ast",
    "can_get_my_acc_ast_txs",
    "can_get_my_acc_detail",
    "can_get_my_acc_txs",
    "can_get_my_account",
    "can_get_my_signatories",
    "can_get_my_txs",
    "can_grant_can_add_my_signatory",
    "can_grant_can_remove_my_signatory",
    "can_grant_can_set_my_account_detail",
    "can_grant_can_set_my_quorum",
    "can_grant_can_transfer_my_assets",
    "can_receive",
    "can_remove_signatory",
    "can_set_quorum",
    "can_transfer",
]
MONEY_CREATOR_PERMISSIONS = ["can_add_asset_qty", "can_create_asset", "can_receive", "can_transfer"]
CUSTOMER_PERMISSIONS = USER_PERMISSIONS
BANK_OPERATOR_PERMISSIONS = sorted(
    {
        *USER_PERMISSIONS,
        "can_create_account",
        "can_get_domain_accounts",
        "can_get_domain_acc_ast",
        "can_get_domain_acc_ast_txs",
        "can_get_domain_acc_detail",
        "can_get_domain_acc_txs",
        "can_get_domain_signatories",
        "can_set_detail",
        "can_read_assets",
        "can_get_roles",
        "can_get_peers",
        "can_get_blocks",
        "can_append_role",
        "can_detach_role",
        "can_create_role",
    }
)
IROHA_EXAMPLE_ROLES = {
    "admin": ADMIN_PERMISSIONS,
    "user": USER_PERMISSIONS,
    "money_creator": MONEY_CREATOR_PERMISSIONS,
}


def load_iroha_genesis(text: str) -> block_pb2.Block:
    """Parse Iroha's JSON genesis block (protobuf JSON mapping)."""
    block = block_pb2.Block()
    json_format.Parse(text, block)
    return block


def block_to_json(block: block_pb2.Block) -> str:
    return json_format.MessageToJson(block, indent=2)


def load_spec(text: str) -> dict[str, Any]:
    """A spec document in JSON (starts with ``{``) or TOML."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        spec: dict[str, Any] = json.loads(text)
    else:
        spec = tomllib.loads(text)
    return spec


def _tx(commands: Sequence[commands_pb2.Command], creator: str = "") -> transaction_pb2.Transaction:
    tx = transaction_pb2.Transaction()
    rp = tx.payload.reduced_payload
    rp.commands.extend(commands)
    rp.quorum = 1
    if creator:
        rp.creator_account_id = creator
    return tx


def genesis_from_spec(spec: Mapping[str, Any]) -> block_pb2.Block:
    cmds: list[commands_pb2.Command] = []

    def add(**kw: Any) -> None:
        cmds.append(commands_pb2.Command(**kw))

    for p in spec.get("peers", []):
        peer = primitive_pb2.Peer(
            address=p["address"], peer_key=p["public_key"], syncing_peer=p.get("syncing", False)
        )
        if p.get("tls_certificate"):
            peer.tls_certificate = p["tls_certificate"]
        add(add_peer=commands_pb2.AddPeer(peer=peer))
    for key, value in spec.get("settings", {}).items():
        add(set_setting_value=commands_pb2.SetSettingValue(key=key, value=str(value)))
    for r in spec.get("roles", []):
        role = commands_pb2.CreateRole(role_name=r["name"])
        for n in r["permissions"]:
            role.permissions.append(primitive_pb2.RolePermission.Value(n))  # type: ignore[arg-type]
        add(create_role=role)
    for d in spec.get("domains", []):
        add(
            create_domain=commands_pb2.CreateDomain(
                domain_id=d["id"], default_role=d["default_role"]
            )
        )
    for a in spec.get("assets", []):
        name, _, domain = a["id"].partition("#")
        add(
            create_asset=commands_pb2.CreateAsset(
                asset_name=name, domain_id=domain, precision=a["precision"]
            )
        )
    per_account: dict[str, list[commands_pb2.Command]] = {}
    for acc in spec.get("accounts", []):
        account_id = acc["id"]
        name, _, domain = account_id.partition("@")
        keys = acc["public_keys"]
        add(
            create_account=commands_pb2.CreateAccount(
                account_name=name, domain_id=domain, public_key=keys[0]
            )
        )
        for key in keys[1:]:
            add(add_signatory=commands_pb2.AddSignatory(account_id=account_id, public_key=key))
        default_role = next(
            (d["default_role"] for d in spec.get("domains", []) if d["id"] == domain), None
        )
        for role in acc.get("roles", []):
            if role != default_role:
                add(append_role=commands_pb2.AppendRole(account_id=account_id, role_name=role))
        if acc.get("quorum", 1) != 1:
            add(
                set_account_quorum=commands_pb2.SetAccountQuorum(
                    account_id=account_id, quorum=acc["quorum"]
                )
            )
        for key, value in acc.get("details", {}).items():
            per_account.setdefault(account_id, []).append(
                commands_pb2.Command(
                    set_account_detail=commands_pb2.SetAccountDetail(
                        account_id=account_id, key=key, value=str(value)
                    )
                )
            )
    for b in spec.get("balances", []):
        per_account.setdefault(b["account"], []).append(
            commands_pb2.Command(
                add_asset_quantity=commands_pb2.AddAssetQuantity(
                    asset_id=b["asset"], amount=str(b["amount"])
                )
            )
        )
    block = block_pb2.Block()
    payload = block.block_v1.payload
    payload.transactions.append(_tx(cmds))
    for account_id, account_cmds in per_account.items():
        payload.transactions.append(_tx(account_cmds, creator=account_id))
    payload.tx_number = len(payload.transactions)
    payload.height = 1
    payload.prev_block_hash = GENESIS_PREV_HASH.hex()
    return block


def bakong_spec(
    peers: Sequence[tuple[str, str]],
    admin_key: str,
    banks: Mapping[str, str] | None = None,
    params: ChainParameters | None = None,
    iroha_example_keys: tuple[str, str] | None = None,
    syncing_peers: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Spec of a Bakong-style network.

    ``peers``: (address, public key) of the validators; ``banks``: bank domain -> public
    key of its ``ops@<bank>`` operator (default: aclb, abaa, wing sharing ``admin_key``);
    ``iroha_example_keys``: keys for Iroha's ``admin@test`` and ``test@test``.
    """
    banks = dict(banks) if banks is not None else dict.fromkeys(("aclb", "abaa", "wing"), admin_key)
    roles = [{"name": n, "permissions": p} for n, p in IROHA_EXAMPLE_ROLES.items()]
    roles += [
        {"name": "root", "permissions": ["root"]},
        {"name": "bank_operator", "permissions": BANK_OPERATOR_PERMISSIONS},
        {"name": "customer", "permissions": CUSTOMER_PERMISSIONS},
    ]
    domains = [{"id": "bakong", "default_role": "customer"}]
    domains += [{"id": bank, "default_role": "customer"} for bank in banks]
    accounts: list[dict[str, Any]] = [
        {
            "id": "admin@bakong",
            "public_keys": [admin_key],
            "roles": ["root", "admin", "money_creator"],
            "details": {"institution": "National Bank of Cambodia"},
        }
    ]
    accounts += [
        {"id": f"ops@{bank}", "public_keys": [key], "roles": ["bank_operator", "money_creator"]}
        for bank, key in banks.items()
    ]
    assets = [{"id": "usd#bakong", "precision": 2}, {"id": "khr#bakong", "precision": 0}]
    if iroha_example_keys is not None:
        domains.append({"id": "test", "default_role": "user"})
        assets.append({"id": "coin#test", "precision": 2})
        accounts.append(
            {
                "id": "admin@test",
                "public_keys": [iroha_example_keys[0]],
                "roles": ["admin", "money_creator"],
            }
        )
        accounts.append({"id": "test@test", "public_keys": [iroha_example_keys[1]]})
    peer_list: list[dict[str, Any]] = [{"address": a, "public_key": k} for a, k in peers]
    peer_list += [{"address": a, "public_key": k, "syncing": True} for a, k in syncing_peers]
    return {
        "peers": peer_list,
        "settings": settings_from_params(params or ChainParameters()),
        "roles": roles,
        "domains": domains,
        "assets": assets,
        "accounts": accounts,
    }
