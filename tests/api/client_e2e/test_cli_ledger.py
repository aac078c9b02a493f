"""The `bakong` CLI as a subprocess against a real Torii: transfer, balance, tx status and
watch, account show/create, blocks watch, batch files, multisig co-signing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import trio

from tests.api.client_e2e.harness import ROOT, Server, serving

HASH_LINE = re.compile(r"tx ([0-9a-f]{64}): (.*)")


def one_line_error(r: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr
    return r.stderr


def committed_hash(r: subprocess.CompletedProcess[str]) -> tuple[str, int]:
    assert r.returncode == 0, (r.stdout, r.stderr)
    m = HASH_LINE.search(r.stdout)
    assert m is not None, r.stdout
    h = re.fullmatch(r"committed in block (\d+)", m.group(2))
    assert h is not None, r.stdout
    return m.group(1), int(h.group(1))


async def test_transfer_balance_status_and_blocks_watch(tmp_path: Path) -> None:
    async with serving(tmp_path) as s:
        # FetchCommits streams blocks from subscription on: start the watcher, then make
        # blocks until it has printed two
        watcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "node.client",
                "blocks",
                "watch",
                "--count",
                "2",
                *s.as_("ops@aclb"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        hashes: list[tuple[str, int]] = []
        try:
            for i in range(8):
                r = await s.run(
                    "transfer", *s.as_("sokha@aclb"), "--to", "dara@abaa",
                    "--asset", "usd#bakong", "--amount", "12.50", "--description", f"rent {i}",
                )  # fmt: skip
                hashes.append(committed_hash(r))
                if watcher.poll() is not None:
                    break
                await trio.sleep(0.3)
            out, err = await trio.to_thread.run_sync(lambda: watcher.communicate(timeout=30))
        finally:
            if watcher.poll() is None:
                watcher.kill()
        assert watcher.returncode == 0, err
        lines = out.splitlines()
        assert len(lines) == 2
        rows = [
            re.fullmatch(r"height +(\d+)  txs +(\d+)  rejected +(\d+)  hash ([0-9a-f]{64})", x)
            for x in lines
        ]
        assert all(rows), lines
        heights = [int(m.group(1)) for m in rows if m]
        assert heights[1] == heights[0] + 1
        assert set(heights) <= {h for _, h in hashes}  # the blocks of our transfers
        assert all(m.group(2) == "1" and m.group(3) == "0" for m in rows if m)

        paid = Decimal("12.50") * len(hashes)
        assert s.balance("sokha@aclb", "usd#bakong") == Decimal("2500.00") - paid
        r = await s.run("balance", *s.as_("sokha@aclb"))
        assert r.returncode == 0, r.stderr
        assert re.search(rf"usd#bakong +{Decimal('2500.00') - paid} USD", r.stdout), r.stdout
        assert re.search(r"khr#bakong +4000000 KHR", r.stdout), r.stdout
        r = await s.run("balance", "dara@abaa", *s.as_("ops@aclb"), "--json")  # a bank reads
        assert r.returncode == 1  # ops@aclb may read its own domain only: the ledger says no
        one_line_error(r, 1, "no permission")
        r = await s.run("--json", "balance", *s.as_("dara@abaa"))
        assert json.loads(r.stdout) == {
            "account": "dara@abaa",
            "balances": [
                {"asset": "khr#bakong", "balance": "1500000", "precision": 0},
                {"asset": "usd#bakong", "balance": f"{Decimal('800.00') + paid}", "precision": 2},
            ],
        }

        tx_hash = hashes[0][0]
        r = await s.run("tx", "status", tx_hash, "--torii", s.target)
        assert (r.returncode, r.stdout) == (0, "COMMITTED: committed\n")
        r = await s.run("tx", "status", "ab" * 32, "--torii", s.target, "--json")
        assert r.returncode == 1 and json.loads(r.stdout)["status"] == "NOT_RECEIVED"

        # the ledger refuses: exit 1 with the reason in words, and tx watch agrees
        r = await s.run(
            "transfer", *s.as_("chenda@wing"), "--to", "sokha@aclb",
            "--asset", "usd#bakong", "--amount", "500",
        )  # fmt: skip
        err = one_line_error(r, 1, "rejected: insufficient funds (TransferAsset code 6)")
        (bad_hash,) = re.findall(r"[0-9a-f]{64}", err)
        r = await s.run("tx", "watch", bad_hash, "--torii", s.target)
        assert r.stdout == "REJECTED: rejected: insufficient funds (TransferAsset code 6)\n"
        one_line_error(r, 1, "insufficient funds")
        r = await s.run("tx", "watch", tx_hash, "--torii", s.target, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["status"] == "COMMITTED"
        assert s.balance("chenda@wing", "usd#bakong") == Decimal("120.00")


async def test_account_show_and_create(tmp_path: Path) -> None:
    async with serving(tmp_path) as s:
        r = await s.run("account", "show", *s.as_("sokha@aclb"))
        assert r.returncode == 0, r.stderr
        assert "quorum       1" in r.stdout and "roles        customer" in r.stdout
        r = await s.run("keygen", "--out", str(tmp_path / "new.key"), "--json")
        public = json.loads(r.stdout)["public_key"]
        r = await s.run(
            "account", "create", "vanna@aclb", "--public-key", public, *s.as_("ops@aclb")
        )
        committed_hash(r)
        r = await s.run(
            "--json",
            "account",
            "show",
            "--account",
            "vanna@aclb",
            "--key",
            str(tmp_path / "new.key"),
            "--torii",
            s.target,
        )
        info = json.loads(r.stdout)
        assert (info["account_id"], info["quorum"], info["signatories"]) == (
            "vanna@aclb",
            1,
            [public],
        )
        r = await s.run(
            "balance",
            "--account",
            "vanna@aclb",
            "--key",
            str(tmp_path / "new.key"),
            "--torii",
            s.target,
        )
        assert (r.returncode, r.stdout) == (0, "vanna@aclb holds no assets\n")
        # again: the account exists now
        r = await s.run(
            "account", "create", "vanna@aclb", "--public-key", public, *s.as_("ops@aclb")
        )
        one_line_error(r, 1, "account already exists (CreateAccount code 4)")
        # a customer may not create accounts
        r = await s.run("account", "create", "x@aclb", "--public-key", public, *s.as_("sokha@aclb"))
        one_line_error(r, 1, "no permission (CreateAccount code 2)")
        r = await s.run("account", "show", "nobody@aclb", *s.as_("admin@bakong"))
        one_line_error(r, 1, "no such account")


def write_batch(s: Server, path: Path, entries: Sequence[object]) -> str:
    path.write_text(json.dumps(entries))
    return str(path)


async def test_batch_files_atomic_and_ordered(tmp_path: Path) -> None:
    async with serving(tmp_path) as s:
        keys = {a: str(p) for a, p in s.key_files.items()}
        good = [
            {"creator": "sokha@aclb", "key": keys["sokha@aclb"],
             "transfer": {"to": "coffee_shop@aclb", "asset": "khr#bakong", "amount": "8000"}},
            {"creator": "dara@abaa", "key": keys["dara@abaa"],
             "transfer": [{"to": "coffee_shop@aclb", "asset": "usd#bakong", "amount": "2.25",
                           "description": "latte"}],
             "commands": [{"setAccountDetail": {"accountId": "dara@abaa", "key": "fav",
                                                "value": "latte"}}]},
        ]  # fmt: skip
        r = await s.run(
            "batch", "--atomic", write_batch(s, tmp_path / "a.json", good), "--torii", s.target
        )
        assert r.returncode == 0, r.stderr
        assert len(re.findall(r"committed in block \d+", r.stdout)) == 2
        assert s.balance("coffee_shop@aclb", "khr#bakong") == 208000
        assert s.balance("coffee_shop@aclb", "usd#bakong") == Decimal("52.25")
        assert s.detail("dara@abaa", "dara@abaa", "fav") == "latte"

        before = s.balances("sokha@aclb", "chenda@wing", "coffee_shop@aclb")
        bad = [
            {"creator": "sokha@aclb", "key": keys["sokha@aclb"],
             "transfer": {"to": "coffee_shop@aclb", "asset": "khr#bakong", "amount": "1000"}},
            {"creator": "chenda@wing", "key": keys["chenda@wing"],
             "transfer": {"to": "coffee_shop@aclb", "asset": "usd#bakong", "amount": "999"}},
        ]  # fmt: skip
        path = write_batch(s, tmp_path / "b.json", bad)
        r = await s.run("batch", "--atomic", path, "--torii", s.target, "--json")
        assert r.returncode == 1
        data = json.loads(r.stdout)
        assert data["type"] == "ATOMIC" and data["committed"] is False
        assert [t["status"] for t in data["txs"]] == ["REJECTED", "REJECTED"]
        assert data["txs"][0]["summary"].startswith("rejected: another transaction of its ATOMIC")
        assert data["txs"][1]["error"] == {
            "command": "TransferAsset",
            "code": 6,
            "index": 0,
            "words": "insufficient funds",
        }
        assert s.balances("sokha@aclb", "chenda@wing", "coffee_shop@aclb") == before
        # the same two as ORDERED: the first commits on its own
        r = await s.run("batch", "--ordered", path, "--torii", s.target)
        one_line_error(r, 1, "batch not committed", "insufficient funds")
        assert s.balance("coffee_shop@aclb", "khr#bakong") == 209000

        r = await s.run(
            "batch",
            "--atomic",
            write_batch(s, tmp_path / "c.json", [{"transfer": {"to": "x@y"}}]),
            "--torii",
            s.target,
            "--account",
            "sokha@aclb",
            "--key",
            keys["sokha@aclb"],
        )
        one_line_error(r, 2, "transfer needs asset, amount")
        r = await s.run(
            "batch",
            "--atomic",
            write_batch(
                s,
                tmp_path / "d.json",
                [
                    {
                        "creator": "sokha@aclb",
                        "key": keys["sokha@aclb"],
                        "transfer": {"to": "dara@abaa", "asset": "usd#bakong", "amount": 1.5},
                    }
                ],
            ),
            "--torii",
            s.target,
        )
        one_line_error(r, 2, "amount must be a string")


async def test_multisig_cosign_through_the_cli(tmp_path: Path) -> None:
    async with serving(tmp_path) as s:
        r = await s.run(
            "transfer", *s.as_("joint@aclb"), "--to", "dara@abaa", "--asset", "usd#bakong",
            "--amount", "40", "--quorum", "2", "--description", "supplier",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        m = HASH_LINE.search(r.stdout)
        assert m is not None and m.group(2) == "pending: waiting for more signatures", r.stdout
        tx_hash = m.group(1)
        assert f"bakong multisig sign {tx_hash}" in r.stdout
        assert s.balance("joint@aclb", "usd#bakong") == 100

        second = s.as_("joint@aclb", key="joint2")
        r = await s.run("multisig", "pending", *second)
        assert r.returncode == 0, r.stderr
        assert f"tx {tx_hash}  joint@aclb  signatures 1/2  transfer_asset" in r.stdout
        r = await s.run("--json", "multisig", "pending", *second)
        (batch,) = json.loads(r.stdout)["batches"]
        assert batch[0]["hash"] == tx_hash and batch[0]["quorum"] == 2

        r = await s.run("multisig", "sign", tx_hash, *second)
        committed_hash(r)
        assert s.balance("joint@aclb", "usd#bakong") == 60
        assert s.balance("dara@abaa", "usd#bakong") == Decimal("840.00")
        r = await s.run("multisig", "pending", *second)
        assert r.stdout == "nothing pending for joint@aclb\n"
        r = await s.run("multisig", "sign", tx_hash, *second)
        one_line_error(r, 1, f"no pending transaction {tx_hash}")


async def test_multisig_sign_from_a_saved_file(tmp_path: Path) -> None:
    async with serving(tmp_path) as s:
        r = await s.run(
            "transfer", *s.as_("joint@aclb"), "--to", "sokha@aclb", "--asset", "usd#bakong",
            "--amount", "1.50", "--quorum", "2",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        r = await s.run("--json", "multisig", "pending", *s.as_("joint@aclb"))
        saved = tmp_path / "pending.json"
        saved.write_text(r.stdout)
        # signing again with the key that already signed is refused
        r = await s.run("multisig", "sign", str(saved), *s.as_("joint@aclb"))
        one_line_error(r, 1, "already signed")
        r = await s.run("multisig", "sign", str(saved), *s.as_("joint@aclb", key="joint2"))
        committed_hash(r)
        assert s.balance("joint@aclb", "usd#bakong") == Decimal("98.50")
