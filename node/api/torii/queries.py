"""QueryService_v1: Find, FetchCommits, Healthcheck (iroha1.md §1, §6).

Find follows Iroha: the query hash is SHA3-256 of the serialized payload; a hash seen
recently (bounded LRU) is a replay and gets ``STATELESS_INVALID`` with an empty message;
a stateless failure gets ``STATELESS_INVALID`` with the reason; everything else is the
ledger's answer. ``query_hash`` (hex) is set on every response and the gRPC status is
always OK.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import trio

from node.api.grpc import GrpcError, ServiceContext, Status
from node.api.torii.block_bus import BlockBus
from node.api.torii.status_bus import TooManySubscribers
from node.model import sha3_256
from node.proto.iroha import qry_responses_pb2, queries_pb2
from node.validation import StatelessValidator

QueryResponse = qry_responses_pb2.QueryResponse
BlockQueryResponse = qry_responses_pb2.BlockQueryResponse
Reason = qry_responses_pb2.ErrorResponse

STATEFUL_INVALID_BLOCKS = "stateful invalid"


class QueryExecutor(Protocol):
    """What Find and FetchCommits need from the ledger (read on a snapshot)."""

    def query(self, query: queries_pb2.Query, /) -> QueryResponse:
        """The typed answer, or an ErrorResponse (stateful problems, permissions).

        Called on a worker thread: it must only read (a storage snapshot, immutable data).
        """
        ...

    def can_fetch_commits(self, query: queries_pb2.BlocksQuery, /) -> bool:
        """Signature key is a signatory of the creator and it holds can_get_blocks."""
        ...


class ReplayCache:
    """Hashes of recently answered queries (bounded, least recently added evicted)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, h: object) -> bool:
        return h in self._seen

    def add(self, h: bytes) -> None:
        self._seen[h] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def discard(self, h: bytes) -> None:
        self._seen.pop(h, None)


class QueryService:
    def __init__(
        self,
        *,
        executor: QueryExecutor,
        validator: Callable[[], StatelessValidator],
        blocks: BlockBus,
        replay_cache_size: int,
        health: Callable[[], qry_responses_pb2.HealthcheckData],
        now_ms: Callable[[], int],
        query_threads: int = 4,
    ) -> None:
        self.executor = executor
        self._validator = validator
        self.blocks = blocks
        self.replays = ReplayCache(replay_cache_size)
        self.health = health
        self.now_ms = now_ms
        # Queries run on worker threads (LevelDB snapshot reads, signature checks) so a
        # large page never stalls the event loop; this bounds how many run at once.
        self._limiter = trio.CapacityLimiter(query_threads)

    def _checked(self, q: queries_pb2.Query, now_ms: int) -> tuple[bool, QueryResponse]:
        """(stateless-valid?, response); runs on a worker thread (signatures, snapshot)."""
        why = self._validator().query_reasons(q, now_ms)
        if why:
            resp = QueryResponse()
            resp.error_response.reason = Reason.STATELESS_INVALID
            resp.error_response.message = why
            return False, resp
        return True, self.executor.query(q)

    async def answer(self, q: queries_pb2.Query) -> QueryResponse:
        h = sha3_256(q.payload.SerializeToString())
        if h in self.replays:
            resp = QueryResponse()
            resp.error_response.reason = Reason.STATELESS_INVALID
        else:
            # Claimed before the work so that a concurrent copy is a replay too; released
            # when the query is stateless-invalid (only answered queries are remembered).
            self.replays.add(h)
            ok, resp = await trio.to_thread.run_sync(
                self._checked, q, self.now_ms(), limiter=self._limiter
            )
            if not ok:
                self.replays.discard(h)
        resp.query_hash = h.hex()
        return resp

    async def find(self, request: queries_pb2.Query, ctx: ServiceContext) -> QueryResponse:
        return await self.answer(request)

    async def fetch_commits(
        self, request: queries_pb2.BlocksQuery, ctx: ServiceContext
    ) -> AsyncIterator[BlockQueryResponse]:
        why = self._validator().blocks_query_reasons(request, self.now_ms())
        if not why and not self.executor.can_fetch_commits(request):
            why = STATEFUL_INVALID_BLOCKS
        if why:
            err = BlockQueryResponse()
            err.block_error_response.message = why
            yield err
            return
        try:
            with self.blocks.subscribe() as sub:
                while True:
                    block = await sub.next()
                    if block is None:
                        raise GrpcError(
                            Status.RESOURCE_EXHAUSTED,
                            "block stream fell behind and was cut off; re-subscribe",
                        )
                    out = BlockQueryResponse()
                    out.block_response.block.CopyFrom(block)
                    yield out
        except TooManySubscribers:
            raise GrpcError(Status.RESOURCE_EXHAUSTED, "too many block streams") from None

    async def healthcheck(
        self, request: object, ctx: ServiceContext
    ) -> qry_responses_pb2.HealthcheckData:
        return self.health()
