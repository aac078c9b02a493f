"""ToriiService: builds the buses, the MST pool and both services, and exposes

* ``methods()`` -- the 7 RPCs under Iroha's exact paths, for ``GrpcServer``;
* submissions go to ordering through ``admission`` (the consensus driver: room for a
  whole list reserved before any check) or, without one (tests, tools), through a plain
  ``submit_batch`` callable;
* the hooks the node calls as its pipeline advances: ``proposal_executed`` (STATEFUL_*),
  ``block_committed`` (COMMITTED / REJECTED, block streams, MST clean-up, one round),
  ``round_passed`` (a reject round), ``expire_mst`` (periodic, with the time).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any, Protocol

import trio
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from node.api.grpc import GrpcError, Method, ServiceContext, server_stream, unary
from node.api.torii.block_bus import BlockBus
from node.api.torii.commands import Admission, CommandService, SubmitBatch, record_response
from node.api.torii.ledger import LedgerAccess
from node.api.torii.mst import MstPool
from node.api.torii.queries import QueryExecutor, QueryService
from node.api.torii.status_bus import StatusBus, ToriiResponse, response
from node.config import ChainParameters, Limits
from node.metrics import NodeMetrics
from node.model import Tx
from node.proto.iroha import (
    block_pb2,
    endpoint_pb2,
    qry_responses_pb2,
    queries_pb2,
    transaction_pb2,
)
from node.state import Ledger
from node.state.execute import ExecutionResult, TxError
from node.state.records import TxRecord
from node.storage.kv import KVStore
from node.validation import StatelessValidator

S = endpoint_pb2

COMMAND_SERVICE = "/iroha.protocol.CommandService_v1/"
QUERY_SERVICE = "/iroha.protocol.QueryService_v1/"


class ToriiLedger(QueryExecutor, Protocol):
    """The ledger as Torii sees it."""

    @property
    def params(self) -> ChainParameters: ...

    def tx_status(self, tx_hash: bytes, /) -> TxRecord | None: ...


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def default_health() -> qry_responses_pb2.HealthcheckData:
    return qry_responses_pb2.HealthcheckData(is_healthy=True, is_syncing=False)


class ToriiService:
    def __init__(
        self,
        *,
        ledger: Ledger | ToriiLedger,
        store: KVStore | None,
        submit_batch: SubmitBatch | None = None,
        admission: Admission | None = None,
        limits: Limits | None = None,
        health: Callable[[], qry_responses_pb2.HealthcheckData] = default_health,
        metrics: NodeMetrics | None = None,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        limits = limits or Limits()
        settings = limits.torii
        self.limits = limits
        self.metrics = metrics
        self.now_ms = now_ms
        self.mst = MstPool(store, max_batches=limits.ordering.max_mst_pending_batches)
        access: ToriiLedger = (
            LedgerAccess(ledger, self.mst) if isinstance(ledger, Ledger) else ledger
        )
        self.ledger = access
        self.status_bus = StatusBus(
            cache_size=settings.status_cache_size,
            queue_size=limits.torii.status_stream_queue,
            max_subscribers=limits.torii.max_status_subscribers,
            durable=self._durable_status,
            stale_rounds=settings.stale_stream_max_rounds,
            stale_timeout_s=settings.stale_stream_timeout_s,
        )
        self.block_bus = BlockBus(
            queue_size=settings.block_stream_queue,
            max_subscribers=settings.max_block_subscribers,
        )
        self._validator_cache: tuple[ChainParameters, StatelessValidator] | None = None
        self.commands = CommandService(
            bus=self.status_bus,
            mst=self.mst,
            ledger=access,
            validator=self.validator,
            limits=limits.validation,
            submit_batch=submit_batch,
            admission=admission,
            now_ms=now_ms,
            metrics=metrics,
        )
        self.queries = QueryService(
            executor=access,
            validator=self.validator,
            blocks=self.block_bus,
            replay_cache_size=limits.torii.query_replay_cache,
            health=health,
            now_ms=now_ms,
            query_threads=limits.torii.query_threads,
        )
        if metrics is not None:
            metrics.mst_pending.set(len(self.mst))

    def validator(self) -> StatelessValidator:
        """A validator with the chain's current parameters (they may change on chain)."""
        params = self.ledger.params
        cached = self._validator_cache
        if cached is None or cached[0] is not params:
            cached = (params, StatelessValidator(params, self.limits.validation))
            self._validator_cache = cached
        return cached[1]

    def _durable_status(self, tx_hash: bytes) -> ToriiResponse | None:
        rec = self.ledger.tx_status(tx_hash)
        if rec is not None:
            return record_response(tx_hash, rec)
        if tx_hash in self.mst:
            return response(tx_hash, S.MST_PENDING)
        return None

    # --- RPC table -----------------------------------------------------------------------

    def methods(self) -> dict[str, Method]:
        c, q = self.commands, self.queries
        return {
            COMMAND_SERVICE + "Torii": unary(
                transaction_pb2.Transaction, self._counted("Torii", c.torii)
            ),
            COMMAND_SERVICE + "ListTorii": unary(
                endpoint_pb2.TxList, self._counted("ListTorii", c.list_torii)
            ),
            COMMAND_SERVICE + "Status": unary(
                endpoint_pb2.TxStatusRequest, self._counted("Status", c.status)
            ),
            COMMAND_SERVICE + "StatusStream": server_stream(
                endpoint_pb2.TxStatusRequest,
                self._counted_stream("StatusStream", c.status_stream),
            ),
            QUERY_SERVICE + "Find": unary(queries_pb2.Query, self._counted("Find", q.find)),
            QUERY_SERVICE + "FetchCommits": server_stream(
                queries_pb2.BlocksQuery, self._counted_stream("FetchCommits", q.fetch_commits)
            ),
            QUERY_SERVICE + "Healthcheck": unary(
                empty_pb2.Empty, self._counted("Healthcheck", q.healthcheck)
            ),
        }

    def _count(self, method: str, code: str) -> None:
        if self.metrics is not None:
            self.metrics.torii_requests.labels(method, code).inc()

    def _counted(
        self, name: str, handler: Callable[[Any, ServiceContext], Awaitable[Any]]
    ) -> Callable[[Any, ServiceContext], Awaitable[Message]]:
        async def call(request: Any, ctx: ServiceContext) -> Message:
            code = "OK"
            try:
                result: Message = await handler(request, ctx)
                return result
            except GrpcError as e:
                code = e.status.name
                raise
            except trio.Cancelled:
                code = "CANCELLED"
                raise
            except Exception:
                code = "INTERNAL"
                raise
            finally:
                self._count(name, code)

        return call

    def _counted_stream(
        self, name: str, handler: Callable[[Any, ServiceContext], AsyncIterator[Any]]
    ) -> Callable[[Any, ServiceContext], AsyncIterator[Message]]:
        async def call(request: Any, ctx: ServiceContext) -> AsyncIterator[Message]:
            code = "OK"
            try:
                async with aclosing(handler(request, ctx)) as agen:  # type: ignore[type-var]
                    async for item in agen:
                        yield item
            except GrpcError as e:
                code = e.status.name
                raise
            except (trio.Cancelled, GeneratorExit):
                code = "CANCELLED"
                raise
            except Exception:
                code = "INTERNAL"
                raise
            finally:
                self._count(name, code)

        return call

    # --- node hooks ----------------------------------------------------------------------

    def proposal_executed(self, result: ExecutionResult) -> None:
        """This node simulated a proposal: STATEFUL_VALIDATION_SUCCESS / _FAILED per tx.
        Execution dropped every tx already in the ledger, so none of these has a final
        status on disk: no ledger look-up per tx (most came by gossip, not cached here)."""
        bus = self.status_bus
        for tx in result.txs:
            h = tx.hash
            bus.publish_status(h, S.STATEFUL_VALIDATION_SUCCESS, durable=False)
        for h, err in result.rejected:
            bus.publish(
                h,
                response(h, S.STATEFUL_VALIDATION_FAILED, err.cmd_name, err.cmd_index, err.code),
                durable=False,
            )

    def block_committed(
        self,
        block: block_pb2.Block,
        errors: Mapping[bytes, TxError] | None = None,
        *,
        tx_hashes: Sequence[bytes] | None = None,
    ) -> None:
        """A block is durable: final statuses, block streams, MST clean-up, one round.
        ``tx_hashes``: the block's tx hashes in order, when the caller has them (saves
        re-hashing every tx)."""
        bus = self.status_bus
        payload = block.block_v1.payload
        if tx_hashes is None:
            tx_hashes = [Tx(pb).hash for pb in payload.transactions]
        done: list[bytes] = []
        for h in tx_hashes:
            done.append(h)
            bus.publish_status(h, S.COMMITTED)
        for hex_hash in payload.rejected_transactions_hashes:
            try:
                h = bytes.fromhex(hex_hash)
            except ValueError:
                continue
            done.append(h)
            err = errors.get(h) if errors is not None else None
            if err is None:
                bus.publish_status(h, S.REJECTED)
            else:
                bus.publish(h, response(h, S.REJECTED, err.cmd_name, err.cmd_index, err.code))
        if self.mst.drop_txs(done) and self.metrics is not None:
            self.metrics.mst_pending.set(len(self.mst))
        self.block_bus.publish(block)
        bus.round_passed()

    def round_passed(self) -> None:
        """A round ended without a block (reject round)."""
        self.status_bus.round_passed()

    def expire_mst(self, now_ms: int) -> int:
        """Drop pending batches past ``mst_expiration_ms``; MST_EXPIRED for their txs."""
        gone = self.mst.expire(now_ms, self.ledger.params.mst_expiration_ms)
        for batch in gone:
            for t in batch.txs:
                self.status_bus.publish(t.hash, response(t.hash, S.MST_EXPIRED))
        if gone and self.metrics is not None:
            self.metrics.mst_pending.set(len(self.mst))
        return len(gone)
