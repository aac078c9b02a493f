"""`bakong khqr` through a real subprocess: exit codes, JSON, one-line errors, PNG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from node.payments.khqr import decode

from .test_khqr import SDK_INDIVIDUAL_KHR, SDK_INDIVIDUAL_USD_DYNAMIC, SDK_MERCHANT_USD

ROOT = Path(__file__).resolve().parents[3]
INDIVIDUAL = ["--account", "john_smith@devb", "--name", "John Smith", "--city", "Phnom Penh"]


def bakong(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "node.client", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_encode_static_is_the_sdk_string() -> None:
    result = bakong("khqr", "encode", *INDIVIDUAL, "--currency", "KHR")
    assert result.returncode == 0, result.stderr
    assert result.stdout == SDK_INDIVIDUAL_KHR + "\n"


def test_encode_merchant_with_additional_data() -> None:
    result = bakong(
        "khqr", "encode",
        "--account", "coffee_shop@aclb", "--name", "Coffee Klaing", "--city", "Siem Reap",
        "--currency", "USD", "--merchant-id", "1234567", "--acquiring-bank", "ACLEDA Bank",
        "--bill-number", "INV-001", "--mobile", "85512345678", "--store-label", "Riverside",
        "--terminal-label", "POS-1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == SDK_MERCHANT_USD + "\n"


def test_encode_dynamic_expires() -> None:
    before = time.time_ns() // 1_000_000
    result = bakong(
        "khqr", "encode", *INDIVIDUAL, "--currency", "USD", "--amount", "1.5",
        "--expires-in", "120", "--purpose", "lunch",
    )  # fmt: skip
    after = time.time_ns() // 1_000_000
    assert result.returncode == 0, result.stderr
    code = decode(result.stdout.strip())
    assert code.amount == Decimal("1.50")
    assert code.purpose == "lunch"
    assert code.created_ms is not None and before <= code.created_ms <= after
    assert code.expires_ms == code.created_ms + 120_000


def test_decode_prints_json() -> None:
    result = bakong("khqr", "decode", SDK_INDIVIDUAL_USD_DYNAMIC)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["account_id"] == "john_smith@devb"
    assert data["merchant_name"] == "John Smith"
    assert data["merchant_city"] == "Phnom Penh"
    assert data["merchant_type"] == "individual"
    assert data["currency"] == "USD"
    assert data["amount"] == "1.50"
    assert data["created_ms"] == 1795658260482
    assert data["expires_ms"] == 1795661860482
    assert data["bill_number"] is None
    assert len(data["md5"]) == 32


def test_decode_from_stdin_and_khmer_text() -> None:
    encoded = bakong(
        "khqr", "encode", *INDIVIDUAL, "--currency", "KHR",
        "--language", "km", "--name-alt", "ចន ស្មីធ",
    )  # fmt: skip
    assert encoded.returncode == 0, encoded.stderr
    result = bakong("khqr", "decode", "-", stdin=encoded.stdout)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["merchant_name_alt"] == "ចន ស្មីធ"


def test_decode_bad_code_exits_2_with_one_line() -> None:
    assert_one_line_error(
        bakong("khqr", "decode", SDK_INDIVIDUAL_KHR[:-4] + "0000"), "invalid KHQR", "tag 63", "CRC"
    )
    assert_one_line_error(bakong("khqr", "decode", "hello"), "invalid KHQR")
    assert_one_line_error(bakong("khqr", "decode", ""), "empty")


def test_decode_check_expiry() -> None:
    code = bakong("khqr", "encode", *INDIVIDUAL, "--currency", "KHR", "--amount", "100")
    assert bakong("khqr", "decode", "--check-expiry", code.stdout.strip()).returncode == 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--currency", "KHR", "--amount", "100.5"], "tag 54: KHR amounts are whole riel"),
        (["--currency", "USD", "--amount", "1.005"], "at most 2 decimals"),
        (["--currency", "USD", "--amount", "abc"], "not a decimal number"),
        (["--currency", "EUR"], "invalid choice"),
        (["--currency", "KHR", "--expires-in", "60"], "--expires-in needs --amount"),
        (["--currency", "KHR", "--merchant-id", "1"], "needs --acquiring-bank"),
        (["--currency", "KHR", "--mcc", "12"], "tag 52"),
        (["--currency", "KHR", "--bill-number", "B" * 26], "tag 62/01"),
    ],
)
def test_encode_bad_input(args: list[str], fragment: str) -> None:
    result = bakong("khqr", "encode", *INDIVIDUAL, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr, result.stderr


def test_usage_errors_without_traceback() -> None:
    for args in ([], ["khqr"], ["khqr", "encode"], ["nope"]):
        result = bakong(*args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        assert "usage: bakong" in result.stderr
    assert bakong("--help").returncode == 0


def test_png(tmp_path: Path) -> None:
    pytest.importorskip("segno", reason="segno (QR images) is not installed")
    png = tmp_path / "code.png"
    result = bakong("khqr", "encode", *INDIVIDUAL, "--currency", "KHR", "--png", str(png))
    assert result.returncode == 0, result.stderr
    assert result.stdout == SDK_INDIVIDUAL_KHR + "\n"
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    bad = bakong(
        "khqr", "encode", *INDIVIDUAL, "--currency", "KHR", "--png", str(tmp_path / "no/x.png")
    )
    assert bad.returncode == 1
    assert "cannot write" in bad.stderr and "Traceback" not in bad.stderr


def test_png_without_segno(tmp_path: Path) -> None:
    # A None entry in sys.modules makes `import segno` fail as if it were not installed.
    script = (
        "import sys; sys.modules['segno'] = None\n"
        "from node.client.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    args = ["khqr", "encode", *INDIVIDUAL, "--currency", "KHR", "--png", str(tmp_path / "x.png")]
    result = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == "bakong: --png needs the 'segno' package (pip install segno)\n"
    assert not (tmp_path / "x.png").exists()


def test_decode_stdin_not_utf8() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "node.client", "khqr", "decode", "-"],
        cwd=ROOT, input=b"\xff\xfe000201", capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(b"bakong: invalid KHQR")
    assert b"Traceback" not in result.stderr
