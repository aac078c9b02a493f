"""Hostile inputs to Torii (issue #10 item 2; reliability plan row 13).

A real GrpcServer + ToriiService over a real Ledger (the tests/api/torii harness) runs in its
own trio thread; grpcio clients send it

* Hypothesis-built protobufs of every request type (generic over the message descriptors,
  with strings drawn partly from valid identifiers, keys and hashes), some of them signed
  with a real account key so that random commands and queries reach stateful execution;
* seeded byte mutations of valid requests: bit flips, truncation, field duplication,
  length-prefix corruption, splices, whole-message repeats.

Checked after every input: the call is answered within a deadline with an expected gRPC code
(never INTERNAL/UNKNOWN, which is what an unhandled handler exception becomes); no error is
logged; the server's trio run is still alive (a crashed task would end it). At the end: no
stream left running, a valid tx still commits, and Python heap growth in a second phase of
inputs stays flat (every cache is bounded).

Normal suite: about 1,800 inputs; ``@pytest.mark.slow``: 20 times more.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import random
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import trio
from google.protobuf import descriptor, empty_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.config import Limits, OrderingLimits, ToriiLimits
from node.crypto import KeyPair
from node.proto.iroha import endpoint_pb2 as E
from node.proto.iroha import queries_pb2, transaction_pb2
from tests.api.torii.support import (
    ADMIN,
    ALICE,
    BOB,
    CMD,
    QRY,
    TUSER,
    Harness,
    batch,
    blocks_query,
    now_ms,
    query,
    running,
    transfer,
    tx,
)

ANSWER_S = 5.0  # every unary call must be answered within this
STREAM_S = 0.5  # streaming calls: first message, error or (subscribed) deadline
STATUS_CACHE = 50  # the Torii status cache of the fuzzed server (entries)
# gRPC codes a hostile request may get; INTERNAL/UNKNOWN mean an unhandled exception.
EXPECTED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
FD = descriptor.FieldDescriptor

# --- the server in its own trio thread ------------------------------------------------------


class ServerThread:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: BaseException | None = None
        self.h: Harness | None = None
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self.thread = threading.Thread(target=self._main, name="torii-fuzz", daemon=True)

    def start(self) -> Harness:
        self.thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"server did not start: {self.error!r}")
        assert self.h is not None, self.error
        return self.h

    def _main(self) -> None:
        try:
            trio.run(self._amain)
        except BaseException as e:  # reported by alive(); the test thread must see it
            self.error = e
        finally:
            self._ready.set()

    async def _amain(self) -> None:
        limits = Limits(
            torii=ToriiLimits(query_replay_cache=20),
            ordering=OrderingLimits(max_mst_pending_batches=50),
        )
        limits = dataclasses.replace(
            limits,
            torii=dataclasses.replace(
                limits.torii, status_cache_size=STATUS_CACHE, stale_stream_timeout_s=1.0
            ),
        )
        async with running(self.path, limits=limits) as h:
            self._stop = trio.Event()
            self._token = trio.lowlevel.current_trio_token()
            self.h = h
            self._ready.set()
            await self._stop.wait()

    def alive(self) -> bool:
        return self.error is None and self.thread.is_alive()

    def stop(self) -> None:
        if self._token is not None and self._stop is not None and self.thread.is_alive():
            self._token.run_sync_soon(self._stop.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    s = ServerThread(tmp_path_factory.mktemp("torii-fuzz"))
    s.start()
    try:
        yield s
    finally:
        s.stop()
    assert s.error is None, s.error


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    caplog.set_level(logging.WARNING)

    def found() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]

    yield found


# --- sending -------------------------------------------------------------------------------

UNARY = {"Torii", "ListTorii", "Status", "Find", "Healthcheck"}
PATHS = {
    "Torii": CMD + "Torii",
    "ListTorii": CMD + "ListTorii",
    "Status": CMD + "Status",
    "StatusStream": CMD + "StatusStream",
    "Find": QRY + "Find",
    "FetchCommits": QRY + "FetchCommits",
    "Healthcheck": QRY + "Healthcheck",
}


class Sender:
    def __init__(self, h: Harness) -> None:
        ch = h.client.channel
        self.unary = {m: ch.unary_unary(PATHS[m]) for m in UNARY}
        self.stream = {m: ch.unary_stream(PATHS[m]) for m in ("StatusStream", "FetchCommits")}
        self.codes: dict[str, int] = {}

    def send(self, method: str, body: bytes) -> None:
        """One call; fails the test on a hang or an unexpected gRPC status."""
        code = grpc.StatusCode.OK
        if method in self.unary:
            try:
                self.unary[method](body, timeout=ANSWER_S)
            except grpc.RpcError as e:
                code = e.code()
                assert code in EXPECTED, (method, code, e.details(), body.hex())
        else:
            call = self.stream[method](body, timeout=STREAM_S)
            try:
                next(iter(call), None)
            except grpc.RpcError as e:
                code = e.code()
                # a valid FetchCommits (or a live StatusStream) waits for news: not a hang
                ok = EXPECTED | {grpc.StatusCode.DEADLINE_EXCEEDED}
                assert code in ok, (method, code, e.details(), body.hex())
            finally:
                call.cancel()
        key = f"{method}:{code.name}"
        self.codes[key] = self.codes.get(key, 0) + 1


# --- valid seeds -----------------------------------------------------------------------------


def seeds() -> list[tuple[str, bytes]]:
    t = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "0.01")], [ALICE])
    part = ("alice@aclb", [transfer("alice@aclb", "bob@wing", "0.01")], [ALICE])
    lst = E.TxList(transactions=[x.pb for x in batch(0, [part, part])] + [t.pb])
    qs = [
        query("alice@aclb", ALICE, get_account=queries_pb2.GetAccount(account_id="alice@aclb")),
        query(
            "admin@bakong",
            ADMIN,
            get_account_transactions=queries_pb2.GetAccountTransactions(
                account_id="alice@aclb",
                pagination_meta=queries_pb2.TxPaginationMeta(page_size=5, first_tx_hash="ab" * 32),
            ),
        ),
        query(
            "admin@bakong",
            ADMIN,
            get_account_detail=queries_pb2.GetAccountDetail(
                account_id="admin@bakong",
                pagination_meta=queries_pb2.AccountDetailPaginationMeta(page_size=2),
            ),
        ),
        query("admin@bakong", ADMIN, get_block=queries_pb2.GetBlock(height=1)),
    ]
    return [
        ("Torii", t.serialize()),
        ("ListTorii", lst.SerializeToString()),
        ("Status", E.TxStatusRequest(tx_hash=t.hash_hex).SerializeToString()),
        ("StatusStream", E.TxStatusRequest(tx_hash=t.hash_hex).SerializeToString()),
        *[("Find", q.SerializeToString()) for q in qs],
        ("FetchCommits", blocks_query("admin@bakong", ADMIN).SerializeToString()),
        ("Healthcheck", empty_pb2.Empty().SerializeToString()),
    ]


# --- byte mutations --------------------------------------------------------------------------


def _varint(data: bytes, i: int) -> tuple[int, int] | None:
    value, shift = 0, 0
    while i < len(data) and shift < 70:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7
    return None


def fields(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list[Any]:
    """Wire-format walk: (field start, length-prefix start, body start, field end) of every
    length-delimited field, nested ones included (where the body parses as fields)."""
    end = len(data) if end is None else end
    out: list[Any] = []
    i = start
    while i < end:
        tag = _varint(data, i)
        if tag is None:
            return out
        key, j = tag
        wire = key & 7
        if wire == 0:
            v = _varint(data, j)
            if v is None:
                return out
            i = v[1]
        elif wire == 1:
            i = j + 8
        elif wire == 5:
            i = j + 4
        elif wire == 2:
            n = _varint(data, j)
            if n is None or n[1] + n[0] > end:
                return out
            body, stop = n[1], n[1] + n[0]
            out.append((i, j, body, stop))
            if depth < 6:
                out.extend(fields(data, body, stop, depth + 1))
            i = stop
        else:
            return out
    return out


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    spans = fields(data)
    kind = rng.randrange(8)
    if kind == 0 and buf:  # bit flips
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del buf[rng.randrange(len(buf) + 1) :]
    elif kind == 2 and spans:  # field duplication, right behind the original
        a, _, _, b = rng.choice(spans)
        buf[b:b] = data[a:b]
    elif kind == 3 and spans:  # length-prefix corruption
        _, lp, body, stop = rng.choice(spans)
        n = stop - body
        new = rng.choice(
            [
                0,
                max(0, n - 1),
                n + 1,
                n + rng.randint(2, 1000),
                (1 << 32) - 1,
                (1 << 63) + 5,
                rng.randrange(1 << 28),
            ]
        )
        buf[lp:body] = _encode_varint(new)
    elif kind == 4 and buf:  # splice random bytes in
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = rng.randbytes(rng.randint(1, 32))
    elif kind == 5 and spans:  # replace a field's body with garbage of the same length
        _, _, body, stop = rng.choice(spans)
        buf[body:stop] = rng.randbytes(stop - body)
    elif kind == 6:  # the whole message repeated (merge semantics: repeated fields doubled)
        buf = buf * rng.randint(2, 5)
    elif kind == 7 and buf:  # varint bombs: runs of continuation bytes
        at = rng.randrange(len(buf))
        buf[at:at] = b"\xff" * rng.randint(1, 12)
    if rng.random() < 0.3:  # stack a second mutation
        return mutate(bytes(buf), rng)
    return bytes(buf)


def unsigned_tx(seed: int, i: int) -> bytes:
    """A distinct, parseable, unsigned tx: one more status to remember."""
    t = transaction_pb2.Transaction()
    t.payload.reduced_payload.created_time = seed << 32 | i
    return t.SerializeToString()


def run_mutations(sender: Sender, server: ServerThread, n: int, seed: int) -> None:
    rng = random.Random(seed)
    base = seeds()
    for i in range(n):
        method, body = base[i % len(base)]
        sender.send(method, mutate(body, rng))
        if i % 4 == 0:
            sender.send("Torii", unsigned_tx(seed, i))
        if i % 100 == 0:
            assert server.alive(), server.error
    # The status cache's entries differ in size (a code alone for most statuses, the
    # whole message, with a reason of any length, for some): its last STATUS_CACHE
    # entries are made alike before every heap reading, so readings compare like with like.
    for i in range(STATUS_CACHE):
        sender.send("Torii", unsigned_tx(seed, n + i))


def heap(h: Harness) -> int:
    """Python heap held by the node's own code once every stream has ended (a stream whose
    client gave up lives on until its deadline or the stale-stream timeout, and holds its
    frames meanwhile). h2 keeps a bounded per-connection table of up to 2**16 closed stream
    ids, which one long-lived fuzz connection keeps filling; it is not node code."""
    wait_streams_closed(h)
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, "*/node/*")])
    return sum(stat.size for stat in snap.statistics("filename"))


def still_commits(h: Harness) -> None:
    t = tx("bob@wing", [transfer("bob@wing", "ops@aclb", "0.01")], [BOB])
    h.client.send(t)
    assert h.client.wait_final(t.hash).tx_status == E.COMMITTED


def wait_streams_closed(h: Harness) -> None:
    end = time.monotonic() + 10
    while h.server.live_streams or h.torii.status_bus.subscribers:
        assert time.monotonic() < end, "streams left running after the fuzz"
        time.sleep(0.05)


def mutation_run(server: ServerThread, errors: Callable[[], list[str]], n: int) -> None:
    h = server.h
    assert h is not None
    sender = Sender(h)
    tracemalloc.start()
    try:
        run_mutations(sender, server, n // 4, seed=1)  # warm-up: caches fill to their bounds
        m1 = heap(h)
        run_mutations(sender, server, n // 4, seed=2)
        m2 = heap(h)
        run_mutations(sender, server, n // 2, seed=3)
        m3 = heap(h)
    finally:
        tracemalloc.stop()
    assert server.alive(), server.error
    assert errors() == []
    # Mostly answered by the handlers, not only by the decoder (the fuzz reaches Torii).
    assert sender.codes.get("Torii:OK", 0) > n // 100, sender.codes
    assert sender.codes.get("Find:OK", 0) > n // 100, sender.codes
    # Flat heap: once the bounded caches are full, more inputs hold no more memory.
    print(f"heap held by node code: {m1} -> {m2} -> {m3} bytes; calls: {sender.codes}")
    assert m3 - m2 < 8 * 1024, (m1, m2, m3)
    wait_streams_closed(h)
    still_commits(h)


def test_byte_mutations(server: ServerThread, errors: Callable[[], list[str]]) -> None:
    mutation_run(server, errors, 1000)


@pytest.mark.slow
def test_byte_mutations_long(server: ServerThread, errors: Callable[[], list[str]]) -> None:
    mutation_run(server, errors, 20_000)


def test_mutator_produces_every_kind() -> None:
    # The walker finds nested length-delimited fields, so corruption reaches deep bytes.
    body = seeds()[0][1]
    spans = fields(body)
    assert len(spans) > 6 and max(s[2] for s in spans) > len(body) // 2
    rng = random.Random(0)
    outs = {mutate(body, rng) for _ in range(200)}
    assert len(outs) > 150 and body not in outs


# --- Hypothesis-built protobufs ---------------------------------------------------------------

IDS = [
    "alice@aclb",
    "bob@wing",
    "admin@bakong",
    "test@test",
    "nobody@nowhere",
    "usd#bakong",
    "khr#bakong",
    "coin#test",
    "customer",
    "root",
    "aclb",
    "1.00",
    "0.01",
    "100000000000000000000000000000",
    "0",
    "-1",
    "1e5",
    "127.0.0.1:10001",
    ALICE.public_key,
    BOB.public_key,
    ALICE.public_key.upper(),
    "ab" * 32,
    "MaxDescriptionSize",
    "",
    "\x00",
    "é" * 3,
]


def _scalar(f: Any) -> st.SearchStrategy[Any]:
    t = f.type
    if t == FD.TYPE_STRING:
        return st.one_of(st.sampled_from(IDS), st.text(max_size=40))
    if t == FD.TYPE_BYTES:
        return st.binary(max_size=80)
    if t == FD.TYPE_BOOL:
        return st.booleans()
    if t == FD.TYPE_ENUM:
        # proto3 enums are open: unknown numbers parse and must be refused politely
        known = [v.number for v in f.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(0, 1000))
    if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return st.one_of(st.integers(0, 10), st.just(now_ms()), st.integers(0, (1 << 64) - 1))
    if t in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return st.one_of(st.integers(0, 10), st.integers(0, (1 << 32) - 1))
    if t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return st.integers(-(1 << 63), (1 << 63) - 1)
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return st.integers(-(1 << 31), (1 << 31) - 1)
    if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return st.floats(allow_nan=False, width=32)
    raise AssertionError(f"unhandled field type {t}")


def messages(cls: type[Message], depth: int = 0) -> st.SearchStrategy[Message]:
    """Random instances of ``cls``: each field set or not, one member per oneof at most."""
    desc = cls.DESCRIPTOR

    def value(f: Any) -> st.SearchStrategy[Any]:  # a FieldDescriptor (upb or Python)
        if f.type == FD.TYPE_MESSAGE:
            sub: Any = f.message_type._concrete_class
            if depth >= 4:
                return st.builds(sub)
            return st.deferred(lambda: messages(sub, depth + 1))
        return _scalar(f)

    plain = [f for f in desc.fields if f.containing_oneof is None]
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    for f in plain:
        v = value(f)
        strategies[f.name] = st.lists(v, max_size=3 if depth else 4) if f.is_repeated else v

    def member(name: str) -> st.SearchStrategy[tuple[str, Any]]:
        return value(desc.fields_by_name[name]).map(lambda v: (name, v))

    groups = [
        st.one_of(st.none(), st.sampled_from([f.name for f in o.fields]).flatmap(member))
        for o in desc.oneofs
    ]

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        msg = cls()
        for name, strategy in strategies.items():
            if draw(st.booleans()):
                v = draw(strategy)
                f = desc.fields_by_name[name]
                if f.is_repeated:
                    field = getattr(msg, name)
                    for item in v:
                        field.add().CopyFrom(item) if f.type == FD.TYPE_MESSAGE else field.append(
                            item
                        )
                elif f.type == FD.TYPE_MESSAGE:
                    getattr(msg, name).CopyFrom(v)
                else:
                    setattr(msg, name, v)
        for g in groups:
            picked = draw(g)
            if picked is not None:
                name, v = picked
                f = desc.fields_by_name[name]
                if f.type == FD.TYPE_MESSAGE:
                    getattr(msg, name).CopyFrom(v)
                else:
                    setattr(msg, name, v)
        return msg

    return build()


SIGNERS: list[tuple[str, KeyPair]] = [("alice@aclb", ALICE), ("test@test", TUSER)]


@st.composite
def signed_txs(draw: st.DrawFn) -> transaction_pb2.Transaction:
    """Random commands in an otherwise well-formed tx, validly signed: stateful execution."""
    pb = transaction_pb2.Transaction()
    pb.MergeFromString(draw(messages(transaction_pb2.Transaction)).SerializeToString())
    creator, kp = draw(st.sampled_from(SIGNERS))
    rp = pb.payload.reduced_payload
    rp.creator_account_id = creator
    rp.created_time = now_ms() - draw(st.integers(0, 10_000))
    rp.quorum = draw(st.sampled_from([1, 1, 1, 2]))
    if draw(st.booleans()):
        pb.payload.ClearField("batch")
    del pb.signatures[:]
    pb.signatures.add(
        public_key=kp.public_key, signature=kp.sign(pb.payload.SerializeToString()).hex()
    )
    return pb


@st.composite
def signed_queries(draw: st.DrawFn) -> queries_pb2.Query:
    q = queries_pb2.Query()
    q.MergeFromString(draw(messages(queries_pb2.Query)).SerializeToString())
    creator, kp = draw(st.sampled_from([*SIGNERS, ("admin@bakong", ADMIN)]))
    meta = q.payload.meta
    meta.creator_account_id = creator
    meta.created_time = now_ms()
    meta.query_counter = draw(st.integers(1, 1 << 40))
    q.signature.public_key = kp.public_key
    q.signature.signature = kp.sign(q.payload.SerializeToString()).hex()
    return q


REQUESTS: st.SearchStrategy[tuple[str, Message]] = st.one_of(
    messages(transaction_pb2.Transaction).map(lambda m: ("Torii", m)),
    signed_txs().map(lambda m: ("Torii", m)),
    st.lists(signed_txs(), max_size=4).map(lambda ms: ("ListTorii", E.TxList(transactions=ms))),
    messages(E.TxList).map(lambda m: ("ListTorii", m)),
    messages(E.TxStatusRequest).map(lambda m: ("Status", m)),
    messages(E.TxStatusRequest).map(lambda m: ("StatusStream", m)),
    messages(queries_pb2.Query).map(lambda m: ("Find", m)),
    signed_queries().map(lambda m: ("Find", m)),
    messages(queries_pb2.BlocksQuery).map(lambda m: ("FetchCommits", m)),
)


def hypothesis_run(server: ServerThread, errors: Callable[[], list[str]], n: int) -> None:
    h = server.h
    assert h is not None
    sender = Sender(h)

    @settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(REQUESTS)
    def one(request: tuple[str, Message]) -> None:
        method, msg = request
        sender.send(method, msg.SerializeToString())
        assert server.alive(), server.error

    one()
    print(f"calls: {sender.codes}")
    assert errors() == []
    assert sender.codes.get("Find:OK", 0) > n // 20, sender.codes
    wait_streams_closed(h)
    still_commits(h)


def test_hypothesis_requests(server: ServerThread, errors: Callable[[], list[str]]) -> None:
    hypothesis_run(server, errors, 600)


@pytest.mark.slow
def test_hypothesis_requests_long(server: ServerThread, errors: Callable[[], list[str]]) -> None:
    hypothesis_run(server, errors, 16_000)
