"""Attacks on Torii (issue #10 item 2; reliability plan rows 14-17): replays, created_time
edges with an injected clock, oversized lists, signature malleability, key case, and the
row-15 signature table. Real gRPC server, real Ledger on LevelDB, grpcio clients (the
harness of tests/api/torii)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import trio

from node.config import Limits, ValidationLimits
from node.crypto import KeyPair, KeyScheme
from node.crypto.ed25519_sha3 import L
from node.model import Tx
from node.proto.iroha import commands_pb2 as C
from node.proto.iroha import endpoint_pb2 as E
from node.proto.iroha import qry_responses_pb2 as R
from node.proto.iroha import queries_pb2, transaction_pb2
from tests.api.torii.support import (
    ADMIN,
    ALICE,
    BOB,
    Harness,
    batch,
    cmd,
    key,
    now_ms,
    query,
    run,
    running,
    sign,
    transfer,
)
from tests.api.torii.support import tx as _tx

USD = "usd#bakong"
DAY_MS = 24 * 60 * 60 * 1000
FUTURE_MS = 5 * 60 * 1000
ALICE2 = key(20)  # a second key for alice@aclb where a test needs quorum 2
STRANGER = key(21, KeyScheme.ED25519_SHA3)  # well-formed key, signatory of nobody
ATOMIC = 0


_T0 = now_ms() - 60 * 60 * 1000
_unique = itertools.count()


def tx(
    creator: str,
    commands: list[C.Command],
    signers: list[KeyPair],
    *,
    created_time: int | None = None,
    quorum: int = 1,
) -> Tx:
    """The harness's builder with a created_time unique in this module (its own default,
    now - counter % 1000, repeats when the clock and the counter advance together)."""
    when = _T0 + next(_unique) if created_time is None else created_time
    return _tx(creator, commands, signers, created_time=when, quorum=quorum)


def balance(h: Harness, account: str) -> int:
    return h.ledger.view().balance(account, USD)


def times_in_chain(h: Harness, t: Tx) -> int:
    """How often ``t``'s hash is among the committed transactions of the whole chain."""
    n = 0
    for height in range(1, h.ledger.height + 1):
        stored = h.ledger.get_block(height)
        assert stored is not None
        n += sum(Tx(pb).hash == t.hash for pb in stored[0].block_v1.payload.transactions)
    return n


async def commit(h: Harness, t: Tx) -> None:
    await run(h.client.send, t)
    r = await run(h.client.wait_final, t.hash)
    assert r.tx_status == E.COMMITTED, r


async def status_after(h: Harness, t: Tx) -> E.ToriiResponse:
    await run(h.client.send, t)
    r: E.ToriiResponse = await run(h.client.wait_final, t.hash)
    return r


def pay(amount: str = "1.00", created_time: int | None = None, **kw: object) -> Tx:
    return tx(
        "alice@aclb",
        [transfer("alice@aclb", "bob@wing", amount)],
        [ALICE],
        created_time=created_time,
        **kw,  # type: ignore[arg-type]
    )


def resigned(t: Tx, signatures: list[tuple[str, str]]) -> Tx:
    """Same payload (same hash), another signature set."""
    pb = transaction_pb2.Transaction()
    pb.payload.CopyFrom(t.pb.payload)
    for public_key, signature in signatures:
        pb.signatures.add(public_key=public_key, signature=signature)
    return Tx(pb)


# --- replay --------------------------------------------------------------------------------


async def test_replay_of_committed_tx_is_answered_committed_never_reexecuted(
    tmp_path: Path,
) -> None:
    t = pay("2.00")
    async with running(tmp_path) as h:
        await commit(h, t)
        after = balance(h, "alice@aclb")
        submitted, height = h.backend.submitted, h.ledger.height
        for copy in (t, resigned(t, [(ALICE.public_key, ALICE.sign(t.payload_bytes).hex())])):
            await run(h.client.send, copy)
            assert (await run(h.client.get_status, t.hash)).tx_status == E.COMMITTED
        assert await run(h.client.stream_statuses, t.hash) == [E.COMMITTED]
        assert h.backend.submitted == submitted  # never handed to ordering again
        assert (h.ledger.height, balance(h, "alice@aclb")) == (height, after)
    # after a restart (status cache gone, answered from the ledger's tx index)
    async with running(tmp_path) as h:
        await run(h.client.send, t)
        assert (await run(h.client.get_status, t.hash)).tx_status == E.COMMITTED
        assert h.backend.submitted == 0
        assert balance(h, "alice@aclb") == after and times_in_chain(h, t) == 1


async def test_same_tx_100_times_while_pending_commits_once(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        before = balance(h, "alice@aclb")
        t = pay("0.50")
        h.backend.paused = True
        for _ in range(100):
            await run(h.client.send, t)
        assert (await run(h.client.get_status, t.hash)).tx_status == E.ENOUGH_SIGNATURES_COLLECTED
        h.backend.paused = False
        assert (await run(h.client.wait_final, t.hash)).tx_status == E.COMMITTED
        # and 100 more after the commit: all answered from the final status
        for _ in range(100):
            await run(h.client.send, t)
        assert (await run(h.client.get_status, t.hash)).tx_status == E.COMMITTED
        assert times_in_chain(h, t) == 1
        assert balance(h, "alice@aclb") == before - 50


async def test_same_payload_other_signature_set_while_pending(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        before = balance(h, "alice@aclb")
        t = pay("0.25")
        extra = resigned(
            t,
            [
                (ALICE.public_key, ALICE.sign(t.payload_bytes).hex()),
                (STRANGER.public_key, STRANGER.sign(t.payload_bytes).hex()),
            ],
        )
        h.backend.paused = True
        await run(h.client.send, t)
        await run(h.client.send, extra)  # same hash: the first copy in the proposal wins
        h.backend.paused = False
        assert (await run(h.client.wait_final, t.hash)).tx_status == E.COMMITTED
        assert times_in_chain(h, t) == 1 and balance(h, "alice@aclb") == before - 25


async def test_padded_signature_set_first_decides_the_hash(tmp_path: Path) -> None:
    # Iroha's hash covers the payload, not the signatures. A copy padded with a valid
    # signature by a non-signatory, ordered first, is rejected (signatures validation,
    # code 1) and the honest copy is then a replay of a rejected hash: never executed,
    # never committed, no money moves. (A known property of Iroha 1's design; the client
    # must re-sign a new payload.)
    async with running(tmp_path) as h:
        before = balance(h, "alice@aclb")
        t = pay("0.25")
        padded = resigned(
            t,
            [
                (ALICE.public_key, ALICE.sign(t.payload_bytes).hex()),
                (STRANGER.public_key, STRANGER.sign(t.payload_bytes).hex()),
            ],
        )
        h.backend.paused = True
        await run(h.client.send, padded)
        await run(h.client.send, t)
        h.backend.paused = False
        r = await run(h.client.wait_final, t.hash)
        assert (r.tx_status, r.err_or_cmd_name, r.error_code) == (
            E.REJECTED,
            "signatures validation",
            1,
        )
        await run(h.client.send, t)
        assert (await run(h.client.get_status, t.hash)).tx_status == E.REJECTED
        assert times_in_chain(h, t) == 0 and balance(h, "alice@aclb") == before


# --- created_time window (injected clock) ------------------------------------------------


CREATED_EDGES = [
    (-DAY_MS - 1, False),  # too old
    (-DAY_MS, True),  # exactly the edge: Iroha accepts now - max_past <= created_time
    (-DAY_MS + 1, True),
    (0, True),
    (FUTURE_MS, True),
    (FUTURE_MS + 1, False),  # from the future
]


async def test_created_time_window_edges(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        now = now_ms()
        h.torii.commands.now_ms = lambda: now  # the clock Torii validates with
        h.torii.queries.now_ms = lambda: now
        for offset, accepted in CREATED_EDGES:
            t = pay("0.01", created_time=now + offset)
            r = await status_after(h, t)
            if accepted:
                assert r.tx_status == E.COMMITTED, (offset, r)
            else:
                assert r.tx_status == E.STATELESS_VALIDATION_FAILED, (offset, r)
                assert "bad timestamp" in r.err_or_cmd_name
            q = query(
                "alice@aclb", ALICE, get_account=queries_pb2.GetAccount(account_id="alice@aclb")
            )
            q.payload.meta.created_time = now + offset
            q.signature.signature = ALICE.sign(q.payload.SerializeToString()).hex()
            resp = await run(h.client.find, q)
            if accepted:
                assert resp.WhichOneof("response") == "account_response", (offset, resp)
            else:
                err = resp.error_response
                assert err.reason == R.ErrorResponse.STATELESS_INVALID, (offset, resp)
                assert "bad timestamp" in err.message


async def test_created_time_window_follows_the_chain_setting(tmp_path: Path) -> None:
    # max_past_created is a chain parameter: a root SetSettingValue narrows the window.
    async with running(tmp_path) as h:
        setting = cmd(set_setting_value=C.SetSettingValue(key="MaxPastCreatedMs", value="60000"))
        await commit(h, tx("admin@bakong", [setting], [ADMIN]))
        now = now_ms()
        h.torii.commands.now_ms = lambda: now
        old = await status_after(h, pay("0.01", created_time=now - 60_001))
        assert old.tx_status == E.STATELESS_VALIDATION_FAILED
        assert (await status_after(h, pay("0.01", created_time=now - 60_000))).tx_status == (
            E.COMMITTED
        )


# --- oversized lists ---------------------------------------------------------------------

SMALL = Limits(
    validation=ValidationLimits(
        max_txs_per_list=6, max_commands_per_tx=4, max_signatures_per_tx=3, max_batch_txs=5
    )
)


async def _list_statuses(h: Harness, txs: list[Tx]) -> list[E.ToriiResponse]:
    await run(h.client.send_list, txs)
    return [await run(h.client.wait_final, t.hash) for t in txs]


async def test_list_and_batch_size_limits(tmp_path: Path) -> None:
    async with running(tmp_path, limits=SMALL) as h:
        # a list of 6 single txs (the limit) is accepted, 7 are all refused
        ok = [pay("0.01") for _ in range(6)]
        assert {r.tx_status for r in await _list_statuses(h, ok)} == {E.COMMITTED}
        big = [pay("0.01") for _ in range(7)]
        rs = await _list_statuses(h, big)
        assert {r.tx_status for r in rs} == {E.STATELESS_VALIDATION_FAILED}
        assert all("Too many transactions in the list: 7" in r.err_or_cmd_name for r in rs)
        # an ATOMIC batch of 5 (the limit) commits, 6 is refused as a whole
        part = ("alice@aclb", [transfer("alice@aclb", "bob@wing", "0.01")], [ALICE])
        rs = await _list_statuses(h, batch(ATOMIC, [part] * 5))
        assert {r.tx_status for r in rs} == {E.COMMITTED}
        rs = await _list_statuses(h, batch(ATOMIC, [part] * 6))
        assert {r.tx_status for r in rs} == {E.STATELESS_VALIDATION_FAILED}
        assert "Batch too large: 6 transactions, at most 5" in rs[0].err_or_cmd_name


async def test_batch_larger_than_max_proposal_size_is_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        # a batch may not exceed the chain's max_proposal_size either (Iroha §4.4)
        setting = cmd(set_setting_value=C.SetSettingValue(key="MaxProposalSize", value="3"))
        await commit(h, tx("admin@bakong", [setting], [ADMIN]))
        assert h.ledger.params.max_proposal_size == 3 < h.limits.validation.max_batch_txs
        part = ("alice@aclb", [transfer("alice@aclb", "bob@wing", "0.01")], [ALICE])
        rs = await _list_statuses(h, batch(ATOMIC, [part] * 4))
        assert {r.tx_status for r in rs} == {E.STATELESS_VALIDATION_FAILED}
        assert "Batch too large: 4 transactions, at most 3" in rs[0].err_or_cmd_name


async def test_commands_and_signatures_per_tx_limits(tmp_path: Path) -> None:
    async with running(tmp_path, limits=SMALL) as h:
        one = transfer("alice@aclb", "bob@wing", "0.01")
        assert (await status_after(h, tx("alice@aclb", [one] * 4, [ALICE]))).tx_status == (
            E.COMMITTED
        )
        r = await status_after(h, tx("alice@aclb", [one] * 5, [ALICE]))
        assert r.tx_status == E.STATELESS_VALIDATION_FAILED
        assert "Too many commands: 5, at most 4" in r.err_or_cmd_name
        # 3 signatures pass stateless checks (then fail: two signers are not alice's)
        r = await status_after(h, tx("alice@aclb", [one], [ALICE, BOB, STRANGER]))
        assert (r.tx_status, r.err_or_cmd_name, r.error_code) == (
            E.REJECTED,
            "signatures validation",
            1,
        )
        r = await status_after(h, tx("alice@aclb", [one], [ALICE, BOB, STRANGER, ADMIN]))
        assert r.tx_status == E.STATELESS_VALIDATION_FAILED
        assert "Too many signatures: 4, at most 3" in r.err_or_cmd_name


async def test_oversized_transaction_bytes(tmp_path: Path) -> None:
    limits = Limits(validation=ValidationLimits(max_tx_bytes=2048))
    async with running(tmp_path, limits=limits) as h:
        note = cmd(set_account_detail=C.SetAccountDetail(account_id="alice@aclb", key="k"))
        note.set_account_detail.value = "v" * 1500
        assert (await status_after(h, tx("alice@aclb", [note], [ALICE]))).tx_status == (E.COMMITTED)
        note.set_account_detail.value = "v" * 2100
        r = await status_after(h, tx("alice@aclb", [note], [ALICE]))
        assert r.tx_status == E.STATELESS_VALIDATION_FAILED
        assert "Transaction too large" in r.err_or_cmd_name


# --- signatures ------------------------------------------------------------------------------


def malleate(signature_hex: str) -> str:
    """R || S+L: the same group element, a non-canonical scalar (the classic malleation)."""
    sig = bytes.fromhex(signature_hex)
    s = int.from_bytes(sig[32:], "little") + L
    assert s < 1 << 256
    return (sig[:32] + s.to_bytes(32, "little")).hex()


@pytest.mark.parametrize(
    ("who", "signer"), [("alice@aclb", ALICE), ("bob@wing", BOB)], ids=["ed25519", "ed25519-sha3"]
)
async def test_malleated_signature_is_refused_and_the_honest_copy_still_commits(
    tmp_path: Path, who: str, signer: KeyPair
) -> None:
    async with running(tmp_path) as h:
        t = tx(who, [transfer(who, "ops@aclb", "0.01")], [signer])
        sig = t.pb.signatures[0]
        bad = resigned(t, [(sig.public_key, malleate(sig.signature))])
        before = balance(h, who)
        r = await status_after(h, bad)
        assert r.tx_status == E.STATELESS_VALIDATION_FAILED
        assert r.err_or_cmd_name.startswith("Wrong signature")
        assert balance(h, who) == before and h.backend.submitted == 0
        # the hash is not burnt by a stateless failure: the honest copy commits
        await commit(h, t)
        assert times_in_chain(h, t) == 1 and balance(h, who) == before - 1


async def test_upper_case_key_is_the_same_signatory(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        for who, signer in (("alice@aclb", ALICE), ("bob@wing", BOB)):
            t = tx(who, [transfer(who, "ops@aclb", "0.01")], [])
            upper = resigned(
                t, [(signer.public_key.upper(), signer.sign(t.payload_bytes).hex().upper())]
            )
            assert (await status_after(h, upper)).tx_status == E.COMMITTED


async def test_same_key_twice_in_two_cases_counts_once(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        setup = tx(
            "admin@bakong",
            [
                cmd(
                    add_signatory=C.AddSignatory(
                        account_id="alice@aclb", public_key=ALICE2.public_key
                    )
                ),
                cmd(set_account_quorum=C.SetAccountQuorum(account_id="alice@aclb", quorum=2)),
            ],
            [ADMIN],
        )
        await commit(h, setup)

        def twice(t: Tx) -> Tx:
            s = ALICE.sign(t.payload_bytes).hex()
            return resigned(t, [(ALICE.public_key, s), (ALICE.public_key.upper(), s.upper())])

        # declared quorum 1, account quorum 2: one distinct signer is not enough
        r = await status_after(h, twice(pay("0.01", quorum=1)))
        assert (r.tx_status, r.err_or_cmd_name, r.error_code) == (
            E.REJECTED,
            "signatures validation",
            2,
        )
        # declared quorum 2: the batch stays pending; the same key again does not complete it
        t = pay("0.01", quorum=2)
        await run(h.client.send, twice(t))
        assert (await run(h.client.get_status, t.hash)).tx_status == E.MST_PENDING
        await run(h.client.send, sign(resigned(t, []), [ALICE]))
        assert (await run(h.client.get_status, t.hash)).tx_status == E.MST_PENDING
        assert times_in_chain(h, t) == 0
        # a second distinct key completes it
        await run(h.client.send, sign(resigned(t, []), [ALICE2]))
        assert (await run(h.client.wait_final, t.hash)).tx_status == E.COMMITTED


def _row15(t: Tx) -> list[tuple[str, Tx, int, str]]:
    """Reliability plan row 15: (case, tx, expected final status, reason text start)."""
    good = ALICE.sign(t.payload_bytes).hex()
    other = tx("alice@aclb", [transfer("alice@aclb", "bob@wing", "9.99")], [])
    pk = ALICE.public_key
    svf = E.STATELESS_VALIDATION_FAILED
    return [
        ("empty key", resigned(t, [("", good)]), svf, "Invalid pubkey"),
        ("empty signature", resigned(t, [(pk, "")]), svf, "Invalid signature"),
        ("short key", resigned(t, [(pk[:-2], good)]), svf, "Invalid pubkey"),
        ("long key", resigned(t, [(pk + "00", good)]), svf, "Invalid pubkey"),
        ("short signature", resigned(t, [(pk, good[:-2])]), svf, "Invalid signature"),
        ("long signature", resigned(t, [(pk, good + "00")]), svf, "Invalid signature"),
        ("non-hex signature", resigned(t, [(pk, "zz" + good[2:])]), svf, "Invalid signature"),
        ("non-hex key", resigned(t, [("g" + pk[1:], good)]), svf, "Invalid pubkey"),
        ("well-formed wrong key", resigned(t, [(BOB.public_key, good)]), svf, "Wrong signature"),
        (
            "signature over another payload",
            resigned(t, [(pk, ALICE.sign(other.payload_bytes).hex())]),
            svf,
            "Wrong signature",
        ),
        ("no signature", resigned(t, []), svf, "Signatures cannot be empty"),
        ("one good, one bad", resigned(t, [(pk, good), (pk, good[:-2])]), svf, ""),
        (
            "valid signature by a non-signatory",
            resigned(t, [(STRANGER.public_key, STRANGER.sign(t.payload_bytes).hex())]),
            E.REJECTED,
            "signatures validation",
        ),
    ]


async def test_signature_table_row_15(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        before = balance(h, "alice@aclb")
        for i, (case, _, _, _) in enumerate(_row15(pay("0.01"))):
            t = pay(f"0.0{i % 9 + 1}")  # a fresh payload per case
            _, bad, expected, reason = _row15(t)[i]
            r = await status_after(h, bad)
            assert r.tx_status == expected, (case, r)
            assert r.err_or_cmd_name.startswith(reason), (case, r.err_or_cmd_name)
            assert times_in_chain(h, t) == 0, case
        assert balance(h, "alice@aclb") == before
        assert h.backend.submitted == 1  # only the non-signatory case reached ordering


async def test_broken_copy_of_a_pending_tx_does_not_stop_it(tmp_path: Path) -> None:
    # Anyone holding a pending tx can send a copy with a broken signature. The copy is
    # refused statelessly; the honest tx (same hash) still commits, exactly once.
    async with running(tmp_path) as h:
        before = balance(h, "alice@aclb")
        t = pay("0.10")
        h.backend.paused = True
        await run(h.client.send, t)
        sig = t.pb.signatures[0]
        await run(h.client.send, resigned(t, [(sig.public_key, malleate(sig.signature))]))
        await run(h.client.send, resigned(t, []))
        h.backend.paused = False
        with trio.fail_after(20):
            while h.ledger.tx_status(t.hash) is None:
                await trio.sleep(0.01)
        assert (await run(h.client.get_status, t.hash)).tx_status == E.COMMITTED
        assert times_in_chain(h, t) == 1 and balance(h, "alice@aclb") == before - 10
