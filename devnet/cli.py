"""``bakong-devnet``: run a local network of bank validators (see ``--help``).

The interface is scripted against by tests and tools; keep it stable. Exit codes:
0 ok, 2 bad usage (unknown node, port in use, directory of another network...),
1 the network did not come up in time (the message says which validator and where
its log is).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from devnet import procs
from devnet.network import (
    DevnetError,
    add_validator,
    generate,
    load_network,
    port_free,
    save_network,
)
from devnet.status import collect, fetch_status, render
from node.crypto import KeyScheme

START_TIMEOUT_S = 60.0
PORT_WAIT_S = 10.0


def _root(args: argparse.Namespace) -> Path:
    return Path(args.dir).resolve()


def _node(doc: dict[str, Any], which: str) -> dict[str, Any]:
    vals = doc["validators"]
    if which.isdigit() and int(which) < len(vals):
        return dict(vals[int(which)])
    for v in vals:
        if v["name"] == which:
            return dict(v)
    names = ", ".join(f"{i}={v['name']}" for i, v in enumerate(vals))
    raise DevnetError(f"unknown validator {which!r}; this network has {names}")


def _busy_ports(doc: dict[str, Any], root: Path) -> list[str]:
    """The ports the validators to be started need that something else holds."""
    busy = []
    for v in doc["validators"]:
        if procs.node_state(root / v["name"])[0] != "dead":
            continue
        for what in ("torii", "p2p", "metrics"):
            port = int(v[what].rsplit(":", 1)[1])
            if not port_free(port):
                busy.append(f"port {port} ({v['name']} {what})")
    return busy


def _check_ports(doc: dict[str, Any], root: Path, wait_s: float) -> None:
    """Refuse to start on a port in use, after waiting up to ``wait_s`` for it: the
    default range (Iroha's 50051 up) lies in Linux's ephemeral port range, where any
    program's outgoing connection may hold a port for a moment."""
    busy = _busy_ports(doc, root)
    if busy and wait_s > 0:
        print(
            f"{busy[0]} is in use; waiting up to {wait_s:g} s for it (an outgoing connection "
            "of another program can hold a port of this range for a moment)",
            file=sys.stderr,
        )
        deadline = time.monotonic() + wait_s
        while busy and time.monotonic() < deadline:
            time.sleep(0.25)
            busy = _busy_ports(doc, root)
    if busy:
        raise DevnetError(
            f"{busy[0]} is in use; stop what uses it or pick another range with "
            "--base-port (on a new --dir)"
        )


def _wait_ready(root: Path, doc: dict[str, Any], names: list[str], timeout: float) -> None:
    """Until each named validator answers /status with a committed genesis."""
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for v in doc["validators"]:
            if v["name"] not in pending:
                continue
            state, _ = procs.node_state(root / v["name"])
            if state == "dead":
                log = procs.log_file(root / v["name"])
                tail = _tail(log) or "(empty)"
                how = procs.exit_reason(root / v["name"])
                raise DevnetError(
                    f"validator {v['name']} exited during start"
                    f"{f' ({how})' if how else ''}; log {log}:\n{tail}"
                )
            st = fetch_status(v["metrics"])
            if st is not None and int(st.get("height", 0)) >= 1 and st.get("torii_ready"):
                pending.discard(v["name"])
        time.sleep(0.2)
    if pending:
        waiting = ", ".join(sorted(pending))
        raise TimeoutError(f"not ready after {timeout:.0f}s: {waiting} (logs under {root})")


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _start_all(root: Path, doc: dict[str, Any]) -> list[str]:
    started = []
    for v in doc["validators"]:
        node_dir = root / v["name"]
        if procs.node_state(node_dir)[0] == "dead":
            procs.start(node_dir, Path(v["config"]))
            started.append(v["name"])
    return started


def cmd_up(args: argparse.Namespace) -> int:
    root = _root(args)
    if (root / "network.json").exists():
        doc = load_network(root)
        if args.validators != len(doc["validators"]) and args.validators_given:
            print(
                f"note: {root} already holds a {len(doc['validators'])}-validator network; "
                "reusing it (--validators applies to new directories)",
                file=sys.stderr,
            )
    else:
        doc = generate(root, args.validators, args.base_port, KeyScheme(args.key_scheme))
        print(f"created network {doc['chain_id']} in {root}")
    _check_ports(doc, root, args.port_wait)
    started = _start_all(root, doc)
    try:
        _wait_ready(root, doc, [v["name"] for v in doc["validators"]], START_TIMEOUT_S)
    except (DevnetError, TimeoutError) as e:
        print(f"bakong-devnet: {e}", file=sys.stderr)
        if not args.detach:
            _down(root, doc)
        return 1
    print(
        f"{len(doc['validators'])} validators up ({len(started)} started); "
        f"Torii at {', '.join(v['torii'] for v in doc['validators'])}"
    )
    if args.detach:
        return 0
    return _foreground(root, doc)


def _foreground(root: Path, doc: dict[str, Any]) -> int:
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    interactive = sys.stdout.isatty()
    try:
        while not stop:
            rows = collect(root, doc)
            text = render(rows, f"bakong devnet {doc['chain_id']}  ({root})")
            if interactive:
                sys.stdout.write("\x1b[H\x1b[2J" + text + "\n")
            else:
                sys.stdout.write(text + "\n\n")
            sys.stdout.flush()
            for _ in range(10):
                if stop:
                    break
                time.sleep(0.1 if interactive else 0.5)
    finally:
        print("\nstopping validators ...")
        _down(root, doc)
        print("stopped; data kept in", root)
    return 0


def _down(root: Path, doc: dict[str, Any]) -> None:
    for v in doc["validators"]:
        procs.send(root / v["name"], signal.SIGTERM)
    for v in doc["validators"]:
        procs.stop(root / v["name"], timeout=10.0)


def cmd_down(args: argparse.Namespace) -> int:
    root = _root(args)
    doc = load_network(root)
    _down(root, doc)
    print("all validators stopped; data kept in", root)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    root = _root(args)
    doc = load_network(root)
    rows = collect(root, doc)
    if args.json:
        print(json.dumps({"chain_id": doc["chain_id"], "validators": [r.as_dict() for r in rows]}))
    else:
        print(render(rows, f"bakong devnet {doc['chain_id']}  ({root})"))
    return 0


_SIGNALS = {
    "kill": signal.SIGKILL,
    "stop": signal.SIGTERM,
    "pause": signal.SIGSTOP,
    "resume": signal.SIGCONT,
    "disconnect": signal.SIGUSR1,  # the node's fault switch: drop all peer traffic
    "reconnect": signal.SIGUSR2,
}


def cmd_signal(args: argparse.Namespace) -> int:
    root = _root(args)
    doc = load_network(root)
    v = _node(doc, args.node)
    node_dir = root / v["name"]
    if args.command == "stop":
        ok = procs.stop(node_dir)
        print(f"{v['name']}: {'stopped' if ok else 'did not stop'}")
        return 0 if ok else 1
    pid = procs.send(node_dir, _SIGNALS[args.command])
    if pid is None:
        print(f"{v['name']} is not running", file=sys.stderr)
        return 2
    if args.command == "kill":
        procs.wait_dead(node_dir, 5.0)
    print(f"{v['name']}: {args.command} (pid {pid})")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    root = _root(args)
    doc = load_network(root)
    v = _node(doc, args.node)
    node_dir = root / v["name"]
    if args.command == "restart":
        procs.stop(node_dir)
    if procs.node_state(node_dir)[0] != "dead":
        print(f"{v['name']} is already running")
        return 0
    pid = procs.start(node_dir, Path(v["config"]))
    print(f"{v['name']}: started (pid {pid}), log {procs.log_file(node_dir)}")
    return 0


def cmd_add_validator(args: argparse.Namespace) -> int:
    from devnet.admin import add_peer_on_chain

    root = _root(args)
    doc = load_network(root)
    entry, kp = add_validator(root, doc)
    add_peer_on_chain(doc, entry["p2p"], kp.public_key, syncing=args.syncing)
    entry["syncing"] = args.syncing
    doc["validators"].append(entry)
    save_network(root, doc)
    procs.start(root / entry["name"], Path(entry["config"]))
    what = "syncing peer (follows the chain, never votes)" if args.syncing else "validator"
    print(f"{entry['name']}: added as a {what} with AddPeer and started; it syncs")
    return 0


def cmd_remove_validator(args: argparse.Namespace) -> int:
    from devnet.admin import remove_peer_on_chain

    root = _root(args)
    doc = load_network(root)
    v = _node(doc, args.node)
    remove_peer_on_chain(doc, v["public_key"])
    procs.stop(root / v["name"])
    doc["validators"] = [x for x in doc["validators"] if x["name"] != v["name"]]
    doc.setdefault("removed", []).append(v)
    save_network(root, doc)
    print(f"{v['name']}: removed with RemovePeer and stopped (data kept in {root / v['name']})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from devnet.demo import run_demo

    root = _root(args)
    return run_demo(root, load_network(root), count=args.count)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bakong-devnet", description="Run a local network of bank validators."
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create (first time) and start the network")
    up.add_argument("--dir", required=True)
    up.add_argument("--validators", type=int, default=None)
    up.add_argument("--base-port", type=int, default=50051)
    up.add_argument("--detach", action="store_true", help="return once every validator is up")
    up.add_argument("--key-scheme", choices=[s.value for s in KeyScheme], default="ed25519")
    up.add_argument(
        "--port-wait",
        type=float,
        default=PORT_WAIT_S,
        metavar="SECONDS",
        help=f"how long a port in use may take to come free (default {PORT_WAIT_S:g})",
    )
    up.set_defaults(func=cmd_up)
    st = sub.add_parser("status", help="one status table (or --json)")
    st.add_argument("--dir", required=True)
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    for name in ("kill", "stop", "pause", "resume", "disconnect", "reconnect"):
        s = sub.add_parser(name, help=f"{name} one validator (index or name)")
        s.add_argument("node")
        s.add_argument("--dir", required=True)
        s.set_defaults(func=cmd_signal)
    for name in ("start", "restart"):
        s = sub.add_parser(name, help=f"{name} one validator (index or name)")
        s.add_argument("node")
        s.add_argument("--dir", required=True)
        s.set_defaults(func=cmd_start)
    a = sub.add_parser("add-validator", help="add a validator through AddPeer; it syncs")
    a.add_argument("--dir", required=True)
    a.add_argument("--syncing", action="store_true", help="a non-voting syncing peer")
    a.set_defaults(func=cmd_add_validator)
    rm = sub.add_parser("remove-validator", help="RemovePeer on chain, then stop it")
    rm.add_argument("node")
    rm.add_argument("--dir", required=True)
    rm.set_defaults(func=cmd_remove_validator)
    d = sub.add_parser("down", help="stop every validator (data is kept)")
    d.add_argument("--dir", required=True)
    d.set_defaults(func=cmd_down)
    demo = sub.add_parser("demo", help="send a stream of realistic payments")
    demo.add_argument("--dir", required=True)
    demo.add_argument("--count", type=int, default=20)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "validators", None) is not None:
        args.validators_given = True
    else:
        args.validators_given = False
        if hasattr(args, "validators"):
            args.validators = 4
    try:
        code: int = args.func(args)
        return code
    except DevnetError as e:
        print(f"bakong-devnet: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
