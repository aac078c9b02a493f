"""bakong-node: a validator for permissioned payment networks (Iroha 1-compatible).

Pipeline: ``api`` (Torii gRPC) -> ``ordering`` (pending batches, proposals) -> ``state``
(execute a proposal into a block candidate) -> ``consensus`` (YAC votes, n - f commit
certificates) -> ``storage`` (one synced LevelDB write per block). ``crypto``, ``model``
and ``validation`` are the pure foundations; ``net`` and ``sync`` connect validators;
``sim`` runs whole clusters deterministically. See DESIGN.md in the shared folder.
"""

from node import native as _native

__version__ = "0.1.0"

_native.activate()  # before any compiled module loads: a stale build must not run
