"""Generating and reading a devnet directory.

Layout of ``DIR``::

    network.json            who is who: chain id, validators (addresses, keys, dirs), admin, assets
    genesis.json            the genesis block, Iroha's JSON form (shared by all validators)
    admin.key               admin@bakong's key (root role)
    accounts/<name>.key     demo accounts' keys (bank customers, a merchant, a gateway)
    <validator>/node.toml   per-validator config; <validator>/node.key its key
    <validator>/data/       its LevelDB; node.log, node.pid beside

A directory is generated once and reused afterwards, so ``up`` after ``down`` resumes
the same chain.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.config import NodeConfig, render_node_config
from node.crypto import KeyPair, KeyScheme
from node.keys import load_key_file, write_key_file
from node.state.genesis import bakong_spec, block_to_json, genesis_from_spec

# National Bank of Cambodia first, then member banks (short codes as Bakong uses them).
VALIDATOR_NAMES = ["nbc", "aclb", "abaa", "wing", "cadi", "prin", "sbpl", "ftcc", "ppcb", "amkb"]
BANKS = ["aclb", "abaa", "wing"]
IROHA_EXAMPLE = {  # Iroha's example keys (example/admin@test.priv, test@test.priv)
    "admin@test": "f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70",
    "test@test": "7e00405ece477bb6dd9b03a78eee4e708afc2f5bcdce399573a5958942f4a390",
}
# Demo accounts: (account id, USD balance, KHR balance)
DEMO_ACCOUNTS = [
    ("sokha@aclb", "2500.00", "4000000"),
    ("dara@abaa", "800.00", "1500000"),
    ("chenda@wing", "120.00", "600000"),
    ("coffee_shop@aclb", "50.00", "200000"),
    ("alipay_gw@aclb", "100000.00", "400000000"),
]
CHAIN_ID_PREFIX = "bakong-devnet"


class DevnetError(Exception):
    """Bad usage or a directory that is not what it should be; the message says which."""


@dataclass(frozen=True)
class Ports:
    torii: int
    p2p: int
    metrics: int


def ports_for(base: int, index: int) -> Ports:
    return Ports(torii=base + index, p2p=base + 100 + index, metrics=base + 200 + index)


def validator_name(index: int) -> str:
    return VALIDATOR_NAMES[index] if index < len(VALIDATOR_NAMES) else f"bank{index}"


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def load_network(root: Path) -> dict[str, Any]:
    path = root / "network.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise DevnetError(
            f"{root} is not a devnet directory (no network.json); run "
            f"`bakong-devnet up --dir {root}` to create one"
        ) from None
    except ValueError as e:
        raise DevnetError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(doc, dict) or not str(doc.get("chain_id", "")).startswith(CHAIN_ID_PREFIX):
        raise DevnetError(f"{path} does not describe a bakong devnet")
    return doc


def save_network(root: Path, doc: dict[str, Any]) -> None:
    tmp = root / "network.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(root / "network.json")


def node_config(root: Path, name: str, chain_id: str, ports: Ports, peers: list[str]) -> NodeConfig:
    return NodeConfig(
        chain_id=chain_id,
        data_dir=str(root / name / "data"),
        key_file=str(root / name / "node.key"),
        genesis_file=str(root / "genesis.json"),
        torii_listen=f"127.0.0.1:{ports.torii}",
        p2p_listen=f"127.0.0.1:{ports.p2p}",
        p2p_advertise=f"127.0.0.1:{ports.p2p}",
        metrics_listen=f"127.0.0.1:{ports.metrics}",
        bootstrap=tuple(peers),
    )


def validator_entry(root: Path, name: str, kp: KeyPair, ports: Ports) -> dict[str, Any]:
    return {
        "name": name,
        "torii": f"127.0.0.1:{ports.torii}",
        "p2p": f"127.0.0.1:{ports.p2p}",
        "metrics": f"127.0.0.1:{ports.metrics}",
        "public_key": kp.public_key,
        "data_dir": str(root / name / "data"),
        "config": str(root / name / "node.toml"),
    }


def generate(root: Path, validators: int, base_port: int, scheme: KeyScheme) -> dict[str, Any]:
    """Create keys, genesis, configs and network.json in a new directory."""
    if validators < 1:
        raise DevnetError("--validators must be at least 1")
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise DevnetError(f"{root} exists and is not empty, but has no network.json")
    chain_id = f"{CHAIN_ID_PREFIX}-{KeyPair.generate().public_key[-8:]}"
    admin = KeyPair.generate(scheme)
    write_key_file(str(root / "admin.key"), admin)
    (root / "accounts").mkdir()
    account_keys = {}
    for account, _, _ in DEMO_ACCOUNTS:
        kp = KeyPair.generate(scheme)
        write_key_file(str(root / "accounts" / f"{account.split('@')[0]}.key"), kp)
        account_keys[account] = kp
    entries, keys = [], []
    for i in range(validators):
        name = validator_name(i)
        (root / name).mkdir()
        kp = KeyPair.generate(scheme)
        write_key_file(str(root / name / "node.key"), kp)
        keys.append(kp)
        entries.append(validator_entry(root, name, kp, ports_for(base_port, i)))
    example = {a: KeyPair.from_private_hex(k) for a, k in IROHA_EXAMPLE.items()}
    spec = bakong_spec(
        peers=[(e["p2p"], e["public_key"]) for e in entries],
        admin_key=admin.public_key,
        banks=dict.fromkeys(BANKS, admin.public_key),
        iroha_example_keys=(example["admin@test"].public_key, example["test@test"].public_key),
    )
    for account, usd, khr in DEMO_ACCOUNTS:
        spec["accounts"].append(
            {
                "id": account,
                "public_keys": [account_keys[account].public_key],
                "roles": ["customer"],
            }
        )
        spec.setdefault("balances", [])
        spec["balances"] += [
            {"account": account, "asset": "usd#bakong", "amount": usd},
            {"account": account, "asset": "khr#bakong", "amount": khr},
        ]
    (root / "genesis.json").write_text(block_to_json(genesis_from_spec(spec)))
    peers = [e["p2p"] for e in entries]
    for i, e in enumerate(entries):
        cfg = node_config(root, e["name"], chain_id, ports_for(base_port, i), peers)
        (root / e["name"] / "node.toml").write_text(render_node_config(cfg))
    doc = {
        "chain_id": chain_id,
        "base_port": base_port,
        "key_scheme": scheme.value,
        "validators": entries,
        "admin": {
            "account_id": "admin@bakong",
            "public_key": admin.public_key,
            "private_key": admin.private_key_hex,
            "key_scheme": scheme.value,
        },
        "accounts": [
            {
                "account_id": a,
                "public_key": account_keys[a].public_key,
                "key_file": str(root / "accounts" / f"{a.split('@')[0]}.key"),
            }
            for a, _, _ in DEMO_ACCOUNTS
        ],
        "assets": [
            {"asset_id": "usd#bakong", "precision": 2},
            {"asset_id": "khr#bakong", "precision": 0},
        ],
    }
    save_network(root, doc)
    return doc


def add_validator(root: Path, doc: dict[str, Any]) -> tuple[dict[str, Any], KeyPair]:
    """Prepare the directory and config of one more validator (it joins via AddPeer)."""
    i = len(doc["validators"])
    name = validator_name(i)
    scheme = KeyScheme(doc.get("key_scheme", "ed25519"))
    (root / name).mkdir(exist_ok=True)
    key_path = root / name / "node.key"
    kp = load_key_file(str(key_path)) if key_path.exists() else KeyPair.generate(scheme)
    if not key_path.exists():
        write_key_file(str(key_path), kp)
    ports = ports_for(int(doc["base_port"]), i)
    entry = validator_entry(root, name, kp, ports)
    peers = [v["p2p"] for v in doc["validators"]]
    cfg = node_config(root, name, doc["chain_id"], ports, peers)
    (root / name / "node.toml").write_text(render_node_config(cfg))
    return entry, kp
