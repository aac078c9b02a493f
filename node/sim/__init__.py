"""Deterministic cluster simulation (``python -m node.sim``).

Owns the discrete-event loop, the simulated network and fault injection
(:mod:`cluster`), a stand-in ledger (:mod:`bank`) and Twins scenarios (:mod:`twins`);
each node keeps its sign state in its in-memory store in the node's own format
(:mod:`node.sync.signstate`).
It drives the real pure cores (``node.consensus.pipeline.Pipeline``); it never
re-implements them. The loop (``cluster``, ``bank``, ``twins``) must not
import trio, sockets, the clock or the global ``random`` (nor ``node.runtime``, which
imports trio): one seeded ``random.Random`` per run makes every run replayable.
``runner`` (process pool) and ``__main__`` (wall-time report) sit outside the loop.
"""
