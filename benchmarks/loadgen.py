"""Load generator: pre-signed transfers through Torii, each followed to its block.

Runs in its own process (``python -m benchmarks.loadgen --network DIR ...``) against a
running devnet whose load accounts exist (:func:`setup_accounts`, done by
``benchmarks.consensus`` before it starts this process):

* **Pre-built work.** Every transfer is built and signed before the clock starts (on all
  cores, in worker processes), so the run measures the validators, not the signer. Tx k
  moves 1 KHR from load account ``k mod A`` to another load account; A (default 1,000)
  accounts keep transactions from contending on one balance.
* **Submission** with the project's client (node.client.ToriiClient) over one HTTP/2
  connection per validator, round-robin: ListTorii chunks of ``--batch`` txs, and in
  ``mixed`` mode every tenth chunk as single Torii calls, sent concurrently as that many
  independent clients would, each to the next validator in turn. Open loop at ``--rate R`` (the
  schedule never waits for answers; each chunk is sent on time in its own task) or
  closed loop at ``--rate max`` (keeps at most ``--window`` txs submitted but not final).
  RESOURCE_EXHAUSTED ("busy") answers are retried after a short pause; a validator that
  goes away (killed) is dropped and its call goes to the next one.
* **Tracking** through the block stream (FetchCommits, signed by admin@bakong) of the
  first validator: each block's transactions are hashed and matched to their submit
  time, so latency is submit -> block seen by the client. Rejected hashes in the block
  count as rejected.

Output: JSON lines on stdout (``{"event": "ready"}``, then one progress line a second,
then ``{"event": "done"}``) and the raw per-transaction record in ``--out`` (times in
seconds from the start of submission), which ``benchmarks.consensus`` summarizes.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from node.client import builders
from node.client.channel import GrpcError, StatusCode
from node.client.torii import COMMAND_SERVICE, ToriiClient
from node.crypto import KeyPair, KeyScheme, sha3_256
from node.model import Tx
from node.model.tx import len_field

LOAD_DOMAINS = ("aclb", "abaa", "wing")
ASSET = "khr#bakong"
FUND_KHR = 10_000_000  # per load account: enough for any run (each tx moves 1 KHR)
SETUP_ACCOUNTS_PER_TX = 250  # 2 commands per account + 1: well under max_commands_per_tx

PENDING, COMMITTED, REJECTED, FAILED = 0, 1, 2, 3
MODES = ("list", "single", "mixed")
SINGLE_EVERY = 10  # mixed mode: every 10th chunk goes as single Torii calls


def account_id(i: int) -> str:
    return f"lg{i:05d}@{LOAD_DOMAINS[i % len(LOAD_DOMAINS)]}"


def account_key(seed: int, i: int, scheme: KeyScheme) -> KeyPair:
    """Deterministic, so worker processes re-derive keys instead of receiving them."""
    return KeyPair.from_seed(sha3_256(f"bench-{seed}-{i}".encode()), scheme)


def setup_txs(admin: KeyPair, accounts: int, seed: int, scheme: KeyScheme, now_ms: int) -> list[Tx]:
    """admin@bakong's transactions creating and funding the load accounts."""
    out = []
    for start in range(0, accounts, SETUP_ACCOUNTS_PER_TX):
        ids = range(start, min(accounts, start + SETUP_ACCOUNTS_PER_TX))
        cmds = [builders.add_asset_quantity(ASSET, FUND_KHR * len(ids))]
        for i in ids:
            name, _, domain = account_id(i).partition("@")
            cmds.append(
                builders.create_account(name, domain, account_key(seed, i, scheme).public_key)
            )
            cmds.append(builders.transfer_asset("admin@bakong", account_id(i), ASSET, FUND_KHR))
        out.append(builders.sign_tx(builders.build_tx("admin@bakong", cmds, now_ms + start), admin))
    return out


async def setup_accounts(
    torii: str, admin: KeyPair, accounts: int, seed: int, scheme: KeyScheme
) -> None:
    """Create and fund the load accounts; raises RuntimeError unless all commit."""
    from node.proto.iroha import endpoint_pb2

    txs = setup_txs(admin, accounts, seed, scheme, int(time.time() * 1000))
    async with ToriiClient.connect(torii) as client:
        await client.send_txs(txs)
        for tx in txs:
            final = await client.wait_final(tx.hash, 60.0)
            if final.tx_status != endpoint_pb2.COMMITTED:
                raise RuntimeError(
                    f"load account setup tx {tx.hash_hex[:16]} ended "
                    f"{endpoint_pb2.TxStatus.Name(final.tx_status)}: {final.err_or_cmd_name} "
                    f"(code {final.error_code})"
                )


def build_transfer(seed: int, k: int, accounts: int, key: KeyPair, now_ms: int) -> Tx:
    src = k % accounts
    # a different account each time, never the source itself
    dst = (src + 1 + (k // accounts) % (accounts - 1)) % accounts if accounts > 1 else src
    cmd = builders.transfer_asset(account_id(src), account_id(dst), ASSET, 1, f"b{seed}.{k}")
    return builders.sign_tx(builders.build_tx(account_id(src), [cmd], now_ms), key)


def _build_range(args: tuple[int, int, int, int, str, int]) -> list[tuple[bytes, bytes]]:
    seed, first, last, accounts, scheme_name, now_ms = args
    scheme = KeyScheme(scheme_name)
    keys: dict[int, KeyPair] = {}
    out = []
    for k in range(first, last):
        src = k % accounts
        key = keys.get(src)
        if key is None:
            key = keys[src] = account_key(seed, src, scheme)
        tx = build_transfer(seed, k, accounts, key, now_ms)
        out.append((tx.serialize(), tx.hash))
    return out


def prebuild(
    count: int, accounts: int, seed: int, scheme: KeyScheme, now_ms: int, workers: int = 0
) -> tuple[list[bytes], list[bytes]]:
    """(serialized txs, hashes) of ``count`` signed transfers, built on ``workers`` processes."""
    workers = workers or (os.cpu_count() or 1)
    step = 2000
    jobs = [
        (seed, a, min(count, a + step), accounts, scheme.value, now_ms)
        for a in range(0, count, step)
    ]
    if workers <= 1 or count <= step:
        parts = [_build_range(j) for j in jobs]
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_build_range, jobs)
    data = [d for part in parts for d, _ in part]
    hashes = [h for part in parts for _, h in part]
    return data, hashes


@dataclass
class LoadConfig:
    toriis: list[str]
    rate: float | None  # None: closed loop at max
    duration: float  # seconds of submission
    batch: int = 100
    mode: str = "mixed"
    window: int = 8000  # closed loop: most txs submitted and not final at once
    senders: int = 2  # closed loop: concurrent senders per validator
    drain: float = 10.0  # after submission, wait this long for outstanding txs
    max_inflight_rpcs: int = 64  # open loop: a bound, so a stalled node cannot pile up tasks


@dataclass
class LoadRecord:
    """Raw outcome; times in seconds since submission started (NaN = never)."""

    sub_t: array[float]
    fin_t: array[float]
    status: bytearray
    blocks: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    busy: int = 0
    send_errors: int = 0
    dead_targets: list[str] = field(default_factory=list)
    stream_errors: int = 0
    offered: int = 0

    def to_json(self) -> dict[str, Any]:
        def r(xs: Sequence[float]) -> list[float | None]:
            return [None if math.isnan(x) else round(x, 4) for x in xs]

        return {
            "sub_t": r(self.sub_t[: self.offered]),
            "fin_t": r(self.fin_t[: self.offered]),
            "status": list(self.status[: self.offered]),
            "blocks": [[round(b[0], 4), *b[1:]] for b in self.blocks],
            "busy": self.busy,
            "send_errors": self.send_errors,
            "dead_targets": self.dead_targets,
            "stream_errors": self.stream_errors,
        }


class LoadGenerator:
    def __init__(
        self,
        cfg: LoadConfig,
        txs: list[bytes],
        hashes: list[bytes],
        blocks_query: Any,
        track: str,
    ) -> None:
        self.cfg = cfg
        self.txs = txs
        self.index = {h: i for i, h in enumerate(hashes)}
        self.blocks_query = blocks_query
        self.track = track
        n = len(txs)
        self.rec = LoadRecord(array("d", [math.nan]) * n, array("d", [math.nan]) * n, bytearray(n))
        self.next = 0  # next tx index to submit
        self.finals = 0
        self.committed = 0
        # set whenever txs become final: closed-loop senders wait on it for room in the
        # window (polling every few ms cost the load generator ~1,600 wake-ups a second)
        self._finals_moved = trio.Event()
        self.t0 = 0.0
        self.clients: dict[str, ToriiClient] = {}
        self.alive: list[str] = []
        self._rr = {False: 0, True: 0}  # round robin per kind of call (list, single)
        self._chunks = 0

    def now(self) -> float:
        return trio.current_time() - self.t0

    def outstanding(self) -> int:
        return self.next - self.finals

    def _take(self, count: int) -> range:
        first = self.next
        self.next = min(len(self.txs), first + count)
        self.rec.offered = self.next
        return range(first, self.next)

    def _next_single(self) -> bool:
        """Whether the next chunk goes as single Torii calls (else one ListTorii)."""
        self._chunks += 1
        return self.cfg.mode == "single" or (
            self.cfg.mode == "mixed" and self._chunks % SINGLE_EVERY == 0
        )

    def _target(self, single: bool) -> str | None:
        # One round robin per kind of call: with a shared one, every 10th chunk (the single
        # calls, far more server CPU per tx than a list) fell on the same 2 of 4 validators.
        if not self.alive:
            return None
        i = self._rr[single] = (self._rr[single] + 1) % len(self.alive)
        return self.alive[i]

    async def _send(self, idx: range) -> None:
        """Submit txs ``idx``: one ListTorii, or one Torii call per tx, all at once.

        The single calls stand for that many independent clients (shop terminals paying
        one QR code each), so they run concurrently, each to the next validator in turn.
        Sent one after another, a chunk of them held its sender for 100 round trips."""
        single = self._next_single()
        now = self.now()
        for i in idx:
            self.rec.sub_t[i] = now
        if not single:
            await self._call("ListTorii", tx_list_body([self.txs[i] for i in idx]), idx, False)
            return
        async with trio.open_nursery() as calls:
            for i in idx:
                calls.start_soon(self._call, "Torii", self.txs[i], range(i, i + 1), True)

    async def _call(self, method: str, body: bytes, idx: range, single: bool) -> None:
        """One call carrying txs ``idx``: retried after a pause while the node is busy,
        moved to the next validator when one goes away; failed when none is left."""
        while True:
            target = self._target(single)
            if target is None:
                self._fail(idx)
                return
            client = self.clients[target]
            try:
                await client.channel.unary_raw(COMMAND_SERVICE + method, body, timeout=30.0)
                return
            except GrpcError as e:
                if e.code == StatusCode.RESOURCE_EXHAUSTED:
                    self.rec.busy += 1
                    await trio.sleep(0.02)
                    continue
                self.rec.send_errors += 1
                self._drop(target)
            except (ConnectionError, OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                self.rec.send_errors += 1
                self._drop(target)

    def _drop(self, target: str) -> None:
        if target in self.alive and target != self.track:
            self.alive.remove(target)
            self.rec.dead_targets.append(target)

    def _fail(self, idx: range) -> None:
        for i in idx:
            if self.rec.status[i] == PENDING:
                self.rec.status[i] = FAILED
                self.finals += 1
        self._finals_moved.set()

    def _on_block(self, block: Any) -> None:
        now = self.now()
        payload = block.block_v1.payload
        ours = 0
        rec = self.rec
        for tx in payload.transactions:
            i = self.index.get(sha3_256(tx.payload.SerializeToString()))
            if i is not None and rec.status[i] == PENDING:
                rec.status[i] = COMMITTED
                rec.fin_t[i] = now
                ours += 1
        rejected = 0
        for hx in payload.rejected_transactions_hashes:
            i = self.index.get(bytes.fromhex(hx))
            if i is not None and rec.status[i] == PENDING:
                rec.status[i] = REJECTED
                rec.fin_t[i] = now
                rejected += 1
        self.finals += ours + rejected
        self.committed += ours
        self._finals_moved.set()
        rec.blocks.append((now, int(payload.height), ours, len(payload.transactions), rejected))

    async def _follow(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        started = False
        while True:
            try:
                async with ToriiClient.connect(self.track) as client:
                    stream = client.fetch_commits(self.blocks_query)
                    if not started:
                        started = True
                        task_status.started()
                    async for resp in stream:
                        if resp.HasField("block_response"):
                            self._on_block(resp.block_response.block)
                        else:
                            self.rec.stream_errors += 1
                            print(
                                json.dumps({"event": "stream_error", "msg": str(resp)[:200]}),
                                flush=True,
                            )
            except (GrpcError, ConnectionError, OSError, trio.BrokenResourceError):
                self.rec.stream_errors += 1
            if not started:
                started = True
                task_status.started()
            await trio.sleep(0.2)

    async def _open_loop(self, nursery: trio.Nursery, rate: float) -> None:
        limiter = trio.CapacityLimiter(self.cfg.max_inflight_rpcs)
        tick = 0.01
        end = self.cfg.duration
        while self.next < len(self.txs):
            now = self.now()
            if now >= end:
                break
            due = min(len(self.txs), int(rate * now)) - self.next
            while due > 0:
                idx = self._take(min(due, self.cfg.batch))
                due -= len(idx)
                await limiter.acquire_on_behalf_of(idx)  # waits only if nodes stall
                nursery.start_soon(self._send_release, idx, limiter)
            await trio.sleep_until(self.t0 + (math.floor(now / tick) + 1) * tick)

    async def _send_release(self, idx: range, limiter: trio.CapacityLimiter) -> None:
        try:
            await self._send(idx)
        finally:
            limiter.release_on_behalf_of(idx)

    async def _closed_sender(self) -> None:
        end = self.t0 + self.cfg.duration
        while self.next < len(self.txs) and trio.current_time() < end:
            if self.outstanding() + self.cfg.batch > self.cfg.window:
                if self._finals_moved.is_set():
                    self._finals_moved = trio.Event()
                with trio.move_on_at(end):
                    await self._finals_moved.wait()
                continue
            await self._send(self._take(self.cfg.batch))

    async def _report(self) -> None:
        while True:
            await trio.sleep(1.0)
            line = {"t": round(self.now(), 2), "submitted": self.next, "committed": self.committed}
            print(json.dumps(line), flush=True)

    async def run(self) -> LoadRecord:
        async with trio.open_nursery() as outer:
            for target in self.cfg.toriis:
                self.clients[target] = await outer.start(_client_task, target)
                self.alive.append(target)
            self.t0 = trio.current_time()
            await outer.start(self._follow)
            self.t0 = trio.current_time()  # submission starts now
            print(json.dumps({"event": "ready", "txs": len(self.txs)}), flush=True)
            outer.start_soon(self._report)
            async with trio.open_nursery() as senders:
                if self.cfg.rate is None:
                    for _ in range(self.cfg.senders * len(self.cfg.toriis)):
                        senders.start_soon(self._closed_sender)
                else:
                    await self._open_loop(senders, self.cfg.rate)
            with trio.move_on_after(self.cfg.drain):
                while self.outstanding() > 0:
                    await trio.sleep(0.05)
            outer.cancel_scope.cancel()
        return self.rec


def tx_list_body(txs: Sequence[bytes]) -> bytes:
    """A serialized TxList of already-serialized txs (field 1, length-delimited)."""
    return b"".join(len_field(1, data) for data in txs)


async def _client_task(target: str, task_status: trio.TaskStatus[ToriiClient]) -> None:
    async with ToriiClient.connect(target, timeout=30.0) as client:
        task_status.started(client)
        await trio.sleep_forever()


def run_load(
    network: dict[str, Any],
    *,
    rate: float | None,
    duration: float,
    accounts: int,
    seed: int,
    batch: int = 100,
    mode: str = "mixed",
    window: int = 8000,
    max_txs: int | None = None,
    drain: float = 10.0,
) -> LoadRecord:
    """Pre-sign, then submit against ``network`` (a devnet's network.json document)."""
    from devnet.admin import admin_key

    scheme = KeyScheme(network.get("key_scheme", "ed25519"))
    count = max_txs or int((rate or 5000) * duration * 1.02) + batch
    data, hashes = prebuild(count, accounts, seed, scheme, int(time.time() * 1000))
    admin = admin_key(network)
    query = builders.build_blocks_query("admin@bakong", int(time.time() * 1000), 1, admin)
    toriis = [v["torii"] for v in network["validators"]]
    cfg = LoadConfig(toriis, rate, duration, batch=batch, mode=mode, window=window, drain=drain)
    gen = LoadGenerator(cfg, data, hashes, query, track=toriis[0])
    return trio.run(gen.run)


def parse_rate(text: str) -> float | None:
    if text == "max":
        return None
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("rate must be positive or 'max'")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network", required=True, help="devnet directory (holds network.json)")
    p.add_argument("--rate", type=parse_rate, default=None, help="tx/s open loop, or max")
    p.add_argument("--duration", type=float, required=True, help="seconds of submission")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--mode", choices=MODES, default="mixed")
    p.add_argument("--window", type=int, default=8000)
    p.add_argument("--max-txs", type=int, default=None)
    p.add_argument("--drain", type=float, default=10.0)
    p.add_argument("--out", required=True, help="raw JSON output")
    args = p.parse_args(argv)
    network = json.loads((Path(args.network) / "network.json").read_text())
    rec = run_load(
        network,
        rate=args.rate,
        duration=args.duration,
        accounts=args.accounts,
        seed=args.seed,
        batch=args.batch,
        mode=args.mode,
        window=args.window,
        max_txs=args.max_txs,
        drain=args.drain,
    )
    Path(args.out).write_text(json.dumps(rec.to_json()))
    print(json.dumps({"event": "done", "offered": rec.offered}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
