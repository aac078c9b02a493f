"""Per-transaction index record: where a transaction ended up (``t/{hash}``)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from node.state.execute import TxError

_POS = struct.Struct(">BQI")  # committed, height, index: the whole record when no error
_HEAD = struct.Struct(">BQIBIQ")  # committed, height, index, has_error, code, cmd_index


def committed_record(height: int, index: int) -> bytes:
    """``TxRecord(True, height, index).encode()``, without building the record."""
    return _POS.pack(True, height, index)


@dataclass(frozen=True)
class TxRecord:
    """``committed`` False = the hash is in the block's rejected list (REJECTED status).

    ``index`` is the position in the block's transactions (committed) or in its
    rejected hashes (rejected). ``error`` is the stateful reason when this node executed
    the proposal; None for blocks applied from peers or replayed (reasons are not part
    of a block).
    """

    committed: bool
    height: int
    index: int
    error: TxError | None = None

    def encode(self) -> bytes:
        e = self.error
        if e is None:  # most records: 13 bytes instead of 26 (every compaction rewrites them)
            return _POS.pack(self.committed, self.height, self.index)
        head = _HEAD.pack(self.committed, self.height, self.index, True, e.code, e.cmd_index)
        return head + e.cmd_name.encode()

    @classmethod
    def decode(cls, data: bytes) -> TxRecord:
        if len(data) == _POS.size:
            committed, height, index = _POS.unpack(data)
            return cls(bool(committed), height, index)
        committed, height, index, has_error, code, cmd_index = _HEAD.unpack_from(data)
        error = TxError(data[_HEAD.size :].decode(), cmd_index, code) if has_error else None
        return cls(bool(committed), height, index, error)
