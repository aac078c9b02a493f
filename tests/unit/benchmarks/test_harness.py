"""Smoke tests of the benchmark harness's pure pieces (no devnet, no long run)."""

from __future__ import annotations

import collections
import json
import math
import os
import random
from pathlib import Path

import pytest

from benchmarks import ceiling, consensus, loadgen
from node.crypto import KeyPair, KeyScheme, verify
from node.model import Tx

# ------------------------------------------------------------------ percentiles


def test_percentile_matches_linear_interpolation() -> None:
    xs = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert consensus.percentile(xs, 0) == 15.0
    assert consensus.percentile(xs, 100) == 50.0
    assert consensus.percentile(xs, 50) == 35.0
    assert consensus.percentile(xs, 40) == pytest.approx(29.0)  # 20 + 0.6 * 15
    assert consensus.percentile([7.0], 99) == 7.0
    assert math.isnan(consensus.percentile([], 50))
    with pytest.raises(ValueError):
        consensus.percentile(xs, 101)


def test_percentile_ignores_input_order() -> None:
    rng = random.Random(3)
    xs = [rng.random() for _ in range(1001)]
    shuffled = xs[:]
    rng.shuffle(shuffled)
    assert consensus.percentile(shuffled, 99) == consensus.percentile(sorted(xs), 99)
    assert consensus.percentile(xs, 50) == sorted(xs)[500]


def test_max_gap_counts_window_edges() -> None:
    assert consensus.max_gap([1.0, 2.0, 6.0], 0.0, 7.0) == 4.0
    assert consensus.max_gap([], 2.0, 5.0) == 3.0
    assert consensus.max_gap([9.0, 0.5], 1.0, 3.0) == 2.0  # events outside ignored


# ------------------------------------------------------------------ summary and JSON shape


def _raw() -> dict[str, object]:
    # 10 txs submitted at 0..9 s; commits 0.2 s later, except tx 4 rejected and tx 9 lost
    sub = [float(i) for i in range(10)]
    fin: list[float | None] = [s + 0.2 for s in sub]
    status = [loadgen.COMMITTED] * 10
    status[4], status[9] = loadgen.REJECTED, loadgen.PENDING
    fin[9] = None
    blocks = [
        [f, i + 2, int(status[i] == loadgen.COMMITTED), 1, int(status[i] == loadgen.REJECTED)]
        for i, f in enumerate(fin)
        if f is not None
    ]
    return {"sub_t": sub, "fin_t": fin, "status": status, "blocks": blocks, "busy": 2}


def test_summarize_counts_only_the_window() -> None:
    out = consensus.summarize(_raw(), consensus.Window(2.0, 10.0))
    assert out["submitted"] == 8  # txs 2..9
    assert out["committed"] == 6  # not 4 (rejected), not 9 (lost)
    assert out["rejected"] == 1 and out["lost"] == 1
    # commits at 2.2, 3.2, 5.2 .. 8.2 (1.2 is before the window, 4 rejected, 9 lost)
    assert out["committed_tps"] == round(6 / 8, 1)
    assert out["latency_ms"]["p50"] == pytest.approx(200.0)
    assert out["max_stall_s"] == pytest.approx(2.0)  # 3.2 -> (4.2 rejected: no block) 5.2
    assert out["busy_answers"] == 2
    # blocks at 2.2 .. 8.2 (one tx each; the rejected tx's block counts: a round's work)
    assert out["blocks_per_s"] == round(7 / 8, 2) and out["mean_block_txs"] == 1.0


def test_summarize_long_window_reports_each_whole_minute() -> None:
    # commits at 10 s + k for k < 200 (1/s), then at 210 + k/2 for k < 120 (2/s, until 270)
    fin = [10.0 + k for k in range(200)] + [210.0 + k / 2 for k in range(120)]
    raw = {
        "sub_t": [f - 0.5 for f in fin], "fin_t": fin, "status": [loadgen.COMMITTED] * len(fin),
        "blocks": [[f, i + 2, 1, 1, 0] for i, f in enumerate(fin)],
    }  # fmt: skip
    out = consensus.summarize(raw, consensus.Window(10.0, 250.0))  # minutes 10-70 .. 190-250
    assert out["committed_tps_by_minute"] == [1.0, 1.0, 1.0, round((20 + 80) / 60, 1)]
    # the partial fifth minute of a 270 s window is left out, not shown as a slump
    out = consensus.summarize(raw, consensus.Window(10.0, 280.0))
    assert len(out["committed_tps_by_minute"]) == 4
    assert "committed_tps_by_minute" not in consensus.summarize(raw, consensus.Window(10.0, 129.0))


def test_summarize_kill_compares_before_and_after() -> None:
    out = consensus.summarize(_raw(), consensus.Window(0.0, 10.0), kill_at=5.0)
    kill = out["kill"]
    assert kill["healthy_tps"] == pytest.approx(4 / 5)  # commits 0.2, 1.2, 2.2, 3.2
    assert kill["after_tps"] == pytest.approx(4 / 5)  # 5.2, 6.2, 7.2, 8.2
    assert kill["ratio"] == pytest.approx(1.0)


def test_result_json_shape(tmp_path: Path) -> None:
    """The keys the issue asks for, JSON-serializable, and the plot is written."""
    window = consensus.Window(1.0, 9.0)
    result = consensus.summarize(_raw(), window)
    for key in ("committed_tps", "latency_ms", "submitted", "committed", "rejected"):
        assert key in result
    assert set(result["latency_ms"]) == {"p50", "p95", "p99"}
    json.loads(json.dumps(result))
    png = tmp_path / "plot.png"
    consensus.plot(_raw(), window, png, "test", kill_at=5.0)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeline_buckets() -> None:
    tl = consensus.timeline(_raw())
    assert sum(tl["submitted"]) == 10
    assert sum(tl["committed"]) == 8
    assert tl["p50"][3] == pytest.approx(200.0)


# ------------------------------------------------------------------ ceiling


def test_ceiling_divides_the_machine_among_validators() -> None:
    assert ceiling.ceiling_tps([6000.0, 4000.0], 4) == 2500.0
    assert ceiling.ceiling_tps([6000.0], 1) == 6000.0
    with pytest.raises(ValueError):
        ceiling.ceiling_tps([1.0], 0)


@pytest.mark.parametrize("scheme", list(KeyScheme))
def test_unit_work_verifies_and_updates_state(scheme: KeyScheme, tmp_path: Path) -> None:
    import plyvel

    txs = ceiling.sample_txs(6, scheme, accounts=3)
    balances: dict[str, int] = {}
    db = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    try:
        assert ceiling.unit_work(txs, balances, db) == 6
        assert sum(balances.values()) == 3 * 10**12  # transfers move value, never create it
        assert db.get(loadgen.account_id(0).encode()) is not None
    finally:
        db.close()
    # a forged signature is not counted as work done
    tx = Tx.from_bytes(txs[0])
    tx.pb.signatures[0].signature = "00" * 64
    assert ceiling.unit_work([tx.serialize()], {}, None) == 0


# ------------------------------------------------------------------ load generator pieces


def test_prebuilt_transfers_are_signed_distinct_and_never_self() -> None:
    data, hashes = loadgen.prebuild(50, 7, 1, KeyScheme.ED25519, 1_700_000_000_000, workers=1)
    assert len(set(hashes)) == 50
    for raw, h in zip(data, hashes, strict=True):
        tx = Tx.from_bytes(raw)
        assert tx.hash == h
        t = tx.pb.payload.reduced_payload.commands[0].transfer_asset
        assert t.src_account_id != t.dest_account_id
        assert tx.creator == t.src_account_id
        sig = tx.pb.signatures[0]
        assert verify(sig.public_key, tx.payload_bytes, bytes.fromhex(sig.signature))
        i = int(t.src_account_id[2:7])
        assert sig.public_key == loadgen.account_key(1, i, KeyScheme.ED25519).public_key


def test_setup_txs_create_and_fund_every_account() -> None:
    admin = KeyPair.generate(KeyScheme.ED25519, random.Random(1))
    txs = loadgen.setup_txs(admin, 300, 1, KeyScheme.ED25519, 1_700_000_000_000)
    assert len(txs) == 2  # 250 + 50 accounts
    created = [
        c.create_account.account_name + "@" + c.create_account.domain_id
        for t in txs
        for c in t.pb.payload.reduced_payload.commands
        if c.HasField("create_account")
    ]
    assert created == [loadgen.account_id(i) for i in range(300)]
    assert all(len(t.pb.payload.reduced_payload.commands) <= 1000 for t in txs)


def test_rate_parsing() -> None:
    assert loadgen.parse_rate("max") is None
    assert loadgen.parse_rate("1000") == 1000.0
    with pytest.raises(Exception, match="positive"):
        loadgen.parse_rate("0")


def test_tx_list_body_is_the_clients_encoding() -> None:
    from node.client.torii import encode_tx_list

    data, _ = loadgen.prebuild(3, 5, 2, KeyScheme.ED25519, 1_700_000_000_000, workers=1)
    big = Tx.from_bytes(data[0])
    big.pb.payload.reduced_payload.commands[0].transfer_asset.description = "x" * 300
    data.append(big.serialize())  # a length that needs a two-byte varint
    expected = encode_tx_list([Tx.from_bytes(d) for d in data])
    assert loadgen.tx_list_body(data) == expected


def test_profile_shares_self_and_inclusive(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "main (a.py:1);run (a.py:5);get (db.py:9) 3\n"
        "main (a.py:1);run (a.py:6);verify (c.py:2) 1\n"
        "main (a.py:2) 1\n"
    )
    shares = consensus.profile_shares(raw)
    assert dict(shares["self"])["get (db.py)"] == 60.0
    assert dict(shares["inclusive"])["run (a.py)"] == 80.0  # lines 5 and 6 are one function
    assert dict(shares["inclusive"])["main (a.py)"] == 100.0


def test_cpu_seconds_reads_this_process_and_none_for_a_dead_pid() -> None:
    import os
    import time

    before = consensus.cpu_seconds(os.getpid())
    t = time.process_time()
    while time.process_time() - t < 0.05:
        pass
    after = consensus.cpu_seconds(os.getpid())
    assert before is not None and after is not None and after - before >= 0.03
    assert consensus.cpu_seconds(2**22 + 12345) is None


def test_cpu_figures_per_committed_tx_against_the_floor() -> None:
    start = (5.0, {"a": 1.0, "b": 2.0, "loadgen": 0.5})
    end = (15.0, {"a": 3.0, "b": 5.0, "loadgen": 1.5})  # validators used 5 s in 10 s
    f = consensus.cpu_figures(start, end, committed=2500, unit_us_per_tx=100.0, validators=2)
    assert f["used_s"] == {"a": 2.0, "b": 3.0, "loadgen": 1.0}
    assert f["validator_ms_per_tx"] == 2.0  # 5 s / 2,500 txs; the load generator apart
    assert f["floor_ms_per_tx"] == 0.2  # 2 validators x 100 us
    assert f["efficiency"] == 0.1
    assert consensus.cpu_figures(start, end, 0, 100.0, 2)["efficiency"] is None
    assert f["compaction_s"] == {} and f["compaction_share"] is None
    # compaction threads are part of their validator's CPU, shown apart, never added
    start[1].update({"compaction:a": 0.1, "compaction:b": 0.2})
    end[1].update({"compaction:a": 0.6, "compaction:b": 0.7})
    g = consensus.cpu_figures(start, end, committed=2500, unit_us_per_tx=100.0, validators=2)
    assert g["used_s"] == f["used_s"] and g["validator_ms_per_tx"] == 2.0
    assert g["compaction_s"] == {"a": 0.5, "b": 0.5}
    assert g["compaction_share"] == 0.2  # 1 s of the validators' 5 s


def test_cpu_by_minute_splits_the_window_at_each_sample() -> None:
    marks = [
        (10.0, {"a": 0.0, "compaction:a": 0.0}),
        (70.0, {"a": 30.0, "compaction:a": 3.0}),
        (130.0, {"a": 72.0, "compaction:a": 12.0}),
    ]
    # 100 commits in the first minute, 120 in the second; a failed tx and one committed
    # outside both spans do not count
    fin = [10.0 + k * 0.6 for k in range(100)] + [70.0 + k * 0.5 for k in range(120)]
    status = [loadgen.COMMITTED] * 220
    fin += [20.0, 140.0]
    status += [loadgen.FAILED, loadgen.COMMITTED]
    out = consensus.cpu_by_minute(marks, fin, status, unit_us_per_tx=50.0, validators=1)
    share = [
        round(30 / (60 * (os.cpu_count() or 1)), 3),
        round(42 / (60 * (os.cpu_count() or 1)), 3),
    ]
    assert out == [
        # 30 s / 100 txs, 3 of those 30 s compaction
        {
            "validator_ms_per_tx": 300.0,
            "compaction_share": 0.1,
            "validators_share_of_machine": share[0],
        },
        {
            "validator_ms_per_tx": 350.0,
            "compaction_share": round(9 / 42, 3),
            "validators_share_of_machine": share[1],
        },
    ]
    assert consensus.cpu_by_minute(marks[:1], fin, status, 50.0, 1) == []


def test_compaction_seconds_counts_only_the_nicer_threads() -> None:
    import threading
    import time

    own = consensus.compaction_seconds(os.getpid())
    assert own is not None
    done, release = threading.Event(), threading.Event()

    def busy(lowered: bool) -> None:
        tid = threading.get_native_id()
        if lowered:
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + 5)
        until = time.thread_time() + 0.3
        while time.thread_time() < until:
            pass
        done.set()
        release.wait(10)  # alive while measured: an ended thread leaves /proc/<pid>/task

    # a busy thread at the process's own priority is not counted ...
    t = threading.Thread(target=busy, args=(False,))
    t.start()
    try:
        assert done.wait(10)
        same = consensus.compaction_seconds(os.getpid())
        assert same is not None and same - own < 0.1
    finally:
        release.set()
        t.join()
    # ... a lowered one is
    done.clear()
    release.clear()
    t = threading.Thread(target=busy, args=(True,))
    t.start()
    try:
        assert done.wait(10)
        after = consensus.compaction_seconds(os.getpid())
        assert after is not None and after - own >= 0.2
        total = consensus.cpu_seconds(os.getpid())
        assert total is not None and total >= after  # a part of the process's CPU
    finally:
        release.set()
        t.join()
    assert consensus.compaction_seconds(2**22 + 12345) is None  # no such process


PERF_REPORT = """\
# To display the perf.data header info, please use --header/--header-only options.
#
# Samples: 24K of event 'cpu-clock:pppH'
#
# Overhead  Shared Object
# ........  ...................
#
    45.19%  libpython3.11.so.1.0
    27.77%  _donna.cpython-311-x86_64-linux-gnu.so
     1.00%  _sodium.abi3.so
     9.55%  _message.abi3.so
     5.34%  [kernel.kallsyms]
     4.68%  libc.so.6
     3.33%  libleveldb-e43d8649.so.1.22.0
     2.20%  libcrypto.so.3
     0.16%  libstdc++.so.6.0.30
     0.10%  _plyvel.cpython-311-x86_64-linux-gnu.so
     0.05%  _heapq.cpython-311-x86_64-linux-gnu.so
"""


def test_perf_split_groups_shared_objects_into_parts() -> None:
    split = consensus.perf_split(PERF_REPORT)
    parts = split["by_part"]
    assert parts["Python interpreter"] == 45.2
    # the compiled equation and libsodium (which still signs and checks keys) together
    assert parts["Ed25519 signatures (compiled equation, libsodium)"] == 28.8
    assert parts["LevelDB"] == 3.6  # the library, its binding and the C++ runtime
    assert parts["SHA3 hashing (OpenSSL)"] == 2.2
    assert parts["other"] == 0.1
    assert split["by_library"][0] == ("libpython3.11.so.1.0", 45.19)
    assert math.isclose(sum(parts.values()), 99.37, abs_tol=0.3)  # each line once (rounded)


def test_perf_record_of_a_real_process(tmp_path: Path) -> None:
    """Linux perf on a child that hashes with SHA3 in a loop: the split sees OpenSSL."""
    import shutil
    import subprocess
    import sys

    if shutil.which("perf") is None:
        pytest.skip("Linux perf is not installed")
    code = (
        "import hashlib, time\n"
        "t = time.time()\n"
        "while time.time() - t < 3: hashlib.sha3_256(bytes(4096)).digest()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        rec = consensus._perf_record([child.pid], 1.5, tmp_path / "p.data")
        assert rec is not None
        result = consensus._perf_result(rec, tmp_path / "p.data", 1.5)
    finally:
        child.kill()
        child.wait()
    if "error" in result and "failed" in result["error"]:
        pytest.skip(f"perf cannot sample here: {result['error']}")
    assert result["by_part"]["SHA3 hashing (OpenSSL)"] > 20.0, result


def test_suite_cpu_split_section() -> None:
    from benchmarks import suite

    text = suite.cpu_split({"perf": consensus.perf_split(PERF_REPORT)})
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1] == "| Python interpreter | 45.2 % |"  # largest first, after the header
    assert "Not measured" in suite.cpu_split({"perf": {"error": "perf record failed: x"}})
    assert "needs Linux `perf`" in suite.cpu_split({})
    runs = [
        (suite.SCENARIOS[2], {"cpu": {"compaction_share": 0.031}}),
        (suite.SCENARIOS[0], {"cpu": {"compaction_share": None}}),
        (
            suite.LONG_SCENARIOS[0],
            {"cpu": {"compaction_share": 0.125}, "peak_level0_files": {"a": 5, "b": 9}},
        ),
    ]
    line = suite.compaction_line(runs)
    assert f"{suite.SCENARIOS[2].name} 3.1 %, n4-max-5min 12.5 % (level-0 files at most 9)." in line
    assert suite.compaction_line([(suite.SCENARIOS[0], {"error": "x"})]) == ""


def test_host_drift_between_ceilings() -> None:
    assert consensus.host_drift(7000.0, 6300.0) == -0.1
    assert consensus.host_drift("5000", 5500) == 0.1
    assert consensus.host_drift(0, 5000) is None
    assert consensus.host_drift("n/a", 5000) is None


def test_suite_table_shows_host_drift_and_failures() -> None:
    from benchmarks import suite

    ok = {
        "validators": 4, "key_scheme": "ed25519", "rate": "max", "committed_tps": 2000.0,
        "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0}, "ceiling_tps": 6332.0,
        "host_drift": -0.12, "efficiency": 0.316, "rejected": 0, "lost": 0,
        "max_stall_s": 0.69, "peak_rss_mb": {"a": 160.0},
    }  # fmt: skip
    sc = suite.SCENARIOS[2]
    text = suite.table([(sc, ok), (sc, {"error": "boom"})])
    head, rule, row, failed = text.strip().splitlines()
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == head.count("|") - 1 == rule.count("|") - 1 == failed.count("|") - 1
    assert cells[head.strip("|").split("|").index(" host drift ")] == "-12%"
    assert cells[head.strip("|").split("|").index(" blocks/s (mean txs) ")] == "– (–)"
    ok2 = {**ok, "blocks_per_s": 1.82, "mean_block_txs": 999.6}
    row2 = suite.table([(sc, ok2)]).strip().splitlines()[2]
    assert "| 1.8 (1000) |" in row2


def test_mixed_load_spreads_single_calls_over_every_validator() -> None:
    """Single Torii calls cost a validator ~10x a list's CPU per tx: they must not all
    land on the same validators (a shared round robin sent every 10th chunk to 2 of 4)."""
    targets = ["v0", "v1", "v2", "v3"]
    cfg = loadgen.LoadConfig(toriis=targets, rate=None, duration=1.0, mode="mixed")
    gen = loadgen.LoadGenerator(cfg, [], [], None, track="v0")
    gen.alive = list(targets)
    singles: collections.Counter[str] = collections.Counter()
    lists: collections.Counter[str] = collections.Counter()
    for _ in range(loadgen.SINGLE_EVERY * 8):
        single = gen._next_single()
        target = gen._target(single)
        assert target is not None
        (singles if single else lists)[target] += 1
    assert singles == {t: 2 for t in targets}
    assert lists == {t: 18 for t in targets}


async def test_closed_loop_waits_for_finals_and_stops_on_time() -> None:
    """At max rate a sender with a full window waits until txs become final (no polling
    loop), sends again as soon as they do, and still stops at the end of the run."""
    import trio

    cfg = loadgen.LoadConfig(toriis=["v0"], rate=None, duration=0.6, batch=100, window=200)
    gen = loadgen.LoadGenerator(
        cfg, [b"tx"] * 1000, [bytes([i]) * 32 for i in range(256)], None, "v0"
    )
    sent: list[tuple[float, range]] = []

    async def send(idx: range) -> None:
        sent.append((trio.current_time() - gen.t0, idx))

    looks = 0
    outstanding = gen.outstanding

    def counted() -> int:
        nonlocal looks
        looks += 1
        return outstanding()

    gen._send = send  # type: ignore[method-assign]
    gen.outstanding = counted  # type: ignore[method-assign]
    gen.t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gen._closed_sender)
        await trio.sleep(0.2)
        assert [s[1] for s in sent] == [range(0, 100), range(100, 200)]  # window full
        assert looks <= 4  # it slept through the full window instead of re-checking
        gen._fail(range(0, 100))  # 100 txs final: room for one more chunk
        await trio.sleep(0.05)
        assert [s[1] for s in sent][2:] == [range(200, 300)]
        assert sent[2][0] < 0.25
    ended = trio.current_time() - gen.t0
    assert 0.6 <= ended < 0.8  # left at the deadline with the window still full
    assert gen.outstanding() == 200


async def test_single_calls_go_out_at_once_each_to_the_next_validator(
    autojump_clock: object,
) -> None:
    """A chunk of single Torii calls stands for that many independent clients: all in
    flight together (not one round trip after another), each to the next validator, a
    busy answer retried for that call alone (not the whole chunk again)."""
    import trio

    from node.client.channel import GrpcError, StatusCode

    targets = ["v0", "v1", "v2", "v3"]
    cfg = loadgen.LoadConfig(toriis=targets, rate=None, duration=1.0, mode="single")
    txs = [bytes([i]) * 8 for i in range(100)]
    gen = loadgen.LoadGenerator(cfg, txs, [bytes([i]) * 32 for i in range(100)], None, "v0")
    calls: list[tuple[str, str, bytes]] = []
    flight = {"now": 0, "max": 0}
    busy_once = {txs[7]}

    class Channel:
        def __init__(self, name: str) -> None:
            self.name = name

        async def unary_raw(self, path: str, body: bytes, timeout: float) -> bytes:
            flight["now"] += 1
            flight["max"] = max(flight["max"], flight["now"])
            try:
                await trio.sleep(0.05)  # one round trip
                if body in busy_once:
                    busy_once.discard(body)
                    raise GrpcError(StatusCode.RESOURCE_EXHAUSTED, "busy")
                calls.append((self.name, path.rsplit("/", 1)[-1], body))
                return b""
            finally:
                flight["now"] -= 1

    class Client:
        def __init__(self, name: str) -> None:
            self.channel = Channel(name)

    gen.clients = {t: Client(t) for t in targets}  # type: ignore[misc]
    gen.alive = list(targets)
    gen.t0 = start = trio.current_time()
    await gen._send(gen._take(100))
    assert trio.current_time() - start < 0.2  # a round trip or two, not 100
    assert flight["max"] == 100
    assert sorted(c[2] for c in calls) == sorted(txs)  # each tx accepted exactly once
    assert {c[1] for c in calls} == {"Torii"} and gen.rec.busy == 1
    spread = collections.Counter(c[0] for c in calls)  # 25 each, but for the retried call
    assert set(spread) == set(targets) and max(spread.values()) - min(spread.values()) <= 2


def test_suite_median_run_and_its_row() -> None:
    from benchmarks import suite

    base = {
        "validators": 4, "key_scheme": "ed25519", "rate": "max",
        "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0}, "ceiling_tps": 6000.0,
        "efficiency": 0.4, "rejected": 0, "lost": 0, "max_stall_s": 0.7,
        "peak_rss_mb": {"a": 160.0},
    }  # fmt: skip
    runs = [{**base, "committed_tps": t, "p": i} for i, t in enumerate([2900.0, 2150.0, 2750.0])]
    r = suite.median_run(runs)
    assert r["p"] == 2 and r["committed_tps"] == 2750.0  # the middle one, not the best
    assert r["runs_tps"] == [2900.0, 2150.0, 2750.0]  # in run order
    row = suite.table([(suite.SCENARIOS[2], r)]).strip().splitlines()[2]
    assert "| 2750 (median of 3 runs: 2900, 2150, 2750) |" in row
    # even counts take the lower middle; failures are shown and skipped
    two = suite.median_run([{**base, "committed_tps": 3000.0}, {**base, "committed_tps": 2000.0}])
    assert two["committed_tps"] == 2000.0
    mixed = suite.median_run([{"error": "boom"}, {**base, "committed_tps": 2500.0}])
    assert mixed["committed_tps"] == 2500.0 and mixed["runs_tps"] == [None, 2500.0]
    assert "(median of 2 runs: failed, 2500)" in suite.table([(suite.SCENARIOS[2], mixed)])
    assert suite.median_run([{"error": "a"}, {"error": "b"}]) == {"error": "a"}
    single = suite.median_run([{**base, "committed_tps": 1.0}])
    assert "runs_tps" not in single
    text = suite.targets({"n4-max": r})
    assert "max rate (median of 3 runs) | 2750.0 — not met" in text


def test_suite_long_run_judges_memory_and_shows_its_minutes() -> None:
    from benchmarks import suite

    def run(duration: float, rss: float, **extra: object) -> dict[str, object]:
        return {
            "validators": 4, "key_scheme": "ed25519", "rate": "max", "committed_tps": 2000.0,
            "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0}, "ceiling_tps": 6000.0,
            "efficiency": 0.3, "rejected": 0, "lost": 0, "max_stall_s": 0.7,
            "peak_rss_mb": {"a": rss, "b": rss - 10}, "duration_s": duration, **extra,
        }  # fmt: skip

    short = run(20.0, 170.0)
    text = suite.targets({"n4-max": short})
    assert "(5-minute max-rate run; here 20.0 s, `make bench-long` runs 5 minutes) | 170.0" in text
    long = run(300.0, 320.0, committed_tps_by_minute=[2300.0, 2100.0, 1900.0, 1800.0, 1700.0])
    text = suite.targets({"n4-max": short, "n4-max-5min": long})
    assert "| peak RSS ≤ 300 MB per validator (5-minute max-rate run) | 320.0 — not met |" in text
    (sc,) = suite.LONG_SCENARIOS
    assert sc.duration == 300.0 and sc.validators == 4 and sc.rate is None
    row = suite.table([(sc, long)]).strip().splitlines()[2]
    assert "| 2000 (by minute: 2300, 2100, 1900, 1800, 1700) |" in row
    assert suite.minutes_line([(sc, long)]) == ""  # no CPU samples by minute
    long["cpu"] = {
        "by_minute": [
            {"validator_ms_per_tx": 0.3, "compaction_share": 0.05},
            {
                "validator_ms_per_tx": 0.345,
                "compaction_share": None,
                "validators_share_of_machine": 0.874,
            },
        ]
    }
    assert suite.minutes_line([(sc, long)]) == (
        "n4-max-5min, minute by minute: validator CPU 0.300, 0.345 ms per committed "
        "transaction; compaction's share of it 5.0 %, n/a; the validators' share of the "
        "machine –, 87%.\n"
    )


def test_suite_report_of_a_second_run_that_day_keeps_the_first(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from benchmarks import suite

    png = tmp_path / "n4.png"
    png.write_bytes(b"png")
    r = {
        "validators": 4, "key_scheme": "ed25519", "rate": "max", "committed_tps": 2000.0,
        "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0}, "ceiling_tps": 6000.0,
        "efficiency": 0.3, "rejected": 0, "lost": 0, "max_stall_s": 0.7,
        "peak_rss_mb": {"a": 100.0}, "plot": str(png),
    }  # fmt: skip
    facts = {"cpu": "x", "cores": 2, "python": "3.11", "os": "linux", "load1_at_start": 0.1}
    args = SimpleNamespace(warmup=5.0, duration=20.0, long=False)
    out = tmp_path / "results"
    results = [(suite.SCENARIOS[2], r)]
    first = suite.write_report(results, facts, "2026-01-02", args, out)
    second = suite.write_report(results, facts, "2026-01-02", args, out)
    third = suite.write_report(results, facts, "2026-01-02", args, out)
    assert [p.name for p in (first, second, third)] == [
        "2026-01-02.md",
        "2026-01-02-2.md",
        "2026-01-02-3.md",
    ]
    name = suite.SCENARIOS[2].name
    assert f"](2026-01-02-2-{name}.png)" in second.read_text()
    assert (out / f"2026-01-02-{name}.png").exists() and (out / f"2026-01-02-2-{name}.png").exists()
