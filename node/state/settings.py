"""Network-wide parameters stored on chain as settings (``SetSettingValue``).

Setting keys (values are decimal integers; anything else is refused with code 1):

=======================  ====================================  =============
key                      ChainParameters field                 unit
=======================  ====================================  =============
``MaxDescriptionSize``   ``max_description_size`` (Iroha's)    characters
``MaxProposalSize``      ``max_proposal_size``                 transactions
``ProposalTimeoutMs``    ``proposal_timeout_ms``               ms
``ProposalFillMs``       ``proposal_fill_ms`` (0 allowed)      ms
``VoteDelayMs``          ``vote_delay_ms``                     ms
``MaxPastCreatedMs``     ``max_past_created_ms``               ms
``MstExpirationMs``      ``mst_expiration_ms``                 ms
=======================  ====================================  =============

Other keys are stored as given and ignored by the node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from node.config import ChainParameters

SETTING_FIELDS: dict[str, str] = {
    "MaxDescriptionSize": "max_description_size",
    "MaxProposalSize": "max_proposal_size",
    "ProposalTimeoutMs": "proposal_timeout_ms",
    "ProposalFillMs": "proposal_fill_ms",
    "VoteDelayMs": "vote_delay_ms",
    "MaxPastCreatedMs": "max_past_created_ms",
    "MstExpirationMs": "mst_expiration_ms",
}

_MAX_SETTING = 1 << 62
# Known keys whose value may be 0 (the others must be positive).
_ZERO_ALLOWED = frozenset({"ProposalFillMs"})


def valid_setting(key: str, value: str) -> bool:
    """Known keys need a positive decimal integer (or 0 where that means "off");
    unknown keys take any value."""
    if key not in SETTING_FIELDS:
        return True
    if not (value.isascii() and value.isdigit()):
        return False
    low = 0 if key in _ZERO_ALLOWED else 1
    return low <= int(value) < _MAX_SETTING


def params_from_settings(settings: Mapping[str, str]) -> ChainParameters:
    updates = {
        field: int(settings[key])
        for key, field in SETTING_FIELDS.items()
        if key in settings and valid_setting(key, settings[key])
    }
    return replace(ChainParameters(), **updates)


def settings_from_params(params: ChainParameters) -> dict[str, str]:
    return {key: str(getattr(params, field)) for key, field in SETTING_FIELDS.items()}
