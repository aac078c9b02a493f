"""``bakong-node``: keygen, init and run a validator. Argument parsing only.

Exit codes: 0 ok, 2 bad usage or configuration (with a one-line message naming the
file and key), 1 a runtime failure (logged).
"""

from __future__ import annotations

import argparse
import os
import sys

from node.config import ConfigError, NodeConfig, load_node_config, render_node_config
from node.crypto import KeyPair, KeyScheme
from node.keys import KeyFileError, keypair_to_json, write_key_file


def _fail(msg: str) -> int:
    print(f"bakong-node: {msg}", file=sys.stderr)
    return 2


def cmd_keygen(args: argparse.Namespace) -> int:
    kp = KeyPair.generate(KeyScheme(args.scheme))
    if args.out:
        try:
            write_key_file(args.out, kp)
        except FileExistsError:
            return _fail(f"{args.out} exists; refusing to overwrite a key")
        except OSError as e:
            return _fail(f"cannot write {args.out}: {e.strerror}")
        print(kp.public_key)
    else:
        sys.stdout.write(keypair_to_json(kp))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    cfg_path = os.path.join(d, "node.toml")
    if os.path.exists(cfg_path) and not args.force:
        return _fail(f"{cfg_path} exists (use --force to overwrite the config; keys are kept)")
    key_file = os.path.join(d, "node.key")
    if not os.path.exists(key_file):
        write_key_file(key_file, KeyPair.generate(KeyScheme(args.scheme)))
    if not os.path.exists(args.genesis):
        return _fail(f"genesis file {args.genesis} does not exist")
    cfg = NodeConfig(
        chain_id=args.chain_id,
        data_dir="data",
        key_file="node.key",
        genesis_file=os.path.abspath(args.genesis),
        torii_listen=args.torii,
        p2p_listen=args.p2p,
        p2p_advertise=args.p2p_advertise or args.p2p,
        metrics_listen=args.metrics,
        bootstrap=tuple(args.peer or ()),
    )
    with open(cfg_path, "w") as f:
        f.write(render_node_config(cfg))
    print(cfg_path)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    try:
        cfg = load_node_config(args.config)
    except ConfigError as e:
        return _fail(str(e))
    from node.app import StartupError, run_node

    try:
        return run_node(cfg)
    except (StartupError, KeyFileError) as e:
        return _fail(str(e))


def cmd_native(args: argparse.Namespace) -> int:
    from node import native

    if args.action == "build":
        # A failed build is no error (the node runs as plain Python) unless required.
        ok = native.build(args.force)
        code = 1 if args.require and not ok and native.can_build() else 0
        if code:
            print("native build: required (--require), and this machine can build", file=sys.stderr)
        # Freeing mypy's in-memory build at interpreter exit took 18 s here; skip it, as
        # mypy's own command line does.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    elif args.action == "clean":
        print(f"native build: removed {native.clean()} files")
    else:
        print(native.activate())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bakong-node", description="bakong-node validator")
    sub = p.add_subparsers(dest="command", required=True)
    k = sub.add_parser("keygen", help="generate a validator or account key pair")
    k.add_argument("--scheme", choices=[s.value for s in KeyScheme], default="ed25519")
    k.add_argument("--out", help="write a key file (0600) instead of printing JSON")
    k.set_defaults(func=cmd_keygen)
    i = sub.add_parser("init", help="create a node directory with a key and node.toml")
    i.add_argument("--dir", required=True)
    i.add_argument("--chain-id", required=True)
    i.add_argument("--genesis", required=True, help="genesis block file (JSON)")
    i.add_argument("--scheme", choices=[s.value for s in KeyScheme], default="ed25519")
    i.add_argument("--torii", default="127.0.0.1:50051")
    i.add_argument("--p2p", default="127.0.0.1:10001")
    i.add_argument("--p2p-advertise", default="")
    i.add_argument("--metrics", default="127.0.0.1:9100")
    i.add_argument("--peer", action="append", help="bootstrap peer host:port (repeatable)")
    i.add_argument("--force", action="store_true")
    i.set_defaults(func=cmd_init)
    r = sub.add_parser("run", help="run a validator")
    r.add_argument("--config", required=True)
    r.set_defaults(func=cmd_run)
    n = sub.add_parser("native", help="the mypyc build of the per-transaction modules")
    n.add_argument("action", choices=("build", "status", "clean"))
    n.add_argument("--force", action="store_true", help="rebuild even when up to date")
    n.add_argument(
        "--require",
        action="store_true",
        help="build: exit 1 when the build fails on a machine with mypyc and a C compiler",
    )
    n.set_defaults(func=cmd_native)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
