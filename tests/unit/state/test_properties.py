"""Property tests: determinism, conservation of supply, no negative balance, replay."""

from __future__ import annotations

import tempfile
from collections import defaultdict

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from node.crypto import KeyPair
from node.model import Tx
from node.state import Ledger
from node.state import keys as K
from node.storage import KVStore, LevelDBStore, MemoryStore
from tests.unit.state.support import ADMIN, ALICE, BOB, OPS, T0, make_batch, make_tx, new_ledger
from tests.unit.state.test_commands import (
    account,
    add_qty,
    append,
    detach,
    detail,
    role,
    sub_qty,
    transfer,
)

ACTORS: list[tuple[str, KeyPair]] = [
    ("alice@aclb", ALICE),
    ("bob@wing", BOB),
    ("ops@aclb", OPS),
    ("admin@bakong", ADMIN),
]
ASSETS = [("usd#bakong", 2), ("khr#bakong", 0)]


def amount_text(units: int, precision: int, extra_digit: bool) -> str:
    s = str(units) if precision == 0 else f"{units // 100}.{units % 100:02d}"
    return s + "1" if extra_digit and precision else s  # too precise -> code 3/5


op = st.tuples(
    st.sampled_from(["transfer", "twice", "add", "sub", "detail", "atomic"]),
    st.integers(0, 3),  # actor
    st.integers(0, 4),  # target (4 = missing account)
    st.integers(1, 3_000),  # units
    st.integers(0, 1),  # asset
    st.booleans(),  # malformed precision
    st.booleans(),  # wrong signer
)


def build(ops: list[tuple[str, int, int, int, int, bool, bool]]) -> list[Tx]:
    txs: list[Tx] = []
    for i, (kind, a, t, units, asset_i, bad, wrong) in enumerate(ops):
        actor, kp = ACTORS[a]
        signer = ACTORS[(a + 1) % 4][1] if wrong else kp
        target = ACTORS[t][0] if t < 4 else "ghost@wing"
        asset, prec = ASSETS[asset_i]
        amt = amount_text(units, prec, bad)
        if kind == "transfer":
            cmds = (
                [transfer(actor, target, amt, asset)]
                if target != actor
                else [detail(actor, "x", amt)]
            )
        elif kind == "twice":  # one pair named by two commands: one history entry
            cmds = [transfer(actor, target, amt, asset), transfer(actor, target, "0.01", asset)]
            if target == actor:
                cmds = [add_qty(asset, amt), sub_qty(asset, amt)]
        elif kind == "add":
            cmds = [add_qty(asset, amt)]
        elif kind == "sub":
            cmds = [sub_qty(asset, amt)]
        elif kind == "detail":
            cmds = [detail(actor, f"k{t}", amt)]
        else:
            other, okp = ACTORS[(a + 1) % 4]
            txs += make_batch(
                0,
                [
                    (actor, [transfer(actor, other, amt, asset)], [kp]),
                    (
                        other,
                        [transfer(other, actor, amount_text(units // 2, prec, False), asset)],
                        [okp],
                    ),
                ],
            )
            continue
        txs.append(make_tx(actor, cmds, [signer], created_time=T0 + i))
    return txs


def supply(store: KVStore) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for key, value in store.iterate(K.BALANCE):
        asset = key.decode().rsplit("/", 1)[1]
        assert not value.startswith(b"-")  # never a negative balance
        out[asset] += int(value)
    return out


def asset_history_model(ledger: Ledger) -> list[tuple[str, int, int]]:
    """The asset-history rows ("account/asset", height, index), derived from the stored
    blocks' commands alone: each transaction once per pair, however many commands name it."""
    rows = set()
    for height in range(1, ledger.height + 1):
        block, _ = ledger.get_block(height) or (None, b"")
        assert block is not None
        for index, pb in enumerate(block.block_v1.payload.transactions):
            creator = pb.payload.reduced_payload.creator_account_id
            for c in pb.payload.reduced_payload.commands:
                which = c.WhichOneof("command")
                if which == "transfer_asset":
                    t = c.transfer_asset
                    pairs = [(t.src_account_id, t.asset_id), (t.dest_account_id, t.asset_id)]
                elif which in ("add_asset_quantity", "subtract_asset_quantity"):
                    pairs = [(creator, getattr(c, which).asset_id)]
                else:
                    pairs = []
                for account_id, asset in pairs:
                    rows.add((f"{account_id}/{asset}", height, index))
    return sorted(rows)


def asset_history(store: KVStore) -> list[tuple[str, int, int]]:
    """The asset-history rows as stored (one entry per (account, asset) and block), with
    any repeats kept so that the comparison with the model sees them."""
    rows = []
    for k, v in store.iterate(K.ASSET_HISTORY):
        owner, _, rest = k[len(K.ASSET_HISTORY) :].decode().rpartition("/")
        rows += [(owner, h, i) for h, i, _ in K.history_rows(rest.encode(), v)]
    return sorted(rows)


def minted(txs: list[Tx]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    precision = dict(ASSETS)
    for tx in txs:
        for c in tx.commands:
            which = c.WhichOneof("command")
            if which in ("add_asset_quantity", "subtract_asset_quantity"):
                m = getattr(c, which)
                whole, _, frac = m.amount.partition(".")
                units = int(whole + frac) * 10 ** (precision[m.asset_id] - len(frac))
                out[m.asset_id] += units if which == "add_asset_quantity" else -units
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=40), st.lists(st.integers(1, 15), min_size=1, max_size=8))
def test_two_ledgers_agree_and_supply_is_conserved(
    ops: list[tuple[str, int, int, int, int, bool, bool]], cuts: list[int]
) -> None:
    txs = build(ops)
    with tempfile.TemporaryDirectory() as d:
        disk = LevelDBStore(d + "/db")
        mem = MemoryStore()
        a, b = new_ledger(disk), new_ledger(mem)
        start = supply(disk)
        committed: list[Tx] = []
        i = 0
        for n, cut in enumerate(cuts * 10):
            if i >= len(txs):
                break
            chunk = txs[i : i + cut]
            i += cut
            # keep ATOMIC batches whole: extend the chunk to the end of a batch
            while (
                i < len(txs)
                and txs[i].batch_meta is not None
                and chunk[-1].batch_meta == txs[i].batch_meta
            ):
                chunk.append(txs[i])
                i += 1
            ra = a.execute(chunk, a.height + 1, T0 + n)
            rb = b.execute(chunk, b.height + 1, T0 + n)
            assert ra.block_hash == rb.block_hash
            a.commit(ra, [], b"")
            b.apply_block(a.get_block(a.height)[0], b"")  # type: ignore[index]
            committed += ra.txs
            assert a.state_hash() == b.state_hash()
        end = supply(disk)
        delta = minted(committed)
        for asset, _ in ASSETS:
            assert end[asset] - start[asset] == delta[asset]
        # the history index: the committer's, the follower's and a rebuilt one all match
        # what the blocks' commands say
        history = asset_history(disk)
        assert history == asset_history(mem) == asset_history_model(a)
        digest, height = a.state_hash(), a.height
        Ledger.drop_state(disk)
        rebuilt = Ledger.open(disk)
        assert (rebuilt.state_hash(), rebuilt.height) == (digest, height)
        assert asset_history(disk) == history
        disk.close()


# --- the permission cache: warm, it decides exactly as a cold one ------------------------

PEOPLE = ["alice@aclb", "bob@wing", "n0@aclb", "n1@aclb"]
KEYS_OF = {"alice@aclb": ALICE, "bob@wing": BOB, "n0@aclb": ALICE, "n1@aclb": ALICE}
ROLES = ["customer", "auditor", "payer"]

perm_op = st.tuples(
    st.sampled_from(["transfer", "detach", "append", "create", "create_role", "undo", "atomic"]),
    st.integers(0, 3),  # an account
    st.integers(0, 3),  # another
    st.integers(0, 2),  # a role
)


def perm_txs(ops: list[tuple[str, int, int, int]], t0: int) -> list[Tx]:
    txs: list[Tx] = []
    admin = "admin@bakong"
    for i, (kind, a, b, r) in enumerate(ops):
        who, other, rl = PEOPLE[a], PEOPLE[b], ROLES[r]
        t = t0 + i
        if kind == "transfer":
            txs.append(make_tx(who, [transfer(who, other, "0.01")], [KEYS_OF[who]], t))
        elif kind == "detach":
            txs.append(make_tx(admin, [detach(who, rl)], [ADMIN], t))
        elif kind == "append":
            txs.append(make_tx(admin, [append(who, rl)], [ADMIN], t))
        elif kind == "create":
            name = who.split("@")[0]
            txs.append(make_tx(admin, [account(name, "aclb", ALICE.public_key)], [ADMIN], t))
        elif kind == "create_role":
            cmds = [role("payer", "can_transfer", "can_receive")]
            txs.append(make_tx(admin, cmds, [ADMIN], t))
        elif kind == "undo":  # a role change, its mask read, then all rolled back
            cmds = [detach(who, rl), transfer(admin, who, "0.01", "khr#bakong"), detach(who, "x")]
            txs.append(make_tx(admin, cmds, [ADMIN], t))
            txs.append(make_tx(other, [transfer(other, who, "0.01")], [KEYS_OF[other]], t))
        else:  # an ATOMIC batch: a role change seen by the next tx, then all rolled back
            change = append(who, rl) if b % 2 else detach(who, rl)
            txs += make_batch(
                0,
                [
                    (admin, [change], [ADMIN]),
                    (who, [transfer(who, other, "0.01")], [KEYS_OF[who]]),
                    # fails by its command, or (wrong signer) before any command runs
                    (admin, [detach(who, "x")], [ADMIN] if r else [ALICE]),
                ],
            )
            txs.append(make_tx(who, [transfer(who, other, "0.01")], [KEYS_OF[who]], t))
    return txs


def probe_txs(t0: int) -> list[Tx]:
    """Transfers between every two people: reads everyone's permissions."""
    return [
        make_tx(a, [transfer(a, b, "0.01")], [KEYS_OF[a]], t0 + i)
        for i, (a, b) in enumerate((a, b) for a in PEOPLE for b in PEOPLE if a != b)
    ]


class NoCache(dict[str, int]):
    """A permission cache that keeps nothing: every mask is read from the state."""

    def __setitem__(self, key: str, value: int) -> None:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(perm_op, min_size=1, max_size=6), st.booleans()), max_size=12))
# alice loses her role, an ATOMIC batch gives it back, her transfer in it reads her mask,
# and the batch then fails on a signature (before any command of that tx runs)
@example([([("detach", 0, 1, 0), ("atomic", 0, 1, 0)], True)])
def test_the_permission_cache_decides_as_no_cache(
    chunks: list[tuple[list[tuple[str, int, int, int]], bool]],
) -> None:
    """Role changes forget only the masks they make stale (an onboarding block used to
    empty the whole cache per new account): across blocks, rolled-back transactions and
    batches, and executions never committed, the caching ledger decides every transaction
    as one without a cache, and what it keeps is current."""
    warm, cold = new_ledger(MemoryStore()), new_ledger(MemoryStore())
    cold._perm_cache = NoCache()
    t0 = T0 + 1
    for n, (ops, commit_it) in enumerate(chunks):
        txs = perm_txs(ops, t0)
        t0 += len(txs)
        rw = warm.execute(txs, warm.height + 1, T0 + n)
        rc = cold.execute(txs, cold.height + 1, T0 + n)
        assert [t.hash for t in rw.txs] == [t.hash for t in rc.txs]
        assert rw.rejected == rc.rejected and rw.block_hash == rc.block_hash
        if commit_it:  # else dropped, as a proposal whose round failed
            # another proposal for this height, executed and dropped before the commit,
            # caches everyone's mask from the state before this block
            warm.execute(probe_txs(t0), warm.height + 1, T0 + n)
            warm.commit(rw, [], b"")
            cold.commit(rc, [], b"")
        view = warm.view()
        for account_id, mask in warm._perm_cache.items():
            assert mask == view.account_permissions(account_id), account_id
