"""Child process for the crash test: commit blocks forever, ack each after commit returns.

Usage: python -m tests.unit.state.crash_child <db path>
Prints ``ready <height>`` once open, then ``<height> <top hash hex>`` per committed block.
"""

from __future__ import annotations

import sys

from node.state import Ledger
from node.storage import LevelDBStore
from tests.unit.state.support import ALICE, BOB, T0, make_tx, new_ledger
from tests.unit.state.test_commands import detail, transfer


def main(path: str) -> None:
    store = LevelDBStore(path)
    try:
        ledger = Ledger.open(store)
    except Exception:
        ledger = new_ledger(store)
    out = sys.stdout
    out.write(f"ready {ledger.height}\n")
    out.flush()
    while True:
        h = ledger.height + 1
        txs = [
            make_tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "0.01")], [ALICE], T0 + h),
            make_tx("bob@wing", [transfer("bob@wing", "alice@aclb", "0.01")], [BOB], T0 + h),
            make_tx("alice@aclb", [detail("alice@aclb", "h", str(h))], [ALICE], T0 + h),
        ]
        result = ledger.execute(txs, h, T0 + h)
        ledger.commit(result, [], b"cert-%d" % h)
        out.write(f"{ledger.height} {ledger.top_hash.hex()}\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
