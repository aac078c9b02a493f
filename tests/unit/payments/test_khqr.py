"""KHQR encode/decode: NBC SDK known answers, round trips, and every malformed case."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.payments.khqr import (
    DEFAULT_TTL_MS,
    KHQR,
    KHQRError,
    LedgerPayment,
    as_dict,
    crc16_ccitt_false,
    crc_hex,
    decode,
    encode,
    format_amount,
    khqr_md5,
    ledger_payment,
)

# khqr.md §10: three strings made by bakong-khqr@1.0.20.
SDK_INDIVIDUAL_KHR = (
    "00020101021129190015john_smith@devb5204599953031165802KH5910John Smith6010Phnom Penh63046BFA"
)
SDK_INDIVIDUAL_USD_DYNAMIC = (
    "00020101021229190015john_smith@devb52045999530384054041.505802KH5910John Smith"
    "6010Phnom Penh9934001317956582604820113179566186048263042FB9"
)
SDK_MERCHANT_USD = (
    "00020101021130460016coffee_shop@aclb010712345670211ACLEDA Bank52045999530384058"
    "02KH5913Coffee Klaing6009Siem Reap62480107INV-0010211855123456780309Riverside0705"
    "POS-163048AAC"
)
NOW = 1_795_658_260_482


def reseal(body: str) -> str:
    """``body`` (everything before the CRC object) with a correct ``6304`` + CRC."""
    payload = body + "6304"
    return payload + crc_hex(payload)


def body_of(code: str) -> str:
    assert code[-8:-4] == "6304"
    return code[:-8]


def expect_error(text: str, tag: str | None, *fragments: str, now_ms: int | None = None) -> None:
    with pytest.raises(KHQRError) as info:
        decode(text, now_ms=now_ms)
    assert info.value.tag == tag, str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def expect_refusal(code: KHQR, tag: str, *fragments: str, **kwargs: int) -> None:
    with pytest.raises(KHQRError) as info:
        encode(code, **kwargs)
    assert info.value.tag == tag, str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


# --- known answers -----------------------------------------------------------------------


def test_crc_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc_hex("123456789") == "29B1"
    assert crc_hex("") == "FFFF"


def test_sdk_individual_static_khr() -> None:
    code = decode(SDK_INDIVIDUAL_KHR)
    assert code == KHQR(
        account_id="john_smith@devb",
        merchant_name="John Smith",
        merchant_city="Phnom Penh",
        currency="KHR",
        point_of_initiation="11",
        crc="6BFA",
    )
    assert not code.is_dynamic
    assert encode(code) == SDK_INDIVIDUAL_KHR
    # Built from scratch, not from the decoded object: byte-identical too.
    fresh = KHQR(account_id="john_smith@devb", merchant_name="John Smith", currency="KHR")
    assert encode(fresh, now_ms=NOW) == SDK_INDIVIDUAL_KHR
    assert khqr_md5(SDK_INDIVIDUAL_KHR) == "851710edf362c4a9091f7b4739cbe1a3"


def test_sdk_individual_dynamic_usd() -> None:
    code = decode(SDK_INDIVIDUAL_USD_DYNAMIC)
    assert code.currency == "USD"
    assert code.amount == Decimal("1.5")
    assert str(code.amount) == "1.50"
    assert code.point_of_initiation == "12"
    assert code.created_ms == 1795658260482
    assert code.expires_ms == 1795661860482
    assert code.crc == "2FB9"
    assert encode(code) == SDK_INDIVIDUAL_USD_DYNAMIC
    fresh = KHQR(
        account_id="john_smith@devb",
        merchant_name="John Smith",
        currency="USD",
        amount=Decimal("1.5"),
    )
    assert encode(fresh, now_ms=1795658260482, ttl_ms=3_600_000) == SDK_INDIVIDUAL_USD_DYNAMIC
    # After its expiry the same string is refused when the caller asks for the check.
    decode(SDK_INDIVIDUAL_USD_DYNAMIC, now_ms=1795661860482)
    expect_error(SDK_INDIVIDUAL_USD_DYNAMIC, "99/01", "expired", now_ms=1795661860483)


def test_sdk_merchant_static_usd_with_additional_data() -> None:
    code = decode(SDK_MERCHANT_USD)
    assert (code.merchant_type, code.account_id) == ("merchant", "coffee_shop@aclb")
    assert (code.merchant_id, code.acquiring_bank) == ("1234567", "ACLEDA Bank")
    assert code.account_information is None
    assert code.bill_number == "INV-001"
    assert code.mobile_number == "85512345678"
    assert code.store_label == "Riverside"
    assert code.terminal_label == "POS-1"
    assert code.purpose is None
    assert (code.merchant_name, code.merchant_city) == ("Coffee Klaing", "Siem Reap")
    assert code.amount is None and code.created_ms is None
    assert encode(code) == SDK_MERCHANT_USD


# --- round trips -------------------------------------------------------------------------

ADDITIONAL = {
    "bill_number": "INV-2024-0001",
    "mobile_number": "85512345678",
    "store_label": "Riverside",
    "terminal_label": "POS-1",
    "purpose": "coffee",
}


@pytest.mark.parametrize("merchant_type", ["individual", "merchant"])
@pytest.mark.parametrize("currency", ["KHR", "USD"])
@pytest.mark.parametrize("amount", [None, "5000", "12.5"])
@pytest.mark.parametrize("with_additional", [False, True])
def test_round_trip(
    merchant_type: str, currency: str, amount: str | None, with_additional: bool
) -> None:
    if currency == "KHR" and amount == "12.5":
        amount = "12500"
    extra: dict[str, object] = dict(ADDITIONAL) if with_additional else {}
    if merchant_type == "merchant":
        extra.update(merchant_id="M-0001", acquiring_bank="ACLEDA Bank")
    else:
        extra.update(account_information="000123456")
    code = KHQR(
        account_id="shop_01@aclb",
        merchant_name="Sokha Noodles",
        merchant_city="Battambang",
        currency=currency,  # type: ignore[arg-type]
        merchant_type=merchant_type,  # type: ignore[arg-type]
        amount=None if amount is None else Decimal(amount),
        **extra,  # type: ignore[arg-type]
    )
    text = encode(code, now_ms=NOW)
    back = decode(text, now_ms=NOW)
    dynamic = amount is not None
    assert back == dataclasses.replace(
        code,
        point_of_initiation="12" if dynamic else "11",
        created_ms=NOW if dynamic else None,
        expires_ms=NOW + DEFAULT_TTL_MS if dynamic else None,
        crc=text[-4:],
    )
    assert encode(back) == text
    assert ("9934" in text) == dynamic
    assert text.startswith("000201010212" if dynamic else "000201010211")


def test_khmer_text_and_language_template() -> None:
    code = KHQR(
        account_id="sokha@devb",
        merchant_name="Sokha",
        merchant_city="Phnom Penh",
        currency="KHR",
        amount=Decimal(20000),
        language_preference="km",
        merchant_name_alt="ចន ស្មីធ",
        merchant_city_alt="ភ្នំពេញ",
        upi_merchant_account="UPI-123",
    )
    text = encode(code, now_ms=NOW)
    # LEN counts characters (SDK: UTF-16 units), not UTF-8 bytes: 8 characters, 22 bytes.
    assert "0108ចន ស្មីធ" in text
    assert "6429" + "0002km0108ចន ស្មីធ0207ភ្នំពេញ" in text
    assert text.index("15") < text.index("29")  # SDK order: 00 01 15 29 ...
    back = decode(text)
    assert back.merchant_name_alt == "ចន ស្មីធ"
    assert back.merchant_city_alt == "ភ្នំពេញ"
    assert back.upi_merchant_account == "UPI-123"
    assert back.amount == Decimal(20000)


def test_sdk_tag_order() -> None:
    code = KHQR(
        account_id="a@b",
        merchant_name="N",
        merchant_city="C",
        currency="KHR",
        amount=Decimal(1),
        bill_number="B",
        language_preference="km",
        merchant_name_alt="N",
        upi_merchant_account="U",
    )
    text = encode(code, now_ms=NOW)
    order = [tag for tag, _v, _p in _root_tags(text)]
    assert order == ["00", "01", "15", "29", "52", "53", "54", "58", "59", "60", "62", "64"]
    assert [*order, "99", "63"] == [t for t, _v, _p in _root_tags(text, with_tail=True)]


def _root_tags(text: str, with_tail: bool = False) -> list[tuple[str, str, int]]:
    from node.payments.khqr import _parse_tlvs

    items = _parse_tlvs(text, None, 0)
    return items if with_tail else [i for i in items if i[0] not in ("99", "63")]


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("1.5", "USD", "1.50"),
        ("100", "USD", "100"),
        ("1E+2", "USD", "100"),
        ("10.50", "USD", "10.50"),
        ("100.00", "USD", "100.00"),
        ("1.500", "USD", "1.50"),
        ("0.01", "USD", "0.01"),
        ("5000", "KHR", "5000"),
        ("5000.00", "KHR", "5000"),
        ("9999999999999", "KHR", "9999999999999"),
        ("9999999999.99", "USD", "9999999999.99"),
    ],
)
def test_amount_format(amount: str, currency: str, text: str) -> None:
    assert format_amount(Decimal(amount), currency) == text


@pytest.mark.parametrize(
    ("amount", "currency", "fragment"),
    [
        ("100.5", "KHR", "KHR amounts are whole riel"),
        ("1.005", "USD", "at most 2 decimals"),
        ("0", "USD", "greater than 0"),
        ("-5", "KHR", "greater than 0"),
        ("NaN", "KHR", "finite"),
        ("Infinity", "USD", "finite"),
        ("10000000000000", "KHR", "longer than 13"),
        ("99999999999.99", "USD", "14 characters"),
        ("1E+999999999", "KHR", "longer than 13"),
    ],
)
def test_amount_refused(amount: str, currency: str, fragment: str) -> None:
    with pytest.raises(KHQRError) as info:
        format_amount(Decimal(amount), currency)
    assert info.value.tag == "54"
    assert fragment in str(info.value)


def test_amount_float_refused() -> None:
    with pytest.raises(KHQRError, match="must be a Decimal"):
        format_amount(1.5, "USD")  # type: ignore[arg-type]


# --- encoder refusals --------------------------------------------------------------------

BASE = KHQR(account_id="john_smith@devb", merchant_name="John Smith", currency="KHR")
MERCHANT = dataclasses.replace(
    BASE, merchant_type="merchant", merchant_id="1234567", acquiring_bank="ACLEDA Bank"
)


@pytest.mark.parametrize(
    ("changes", "tag", "fragment"),
    [
        ({"merchant_name": "N" * 26}, "59", "26 characters; at most 25"),
        ({"merchant_name": ""}, "59", "empty"),
        ({"merchant_city": "C" * 16}, "60", "16 characters; at most 15"),
        ({"account_id": "no_at_sign"}, "29/00", "has no '@'"),
        ({"account_id": "a" * 30 + "@bb"}, "29/00", "33 characters"),
        ({"account_information": "1" * 33}, "29/01", "at most 32"),
        ({"merchant_id": "X"}, "29/01", "merchant codes"),
        ({"bill_number": "B" * 26}, "62/01", "at most 25"),
        ({"mobile_number": ""}, "62/02", "empty"),
        ({"purpose": "P" * 26}, "62/08", "at most 25"),
        ({"currency": "EUR"}, "53", "'KHR' or 'USD'"),
        ({"mcc": "12"}, "52", "4 digits"),
        ({"country": "KHM"}, "58", "2 capital letters"),
        ({"language_preference": "km"}, "64/01", "needs the merchant name"),
        ({"merchant_name_alt": "ចន"}, "64/00", "needs a language preference"),
        ({"language_preference": "khm", "merchant_name_alt": "ចន"}, "64/00", "at most 2"),
        ({"merchant_name": "bad\nname"}, "59", "control character"),
        ({"merchant_name": "smile 😀"}, "59", "Basic Multilingual Plane"),
        ({"upi_merchant_account": "U", "currency": "USD"}, "15", "not allowed with USD"),
        ({"created_ms": NOW}, "99", "dynamic code"),
        ({"point_of_initiation": "12"}, "01", "contradicts the amount"),
        ({"point_of_initiation": "13"}, "01", "11 (static) or 12 (dynamic)"),
        ({"payload_format": "02"}, "00", "must be '01'"),
        (  # every additional field at its maximum: the template would be 5 * 29 = 145
            {f: "x" * 25 for f in ADDITIONAL},
            "62",
            "145 characters; a data object holds at most 99",
        ),
    ],
)
def test_encode_refuses(changes: dict[str, object], tag: str, fragment: str) -> None:
    expect_refusal(dataclasses.replace(BASE, **changes), tag, fragment, now_ms=NOW)  # type: ignore[arg-type]


def test_encode_refuses_merchant_template_over_99() -> None:
    # Each part within its own limit (32), together 108: the SDK writes "30108..."; we refuse.
    code = dataclasses.replace(
        MERCHANT, account_id="a" * 27 + "@devb", merchant_id="m" * 32, acquiring_bank="b" * 32
    )
    expect_refusal(code, "30", "merchant account template would be 108 characters")


@pytest.mark.parametrize(
    ("changes", "tag", "fragment"),
    [
        ({"merchant_id": None}, "30/01", "needs a merchant id"),
        ({"acquiring_bank": None}, "30/02", "needs an acquiring bank"),
        ({"account_information": "123"}, "30/01", "individual codes"),
        ({"merchant_id": "m" * 33}, "30/01", "at most 32"),
    ],
)
def test_encode_refuses_merchant(changes: dict[str, object], tag: str, fragment: str) -> None:
    expect_refusal(dataclasses.replace(MERCHANT, **changes), tag, fragment)  # type: ignore[arg-type]


def test_encode_dynamic_timestamps() -> None:
    dyn = dataclasses.replace(BASE, amount=Decimal(5000))
    expect_refusal(dyn, "99/00", "pass now_ms")
    expect_refusal(dyn, "99/01", "positive", now_ms=NOW, ttl_ms=0)
    expect_refusal(
        dataclasses.replace(dyn, created_ms=NOW - 10_000, expires_ms=NOW - 1),
        "99/01",
        "already past",
        now_ms=NOW,
    )
    expect_refusal(
        dataclasses.replace(dyn, created_ms=NOW, expires_ms=NOW - 1), "99/01", "before creation"
    )
    expect_refusal(dataclasses.replace(dyn, created_ms=1_700_000_000), "99/00", "13 digits")
    text = encode(dyn, now_ms=NOW, ttl_ms=60_000)
    assert f"99340013{NOW}0113{NOW + 60_000}" in text
    fixed = encode(dataclasses.replace(dyn, expires_ms=NOW + 5), now_ms=NOW)
    assert decode(fixed).expires_ms == NOW + 5


# --- decoder: malformed input ------------------------------------------------------------

S1_BODY = body_of(SDK_INDIVIDUAL_KHR)


def test_decode_bad_crc() -> None:
    expect_error(SDK_INDIVIDUAL_KHR[:-4] + "6BFB", "63", "CRC is 6BFB", "is 6BFA")
    expect_error(SDK_INDIVIDUAL_KHR[:-4] + "6BFG", "63", "not 4 hex digits")
    # One changed character in the payload: the CRC catches it.
    expect_error(SDK_INDIVIDUAL_KHR.replace("John", "Joan"), "63", "CRC is 6BFA")
    # The SDK compares case-insensitively, so do we.
    assert decode(SDK_MERCHANT_USD[:-4] + "8aac").crc == "8aac"


def test_decode_crc_object() -> None:
    expect_error(S1_BODY + "630500000", "63", "CRC LEN must be 04, got 05")
    expect_error(S1_BODY + "6303ABC", "63", "CRC LEN must be 04, got 03")
    expect_error(S1_BODY, "63", "not tag 60")  # no CRC at all
    expect_error(SDK_INDIVIDUAL_KHR + "0000", "63", "not tag 00")


def test_decode_wrong_lengths() -> None:
    # LEN one short: the rest of the code no longer parses as data objects.
    expect_error(reseal(S1_BODY.replace("5910John", "5909John")), None, "ID 'h6'")
    # LEN one long: swallows a character of the next object.
    expect_error(reseal(S1_BODY.replace("5910John", "5911John")), "01", "LEN '0P'")
    # Sub-tag LEN inside template 29 inconsistent with the template's length.
    expect_error(
        reseal(S1_BODY.replace("29190015john", "29190017john")),
        "29/00",
        "runs past the end of the template 29",
    )


def test_decode_len_not_numeric() -> None:
    expect_error(reseal(S1_BODY.replace("5910John", "59AAJohn")), "59", "LEN 'AA'", "position")
    expect_error(reseal(S1_BODY.replace("5910John", "59١٠John")), "59", "not two digits")
    # The input that makes the SDK's verify() loop forever: a non-numeric sub-LEN remainder.
    expect_error(reseal(S1_BODY.replace("29190015john", "29190013john")), "29", "'vb' is too short")


def test_decode_value_past_end() -> None:
    expect_error("00020101021159", None, "too short")
    expect_error("0002010102115920abc", "59", "runs past the end of the code", "3 characters")
    expect_error("0", None, "truncated")
    expect_error("", None, "empty")


@pytest.mark.parametrize(
    ("remove", "tag", "fragment"),
    [
        ("29190015john_smith@devb", "29", "account information (29 or 30) is missing"),
        ("52045999", "52", "merchant category code is missing"),
        ("5303116", "53", "transaction currency is missing"),
        ("5802KH", "58", "country code is missing"),
        ("5910John Smith", "59", "merchant name is missing"),
        ("6010Phnom Penh", "60", "merchant city is missing"),
    ],
)
def test_decode_missing_mandatory(remove: str, tag: str, fragment: str) -> None:
    assert remove in S1_BODY
    expect_error(reseal(S1_BODY.replace(remove, "")), tag, fragment)


def test_decode_structure_rules() -> None:
    expect_error(reseal(S1_BODY.replace("000201", "")), "00", "starts with the payload format")
    expect_error(reseal(S1_BODY[6:] + "000201"), "00", "not tag 01")
    expect_error(reseal(S1_BODY.replace("000201", "000202")), "00", "must be '01'")
    expect_error(reseal(S1_BODY + "5910John Smith"), "59", "appears twice")
    expect_error(reseal(S1_BODY + "30190015john_smith@devb"), "30", "not both")
    expect_error(reseal(S1_BODY.replace("010211", "010213")), "01", "11 or 12")
    expect_error(
        reseal(S1_BODY.replace("29190015john", "29190015jxhn").replace("@", "_")),
        "29/00",
        "has no '@'",
    )
    expect_error(
        reseal(S1_BODY.replace("29190015john_smith@devb", "29080104abcd")),
        "29/00",
        "account id is missing",
    )
    expect_error(reseal(S1_BODY.replace("5802KH", "5803KHM")), "58", "2 capital letters")
    expect_error(reseal(S1_BODY.replace("52045999", "52025999"[:4] + "59")), "52", "4 digits")
    expect_error(reseal(S1_BODY.replace("5910John Smith", "5900")), "59", "empty")
    expect_error(reseal(S1_BODY.replace("5910John Smith", "5926" + "N" * 26)), "59", "at most 25")
    expect_error(reseal(S1_BODY.replace("6010Phnom Penh", "6016" + "C" * 16)), "60", "at most 15")


def test_decode_merchant_rules() -> None:
    body = body_of(SDK_MERCHANT_USD)
    expect_error(
        reseal(
            body.replace(
                "30460016coffee_shop@aclb010712345670211ACLEDA Bank",
                "30350016coffee_shop@aclb0211ACLEDA Bank",
            )
        ),
        "30/01",
        "needs a merchant id",
    )
    expect_error(
        reseal(
            body.replace(
                "30460016coffee_shop@aclb010712345670211ACLEDA Bank",
                "30310016coffee_shop@aclb01071234567",
            )
        ),
        "30/02",
        "needs an acquiring bank",
    )
    expect_error(reseal(body.replace("62480107INV-001", "62410100")), "62/01", "empty")
    expect_error(
        reseal(body.replace("62480107INV-001", "62480107INV-001"[:4] + "0207INV-001")),
        "62/02",
        "appears twice",
    )


@pytest.mark.parametrize("currency", ["978", "036", "KHR", "11", ""])
def test_decode_bad_currency(currency: str) -> None:
    body = S1_BODY.replace("5303116", f"53{len(currency):02d}{currency}")
    expect_error(reseal(body), "53", "116 (KHR) or 840 (USD)")


def dynamic_body(amount: str, currency: str = "840", stamps: str | None = None) -> str:
    if stamps is None:
        stamps = f"0013{NOW}0113{NOW + 60_000}"
    return (
        "00020101021229190015john_smith@devb52045999"
        f"5303{currency}54{len(amount):02d}{amount}5802KH5910John Smith6010Phnom Penh"
        f"99{len(stamps):02d}{stamps}"
    )


@pytest.mark.parametrize(
    ("amount", "currency", "fragment"),
    [
        ("100.5", "116", "KHR amounts are whole riel"),
        ("1.005", "840", "USD amounts have at most 2 decimals"),
        ("1.500", "840", "at most 2 decimals"),
        ("-5", "840", "not a plain decimal"),
        ("1e+21", "840", "not a plain decimal"),
        ("1,50", "840", "not a plain decimal"),
        (".5", "840", "not a plain decimal"),
        ("", "840", "not a plain decimal"),
        ("0", "116", "zero"),
        ("0.00", "840", "zero"),
        ("12345678901234", "116", "14 characters"),
    ],
)
def test_decode_bad_amount(amount: str, currency: str, fragment: str) -> None:
    expect_error(reseal(dynamic_body(amount, currency)), "54", fragment)


def test_decode_amount_forms_the_sdk_writes() -> None:
    assert decode(reseal(dynamic_body("100"))).amount == Decimal(100)
    assert str(decode(reseal(dynamic_body("10.50"))).amount) == "10.50"
    # KHR written with zero decimals by third-party generators: the value is whole.
    assert str(decode(reseal(dynamic_body("5000.00", "116"))).amount) == "5000"


def test_decode_dynamic_rules() -> None:
    # 01 = 12 without an amount.
    no_amount = S1_BODY.replace("010211", "010212")
    expect_error(reseal(no_amount), "54", "dynamic code (01 = 12) must carry an amount")
    # An amount without tag 99, with 01 = 12 and with 01 = 11.
    stampless = dynamic_body("1.50").split("9934")[0]
    expect_error(reseal(stampless), "99", "must carry timestamps")
    expect_error(reseal(stampless.replace("010212", "010211")), "99", "must carry timestamps")
    # Tag 99 without expiry, with a short expiry, with expiry before creation.
    expect_error(reseal(dynamic_body("1.50", stamps=f"0013{NOW}")), "99/01", "expiry timestamp")
    expect_error(
        reseal(dynamic_body("1.50", stamps=f"0013{NOW}0110{NOW // 1000}")), "99/01", "13 digits"
    )
    expect_error(
        reseal(dynamic_body("1.50", stamps=f"0013{NOW}0113{NOW - 1}")), "99/01", "before creation"
    )
    expect_error(
        reseal(dynamic_body("1.50", stamps=f"0012{NOW}"[:16] + "01130000000000000")),
        "99/00",
        "13 digits",
    )
    # Creation is optional (the SDK does not require it), expiry is what matters.
    assert decode(reseal(dynamic_body("1.50", stamps=f"0113{NOW}"))).created_ms is None


def test_decode_tolerates_unknown_tags_and_subtags() -> None:
    body = (
        S1_BODY.replace("29190015john_smith@devb", "29270015john_smith@devb0504xyzw")
        + "2605abcde"
        + "62160103B-10505REF-1"
        + "550201"
        + "80040011"
    )
    code = decode(reseal(body))
    assert code.account_id == "john_smith@devb"
    assert code.bill_number == "B-1"
    # Order other than the SDK's is fine by EMV and by the SDK's verify().
    shuffled = reseal(
        "000201" + "5802KH5303116" + S1_BODY[6:].replace("5802KH", "").replace("5303116", "")
    )
    assert decode(shuffled).country == "KH"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("000201\x07", "U+0007 at position 6"),
        ("0002😀1", "U+1F600"),
        ("0002\ud8001", "lone surrogate"),
    ],
)
def test_decode_refuses_characters(text: str, fragment: str) -> None:
    expect_error(text, None, fragment)


def test_decode_not_text() -> None:
    with pytest.raises(KHQRError, match="is text"):
        decode(b"000201")  # type: ignore[arg-type]


def test_as_dict_is_json_ready() -> None:
    d = as_dict(decode(SDK_INDIVIDUAL_USD_DYNAMIC))
    assert d["amount"] == "1.50"
    assert d["currency"] == "USD"
    assert d["account_id"] == "john_smith@devb"
    assert d["dynamic"] is True
    assert d["expires_ms"] == 1795661860482


# --- ledger mapping ----------------------------------------------------------------------


def test_ledger_payment() -> None:
    assert ledger_payment(decode(SDK_MERCHANT_USD)) == LedgerPayment(
        account_id="coffee_shop@aclb", asset_id="usd#bakong", amount=None, description="INV-001"
    )
    assert ledger_payment(decode(SDK_INDIVIDUAL_USD_DYNAMIC)).amount == Decimal("1.50")
    khr = dataclasses.replace(BASE, account_id="alice@bank.kh", amount=Decimal(4000))
    assert ledger_payment(khr) == LedgerPayment("alice@bank.kh", "khr#bakong", Decimal(4000), "")
    for bad in ("John@devb", "a-b@devb", "a@1bank", "a@bank.", "a@bank-"):
        with pytest.raises(KHQRError, match="not a ledger account id"):
            ledger_payment(dataclasses.replace(BASE, account_id=bad))


# --- properties: never a traceback, never a hang -----------------------------------------

VALID = [
    SDK_INDIVIDUAL_KHR,
    SDK_INDIVIDUAL_USD_DYNAMIC,
    SDK_MERCHANT_USD,
    encode(
        KHQR(
            account_id="sokha@devb",
            merchant_name="Sokha",
            currency="KHR",
            amount=Decimal(20000),
            language_preference="km",
            merchant_name_alt="ចន ស្មីធ",
            upi_merchant_account="UPI-1",
            bill_number="B1",
        ),
        now_ms=NOW,
    ),
]
CODE_ALPHABET = "0123456789ABCDEFabcdef@ .-" + "ចន"


def check_decode_is_total(text: str) -> None:
    try:
        code = decode(text)
    except KHQRError as e:
        assert str(e)
        assert "\n" not in str(e)
    else:
        assert isinstance(code, KHQR)


@given(st.text(max_size=300))
def test_decode_arbitrary_text(text: str) -> None:
    check_decode_is_total(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        ch = draw(st.sampled_from(CODE_ALPHABET))
        if op == "insert":
            text = text[:i] + ch + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i] + ch + text[i + 1 :]
    if draw(st.booleans()) and len(text) > 8:
        # Re-seal so the mutation reaches the checks behind the CRC.
        text = reseal(text[:-8])
    return text


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_decode_mutated_codes(text: str) -> None:
    check_decode_is_total(text)


FIELD_TEXT = st.text(alphabet=st.sampled_from("abcXYZ019 -._#ចនស្មីធ"), min_size=1, max_size=26)


@st.composite
def codes(draw: st.DrawFn) -> KHQR:
    merchant = draw(st.booleans())
    currency = draw(st.sampled_from(["KHR", "USD"]))
    amount = draw(
        st.none() | st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2)
    )
    if amount is not None and currency == "KHR":
        amount = amount.to_integral_value() or Decimal(1)
    opt = st.none() | FIELD_TEXT
    return KHQR(
        account_id=draw(st.from_regex(r"[a-z_0-9]{1,20}@[a-z]{1,8}", fullmatch=True)),
        merchant_name=draw(FIELD_TEXT),
        merchant_city=draw(FIELD_TEXT),
        currency=currency,
        merchant_type="merchant" if merchant else "individual",
        amount=amount,
        merchant_id=draw(FIELD_TEXT) if merchant else None,
        acquiring_bank=draw(FIELD_TEXT) if merchant else draw(opt),
        account_information=None if merchant else draw(opt),
        bill_number=draw(opt),
        mobile_number=draw(opt),
        store_label=draw(opt),
        terminal_label=draw(opt),
        purpose=draw(opt),
        merchant_city_alt=draw(opt),
    )


@settings(max_examples=300)
@given(codes())
def test_encode_decode_property(code: KHQR) -> None:
    try:
        text = encode(code, now_ms=NOW)
    except KHQRError as e:
        # Only limits may refuse generated input: a field or a template too long.
        assert "characters" in str(e), str(e)
        return
    back = decode(text, now_ms=NOW)
    assert encode(back) == text
    assert back.amount == code.amount
    assert (
        dataclasses.replace(
            back, point_of_initiation=None, crc=None, created_ms=None, expires_ms=None
        )
        == code
    )


def test_error_pickles_and_reads_well() -> None:
    import pickle

    error = KHQRError("59", "merchant name is empty")
    again = pickle.loads(pickle.dumps(error))
    assert (again.tag, again.message, str(again)) == ("59", error.message, str(error))
    assert str(error) == "tag 59: merchant name is empty"
    assert str(KHQRError(None, "the code is empty")) == "the code is empty"
