"""Ledger throughput: transfers applied per second (execute + commit), no consensus.

Pre-signs blocks of 1,000 TransferAsset transactions between customer accounts, then
times ``Ledger.execute`` (stateful validation: signatory/quorum lookups, permission and
balance checks) and ``Ledger.commit`` (one synced LevelDB write batch per block) on real
LevelDB in a temporary directory. Cryptographic signature verification is NOT included
(it is stateless, done once per tx by node.validation/node.crypto on worker threads);
the stateful "signatures validation" (keys are signatories, quorum) is included.

    .venv/bin/python -m benchmarks.ledger [--blocks 10] [--txs 1000] [--accounts 500]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

from node.crypto import KeyPair, KeyScheme
from node.model import Tx
from node.proto.iroha import commands_pb2, transaction_pb2
from node.state import Ledger
from node.state.genesis import bakong_spec, genesis_from_spec
from node.storage import LevelDBStore

T0 = 1_700_000_000_000


def build(accounts: int, seed: int) -> tuple[dict[str, object], KeyPair, list[str]]:
    rng = random.Random(seed)
    kp = KeyPair.generate(KeyScheme.ED25519, rng=rng)
    names = [f"c{i}@{('aclb', 'abaa', 'wing')[i % 3]}" for i in range(accounts)]
    spec = bakong_spec(peers=[("127.0.0.1:10001", kp.public_key)], admin_key=kp.public_key)
    spec["accounts"] += [{"id": n, "public_keys": [kp.public_key]} for n in names]
    spec["balances"] = [
        {"account": n, "asset": "usd#bakong", "amount": "1000000.00"} for n in names
    ]
    return spec, kp, names


def transfer_tx(kp: KeyPair, src: str, dest: str, cents: int, created: int) -> Tx:
    pb = transaction_pb2.Transaction()
    rp = pb.payload.reduced_payload
    c = rp.commands.add().transfer_asset
    c.CopyFrom(
        commands_pb2.TransferAsset(
            src_account_id=src,
            dest_account_id=dest,
            asset_id="usd#bakong",
            amount=f"{cents // 100}.{cents % 100:02d}",
            description="khqr",
        )
    )
    rp.creator_account_id = src
    rp.created_time = created
    rp.quorum = 1
    sig = pb.signatures.add()
    sig.public_key = kp.public_key
    sig.signature = kp.sign(pb.payload.SerializeToString()).hex()
    return Tx(pb)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--txs", type=int, default=1000)
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    spec, kp, names = build(args.accounts, args.seed)
    rng = random.Random(args.seed)
    blocks = []
    for b in range(args.blocks):
        txs = []
        for i in range(args.txs):
            src, dest = rng.sample(names, 2)
            txs.append(transfer_tx(kp, src, dest, rng.randint(1, 5000), T0 + b * args.txs + i))
        blocks.append(txs)
    with tempfile.TemporaryDirectory() as d:
        store = LevelDBStore(d + "/db")
        ledger = Ledger.create(store, genesis_from_spec(spec))
        exec_s, commit_s = [], []
        for b, txs in enumerate(blocks):
            t0 = time.perf_counter()
            result = ledger.execute(txs, ledger.height + 1, T0 + b)
            t1 = time.perf_counter()
            ledger.commit(result, [], b"")
            t2 = time.perf_counter()
            assert not result.rejected, result.rejected[:1]
            exec_s.append(t1 - t0)
            commit_s.append(t2 - t1)
        store.close()
    total = [e + c for e, c in zip(exec_s, commit_s, strict=True)]
    med = statistics.median(total)
    print(f"blocks={args.blocks} txs/block={args.txs} accounts={args.accounts}")
    print(f"execute median {statistics.median(exec_s) * 1e3:.1f} ms/block")
    print(f"commit  median {statistics.median(commit_s) * 1e3:.1f} ms/block (sync=True)")
    print(
        f"throughput {args.txs / med:,.0f} tx/s (median block), best {args.txs / min(total):,.0f}"
    )


if __name__ == "__main__":
    main()
