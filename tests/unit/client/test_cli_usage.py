"""`bakong` network commands through a real subprocess, without a ledger: usage errors
(exit 2), unreachable Torii (exit 3), one-line messages, no tracebacks, JSON shapes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from node.keys import load_key_file

ROOT = Path(__file__).resolve().parents[3]


def bakong(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BAKONG_")}
    return subprocess.run(
        [sys.executable, "-m", "node.client", *args],
        cwd=ROOT,
        env=dict(base, PYTHONIOENCODING="utf-8", **(env or {})),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def one_line(r: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 or lines[-1].startswith("bakong"), r.stderr  # argparse: usage + line
    for f in fragments:
        assert f in r.stderr, r.stderr


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("keys") / "me.key"
    r = bakong("keygen", "--out", str(path), "--scheme", "ed25519-sha3", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    kp = load_key_file(str(path))
    assert data == {"scheme": "ed25519-sha3", "public_key": kp.public_key, "key_file": str(path)}
    assert (path.stat().st_mode & 0o777) == 0o600
    return str(path)


@pytest.fixture(scope="module")
def closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_keygen_prints_a_key_file_and_never_overwrites(key_file: str) -> None:
    r = bakong("keygen")
    doc = json.loads(r.stdout)
    assert doc["scheme"] == "ed25519" and doc["public_key"].startswith("ed0120")
    one_line(bakong("keygen", "--out", key_file), 2, "exists; not overwriting")


def test_unreachable_torii_is_exit_3_naming_the_address(key_file: str, closed_port: int) -> None:
    target = f"127.0.0.1:{closed_port}"
    for args in (
        ["health"],
        ["balance", "--account", "me@aclb", "--key", key_file],
        ["tx", "status", "ab" * 32],
        ["transfer", "--to", "x@aclb", "--asset", "usd#bakong", "--amount", "1"],
    ):
        r = bakong(
            *args, "--torii", target, env={"BAKONG_ACCOUNT": "me@aclb", "BAKONG_KEY": key_file}
        )
        one_line(r, 3, f"cannot reach Torii at {target}")


def test_environment_supplies_the_connection_options(key_file: str, closed_port: int) -> None:
    env = {
        "BAKONG_TORII": f"127.0.0.1:{closed_port}",
        "BAKONG_ACCOUNT": "me@aclb",
        "BAKONG_KEY": key_file,
    }
    one_line(bakong("balance", env=env), 3, f"127.0.0.1:{closed_port}")
    # a command-line option wins over the environment, before or after the command
    one_line(bakong("balance", "--torii", "host:notaport", env=env), 2, "--torii: bad port")
    one_line(bakong("--torii", "host:99999", "balance", env=env), 2, "bad port")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["balance"], "--account ID (or BAKONG_ACCOUNT) is needed"),
        (["balance", "--account", "me@aclb"], "--key KEYFILE (or BAKONG_KEY) is needed"),
        (["balance", "--account", "me@aclb", "--key", "/nonexistent.key"], "no such key file"),
        (["balance", "--account", "Me@aclb", "--key", "k"], "is not an account id"),
        (["transfer", "--to", "x@aclb", "--asset", "usd#bakong", "--amount", "1.005"], "at most 2"),
        (["transfer", "--to", "x@aclb", "--asset", "khr#bakong", "--amount", "10.5"], "whole"),
        (
            ["transfer", "--to", "x@aclb", "--asset", "usd#bakong", "--amount", "-1"],
            "greater than 0",
        ),
        (["transfer", "--to", "me@aclb", "--asset", "usd#bakong", "--amount", "1"], "two accounts"),
        (["pay", "not-a-code", "--amount", "1"], "invalid KHQR"),
        (["multisig", "sign", "nothing-here"], "neither a tx hash"),
        (["batch", "--atomic", "/nonexistent.json"], "no such file"),
    ],
)
def test_bad_input_is_exit_2_before_connecting(
    key_file: str, closed_port: int, args: list[str], fragment: str
) -> None:
    env = {"BAKONG_TORII": f"127.0.0.1:{closed_port}"}
    if "--account" not in args and args[0] != "balance":
        env |= {"BAKONG_ACCOUNT": "me@aclb", "BAKONG_KEY": key_file}
    one_line(bakong(*args, env=env), 2, fragment)


@pytest.mark.parametrize(
    "args",
    [
        ["tx", "status", "xyz"],
        ["transfer", "--to", "x@aclb", "--amount", "1"],  # --asset missing
        ["transfer", "--to", "nobody", "--asset", "usd#bakong", "--amount", "1"],
        ["batch", "file.json"],  # --atomic or --ordered
        ["batch", "--atomic", "--ordered", "file.json"],
        ["blocks", "watch", "--count", "0"],
        ["health", "--timeout", "-1"],
        ["xb", "sideways"],
    ],
)
def test_argparse_usage_errors_are_exit_2(args: list[str]) -> None:
    r = bakong(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""
    assert r.stderr.splitlines()[-1].startswith("bakong")


def test_bad_batch_file_is_named(tmp_path: Path, key_file: str) -> None:
    f = tmp_path / "b.json"
    f.write_text("[{")
    one_line(bakong("batch", "--atomic", str(f)), 2, f"{f}: not JSON")
    f.write_text(json.dumps([{"creator": "me@aclb", "key": key_file, "nonsense": 1}]))
    one_line(bakong("batch", "--atomic", str(f)), 2, "transaction 0: unknown field(s) ['nonsense']")
    f.write_text(
        json.dumps([{"creator": "me@aclb", "key": key_file, "commands": [{"noSuch": {}}]}])
    )
    one_line(bakong("batch", "--ordered", str(f)), 2, "transaction 0: bad command")
    f.write_text(json.dumps({"transactions": []}))
    one_line(bakong("batch", "--atomic", str(f)), 2, "non-empty JSON list")


def test_xb_quote_json_shape_without_a_peer() -> None:
    r = bakong(
        "--json", "xb", "inbound", "--account", "alipay_gw@aclb", "--quote",
        "--reference", "R1", "--merchant", "coffee_shop@aclb", "--foreign-currency", "THB",
        "--foreign-amount", "1000", "--rate", "112.5", "--fee-bps", "80",
        "--fee-account", "ops@aclb",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "settlement": {
            "direction": "inbound",
            "reference": "R1",
            "partner": "alipay+",
            "counterparty": "wallet",
            "payer": "alipay_gw@aclb",
            "payee": "coffee_shop@aclb",
            "fee_account": "ops@aclb",
            "asset": "khr#bakong",
            "foreign_currency": "THB",
            "foreign_amount": "1000",
            "rate": "112.5",
            "fee_bps": 80,
            "gross": "112500",
            "fee": "900",
            "credited": "111600",
            "debited": "112500",
            "detail_key": "xb_R1",
        }
    }
    one_line(
        bakong("xb", "outbound", "--quote", "--account", "me@aclb", "--reference", "R 1",
               "--gateway", "gw@aclb", "--foreign-merchant", "M", "--foreign-currency", "CNY",
               "--foreign-amount", "1", "--rate", "560", "--fee-bps", "0",
               "--fee-account", "ops@aclb"),
        2,
        "cannot settle: reference 'R 1'",
    )  # fmt: skip


def test_khqr_commands_keep_their_own_account_option() -> None:
    # `khqr encode --account` is the payee of the code, not the connection's account
    r = bakong("khqr", "encode", "--account", "shop@aclb", "--name", "Shop", "--city", "PP",
               "--currency", "KHR")  # fmt: skip
    assert r.returncode == 0 and r.stdout.startswith("000201"), r.stderr
