"""Torii test harness: real LevelDB, real Ledger, real GrpcServer, grpcio clients in threads."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import trio
from google.protobuf import empty_pb2

from node.api.grpc import GrpcServer
from node.api.torii import ToriiService
from node.config import Limits, ToriiLimits
from node.crypto import KeyPair, KeyScheme
from node.metrics import NodeMetrics
from node.model import Tx
from node.proto.iroha import (
    block_pb2,
    commands_pb2,
    endpoint_pb2,
    qry_responses_pb2,
    queries_pb2,
    transaction_pb2,
)
from node.state import Ledger
from node.state.genesis import bakong_spec, genesis_from_spec
from node.storage import LevelDBStore
from tests.api.torii.backend import SingleValidatorTestBackend


def key(n: int, scheme: KeyScheme = KeyScheme.ED25519) -> KeyPair:
    return KeyPair.generate(scheme, rng=random.Random(1000 + n))


VALIDATOR = key(0)
ADMIN = key(1)  # admin@bakong: root
OPS = key(2)  # ops@aclb etc.: bank_operator, money_creator
ALICE = key(3)  # alice@aclb (ed0120)
BOB = key(4, KeyScheme.ED25519_SHA3)  # bob@wing (Iroha legacy key)
TADMIN = key(5, KeyScheme.ED25519_SHA3)  # admin@test (Iroha example admin)
TUSER = key(6)  # test@test


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def genesis() -> block_pb2.Block:
    s = bakong_spec(
        peers=[("127.0.0.1:10001", VALIDATOR.public_key)],
        admin_key=ADMIN.public_key,
        banks={"aclb": OPS.public_key, "wing": OPS.public_key},
        iroha_example_keys=(TADMIN.public_key, TUSER.public_key),
    )
    s["accounts"] += [
        {"id": "alice@aclb", "public_keys": [ALICE.public_key]},
        {"id": "bob@wing", "public_keys": [BOB.public_key]},
    ]
    s["balances"] = [
        {"account": "alice@aclb", "asset": "usd#bakong", "amount": "100.50"},
        {"account": "bob@wing", "asset": "usd#bakong", "amount": "5"},
    ]
    return genesis_from_spec(s)


# --- builders ------------------------------------------------------------------------


def cmd(**kw: Any) -> commands_pb2.Command:
    return commands_pb2.Command(**kw)


def transfer(src: str, dst: str, amount: str, asset: str = "usd#bakong") -> commands_pb2.Command:
    return cmd(
        transfer_asset=commands_pb2.TransferAsset(
            src_account_id=src, dest_account_id=dst, asset_id=asset, amount=amount
        )
    )


_last_ms = 0


def _unique_ms() -> int:
    global _last_ms
    _last_ms = max(_last_ms + 1, now_ms() - 60_000)
    return _last_ms


def tx(
    creator: str,
    commands: Sequence[commands_pb2.Command],
    signers: Sequence[KeyPair],
    *,
    created_time: int | None = None,
    quorum: int = 1,
    batch: tuple[int, list[bytes]] | None = None,
) -> Tx:
    pb = transaction_pb2.Transaction()
    rp = pb.payload.reduced_payload
    rp.commands.extend(commands)
    rp.creator_account_id = creator
    # unique per call so equal commands never collide as replays: a strictly increasing
    # counter below the clock (a clock reading plus a wrapping counter could repeat)
    rp.created_time = created_time if created_time is not None else _unique_ms()
    rp.quorum = quorum
    if batch is not None:
        pb.payload.batch.type = batch[0]  # type: ignore[assignment]
        pb.payload.batch.reduced_hashes.extend(h.hex() for h in batch[1])
    return sign(Tx(pb), signers)


def sign(t: Tx, signers: Sequence[KeyPair]) -> Tx:
    pb = transaction_pb2.Transaction()
    pb.CopyFrom(t.pb)
    payload = pb.payload.SerializeToString()
    for kp in signers:
        pb.signatures.add(public_key=kp.public_key, signature=kp.sign(payload).hex())
    return Tx(pb)


def batch(
    kind: int,
    parts: Sequence[tuple[str, Sequence[commands_pb2.Command], Sequence[KeyPair]]],
    quorum: int = 1,
) -> list[Tx]:
    unsigned = [
        tx(c, cmds, [], created_time=_unique_ms(), quorum=quorum)
        for i, (c, cmds, _) in enumerate(parts)
    ]
    hashes = [t.reduced_hash for t in unsigned]
    return [
        tx(c, cmds, signers, created_time=u.created_time, batch=(kind, hashes), quorum=quorum)
        for u, (c, cmds, signers) in zip(unsigned, parts, strict=True)
    ]


_qcounter = iter(range(1, 1 << 62))


def query(creator: str, signer: KeyPair, **body: Any) -> queries_pb2.Query:
    q = queries_pb2.Query()
    q.payload.meta.creator_account_id = creator
    q.payload.meta.created_time = now_ms()
    q.payload.meta.query_counter = next(_qcounter)
    for name, value in body.items():
        getattr(q.payload, name).CopyFrom(value)
    blob = q.payload.SerializeToString()
    q.signature.public_key = signer.public_key
    q.signature.signature = signer.sign(blob).hex()
    return q


def blocks_query(creator: str, signer: KeyPair) -> queries_pb2.BlocksQuery:
    q = queries_pb2.BlocksQuery()
    q.meta.creator_account_id = creator
    q.meta.created_time = now_ms()
    q.meta.query_counter = next(_qcounter)
    q.signature.public_key = signer.public_key
    q.signature.signature = signer.sign(q.meta.SerializeToString()).hex()
    return q


# --- grpcio client ---------------------------------------------------------------------

CMD = "/iroha.protocol.CommandService_v1/"
QRY = "/iroha.protocol.QueryService_v1/"


class Client:
    """Blocking grpcio stubs; call them through ``run`` (a worker thread)."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
        )
        ch = self.channel

        def uu(path: str, req: Any, resp: Any) -> Any:
            return ch.unary_unary(
                path,
                request_serializer=req.SerializeToString,
                response_deserializer=resp.FromString,
            )

        def us(path: str, req: Any, resp: Any) -> Any:
            return ch.unary_stream(
                path,
                request_serializer=req.SerializeToString,
                response_deserializer=resp.FromString,
            )

        E = endpoint_pb2
        self.torii = uu(CMD + "Torii", transaction_pb2.Transaction, empty_pb2.Empty)
        self.list_torii = uu(CMD + "ListTorii", E.TxList, empty_pb2.Empty)
        self.status = uu(CMD + "Status", E.TxStatusRequest, E.ToriiResponse)
        self.status_stream = us(CMD + "StatusStream", E.TxStatusRequest, E.ToriiResponse)
        self.find = uu(QRY + "Find", queries_pb2.Query, qry_responses_pb2.QueryResponse)
        self.fetch_commits = us(
            QRY + "FetchCommits", queries_pb2.BlocksQuery, qry_responses_pb2.BlockQueryResponse
        )
        self.healthcheck = uu(
            QRY + "Healthcheck", empty_pb2.Empty, qry_responses_pb2.HealthcheckData
        )

    def close(self) -> None:
        self.channel.close()

    # blocking helpers (run in a thread)
    def send(self, t: Tx) -> None:
        self.torii(t.pb, timeout=10)

    def send_list(self, txs: Sequence[Tx]) -> None:
        self.list_torii(endpoint_pb2.TxList(transactions=[t.pb for t in txs]), timeout=10)

    def stream_statuses(self, h: bytes | str, timeout: float = 20) -> list[int]:
        hx = h if isinstance(h, str) else h.hex()
        req = endpoint_pb2.TxStatusRequest(tx_hash=hx)
        return [r.tx_status for r in self.status_stream(req, timeout=timeout)]

    def stream_responses(self, h: bytes, timeout: float = 20) -> list[endpoint_pb2.ToriiResponse]:
        req = endpoint_pb2.TxStatusRequest(tx_hash=h.hex())
        return list(self.status_stream(req, timeout=timeout))

    def get_status(self, h: bytes) -> endpoint_pb2.ToriiResponse:
        r: endpoint_pb2.ToriiResponse = self.status(
            endpoint_pb2.TxStatusRequest(tx_hash=h.hex()), timeout=10
        )
        return r

    def wait_final(self, h: bytes, timeout: float = 20) -> endpoint_pb2.ToriiResponse:
        """Status polled until COMMITTED / REJECTED / STATELESS_VALIDATION_FAILED."""
        end = time.monotonic() + timeout
        while True:
            r = self.get_status(h)
            if r.tx_status in (
                endpoint_pb2.COMMITTED,
                endpoint_pb2.REJECTED,
                endpoint_pb2.STATELESS_VALIDATION_FAILED,
            ):
                return r
            if time.monotonic() > end:
                raise AssertionError(f"no final status for {h.hex()}: {r}")
            time.sleep(0.01)


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    return await trio.to_thread.run_sync(lambda: fn(*args))


# --- the harness -----------------------------------------------------------------------


class Harness:
    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = path
        self.limits = limits
        self.metrics = NodeMetrics()
        self.store: LevelDBStore | None = None

    async def start(self, nursery: trio.Nursery, queue: int, block_delay: float) -> None:
        db = self.path / "db"
        fresh = not db.exists()
        self.store = LevelDBStore(str(db))
        self.ledger = Ledger.create(self.store, genesis()) if fresh else Ledger.open(self.store)
        self.backend = SingleValidatorTestBackend(
            self.ledger, VALIDATOR, queue=queue, block_delay=block_delay
        )
        self.torii = ToriiService(
            ledger=self.ledger,
            store=self.store,
            submit_batch=self.backend.submit_batch,
            limits=self.limits,
            metrics=self.metrics,
        )
        self.backend.torii = self.torii
        self.server = GrpcServer(
            self.torii.methods(), max_message_bytes=self.limits.validation.max_grpc_message_bytes
        )
        self.port: int = await nursery.start(self.server.serve, "127.0.0.1", 0)
        await nursery.start(self.backend.run)
        self.client = Client(self.port)


def limits_for_tests(**torii: Any) -> Limits:
    """Default limits with Torii's stale-stream timeout shortened for tests."""
    return dataclasses.replace(
        Limits(), torii=ToriiLimits(**{"stale_stream_timeout_s": 5.0, **torii})
    )


@asynccontextmanager
async def running(
    path: Path,
    limits: Limits | None = None,
    queue: int = 10_000,
    block_delay: float = 0.0,
) -> AsyncIterator[Harness]:
    h = Harness(path, limits or limits_for_tests())
    try:
        async with trio.open_nursery() as nursery:
            await h.start(nursery, queue, block_delay)
            try:
                yield h
            finally:
                h.client.close()
                nursery.cancel_scope.cancel()
    finally:
        if h.store is not None:
            h.store.close()
