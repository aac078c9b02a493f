"""The compiled Ed25519 verification equation, and per-key tables for keys seen often.

``node.crypto._donna`` (built by ``make native``; see ``donna/_donna.c``) checks
encode(S·B − h·A) == R. Both key schemes use it after their own rules (``ed25519`` and
``ed25519_sha3``); without a current native build ``check`` is None and they take their
pure paths, which give the same answers.

A payment network's transactions come from a limited set of keys, each signing again and
again. For a key that has signed validly ``TABLE_AFTER`` times, ``check`` builds a table
of multiples of the key (24 KiB, about two verifications' work) and from then on checks
its signatures about 2.6 times faster. At most ``TABLE_KEYS`` tables are kept (about
50 MB); when full, the oldest goes. Keys only count once a signature by them was valid, so
junk cannot make the node build tables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

TABLE_AFTER: Final = 3  # valid signatures by a key before it gets a table
TABLE_KEYS: Final = 2_048  # tables kept, 24 KiB each
_SEEN_MAX: Final = 65_536  # keys counted towards a table; emptied when full


def _load() -> Callable[[bytes, bytes, bytes], bool] | None:
    """``_check``, only with a current native build: ``node.native`` refuses the import
    otherwise (no build, a stale one, or ``BAKONG_PURE=1``)."""
    try:
        from node.crypto import _donna
    except ImportError:
        return None
    global _equation, _table, _equation_table
    _equation, _table, _equation_table = _donna.equation, _donna.table, _donna.equation_table
    return _check


_equation: Callable[[bytes, bytes, bytes], bool]
_table: Callable[[bytes], bytes | None]
_equation_table: Callable[[bytes, bytes, bytes], bool]
_tables: dict[bytes, bytes] = {}
_seen: dict[bytes, int] = {}
# Queries are verified on worker threads while the main thread verifies transactions, and
# the equation releases the GIL: the caches change under this lock.
_lock = threading.Lock()


def _check(public_key: bytes, signature: bytes, digest: bytes) -> bool:
    """encode(S·B − digest·A) == R for a 32-byte key A and a 64-byte R || S."""
    table = _tables.get(public_key)
    if table is not None:
        return _equation_table(table, signature, digest)
    ok = _equation(public_key, signature, digest)
    if not ok:
        return False
    with _lock:
        n = _seen.get(public_key, 0) + 1
        if n < TABLE_AFTER:
            if len(_seen) >= _SEEN_MAX:
                _seen.clear()
            _seen[public_key] = n
            return True
        _seen.pop(public_key, None)
    built = _table(public_key)  # outside the lock: it takes about 130 us
    if built is not None:  # it decoded just now: always so
        with _lock:
            while len(_tables) >= TABLE_KEYS:
                del _tables[next(iter(_tables))]  # the oldest
            _tables[public_key] = built
    return True


check = _load()


def stats() -> dict[str, int | bool]:
    """For an operator's /status: whether the compiled checks run, and the tables held."""
    return {"compiled": check is not None, "key_tables": len(_tables), "key_tables_max": TABLE_KEYS}
