"""Administrative transactions on a devnet, signed by admin@bakong (root)."""

from __future__ import annotations

import time
from typing import Any

import trio

from devnet.network import DevnetError
from node.client import builders
from node.client.torii import ToriiClient
from node.crypto import KeyPair, KeyScheme
from node.proto.iroha import endpoint_pb2


def admin_key(doc: dict[str, Any]) -> KeyPair:
    a = doc["admin"]
    return KeyPair.from_seed(bytes.fromhex(a["private_key"]), KeyScheme(a["key_scheme"]))


def now_ms() -> int:
    return int(time.time() * 1000)


async def _submit_admin(torii: str, kp: KeyPair, commands: list[Any], timeout: float) -> None:
    tx = builders.sign_tx(builders.build_tx("admin@bakong", commands, now_ms()), kp)
    async with ToriiClient.connect(torii) as client:
        await client.send_tx(tx)
        final = await client.wait_final(tx.hash, timeout)
    if final.tx_status != endpoint_pb2.COMMITTED:
        name = endpoint_pb2.TxStatus.Name(final.tx_status)
        raise DevnetError(
            f"admin transaction {tx.hash_hex} ended {name}: {final.err_or_cmd_name} "
            f"(code {final.error_code})"
        )


def admin_command(doc: dict[str, Any], command: Any, what: str) -> None:
    """Run one admin command through the first reachable validator; returns once COMMITTED."""
    kp = admin_key(doc)
    errors = []
    for v in doc["validators"]:
        try:
            trio.run(_submit_admin, v["torii"], kp, [command], 30.0)
            return
        except ConnectionError as e:
            errors.append(f"{v['name']}: {e}")
    raise DevnetError(f"no validator reachable for {what}: " + "; ".join(errors))


def add_peer_on_chain(
    doc: dict[str, Any], address: str, public_key: str, syncing: bool = False
) -> None:
    cmd = builders.add_peer(address, public_key, syncing_peer=syncing)
    admin_command(doc, cmd, "AddPeer")


def remove_peer_on_chain(doc: dict[str, Any], public_key: str) -> None:
    admin_command(doc, builders.remove_peer(public_key), "RemovePeer")
