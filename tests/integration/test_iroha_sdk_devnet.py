"""The official Iroha Python SDK, unchanged, against a real 4-validator network (issue #6):
the same scenario as tests/api/torii/test_sdk.py, now through consensus."""

from __future__ import annotations

from pathlib import Path

from tests.api.torii.test_sdk import SCRIPT, check_sdk_outcome
from tests.integration.devnet_support import running_devnet
from tests.support.iroha_sdk import run_sdk


def test_iroha_sdk_against_devnet(tmp_path: Path) -> None:
    with running_devnet(tmp_path, 4) as doc:
        assert doc["admin"]["key_scheme"] == "ed25519"  # the script signs with an ed0120 key
        addr = doc["validators"][2]["torii"]
        out = run_sdk(SCRIPT, addr, doc["admin"]["private_key"], "00" * 32, timeout=180)
    check_sdk_outcome(out, peers=4)
