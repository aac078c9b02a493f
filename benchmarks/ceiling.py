"""The throughput ceiling of this machine for one transfer on every validator.

The unavoidable work a network of N validators does for one transaction is, on each
validator: decode it, hash its payload (SHA3-256, the tx hash), verify its signature
(either key scheme) and apply one state update (debit and credit a balance, written to
LevelDB in one write batch per block). :func:`unit_work` does exactly that on pre-signed
transfers, with nothing else (no networking, no consensus, no Torii).

:func:`measure_ceiling` runs :func:`unit_work` on every core at once (one process each,
as validators are) for a few seconds and counts transactions per CPU-second of each
worker (the machine is shared: wall-clock rates swing with the neighbours' load, CPU
time much less); the machine's rate divided by N is the most transactions per second N
validators sharing this machine could ever commit:

    ceiling_tps = sum(per-core unit rates) / validators

``benchmarks.consensus`` reports ``efficiency = committed_tps / ceiling_tps``.

    .venv/bin/python -m benchmarks.ceiling [--validators 4] [--key-scheme ed25519]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from node.crypto import KeyScheme, sha3_256, verify
from node.proto.iroha import transaction_pb2

BLOCK_TXS = 500  # state updates are written one LevelDB batch per this many txs
SAMPLE_TXS = 2000


def ceiling_tps(unit_rates: Sequence[float], validators: int) -> float:
    """Transactions/s the machine commits when each is processed once per validator."""
    if validators < 1:
        raise ValueError("validators must be at least 1")
    return sum(unit_rates) / validators


def sample_txs(count: int, scheme: KeyScheme, accounts: int = 1000, seed: int = 7) -> list[bytes]:
    """Serialized signed transfers, as the load generator sends them."""
    from benchmarks.loadgen import prebuild

    data, _ = prebuild(count, accounts, seed, scheme, 1_700_000_000_000, workers=1)
    return data


def unit_work(txs: Sequence[bytes], balances: dict[str, int], db: Any) -> int:
    """Process each tx once (decode, hash, verify, update state); returns txs verified.

    ``db`` is a plyvel DB (or None to skip the write): one write batch per BLOCK_TXS.
    """
    ok = 0
    batch = db.write_batch(sync=False) if db is not None else None
    for n, data in enumerate(txs, 1):
        tx = transaction_pb2.Transaction()
        tx.ParseFromString(data)
        payload = tx.payload.SerializeToString()
        sha3_256(payload)
        sig = tx.signatures[0]
        if not verify(sig.public_key, payload, bytes.fromhex(sig.signature)):
            continue
        ok += 1
        t = tx.payload.reduced_payload.commands[0].transfer_asset
        amount = int(t.amount)
        src = balances.get(t.src_account_id, 10**12) - amount
        dst = balances.get(t.dest_account_id, 10**12) + amount
        balances[t.src_account_id] = src
        balances[t.dest_account_id] = dst
        if batch is not None:
            batch.put(t.src_account_id.encode(), str(src).encode())
            batch.put(t.dest_account_id.encode(), str(dst).encode())
            if n % BLOCK_TXS == 0:
                batch.write()
                batch = db.write_batch(sync=False)
    if batch is not None:
        batch.write()
    return ok


def _worker(args: tuple[str, float, int]) -> float:
    """Unit work repeated for ``seconds``; returns txs per CPU-second on this core."""
    import plyvel

    scheme_name, seconds, seed = args
    txs = sample_txs(SAMPLE_TXS, KeyScheme(scheme_name), seed=seed)
    balances: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as d:
        db = plyvel.DB(d, create_if_missing=True)
        try:
            done = 0
            start, cpu = time.perf_counter(), time.process_time()
            while time.perf_counter() - start < seconds:
                done += unit_work(txs, balances, db)
            # per CPU-second of this process: what one core does with nothing else running,
            # which the other load on a shared machine barely moves (wall time would)
            return done / max(time.process_time() - cpu, 1e-9)
        finally:
            db.close()


def measure_unit_rates(scheme: KeyScheme, seconds: float = 3.0, workers: int = 0) -> list[float]:
    """Per-core unit-work rates, all cores busy at once (tx per CPU-second each)."""
    workers = workers or (os.cpu_count() or 1)
    jobs = [(scheme.value, seconds, 100 + i) for i in range(workers)]
    with mp.get_context("fork").Pool(workers) as pool:
        return list(pool.map(_worker, jobs))


def measure_ceiling(
    validators: int, scheme: KeyScheme, seconds: float = 3.0, workers: int = 0
) -> dict[str, object]:
    rates = measure_unit_rates(scheme, seconds, workers)
    return {
        "ceiling_tps": round(ceiling_tps(rates, validators), 1),
        "unit_rates": [round(r, 1) for r in rates],
        "unit_us_per_tx": round(1e6 * len(rates) / sum(rates), 1),
        "cores": len(rates),
        "seconds": seconds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description="this machine's throughput ceiling")
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--key-scheme", choices=[s.value for s in KeyScheme], default="ed25519")
    p.add_argument("--seconds", type=float, default=3.0)
    args = p.parse_args()
    print(measure_ceiling(args.validators, KeyScheme(args.key_scheme), args.seconds))


if __name__ == "__main__":
    main()
