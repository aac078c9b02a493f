"""Stateless validation of client input (pure): Iroha 1's field rules and reason texts.

Owns: transaction, batch, query and blocks-query checks that need no world state
(identifier formats, amounts, created_time window, quorum, sizes, batch meta, signature
validity). Imports node.model, node.crypto and node.config only; never trio, sockets,
the clock (``now_ms`` is an argument) or the global random.
"""

from node.validation.stateless import (
    CHECK_SLICE_TXS,
    StatelessValidator,
    batch_slices,
    is_valid_account_id,
    is_valid_asset_id,
    is_valid_domain_id,
    is_valid_public_key,
    parse_amount,
)

__all__ = [
    "CHECK_SLICE_TXS",
    "StatelessValidator",
    "batch_slices",
    "is_valid_account_id",
    "is_valid_asset_id",
    "is_valid_domain_id",
    "is_valid_public_key",
    "parse_amount",
]
