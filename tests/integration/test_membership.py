"""Validator-set changes on chain (issue #5): a validator added with AddPeer syncs from
genesis and starts voting; a removed one stops counting toward the quorum."""

from __future__ import annotations

import json
from pathlib import Path

import trio

from tests.integration.devnet_support import (
    COMMITTED,
    devnet,
    running_devnet,
    status,
    submit_and_wait,
    transfer,
    wait_heights,
)


def test_add_then_remove_validator(tmp_path: Path) -> None:
    with running_devnet(tmp_path, 4) as doc:
        first = [transfer(doc, "sokha@aclb", "dara@abaa", "1.00")]
        assert trio.run(submit_and_wait, doc["validators"][1]["torii"], first) == [COMMITTED]

        devnet("add-validator", "--dir", doc["dir"], timeout=120)
        doc.update(json.loads((Path(doc["dir"]) / "network.json").read_text()))
        names = [v["name"] for v in doc["validators"]]
        assert len(names) == 5
        top = max(r["height"] or 0 for r in status(doc))
        wait_heights(doc, top, names, 60.0)  # the new validator synced from genesis

        # n = 5, q = 4: with one original validator dead, the new one's vote is needed
        devnet("kill", names[0], "--dir", doc["dir"])
        txs = [transfer(doc, "dara@abaa", "chenda@wing", "2.00")]
        assert trio.run(submit_and_wait, doc["validators"][1]["torii"], txs) == [COMMITTED]

        # remove the dead one: n = 4, q = 3, so a second crash is survivable again
        devnet("remove-validator", names[0], "--dir", doc["dir"], timeout=120)
        doc.update(json.loads((Path(doc["dir"]) / "network.json").read_text()))
        devnet("kill", names[1], "--dir", doc["dir"])
        txs = [transfer(doc, "chenda@wing", "sokha@aclb", "3.00")]
        assert trio.run(submit_and_wait, doc["validators"][1]["torii"], txs) == [COMMITTED]


def test_syncing_peer_follows_without_voting(tmp_path: Path) -> None:
    with running_devnet(tmp_path, 4) as doc:
        devnet("add-validator", "--syncing", "--dir", doc["dir"], timeout=120)
        doc.update(json.loads((Path(doc["dir"]) / "network.json").read_text()))
        names = [v["name"] for v in doc["validators"]]
        observer = names[4]
        txs = [transfer(doc, "sokha@aclb", "dara@abaa", "1.50")]
        assert trio.run(submit_and_wait, doc["validators"][0]["torii"], txs) == [COMMITTED]
        top = max(r["height"] or 0 for r in status(doc))
        wait_heights(doc, top, [observer], 60.0)  # it follows the chain

        # it never counts: with 2 of the 4 validators dead nothing commits, observer or not
        devnet("kill", names[2], "--dir", doc["dir"])
        devnet("kill", names[3], "--dir", doc["dir"])
        stuck = transfer(doc, "dara@abaa", "sokha@aclb", "1.25")

        async def pending() -> int:
            from node.client.torii import ToriiClient

            async with ToriiClient.connect(doc["validators"][0]["torii"]) as c:
                await c.send_tx(stuck)
                await trio.sleep(4.0)
                return (await c.status(stuck.hash)).tx_status

        assert trio.run(pending) != COMMITTED
