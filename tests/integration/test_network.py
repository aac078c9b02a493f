"""A 4-validator network of real bakong-node processes on loopback, driven by the devnet CLI.

Covers issue #5 and #7 acceptance: blocks committed; one validator killed -> commits
continue (3 of 4 = n - f); a second killed -> commits stop (no commit with 2 of 4);
both restarted -> they sync and commits resume; every validator holds identical blocks
at every height; pause/resume; ``down`` leaves no process behind; each validator's sign
state in its own store, its writes timed on /metrics.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import trio

from devnet import procs
from node.storage import LevelDBStore
from node.sync.signstate import SIGN_PREFIX, load_sign_state
from tests.integration.devnet_support import (
    COMMITTED,
    block_hashes,
    devnet,
    running_devnet,
    status,
    submit_and_wait,
    transfer,
    wait_heights,
)


def test_four_validators_survive_f_crashes_and_resync(tmp_path: Path) -> None:
    with running_devnet(tmp_path, 4) as doc:
        vals = doc["validators"]
        names = [v["name"] for v in vals]
        torii = [v["torii"] for v in vals]

        # sunny day: payments commit
        txs = [transfer(doc, "sokha@aclb", "dara@abaa", f"1.{i:02d}") for i in range(10)]
        assert trio.run(submit_and_wait, torii[0], txs) == [COMMITTED] * 10

        # one of four killed: 3 = n - f still commit
        devnet("kill", names[3], "--dir", doc["dir"])
        txs = [transfer(doc, "dara@abaa", "chenda@wing", f"2.{i:02d}") for i in range(5)]
        assert trio.run(submit_and_wait, torii[1], txs) == [COMMITTED] * 5

        # a second killed: 2 of 4 must not commit anything
        devnet("kill", names[2], "--dir", doc["dir"])
        before = {r["name"]: r["height"] for r in status(doc)}
        stuck = transfer(doc, "chenda@wing", "sokha@aclb", "3.00")

        async def submit_only() -> int:
            from node.client.torii import ToriiClient

            async with ToriiClient.connect(torii[0]) as c:
                await c.send_tx(stuck)
                await trio.sleep(4.0)
                return (await c.status(stuck.hash)).tx_status

        assert trio.run(submit_only) != COMMITTED
        after = {r["name"]: r["height"] for r in status(doc)}
        assert after[names[0]] == before[names[0]] and after[names[1]] == before[names[1]]

        # both back: they sync, the stuck payment commits
        devnet("start", names[2], "--dir", doc["dir"])
        devnet("start", names[3], "--dir", doc["dir"])

        async def wait_stuck() -> int:
            from node.client.torii import ToriiClient

            async with ToriiClient.connect(torii[0]) as c:
                return (await c.wait_final(stuck.hash, 60.0)).tx_status

        assert trio.run(wait_stuck) == COMMITTED
        top = max(r["height"] or 0 for r in status(doc))  # a restarted one may not answer yet
        wait_heights(doc, top, names, 60.0)

        # pause one (SIGSTOP): the others go on; resume: it catches up
        devnet("pause", names[1], "--dir", doc["dir"])
        txs = [transfer(doc, "sokha@aclb", "chenda@wing", "4.00")]
        assert trio.run(submit_and_wait, torii[0], txs) == [COMMITTED]
        devnet("resume", names[1], "--dir", doc["dir"])
        top = max(r["height"] or 0 for r in status(doc))
        wait_heights(doc, top, names, 60.0)

        # agreement: byte-identical chains (block hashes) at every height on all validators
        chains = [trio.run(block_hashes, t, doc, top) for t in torii]
        assert all(c == chains[0] for c in chains), "validators disagree on some block"

        # every validator timed its synced sign-state writes (one before each vote)
        for v in vals:
            with urllib.request.urlopen(f"http://{v['metrics']}/metrics", timeout=5) as r:
                text = r.read().decode()
            count = re.search(r"^bakong_sign_state_write_seconds_count (\S+)$", text, re.M)
            assert count is not None and float(count.group(1)) > 0, v["name"]
            # and shows both its LevelDBs' levels (level 0 is always listed)
            for db in ("ledger", "signstate"):
                row = f'bakong_leveldb_files{{db="{db}",level="0"}} '
                assert "\n" + row in text, (v["name"], db)
            with urllib.request.urlopen(f"http://{v['metrics']}/status", timeout=5) as r:
                ledger_db = json.loads(r.read())["ledger_db"]
            assert ledger_db["level0_stop_at"] == 12 and ledger_db["level0_files"] >= 0

    # down: no validator process left
    for name in names:
        assert procs.node_state(Path(doc["dir"]) / name)[0] == "dead"
    time.sleep(0.1)
    # the sign state lives in its own store, none of it in the ledger's
    for v in vals:
        ledger = LevelDBStore(os.path.join(v["data_dir"], "ledger"))
        sign = LevelDBStore(os.path.join(v["data_dir"], "signstate"))
        try:
            assert list(ledger.iterate(SIGN_PREFIX)) == [], v["name"]
            assert load_sign_state(sign)[0] is not None, v["name"]
        finally:
            ledger.close()
            sign.close()
