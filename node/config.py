"""Every local limit, timeout and queue size of a node, as frozen dataclasses.

Network-wide parameters (proposal size, consensus timeouts, created_time window) are
*not* here: they live on chain (genesis settings) so that every validator runs with
the same ones. ``ChainParameters`` holds their defaults and parsing. What is here is
local to one process: sizes of buffers and the limits that protect it from bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    # At max rate every block is full, and each round costs every validator votes,
    # hashing, a synced write and hand-offs whatever its size: 1,000 rather than 500 cut
    # validator CPU per tx a few per cent (alternating 60-s devnet runs, 0.88/0.92 ->
    # 0.82/0.79 ms). On a slow host 2,000 gave no clear further gain; on a host where
    # rounds come five a second it gave 9 % more tx/s at 9 % less CPU per tx (three
    # alternating pairs of 60-s runs, 0.392/0.389/0.374 -> 0.364/0.353/0.333 ms) for
    # ~22 MB more RSS. Below max rate blocks are smaller than either, so nothing changes.
    max_proposal_size: int = 2000
    proposal_timeout_ms: int = 400
    # The ordering peer waits up to this long from the start of a round for a full
    # proposal (0: propose whatever is pending at once). Every round costs each validator
    # ~15 ms of CPU; at 500 tx/s offered, 100 ms cut the validators' share of the machine
    # from 0.85 to 0.63 at the same p50 latency (151 against 154 ms), and 200 ms saved
    # nothing more (0.64) for 100 ms more latency. At max rate proposals are full at once.
    proposal_fill_ms: int = 100
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
    max_concurrent_rpcs: int = 256  # handlers in flight, streams included, x4 server-wide
    max_status_subscribers: int = 1000
    status_stream_queue: int = 64
    query_replay_cache: int = 2000
    # latest status of recent tx hashes; final statuses of older ones come from the
    # ledger, and what is still in flight is bounded by [limits.admission] (<= 10k)
    status_cache_size: int = 50_000
    stale_stream_max_rounds: int = 2  # Iroha's default: close a silent StatusStream
    stale_stream_timeout_s: float = 30.0  # ... or after this long without a round
    block_stream_queue: int = 64
    max_block_subscribers: int = 100
    query_threads: int = 4  # queries run on worker threads, at most this many at once
    max_connections: int = 1024
    max_streams_per_connection: int = 256
    keepalive_interval_s: float = 30.0
    keepalive_timeout_s: float = 20.0
    shutdown_grace_s: float = 2.0


@dataclass(frozen=True)
class OrderingLimits:
    max_pending_txs: int = 10_000
    max_mst_pending_batches: int = 10_000


@dataclass(frozen=True)
class AdmissionLimits:
    """The soft bound on Torii's admissions: the backlog (pending in the ordering cache,
    queued for it, reserved by requests in progress, gossiped to us on its way) may hold
    ``backlog_s`` seconds of the commit rate measured over the last ``rate_window_s``,
    clamped to [``min_backlog_proposals``, ``max_backlog_proposals``] full proposals
    (chain parameter ``max_proposal_size``). Under a flood an accepted tx so waits a few
    seconds even when the machine is slow, and refused work costs next to nothing. The
    floor (2 x 2,000) keeps proposals full, so the measured rate cannot talk itself down;
    the ceiling (3 x 2,000 = 6,000) is above what the max-rate benchmark keeps in flight
    (4,000), and 6 s reaches it from 1,000 tx/s: at normal load the bound is the ceiling
    (with 4 s the max-rate benchmark got busy answers and committed less). Gossiped
    batches may fill the cache beyond the bound, up to ``max_pending_txs`` (10,000)."""

    backlog_s: float = 6.0
    rate_window_s: float = 10.0
    min_backlog_proposals: int = 2
    # 3 x 2,000 keeps room in the ordering cache (max_pending_txs) for gossip
    max_backlog_proposals: int = 3

    def bound(self, commit_rate: float, max_proposal_size: int) -> int:
        lo = self.min_backlog_proposals * max_proposal_size
        hi = self.max_backlog_proposals * max_proposal_size
        return max(lo, min(hi, int(commit_rate * self.backlog_s)))


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
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)


# --- per-node configuration file (TOML) ---------------------------------------------


class ConfigError(ValueError):
    """A configuration problem, with the file and key it concerns."""


@dataclass(frozen=True)
class TlsConfig:
    cert_file: str
    key_file: str
    ca_file: str  # peers' certificates must chain to this CA


@dataclass(frozen=True)
class NodeConfig:
    """What is local to one validator process (keys, addresses, paths, limits)."""

    chain_id: str
    data_dir: str
    key_file: str
    genesis_file: str
    torii_listen: str = "127.0.0.1:50051"
    p2p_listen: str = "127.0.0.1:10001"
    metrics_listen: str = "127.0.0.1:9100"
    # public address other validators dial (defaults to p2p_listen)
    p2p_advertise: str = ""
    # extra peers to dial at start (host:port), besides the validators on chain
    bootstrap: tuple[str, ...] = ()
    log_level: str = "info"
    log_format: str = "kv"  # "kv" (key=value) or "json"
    peer_tls: TlsConfig | None = None
    torii_tls: TlsConfig | None = None
    limits: Limits = field(default_factory=Limits)


_LOG_LEVELS = ("debug", "info", "warning", "error")


def _addr(path: str, key: str, value: object) -> str:
    if not isinstance(value, str) or value.rpartition(":")[0] == "":
        raise ConfigError(f"{path}: {key} must be 'host:port', got {value!r}")
    _host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{path}: {key} has an invalid port in {value!r}")
    return value


def _str(path: str, table: dict[str, object], key: str, required: bool = True) -> str:
    v = table.get(key)
    if v is None:
        if required:
            raise ConfigError(f"{path}: missing required key {key!r}")
        return ""
    if not isinstance(v, str) or (required and not v):
        raise ConfigError(f"{path}: {key} must be a non-empty string, got {v!r}")
    return v


def _tls(path: str, raw: object, name: str) -> TlsConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return TlsConfig(
        cert_file=_str(path, raw, "cert_file"),
        key_file=_str(path, raw, "key_file"),
        ca_file=_str(path, raw, "ca_file"),
    )


def _override(path: str, section: str, obj: Any, raw: object) -> Any:
    """Apply a TOML table of overrides to a frozen limits dataclass, checking names/types."""
    import dataclasses

    if raw is None:
        return obj
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{section}] must be a table")
    known = {f.name: f for f in dataclasses.fields(obj)}
    changes: dict[str, object] = {}
    for k, v in raw.items():
        if k not in known:
            raise ConfigError(f"{path}: unknown key {section}.{k} (known: {', '.join(known)})")
        current = getattr(obj, k)
        if isinstance(current, bool) or not isinstance(v, type(current) | int):
            raise ConfigError(f"{path}: {section}.{k} must be {type(current).__name__}")
        if isinstance(v, int | float) and v <= 0:
            raise ConfigError(f"{path}: {section}.{k} must be positive, got {v}")
        changes[k] = type(current)(v)
    return dataclasses.replace(obj, **changes)


def load_node_config(path: str) -> NodeConfig:
    """Read and check a node's TOML file; relative paths resolve against its directory."""
    import os
    import tomllib

    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    base = os.path.dirname(os.path.abspath(path))

    def rel(p: str) -> str:
        return p if not p or os.path.isabs(p) else os.path.join(base, p)

    node = raw.get("node")
    if not isinstance(node, dict):
        raise ConfigError(f"{path}: missing [node] table")
    net = raw.get("network", {})
    if not isinstance(net, dict):
        raise ConfigError(f"{path}: [network] must be a table")
    log = raw.get("log", {})
    if not isinstance(log, dict):
        raise ConfigError(f"{path}: [log] must be a table")
    level = log.get("level", "info")
    if level not in _LOG_LEVELS:
        raise ConfigError(f"{path}: log.level must be one of {_LOG_LEVELS}, got {level!r}")
    fmt = log.get("format", "kv")
    if fmt not in ("kv", "json"):
        raise ConfigError(f"{path}: log.format must be 'kv' or 'json', got {fmt!r}")
    bootstrap = net.get("bootstrap", [])
    if not isinstance(bootstrap, list):
        raise ConfigError(f"{path}: network.bootstrap must be a list of 'host:port'")
    p2p = _addr(path, "network.p2p_listen", net.get("p2p_listen", "127.0.0.1:10001"))
    limits_raw = raw.get("limits", {})
    if not isinstance(limits_raw, dict):
        raise ConfigError(f"{path}: [limits] must be a table")
    lim = Limits()
    import dataclasses

    sections = [f.name for f in dataclasses.fields(Limits)]
    unknown = set(limits_raw) - set(sections)
    if unknown:
        raise ConfigError(f"{path}: unknown limits section(s): {', '.join(sorted(unknown))}")
    lim = dataclasses.replace(
        lim,
        **{
            name: _override(path, f"limits.{name}", getattr(lim, name), limits_raw.get(name))
            for name in sections
        },
    )
    return NodeConfig(
        chain_id=_str(path, node, "chain_id"),
        data_dir=rel(_str(path, node, "data_dir")),
        key_file=rel(_str(path, node, "key_file")),
        genesis_file=rel(_str(path, node, "genesis_file")),
        torii_listen=_addr(
            path, "network.torii_listen", net.get("torii_listen", "127.0.0.1:50051")
        ),
        p2p_listen=p2p,
        metrics_listen=_addr(
            path, "network.metrics_listen", net.get("metrics_listen", "127.0.0.1:9100")
        ),
        p2p_advertise=_addr(path, "network.p2p_advertise", net.get("p2p_advertise", p2p)),
        bootstrap=tuple(_addr(path, "network.bootstrap[]", b) for b in bootstrap),
        log_level=level,
        log_format=fmt,
        peer_tls=_tls(path, raw.get("peer_tls"), "peer_tls"),
        torii_tls=_tls(path, raw.get("torii_tls"), "torii_tls"),
        limits=lim,
    )


def render_node_config(cfg: NodeConfig) -> str:
    """The TOML text of a config (what ``bakong-node init`` writes)."""

    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        "# bakong-node configuration: local to this validator.",
        "# Network-wide parameters (proposal size, timeouts, created_time window) are on chain.",
        "[node]",
        f"chain_id = {q(cfg.chain_id)}",
        f"data_dir = {q(cfg.data_dir)}",
        f"key_file = {q(cfg.key_file)}",
        f"genesis_file = {q(cfg.genesis_file)}",
        "",
        "[network]",
        f"torii_listen = {q(cfg.torii_listen)}",
        f"p2p_listen = {q(cfg.p2p_listen)}",
        f"p2p_advertise = {q(cfg.p2p_advertise or cfg.p2p_listen)}",
        f"metrics_listen = {q(cfg.metrics_listen)}",
        "bootstrap = [" + ", ".join(q(b) for b in cfg.bootstrap) + "]",
        "",
        "[log]",
        f"level = {q(cfg.log_level)}",
        f"format = {q(cfg.log_format)}",
    ]
    for name, tls in (("peer_tls", cfg.peer_tls), ("torii_tls", cfg.torii_tls)):
        if tls is not None:
            lines += [
                "",
                f"[{name}]",
                f"cert_file = {q(tls.cert_file)}",
                f"key_file = {q(tls.key_file)}",
                f"ca_file = {q(tls.ca_file)}",
            ]
    return "\n".join(lines) + "\n"
