"""Consensus benchmark: committed tx/s and latency of a local devnet under load.

    .venv/bin/python -m benchmarks.consensus --validators 4 --duration 30 \\
        [--rate 1000|max] [--key-scheme ed25519|ed25519-sha3] [--kill-at 10] \\
        [--profile] [--perf] --json benchmarks/out/run.json

One run: measure this machine's ceiling (benchmarks.ceiling, nothing else running), start
a fresh devnet (``bakong-devnet up --detach`` in a temporary directory), create and fund
the load accounts, run the load generator (benchmarks.loadgen, its own process) for
warm-up + duration (+ drain), poll every validator's ``/status`` (peak RSS, height), tear
the devnet down. Only the steady window [warm-up, warm-up + duration] is measured:

* ``committed_tps``: our transactions seen committed in the window / window length;
* ``latency_ms.{p50,p95,p99}``: submit -> block seen by the client, over txs submitted
  in the window that committed (those still pending after the drain count as ``lost``);
* ``submitted``, ``committed``, ``rejected``, ``lost``: txs submitted in the window;
* ``ceiling_tps``, ``efficiency`` = committed_tps / ceiling_tps; the ceiling is measured
  again once the devnet is down (``ceiling_after_tps``), and ``host_drift`` (after / before
  - 1) says how far the shared machine moved during the run: figures from a run that
  drifted by more than a few per cent compare badly with others;
* ``peak_rss_mb``: per validator (its own ``/status``, ru_maxrss);
* ``max_stall_s``: longest time in the window without a block carrying our txs;
* ``cpu``: CPU seconds the validators (and the load generator) used in the window, from
  ``/proc/<pid>/stat``; ``cpu.validator_ms_per_tx`` is all validators' CPU per committed
  tx, and ``cpu.efficiency`` = the ceiling's unavoidable CPU per tx (every validator's
  share) / that figure. Unlike tx/s it hardly moves when other work shares the machine,
  so it is the figure to compare two versions by;
* with ``--kill-at T``: the last validator is SIGKILLed T seconds into the window;
  ``kill.healthy_tps`` / ``kill.after_tps`` / ``kill.ratio`` compare before and after.

Writes the JSON, the raw load record (``<json>.raw.json``) and a PNG of throughput and
latency over time (``<json stem>.png``) next to it. ``--profile`` records validator 1 (0 when alone)
with py-spy during the window (``<json stem>.profile.txt``, collapsed stacks, and an SVG
flame graph) for where-the-time-goes analysis. ``--perf`` samples every validator with Linux
``perf`` (cpu-clock) during the window and reports the CPU by library (``perf``: the Python
interpreter, the signature checks, protobuf, LevelDB, the kernel...), C code
included, which py-spy does not see; the samples stay in ``<json stem>.perf.data``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.ceiling import measure_ceiling
from benchmarks.loadgen import COMMITTED, FAILED, REJECTED, parse_rate
from node import native
from node.crypto import KeyScheme

STATUS_POLL_S = 1.0
MB = 1024 * 1024


# ------------------------------------------------------------------ pure statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks.

    NaN for no values. Same definition as numpy's default ('linear').
    """
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def max_gap(times: Sequence[float], start: float, end: float) -> float:
    """Longest interval in [start, end] without an event (times need not be sorted)."""
    inside = sorted(t for t in times if start <= t <= end)
    edges = [start, *inside, end]
    return max(b - a for a, b in itertools.pairwise(edges))


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start

    def __contains__(self, t: object) -> bool:
        return isinstance(t, float | int) and self.start <= t < self.end


def summarize(raw: dict[str, Any], window: Window, kill_at: float | None = None) -> dict[str, Any]:
    """The measured figures of a raw load record (see benchmarks.loadgen.LoadRecord)."""
    sub, fin, status = raw["sub_t"], raw["fin_t"], raw["status"]
    in_window = [i for i, s in enumerate(sub) if s is not None and s in window]
    committed = [i for i in in_window if status[i] == COMMITTED]
    rejected = sum(1 for i in in_window if status[i] in (REJECTED, FAILED))
    latencies = [1000.0 * (fin[i] - sub[i]) for i in committed]
    commit_times = [f for f, s in zip(fin, status, strict=True) if s == COMMITTED]
    committed_in_window = sum(1 for f in commit_times if f in window)
    block_times = [b[0] for b in raw["blocks"] if b[2] > 0]
    # blocks seen in the window (each listed once, from the stream the load follows) and
    # their size: below max rate, rounds cost more CPU than their transactions
    sizes = [b[3] for b in raw["blocks"] if b[0] in window]
    out: dict[str, Any] = {
        "committed_tps": round(committed_in_window / window.length, 1),
        "latency_ms": {
            f"p{q}": round(percentile(latencies, q), 1) if latencies else None for q in (50, 95, 99)
        },
        "submitted": len(in_window),
        "offered_tps": round(len(in_window) / window.length, 1),
        "committed": len(committed),
        "rejected": rejected,
        "lost": len(in_window) - len(committed) - rejected,
        "max_stall_s": round(max_gap(block_times, window.start, window.end), 3),
        "blocks_per_s": round(len(sizes) / window.length, 2),
        "mean_block_txs": round(sum(sizes) / len(sizes), 1) if sizes else None,
        "busy_answers": raw.get("busy", 0),
    }
    # a long run's trend (throughput that falls as the ledger grows, say): committed tx/s
    # in each whole minute of the window
    minutes = int(window.length // 60)
    if minutes >= 2:
        per_minute = [0] * minutes
        for f in commit_times:
            if f in window and (k := int((f - window.start) // 60)) < minutes:
                per_minute[k] += 1
        out["committed_tps_by_minute"] = [round(c / 60, 1) for c in per_minute]
    if kill_at is not None:
        before = Window(window.start, kill_at)
        after = Window(kill_at, window.end)
        healthy = sum(1 for f in commit_times if f in before) / max(before.length, 1e-9)
        degraded = sum(1 for f in commit_times if f in after) / max(after.length, 1e-9)
        out["kill"] = {
            "at_s": round(kill_at - window.start, 2),
            "healthy_tps": round(healthy, 1),
            "after_tps": round(degraded, 1),
            "ratio": round(degraded / healthy, 3) if healthy else None,
            "max_stall_after_s": round(max_gap(block_times, kill_at, window.end), 3),
        }
    return out


def timeline(raw: dict[str, Any], bucket: float = 1.0) -> dict[str, list[float]]:
    """Per-bucket series: t, submitted/s, committed/s, latency p50/p99 (ms) by commit time."""
    sub, fin, status = raw["sub_t"], raw["fin_t"], raw["status"]
    ends = [f for f in fin if f is not None] + [s for s in sub if s is not None]
    n = math.ceil(max(ends, default=0.0) / bucket) + 1
    submitted = [0.0] * n
    committed = [0.0] * n
    lat: list[list[float]] = [[] for _ in range(n)]
    for s, f, st in zip(sub, fin, status, strict=True):
        if s is not None:
            submitted[int(s / bucket)] += 1 / bucket
        if st == COMMITTED and f is not None:
            k = int(f / bucket)
            committed[k] += 1 / bucket
            lat[k].append(1000.0 * (f - s))
    return {
        "t": [bucket * (k + 0.5) for k in range(n)],
        "submitted": submitted,
        "committed": committed,
        "p50": [percentile(x, 50) if x else math.nan for x in lat],
        "p99": [percentile(x, 99) if x else math.nan for x in lat],
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load1_at_start": round(os.getloadavg()[0], 2),
        # the validators are started from this tree and environment, so they decide alike
        "build": native.activate(),
    }


# What each shared object a validator runs is, for the CPU split by library (--perf).
PERF_PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("Python interpreter", ("libpython", "python3")),
    ("compiled node modules (mypyc)", ("_native__mypyc",)),
    ("Ed25519 signatures (compiled equation, libsodium)", ("_donna", "_sodium")),
    ("protobuf (upb)", ("_message",)),
    ("kernel (sockets, scheduling, fsync)", ("[kernel",)),
    ("C library (malloc, memcpy)", ("libc.so", "libc-")),
    ("LevelDB", ("libleveldb", "_plyvel", "libstdc++")),
    ("SHA3 hashing (OpenSSL)", ("libcrypto", "_hashlib")),
]


def perf_split(report: str) -> dict[str, Any]:
    """Shares of CPU samples by shared object (``perf report --sort dso --stdio`` text),
    grouped into :data:`PERF_PARTS` (the rest is "other")."""
    by_dso: list[tuple[str, float]] = []
    for line in report.splitlines():
        pct, _, dso = line.strip().partition("%")
        try:
            share = float(pct)
        except ValueError:
            continue
        if dso.strip():
            by_dso.append((dso.strip(), share))
    parts: dict[str, float] = {name: 0.0 for name, _ in PERF_PARTS}
    parts["other"] = 0.0
    for dso, share in by_dso:
        name = next((n for n, keys in PERF_PARTS if any(k in dso for k in keys)), "other")
        parts[name] += share
    return {
        "by_part": {k: round(v, 1) for k, v in parts.items()},
        "by_library": [(d, round(v, 2)) for d, v in by_dso[:12]],
    }


def _perf_record(pids: Sequence[int], seconds: float, data: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("perf")
    if exe is None:
        print("perf not installed; --perf ignored", file=sys.stderr)
        return None
    cmd = [exe, "record", "-e", "cpu-clock", "-F", "499", "-o", str(data)]
    cmd += ["-p", ",".join(str(p) for p in pids), "--", "sleep", str(seconds)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _perf_result(rec: subprocess.Popen[bytes], data: Path, seconds: float) -> dict[str, Any]:
    try:
        _, err = rec.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        rec.kill()
        return {"error": "perf record did not finish"}
    if rec.returncode != 0 or not data.exists():
        why = err.decode(errors="replace").strip().splitlines()
        return {"error": f"perf record failed: {why[-1] if why else rec.returncode}"}
    rep = subprocess.run(
        [shutil.which("perf") or "perf", "report", "-i", str(data), "--sort", "dso", "--stdio"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if rep.returncode != 0:
        return {"error": f"perf report failed: {rep.stderr.strip()[-200:]}"}
    return perf_split(rep.stdout)


def profile_shares(path: Path, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """Shares of py-spy samples (collapsed ``--format raw`` stacks) per function.

    ``self``: the sampled frame itself; ``inclusive``: anywhere on the stack (counted once
    per sample). Shares are of all samples of the recorded process's busy threads.
    """
    self_n: dict[str, int] = {}
    incl_n: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") else f for f in stack.split(";")]
        self_n[frames[-1]] = self_n.get(frames[-1], 0) + n
        for f in set(frames):
            incl_n[f] = incl_n.get(f, 0) + n

    def ranked(d: dict[str, int]) -> list[tuple[str, float]]:
        best = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return [(k, round(100.0 * v / total, 1)) for k, v in best]

    return {"self": ranked(self_n), "inclusive": ranked(incl_n), "samples": [("all", total)]}


# ------------------------------------------------------------------ plotting


def plot(
    raw: dict[str, Any], window: Window, path: Path, title: str, kill_at: float | None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = timeline(raw)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    ax1.plot(tl["t"], tl["submitted"], label="submitted/s", color="tab:gray", lw=1)
    ax1.plot(tl["t"], tl["committed"], label="committed/s", color="tab:blue", lw=2)
    ax1.set_ylabel("tx/s")
    ax2.plot(tl["t"], tl["p50"], label="p50", color="tab:green", marker=".")
    ax2.plot(tl["t"], tl["p99"], label="p99", color="tab:red", marker=".")
    ax2.set_ylabel("latency (ms)")
    ax2.set_xlabel("seconds since submission started")
    for ax in (ax1, ax2):
        ax.axvspan(window.start, window.end, color="tab:blue", alpha=0.06, label="measured")
        if kill_at is not None:
            ax.axvline(kill_at, color="black", ls="--", lw=1, label="validator killed")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    ax1.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ------------------------------------------------------------------ the run


def _python() -> str:
    return sys.executable


def _free_base_port(validators: int, start: int = 46000) -> int:
    from devnet.network import port_free

    for base in range(start, 60000, 300):
        ports = [base + off + i for off in (0, 100, 200) for i in range(validators)]
        if all(port_free(p) for p in ports):
            return base
    raise RuntimeError("no free port range for the devnet")


def _devnet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_python(), "-m", "devnet", *args], capture_output=True, text=True, check=False
    )


def _status(metrics: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://{metrics}/status", timeout=1.0) as r:
            doc = json.loads(r.read())
            return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


class _Poller(threading.Thread):
    """Polls each validator's /status; keeps the last values and peak RSS seen."""

    def __init__(self, validators: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.validators = validators
        self.peak_rss: dict[str, float] = {}
        # most level-0 files seen in each ledger: LevelDB slows writes at 8, stops at 12
        self.peak_level0: dict[str, int] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.poll()
            self.stop.wait(STATUS_POLL_S)

    def poll(self) -> None:
        for v in self.validators:
            st = _status(v["metrics"])
            if st is None:
                continue
            self.last[v["name"]] = st
            rss = float(st.get("peak_rss_mb", 0.0))
            self.peak_rss[v["name"]] = max(rss, self.peak_rss.get(v["name"], 0.0))
            l0 = int((st.get("ledger_db") or {}).get("level0_files", 0))
            self.peak_level0[v["name"]] = max(l0, self.peak_level0.get(v["name"], 0))


@dataclass
class BenchConfig:
    validators: int
    duration: float
    rate: float | None  # None = max (closed loop)
    key_scheme: KeyScheme
    json_path: Path
    warmup: float = 5.0
    accounts: int = 1000
    batch: int = 100
    mode: str = "mixed"
    window: int = 4000
    kill_at: float | None = None  # seconds into the window
    profile: bool = False
    perf: bool = False  # CPU of all validators by library (Linux perf)
    ceiling_seconds: float = 3.0
    progress: bool = True
    keep: bool = False


def host_drift(before: object, after: object) -> float | None:
    """How far the machine's ceiling moved between before and after a run (after / before
    - 1, rounded to 0.1 %); None if either is not a positive number."""
    try:
        b, a = float(str(before)), float(str(after))
    except ValueError:
        return None
    return round(a / b - 1.0, 3) if b > 0 and a > 0 else None


def _stat_fields(path: Path) -> list[str] | None:
    """The fields of a ``/proc/.../stat`` file after the command name (fields 3 on:
    [11] utime, [12] stime, [16] nice), None if it is gone."""
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (``/proc/<pid>/stat``), None if gone."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# a validator's compaction-thread CPU, sampled beside its process's under this key prefix
COMPACTION_KEY = "compaction:"


def compaction_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process's threads that run nicer than the process
    itself: in a node, LevelDB's compaction thread, started lowered by
    ``node.storage.leveldb``. Part of :func:`cpu_seconds`, not added to it. None if gone."""
    own = _stat_fields(Path(f"/proc/{pid}/stat"))
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    if own is None:
        return None
    ticks = 0
    for task in tasks:
        fields = _stat_fields(task / "stat")
        if fields is None:
            continue  # the thread ended meanwhile
        if int(fields[16]) > int(own[16]):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# a run of two minutes or more also samples CPU at each minute of its window, so a trend
# (throughput falling as the store fills) shows where the CPU per transaction went
CPU_STEP_S = 60.0


def commits_in(span: Window, fin_t: Sequence[float | None], status: Sequence[int]) -> int:
    """Transactions of a load record committed within ``span``."""
    return sum(1 for f, st in zip(fin_t, status, strict=True) if st == COMMITTED and f in span)


def cpu_by_minute(
    marks: Sequence[tuple[float, dict[str, float]]],
    fin_t: Sequence[float | None],
    status: Sequence[int],
    unit_us_per_tx: float,
    validators: int,
) -> list[dict[str, Any]]:
    """Validator CPU per committed transaction, compaction's share of it and the
    validators' share of the machine between each two consecutive CPU samples (``marks``,
    a minute apart), commits counted in the same span."""
    out = []
    for a, b in itertools.pairwise(marks):
        n = commits_in(Window(a[0], b[0]), fin_t, status)
        fig = cpu_figures(a, b, n, unit_us_per_tx, validators)
        keys = ("validator_ms_per_tx", "compaction_share", "validators_share_of_machine")
        out.append({k: fig[k] for k in keys})
    return out


def _cpu_sample(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        s = cpu_seconds(pid)
        if s is not None:
            out[name] = s
        if name != "loadgen":
            c = compaction_seconds(pid)
            if c is not None:
                out[COMPACTION_KEY + name] = c
    return out


def cpu_figures(
    start: tuple[float, dict[str, float]],
    end: tuple[float, dict[str, float]],
    committed: int,
    unit_us_per_tx: float,
    validators: int,
) -> dict[str, Any]:
    """CPU spent in the window: per process, per committed tx, against the ceiling; and
    how much of the validators' went to LevelDB's compaction threads."""
    (t0, a), (t1, b) = start, end
    spent = {k: round(b[k] - a[k], 2) for k in a if k in b}
    used = {k: v for k, v in spent.items() if not k.startswith(COMPACTION_KEY)}
    compaction = {
        k[len(COMPACTION_KEY) :]: v for k, v in spent.items() if k.startswith(COMPACTION_KEY)
    }
    vals = sum(v for k, v in used.items() if k != "loadgen")
    per_tx_ms = 1000.0 * vals / committed if committed else None
    floor_ms = validators * unit_us_per_tx / 1000.0
    return {
        "seconds": round(t1 - t0, 2),
        "used_s": used,
        "compaction_s": compaction,
        "compaction_share": (
            round(sum(compaction.values()) / vals, 3) if compaction and vals > 0 else None
        ),
        "validators_share_of_machine": round(vals / ((t1 - t0) * (os.cpu_count() or 1)), 3),
        "validator_ms_per_tx": None if per_tx_ms is None else round(per_tx_ms, 3),
        "floor_ms_per_tx": round(floor_ms, 3),
        "efficiency": None if not per_tx_ms else round(floor_ms / per_tx_ms, 3),
    }


def _profile(pid: int, seconds: float, stem: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(_python()).with_name("py-spy"))
    if not Path(exe).exists():
        print("py-spy not installed; --profile ignored", file=sys.stderr)
        return None
    raw = stem.with_suffix(".profile.txt")
    cmd = [exe, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    cmd += ["--rate", "100", "--format", "raw", "--nonblocking", "-o", str(raw)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_benchmark(cfg: BenchConfig) -> dict[str, Any]:
    from tqdm import tqdm  # type: ignore[import-untyped]

    from benchmarks.loadgen import setup_accounts
    from devnet.admin import admin_key

    cfg.json_path.parent.mkdir(parents=True, exist_ok=True)
    stem = cfg.json_path.with_suffix("")
    facts = machine()
    ceiling = measure_ceiling(cfg.validators, cfg.key_scheme, cfg.ceiling_seconds)
    root = Path(tempfile.mkdtemp(prefix="bench-devnet-"))
    base = _free_base_port(cfg.validators)
    up = _devnet(
        "up", "--dir", str(root), "--validators", str(cfg.validators), "--base-port", str(base),
        "--detach", "--key-scheme", cfg.key_scheme.value,
    )  # fmt: skip
    if up.returncode != 0:
        _devnet("down", "--dir", str(root))
        raise RuntimeError(f"devnet did not come up: {up.stderr.strip() or up.stdout.strip()}")
    doc = json.loads((root / "network.json").read_text())
    poller = _Poller(doc["validators"])
    load: subprocess.Popen[str] | None = None
    prof: subprocess.Popen[bytes] | None = None
    perf: subprocess.Popen[bytes] | None = None
    perf_data = stem.with_suffix(".perf.data")
    raw_path = stem.with_suffix(".raw.json")
    killed: float | None = None
    try:
        import trio

        scheme = KeyScheme(doc["key_scheme"])
        trio.run(
            setup_accounts,
            doc["validators"][0]["torii"],
            admin_key(doc),
            cfg.accounts,
            1,
            scheme,
        )
        total = cfg.warmup + cfg.duration
        cmd = [_python(), "-m", "benchmarks.loadgen", "--network", str(root)]
        cmd += ["--rate", "max" if cfg.rate is None else str(cfg.rate)]
        cmd += ["--duration", str(total), "--accounts", str(cfg.accounts), "--seed", "1"]
        cmd += ["--batch", str(cfg.batch), "--mode", cfg.mode, "--window", str(cfg.window)]
        if cfg.rate is None:  # pre-sign what this machine could possibly commit, with room
            rate_cap = max(2000.0, 1.5 * float(str(ceiling["ceiling_tps"])))
            cmd += ["--max-txs", str(int(rate_cap * total))]
        cmd += ["--out", str(raw_path)]
        load = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert load.stdout is not None
        for line in load.stdout:  # pre-signing happens before "ready"
            if '"ready"' in line:
                break
        t0 = time.monotonic()
        poller.start()
        label = (
            f"n={cfg.validators} {cfg.key_scheme.value} "
            f"{'max' if cfg.rate is None else f'{cfg.rate:g}/s'}"
        )
        bar = tqdm(total=int(total), desc=label, unit="s", disable=not cfg.progress, leave=False)
        done = 0
        prof_started = False
        pids = {
            v["name"]: int((root / v["name"] / "node.pid").read_text()) for v in doc["validators"]
        }
        pids["loadgen"] = load.pid
        cpu_start: tuple[float, dict[str, float]] | None = None
        cpu_end: tuple[float, dict[str, float]] | None = None
        minute_marks: list[tuple[float, dict[str, float]]] = []
        last: dict[str, Any] = {}
        for line in load.stdout:
            try:
                last = json.loads(line)
            except ValueError:
                continue
            elapsed = time.monotonic() - t0
            step = min(int(elapsed), int(total)) - done
            if step > 0:
                bar.update(step)
                done += step
            bar.set_postfix(
                submitted=last.get("submitted"),
                committed=last.get("committed"),
                height=max((int(s.get("height", 0)) for s in poller.last.values()), default=0),
            )
            if cfg.kill_at is not None and killed is None and elapsed >= cfg.warmup + cfg.kill_at:
                victim = doc["validators"][-1]["name"]
                _devnet("kill", victim, "--dir", str(root))
                killed = cfg.warmup + cfg.kill_at
            if cpu_start is None and elapsed >= cfg.warmup:
                cpu_start = (elapsed, _cpu_sample(pids))
                minute_marks.append(cpu_start)
            elif cpu_end is None and cpu_start is not None:
                minute = elapsed >= cfg.warmup + CPU_STEP_S * len(minute_marks)
                if minute or elapsed >= total:
                    mark = (elapsed, _cpu_sample(pids))
                    if minute:  # the last one may come a little after the window's end
                        minute_marks.append(mark)
                    if elapsed >= total:
                        cpu_end = mark
            if cfg.profile and not prof_started and elapsed >= cfg.warmup:
                prof_started = True
                target = doc["validators"][1 if cfg.validators > 1 else 0]["name"]
                pid = int((root / target / "node.pid").read_text())
                prof = _profile(pid, cfg.duration, stem)
            if cfg.perf and perf is None and elapsed >= cfg.warmup:
                vals = [pid for name, pid in pids.items() if name != "loadgen"]
                perf = _perf_record(vals, cfg.duration, perf_data)
        bar.close()
        load.wait()
        poller.poll()
    finally:
        poller.stop.set()
        if load is not None and load.poll() is None:
            load.kill()
        perf_figures = _perf_result(perf, perf_data, cfg.duration) if perf is not None else None
        if prof is not None:
            try:
                prof.wait(timeout=cfg.duration + 30)
            except subprocess.TimeoutExpired:
                prof.kill()
        _devnet("down", "--dir", str(root))
        if not cfg.keep:
            shutil.rmtree(root, ignore_errors=True)
    if load.returncode != 0:
        raise RuntimeError(f"load generator exited {load.returncode}")
    ceiling_after = measure_ceiling(cfg.validators, cfg.key_scheme, cfg.ceiling_seconds)
    raw = json.loads(raw_path.read_text())
    window = Window(cfg.warmup, cfg.warmup + cfg.duration)
    result: dict[str, Any] = {
        "validators": cfg.validators,
        "key_scheme": cfg.key_scheme.value,
        "rate": "max" if cfg.rate is None else cfg.rate,
        "duration_s": cfg.duration,
        "warmup_s": cfg.warmup,
    }
    result.update(summarize(raw, window, killed))
    result["ceiling_tps"] = ceiling["ceiling_tps"]
    result["efficiency"] = round(result["committed_tps"] / float(str(ceiling["ceiling_tps"])), 3)
    result["ceiling"] = ceiling
    result["ceiling_after_tps"] = ceiling_after["ceiling_tps"]
    result["host_drift"] = host_drift(ceiling["ceiling_tps"], ceiling_after["ceiling_tps"])
    if cpu_start is not None and cpu_end is not None:
        # commits counted over the same span as the CPU samples
        n_commits = commits_in(Window(cpu_start[0], cpu_end[0]), raw["fin_t"], raw["status"])
        unit = float(str(ceiling["unit_us_per_tx"]))
        result["cpu"] = cpu_figures(cpu_start, cpu_end, n_commits, unit, cfg.validators)
        if len(minute_marks) >= 3:
            result["cpu"]["by_minute"] = cpu_by_minute(
                minute_marks, raw["fin_t"], raw["status"], unit, cfg.validators
            )
    result["peak_rss_mb"] = {k: round(v, 1) for k, v in sorted(poller.peak_rss.items())}
    result["peak_level0_files"] = dict(sorted(poller.peak_level0.items()))
    result["load"] = {
        "accounts": cfg.accounts,
        "batch": cfg.batch,
        "mode": cfg.mode,
        "window": cfg.window if cfg.rate is None else None,
        "send_errors": raw.get("send_errors", 0),
        "stream_errors": raw.get("stream_errors", 0),
        "dead_targets": raw.get("dead_targets", []),
    }
    result["machine"] = facts
    prof_txt = stem.with_suffix(".profile.txt")
    if cfg.profile and prof_txt.exists():
        result["profile"] = profile_shares(prof_txt)
    if perf_figures is not None:
        result["perf"] = perf_figures
    png = stem.with_suffix(".png")
    plot(raw, window, png, _title(result), killed)
    result["plot"] = str(png)
    cfg.json_path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _title(r: dict[str, Any]) -> str:
    rate = "max rate" if r["rate"] == "max" else f"{r['rate']:g} tx/s offered"
    lat = r["latency_ms"]
    return (
        f"{r['validators']} validators, {r['key_scheme']}, {rate}: {r['committed_tps']:.0f} tx/s "
        f"committed, p50 {lat['p50']} ms, p99 {lat['p99']} ms, efficiency {r['efficiency']}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="consensus throughput and latency of a devnet")
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--rate", type=parse_rate, default=None, help="tx/s offered, or max")
    p.add_argument("--key-scheme", choices=[s.value for s in KeyScheme], default="ed25519")
    p.add_argument("--json", required=True, help="result JSON path (PNG goes beside it)")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--batch", type=int, default=100, help="txs per ListTorii call")
    p.add_argument("--mode", choices=("list", "single", "mixed"), default="mixed")
    p.add_argument("--window", type=int, default=4000, help="max rate: txs in flight")
    p.add_argument("--kill-at", type=float, default=None, help="kill the last validator")
    p.add_argument("--profile", action="store_true", help="py-spy validator 1")
    p.add_argument("--perf", action="store_true", help="CPU by library, all validators (perf)")
    p.add_argument("--keep", action="store_true", help="keep the devnet directory")
    args = p.parse_args(argv)
    cfg = BenchConfig(
        validators=args.validators,
        duration=args.duration,
        rate=args.rate,
        key_scheme=KeyScheme(args.key_scheme),
        json_path=Path(args.json),
        warmup=args.warmup,
        accounts=args.accounts,
        batch=args.batch,
        mode=args.mode,
        window=args.window,
        kill_at=args.kill_at,
        profile=args.profile,
        perf=args.perf,
        keep=args.keep,
    )
    result = run_benchmark(cfg)
    brief = {k: result[k] for k in ("committed_tps", "latency_ms", "efficiency", "peak_rss_mb")}
    print(json.dumps(brief))
    return 0


if __name__ == "__main__":
    sys.exit(main())
