from __future__ import annotations

import pytest

from node.net.ratelimit import TokenBucket


def test_burst_then_rate() -> None:
    b = TokenBucket(rate=10, burst=5, now=0.0)
    assert [b.take(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert not b.take(0.05)  # half a token
    assert b.take(0.1)
    assert not b.take(0.1)
    # refill never exceeds the burst
    assert sum(b.take(100.0) for _ in range(10)) == 5


def test_flooding_needs_sustained_excess() -> None:
    b = TokenBucket(rate=10, burst=5, now=0.0)
    for _ in range(5 + 5):  # burst used, then 5 refusals: flood score 5, not above burst
        b.take(0.0)
    assert not b.flooding
    b.take(0.0)
    assert b.flooding
    # the score drains at the rate: a peer that calms down is no longer flooding
    b.take(1.0)
    assert not b.flooding


def test_clock_going_backwards_is_harmless() -> None:
    b = TokenBucket(rate=1, burst=1, now=10.0)
    assert b.take(10.0)
    assert not b.take(5.0)
    assert not b.take(10.5)
    assert b.take(11.0)


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)
