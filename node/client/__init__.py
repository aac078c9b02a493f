"""The project's own client: async Torii client, transaction builders, wallet operations and
the `bakong` CLI.

Owns client-side code only; imports node.crypto, node.model, node.proto and node.payments,
never the validator's internals (state, consensus, api). ``builders`` is pure (no trio, no
clock) and node.payments builds on it, so this ``__init__`` imports nothing eagerly: the
re-exports below load on first use, and importing ``node.client.builders`` stays trio-free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from node.client import builders, wallet
    from node.client.channel import GrpcConnectionError, GrpcError
    from node.client.torii import ToriiClient, WaitTimeout

_EXPORTS = {
    "ToriiClient": "node.client.torii",
    "WaitTimeout": "node.client.torii",
    "GrpcError": "node.client.channel",
    "GrpcConnectionError": "node.client.channel",
}
_MODULES = {"builders", "wallet"}

__all__ = ["GrpcConnectionError", "GrpcError", "ToriiClient", "WaitTimeout", "builders", "wallet"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _MODULES:
        return importlib.import_module(f"node.client.{name}")
    raise AttributeError(f"module 'node.client' has no attribute {name!r}")
