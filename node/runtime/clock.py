"""The node's wall clock, with an optional skew for fault-injection runs.

``BAKONG_CLOCK_SKEW_MS`` (environment, default 0) shifts every wall-clock reading of
the node: created_time windows, proposal times, MST expiry. Perturbation runs use it
to show that one validator with a skewed clock cannot break the network; an operator
never sets it.
"""

from __future__ import annotations

import os
import time

_SKEW_MS = int(os.environ.get("BAKONG_CLOCK_SKEW_MS", "0") or 0)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000 + _SKEW_MS


def skew_ms() -> int:
    return _SKEW_MS
