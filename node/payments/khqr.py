"""KHQR codes: encode and decode Cambodia's EMV merchant-presented QR payloads.

Behaviour follows NBC's own SDK (npm ``bakong-khqr@1.0.20``, see the shared ``khqr.md``):
the same tag order, LEN counted in characters, amount formats and CRC-16/CCITT-FALSE, so
that every string we write passes the SDK's ``verify`` and every string it writes decodes
here. Where the SDK is lax (it truncates nothing but also checks little on decode) this
module is strict: every problem is a :class:`KHQRError` naming the tag and what is wrong.

Pure: no clock (``now_ms`` is an argument), no I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

__all__ = [
    "DEFAULT_TTL_MS",
    "KHQR",
    "Currency",
    "KHQRError",
    "LedgerPayment",
    "MerchantType",
    "as_dict",
    "crc16_ccitt_false",
    "crc_hex",
    "decode",
    "encode",
    "format_amount",
    "khqr_md5",
    "ledger_payment",
]

Currency = Literal["KHR", "USD"]
MerchantType = Literal["individual", "merchant"]

CURRENCY_CODES: Final[dict[str, str]] = {"KHR": "116", "USD": "840"}
CURRENCY_BY_CODE: Final[dict[str, Currency]] = {"116": "KHR", "840": "USD"}
LEDGER_ASSETS: Final[dict[str, str]] = {"KHR": "khr#bakong", "USD": "usd#bakong"}

DEFAULT_TTL_MS: Final = 15 * 60 * 1000  # a dynamic code is for one payment, soon
DEFAULT_MCC: Final = "5999"
DEFAULT_CITY: Final = "Phnom Penh"
DEFAULT_COUNTRY: Final = "KH"
PAYLOAD_FORMAT: Final = "01"
POI_STATIC: Final = "11"
POI_DYNAMIC: Final = "12"

# Limits: the SDK's emv.INVALID_LENGTH, plus EMV's two-digit LEN.
MAX_VALUE: Final = 99
MAX_ACCOUNT_ID: Final = 32
MAX_ACCOUNT_INFORMATION: Final = 32
MAX_MERCHANT_ID: Final = 32
MAX_ACQUIRING_BANK: Final = 32
MAX_MERCHANT_NAME: Final = 25
MAX_MERCHANT_CITY: Final = 15
MAX_AMOUNT_CHARS: Final = 13
MAX_ADDITIONAL: Final = 25
MAX_LANGUAGE_PREFERENCE: Final = 2
MAX_NAME_ALT: Final = 25
MAX_CITY_ALT: Final = 15
MAX_UPI: Final = 99
TIMESTAMP_DIGITS: Final = 13
# Far above any real code (about 560 characters with every field at its maximum); it only
# bounds the work spent on garbage.
MAX_CODE_CHARS: Final = 4096

# Control characters break printing; lone surrogates cannot be UTF-8 encoded for the CRC;
# characters beyond U+FFFF are one Python character but two JS ones, so the SDK would
# read a different LEN than we write.
_BAD_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\U00010000-\U0010ffff]")
_DIGITS = re.compile(r"[0-9]+")
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_MCC = re.compile(r"[0-9]{4}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_DOMAIN_LABEL = r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_LEDGER_ACCOUNT = re.compile(rf"[a-z_0-9]{{1,32}}@(?:{_DOMAIN_LABEL}\.)*{_DOMAIN_LABEL}")

# Tag 62 sub-tags the SDK writes, in its order: (sub-tag, field, label).
_ADDITIONAL: Final = (
    ("01", "bill_number", "bill number"),
    ("02", "mobile_number", "mobile number"),
    ("03", "store_label", "store label"),
    ("07", "terminal_label", "terminal label"),
    ("08", "purpose", "purpose of transaction"),
)

_ROOT_NAMES: Final = {
    "00": "payload format indicator",
    "29": "individual account information",
    "30": "merchant account information",
    "52": "merchant category code",
    "53": "transaction currency",
    "58": "country code",
    "59": "merchant name",
    "60": "merchant city",
}


class KHQRError(ValueError):
    """A code that cannot be encoded or decoded; ``tag`` is e.g. ``"59"`` or ``"62/01"``."""

    def __init__(self, tag: str | None, message: str) -> None:
        super().__init__(tag, message)  # both in args, so the error pickles and compares
        self.tag = tag
        self.message = message

    def __str__(self) -> str:
        return f"tag {self.tag}: {self.message}" if self.tag else self.message


@dataclass(frozen=True)
class KHQR:
    """One KHQR code, as decoded or to be encoded.

    ``amount`` None means a static code (POI 11, reusable); with an amount the code is
    dynamic (POI 12) and carries creation/expiry timestamps in ms (tag 99).
    ``point_of_initiation`` and ``crc`` are what a decoded code said; the encoder derives
    them (and refuses a ``point_of_initiation`` that contradicts the amount).
    """

    account_id: str
    merchant_name: str
    currency: Currency
    merchant_type: MerchantType = "individual"
    merchant_city: str = DEFAULT_CITY
    amount: Decimal | None = None
    merchant_id: str | None = None
    acquiring_bank: str | None = None
    account_information: str | None = None
    bill_number: str | None = None
    mobile_number: str | None = None
    store_label: str | None = None
    terminal_label: str | None = None
    purpose: str | None = None
    language_preference: str | None = None
    merchant_name_alt: str | None = None
    merchant_city_alt: str | None = None
    upi_merchant_account: str | None = None
    mcc: str = DEFAULT_MCC
    country: str = DEFAULT_COUNTRY
    payload_format: str = PAYLOAD_FORMAT
    point_of_initiation: str | None = None
    created_ms: int | None = None
    expires_ms: int | None = None
    crc: str | None = None

    @property
    def is_dynamic(self) -> bool:
        return self.amount is not None


@dataclass(frozen=True)
class LedgerPayment:
    """What a payer's transfer needs from a code: TransferAsset's dest, asset, amount, text."""

    account_id: str
    asset_id: str
    amount: Decimal | None  # None: static code, the payer chooses the amount
    description: str


# --- CRC ---------------------------------------------------------------------------------


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def crc_hex(payload: str) -> str:
    """The tag-63 value for ``payload`` (which ends with the literal ``6304``)."""
    return f"{crc16_ccitt_false(payload.encode('utf-8')):04X}"


def khqr_md5(code: str) -> str:
    """Hex MD5 of the code string: the key Bakong's Open API looks payments up by."""
    return hashlib.md5(code.encode("utf-8")).hexdigest()


# --- shared field checks -----------------------------------------------------------------


def _check_chars(tag: str | None, label: str, value: str, offset: int = 0) -> None:
    bad = _BAD_CHAR.search(value)
    if bad is None:
        return
    ch = bad.group()
    code = ord(ch)
    if code > 0xFFFF:
        why = "it is outside the Basic Multilingual Plane (NBC's SDK counts it as 2 characters)"
    elif 0xD800 <= code <= 0xDFFF:
        why = "it is a lone surrogate"
    else:
        why = "it is a control character"
    where = f"at position {offset + bad.start()}" if tag is None else f"in the {label}"
    raise KHQRError(tag, f"character U+{code:04X} {where} is not allowed: {why}")


def _check_text(tag: str, label: str, value: object, max_len: int) -> None:
    if not isinstance(value, str):
        raise KHQRError(tag, f"{label} must be text, got {type(value).__name__}")
    if not value:
        raise KHQRError(tag, f"{label} is empty; it must be 1..{max_len} characters")
    if len(value) > max_len:
        raise KHQRError(
            tag, f"{label} is {len(value)} characters; at most {max_len} are allowed: {value!r}"
        )
    _check_chars(tag, label, value)


def _check_optional(tag: str, label: str, value: object, max_len: int) -> None:
    if value is not None:
        _check_text(tag, label, value, max_len)


def _check_fields(code: KHQR) -> None:
    """Every per-field rule shared by the encoder (on input) and the decoder (on output)."""
    if code.merchant_type not in ("individual", "merchant"):
        raise KHQRError(
            "29", f"merchant_type must be 'individual' or 'merchant', got {code.merchant_type!r}"
        )
    acct = "29" if code.merchant_type == "individual" else "30"
    _check_text(f"{acct}/00", "Bakong account id", code.account_id, MAX_ACCOUNT_ID)
    if "@" not in code.account_id:
        raise KHQRError(
            f"{acct}/00", f"Bakong account id {code.account_id!r} has no '@' (name@bank)"
        )
    if code.merchant_type == "merchant":
        if code.merchant_id is None:
            raise KHQRError("30/01", "a merchant code needs a merchant id")
        if code.acquiring_bank is None:
            raise KHQRError("30/02", "a merchant code needs an acquiring bank")
        if code.account_information is not None:
            raise KHQRError(
                "30/01", "account information is for individual codes (29/01); use merchant_id"
            )
        _check_text("30/01", "merchant id", code.merchant_id, MAX_MERCHANT_ID)
        _check_text("30/02", "acquiring bank", code.acquiring_bank, MAX_ACQUIRING_BANK)
    else:
        if code.merchant_id is not None:
            raise KHQRError("29/01", "merchant id is for merchant codes (30), not individual ones")
        _check_optional(
            "29/01", "account information", code.account_information, MAX_ACCOUNT_INFORMATION
        )
        _check_optional("29/02", "acquiring bank", code.acquiring_bank, MAX_ACQUIRING_BANK)
    if code.payload_format != PAYLOAD_FORMAT:
        raise KHQRError("00", f"payload format indicator must be '01', got {code.payload_format!r}")
    if code.point_of_initiation not in (None, POI_STATIC, POI_DYNAMIC):
        raise KHQRError(
            "01",
            f"point of initiation must be 11 (static) or 12 (dynamic), "
            f"got {code.point_of_initiation!r}",
        )
    _check_optional("15", "UnionPay merchant account", code.upi_merchant_account, MAX_UPI)
    if not isinstance(code.mcc, str) or not _MCC.fullmatch(code.mcc):
        raise KHQRError("52", f"merchant category code must be 4 digits, got {code.mcc!r}")
    if code.currency not in CURRENCY_CODES:
        raise KHQRError("53", f"currency must be 'KHR' or 'USD', got {code.currency!r}")
    if not isinstance(code.country, str) or not _COUNTRY.fullmatch(code.country):
        raise KHQRError(
            "58", f"country code must be 2 capital letters (ISO 3166), got {code.country!r}"
        )
    _check_text("59", "merchant name", code.merchant_name, MAX_MERCHANT_NAME)
    _check_text("60", "merchant city", code.merchant_city, MAX_MERCHANT_CITY)
    for sub, field, label in _ADDITIONAL:
        _check_optional(f"62/{sub}", label, getattr(code, field), MAX_ADDITIONAL)
    _check_optional(
        "64/00", "language preference", code.language_preference, MAX_LANGUAGE_PREFERENCE
    )
    _check_optional("64/01", "alternate-language merchant name", code.merchant_name_alt, 25)
    _check_optional("64/02", "alternate-language merchant city", code.merchant_city_alt, 15)
    # The SDK writes 64/00 only beside 64/01 and fails on 64/01 without 64/00.
    if code.language_preference is not None and code.merchant_name_alt is None:
        raise KHQRError("64/01", "a language preference needs the merchant name in that language")
    if code.merchant_name_alt is not None and code.language_preference is None:
        raise KHQRError("64/00", "an alternate-language merchant name needs a language preference")


# --- amounts -----------------------------------------------------------------------------


def format_amount(amount: Decimal, currency: str) -> str:
    """Tag-54 text for ``amount``, as the SDK writes it; refuses what the SDK refuses.

    KHR: whole riel only, written as digits. USD: at most 2 decimals; a value written with
    decimals becomes exactly 2 (``1.5`` -> ``1.50``), a whole one stays bare (``100``).
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise KHQRError("54", f"amount must be a Decimal, got {type(amount).__name__}")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise KHQRError("54", f"amount must be a finite number, got {amount}")
    if amount <= 0:
        raise KHQRError(
            "54", f"amount must be greater than 0, got {amount} (leave it out for a static code)"
        )
    # adjusted() is the power of ten of the leading digit: bounds the size before any
    # conversion, so a huge exponent cannot make us build a huge integer.
    if amount.adjusted() >= MAX_AMOUNT_CHARS:
        raise KHQRError("54", f"amount {amount} is longer than {MAX_AMOUNT_CHARS} characters")
    whole = amount == amount.to_integral_value()
    if currency == "KHR":
        if not whole:
            raise KHQRError("54", f"KHR amounts are whole riel, got {amount}")
        text = str(int(amount))
    elif currency == "USD":
        if amount != amount.quantize(Decimal("0.01")):
            raise KHQRError("54", f"USD amounts have at most 2 decimals, got {amount}")
        exponent = amount.as_tuple().exponent
        if whole and isinstance(exponent, int) and exponent >= 0:
            text = str(int(amount))
        else:
            text = f"{amount.quantize(Decimal('0.01')):f}"
    else:
        raise KHQRError("53", f"currency must be 'KHR' or 'USD', got {currency!r}")
    if len(text) > MAX_AMOUNT_CHARS:
        raise KHQRError(
            "54", f"amount {text} is {len(text)} characters; at most {MAX_AMOUNT_CHARS} allowed"
        )
    return text


def _parse_amount(text: str, currency: Currency) -> Decimal:
    if len(text) > MAX_AMOUNT_CHARS:
        raise KHQRError(
            "54", f"amount {text!r} is {len(text)} characters; at most {MAX_AMOUNT_CHARS} allowed"
        )
    m = _AMOUNT.fullmatch(text)
    if m is None:
        raise KHQRError("54", f"amount {text!r} is not a plain decimal number (digits[.digits])")
    value = Decimal(text)
    if value == 0:
        raise KHQRError("54", f"amount {text!r} is zero; a static code leaves tag 54 out")
    fraction = m.group(2) or ""
    if currency == "KHR":
        if fraction.strip("0"):
            raise KHQRError("54", f"KHR amounts are whole riel, got {text!r}")
        return Decimal(m.group(1).lstrip("0") or "0")
    if len(fraction) > 2:
        raise KHQRError("54", f"USD amounts have at most 2 decimals, got {text!r}")
    return value


# --- encoding ----------------------------------------------------------------------------


def _tlv(tag: str, value: str, what: str = "value") -> str:
    if len(value) > MAX_VALUE:
        raise KHQRError(
            tag,
            f"{what} would be {len(value)} characters; a data object holds at most "
            f"{MAX_VALUE} (LEN is two digits)",
        )
    return f"{tag}{len(value):02d}{value}"


def _check_timestamp(tag: str, label: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise KHQRError(tag, f"{label} must be an int (Unix ms), got {type(value).__name__}")
    if not 10 ** (TIMESTAMP_DIGITS - 1) <= value < 10**TIMESTAMP_DIGITS:
        raise KHQRError(tag, f"{label} must be {TIMESTAMP_DIGITS} digits (Unix ms), got {value}")
    return value


def encode(code: KHQR, *, now_ms: int | None = None, ttl_ms: int = DEFAULT_TTL_MS) -> str:
    """The KHQR string for ``code``, in the SDK's tag order, with its CRC.

    A code with an amount is dynamic and gets tag 99: creation = ``code.created_ms`` or
    ``now_ms``; expiry = ``code.expires_ms`` or creation + ``ttl_ms``. Without an amount
    the code is static, has no tag 99 and is byte-stable. Raises :class:`KHQRError`.
    """
    _check_fields(code)
    amount_text: str | None = None
    if code.amount is not None:
        amount_text = format_amount(code.amount, code.currency)
    poi = POI_STATIC if amount_text is None else POI_DYNAMIC
    if code.point_of_initiation not in (None, poi):
        raise KHQRError(
            "01",
            f"point of initiation {code.point_of_initiation} contradicts the amount: "
            f"a code {'with' if amount_text else 'without'} an amount is {poi}",
        )
    if code.upi_merchant_account is not None and code.currency == "USD":
        raise KHQRError("15", "a UnionPay merchant account is not allowed with USD (SDK error 44)")

    parts = [_tlv("00", code.payload_format), _tlv("01", poi)]
    if code.upi_merchant_account is not None:
        parts.append(_tlv("15", code.upi_merchant_account))
    if code.merchant_type == "merchant":
        assert code.merchant_id is not None and code.acquiring_bank is not None
        account = (
            _tlv("00", code.account_id)
            + _tlv("01", code.merchant_id)
            + _tlv("02", code.acquiring_bank)
        )
        parts.append(_tlv("30", account, "merchant account template"))
    else:
        account = _tlv("00", code.account_id)
        if code.account_information is not None:
            account += _tlv("01", code.account_information)
        if code.acquiring_bank is not None:
            account += _tlv("02", code.acquiring_bank)
        parts.append(_tlv("29", account, "individual account template"))
    parts.append(_tlv("52", code.mcc))
    parts.append(_tlv("53", CURRENCY_CODES[code.currency]))
    if amount_text is not None:
        parts.append(_tlv("54", amount_text))
    parts.append(_tlv("58", code.country))
    parts.append(_tlv("59", code.merchant_name))
    parts.append(_tlv("60", code.merchant_city))
    additional = ""
    for sub, field, _label in _ADDITIONAL:
        value = getattr(code, field)
        if value is not None:
            additional += _tlv(sub, value)
    if additional:
        parts.append(_tlv("62", additional, "additional data template"))
    language = ""
    if code.merchant_name_alt is not None:
        assert code.language_preference is not None
        language += _tlv("00", code.language_preference) + _tlv("01", code.merchant_name_alt)
    if code.merchant_city_alt is not None:
        language += _tlv("02", code.merchant_city_alt)
    if language:
        parts.append(_tlv("64", language, "language template"))
    if amount_text is not None:
        parts.append(_tlv("99", _timestamps(code, now_ms, ttl_ms)))
    elif code.created_ms is not None or code.expires_ms is not None:
        raise KHQRError(
            "99", "timestamps belong to a dynamic code: give an amount or drop created/expires"
        )
    payload = "".join(parts) + "6304"
    return payload + crc_hex(payload)


def _timestamps(code: KHQR, now_ms: int | None, ttl_ms: int) -> str:
    created = code.created_ms if code.created_ms is not None else now_ms
    if created is None:
        raise KHQRError("99/00", "a code with an amount needs its creation time: pass now_ms")
    created = _check_timestamp("99/00", "creation timestamp", created)
    if code.expires_ms is not None:
        expires = code.expires_ms
    else:
        if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms <= 0:
            raise KHQRError("99/01", f"time to live must be a positive number of ms, got {ttl_ms}")
        expires = created + ttl_ms
    expires = _check_timestamp("99/01", "expiry timestamp", expires)
    if expires < created:
        raise KHQRError("99/01", f"expiry {expires} ms is before creation {created} ms")
    if now_ms is not None and expires < now_ms:
        raise KHQRError("99/01", f"expiry {expires} ms is already past (now is {now_ms} ms)")
    return _tlv("00", str(created)) + _tlv("01", str(expires))


# --- decoding ----------------------------------------------------------------------------


def _parse_tlvs(text: str, parent: str | None, offset: int) -> list[tuple[str, str, int]]:
    """Split ``text`` into (tag, value, position of value); strict, linear, never loops."""
    items: list[tuple[str, str, int]] = []
    what = "sub-tag" if parent else "tag"
    pos = 0
    while pos < len(text):
        here = offset + pos
        if len(text) - pos < 4:
            raise KHQRError(
                parent,
                f"truncated data object at position {here}: {text[pos:]!r} is too short "
                f"for a 2-digit ID and a 2-digit LEN",
            )
        tag, length = text[pos : pos + 2], text[pos + 2 : pos + 4]
        if not (tag.isascii() and tag.isdigit()):
            raise KHQRError(parent, f"{what} ID {tag!r} at position {here} is not two digits")
        name = f"{parent}/{tag}" if parent else tag
        if not (length.isascii() and length.isdigit()):
            raise KHQRError(name, f"LEN {length!r} at position {here + 2} is not two digits")
        start = pos + 4
        end = start + int(length)
        if end > len(text):
            where = f"template {parent}" if parent else "code"
            raise KHQRError(
                name,
                f"LEN {length} at position {here + 2} runs past the end of the {where} "
                f"(only {len(text) - start} characters left)",
            )
        items.append((tag, text[start:end], offset + start))
        pos = end
    return items


def _unique(items: list[tuple[str, str, int]], parent: str | None) -> dict[str, tuple[str, int]]:
    seen: dict[str, tuple[str, int]] = {}
    for tag, value, pos in items:
        name = f"{parent}/{tag}" if parent else tag
        if tag in seen:
            raise KHQRError(name, f"appears twice (values at positions {seen[tag][1]} and {pos})")
        seen[tag] = (value, pos)
    return seen


def _subtags(tag: str, value: str, pos: int) -> dict[str, str]:
    return {k: v for k, (v, _p) in _unique(_parse_tlvs(value, tag, pos), tag).items()}


def _parse_timestamp(tag: str, label: str, text: str) -> int:
    if len(text) != TIMESTAMP_DIGITS or not _DIGITS.fullmatch(text):
        raise KHQRError(tag, f"{label} must be {TIMESTAMP_DIGITS} digits (Unix ms), got {text!r}")
    return int(text)


def decode(text: str, *, now_ms: int | None = None) -> KHQR:
    """Parse and check a KHQR string; with ``now_ms``, also refuse an expired code.

    Unknown tags and sub-tags are skipped (after a strict TLV parse); everything else is
    checked as NBC's ``verify`` does, and stricter where the SDK's checks are lax.
    Raises :class:`KHQRError`, nothing else.
    """
    if not isinstance(text, str):
        raise KHQRError(None, f"a KHQR code is text, got {type(text).__name__}")
    if not text:
        raise KHQRError(None, "the code is empty")
    if len(text) > MAX_CODE_CHARS:
        raise KHQRError(None, f"the code is {len(text)} characters; at most {MAX_CODE_CHARS}")
    _check_chars(None, "code", text)
    items = _parse_tlvs(text, None, 0)
    if items[0][0] != "00":
        raise KHQRError(
            "00", f"a KHQR starts with the payload format indicator (00), not tag {items[0][0]}"
        )
    last_tag, crc, crc_pos = items[-1]
    if last_tag != "63":
        raise KHQRError("63", f"a KHQR ends with the CRC (tag 63), not tag {last_tag}")
    if len(crc) != 4:
        raise KHQRError("63", f"CRC LEN must be 04, got {len(crc):02d}")
    if not _HEX4.fullmatch(crc):
        raise KHQRError("63", f"CRC {crc!r} is not 4 hex digits")
    tags = _unique(items, None)
    # The CRC covers everything up to and including "6304"; the SDK compares it
    # case-insensitively.
    expected = crc_hex(text[:crc_pos])
    if crc.upper() != expected:
        raise KHQRError("63", f"CRC is {crc} but the code's CRC-16/CCITT-FALSE is {expected}")

    def value(tag: str) -> str | None:
        entry = tags.get(tag)
        return None if entry is None else entry[0]

    if "29" in tags and "30" in tags:
        raise KHQRError("30", "a code has either tag 29 (individual) or 30 (merchant), not both")
    account_tag = "30" if "30" in tags else "29"
    for tag in ("29", "52", "53", "58", "59", "60"):
        required = account_tag if tag == "29" else tag
        if required not in tags:
            label = "account information (29 or 30)" if tag == "29" else _ROOT_NAMES[tag]
            raise KHQRError(required, f"mandatory {label} is missing")

    account = _subtags(account_tag, *tags[account_tag])
    if "00" not in account:
        raise KHQRError(f"{account_tag}/00", "the Bakong account id is missing")
    currency_code = tags["53"][0]
    currency = CURRENCY_BY_CODE.get(currency_code)
    if currency is None:
        raise KHQRError(
            "53", f"currency {currency_code!r} is not KHQR's: 116 (KHR) or 840 (USD) only"
        )
    poi = value("01")
    if poi is not None and poi not in (POI_STATIC, POI_DYNAMIC):
        raise KHQRError("01", f"point of initiation must be 11 or 12, got {poi!r}")
    amount_text = value("54")
    amount = None if amount_text is None else _parse_amount(amount_text, currency)
    if poi == POI_DYNAMIC and amount is None:
        raise KHQRError("54", "a dynamic code (01 = 12) must carry an amount")
    created_ms: int | None = None
    expires_ms: int | None = None
    if "99" in tags:
        stamps = _subtags("99", *tags["99"])
        if "00" in stamps:
            created_ms = _parse_timestamp("99/00", "creation timestamp", stamps["00"])
        if "01" in stamps:
            expires_ms = _parse_timestamp("99/01", "expiry timestamp", stamps["01"])
    elif amount is not None:
        raise KHQRError("99", "a code with an amount (54) must carry timestamps (99) with expiry")
    if (amount is not None or poi == POI_DYNAMIC) and expires_ms is None:
        raise KHQRError("99/01", "a code with an amount must carry an expiry timestamp")
    if created_ms is not None and expires_ms is not None and expires_ms < created_ms:
        raise KHQRError("99/01", f"expiry {expires_ms} ms is before creation {created_ms} ms")
    if now_ms is not None and expires_ms is not None and expires_ms < now_ms:
        raise KHQRError("99/01", f"the code expired at {expires_ms} ms (now is {now_ms} ms)")

    additional = _subtags("62", *tags["62"]) if "62" in tags else {}
    language = _subtags("64", *tags["64"]) if "64" in tags else {}
    merchant = account_tag == "30"
    code = KHQR(
        account_id=account["00"],
        merchant_name=tags["59"][0],
        currency=currency,
        merchant_type="merchant" if merchant else "individual",
        merchant_city=tags["60"][0],
        amount=amount,
        merchant_id=account.get("01") if merchant else None,
        acquiring_bank=account.get("02"),
        account_information=None if merchant else account.get("01"),
        bill_number=additional.get("01"),
        mobile_number=additional.get("02"),
        store_label=additional.get("03"),
        terminal_label=additional.get("07"),
        purpose=additional.get("08"),
        language_preference=language.get("00"),
        merchant_name_alt=language.get("01"),
        merchant_city_alt=language.get("02"),
        upi_merchant_account=value("15"),
        mcc=tags["52"][0],
        country=tags["58"][0],
        payload_format=tags["00"][0],
        point_of_initiation=poi,
        created_ms=created_ms,
        expires_ms=expires_ms,
        crc=crc,
    )
    _check_fields(code)
    return code


# --- helpers for callers -----------------------------------------------------------------


def as_dict(code: KHQR) -> dict[str, str | int | bool | None]:
    """JSON-ready view (snake_case keys; amount as its decimal text)."""
    out: dict[str, str | int | bool | None] = {}
    for name in KHQR.__dataclass_fields__:
        v = getattr(code, name)
        out[name] = str(v) if isinstance(v, Decimal) else v
    out["dynamic"] = code.is_dynamic
    return out


def ledger_payment(code: KHQR) -> LedgerPayment:
    """Map a decoded code to the ledger transfer it asks for (dest, asset, amount, text)."""
    if not _LEDGER_ACCOUNT.fullmatch(code.account_id):
        tag = "30/00" if code.merchant_type == "merchant" else "29/00"
        raise KHQRError(
            tag,
            f"Bakong account id {code.account_id!r} is not a ledger account id "
            "(name@domain, name of 1..32 of [a-z_0-9])",
        )
    return LedgerPayment(
        account_id=code.account_id,
        asset_id=LEDGER_ASSETS[code.currency],
        amount=code.amount,
        description=code.bill_number or "",
    )
