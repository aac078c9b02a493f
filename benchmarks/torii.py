"""Torii throughput: unary Torii calls/s and ListTorii txs/s from grpcio clients.

The server (GrpcServer + ToriiService over a real Ledger on LevelDB, with the
single-validator test backend turning batches into blocks) runs in a child process; the
grpcio clients run in threads of this one. Transactions are signed before timing starts.
Figures are what Torii accepts (Empty answered); the time until every transaction reads
COMMITTED is reported too (an upper bound: it includes polling every status), and the
server process's CPU per transaction over both (accepting, checking, executing and
committing it, answering the status polls): what a single call costs beside a listed one.

    .venv/bin/python -m benchmarks.torii [--txs 4000] [--clients 8] [--list-size 100]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import grpc

from benchmarks.consensus import cpu_seconds


def _spec() -> dict[str, Any]:
    from node.state.genesis import bakong_spec
    from tests.api.torii.support import ADMIN, ALICE, OPS, VALIDATOR

    s = bakong_spec(
        peers=[("127.0.0.1:10001", VALIDATOR.public_key)],
        admin_key=ADMIN.public_key,
        banks={"aclb": OPS.public_key, "wing": OPS.public_key},
    )
    s["accounts"] += [
        {"id": "alice@aclb", "public_keys": [ALICE.public_key]},
        {"id": "bob@wing", "public_keys": [ALICE.public_key]},
    ]
    s["balances"] = [{"account": "alice@aclb", "asset": "usd#bakong", "amount": "100000000"}]
    return s


def _serve(db: str, conn: Connection) -> None:
    import trio

    from node.api.grpc import GrpcServer
    from node.api.torii import ToriiService
    from node.state import Ledger
    from node.state.genesis import genesis_from_spec
    from node.storage import LevelDBStore
    from tests.api.torii.backend import SingleValidatorTestBackend
    from tests.api.torii.support import VALIDATOR

    async def serve() -> None:
        store = LevelDBStore(db)
        ledger = Ledger.create(store, genesis_from_spec(_spec()))
        backend = SingleValidatorTestBackend(ledger, VALIDATOR, queue=100_000, max_txs=2000)
        torii = ToriiService(ledger=ledger, store=store, submit_batch=backend.submit_batch)
        backend.torii = torii
        server = GrpcServer(torii.methods())
        async with trio.open_nursery() as n:
            port = await n.start(server.serve, "127.0.0.1", 0)
            n.start_soon(backend.run)
            conn.send(port)
            await trio.to_thread.run_sync(conn.recv)  # any message: stop
            n.cancel_scope.cancel()
        store.close()

    trio.run(serve)


def _txs(n: int) -> list[Any]:
    from tests.api.torii.support import ALICE, transfer, tx

    base = time.time_ns() // 1_000_000
    one_cent = [transfer("alice@aclb", "bob@wing", "0.01")]
    return [tx("alice@aclb", one_cent, [ALICE], created_time=base - i) for i in range(n)]


def _parallel(
    clients: Sequence[Any], shares: Sequence[Sequence[Any]], fn: Callable[..., Any]
) -> float:
    """Seconds for every client thread to call ``fn(client, item)`` on its share."""
    barrier = threading.Barrier(len(clients) + 1)

    def worker(client: Any, items: Sequence[Any]) -> None:
        barrier.wait()
        for item in items:
            fn(client, item)

    threads = [
        threading.Thread(target=worker, args=(c, s)) for c, s in zip(clients, shares, strict=True)
    ]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def _until_committed(
    clients: Sequence[Any], hashes: Sequence[bytes], timeout: float = 120
) -> float:
    from node.proto.iroha import endpoint_pb2

    t0 = time.perf_counter()

    def check(client: Any, h: bytes) -> None:
        while client.get_status(h).tx_status != endpoint_pb2.COMMITTED:
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(f"not committed after {timeout} s")
            time.sleep(0.005)

    n = len(clients)
    _parallel(clients, [hashes[i::n] for i in range(n)], check)
    return time.perf_counter() - t0


def _server_us(pid: int, cpu0: float | None, txs: int) -> str:
    cpu1 = cpu_seconds(pid)
    if cpu0 is None or cpu1 is None:
        return "server CPU unknown"
    return f"server CPU {(cpu1 - cpu0) / txs * 1e6:,.0f} us/tx"


def run_benchmark(txs: int, n_clients: int, list_size: int) -> None:
    from node.proto.iroha import endpoint_pb2
    from tests.api.torii.support import Client

    with tempfile.TemporaryDirectory() as tmp:
        parent, child = mp.Pipe()
        proc = mp.get_context("spawn").Process(
            target=_serve, args=(os.path.join(tmp, "db"), child), daemon=True
        )
        proc.start()
        pid = proc.pid
        assert pid is not None  # started
        port = parent.recv()
        clients = [Client(port) for _ in range(n_clients)]
        try:
            print(f"signing {2 * txs} transactions ...", flush=True)
            unary, listed = _txs(txs), _txs(txs)
            for c in clients:  # warm-up: connections and code paths
                c.send(_txs(1)[0])
            n = n_clients

            def send_one(client: Any, t: Any) -> None:
                client.torii(t.pb, timeout=30)

            cpu0 = cpu_seconds(pid)
            dt = _parallel(clients, [unary[i::n] for i in range(n)], send_one)
            tail = _until_committed(clients, [t.hash for t in unary])
            print(
                f"Torii (unary): {txs} txs, {n} clients: {txs / dt:7.0f} calls/s accepted; "
                f"all COMMITTED within {tail:.2f} s more; {_server_us(pid, cpu0, txs)}"
            )

            lists = [
                endpoint_pb2.TxList(transactions=[t.pb for t in listed[i : i + list_size]])
                for i in range(0, len(listed), list_size)
            ]

            def send_list(client: Any, tl: Any) -> None:
                client.list_torii(tl, timeout=60)

            cpu0 = cpu_seconds(pid)
            dt = _parallel(clients, [lists[i::n] for i in range(n)], send_list)
            tail = _until_committed(clients, [t.hash for t in listed])
            print(
                f"ListTorii: {txs} txs in lists of {list_size}, {n} clients: "
                f"{txs / dt:7.0f} txs/s accepted; all COMMITTED within {tail:.2f} s more; "
                f"{_server_us(pid, cpu0, txs)}"
            )
        except grpc.RpcError as e:
            raise SystemExit(f"RPC failed: {e.code()} {e.details()}") from None
        finally:
            for c in clients:
                c.close()
            parent.send("stop")
            proc.join(10)


def main() -> None:
    ap = argparse.ArgumentParser(description="Torii unary and ListTorii throughput")
    ap.add_argument("--txs", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--list-size", type=int, default=100)
    args = ap.parse_args()
    run_benchmark(args.txs, args.clients, args.list_size)


if __name__ == "__main__":
    main()
