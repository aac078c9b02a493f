"""Perturbation runs on a real devnet (``python -m devnet.perturb --manifest M``).

Modelled on CometBFT's e2e testnets: a manifest names the network size, the load and
the perturbations; the runner starts a devnet of real ``bakong-node`` processes, puts
continuous load on it (transfers between many accounts, admin mints/burns, overdrafts
that must fail), perturbs validators on a schedule drawn from ``--seed``, then stops
the network and checks its invariants on every validator's LevelDB:

* **agreement**: identical block hashes at every height, chains linked, equal tops,
  equal world-state digests;
* **acked**: every tx any client saw COMMITTED is committed, at the same height, on
  every validator; no tx hash appears twice; overdrafts never commit;
* **supply**: per asset, the sum of balances equals genesis supply plus the mints minus
  the burns in the chain, and no balance is negative;
* **liveness**: after each perturbation ends the network commits again and the
  perturbed validator is back at the network's height within ``liveness_bound``;
  while load runs, no stall longer than the bound; every submitted tx ends final.

Perturbation kinds: ``kill`` (SIGKILL, start after the hold), ``terminate`` (SIGTERM
graceful stop, start), ``pause`` (SIGSTOP/SIGCONT), ``disconnect`` (the node's fault
switch, SIGUSR1/SIGUSR2), ``wipe`` (stop, delete the data dir, start: resync from
genesis), ``skew`` (restart with ``BAKONG_CLOCK_SKEW_MS``, then restart without).
At most f = (n - 1) // 3 validators are perturbed at once.

Manifest (TOML or JSON; every key is optional, the defaults are shown)::

    name = "short"
    [network]
    validators = 4
    key_scheme = "ed25519"
    [load]
    accounts = 24          # load accounts created and funded by admin@bakong first
    rate = 20.0            # offered tx/s
    chunk = 4              # txs per ListTorii call
    admin_every = 40       # every Nth tx is an admin mint+burn (exercises SUPPLY)
    overdraft_every = 25   # every Nth tx overdraws (must end REJECTED)
    [perturb]
    duration = 60.0        # seconds during which new perturbations start
    kinds = ["kill", "terminate", "pause", "disconnect", "wipe", "skew"]
    hold = [3.0, 6.0]      # seconds a perturbation lasts (uniform range)
    gap = [1.0, 3.0]       # seconds between one perturbation's recovery and the next
    skew_ms = [-2000, 2000]
    concurrency = 1        # perturbations at once, capped at f
    [checks]
    liveness_bound = 20.0  # network commits again / perturbed node caught up
    resync_bound = 120.0   # a wiped node replays the whole chain within this
    warmup = 3.0
    settle = 5.0
    drain_timeout = 60.0

The first ``len(kinds)`` perturbations of each slot are a seeded permutation of
``kinds`` and always run, so a short manifest covers every kind once.

The validators run the code of the working tree, and are restarted during the run: on a
tree that others edit meanwhile, run from a snapshot so a half-written change cannot
crash a restarted validator::

    git archive HEAD | tar -x -C /tmp/snap && cd /tmp/snap && \
        PYTHONPATH=/tmp/snap python -m devnet.perturb --manifest devnet/manifests/long.toml

Exit codes: 0 all checks passed, 1 a check failed (the output names it and prints the
command that reproduces the run), 2 bad usage or manifest.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from devnet import procs
from devnet.admin import admin_key, now_ms
from devnet.network import DevnetError, load_network, port_free
from devnet.status import fetch_status
from node.client import builders
from node.client.channel import GrpcError, StatusCode
from node.client.torii import FINAL_STATUSES, ToriiClient
from node.crypto import KeyPair, KeyScheme, sha3_256
from node.model import Tx, block_hash
from node.proto.iroha import block_pb2, endpoint_pb2
from node.state import keys as K
from node.state.amount import to_units
from node.state.ledger import state_digest
from node.state.records import TxRecord
from node.storage.leveldb import LevelDBStore

KINDS = ("kill", "terminate", "pause", "disconnect", "wipe", "skew")
LOAD_DOMAINS = ("aclb", "abaa", "wing")
ASSETS = {"usd#bakong": 2, "khr#bakong": 0}
FUND = {"usd#bakong": 1_000_000, "khr#bakong": 10_000_000}  # units per load account
SETUP_PER_TX = 100  # accounts created per admin setup tx
RESEND_AFTER_S = 8.0  # a tx not final after this long is sent again to another validator
MAX_SENDS = 8
RPC_TIMEOUT_S = 5.0
QUIESCE_TIMEOUT_S = 45.0
PROGRESS_EVERY_S = 5.0

COMMITTED = endpoint_pb2.COMMITTED
REJECTED = endpoint_pb2.REJECTED


class ManifestError(Exception):
    """The manifest is malformed; the message names the key."""


@dataclass(frozen=True)
class Manifest:
    name: str = "unnamed"
    validators: int = 4
    key_scheme: str = "ed25519"
    accounts: int = 24
    rate: float = 20.0
    chunk: int = 4
    admin_every: int = 40
    overdraft_every: int = 25
    duration: float = 60.0
    kinds: tuple[str, ...] = KINDS
    hold: tuple[float, float] = (3.0, 6.0)
    gap: tuple[float, float] = (1.0, 3.0)
    skew_ms: tuple[int, int] = (-2000, 2000)
    concurrency: int = 1
    liveness_bound: float = 20.0
    resync_bound: float = 120.0
    warmup: float = 3.0
    settle: float = 5.0
    drain_timeout: float = 60.0

    @property
    def f(self) -> int:
        return (self.validators - 1) // 3

    @property
    def slots(self) -> int:
        return max(0, min(self.concurrency, self.f))


_SECTIONS = {
    "network": ("validators", "key_scheme"),
    "load": ("accounts", "rate", "chunk", "admin_every", "overdraft_every"),
    "perturb": ("duration", "kinds", "hold", "gap", "skew_ms", "concurrency"),
    "checks": ("liveness_bound", "resync_bound", "warmup", "settle", "drain_timeout"),
}


def parse_manifest(doc: dict[str, Any], default_name: str = "unnamed") -> Manifest:
    """A Manifest from a parsed TOML/JSON document; unknown keys are errors."""
    base = Manifest(name=str(doc.get("name", default_name)))
    values: dict[str, Any] = {}
    unknown = set(doc) - set(_SECTIONS) - {"name"}
    if unknown:
        raise ManifestError(f"unknown top-level key(s): {', '.join(sorted(unknown))}")
    for section, names in _SECTIONS.items():
        table = doc.get(section, {})
        if not isinstance(table, dict):
            raise ManifestError(f"[{section}] must be a table")
        bad = set(table) - set(names)
        if bad:
            raise ManifestError(f"[{section}]: unknown key(s) {', '.join(sorted(bad))}")
        for key, value in table.items():
            default = getattr(base, key)
            try:
                if isinstance(default, tuple):
                    if not isinstance(value, list) or (
                        key != "kinds" and len(value) != len(default)
                    ):
                        raise TypeError
                    conv = str if key == "kinds" else type(default[0])
                    values[key] = tuple(conv(v) for v in value)
                elif isinstance(default, bool) or not isinstance(value, (int, float, str)):
                    raise TypeError
                else:
                    values[key] = type(default)(value)
            except (TypeError, ValueError):
                raise ManifestError(f"[{section}] {key} = {value!r} has the wrong type") from None
    m = dataclasses.replace(base, **values)
    bad_kinds = set(m.kinds) - set(KINDS)
    if bad_kinds or not m.kinds:
        raise ManifestError(f"[perturb] kinds: unknown {sorted(bad_kinds)}; known {list(KINDS)}")
    if m.validators < 1 or m.accounts < 2 or m.rate <= 0 or m.chunk < 1:
        raise ManifestError("validators >= 1, accounts >= 2, rate > 0 and chunk >= 1 required")
    if m.hold[0] > m.hold[1] or m.gap[0] > m.gap[1] or m.skew_ms[0] > m.skew_ms[1]:
        raise ManifestError("ranges must be [low, high]")
    try:
        KeyScheme(m.key_scheme)
    except ValueError:
        raise ManifestError(f"[network] key_scheme {m.key_scheme!r} is unknown") from None
    return m


def load_manifest(path: Path) -> Manifest:
    try:
        text = path.read_text()
    except OSError as e:
        raise ManifestError(f"cannot read {path}: {e}") from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ManifestError(f"{path}: {e}") from None
    return parse_manifest(doc, default_name=path.stem)


# ------------------------------------------------------------------------ schedule


@dataclass(frozen=True)
class Step:
    kind: str
    target: int  # validator index
    hold: float
    gap: float
    skew_ms: int = 0


def plan(m: Manifest, seed: int, length: int = 400) -> list[list[Step]]:
    """Per slot, the perturbations in order. Slot s perturbs validators i with i % slots == s,
    so slots never touch the same validator and at most ``slots <= f`` are down at once."""
    rng = random.Random(seed)
    out: list[list[Step]] = []
    for s in range(m.slots):
        targets = [i for i in range(m.validators) if i % m.slots == s]
        kinds = list(m.kinds)
        rng.shuffle(kinds)
        steps = []
        for k in range(length):
            kind = kinds[k] if k < len(kinds) else rng.choice(m.kinds)
            skew = rng.randint(*m.skew_ms) if kind == "skew" else 0
            if kind == "skew" and abs(skew) < 500:  # a skew worth the name
                skew = 500 if skew >= 0 else -500
            steps.append(
                Step(
                    kind=kind,
                    target=rng.choice(targets),
                    hold=round(rng.uniform(*m.hold), 2),
                    gap=round(rng.uniform(*m.gap), 2),
                    skew_ms=skew,
                )
            )
        out.append(steps)
    return out


# ------------------------------------------------------------------------ load


def load_account(i: int) -> str:
    return f"pt{i:04d}@{LOAD_DOMAINS[i % len(LOAD_DOMAINS)]}"


def load_key(seed: int, i: int, scheme: KeyScheme) -> KeyPair:
    return KeyPair.from_seed(sha3_256(f"perturb-{seed}-{i}".encode()), scheme)


@dataclass
class Track:
    """One submitted tx as the clients saw it."""

    tx: Tx
    kind: str  # transfer / admin / overdraft / setup
    first_sent: float
    last_sent: float = 0.0
    sends: int = 0
    accepted: bool = False  # some validator answered the submission OK
    final: int | None = None
    final_from: str = ""
    last_status: int | None = None


@dataclass
class Perturbation:
    step: Step
    name: str
    started: float
    ended: float = 0.0
    recovered_s: float | None = None
    note: str = ""


@dataclass
class Results:
    failures: list[str] = field(default_factory=list)
    perturbations: list[Perturbation] = field(default_factory=list)
    max_stall_s: float = 0.0
    busy_answers: int = 0
    send_errors: int = 0
    final_height: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)  # client-side I/O errors
    checks: dict[str, str] = field(default_factory=dict)


class Runner:
    def __init__(self, manifest: Manifest, root: Path, seed: int, base_port: int) -> None:
        self.m = manifest
        self.root = root
        self.seed = seed
        self.base_port = base_port
        self.scheme = KeyScheme(manifest.key_scheme)
        self.rng = random.Random(seed ^ 0x5EED)  # load choices, separate from the schedule
        self.res = Results()
        self.tracks: dict[bytes, Track] = {}
        self.doc: dict[str, Any] = {}
        self.names: list[str] = []
        self.status: dict[str, dict[str, Any] | None] = {}
        self.perturbed: set[int] = set()
        self.load_on = False
        self.phase = "setup"
        self.t0 = time.monotonic()
        self.last_advance = time.monotonic()
        self.top_seen = 0
        self.counter = 0
        self._env_lock = threading.Lock()
        self._keys: dict[int, KeyPair] = {}

    # --------------------------------------------------------------- helpers

    def log(self, msg: str) -> None:
        print(f"[{time.monotonic() - self.t0:7.1f}s] {msg}", flush=True)

    def fail(self, msg: str) -> None:
        self.res.failures.append(msg)
        self.log(f"FAIL: {msg}")

    def node_dir(self, i: int) -> Path:
        return self.root / self.names[i]

    def height(self, i: int) -> int | None:
        st = self.status.get(self.names[i])
        return None if st is None else int(st.get("height", 0))

    def healthy(self) -> list[int]:
        """Validators that answer /status and are not being perturbed."""
        return [
            i
            for i in range(len(self.names))
            if self.status.get(self.names[i]) is not None and i not in self.perturbed
        ]

    def start_node(self, i: int, skew_ms: int = 0) -> None:
        v = self.doc["validators"][i]
        with self._env_lock:  # the child inherits os.environ: set the skew only around Popen
            if skew_ms:
                os.environ["BAKONG_CLOCK_SKEW_MS"] = str(skew_ms)
            try:
                procs.start(self.node_dir(i), Path(v["config"]))
            finally:
                os.environ.pop("BAKONG_CLOCK_SKEW_MS", None)

    # --------------------------------------------------------------- lifecycle

    def up(self) -> None:
        cmd = [sys.executable, "-m", "devnet", "up", "--dir", str(self.root)]
        cmd += ["--validators", str(self.m.validators), "--base-port", str(self.base_port)]
        cmd += ["--detach", "--key-scheme", self.m.key_scheme]
        env = {k: v for k, v in os.environ.items() if k != "BAKONG_CLOCK_SKEW_MS"}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
        if proc.returncode != 0:
            raise DevnetError(f"devnet up failed ({proc.returncode}): {proc.stderr.strip()}")
        self.doc = load_network(self.root)
        self.names = [v["name"] for v in self.doc["validators"]]
        self.log(f"devnet up: {len(self.names)} validators in {self.root}")

    def down(self) -> None:
        if not self.names:  # `up` failed before network.json was read
            with contextlib.suppress(DevnetError):
                self.names = [v["name"] for v in load_network(self.root)["validators"]]
        for i in range(len(self.names)):
            procs.send(self.node_dir(i), signal.SIGCONT)
            procs.send(self.node_dir(i), signal.SIGTERM)
        for i in range(len(self.names)):
            if not procs.stop(self.node_dir(i), timeout=15.0):
                self.fail(f"{self.names[i]} did not stop")

    def run(self) -> bool:
        try:
            self.up()
            trio.run(self._network_phase)
        finally:
            self.down()
        self.log("network stopped; checking every validator's ledger")
        self.offline_checks()
        return not self.res.failures

    async def _network_phase(self) -> None:
        async with trio.open_nursery() as n:
            n.start_soon(self._monitor)
            await self._setup_accounts()
            self.load_on = True
            self.phase = "warmup"
            n.start_soon(self._load)
            n.start_soon(self._tracker)
            await trio.sleep(self.m.warmup)
            self.phase = "perturb"
            async with trio.open_nursery() as slots:
                for steps in plan(self.m, self.seed):
                    slots.start_soon(self._slot, steps)
            self.phase = "settle"
            self.log(f"perturbations over; {self.m.settle:.0f}s more load")
            await trio.sleep(self.m.settle)
            self.load_on = False
            self.phase = "drain"
            await self._drain()
            self.phase = "quiesce"
            await self._quiesce()
            n.cancel_scope.cancel()

    # --------------------------------------------------------------- monitor

    async def _monitor(self) -> None:
        last_print = 0.0
        while True:
            addrs = [v["metrics"] for v in self.doc["validators"]]
            async with trio.open_nursery() as n:
                for name, addr in zip(self.names, addrs, strict=True):
                    n.start_soon(self._poll_one, name, addr)
            heights = [h for i in range(len(self.names)) if (h := self.height(i)) is not None]
            now = time.monotonic()
            top = max(heights, default=0)
            if top > self.top_seen:
                self.top_seen = top
                self.last_advance = now
            elif self.load_on:
                self.res.max_stall_s = max(self.res.max_stall_s, now - self.last_advance)
            else:
                self.last_advance = now
            if now - last_print >= PROGRESS_EVERY_S:
                last_print = now
                self.log(self._progress())
            await trio.sleep(0.5)

    async def _poll_one(self, name: str, addr: str) -> None:
        self.status[name] = await trio.to_thread.run_sync(fetch_status, addr, 0.8)

    def _progress(self) -> str:
        hs = " ".join(
            f"{n}={'-' if (h := self.height(i)) is None else h}" for i, n in enumerate(self.names)
        )
        tr = self.tracks.values()
        done = sum(1 for t in tr if t.final == COMMITTED)
        pending = sum(1 for t in tr if t.final is None)
        pert = ", ".join(f"{self.names[i]}" for i in sorted(self.perturbed)) or "none"
        return (
            f"{self.phase:<8} heights {hs} | sent {len(self.tracks)} committed {done} "
            f"pending {pending} | perturbed: {pert} | max stall {self.res.max_stall_s:.1f}s"
        )

    # --------------------------------------------------------------- load

    def _key(self, i: int) -> KeyPair:
        kp = self._keys.get(i)
        if kp is None:
            kp = self._keys[i] = load_key(self.seed, i, self.scheme)
        return kp

    async def _setup_accounts(self) -> None:
        admin = admin_key(self.doc)
        txs = []
        for start in range(0, self.m.accounts, SETUP_PER_TX):
            ids = range(start, min(self.m.accounts, start + SETUP_PER_TX))
            cmds = [
                builders.add_asset_quantity(a, _fmt(FUND[a] * len(ids), ASSETS[a])) for a in FUND
            ]
            for i in ids:
                name, _, domain = load_account(i).partition("@")
                cmds.append(builders.create_account(name, domain, self._key(i).public_key))
                for a in FUND:
                    cmds.append(
                        builders.transfer_asset(
                            "admin@bakong", load_account(i), a, _fmt(FUND[a], ASSETS[a])
                        )
                    )
            tx = builders.build_tx("admin@bakong", cmds, now_ms() + start)
            txs.append(builders.sign_tx(tx, admin))
        async with ToriiClient.connect(self.doc["validators"][0]["torii"]) as c:
            await c.send_txs(txs)
            for tx in txs:
                r = await c.wait_final(tx.hash, 60.0)
                if r.tx_status != COMMITTED:
                    raise DevnetError(
                        f"setup tx ended {endpoint_pb2.TxStatus.Name(r.tx_status)}: "
                        f"{r.err_or_cmd_name} (code {r.error_code})"
                    )
        self.log(f"{self.m.accounts} load accounts created and funded")

    def _next_tx(self) -> tuple[Tx, str]:
        self.counter += 1
        k = self.counter
        rng = self.rng
        tag = f"p{self.seed}.{k}"
        if self.m.admin_every and k % self.m.admin_every == 0:
            asset = rng.choice(list(ASSETS))
            mint = rng.randint(1, 100_000)
            burn = rng.randint(0, mint)
            cmds = [
                builders.add_asset_quantity(asset, _fmt(mint, ASSETS[asset]), tag),
                builders.subtract_asset_quantity(asset, _fmt(burn, ASSETS[asset]), tag),
            ]
            tx = builders.build_tx("admin@bakong", cmds, now_ms())
            return builders.sign_tx(tx, admin_key(self.doc)), "admin"
        src = rng.randrange(self.m.accounts)
        dst = (src + rng.randrange(1, self.m.accounts)) % self.m.accounts
        asset = rng.choice(list(ASSETS))
        if self.m.overdraft_every and k % self.m.overdraft_every == 0:
            amount, kind = 10**15, "overdraft"  # more than exists: stateful failure
        else:
            amount, kind = rng.randint(1, 500), "transfer"
        cmd = builders.transfer_asset(
            load_account(src), load_account(dst), asset, _fmt(amount, ASSETS[asset]), tag
        )
        tx = builders.build_tx(load_account(src), [cmd], now_ms())
        return builders.sign_tx(tx, self._key(src)), kind

    async def _load(self) -> None:
        interval = self.m.chunk / self.m.rate
        next_t = trio.current_time()
        async with trio.open_nursery() as n:
            while self.load_on:
                targets = self.healthy()
                if targets:
                    batch = []
                    for _ in range(self.m.chunk):
                        tx, kind = self._next_tx()
                        now = time.monotonic()
                        self.tracks[tx.hash] = Track(tx, kind, first_sent=now)
                        batch.append(self.tracks[tx.hash])
                    n.start_soon(self._send, self.rng.choice(targets), batch)
                next_t += interval
                now_t = trio.current_time()
                if next_t < now_t - 1.0:  # fell behind (CPU starved): do not burst
                    next_t = now_t
                await trio.sleep_until(next_t)

    async def _send(self, i: int, batch: list[Track]) -> None:
        now = time.monotonic()
        for t in batch:
            t.last_sent, t.sends = now, t.sends + 1
        torii = self.doc["validators"][i]["torii"]
        with trio.move_on_after(RPC_TIMEOUT_S + 2):
            try:
                async with ToriiClient.connect(
                    torii, connect_timeout=2.0, timeout=RPC_TIMEOUT_S
                ) as c:
                    await c.send_txs([t.tx for t in batch])
                for t in batch:
                    t.accepted = True
                return
            except GrpcError as e:
                if e.code == StatusCode.RESOURCE_EXHAUSTED:
                    self.res.busy_answers += 1
                else:
                    self.res.send_errors += 1
            except Exception as e:  # any I/O failure of a perturbed validator: resent later
                self.res.send_errors += 1
                self.res.error_kinds[type(e).__name__] += 1
        # not accepted: the tracker resends after RESEND_AFTER_S

    # --------------------------------------------------------------- tracking

    async def _tracker(self) -> None:
        while True:
            await trio.sleep(1.0)
            await self._sweep()

    async def _sweep(self) -> None:
        pending = [t for t in self.tracks.values() if t.final is None]
        targets = self.healthy()
        if not pending or not targets:
            return
        i = self.rng.choice(targets)
        name = self.names[i]
        limiter = trio.CapacityLimiter(16)

        async def one(c: ToriiClient, t: Track) -> None:
            async with limiter:
                try:
                    r = await c.status(t.tx.hash)
                except Exception as e:  # the validator went away mid-sweep: ask again next sweep
                    self.res.error_kinds[type(e).__name__] += 1
                    return
            t.last_status = r.tx_status
            if r.tx_status in FINAL_STATUSES:
                t.final, t.final_from = r.tx_status, name

        with trio.move_on_after(10.0):
            try:
                async with (
                    ToriiClient.connect(
                        self.doc["validators"][i]["torii"],
                        connect_timeout=2.0,
                        timeout=RPC_TIMEOUT_S,
                    ) as c,
                    trio.open_nursery() as n,
                ):
                    for t in pending:
                        n.start_soon(one, c, t)
            except Exception as e:  # cannot connect: another validator next sweep
                self.res.error_kinds[type(e).__name__] += 1
        now = time.monotonic()
        stale = [
            t
            for t in pending
            if t.final is None and now - t.last_sent > RESEND_AFTER_S and t.sends < MAX_SENDS
        ]
        if stale and (targets := self.healthy()):
            async with trio.open_nursery() as n:
                for k in range(0, len(stale), 50):
                    n.start_soon(self._send, self.rng.choice(targets), stale[k : k + 50])

    async def _drain(self) -> None:
        self.log("load stopped; waiting for every submitted tx to be final")
        with trio.move_on_after(self.m.drain_timeout):
            while any(t.final is None for t in self.tracks.values()):
                await trio.sleep(0.5)
        open_ = [t for t in self.tracks.values() if t.final is None]
        if open_:
            names = Counter(
                "never sent OK" if not t.accepted else _status_name(t.last_status) for t in open_
            )
            sample = ", ".join(t.tx.hash_hex[:16] for t in open_[:5])
            self.fail(
                f"{len(open_)} tx(s) not final {self.m.drain_timeout:.0f}s after the load "
                f"stopped ({dict(names)}); e.g. {sample}"
            )

    async def _quiesce(self) -> None:
        """Until every validator answers with the same height twice in a row."""
        deadline = trio.current_time() + QUIESCE_TIMEOUT_S
        prev: list[int | None] = []
        while trio.current_time() < deadline:
            hs = [self.height(i) for i in range(len(self.names))]
            if None not in hs and len(set(hs)) == 1 and hs == prev:
                self.res.final_height = int(hs[0] or 0)
                self.log(f"all validators at height {self.res.final_height}")
                return
            prev = hs
            await trio.sleep(1.0)
        self.fail(
            f"validators did not converge within {QUIESCE_TIMEOUT_S:.0f}s: {self._progress()}"
        )

    # --------------------------------------------------------------- perturbations

    async def _slot(self, steps: list[Step]) -> None:
        start = time.monotonic()
        for k, step in enumerate(steps):
            first_round = k < len(self.m.kinds)
            if not first_round and time.monotonic() - start >= self.m.duration:
                return
            ok = await self._perturb(step)
            if not ok:
                self.log("network did not recover; no further perturbations")
                return
            await trio.sleep(step.gap)

    async def _perturb(self, step: Step) -> bool:
        i, name = step.target, self.names[step.target]
        nd = self.node_dir(i)
        p = Perturbation(step, name, started=time.monotonic())
        self.res.perturbations.append(p)
        self.perturbed.add(i)
        desc = f"{step.kind} {name} for {step.hold:.1f}s"
        if step.kind == "skew":
            desc += f" (clock {step.skew_ms:+d} ms)"
        self.log(f"perturb #{len(self.res.perturbations)}: {desc}")
        run = trio.to_thread.run_sync
        if step.kind == "kill":
            await run(procs.send, nd, signal.SIGKILL)
            await run(procs.wait_dead, nd, 5.0)
            await trio.sleep(step.hold)
            await run(self.start_node, i)
        elif step.kind == "terminate":
            await run(procs.stop, nd, 10.0)
            await trio.sleep(step.hold)
            await run(self.start_node, i)
        elif step.kind == "pause":
            await run(procs.send, nd, signal.SIGSTOP)
            await trio.sleep(step.hold)
            await run(procs.send, nd, signal.SIGCONT)
        elif step.kind == "disconnect":
            await run(procs.send, nd, signal.SIGUSR1)
            await trio.sleep(step.hold)
            await run(procs.send, nd, signal.SIGUSR2)
        elif step.kind == "wipe":
            await run(procs.stop, nd, 10.0)
            await run(shutil.rmtree, self.doc["validators"][i]["data_dir"], True)
            await trio.sleep(step.hold)
            await run(self.start_node, i)
        elif step.kind == "skew":
            await run(procs.stop, nd, 10.0)
            await run(self.start_node, i, step.skew_ms)
            await trio.sleep(step.hold)
            # the skewed node must have taken part: it is back at the network's height
            await run(procs.stop, nd, 10.0)
            await run(self.start_node, i)
        p.ended = time.monotonic()
        return await self._await_recovery(p)

    async def _await_recovery(self, p: Perturbation) -> bool:
        """The network commits again within ``liveness_bound`` and the perturbed validator
        reaches the network's height within ``liveness_bound`` (``resync_bound`` after a
        wipe: it replays the whole chain through block sync)."""
        i = p.step.target
        others = [j for j in range(len(self.names)) if j != i]
        net_at_end = max((self.height(j) or 0) for j in others)
        bound = self.m.resync_bound if p.step.kind == "wipe" else self.m.liveness_bound
        net_ok = False
        problem = ""
        while True:
            await trio.sleep(0.25)
            elapsed = time.monotonic() - p.ended
            top = max(self.height(j) or 0 for j in others)
            mine = self.height(i)
            net_ok = net_ok or top > net_at_end
            if net_ok and mine is not None and mine >= net_at_end and mine >= top - 1:
                p.recovered_s = elapsed
                self.perturbed.discard(i)
                rate = f", {mine / elapsed:.0f} blocks/s resync" if p.step.kind == "wipe" else ""
                self.log(f"  {p.name} back at height {mine} after {elapsed:.1f}s{rate}")
                return True
            if not net_ok and elapsed > self.m.liveness_bound:
                problem = f"the network committed nothing within {self.m.liveness_bound:.0f}s"
                break
            if elapsed > bound:
                problem = f"{p.name} did not reach the network's height within {bound:.0f}s"
                break
        state, _ = procs.node_state(self.node_dir(i))
        self.fail(
            f"liveness: after {p.step.kind} of {p.name} (#{len(self.res.perturbations)}) "
            f"{problem} (network height at end {net_at_end}; now {self._progress()}; "
            f"{p.name} process {state}; log {procs.log_file(self.node_dir(i))})"
        )
        # give it a further chance so the later checks still run on a whole network
        with trio.move_on_after(60.0):
            while (self.height(i) or 0) < max((self.height(j) or 0) for j in others) - 1:
                await trio.sleep(0.5)
        self.perturbed.discard(i)
        return False

    # --------------------------------------------------------------- checks

    def offline_checks(self) -> None:
        ledgers = {}
        for i, name in enumerate(self.names):
            path = os.path.join(self.doc["validators"][i]["data_dir"], "ledger")
            try:
                ledgers[name] = read_ledger(path)
            except Exception as e:
                self.fail(f"{name}: cannot read its ledger at {path}: {type(e).__name__}: {e}")
        if not ledgers:
            return
        self._check_agreement(ledgers)
        self._check_acked(ledgers)
        self._check_supply(ledgers)
        self._check_logs()
        if self.res.max_stall_s > self.m.liveness_bound:
            self.fail(
                f"liveness: no block for {self.res.max_stall_s:.1f}s while load ran "
                f"(bound {self.m.liveness_bound:.0f}s)"
            )
        unrecovered = [p for p in self.res.perturbations if p.recovered_s is None]
        self.res.checks["liveness"] = (
            f"max stall {self.res.max_stall_s:.1f}s, "
            f"{len(self.res.perturbations) - len(unrecovered)}/{len(self.res.perturbations)} "
            "perturbations recovered within the bound"
        )

    def _check_logs(self) -> None:
        """A traceback or an error line in a validator's log is a bug even if nothing broke."""
        bad = 0
        for i in range(len(self.names)):
            log = procs.log_file(self.node_dir(i))
            try:
                lines = log.read_text(errors="replace").splitlines()
            except OSError:
                continue
            hits = [ln for ln in lines if "Traceback" in ln or "level=error" in ln]
            if hits:
                bad += 1
                self.fail(f"logs: {log} has {len(hits)} error/traceback line(s): {hits[0][:200]}")
        self.res.checks["logs"] = "no errors or tracebacks in node logs" if not bad else "FAILED"

    def _check_agreement(self, ledgers: dict[str, LedgerView]) -> None:
        before = len(self.res.failures)
        ref_name, ref = next(iter(ledgers.items()))
        for name, led in ledgers.items():
            for problem in led.problems:
                self.fail(f"agreement: {name}: {problem}")
            if led.height != ref.height:
                self.fail(f"agreement: {name} ends at height {led.height}, {ref_name} {ref.height}")
            for h in range(1, min(led.height, ref.height) + 1):
                if led.hashes[h - 1] != ref.hashes[h - 1]:
                    self.fail(
                        f"agreement: block {h} differs: {name} {led.hashes[h - 1].hex()[:16]} vs "
                        f"{ref_name} {ref.hashes[h - 1].hex()[:16]}"
                    )
                    break
            if led.height == ref.height and led.state != ref.state:
                self.fail(f"agreement: {name}'s world-state digest differs from {ref_name}'s")
        ok = len(self.res.failures) == before
        self.res.checks["agreement"] = (
            f"{len(ledgers)} validators, identical {ref.height} blocks and world state"
            if ok
            else "FAILED"
        )

    def _check_acked(self, ledgers: dict[str, LedgerView]) -> None:
        before = len(self.res.failures)
        committed = [t for t in self.tracks.values() if t.final == COMMITTED]
        for name, led in ledgers.items():
            missing = [t for t in committed if t.tx.hash not in led.tx_height]
            if missing:
                self.fail(
                    f"acked: {len(missing)} tx(s) seen COMMITTED are not in {name}'s chain, e.g. "
                    f"{missing[0].tx.hash_hex} (reported by {missing[0].final_from})"
                )
            for t in committed:
                rec = led.record(t.tx.hash)
                h = led.tx_height.get(t.tx.hash)
                if rec is None or not rec.committed or rec.height != h:
                    self.fail(f"acked: {name}'s tx index disagrees for {t.tx.hash_hex}: {rec}")
                    break
            if led.duplicates:
                self.fail(f"acked: {name} holds {led.duplicates} tx hash(es) twice")
        for t in self.tracks.values():
            expect = REJECTED if t.kind == "overdraft" else COMMITTED
            if t.final is not None and t.final != expect:
                self.fail(
                    f"outcome: {t.kind} tx {t.tx.hash_hex} ended {_status_name(t.final)} "
                    f"(by {t.final_from}); expected {_status_name(expect)}"
                )
                break
        ok = len(self.res.failures) == before
        self.res.checks["acked"] = (
            f"{len(committed)} client-seen COMMITTED txs present on every validator"
            if ok
            else "FAILED"
        )

    def _check_supply(self, ledgers: dict[str, LedgerView]) -> None:
        before = len(self.res.failures)
        summary = ""
        for name, led in ledgers.items():
            for asset, minted in led.minted.items():
                held = led.supply.get(asset, 0)
                if held != minted:
                    self.fail(
                        f"supply: {name} {asset}: balances sum to {held} units, chain mints minus "
                        f"burns give {minted}"
                    )
            if led.negative:
                self.fail(f"supply: {name} has negative balances: {led.negative[:3]}")
            summary = ", ".join(f"{a} {u}" for a, u in sorted(led.supply.items()))
        ok = len(self.res.failures) == before
        self.res.checks["supply"] = (
            f"sum of balances = genesis + mints - burns ({summary})" if ok else "FAILED"
        )

    # --------------------------------------------------------------- report

    def summary(self, command: str) -> str:
        kinds = Counter(p.step.kind for p in self.res.perturbations)
        rec = [p.recovered_s for p in self.res.perturbations if p.recovered_s is not None]
        finals = Counter(
            (t.kind, _status_name(t.final)) for t in self.tracks.values() if t.kind != "setup"
        )
        committed = sum(n for (_, s), n in finals.items() if s == "COMMITTED")
        lines = [
            "=" * 72,
            f"perturbation run '{self.m.name}' seed {self.seed}: "
            + ("PASSED" if not self.res.failures else f"FAILED ({len(self.res.failures)})"),
            f"  validators {self.m.validators} (f={self.m.f}), final height "
            f"{self.res.final_height}, {time.monotonic() - self.t0:.0f}s wall",
            f"  perturbations {len(self.res.perturbations)}: "
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())),
            f"  recovery: max {max(rec, default=0):.1f}s, mean "
            f"{(sum(rec) / len(rec)) if rec else 0:.1f}s; max stall under load "
            f"{self.res.max_stall_s:.1f}s",
            f"  txs submitted {len(self.tracks)}, committed {committed}; outcomes "
            + ", ".join(f"{k}:{s} {n}" for (k, s), n in sorted(finals.items())),
            f"  busy answers {self.res.busy_answers}, failed submissions {self.res.send_errors}; "
            f"client I/O errors {dict(self.res.error_kinds) or 'none'}",
        ]
        for name, text in self.res.checks.items():
            lines.append(f"  check {name}: {text}")
        for f in self.res.failures:
            lines.append(f"  FAIL {f}")
        if self.res.failures:
            lines.append(f"  logs: {self.root}/<validator>/node.log")
            lines.append(f"  reproduce: {command}")
        return "\n".join(lines)


def _fmt(units: int, precision: int) -> str:
    if precision == 0:
        return str(units)
    s = str(units).rjust(precision + 1, "0")
    return f"{s[:-precision]}.{s[-precision:]}"


def _status_name(status: int | None) -> str:
    return "none" if status is None else endpoint_pb2.TxStatus.Name(status)


# ------------------------------------------------------------------------ ledger reading


@dataclass
class LedgerView:
    """What the checks need from one stopped validator's LevelDB."""

    height: int
    hashes: list[bytes]
    state: bytes
    tx_height: dict[bytes, int]
    duplicates: int
    minted: dict[str, int]  # chain-derived: sum of AddAssetQuantity - SubtractAssetQuantity
    supply: dict[str, int]  # sum of balances
    negative: list[str]
    problems: list[str]
    records: dict[bytes, TxRecord | None] = field(default_factory=dict)
    rejected: dict[bytes, int] = field(default_factory=dict)  # hash -> height listed rejected

    def record(self, tx_hash: bytes) -> TxRecord | None:
        return self.records.get(tx_hash)


def read_ledger(data_dir: str) -> LedgerView:
    """Read blocks, tx index, balances of a (stopped) validator's store, checking links."""
    store = LevelDBStore(data_dir, create_if_missing=False)
    try:
        precision: dict[str, int] = {}
        for key, value in store.iterate(K.ASSET):
            precision[key[len(K.ASSET) :].decode()] = int(value)
        hashes: list[bytes] = []
        tx_height: dict[bytes, int] = {}
        rejected: dict[bytes, int] = {}
        minted: Counter[str] = Counter()
        problems: list[str] = []
        duplicates = 0
        prev = bytes(32)
        for key, raw in store.iterate(K.BLOCK):
            height = int(key[len(K.BLOCK) :])
            b = block_pb2.Block.FromString(raw).block_v1
            if height != len(hashes) + 1 or b.payload.height != height:
                problems.append(f"block key {height} holds height {b.payload.height}")
            if bytes.fromhex(b.payload.prev_block_hash) != prev:
                problems.append(f"block {height} does not link to block {height - 1}")
            prev = block_hash(b)
            hashes.append(prev)
            for rh in b.payload.rejected_transactions_hashes:
                rejected[bytes.fromhex(rh)] = height
            for pb in b.payload.transactions:
                tx = Tx(pb)
                if tx.hash in tx_height:
                    duplicates += 1
                tx_height[tx.hash] = height
                for cmd in pb.payload.reduced_payload.commands:
                    which = cmd.WhichOneof("command")
                    if which in ("add_asset_quantity", "subtract_asset_quantity"):
                        c = getattr(cmd, which)
                        units = to_units(c.amount, precision.get(c.asset_id, 0)) or 0
                        minted[c.asset_id] += units if which == "add_asset_quantity" else -units
        top = store.get(K.TOP)
        if top is None or int(top.decode().partition("#")[0]) != len(hashes):
            problems.append(f"state marker {top!r} is not at the last block {len(hashes)}")
        supply: Counter[str] = Counter()
        negative = []
        for key, value in store.iterate(K.BALANCE):
            account, _, asset = key[len(K.BALANCE) :].decode().partition("/")
            units = int(value)
            supply[asset] += units
            if units < 0:
                negative.append(f"{account} {asset} {units}")
        records: dict[bytes, TxRecord | None] = {}
        legacy = K.legacy_layout(store)
        for h in tx_height:
            rec = store.get(K.tx_key(h, legacy))
            records[h] = None if rec is None else TxRecord.decode(rec)
        snap = store.snapshot()
        try:
            state = state_digest(snap)
        finally:
            snap.close()
        return LedgerView(
            height=len(hashes),
            hashes=hashes,
            state=state,
            tx_height=tx_height,
            duplicates=duplicates,
            minted=dict(minted),
            supply=dict(supply),
            negative=negative,
            problems=problems,
            records=records,
            rejected=rejected,
        )
    finally:
        store.close()


# ------------------------------------------------------------------------ CLI


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def free_base_port(n: int) -> int:
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 40000, 10)
        if all(port_free(base + d * 100 + i) for d in range(3) for i in range(n + 1)):
            return base
    raise DevnetError("no free port range found")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m devnet.perturb",
        description="Run a devnet under load and seeded perturbations, then check invariants.",
    )
    p.add_argument("--manifest", required=True, help="TOML or JSON manifest")
    p.add_argument("--dir", help="devnet directory (new or empty); default a temporary one")
    p.add_argument("--duration", type=float, help="override [perturb] duration (seconds)")
    p.add_argument("--seed", type=int, help="schedule and load seed; default random")
    p.add_argument("--base-port", type=int, help="default: a free range")
    p.add_argument("--keep", action="store_true", help="keep the temporary dir on success")
    args = p.parse_args(argv)
    try:
        m = load_manifest(Path(args.manifest))
        if args.duration is not None:
            m = dataclasses.replace(m, duration=args.duration)
        seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
        if args.dir:
            root = Path(args.dir).resolve()
            if root.exists() and any(root.iterdir()):
                raise DevnetError(f"{root} is not empty; give a new directory")
            temp = False
        else:
            root = Path(tempfile.mkdtemp(prefix=f"perturb-{m.name}-"))
            temp = True
        base = args.base_port or free_base_port(m.validators)
    except (ManifestError, DevnetError) as e:
        print(f"perturb: {e}", file=sys.stderr)
        return 2
    command = f"python -m devnet.perturb --manifest {args.manifest} --seed {seed}"
    if args.duration is not None:
        command += f" --duration {args.duration:g}"
    print(
        f"perturbation run '{m.name}': {m.validators} validators, seed {seed}, "
        f"{m.duration:.0f}s of perturbations ({', '.join(m.kinds)}), load {m.rate:g} tx/s; "
        f"dir {root}",
        flush=True,
    )
    runner = Runner(m, root, seed, base)
    # SIGTERM (a test harness's timeout, `kill`) unwinds like Ctrl-C, so validators stop
    signal.signal(signal.SIGTERM, _interrupt)
    ok = False
    try:
        ok = runner.run()
    except (DevnetError, ConnectionError, TimeoutError) as e:
        runner.fail(f"run aborted: {type(e).__name__}: {e}")
    except KeyboardInterrupt:
        runner.fail("interrupted")
    except Exception as e:  # a bug of the runner, not of the network: say so, keep going
        traceback.print_exc()
        runner.fail(f"runner error (not a network failure): {type(e).__name__}: {e}")
    print(runner.summary(command), flush=True)
    if ok and temp and not args.keep:
        with contextlib.suppress(OSError):
            shutil.rmtree(root)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
