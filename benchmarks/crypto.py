"""Signature throughput: verifications/s and signs/s for both key schemes.

Run: .venv/bin/python benchmarks/crypto.py [--items N] [--repeats R]

Per scheme: sign and verify on one thread, then BatchVerifier.verify_many with 1 and
2 threads, and (for comparison) one future per signature on a 2-thread pool. The
variants run interleaved, one pass each per repetition, so that load from other
processes on a shared machine hits them alike; each figure is the median of R
repetitions, with min and max to show the spread, plus the median rate per CPU-second
used by this process, which other processes' load disturbs much less.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.crypto import BatchVerifier, KeyPair, KeyScheme, verify

PAYLOAD_BYTES = 200  # about the size of a serialized one-transfer transaction payload
Item = tuple[str, bytes, bytes]


def _items(scheme: KeyScheme, n: int, rng: random.Random) -> list[Item]:
    pairs = [KeyPair.generate(scheme, rng) for _ in range(50)]
    items = []
    for i in range(n):
        pair = pairs[i % len(pairs)]
        message = rng.randbytes(PAYLOAD_BYTES)
        items.append((pair.public_key, message, pair.sign(message)))
    return items


def _bench_scheme(scheme: KeyScheme, n: int, repeats: int, rng: random.Random) -> None:
    items = _items(scheme, n, rng)
    signer = KeyPair.generate(scheme, rng)
    messages = [message for _, message, _ in items]
    one = BatchVerifier(1)
    two = BatchVerifier(2)
    pool = ThreadPoolExecutor(max_workers=2)

    def sign_all() -> object:
        return [signer.sign(message) for message in messages]

    def verify_all() -> object:
        return [verify(key, message, sig) for key, message, sig in items]

    def per_item_futures() -> object:
        futures = [pool.submit(verify, *item) for item in items]
        return [future.result() for future in futures]

    variants: dict[str, Callable[[], object]] = {
        "sign": sign_all,
        "verify": verify_all,
        "verify_many threads=1": lambda: one.verify_many(items),
        "verify_many threads=2": lambda: two.verify_many(items),
        "per-item futures x2": per_item_futures,
    }
    expected = [True] * n
    for name in ("verify", "verify_many threads=1", "verify_many threads=2"):
        assert variants[name]() == expected, name
    rates: dict[str, list[float]] = {name: [] for name in variants}
    cpu_rates: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(repeats):
            for name, run in variants.items():
                cpu = time.process_time()
                start = time.perf_counter()
                run()
                rates[name].append(n / (time.perf_counter() - start))
                cpu_rates[name].append(n / (time.process_time() - cpu))
    finally:
        one.close()
        two.close()
        pool.shutdown()
    for name, values in rates.items():
        print(
            f"{scheme.value:<14}{name:<24}{statistics.median(values):>10.0f}"
            f"{min(values):>10.0f}{max(values):>10.0f}"
            f"{statistics.median(cpu_rates[name]):>12.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Signature throughput of node.crypto")
    parser.add_argument("--items", type=int, default=4000, help="signatures per repetition")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(1)
    load = os.getloadavg()[0]
    print(
        f"cpus={os.cpu_count()} load1={load:.2f} items={args.items} "
        f"repeats={args.repeats} payload={PAYLOAD_BYTES}B   (ops/s)"
    )
    # Wall-clock rates (median, min, max) and, steadier on a shared machine, operations
    # per CPU-second of this process (all its threads).
    print(f"{'scheme':<14}{'measure':<24}{'median':>10}{'min':>10}{'max':>10}{'per cpu-s':>12}")
    for scheme in KeyScheme:
        _bench_scheme(scheme, args.items, args.repeats, rng)


if __name__ == "__main__":
    main()
