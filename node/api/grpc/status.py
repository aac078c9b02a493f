"""gRPC status codes, the error handlers raise, and the header codecs of the gRPC spec.

``grpc-message`` is percent-encoded UTF-8 (PROTOCOL-HTTP2.md: bytes outside 0x20..0x7E and
``%`` itself become ``%XX``); ``grpc-timeout`` is 1 to 8 ASCII digits and one unit letter.
"""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """The 17 canonical gRPC status codes (grpc/doc/statuscodes.md)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class GrpcError(Exception):
    """Raise from a handler to end the call with ``status`` and ``message`` in the trailers."""

    def __init__(self, status: Status, message: str = "") -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.status.name}: {self.message}" if self.message else self.status.name


# Bytes that may stay literal in grpc-message: printable ASCII except '%'.
_LITERAL = frozenset(range(0x20, 0x7F)) - {ord("%")}


def encode_grpc_message(message: str) -> bytes:
    """Percent-encode ``message`` for the ``grpc-message`` trailer."""
    raw = message.encode("utf-8", "replace")
    if all(b in _LITERAL for b in raw):
        return raw
    out = bytearray()
    for b in raw:
        if b in _LITERAL:
            out.append(b)
        else:
            out += b"%%%02X" % b
    return bytes(out)


def decode_grpc_message(value: bytes) -> str:
    """Inverse of :func:`encode_grpc_message`; malformed escapes stay literal (as the spec asks)."""
    if b"%" not in value:
        return value.decode("utf-8", "replace")
    out = bytearray()
    i, n = 0, len(value)
    while i < n:
        b = value[i]
        if b == 0x25 and _is_hex(value[i + 1 : i + 3]):
            out.append(int(value[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(b)
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


_TIMEOUT_UNITS = {
    ord("H"): 3600.0,
    ord("M"): 60.0,
    ord("S"): 1.0,
    ord("m"): 1e-3,
    ord("u"): 1e-6,
    ord("n"): 1e-9,
}


def parse_grpc_timeout(value: bytes) -> float:
    """Seconds in a ``grpc-timeout`` header value; ``ValueError`` when it is malformed."""
    if not 2 <= len(value) <= 9:
        raise ValueError(f"malformed grpc-timeout: {value!r}")
    unit = _TIMEOUT_UNITS.get(value[-1])
    digits = value[:-1]
    if unit is None or not digits.isdigit():
        raise ValueError(f"malformed grpc-timeout: {value!r}")
    return int(digits) * unit
