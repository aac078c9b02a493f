"""ChainAdapter: the stateless re-check of a proposal before it is executed.

Batches this node validated before (their exact signed bytes) are only re-checked for
what can have changed -- time, size against the chain, completeness -- without the
cryptography; anything else gets every rule.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from node.client import builders
from node.config import ChainParameters, Limits
from node.crypto import KeyPair, KeyScheme
from node.model import Batch, BatchType, Tx, group_batches
from node.proto.iroha import proposal_pb2
from node.runtime import chain
from node.runtime.chain import ChainAdapter, VerifiedCache
from node.state import Ledger
from node.state.genesis import bakong_spec, genesis_from_spec
from node.storage import LevelDBStore

ACCOUNTS = ("alice@aclb", "bob@abaa")


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    kp = KeyPair.generate(KeyScheme.ED25519)
    spec = bakong_spec(peers=[("127.0.0.1:10001", kp.public_key)], admin_key=kp.public_key)
    spec["accounts"] += [{"id": a, "public_keys": [kp.public_key]} for a in ACCOUNTS]
    spec["balances"] = [{"account": a, "asset": "usd#bakong", "amount": "100.00"} for a in ACCOUNTS]
    store = LevelDBStore(str(tmp_path / "db"))
    ledger = Ledger.create(store, genesis_from_spec(spec))
    adapter = ChainAdapter(ledger, kp, Limits().validation, VerifiedCache())
    yield adapter, kp
    store.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def transfer(kp: KeyPair, created: int, note: str = "x") -> Tx:
    cmd = builders.transfer_asset(ACCOUNTS[0], ACCOUNTS[1], "usd#bakong", "1.00", note)
    return builders.sign_tx(builders.build_tx(ACCOUNTS[0], [cmd], created), kp)


def atomic_pair(kp: KeyPair, created: int) -> list[Tx]:
    a = builders.build_tx(
        ACCOUNTS[0],
        [builders.transfer_asset(ACCOUNTS[0], ACCOUNTS[1], "usd#bakong", "1.00", "a")],
        created,
    )
    b = builders.build_tx(
        ACCOUNTS[1],
        [builders.transfer_asset(ACCOUNTS[1], ACCOUNTS[0], "usd#bakong", "1.00", "b")],
        created,
    )
    return [builders.sign_tx(t, kp) for t in builders.make_batch([a, b])]


def proposal(adapter: ChainAdapter, txs: list[Tx], created: int) -> Any:
    return adapter.make_proposal(adapter.height + 1, created, group_batches(txs))


def count_verifies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = chain.verify

    def counting(public_key: str, message: bytes, signature: bytes) -> bool:
        calls[0] += 1
        return real(public_key, message, signature)

    monkeypatch.setattr(chain, "verify", counting)
    return calls


def remember(adapter: ChainAdapter, txs: list[Tx]) -> None:
    adapter.verified.remember(group_batches(txs))


def test_unknown_batches_are_verified_then_remembered(setup: Any, monkeypatch: Any) -> None:
    adapter, kp = setup
    calls = count_verifies(monkeypatch)
    t = now_ms()
    txs = [transfer(kp, t, "1"), transfer(kp, t, "2")]
    assert adapter.execute(proposal(adapter, txs, t)) is not None
    assert calls[0] == 2
    assert all(adapter.verified.knows(b) for b in group_batches(txs))


def test_known_batches_skip_the_cryptography(setup: Any, monkeypatch: Any) -> None:
    adapter, kp = setup
    t = now_ms()
    txs = [transfer(kp, t, "1"), *atomic_pair(kp, t)]
    remember(adapter, txs)
    calls = count_verifies(monkeypatch)
    candidate = adapter.execute(proposal(adapter, txs, t + 1000))
    assert candidate is not None and len(candidate.tx_hashes) == 3
    assert calls[0] == 0


def test_known_batch_too_old_for_the_proposal_time_is_refused(setup: Any) -> None:
    adapter, kp = setup
    t = now_ms()
    tx = transfer(kp, t)
    remember(adapter, [tx])
    too_late = t + ChainParameters().max_past_created_ms + 1
    assert adapter.execute(proposal(adapter, [tx], too_late)) is None
    # and from the future, seen from the proposal's time
    assert adapter.execute(proposal(adapter, [tx], t - 10 * 60 * 1000)) is None
    assert adapter.execute(proposal(adapter, [tx], t)) is not None


def test_copy_of_a_known_tx_with_another_signature_gets_every_rule(setup: Any) -> None:
    adapter, kp = setup
    t = now_ms()
    tx = transfer(kp, t)
    remember(adapter, [tx])
    forged = Tx(type(tx.pb).FromString(tx.pb.SerializeToString()))
    forged.pb.signatures[0].signature = "00" * 64
    assert forged.hash == tx.hash and forged.signed_hash != tx.signed_hash
    assert adapter.execute(proposal(adapter, [forged], t)) is None
    assert adapter.execute(proposal(adapter, [tx], t)) is not None


def test_known_atomic_batch_split_by_the_orderer_is_refused(setup: Any) -> None:
    adapter, kp = setup
    t = now_ms()
    pair = atomic_pair(kp, t)
    remember(adapter, pair)
    half = adapter.make_proposal(adapter.height + 1, t, [Batch((pair[0],), BatchType.ATOMIC)])
    assert adapter.execute(half) is None
    assert adapter.execute(proposal(adapter, pair, t)) is not None


def as_received(p: Any) -> Any:
    """The proposal as a follower gets it: parsed from the wire, new message objects."""
    return type(p).FromString(p.SerializeToString())


def test_follower_reuses_the_gossiped_tx_objects(setup: Any, monkeypatch: Any) -> None:
    adapter, kp = setup
    t = now_ms()
    txs = [transfer(kp, t, "1"), *atomic_pair(kp, t)]
    remember(adapter, txs)
    # built by another node: parsed from the wire, so new message objects
    received = proposal_pb2.Proposal(height=adapter.height + 1, created_time=t)
    received.transactions.extend(x.pb for x in txs)
    received = as_received(received)
    calls = count_verifies(monkeypatch)
    candidate = adapter.execute(received)
    assert candidate is not None and candidate.tx_hashes == tuple(x.hash for x in txs)
    executed = adapter._results[candidate.block_hash].txs
    assert all(a is b for a, b in zip(executed, txs, strict=True))
    assert calls[0] == 0


def test_a_tx_differing_from_the_remembered_one_is_not_reused(setup: Any) -> None:
    adapter, kp = setup
    t = now_ms()
    tx = transfer(kp, t)
    remember(adapter, [tx])
    # same signature, other payload: a different message, checked from scratch (and refused)
    forged = type(tx.pb).FromString(tx.pb.SerializeToString())
    forged.payload.reduced_payload.commands[0].transfer_asset.amount = "99.00"
    # same content plus an unknown field: not equal either (its signed bytes differ)
    padded = type(tx.pb).FromString(tx.pb.SerializeToString() + b"\xa0\x06\x01")
    for pb in (forged, padded):
        (resolved,) = adapter.verified.take([pb])
        assert resolved is not tx and resolved.pb is pb
        remember(adapter, [tx])
    p = proposal_pb2.Proposal(height=adapter.height + 1, created_time=t)
    p.transactions.append(forged)
    assert adapter.execute(as_received(p)) is None


def test_proposed_or_taken_txs_are_forgotten_and_the_recent_set_is_bounded(setup: Any) -> None:
    adapter, kp = setup
    t = now_ms()
    txs = [transfer(kp, t, str(i)) for i in range(3)]
    remember(adapter, txs)
    taken = adapter.verified.take([x.pb for x in txs])
    assert all(a is b for a, b in zip(taken, txs, strict=True))
    again = adapter.verified.take([x.pb for x in txs])  # a second proposal with them
    assert not any(a is b for a, b in zip(again, txs, strict=True))
    assert [a.hash for a in again] == [x.hash for x in txs]
    remember(adapter, txs)
    proposal(adapter, txs, t)  # this node proposes them
    assert not any(
        a is b for a, b in zip(adapter.verified.take([x.pb for x in txs]), txs, strict=True)
    )
    small = VerifiedCache(recent=2)
    small.remember(group_batches(txs))
    kept = small.take([x.pb for x in txs])
    assert [a is b for a, b in zip(kept, txs, strict=True)] == [False, True, True]
