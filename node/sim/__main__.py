"""``python -m node.sim``: run seeds of the cluster simulation, print replayable failures."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from node.sim.cluster import BEHAVIOURS, FAILPOINTS, SimConfig
from node.sim.runner import MUTANTS, apply_mutant, describe, replay_command, run_many
from node.storage.memory import CrashMode

STATS = (
    "crashes",
    "partitions",
    "flood_sent",
    "invalid_votes_sent",
    "invalid_votes_counted",
    "equivocating_rounds_seen",
    "equivocating_rounds_reported",
)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m node.sim", description=__doc__)
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--byzantine", type=int, default=None, help="default: f = (n - 1) // 3")
    ap.add_argument("--seeds", type=int, default=20, help="number of seeds (from --first)")
    ap.add_argument("--first", type=int, default=0, help="first seed")
    ap.add_argument("--steps", type=int, default=3000, help="steps before GST")
    ap.add_argument("--seed", type=int, default=None, help="run only this seed (replay)")
    ap.add_argument("--behaviour", choices=BEHAVIOURS, default=None)
    ap.add_argument("--crypto", choices=("auto", "fake", "real"), default="auto")
    ap.add_argument("--mutant", choices=sorted(MUTANTS), default=None)
    ap.add_argument(
        "--failpoint",
        choices=FAILPOINTS,
        default=None,
        help="crash at this named point instead of between events (reliability plan row 11)",
    )
    ap.add_argument(
        "--crash-mode",
        choices=[m.value for m in CrashMode],
        action="append",
        default=None,
        help="crash modes to draw from (repeatable; default: all)",
    )
    ap.add_argument(
        "--proposal-fill-ms",
        type=int,
        default=0,
        help="how long the ordering peer waits for a full proposal (default 0: not at all)",
    )
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument(
        "--stats", action="store_true", help="print fault and check counters summed over seeds"
    )
    args = ap.parse_args(argv)
    n = args.validators
    if n < 1:
        ap.error("--validators must be at least 1")
    byz = (n - 1) // 3 if args.byzantine is None else args.byzantine
    config = SimConfig(
        validators=n,
        byzantine=byz,
        steps=args.steps,
        behaviour=args.behaviour,
        crypto=args.crypto,
        failpoint=args.failpoint,
        proposal_fill_ms=args.proposal_fill_ms,
    )
    if args.crash_mode:
        config = replace(config, crash_modes=tuple(CrashMode(m) for m in args.crash_mode))
    config = apply_mutant(config, args.mutant)
    seeds = [args.seed] if args.seed is not None else range(args.first, args.first + args.seeds)
    started = time.perf_counter()
    results = run_many(seeds, config, args.jobs)
    elapsed = time.perf_counter() - started
    failed = 0
    for r in results:
        if args.verbose or not r.ok:
            print(describe(r))
        if not r.ok:
            failed += 1
            for v in r.violations[1:3]:
                print(f"  {v}")
            print(f"  replay: {replay_command(r, args.mutant)}")
    steps = sum(r.steps for r in results)
    events = steps + sum(r.counters["injected_events"] for r in results)
    print(
        f"{steps} steps (+{events - steps} injected flood events) in {elapsed:.1f} s "
        f"({events / max(elapsed, 1e-9):.0f} events/s)",
        file=sys.stderr,
    )
    if args.stats:
        totals: Counter[str] = Counter()
        for r in results:
            totals.update({k: v for k, v in r.counters.items() if k in STATS or k[:6] == "crash_"})
        totals.update(Counter(f"behaviour_{r.behaviour}" for r in results))
        print(" ".join(f"{k}={v}" for k, v in sorted(totals.items())), file=sys.stderr)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
