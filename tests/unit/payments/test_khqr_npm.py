"""Interoperability with NBC's own KHQR SDK (npm ``bakong-khqr@1.0.20``), run under node.

Every string we encode must pass the SDK's ``verify`` and its ``decode`` must give our
fields; every string the SDK generates must decode here to the same values and re-encode
byte-identically. The SDK is installed once into ``<repo>/.cache/npm-khqr`` (not in git).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from node.payments.khqr import KHQR, crc_hex, decode, encode, khqr_md5
from tests.support.locks import exclusive

from .test_khqr import SDK_INDIVIDUAL_KHR

ROOT = Path(__file__).resolve().parents[3]
SDK_VERSION = "1.0.20"
SDK_DIR = Path(os.environ.get("BAKONG_NPM_KHQR_DIR", ROOT / ".cache" / "npm-khqr"))
NODE_TIMEOUT_S = 60  # verify() can loop forever on some malformed input
RESULT_MARK = "@@KHQR-RESULT@@"
HOUR_MS = 3_600_000

NODE_SCRIPT = r"""
const { BakongKHQR, IndividualInfo, MerchantInfo } = require("bakong-khqr");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = { verify: [], generate: [] };
for (const s of input.verify) {
  out.verify.push({ isValid: BakongKHQR.verify(s).isValid, data: BakongKHQR.decode(s).data });
}
for (const g of input.generate) {
  const opt = Object.assign({}, g.optional);
  if (g.expiresInMs) opt.expirationTimestamp = Date.now() + g.expiresInMs;
  const sdk = new BakongKHQR();
  const r = g.type === "merchant"
    ? sdk.generateMerchant(new MerchantInfo(g.account, g.name, g.city, g.merchantId, g.bank, opt))
    : sdk.generateIndividual(new IndividualInfo(g.account, g.name, g.city, opt));
  out.generate.push({ status: r.status, data: r.data });
}
process.stdout.write("\n" + process.argv[1] + JSON.stringify(out) + "\n");
"""


@pytest.fixture(scope="module")
def sdk_dir() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run NBC's bakong-khqr SDK; not found on PATH")
    package = SDK_DIR / "node_modules" / "bakong-khqr" / "package.json"

    def installed() -> bool:
        return package.exists() and json.loads(package.read_text())["version"] == SDK_VERSION

    if installed():
        return SDK_DIR
    # pytest-xdist workers share the folder: one installs, the other waits for it
    with exclusive(SDK_DIR.with_name(SDK_DIR.name + ".lock")):
        if not installed():
            SDK_DIR.mkdir(parents=True, exist_ok=True)
            install = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(SDK_DIR),
                 f"bakong-khqr@{SDK_VERSION}"],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            if install.returncode != 0:
                pytest.fail(
                    f"npm install bakong-khqr@{SDK_VERSION} failed:\n{install.stderr[-2000:]}"
                )
    return SDK_DIR


def run_sdk(sdk_dir: Path, verify: list[str], generate: list[dict[str, Any]]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    try:
        result = subprocess.run(
            [node, "-e", NODE_SCRIPT, RESULT_MARK],
            cwd=sdk_dir,
            input=json.dumps({"verify": verify, "generate": generate}),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=NODE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"NBC's SDK did not finish in {NODE_TIMEOUT_S} s (verify loops on bad input)")
    assert result.returncode == 0, result.stderr
    # The SDK may log to stdout; our answer is the one marked line.
    line = next(x for x in result.stdout.splitlines() if x.startswith(RESULT_MARK))
    answer: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
    return answer


def sdk_view(code: KHQR, text: str) -> dict[str, str | None]:
    """What ``BakongKHQR.decode(text).data`` must hold for ``code`` (amount aside)."""
    merchant = code.merchant_type == "merchant"
    return {
        "merchantType": "30" if merchant else "29",
        "bakongAccountID": code.account_id,
        "accountInformation": code.account_information,
        "merchantID": code.merchant_id,
        "acquiringBank": code.acquiring_bank,
        "billNumber": code.bill_number,
        "mobileNumber": code.mobile_number,
        "storeLabel": code.store_label,
        "terminalLabel": code.terminal_label,
        "purposeOfTransaction": code.purpose,
        "languagePreference": code.language_preference,
        "merchantNameAlternateLanguage": code.merchant_name_alt,
        "merchantCityAlternateLanguage": code.merchant_city_alt,
        "creationTimestamp": None if code.created_ms is None else str(code.created_ms),
        "expirationTimestamp": None if code.expires_ms is None else str(code.expires_ms),
        "payloadFormatIndicator": "01",
        "pointofInitiationMethod": "12" if code.is_dynamic else "11",
        "unionPayMerchant": code.upi_merchant_account,
        "merchantCategoryCode": code.mcc,
        "transactionCurrency": {"KHR": "116", "USD": "840"}[code.currency],
        "countryCode": code.country,
        "merchantName": code.merchant_name,
        "merchantCity": code.merchant_city,
        "crc": text[-4:],
    }


def assert_sdk_decode_matches(code: KHQR, text: str, data: dict[str, Any]) -> None:
    expected = sdk_view(code, text)
    assert {k: data.get(k) for k in expected} == expected, text
    sdk_amount = data.get("transactionAmount")
    assert (None if sdk_amount is None else Decimal(sdk_amount)) == code.amount, text


def individual(**kw: Any) -> KHQR:
    base: dict[str, Any] = dict(
        account_id="john_smith@devb", merchant_name="John Smith", currency="KHR"
    )
    return KHQR(**{**base, **kw})


def merchant(**kw: Any) -> KHQR:
    base: dict[str, Any] = dict(
        account_id="coffee_shop@aclb",
        merchant_name="Coffee Klaing",
        merchant_city="Siem Reap",
        currency="USD",
        merchant_type="merchant",
        merchant_id="1234567",
        acquiring_bank="ACLEDA Bank",
    )
    return KHQR(**{**base, **kw})


OUR_CODES = [
    individual(),
    individual(currency="USD", account_information="000123456", acquiring_bank="Wing Bank"),
    individual(amount=Decimal(5000), bill_number="INV-9"),
    individual(
        currency="USD",
        amount=Decimal("1.5"),
        bill_number="B-1",
        mobile_number="85512345678",
        store_label="Main",
        terminal_label="T1",
        purpose="lunch",
    ),
    merchant(currency="KHR"),
    merchant(amount=Decimal("10.50"), mobile_number="012345678", store_label="Riverside"),
    merchant(amount=Decimal(100), terminal_label="POS-1"),
    individual(
        language_preference="km",
        merchant_name_alt="ចន ស្មីធ",
        merchant_city_alt="ភ្នំពេញ",
        upi_merchant_account="UPI-0001",
    ),
    merchant(
        currency="KHR",
        amount=Decimal(250000),
        mcc="5411",
        language_preference="km",
        merchant_name_alt="កាហ្វេ",
        upi_merchant_account="UPI-0002",
    ),
    individual(currency="USD", amount=Decimal("9999999999.99")),
    individual(account_id="a" * 27 + "@devb", merchant_name="N" * 25, merchant_city="C" * 15),
    # Template 30 at exactly 99 characters.
    merchant(account_id="m" * 27 + "@aclb", merchant_id="i" * 32, acquiring_bank="b" * 23),
    individual(merchant_name="ចន ស្មីធ", merchant_city="សៀមរាប", amount=Decimal(1)),
]


def test_our_codes_pass_sdk_verify_and_decode(sdk_dir: Path) -> None:
    now_ms = time.time_ns() // 1_000_000
    texts = [encode(code, now_ms=now_ms, ttl_ms=HOUR_MS) for code in OUR_CODES]
    assert len("".join(texts)) > 0
    answer = run_sdk(sdk_dir, texts, [])
    for code, text, result in zip(OUR_CODES, texts, answer["verify"], strict=True):
        assert result["isValid"] is True, text
        ours = decode(text)
        assert ours == dataclasses.replace(
            code,
            point_of_initiation=ours.point_of_initiation,
            created_ms=ours.created_ms,
            expires_ms=ours.expires_ms,
            crc=ours.crc,
        )
        assert_sdk_decode_matches(ours, text, result["data"])
    # The template-99 code is exactly at the limit (and verified above).
    assert "3099" in texts[11]


SDK_INPUTS: list[dict[str, Any]] = [
    {"type": "individual", "account": "john_smith@devb", "name": "John Smith",
     "city": "Phnom Penh", "optional": {"currency": 116}},
    {"type": "individual", "account": "john_smith@devb", "name": "John Smith",
     "city": "Phnom Penh", "optional": {"currency": 840, "amount": 1.5}, "expiresInMs": HOUR_MS},
    {"type": "merchant", "account": "coffee_shop@aclb", "name": "Coffee Klaing",
     "city": "Siem Reap", "merchantId": "1234567", "bank": "ACLEDA Bank",
     "optional": {"currency": 840, "billNumber": "INV-001", "mobileNumber": "85512345678",
                  "storeLabel": "Riverside", "terminalLabel": "POS-1"}},
    {"type": "individual", "account": "dara@wing", "name": "Dara", "city": "Kampot",
     "optional": {"currency": 116, "amount": 25000, "billNumber": "R-77",
                  "purposeOfTransaction": "rent", "accountInformation": "0123456789",
                  "acquiringBank": "Wing Bank"},
     "expiresInMs": HOUR_MS},
    {"type": "merchant", "account": "noodles@aclb", "name": "Noodle House", "city": "Phnom Penh",
     "merchantId": "M-42", "bank": "ACLEDA Bank",
     "optional": {"currency": 116, "amount": 1000, "languagePreference": "km",
                  "merchantNameAlternateLanguage": "ហាងគុយទាវ",
                  "merchantCityAlternateLanguage": "ភ្នំពេញ", "upiMerchantAccount": "UPI-9"},
     "expiresInMs": HOUR_MS},
    {"type": "merchant", "account": "mart@abaa", "name": "Mini Mart", "city": "Takeo",
     "merchantId": "77", "bank": "ABA Bank",
     "optional": {"currency": 840, "amount": "10.50", "merchantCategoryCode": "5411"},
     "expiresInMs": HOUR_MS},
    {"type": "individual", "account": "sokha@devb", "name": "Sokha", "city": "Battambang",
     "optional": {"currency": 840, "amount": 100}, "expiresInMs": HOUR_MS},
]  # fmt: skip


def test_sdk_codes_decode_here(sdk_dir: Path) -> None:
    generated = run_sdk(sdk_dir, [], SDK_INPUTS)["generate"]
    texts: list[str] = []
    for given, result in zip(SDK_INPUTS, generated, strict=True):
        assert result["status"]["code"] == 0, (given, result)
        text = result["data"]["qr"]
        assert result["data"]["md5"] == khqr_md5(text)
        code = decode(text)
        opt = given["optional"]
        assert code.account_id == given["account"]
        assert code.merchant_name == given["name"]
        assert code.merchant_city == given["city"]
        assert code.merchant_type == given["type"]
        assert code.currency == {116: "KHR", 840: "USD"}[opt["currency"]]
        assert code.amount == (Decimal(str(opt["amount"])) if "amount" in opt else None)
        assert code.bill_number == opt.get("billNumber")
        assert code.merchant_name_alt == opt.get("merchantNameAlternateLanguage")
        assert code.upi_merchant_account == opt.get("upiMerchantAccount")
        if given["type"] == "merchant":
            assert (code.merchant_id, code.acquiring_bank) == (given["merchantId"], given["bank"])
        assert code.is_dynamic == ("expiresInMs" in given)
        if code.is_dynamic:
            assert code.expires_ms is not None and code.created_ms is not None
            assert code.expires_ms - code.created_ms <= HOUR_MS + 5_000
        # Re-encoding what we decoded gives the SDK's string back, byte for byte.
        assert encode(code) == text
        texts.append(text)
    assert texts[0] == SDK_INDIVIDUAL_KHR
    # And the SDK's own decode agrees with ours field by field.
    for text, result in zip(texts, run_sdk(sdk_dir, texts, [])["verify"], strict=True):
        assert result["isValid"] is True
        assert_sdk_decode_matches(decode(text), text, result["data"])


def reseal(body: str) -> str:
    return body + "6304" + crc_hex(body + "6304")


def test_sdk_rejects_what_we_reject(sdk_dir: Path) -> None:
    body = SDK_INDIVIDUAL_KHR[:-8]
    bad = [
        SDK_INDIVIDUAL_KHR[:-4] + "6BFB",  # CRC
        reseal(body.replace("010211", "010212")),  # dynamic without amount
        reseal(body.replace("5303116", "530311654031005")),  # amount without 99
        reseal(body.replace("5303116", "5303978")),  # currency
        reseal(body.replace("5910John Smith", "5926" + "N" * 26)),  # name too long
        reseal(body.replace("5910John Smith", "")),  # name missing
        reseal(body.replace("29190015john_smith@devb", "29180014johnsmith_devb")),  # no @
    ]
    for text in bad:
        with pytest.raises(ValueError):
            decode(text)
    for text, result in zip(bad, run_sdk(sdk_dir, bad, [])["verify"], strict=True):
        assert result["isValid"] is False, text
