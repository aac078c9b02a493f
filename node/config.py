"""Every local limit, timeout and queue size of a node, as frozen dataclasses.

Network-wide parameters (proposal size, consensus timeouts, created_time window) are
*not* here: they live on chain (genesis settings) so that every validator runs with
the same ones. ``ChainParameters`` holds their defaults and parsing. What is here is
local to one process: sizes of buffers and the limits that protect it from bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --- protocol facts (Iroha 1) -------------------------------------------------------

MAX_QUORUM = 128
MAX_FUTURE_CREATED_MS = 5 * 60 * 1000  # created_time may be at most 5 min ahead
MAX_ACCOUNT_NAME = 32
MAX_DETAIL_KEY = 64
MAX_DESCRIPTION_BYTES = 100 * 1024  # TransferAsset description, stateless limit
MAX_DETAIL_VALUE_BYTES = 4 * 1024 * 1024
MAX_AMOUNT_FRACTION_DIGITS = 255
MAX_PRECISION = 255
MAX_HEX_KEY_CHARS = 136  # public key / signature hex, stateless limit
PROTOCOL_VERSION = 1  # bakong.peer protocol


@dataclass(frozen=True)
class ChainParameters:
    """Network-wide parameters; defaults used until genesis/settings override them."""

    max_proposal_size: int = 2000
    proposal_timeout_ms: int = 400
    vote_delay_ms: int = 300
    max_past_created_ms: int = 24 * 60 * 60 * 1000
    mst_expiration_ms: int = 24 * 60 * 60 * 1000
    max_description_size: int = 100  # Iroha's MaxDescriptionSize setting


@dataclass(frozen=True)
class ValidationLimits:
    """Stateless limits on client input (reliability plan row 14)."""

    max_grpc_message_bytes: int = 4 * 1024 * 1024
    max_tx_bytes: int = 512 * 1024
    max_txs_per_list: int = 1000
    max_commands_per_tx: int = 1000
    max_signatures_per_tx: int = 100
    max_batch_txs: int = 1000


@dataclass(frozen=True)
class ToriiLimits:
    max_concurrent_rpcs: int = 256
    max_status_subscribers: int = 1000
    status_stream_queue: int = 64
    query_replay_cache: int = 2000


@dataclass(frozen=True)
class OrderingLimits:
    max_pending_txs: int = 10_000
    max_mst_pending_batches: int = 10_000


@dataclass(frozen=True)
class PeerLimits:
    max_connections: int = 50
    handshake_timeout_s: float = 5.0
    max_frame_bytes: int = 4 * 1024 * 1024
    max_vote_frame_bytes: int = 64 * 1024
    inbound_queue: int = 256
    outbound_queue: int = 256
    rate_msgs_per_s: float = 200.0
    rate_burst: int = 400
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0


@dataclass(frozen=True)
class ConsensusLimits:
    future_block_rounds: int = 2  # buffer votes at most this many heights ahead
    max_buffered_votes: int = 256
    sync_chunk_blocks: int = 1000


@dataclass(frozen=True)
class Limits:
    validation: ValidationLimits = field(default_factory=ValidationLimits)
    torii: ToriiLimits = field(default_factory=ToriiLimits)
    ordering: OrderingLimits = field(default_factory=OrderingLimits)
    peers: PeerLimits = field(default_factory=PeerLimits)
    consensus: ConsensusLimits = field(default_factory=ConsensusLimits)
