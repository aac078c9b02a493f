"""Async client for Iroha 1's Torii API (CommandService_v1 and QueryService_v1).

Used by the CLI, the devnet and the benchmarks; talks to any Iroha 1.x peer or to
bakong-node over one multiplexed HTTP/2 connection (node.client.channel).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager

import trio
from google.protobuf import empty_pb2

from node.client.channel import DEFAULT_MAX_MESSAGE_SIZE, Channel, client_ssl_context
from node.model import Tx
from node.model.tx import len_field
from node.proto.iroha import endpoint_pb2, qry_responses_pb2, queries_pb2, transaction_pb2

ToriiResponse = endpoint_pb2.ToriiResponse
TxStatus = endpoint_pb2.TxStatus

COMMAND_SERVICE = "/iroha.protocol.CommandService_v1/"
QUERY_SERVICE = "/iroha.protocol.QueryService_v1/"

#: Statuses after which a transaction's fate is settled. MST_EXPIRED is not final for
#: Iroha's StatusStream, but nothing more will happen to the tx, so waiting ends there too.
FINAL_STATUSES: frozenset[int] = frozenset(
    {
        endpoint_pb2.COMMITTED,
        endpoint_pb2.REJECTED,
        endpoint_pb2.STATELESS_VALIDATION_FAILED,
        endpoint_pb2.MST_EXPIRED,
    }
)

#: Per-call default for unary calls (seconds); streams have no default deadline.
DEFAULT_TIMEOUT = 30.0
# A StatusStream may end without a final status (stale rounds): reopen after this pause,
# doubling up to the cap.
_RETRY_FIRST = 0.05
_RETRY_CAP = 1.0


class WaitTimeout(TimeoutError):
    """:meth:`ToriiClient.wait_final` gave up; ``last`` is the last status seen, if any."""

    def __init__(self, tx_hash: str, timeout: float, last: endpoint_pb2.ToriiResponse | None):
        self.tx_hash = tx_hash
        self.last = last
        seen = endpoint_pb2.TxStatus.Name(last.tx_status) if last is not None else "nothing"
        super().__init__(f"tx {tx_hash} not final after {timeout} s (last status: {seen})")


TxLike = Tx | transaction_pb2.Transaction


def _as_tx(tx: TxLike) -> Tx:
    return tx if isinstance(tx, Tx) else Tx(tx)


def _hex(tx_hash: bytes | str) -> str:
    return tx_hash.hex() if isinstance(tx_hash, bytes) else tx_hash.lower()


def encode_tx_list(txs: Sequence[Tx]) -> bytes:
    """Serialized ``TxList``: field 1 repeated, each tx's bytes as they are (no re-copy)."""
    parts = []
    for t in txs:
        data = t.serialize()
        parts.append(len_field(1, data))
    return b"".join(parts)


class ToriiClient:
    """Torii over one channel. Open with :meth:`connect`; safe to share between tasks."""

    def __init__(self, channel: Channel, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self.channel = channel
        self.timeout = timeout

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        target: str,
        tls: ssl.SSLContext | bool | None = None,
        *,
        server_hostname: str | None = None,
        connect_timeout: float = 10.0,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> AsyncIterator[ToriiClient]:
        """``tls``: None/False = plain HTTP/2; True = TLS with the system CAs; or a context.

        Raises node.client.channel.GrpcConnectionError (a ConnectionError) naming host:port.
        """
        ctx = client_ssl_context() if tls is True else (tls or None)
        async with Channel.connect(
            target,
            ssl_context=ctx,
            server_hostname=server_hostname,
            connect_timeout=connect_timeout,
            max_message_size=max_message_size,
        ) as channel:
            yield cls(channel, timeout=timeout)

    # ------------------------------------------------------------ commands

    async def send_tx(self, tx: TxLike) -> bytes:
        """Torii: submit one transaction; returns its hash. Outcomes arrive as statuses."""
        t = _as_tx(tx)
        await self.channel.unary_raw(COMMAND_SERVICE + "Torii", t.serialize(), timeout=self.timeout)
        return t.hash

    async def send_txs(self, txs: Sequence[TxLike]) -> list[bytes]:
        """ListTorii: submit a list (batches travel this way); returns the tx hashes."""
        ts = [_as_tx(t) for t in txs]
        await self.channel.unary_raw(
            COMMAND_SERVICE + "ListTorii", encode_tx_list(ts), timeout=self.timeout
        )
        return [t.hash for t in ts]

    async def status(self, tx_hash: bytes | str) -> endpoint_pb2.ToriiResponse:
        return await self.channel.unary_unary(
            COMMAND_SERVICE + "Status",
            endpoint_pb2.TxStatusRequest(tx_hash=_hex(tx_hash)),
            endpoint_pb2.ToriiResponse,
            timeout=self.timeout,
        )

    def status_stream(
        self, tx_hash: bytes | str, timeout: float | None = None
    ) -> AsyncGenerator[endpoint_pb2.ToriiResponse, None]:
        """StatusStream: the current status, then each change, until the server closes."""
        return self.channel.unary_stream(
            COMMAND_SERVICE + "StatusStream",
            endpoint_pb2.TxStatusRequest(tx_hash=_hex(tx_hash)),
            endpoint_pb2.ToriiResponse,
            timeout=timeout,
        )

    async def wait_final(self, tx_hash: bytes | str, timeout: float) -> endpoint_pb2.ToriiResponse:
        """Follow the status until it is final (see FINAL_STATUSES); raises WaitTimeout.

        Reopens the stream when the server closes it early (Iroha closes after a few
        rounds without a change).
        """
        hex_hash = _hex(tx_hash)
        last: endpoint_pb2.ToriiResponse | None = None
        pause = _RETRY_FIRST
        with trio.move_on_after(timeout):
            while True:
                async with aclosing(self.status_stream(hex_hash)) as stream:
                    async for r in stream:
                        last = r
                        if r.tx_status in FINAL_STATUSES:
                            return r
                await trio.sleep(pause)
                pause = min(pause * 2, _RETRY_CAP)
        raise WaitTimeout(hex_hash, timeout, last)

    # ------------------------------------------------------------- queries

    async def query(self, query: queries_pb2.Query) -> qry_responses_pb2.QueryResponse:
        """Find. Iroha reports query errors inside the response (``error_response``)."""
        return await self.channel.unary_unary(
            QUERY_SERVICE + "Find", query, qry_responses_pb2.QueryResponse, timeout=self.timeout
        )

    def fetch_commits(
        self, blocks_query: queries_pb2.BlocksQuery, timeout: float | None = None
    ) -> AsyncGenerator[qry_responses_pb2.BlockQueryResponse, None]:
        """FetchCommits: blocks committed after the call starts, until cancelled."""
        return self.channel.unary_stream(
            QUERY_SERVICE + "FetchCommits",
            blocks_query,
            qry_responses_pb2.BlockQueryResponse,
            timeout=timeout,
        )

    async def healthcheck(self) -> qry_responses_pb2.HealthcheckData:
        return await self.channel.unary_unary(
            QUERY_SERVICE + "Healthcheck",
            empty_pb2.Empty(),
            qry_responses_pb2.HealthcheckData,
            timeout=self.timeout,
        )
