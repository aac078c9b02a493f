"""Stateless validation: Iroha's rules and reason texts, never an exception."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from node.config import ChainParameters, ValidationLimits
from node.crypto import KeyPair, KeyScheme
from node.model import Batch, BatchType, DecodeError, Tx, group_batches
from node.proto.iroha import commands_pb2, queries_pb2, transaction_pb2
from node.validation import StatelessValidator, batch_slices, parse_amount

NOW = 1_800_000_000_000
ADMIN = KeyPair.from_private_hex("f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70")
STD = KeyPair.from_seed(bytes(range(32)), KeyScheme.ED25519)
V = StatelessValidator(ChainParameters(), ValidationLimits())


def transfer(
    amount: str = "1.00", src: str = "alice@bank", dest: str = "bob@bank"
) -> commands_pb2.Command:
    return commands_pb2.Command(
        transfer_asset=commands_pb2.TransferAsset(
            src_account_id=src, dest_account_id=dest, asset_id="usd#bakong", amount=amount
        )
    )


def make_tx(
    cmds: list[commands_pb2.Command] | None = None,
    *,
    creator: str = "alice@bank",
    created: int = NOW,
    quorum: int = 1,
    keys: tuple[KeyPair, ...] = (ADMIN,),
) -> Tx:
    pb = transaction_pb2.Transaction()
    rp = pb.payload.reduced_payload
    rp.commands.extend(cmds if cmds is not None else [transfer()])
    rp.creator_account_id = creator
    rp.created_time = created
    rp.quorum = quorum
    return sign(Tx(pb), keys)


def sign(tx: Tx, keys: tuple[KeyPair, ...]) -> Tx:
    blob = tx.pb.payload.SerializeToString()
    for k in keys:
        tx.pb.signatures.add(public_key=k.public_key, signature=k.sign(blob).hex())
    return Tx(tx.pb)


def test_valid_tx_both_schemes() -> None:
    assert V.tx_reasons(make_tx(), NOW) is None
    assert V.tx_reasons(make_tx(keys=(STD, ADMIN), quorum=2), NOW) is None


@pytest.mark.parametrize(
    ("tx_kwargs", "reason"),
    [
        ({"cmds": []}, "Transaction should contain at least one command"),
        (
            {"creator": "Alice@bank"},
            "Wrongly formed creator_account_id, passed value: 'Alice@bank'",
        ),
        ({"creator": "alice"}, "Wrongly formed creator_account_id"),
        ({"created": NOW + 5 * 60 * 1000 + 1}, "bad timestamp: sent from future"),
        ({"created": NOW - 24 * 3600 * 1000 - 1}, "bad timestamp: too old"),
        ({"quorum": 0}, "Quorum should be within range (0, 128]"),
        ({"quorum": 129}, "Quorum should be within range (0, 128]"),
        ({"keys": ()}, "Signatures cannot be empty"),
        ({"cmds": [transfer("0")]}, "Amount must be greater than 0"),
        ({"cmds": [transfer("-1")]}, "Wrongly formed amount"),
        ({"cmds": [transfer(".5")]}, "Wrongly formed amount"),
        ({"cmds": [transfer("1e3")]}, "Wrongly formed amount"),
        (
            {"cmds": [transfer(dest="alice@bank")]},
            "Source and destination accounts cannot be the same",
        ),
        ({"cmds": [commands_pb2.Command()]}, "Undefined command"),
    ],
)
def test_invalid_tx_reasons(tx_kwargs: dict[str, object], reason: str) -> None:
    why = V.tx_reasons(make_tx(**tx_kwargs), NOW)  # type: ignore[arg-type]
    assert why is not None and reason in why


def test_created_time_window_edges() -> None:
    day = 24 * 3600 * 1000
    assert V.tx_reasons(make_tx(created=NOW - day + 1), NOW) is None
    assert V.tx_reasons(make_tx(created=NOW - day), NOW) is None
    assert V.tx_reasons(make_tx(created=NOW + 5 * 60 * 1000), NOW) is None


def test_signature_problems() -> None:
    tx = make_tx()
    tx.pb.payload.reduced_payload.quorum = 2  # payload changed after signing
    why = V.tx_reasons(Tx(tx.pb), NOW)
    assert why is not None and why.startswith("Wrong signature [")
    bad = make_tx(keys=())
    bad.pb.signatures.add(public_key="zz" * 32, signature="00" * 64)
    bad.pb.signatures.add(public_key=ADMIN.public_key, signature="00" * 63)
    why = V.tx_reasons(Tx(bad.pb), NOW)
    assert why is not None and "Invalid pubkey" in why and "Invalid signature" in why


def test_upper_case_key_verifies() -> None:
    tx = make_tx(keys=())
    blob = tx.payload_bytes
    tx.pb.signatures.add(public_key=ADMIN.public_key.upper(), signature=ADMIN.sign(blob).hex())
    assert V.tx_reasons(Tx(tx.pb), NOW) is None


def test_command_field_rules() -> None:
    C = commands_pb2
    bad = [
        C.Command(create_domain=C.CreateDomain(domain_id="-bad", default_role="user")),
        C.Command(
            create_account=C.CreateAccount(account_name="Bob", domain_id="d", public_key="ab")
        ),
        C.Command(create_asset=C.CreateAsset(asset_name="usd", domain_id="d", precision=256)),
        C.Command(create_role=C.CreateRole(role_name="r", permissions=[999])),
        C.Command(grant_permission=C.GrantPermission(account_id="a@d", permission=77)),
        C.Command(
            set_account_detail=C.SetAccountDetail(account_id="a@d", key="bad key", value="v")
        ),
        C.Command(set_account_quorum=C.SetAccountQuorum(account_id="a@d", quorum=0)),
        C.Command(add_peer=C.AddPeer(peer={"address": "[::1]:1", "peer_key": "ab" * 32})),
    ]
    for cmd in bad:
        why = V.tx_reasons(make_tx([cmd]), NOW)
        assert why is not None, cmd


def test_batches() -> None:
    a, b = make_tx(keys=()), make_tx([transfer("2")], keys=())
    for t in (a, b):
        m = t.pb.payload.batch
        m.type = transaction_pb2.Transaction.Payload.BatchMeta.ATOMIC
        m.reduced_hashes.extend([a.reduced_hash.hex(), b.reduced_hash.hex()])
    a, b = sign(Tx(a.pb), (ADMIN,)), Tx(b.pb)  # only the first tx is signed: allowed in a batch
    [batch] = group_batches([a, b])
    assert V.batch_reasons(batch, NOW) is None
    # incomplete batch: meta lists a tx that is missing
    [partial] = group_batches([a])
    why = V.batch_reasons(partial, NOW)
    assert why is not None and "Batch meta does not match" in why
    # no signature at all in the batch
    b2 = Tx(transaction_pb2.Transaction(payload=a.pb.payload))
    [unsigned] = group_batches([b2, Tx(b.pb)])
    why = V.batch_reasons(unsigned, NOW)
    assert why is not None and "at least one signature" in why


def test_amount_parser() -> None:
    assert parse_amount("12.50") == (1250, 2)
    assert parse_amount("7") == (7, 0)
    assert parse_amount("1.") == (1, 0)
    assert parse_amount(str(1 << 256)) is None
    assert parse_amount("1." + "0" * 256) is None
    assert parse_amount("") is None


def test_query_rules() -> None:
    q = queries_pb2.Query()
    q.payload.meta.creator_account_id = "alice@bank"
    q.payload.meta.created_time = NOW
    q.payload.meta.query_counter = 1
    q.payload.get_account_transactions.account_id = "alice@bank"
    q.payload.get_account_transactions.pagination_meta.page_size = 10
    blob = q.payload.SerializeToString()
    q.signature.public_key = ADMIN.public_key
    q.signature.signature = ADMIN.sign(blob).hex()
    assert V.query_reasons(q, NOW) is None
    q.payload.get_account_transactions.pagination_meta.page_size = 0
    why = V.query_reasons(q, NOW)
    assert why is not None and "Page size" in why and "Wrong signature" in why
    empty = queries_pb2.Query()
    why = V.query_reasons(empty, NOW)
    assert why is not None and "Counter should be > 0" in why and "Undefined query" in why


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    try:
        tx = Tx.from_bytes(data)
    except DecodeError:
        return
    for batch in group_batches([tx]):
        why = V.batch_reasons(batch, NOW)
        assert why is None or isinstance(why, str)
    q = queries_pb2.Query()
    try:
        q.ParseFromString(data)
    except Exception:
        return
    why = V.query_reasons(q, NOW)  # must answer, never raise
    assert why is None or isinstance(why, str)


@given(st.lists(st.integers(min_value=1, max_value=12), max_size=40), st.integers(1, 20))
@settings(max_examples=200, deadline=None)
def test_batch_slices_keep_order_and_bound_each_slice(sizes: list[int], max_txs: int) -> None:
    """Callers check one slice between two checkpoints: every batch exactly once, in
    order, and no slice over the bound unless it is one batch bigger than the bound."""
    tx = Tx(transaction_pb2.Transaction())
    batches = [Batch((tx,) * n, BatchType.ATOMIC) for n in sizes]
    slices = list(batch_slices(batches, max_txs))
    assert [id(b) for s in slices for b in s] == [id(b) for b in batches]
    for s in slices:
        assert s and (sum(len(b.txs) for b in s) <= max_txs or len(s) == 1)
    for a, b in itertools.pairwise(slices):  # each slice is as full as it can be
        assert sum(len(x.txs) for x in a) + len(b[0].txs) > max_txs


def test_signature_hex_with_whitespace_is_invalid() -> None:
    """128 characters, but bytes.fromhex would skip the blanks: not a signature."""
    tx = make_tx(keys=())
    good = ADMIN.sign(tx.payload_bytes).hex()
    for bad in (good[:126] + " \t", good[:64] + " " + good[65:], good[:127] + "g"):
        t = make_tx(keys=())
        t.pb.signatures.add(public_key=ADMIN.public_key, signature=bad)
        why = V.tx_reasons(Tx(t.pb), NOW)
        assert why is not None and why.startswith("Invalid signature"), (bad, why)


def test_well_formed_memo_keeps_only_ids_of_valid_requests_and_is_bounded() -> None:
    from node.validation import stateless as sl

    def memo() -> set[str]:
        return sl._well_formed_accounts | sl._well_formed_assets | sl._well_formed_keys

    # well formed, but forged (signed by another key than it names), unsigned, or
    # unsigned inside a batch: none of their ids is kept
    other = KeyPair.from_seed(bytes([7] * 32), KeyScheme.ED25519)  # signs nothing here
    forged = make_tx(creator="memo_forged@bank")
    forged.pb.signatures[0].public_key = other.public_key
    assert V.tx_reasons(Tx(forged.pb), NOW) is not None
    assert V.tx_reasons(make_tx(creator="memo_unsigned@bank", keys=()), NOW) is not None
    in_batch = make_tx(creator="memo_batch@bank", keys=())
    assert V.tx_reasons(in_batch, NOW, in_batch=True) is None
    assert not {"memo_forged@bank", "memo_unsigned@bank", "memo_batch@bank"} & memo()
    assert other.public_key not in memo()
    # a valid tx: its creator and signing key are kept, and still checked alike
    assert V.tx_reasons(make_tx(creator="memo_a@bank"), NOW) is None
    assert {"memo_a@bank", ADMIN.public_key} <= memo()
    assert V.tx_reasons(make_tx(creator="memo_a@bank"), NOW) is None
    assert sl.is_valid_account_id("memo_a@bank")
    assert not sl.is_valid_account_id("Memo_a@bank")
    long_id = "a@" + ".".join(["d" * 60] * 4)  # valid, but too long to keep
    sl._remember(sl._well_formed_accounts, long_id)
    assert long_id not in sl._well_formed_accounts
    for i in range(sl._WELL_FORMED_MAX + 10):
        sl._remember(sl._well_formed_assets, f"a{i}#bank")
    assert len(sl._well_formed_assets) <= sl._WELL_FORMED_MAX
    assert not sl.is_valid_asset_id("a0@bank")  # after the memo emptied and refilled
    assert sl.is_valid_public_key(ADMIN.public_key)
    assert not sl.is_valid_public_key(ADMIN.public_key[:-1] + "g")


@settings(max_examples=60, deadline=None)
@example(offset=-24 * 3600 * 1000, atomic=False)  # the window's edges, both sides
@example(offset=-24 * 3600 * 1000 - 1, atomic=False)
@example(offset=5 * 60 * 1000, atomic=False)
@example(offset=5 * 60 * 1000 + 1, atomic=False)
@given(
    offset=st.integers(min_value=-25 * 3600 * 1000, max_value=6 * 60 * 1000),
    atomic=st.booleans(),
)
def test_recheck_answers_time_like_the_full_check(offset: int, atomic: bool) -> None:
    """A batch checked before is re-checked for its time only; its answer about the
    time is the full check's, for a lone tx (fast path) and a batch alike."""
    created = NOW + offset
    if atomic:
        txs = [make_tx(created=created, keys=()) for _ in range(2)]
        meta = transaction_pb2.Transaction.Payload.BatchMeta(
            type=transaction_pb2.Transaction.Payload.BatchMeta.ATOMIC,
            reduced_hashes=[t.reduced_hash.hex() for t in txs],
        )
        for t in txs:
            t.pb.payload.batch.CopyFrom(meta)
        batch = Batch(tuple(sign(Tx(t.pb), (ADMIN,)) for t in txs), BatchType.ATOMIC)
    else:
        batch = Batch((make_tx(created=created),), BatchType.SINGLE)
    assert V.batch_reasons(batch, NOW) == V.recheck_batch(batch, NOW)
