"""The official Iroha Python SDK (iroha==1.6.0.2) against Torii over the real ledger.

One SDK process runs a whole scenario (domains, accounts with both key schemes, assets,
transfers, a stateful failure, ATOMIC and ORDERED batches, a quorum-2 account through
MST, every query, the block stream) and prints what it saw; the test checks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from tests.api.torii.support import ADMIN, BOB, run, running
from tests.support.iroha_sdk import run_sdk

SCRIPT = r"""
import binascii, json, sys, threading, time
import nacl.signing
from iroha import Iroha, IrohaCrypto, IrohaGrpc
from iroha.primitive_pb2 import can_get_blocks

addr, admin_seed, bob_seed = sys.argv[1:4]
admin_key = nacl.signing.SigningKey(binascii.unhexlify(admin_seed))  # ed0120 key
bob_key = bob_seed  # legacy ed25519/sha3 private key (hex)
carol_key = nacl.signing.SigningKey(bytes(range(1, 33)))
dave_key = "0f" * 32
j1_key = nacl.signing.SigningKey(bytes(range(2, 34)))
j2_key = "1e" * 32
pub = IrohaCrypto.derive_public_key
def hexpub(k):
    p = pub(k)
    return p.decode() if isinstance(p, bytes) else p

net = IrohaGrpc(addr, timeout=20)
admin = Iroha("admin@bakong")
out = {}
counter = [0]

def statuses(tx):
    return [s[0] for s in net.tx_status_stream(tx)]

def send(tx, *keys):
    IrohaCrypto.sign_transaction(tx, *keys)
    net.send_tx(tx)
    return statuses(tx)

def q(name, creator="admin@bakong", key=admin_key, **kw):
    counter[0] += 1
    query = Iroha(creator).query(name, counter=counter[0], **kw)
    IrohaCrypto.sign_query(query, key)
    return net.send_query(query)

# 1. domain, asset, accounts (ed0120 and legacy keys), quantity, transfer
out["setup"] = send(admin.transaction([
    Iroha.command("CreateDomain", domain_id="sdk", default_role="user"),
    Iroha.command("CreateAsset", asset_name="tok", domain_id="sdk", precision=2),
    Iroha.command("CreateAccount", account_name="carol", domain_id="sdk",
                  public_key=hexpub(carol_key)),
    Iroha.command("CreateAccount", account_name="dave", domain_id="sdk",
                  public_key=hexpub(dave_key)),
    Iroha.command("AddAssetQuantity", asset_id="tok#sdk", amount="100.00"),
    Iroha.command("TransferAsset", src_account_id="admin@bakong", dest_account_id="carol@sdk",
                  asset_id="tok#sdk", description="seed", amount="10.00"),
]), admin_key)
carol = Iroha("carol@sdk")
dave = Iroha("dave@sdk")
out["carol_to_dave"] = send(carol.transaction([Iroha.command(
    "TransferAsset", src_account_id="carol@sdk", dest_account_id="dave@sdk",
    asset_id="tok#sdk", description="", amount="2.50")]), carol_key)
out["dave_to_carol"] = send(dave.transaction([Iroha.command(
    "TransferAsset", src_account_id="dave@sdk", dest_account_id="carol@sdk",
    asset_id="tok#sdk", description="back", amount="0.50")]), dave_key)
# 2. a transfer that fails statefully: not enough balance (code 6)
bad = carol.transaction([Iroha.command(
    "TransferAsset", src_account_id="carol@sdk", dest_account_id="dave@sdk",
    asset_id="tok#sdk", description="", amount="1000")])
IrohaCrypto.sign_transaction(bad, carol_key)
net.send_tx(bad)
out["bad"] = [list(s) for s in net.tx_status_stream(bad)]
# 3. batches
def batch(atomic, amount_ok, amount_2):
    t1 = carol.transaction([Iroha.command("TransferAsset", src_account_id="carol@sdk",
        dest_account_id="dave@sdk", asset_id="tok#sdk", description="", amount=amount_ok)])
    t2 = dave.transaction([Iroha.command("TransferAsset", src_account_id="dave@sdk",
        dest_account_id="carol@sdk", asset_id="tok#sdk", description="", amount=amount_2)])
    Iroha.batch([t1, t2], atomic=atomic)
    IrohaCrypto.sign_transaction(t1, carol_key)
    IrohaCrypto.sign_transaction(t2, dave_key)
    net.send_txs([t1, t2])
    return [statuses(t1)[-1], statuses(t2)[-1]]
out["atomic_ok"] = batch(True, "1.00", "0.25")
out["atomic_bad"] = batch(True, "1.00", "999")
out["ordered_bad"] = batch(False, "1.00", "999")
# 4. quorum-2 account through MST
out["joint"] = send(admin.transaction([
    Iroha.command("CreateAccount", account_name="joint", domain_id="sdk",
                  public_key=hexpub(j1_key)),
    Iroha.command("AddSignatory", account_id="joint@sdk", public_key=hexpub(j2_key)),
    Iroha.command("SetAccountQuorum", account_id="joint@sdk", quorum=2),
]), admin_key)
mtx = Iroha("joint@sdk").transaction(
    [Iroha.command("SetAccountDetail", account_id="joint@sdk", key="memo", value="both")],
    quorum=2)
first = type(mtx)(); first.CopyFrom(mtx)
IrohaCrypto.sign_transaction(first, j1_key)
net.send_tx(first)
out["mst_first"] = net.tx_status(first)[0]
pend = q("GetPendingTransactions", creator="joint@sdk", key=j1_key, page_size=10)
out["pending"] = [len(pend.pending_transactions_page_response.transactions),
                  pend.pending_transactions_page_response.all_transactions_size]
second = type(mtx)(); second.CopyFrom(pend.pending_transactions_page_response.transactions[0])
del second.signatures[:]
IrohaCrypto.sign_transaction(second, j2_key)
net.send_tx(second)
out["mst_final"] = statuses(second)
# 5. queries
r = q("GetAccount", account_id="carol@sdk")
out["GetAccount"] = [r.account_response.account.account_id, r.account_response.account.quorum,
                     list(r.account_response.account_roles)]
r = q("GetAccountAssets", account_id="carol@sdk")
assets = r.account_assets_response.account_assets
out["GetAccountAssets"] = [[a.asset_id, a.balance] for a in assets]
r = q("GetSignatories", account_id="joint@sdk")
out["GetSignatories"] = sorted(r.signatories_response.keys)
r = q("GetAccountTransactions", account_id="carol@sdk", page_size=2)
p = r.transactions_page_response
out["GetAccountTransactions"] = [len(p.transactions), p.all_transactions_size, p.next_tx_hash]
r = q("GetAccountTransactions", account_id="carol@sdk", page_size=2, first_tx_hash=p.next_tx_hash)
out["GetAccountTransactions2"] = [len(r.transactions_page_response.transactions)]
r = q("GetAccountAssetTransactions", account_id="dave@sdk", asset_id="tok#sdk", page_size=100)
out["GetAccountAssetTransactions"] = r.transactions_page_response.all_transactions_size
h = binascii.hexlify(IrohaCrypto.hash(first)).decode()
r = q("GetTransactions", tx_hashes=[h])
out["GetTransactions"] = [len(r.transactions_response.transactions),
                          len(r.transactions_response.transactions[0].signatures)]
r = q("GetAssetInfo", asset_id="tok#sdk")
out["GetAssetInfo"] = [r.asset_response.asset.asset_id, r.asset_response.asset.precision]
r = q("GetRoles")
out["GetRoles"] = "user" in r.roles_response.roles
r = q("GetRolePermissions", role_id="money_creator")
out["GetRolePermissions"] = len(r.role_permissions_response.permissions)
r = q("GetAccountDetail", account_id="joint@sdk")
out["GetAccountDetail"] = r.account_detail_response.detail
r = q("GetBlock", height=1)
out["GetBlock"] = r.block_response.block.block_v1.payload.height
r = q("GetPeers")
out["GetPeers"] = len(r.peers_response.peers)
r = q("GetAccount", account_id="carol@sdk", creator="carol@sdk", key=dave_key)
out["bad_signer"] = [r.error_response.reason, r.error_response.error_code]
# 6. block stream
counter[0] += 1
bq = admin.blocks_query(counter=counter[0])
IrohaCrypto.sign_query(bq, admin_key)
got = []
def reader():
    for b in net.send_blocks_stream_query(bq, timeout=20):
        got.append(b.block_response.block.block_v1.payload.height)
        return
th = threading.Thread(target=reader); th.start()
time.sleep(0.5)
out["after_stream"] = send(carol.transaction([Iroha.command("SetAccountDetail",
    account_id="carol@sdk", key="k", value="v")]), carol_key)[-1]
th.join(20)
out["block_stream"] = got
print(json.dumps(out))
"""


async def test_iroha_python_sdk_scenario(tmp_path: Path) -> None:
    async with running(tmp_path, block_delay=0.2) as h:
        addr = f"127.0.0.1:{h.port}"
        out: dict[str, Any] = await run(
            lambda: run_sdk(SCRIPT, addr, ADMIN.seed.hex(), BOB.seed.hex(), timeout=120)
        )
        await trio.sleep(0)
    check_sdk_outcome(out, peers=1)


def check_sdk_outcome(out: dict[str, Any], peers: int) -> None:
    """What the SDK scenario must have seen (shared with the devnet test)."""
    ok = [
        "STATELESS_VALIDATION_SUCCESS",
        "ENOUGH_SIGNATURES_COLLECTED",
        "STATEFUL_VALIDATION_SUCCESS",
        "COMMITTED",
    ]
    for name in ("setup", "carol_to_dave", "dave_to_carol", "joint"):
        assert out[name][-1] == "COMMITTED", (name, out[name])
        assert out[name][0] in ok
    assert out["bad"][-2:] == [["STATEFUL_VALIDATION_FAILED", 2, 6], ["REJECTED", 4, 6]]
    assert out["atomic_ok"] == ["COMMITTED", "COMMITTED"]
    assert out["atomic_bad"] == ["REJECTED", "REJECTED"]
    assert out["ordered_bad"] == ["COMMITTED", "REJECTED"]
    assert out["mst_first"] == "MST_PENDING"
    assert out["pending"] == [1, 1]
    assert out["mst_final"][-1] == "COMMITTED"
    assert out["GetAccount"] == ["carol@sdk", 1, ["user"]]
    assert out["GetAccountAssets"] == [["tok#sdk", "6.25"]]
    assert len(out["GetSignatories"]) == 2
    # carol created 3 committed txs (her rejected ones are not in her history)
    assert out["GetAccountTransactions"][:2] == [2, 3]
    assert out["GetAccountTransactions"][2]  # next_tx_hash set: one more page
    assert out["GetAccountTransactions2"] == [1]
    assert out["GetAccountAssetTransactions"] >= 5
    assert out["GetTransactions"] == [1, 2]  # the committed copy carries both signatures
    assert out["GetAssetInfo"] == ["tok#sdk", 2]
    assert out["GetRoles"] is True
    assert out["GetRolePermissions"] >= 4
    assert '"memo": "both"' in out["GetAccountDetail"] or '"memo":"both"' in out["GetAccountDetail"]
    assert out["GetBlock"] == 1
    assert out["GetPeers"] == peers
    assert out["bad_signer"] == [1, 3]  # STATEFUL_INVALID, code 3
    assert out["after_stream"] == "COMMITTED"
    assert len(out["block_stream"]) == 1
