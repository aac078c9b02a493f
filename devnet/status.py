"""Live status of a devnet: one row per validator, read from its HTTP ``/status``."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet import procs


@dataclass
class Row:
    name: str
    state: str  # alive / paused / dead / starting
    pid: int | None
    height: int | None = None
    round: str = "-"
    peers: int | None = None
    tps: float | None = None
    last_block_age_s: float | None = None
    syncing: bool = False
    log: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fetch_status(metrics_addr: str, timeout: float = 0.5) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://{metrics_addr}/status", timeout=timeout) as r:
            doc = json.loads(r.read())
            return doc if isinstance(doc, dict) else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def collect(root: Path, network: dict[str, Any]) -> list[Row]:
    rows = []
    for v in network["validators"]:
        node_dir = root / v["name"]
        state, pid = procs.node_state(node_dir)
        row = Row(v["name"], state, pid, log=str(procs.log_file(node_dir)))
        if state == "alive":
            doc = fetch_status(v["metrics"])
            if doc is None:
                row.state = "starting"
            else:
                row.height = doc.get("height")
                rnd = doc.get("round")
                row.round = f"{rnd[0]}:{rnd[1]}" if isinstance(rnd, list) else "-"
                row.peers = doc.get("peers")
                row.tps = doc.get("tps")
                last = doc.get("last_block_time_ms")
                if isinstance(last, int) and last > 0:
                    row.last_block_age_s = max(0.0, time.time() - last / 1000)
                row.syncing = bool(doc.get("is_syncing"))
        rows.append(row)
    return rows


def render(rows: list[Row], title: str) -> str:
    head = f"{'validator':<10} {'state':<9} {'height':>7} {'round':>9} {'peers':>5} "
    head += f"{'tx/s':>8} {'last block':>11}  log"
    lines = [title, head, "-" * len(head)]
    for r in rows:
        state = r.state + ("*" if r.syncing else "")
        height = "-" if r.height is None else str(r.height)
        peers = "-" if r.peers is None else str(r.peers)
        tps = "-" if r.tps is None else f"{r.tps:.1f}"
        age = "-" if r.last_block_age_s is None else f"{r.last_block_age_s:.1f}s ago"
        cells = f"{r.name:<10} {state:<9} {height:>7} {r.round:>9} {peers:>5} {tps:>8} {age:>11}"
        lines.append(f"{cells}  {r.log}")
    lines.append("(* = syncing)  Ctrl-C stops the network; data stays in the directory.")
    return "\n".join(lines)
