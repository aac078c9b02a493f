"""Token bucket for per-peer inbound rate limiting (pure: time is an argument)."""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` stored; one token per message.

    ``take(now)`` returns False when the message is over the limit. The bucket also keeps
    a *flood* score: every refused message adds one, and it drains at ``rate`` per second,
    so it only grows when a peer keeps sending well above its allowance. ``flooding`` turns
    true when that score exceeds ``burst`` — a peer that is merely bursty never gets there.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._flood = 0.0
        self._last = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        gained = elapsed * self.rate
        self._tokens = min(float(self.burst), self._tokens + gained)
        self._flood = max(0.0, self._flood - gained)

    def take(self, now: float) -> bool:
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self._flood += 1.0
        return False

    @property
    def flooding(self) -> bool:
        return self._flood > self.burst
