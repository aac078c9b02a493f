"""Unary gRPC calls/s against node.api.grpc's GrpcServer, driven by grpcio clients.

Run: .venv/bin/python benchmarks/grpc_server.py [--clients P] [--threads T] [--seconds S]
                                                [--server trio|grpcio] [--repeats R]

The server runs in this process (one trio thread, as in the node); P client processes
each run T threads of blocking grpcio calls (TxStatusRequest -> ToriiResponse, the shape of
Iroha's Status RPC) over one channel per process. Clients warm up for 1 s, then count
completed calls for S s. ``--server grpcio`` serves the same handler with grpcio's own
(thread-pool) Python server for comparison. The machine has 2 cores shared by server and
clients, so the figure is a floor of what the server alone could do; it prints the median of
R runs with min and max.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc
import trio

from node.api.grpc import GrpcServer, ServiceContext, unary
from node.proto.iroha.endpoint_pb2 import COMMITTED, ToriiResponse, TxStatusRequest

PATH = "/iroha.protocol.CommandService_v1/Status"
TX_HASH = "ab" * 32


async def status(request: TxStatusRequest, ctx: ServiceContext) -> ToriiResponse:
    return ToriiResponse(tx_status=COMMITTED, tx_hash=request.tx_hash)


def _client(port: int, threads: int, warmup: float, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        call = ch.unary_unary(
            PATH,
            request_serializer=TxStatusRequest.SerializeToString,
            response_deserializer=ToriiResponse.FromString,
        )
        req = TxStatusRequest(tx_hash=TX_HASH)
        call(req, timeout=10)  # connect before the clock starts
        start = time.monotonic() + warmup
        stop = start + seconds
        counts = [0] * threads

        def loop(i: int) -> None:
            n = 0
            while True:
                reply = call(req, timeout=10)
                assert reply.tx_hash == TX_HASH
                now = time.monotonic()
                if now >= stop:
                    break
                if now >= start:
                    n += 1
            counts[i] = n

        workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    out.put(sum(counts))


def _drive(port: int, clients: int, threads: int, seconds: float) -> tuple[float, float]:
    """Run the clients; return (calls/s, this process's CPU seconds per call while counting)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(port, threads, 1.0, seconds, out)) for _ in range(clients)
    ]
    for p in procs:
        p.start()
    # The clients count from 1 s after their start (spawning takes ~0.3 s more): approximate
    # the server's CPU time over the counted window by the middle S - 0.5 s of it.
    time.sleep(1.5)
    cpu0, t0 = time.process_time(), time.monotonic()
    time.sleep(max(0.1, seconds - 1.0))
    cpu1, t1 = time.process_time(), time.monotonic()
    total = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join()
    rate = total / seconds
    return rate, (cpu1 - cpu0) / ((t1 - t0) * rate)


async def _run_trio(clients: int, threads: int, seconds: float) -> tuple[float, float]:
    server = GrpcServer({PATH: unary(TxStatusRequest, status)})
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve, "127.0.0.1", 0)
        rate = await trio.to_thread.run_sync(_drive, port, clients, threads, seconds)
        nursery.cancel_scope.cancel()
    return rate


def _run_grpcio(clients: int, threads: int, seconds: float) -> tuple[float, float]:
    def handler(request: TxStatusRequest, context: object) -> ToriiResponse:
        return ToriiResponse(tx_status=COMMITTED, tx_hash=request.tx_hash)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    rpc = grpc.unary_unary_rpc_method_handler(
        handler,
        request_deserializer=TxStatusRequest.FromString,
        response_serializer=ToriiResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("iroha.protocol.CommandService_v1", {"Status": rpc})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        return _drive(port, clients, threads, seconds)
    finally:
        server.stop(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--threads", type=int, default=8, help="threads per client process")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--server", choices=["trio", "grpcio"], default="trio")
    args = ap.parse_args()
    rates, cpus = [], []
    for _ in range(args.repeats):
        if args.server == "trio":
            rate, cpu = trio.run(_run_trio, args.clients, args.threads, args.seconds)
        else:
            rate, cpu = _run_grpcio(args.clients, args.threads, args.seconds)
        rates.append(rate)
        cpus.append(cpu)
        print(f"  run: {rate:,.0f} calls/s, server CPU {cpu * 1e6:,.0f} us/call", flush=True)
    cpu = statistics.median(cpus)
    print(
        f"{args.server} server, {args.clients} client processes x {args.threads} threads: "
        f"median {statistics.median(rates):,.0f} unary calls/s "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}); "
        f"server CPU {cpu * 1e6:,.0f} us/call = {1 / cpu:,.0f} calls/s per core"
    )


if __name__ == "__main__":
    main()
