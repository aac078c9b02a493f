"""Composition root: build a validator's components and run them under one nursery.

``run_node(config)`` opens (or creates from genesis) the ledger in LevelDB, then runs,
in one trio nursery: the peer network, the consensus driver (the only owner of the
pipeline and of ledger writes), Torii (gRPC), the HTTP metrics/health endpoint and a
few housekeeping loops (MST expiry, peer-set refresh). SIGTERM/SIGINT end it
gracefully: the block being written is finished (ledger writes are synchronous inside
the driver's steps), Torii says GOAWAY, peers are closed, LevelDB is closed.
"""

from __future__ import annotations

import gc
import os
import random
import resource
import signal
import ssl
import time
from collections import deque
from typing import Any

import trio

from node import native
from node.api.grpc import GrpcServer
from node.api.http import HttpEndpoint
from node.api.torii import ToriiService
from node.config import NodeConfig, TlsConfig
from node.consensus.pipeline import Committed, Pipeline, PipelineConfig
from node.consensus.yac import YacConfig
from node.crypto import KeyPair, verify
from node.crypto import equation as signature_equation
from node.keys import load_key_file
from node.log import get_logger, setup_logging
from node.metrics import NodeMetrics
from node.model import Round, block_hash
from node.net import PeerNetwork, TcpTransport
from node.proto.iroha import block_pb2, qry_responses_pb2
from node.runtime.admission import Reservation
from node.runtime.chain import ChainAdapter, VerifiedCache
from node.runtime.clock import skew_ms, wall_ms
from node.runtime.driver import ConsensusDriver, Hooks, load_sign_state, status_frame
from node.state import Ledger, LedgerError
from node.state import keys as K
from node.state.genesis import genesis_from_spec, load_iroha_genesis, load_spec
from node.storage import KVStore, LevelDBStore
from node.storage.leveldb import L0_SLOWDOWN_FILES, L0_STOP_FILES
from node.sync.signstate import move_sign_state

log = get_logger("node")

MST_EXPIRY_INTERVAL_S = 10.0
STATUS_INTERVAL_S = 1.0
# Allocations between young collections (default 700). A young collection walks what
# survived since the last one: in-flight transactions, mostly. Rarer ones find fewer of
# them alive: at max rate 200,000 took 2-5 % less CPU per transaction than 20,000 (three
# alternating pairs), for about 7 MB; 1,000,000 gained nothing more.
GC_YOUNG_THRESHOLD = 200_000


def round_timeout_ms(params: Any, validators: int) -> int:
    """A round without an outcome ends after the proposal wait plus one vote relay per
    validator (and two spare): long enough for a slow round, short enough that lost
    votes (a peer restarted past them) never stall a height. Same rule as the simulator."""
    return int(params.proposal_timeout_ms + (validators + 2) * params.vote_delay_ms)


class StartupError(Exception):
    """The node cannot start; the message says what to fix."""


def load_genesis(path: str) -> block_pb2.Block:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise StartupError(f"cannot read genesis file {path}: {e.strerror}") from None
    try:
        stripped = text.lstrip()
        if stripped.startswith("{") and ('"block_v1"' in text or '"blockV1"' in text):
            return load_iroha_genesis(text)
        return genesis_from_spec(load_spec(text))
    except Exception as e:  # any parse problem is a config problem, reported as such
        raise StartupError(f"genesis file {path} is not a valid genesis block: {e}") from None


def open_ledger(cfg: NodeConfig) -> tuple[LevelDBStore, Ledger]:
    path = os.path.join(cfg.data_dir, "ledger")
    os.makedirs(path, exist_ok=True)
    try:
        store = LevelDBStore(path)
    except Exception as e:
        if "lock" in str(e).lower():
            raise StartupError(
                f"data dir {cfg.data_dir} is in use by another bakong-node process"
            ) from None
        raise StartupError(f"cannot open LevelDB at {path}: {e}") from None
    genesis = load_genesis(cfg.genesis_file)
    try:
        existing = store.get(K.height_key(K.BLOCK, 1)) is not None or store.get(K.TOP) is not None
        if not existing:
            ledger = Ledger.create(store, genesis)
            log.info("genesis_committed", hash=block_hash(genesis.block_v1).hex()[:16])
        else:
            ledger = Ledger.open(store)
            first = ledger.get_block(1)
            if first is None or block_hash(first[0].block_v1) != block_hash(genesis.block_v1):
                raise StartupError(
                    f"data dir {cfg.data_dir} holds another chain than genesis "
                    f"{cfg.genesis_file}; use a fresh data dir"
                )
    except LedgerError as e:
        store.close()
        raise StartupError(f"ledger in {cfg.data_dir}: {e}") from None
    # compaction_nice: LevelDB's compaction thread runs below the node's own priority
    log.info("ledger_opened", height=ledger.height, compaction_nice=store.compaction_nice)
    return store, ledger


# The sign state's own LevelDB holds a few proposals at a time and is read only at start:
# a small block cache and write buffer (each LevelDB holds its own) keep its memory low.
SIGN_STORE_CACHE_BYTES = 1024 * 1024
SIGN_STORE_WRITE_BUFFER_BYTES = 4 * 1024 * 1024


def open_sign_store(data_dir: str, ledger_store: KVStore) -> LevelDBStore:
    """The validator's sign state (last votes, voted proposals: ``node.sync.signstate``)
    in ``<data_dir>/signstate``, moved there from the ledger's store by the first start
    of a data dir that kept it in the ledger."""
    path = os.path.join(data_dir, "signstate")
    os.makedirs(path, exist_ok=True)
    try:
        store = LevelDBStore(
            path,
            cache_bytes=SIGN_STORE_CACHE_BYTES,
            write_buffer_bytes=SIGN_STORE_WRITE_BUFFER_BYTES,
        )
    except Exception as e:
        raise StartupError(f"cannot open LevelDB at {path}: {e}") from None
    try:
        moved = move_sign_state(ledger_store, store)
    except Exception as e:
        store.close()
        raise StartupError(f"cannot move the sign state from the ledger to {path}: {e}") from None
    if moved:
        log.info("sign_state_moved", keys=moved, to=path)
    return store


def _server_ssl(tls: TlsConfig | None) -> ssl.SSLContext | None:
    if tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls.ca_file)
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _client_ssl(tls: TlsConfig | None) -> ssl.SSLContext | None:
    if tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca_file)
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    ctx.check_hostname = False  # peers are authenticated by their validator key
    return ctx


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


class Node:
    """One validator's components, wired; :meth:`run` serves until cancelled."""

    def __init__(
        self,
        cfg: NodeConfig,
        keypair: KeyPair,
        store: LevelDBStore,
        ledger: Ledger,
        sign_store: KVStore,
    ):
        self.cfg = cfg
        self.keypair = keypair
        self.store = store
        self.ledger = ledger
        self.metrics = NodeMetrics()
        self.metrics.leveldb.add("ledger", store.level_stats)
        if isinstance(sign_store, LevelDBStore):
            self.metrics.leveldb.add("signstate", sign_store.level_stats)
        self.started = time.time()
        self.torii_ready = False
        self.isolated = False
        self._commit_times: deque[tuple[float, int]] = deque(maxlen=64)
        self._last_block_ms = 0
        self._round_started = time.monotonic()
        params = ledger.params
        self.validators = self._validator_keys()
        # It only has to span a tx's way from Torii or gossip into a proposal: a few
        # times the ordering cache's bound (200k entries held ~30 MB to no use).
        pending = cfg.limits.ordering.max_pending_txs
        self.verified = VerifiedCache(size=5 * pending, recent=2 * pending)
        self.torii = ToriiService(
            ledger=ledger,
            store=store,
            admission=self,  # room reserved in the driver's ordering backlog
            limits=cfg.limits,
            health=self.healthcheck,
            metrics=self.metrics,
            now_ms=wall_ms,
        )
        self.adapter = ChainAdapter(ledger, keypair, cfg.limits.validation, self.verified)
        sign_state, voted_proposals = load_sign_state(sign_store)
        self.pipeline: Pipeline[Any, Any, Any] = Pipeline(
            keypair,
            verify,
            self.validators,
            self.adapter,
            PipelineConfig(
                proposal_timeout_ms=params.proposal_timeout_ms,
                proposal_fill_ms=params.proposal_fill_ms,
                max_proposal_size=params.max_proposal_size,
                max_pending_txs=cfg.limits.ordering.max_pending_txs,
            ),
            YacConfig(
                vote_delay_ms=params.vote_delay_ms,
                round_timeout_ms=round_timeout_ms(params, len(self.validators)),
                future_block_rounds=cfg.limits.consensus.future_block_rounds,
                max_buffered_votes=cfg.limits.consensus.max_buffered_votes,
            ),
            sign_state,
            voted_proposals,
        )
        self.net = PeerNetwork(
            keypair,
            cfg.chain_id,
            cfg.p2p_listen,
            cfg.limits.peers,
            self._peer_allowed,
            TcpTransport(
                server_ssl=_server_ssl(cfg.peer_tls), client_ssl=_client_ssl(cfg.peer_tls)
            ),
            random.Random(),
            top_height=lambda: self.ledger.height,
        )
        self.driver = ConsensusDriver(
            self.pipeline,
            self.adapter,
            self.net,
            sign_store,
            cfg.limits,
            self.metrics,
            Hooks(
                committed=self._committed,
                round_changed=self._round_changed,
                executed=self.torii.proposal_executed,
            ),
        )
        self.metrics.height.set(ledger.height)

    # --- membership --------------------------------------------------------------------

    def _validator_keys(self) -> list[str]:
        return [p.peer_key.lower() for p in self.ledger.validators()]

    def isolate(self, on: bool) -> None:
        """Fault switch for perturbation runs (SIGUSR1 on, SIGUSR2 off): drop every peer
        connection and refuse new ones, as if the network cable were cut."""
        self.isolated = on
        log.warning("isolated" if on else "rejoined", height=self.ledger.height)
        if on:
            self.net.set_peers({})
            for key in list(self.net.connected()):
                self.net.disconnect(key)
        else:
            self.net.set_peers(self._peer_map())

    def _peer_allowed(self, key: str) -> bool:
        if self.isolated:
            return False
        k = key.lower()
        return k in self.validators or any(
            p.peer_key.lower() == k for p in self.ledger.syncing_peers()
        )

    def _peer_map(self) -> dict[str, str]:
        me = self.keypair.public_key
        peers = {p.peer_key.lower(): p.address for p in self.ledger.validators()}
        peers.update({p.peer_key.lower(): p.address for p in self.ledger.syncing_peers()})
        peers.pop(me, None)
        return peers

    # --- hooks -------------------------------------------------------------------------

    def reserve(self, n_txs: int) -> Reservation | None:
        """Torii's admission: room for a whole list in ordering, or None (busy)."""
        return self.driver.reserve(n_txs)

    def _committed(self, c: Committed) -> None:
        stored = self.ledger.get_block(c.height)
        if stored is not None:
            block = stored[0]
            # REJECTED carries the stateful reason when this node executed the proposal
            # (the tx index keeps it; a block from sync has none)
            errors = {}
            for h in c.rejected:
                rec = self.ledger.tx_status(h)
                if rec is not None and rec.error is not None:
                    errors[h] = rec.error
            self.torii.block_committed(block, errors, tx_hashes=c.tx_hashes)
            self._last_block_ms = block.block_v1.payload.created_time or int(time.time() * 1000)
        now = time.monotonic()
        self.metrics.commit_latency.observe(now - self._round_started)
        self._round_started = now
        self.metrics.height.set(c.height)
        self.metrics.blocks.inc()
        self.metrics.txs_committed.inc(len(c.tx_hashes))
        self.metrics.txs_rejected.inc(len(c.rejected))
        self._commit_times.append((now, len(c.tx_hashes)))
        keys = list(self.pipeline.validators)  # the pipeline re-reads them after each commit
        if keys != self.validators:
            log.info("validator_set_changed", height=c.height, validators=len(keys))
            self.validators = keys
            self.net.set_peers(self._peer_map())
        log.info(
            "block_committed",
            height=c.height,
            txs=len(c.tx_hashes),
            rejected=len(c.rejected),
            hash=c.block_hash.hex()[:16],
        )

    def _round_changed(self, r: Round) -> None:
        if r.reject_round:
            self.torii.round_passed()
            # debug: an idle network walks through reject rounds (nothing to order)
            log.debug("reject_round", round=str(r), orderer=self.pipeline.orderer(r)[:16])

    # --- health ------------------------------------------------------------------------

    def tps(self) -> float:
        now = time.monotonic()
        recent = [(t, n) for t, n in self._commit_times if now - t <= 10.0]
        if not recent:
            return 0.0
        return sum(n for _, n in recent) / 10.0

    def status(self) -> dict[str, Any]:
        r = self.pipeline.yac.round
        return {
            "chain_id": self.cfg.chain_id,
            "public_key": self.keypair.public_key,
            "height": self.ledger.height,
            "top_hash": self.ledger.top_hash.hex(),
            "round": [r.block_round, r.reject_round],
            "validators": len(self.validators),
            "is_validator": self.keypair.public_key in self.validators,
            "peers": len(self.net.connected()),
            "tps": round(self.tps(), 1),
            "last_block_time_ms": self._last_block_ms,
            "pending_txs": self.pipeline.cache.tx_count,
            "mst_pending": len(self.torii.mst),
            "is_syncing": self.ledger.height + 1 < r.block_round,
            "torii_ready": self.torii_ready,
            "isolated": self.isolated,
            "uptime_s": round(time.time() - self.started, 1),
            "build": native.mode(),
            "signatures": signature_equation.stats(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "net": self._net_stats(),
            "dropped": dict(self.driver.dropped),
            "ledger_db": self._ledger_db_stats(),
        }

    def _ledger_db_stats(self) -> dict[str, Any]:
        """The ledger's LevelDB at a glance (per level: bakong_leveldb_* on /metrics)."""
        levels = self.store.level_stats()
        return {
            "level0_files": levels[0].files if levels else 0,  # level 0 comes first
            "level0_slowdown_at": L0_SLOWDOWN_FILES,
            "level0_stop_at": L0_STOP_FILES,
            "size_mb": sum(st.size_mb for st in levels),
            "compaction_s": sum(st.compaction_s for st in levels),
            "compaction_written_mb": sum(st.written_mb for st in levels),
        }

    def _net_stats(self) -> dict[str, Any]:
        st = self.net.stats
        out: dict[str, Any] = {
            k: v for k, v in vars(st).items() if isinstance(v, int) and not isinstance(v, bool)
        }
        out["refused"] = dict(st.refused)
        return out

    def health(self) -> dict[str, Any]:
        r = self.pipeline.yac.round
        return {
            "memory_consumption": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "last_block_round": self.ledger.height,
            "last_reject_round": r.reject_round,
            "is_syncing": self.ledger.height + 1 < r.block_round,
            "status": "running" if self.torii_ready else "initialization",
        }

    def healthcheck(self) -> qry_responses_pb2.HealthcheckData:
        h = self.health()
        return qry_responses_pb2.HealthcheckData(
            memory_consumption=h["memory_consumption"],
            is_healthy=self.torii_ready,
            is_syncing=h["is_syncing"],
            last_block_height=self.ledger.height,
            last_block_reject=h["last_reject_round"],
        )

    # --- run ---------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        next_mst = trio.current_time() + MST_EXPIRY_INTERVAL_S
        while True:
            await trio.sleep(STATUS_INTERVAL_S)
            self.metrics.peers_connected.set(len(self.net.connected()))
            self.net.broadcast(status_frame(self.ledger.height, self.pipeline.yac.round))
            if trio.current_time() >= next_mst:
                next_mst = trio.current_time() + MST_EXPIRY_INTERVAL_S
                self.torii.expire_mst(wall_ms())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.cfg
        tl = cfg.limits.torii
        grpc = GrpcServer(
            self.torii.methods(),
            max_message_bytes=cfg.limits.validation.max_grpc_message_bytes,
            max_concurrent_streams=tl.max_streams_per_connection,
            max_concurrent_handlers=tl.max_concurrent_rpcs * 4,
            max_connections=tl.max_connections,
            ssl_context=_server_ssl(cfg.torii_tls),
            keepalive_interval=tl.keepalive_interval_s,
            keepalive_timeout=tl.keepalive_timeout_s,
        )
        http = HttpEndpoint(self.metrics.render, self.health, self.status)
        async with trio.open_nursery() as nursery:
            p2p = await nursery.start(self.net.run)
            self.net.set_peers(self._peer_map())
            await nursery.start(self.driver.run)
            host, port = _split(cfg.torii_listen)
            await nursery.start(grpc.serve, host, port)
            mhost, mport = _split(cfg.metrics_listen)
            await nursery.start(http.serve, mhost, mport)
            nursery.start_soon(self._housekeeping)
            self.torii_ready = True
            log.info(
                "node_started",
                key=self.keypair.public_key[:16],
                height=self.ledger.height,
                torii=cfg.torii_listen,
                p2p=p2p,
                metrics=cfg.metrics_listen,
                validators=len(self.validators),
                build=native.mode(),
            )
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(3):
                    await grpc.shutdown(grace=tl.shutdown_grace_s)
                self.net.close()


async def _serve(
    cfg: NodeConfig, keypair: KeyPair, store: LevelDBStore, ledger: Ledger, sign_store: KVStore
) -> None:
    node = Node(cfg, keypair, store, ledger, sign_store)
    if skew_ms():
        log.warning("clock_skewed", skew_ms=skew_ms())
    stop = (signal.SIGTERM, signal.SIGINT)
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(*stop, signal.SIGUSR1, signal.SIGUSR2) as signals:
            await nursery.start(node.run)
            async for signum in signals:
                if signum in stop:
                    name = signal.Signals(signum).name
                    log.info("shutdown", signal=name, height=ledger.height)
                    nursery.cancel_scope.cancel()
                    break
                node.isolate(signum == signal.SIGUSR1)


def _os_error(e: BaseException) -> OSError | None:
    """The OSError inside a (nested) exception group, e.g. a port already in use."""
    if isinstance(e, OSError):
        return e
    if isinstance(e, BaseExceptionGroup):
        for sub in e.exceptions:
            found = _os_error(sub)
            if found is not None:
                return found
    return None


def run_node(cfg: NodeConfig) -> int:
    setup_logging(cfg.log_level, cfg.log_format)
    keypair = load_key_file(cfg.key_file)
    store, ledger = open_ledger(cfg)
    try:
        sign_store = open_sign_store(cfg.data_dir, store)
    except StartupError:
        store.close()
        raise
    # What is loaded by now (modules, protobuf descriptors, the opened ledger) lives as
    # long as the process: frozen, full collections no longer walk it. A node allocates
    # several objects per transaction and frees nearly all by reference counting, so
    # young collections can be rarer than every 700 allocations without holding memory.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    try:
        trio.run(_serve, cfg, keypair, store, ledger, sign_store)
    except (OSError, ExceptionGroup) as e:
        os_error = _os_error(e)
        if os_error is None:
            raise
        log.error("startup_failed", error=str(os_error))
        raise StartupError(
            f"cannot listen on torii {cfg.torii_listen}, p2p {cfg.p2p_listen} or metrics "
            f"{cfg.metrics_listen}: {os_error.strerror or os_error}"
        ) from None
    finally:
        sign_store.close()
        store.close()
    log.info("stopped", height=ledger.height)
    return 0


__all__ = ["Node", "StartupError", "load_genesis", "open_ledger", "open_sign_store", "run_node"]
