"""Unary calls/s of node.client's trio/h2 channel vs grpcio clients, against one server.

Run: .venv/bin/python benchmarks/client_rpc.py [--server grpcio|trio] [--concurrency C]
                                               [--seconds S] [--repeats R]

The server runs in a child process (grpcio's thread-pool server, or node.api.grpc's
GrpcServer with ``--server trio``) answering Iroha's Status RPC shape
(TxStatusRequest -> ToriiResponse). In this process, one client at a time keeps C calls in
flight over ONE connection for S seconds (after a 0.5 s warm-up):

* ``bakong``      node.client.channel.Channel, C trio tasks
* ``grpcio-aio``  grpc.aio channel, C asyncio tasks
* ``grpcio-sync`` grpc channel, C threads of blocking calls

Clients alternate order between repeats; the median of R runs is printed with min-max.
Client CPU per call (process time, incl. grpcio's C threads) is printed too: it is what
the client itself costs, less sensitive to the server and the machine's load than calls/s.
The machine has 2 cores shared by server and client (and other work), so compare the
columns of one run, not figures across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc
import trio

from node.client.channel import Channel
from node.proto.iroha.endpoint_pb2 import COMMITTED, ToriiResponse, TxStatusRequest

PATH = "/iroha.protocol.CommandService_v1/Status"
TX_HASH = "ab" * 32
WARMUP = 0.5


# ----------------------------------------------------------------------------- servers


def _grpcio_server(port_out: mp.Queue) -> None:  # type: ignore[type-arg]
    def status(req: TxStatusRequest, ctx: grpc.ServicerContext) -> ToriiResponse:
        return ToriiResponse(tx_status=COMMITTED, tx_hash=req.tx_hash)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        "iroha.protocol.CommandService_v1",
        {
            "Status": grpc.unary_unary_rpc_method_handler(
                status,
                request_deserializer=TxStatusRequest.FromString,
                response_serializer=ToriiResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port_out.put(server.add_insecure_port("127.0.0.1:0"))
    server.start()
    server.wait_for_termination()


def _trio_server(port_out: mp.Queue) -> None:  # type: ignore[type-arg]
    from node.api.grpc import GrpcServer, ServiceContext, unary

    async def status(req: TxStatusRequest, ctx: ServiceContext) -> ToriiResponse:
        return ToriiResponse(tx_status=COMMITTED, tx_hash=req.tx_hash)

    async def main() -> None:
        server = GrpcServer({PATH: unary(TxStatusRequest, status)})
        async with trio.open_nursery() as n:
            port_out.put(await n.start(server.serve, "127.0.0.1", 0))

    trio.run(main)


# ----------------------------------------------------------------------------- clients


def bench_bakong(target: str, concurrency: int, seconds: float) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        req = TxStatusRequest(tx_hash=TX_HASH)
        count = 0
        counting = False
        async with Channel.connect(target) as ch:

            async def loop() -> None:
                nonlocal count
                while True:
                    r = await ch.unary_unary(PATH, req, ToriiResponse, timeout=10)
                    assert r.tx_hash == TX_HASH
                    if counting:
                        count += 1

            async with trio.open_nursery() as n:
                for _ in range(concurrency):
                    n.start_soon(loop)
                await trio.sleep(WARMUP)
                counting = True
                start, cpu = time.perf_counter(), time.process_time()
                await trio.sleep(seconds)
                counting = False
                elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
                n.cancel_scope.cancel()
        return count / elapsed, cpu / max(count, 1) * 1e6

    return trio.run(main)


def bench_grpcio_aio(target: str, concurrency: int, seconds: float) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        req = TxStatusRequest(tx_hash=TX_HASH)
        count = 0
        counting = False
        async with grpc.aio.insecure_channel(target) as ch:
            call = ch.unary_unary(
                PATH,
                request_serializer=TxStatusRequest.SerializeToString,
                response_deserializer=ToriiResponse.FromString,
            )

            async def loop() -> None:
                nonlocal count
                while True:
                    r = await call(req, timeout=10)
                    assert r.tx_hash == TX_HASH
                    if counting:
                        count += 1

            tasks = [asyncio.create_task(loop()) for _ in range(concurrency)]
            await asyncio.sleep(WARMUP)
            counting = True
            start, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(seconds)
            counting = False
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return count / elapsed, cpu / max(count, 1) * 1e6

    return asyncio.run(main())


def bench_grpcio_sync(target: str, concurrency: int, seconds: float) -> tuple[float, float]:
    req = TxStatusRequest(tx_hash=TX_HASH)
    stop = threading.Event()
    counting = threading.Event()
    counts = [0] * concurrency
    with grpc.insecure_channel(target) as ch:
        call = ch.unary_unary(
            PATH,
            request_serializer=TxStatusRequest.SerializeToString,
            response_deserializer=ToriiResponse.FromString,
        )

        def loop(i: int) -> None:
            while not stop.is_set():
                r = call(req, timeout=10)
                assert r.tx_hash == TX_HASH
                if counting.is_set():
                    counts[i] += 1

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
        for t in threads:
            t.start()
        time.sleep(WARMUP)
        counting.set()
        start, cpu = time.perf_counter(), time.process_time()
        time.sleep(seconds)
        counting.clear()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        stop.set()
        for t in threads:
            t.join()
    return sum(counts) / elapsed, cpu / max(sum(counts), 1) * 1e6


CLIENTS: dict[str, Callable[[str, int, float], tuple[float, float]]] = {
    "bakong": bench_bakong,
    "grpcio-aio": bench_grpcio_aio,
    "grpcio-sync": bench_grpcio_sync,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", choices=["grpcio", "trio"], default="grpcio")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clients", default=",".join(CLIENTS))
    args = ap.parse_args()
    names = [c for c in args.clients.split(",") if c]

    ctx = mp.get_context("spawn")
    port_q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    target_fn = _grpcio_server if args.server == "grpcio" else _trio_server
    proc = ctx.Process(target=target_fn, args=(port_q,), daemon=True)
    proc.start()
    try:
        target = f"127.0.0.1:{port_q.get(timeout=30)}"
        results: dict[str, list[float]] = {n: [] for n in names}
        cpus: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.repeats):
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                rate, cpu = CLIENTS[name](target, args.concurrency, args.seconds)
                results[name].append(rate)
                cpus[name].append(cpu)
                print(f"  run {r + 1} {name:12s} {rate:8.0f} calls/s {cpu:6.0f} us CPU/call")
        print(
            f"server={args.server} concurrency={args.concurrency} "
            f"seconds={args.seconds} repeats={args.repeats}"
        )
        for name, rates in results.items():
            print(
                f"{name:12s} median {statistics.median(rates):8.0f} calls/s "
                f"(min {min(rates):.0f}, max {max(rates):.0f}); "
                f"client CPU {statistics.median(cpus[name]):.0f} us/call"
            )
    finally:
        proc.terminate()
        proc.join(5)


if __name__ == "__main__":
    main()
