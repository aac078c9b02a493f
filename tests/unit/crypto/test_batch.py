"""BatchVerifier gives exactly the single-verify answers, in input order."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from node.crypto import BatchVerifier, KeyPair, KeyScheme, verify


def _items(n: int, seed: int = 1) -> list[Any]:
    rng = random.Random(seed)
    pairs = [KeyPair.generate(scheme, rng) for scheme in KeyScheme for _ in range(3)]
    items: list[Any] = []
    for i in range(n):
        pair = pairs[i % len(pairs)]
        message = rng.randbytes(rng.randrange(0, 200))
        sig = pair.sign(message)
        kind = rng.randrange(6)
        if kind == 1:
            message += b"!"
        elif kind == 2:
            sig = sig[:10] + bytes([sig[10] ^ 4]) + sig[11:]
        elif kind == 3:
            items.append(("zz" * 32, message, sig))
            continue
        elif kind == 4 and i % 5 == 0:
            items.append(("not a triple",))
            continue
        items.append((pair.public_key, message, sig))
    return items


def _single(items: list[Any]) -> list[bool]:
    return [len(item) == 3 and verify(*item) for item in items]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("n", [0, 1, 7, 16, 101])
def test_batch_equals_single(threads: int, n: int) -> None:
    items = _items(n)
    expected = _single(items)
    assert any(expected) or n < 7
    assert not all(expected) or n < 7
    with BatchVerifier(threads) as batch:
        assert batch.verify_many(items) == expected


def test_concurrent_callers_share_one_verifier() -> None:
    items = _items(200, seed=2)
    expected = _single(items)
    results: list[list[bool]] = [[] for _ in range(4)]
    with BatchVerifier(2) as batch:

        def run(i: int) -> None:
            results[i] = batch.verify_many(items)

        workers = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert results == [expected] * 4


def test_closed_verifier_refuses_work() -> None:
    batch = BatchVerifier(2)
    batch.close()
    batch.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        batch.verify_many(_items(3))


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BatchVerifier(0)
