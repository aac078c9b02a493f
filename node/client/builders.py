"""Pure builders for Iroha 1 commands, transactions, batches and queries.

Nothing here reads the clock: ``created_time_ms`` is always a parameter (callers pass
their clock). Signing uses node.crypto key pairs of both schemes; hashes and the signed
bytes come from node.model.Tx, so they are exactly what a validator checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from google.protobuf.message import Message

from node.crypto import KeyPair, sha3_256
from node.model import Tx
from node.proto.iroha import commands_pb2, primitive_pb2, queries_pb2, transaction_pb2

Command = commands_pb2.Command
BatchMeta = transaction_pb2.Transaction.Payload.BatchMeta
Amount = str | int | Decimal
Permission = int | str


def _amount(value: Amount) -> str:
    # Iroha amounts are plain decimal strings: no exponent, no sign (validation rejects those).
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _role_permission(p: Permission) -> int:
    return primitive_pb2.RolePermission.Value(p) if isinstance(p, str) else int(p)


def _grantable(p: Permission) -> int:
    return primitive_pb2.GrantablePermission.Value(p) if isinstance(p, str) else int(p)


# ------------------------------------------------------------------ commands


def add_asset_quantity(asset_id: str, amount: Amount, description: str | None = None) -> Command:
    cmd = Command()
    c = cmd.add_asset_quantity
    c.asset_id, c.amount = asset_id, _amount(amount)
    if description is not None:
        c.description = description
    return cmd


def subtract_asset_quantity(
    asset_id: str, amount: Amount, description: str | None = None
) -> Command:
    cmd = Command()
    c = cmd.subtract_asset_quantity
    c.asset_id, c.amount = asset_id, _amount(amount)
    if description is not None:
        c.description = description
    return cmd


def transfer_asset(
    src_account_id: str, dest_account_id: str, asset_id: str, amount: Amount, description: str = ""
) -> Command:
    return Command(
        transfer_asset=commands_pb2.TransferAsset(
            src_account_id=src_account_id,
            dest_account_id=dest_account_id,
            asset_id=asset_id,
            description=description,
            amount=_amount(amount),
        )
    )


def create_domain(domain_id: str, default_role: str) -> Command:
    return Command(
        create_domain=commands_pb2.CreateDomain(domain_id=domain_id, default_role=default_role)
    )


def create_asset(asset_name: str, domain_id: str, precision: int) -> Command:
    return Command(
        create_asset=commands_pb2.CreateAsset(
            asset_name=asset_name, domain_id=domain_id, precision=precision
        )
    )


def create_account(account_name: str, domain_id: str, public_key: str) -> Command:
    return Command(
        create_account=commands_pb2.CreateAccount(
            account_name=account_name, domain_id=domain_id, public_key=public_key
        )
    )


def set_account_detail(account_id: str, key: str, value: str) -> Command:
    return Command(
        set_account_detail=commands_pb2.SetAccountDetail(
            account_id=account_id, key=key, value=value
        )
    )


def compare_and_set_account_detail(
    account_id: str, key: str, value: str, old_value: str | None = None, check_empty: bool = False
) -> Command:
    cmd = Command()
    c = cmd.compare_and_set_account_detail
    c.account_id, c.key, c.value, c.check_empty = account_id, key, value, check_empty
    if old_value is not None:
        c.old_value = old_value
    return cmd


def add_signatory(account_id: str, public_key: str) -> Command:
    return Command(
        add_signatory=commands_pb2.AddSignatory(account_id=account_id, public_key=public_key)
    )


def remove_signatory(account_id: str, public_key: str) -> Command:
    return Command(
        remove_signatory=commands_pb2.RemoveSignatory(account_id=account_id, public_key=public_key)
    )


def set_account_quorum(account_id: str, quorum: int) -> Command:
    return Command(
        set_account_quorum=commands_pb2.SetAccountQuorum(account_id=account_id, quorum=quorum)
    )


def create_role(role_name: str, permissions: Iterable[Permission]) -> Command:
    cmd = Command()
    cmd.create_role.role_name = role_name
    cmd.create_role.permissions.extend(_role_permission(p) for p in permissions)  # type: ignore[misc]
    return cmd


def append_role(account_id: str, role_name: str) -> Command:
    return Command(append_role=commands_pb2.AppendRole(account_id=account_id, role_name=role_name))


def detach_role(account_id: str, role_name: str) -> Command:
    return Command(detach_role=commands_pb2.DetachRole(account_id=account_id, role_name=role_name))


def grant_permission(account_id: str, permission: Permission) -> Command:
    cmd = Command()
    cmd.grant_permission.account_id = account_id
    cmd.grant_permission.permission = _grantable(permission)  # type: ignore[assignment]
    return cmd


def revoke_permission(account_id: str, permission: Permission) -> Command:
    cmd = Command()
    cmd.revoke_permission.account_id = account_id
    cmd.revoke_permission.permission = _grantable(permission)  # type: ignore[assignment]
    return cmd


def add_peer(
    address: str, peer_key: str, tls_certificate: str | None = None, syncing_peer: bool = False
) -> Command:
    cmd = Command()
    p = cmd.add_peer.peer
    p.address, p.peer_key, p.syncing_peer = address, peer_key, syncing_peer
    if tls_certificate is not None:
        p.tls_certificate = tls_certificate
    return cmd


def remove_peer(public_key: str) -> Command:
    return Command(remove_peer=commands_pb2.RemovePeer(public_key=public_key))


def set_setting_value(key: str, value: str) -> Command:
    return Command(set_setting_value=commands_pb2.SetSettingValue(key=key, value=value))


def call_engine(caller: str, input_hex: str, callee: str | None = None) -> Command:
    cmd = Command()
    c = cmd.call_engine
    c.type, c.caller, c.input = commands_pb2.CallEngine.kSolidity, caller, input_hex
    if callee is not None:
        c.callee = callee
    return cmd


# -------------------------------------------------------------- transactions


def build_tx(
    creator: str, commands: Iterable[Command], created_time_ms: int, quorum: int = 1
) -> Tx:
    """An unsigned transaction."""
    pb = transaction_pb2.Transaction()
    rp = pb.payload.reduced_payload
    rp.commands.extend(commands)
    rp.creator_account_id = creator
    rp.created_time = created_time_ms
    rp.quorum = quorum
    return Tx(pb)


def sign_tx(tx: Tx, *keypairs: KeyPair) -> Tx:
    """A copy of ``tx`` signed by each key pair (either scheme), merged by public key.

    Signatures already present are kept; a key that already signed is not added again
    (keys compare lower-cased, as Iroha does), so co-signers can each add theirs.
    """
    pb = transaction_pb2.Transaction()
    pb.CopyFrom(tx.pb)
    out = Tx(pb)
    present = {s.public_key.lower() for s in pb.signatures}
    payload = tx.payload_bytes
    for kp in keypairs:
        if kp.public_key in present:
            continue
        present.add(kp.public_key)
        pb.signatures.add(public_key=kp.public_key, signature=kp.sign(payload).hex())
    return out


def merge_signatures(tx: Tx, *others: Tx) -> Tx:
    """``tx`` with the signatures of copies of the same payload added (first per key wins)."""
    pb = transaction_pb2.Transaction()
    pb.CopyFrom(tx.pb)
    present = {s.public_key.lower() for s in pb.signatures}
    for other in others:
        if other.hash != tx.hash:
            raise ValueError(f"{other.hash_hex} is not the same transaction as {tx.hash_hex}")
        for s in other.pb.signatures:
            if s.public_key.lower() not in present:
                present.add(s.public_key.lower())
                pb.signatures.add().CopyFrom(s)
    return Tx(pb)


def make_batch(txs: Sequence[Tx], atomic: bool = True) -> list[Tx]:
    """Copies of ``txs`` tied into one batch, as the Iroha SDK's ``Iroha.batch`` does.

    Every tx gets the same batch meta: type ATOMIC or ORDERED and the hex reduced hashes
    of all txs in order. Signatures made before batching cover the old payload and are
    dropped; sign the returned txs.
    """
    if not txs:
        raise ValueError("a batch needs at least one transaction")
    meta = BatchMeta(
        type=BatchMeta.ATOMIC if atomic else BatchMeta.ORDERED,
        reduced_hashes=[t.reduced_hash.hex() for t in txs],
    )
    out = []
    for t in txs:
        pb = transaction_pb2.Transaction()
        pb.payload.reduced_payload.CopyFrom(t.pb.payload.reduced_payload)
        pb.payload.batch.CopyFrom(meta)
        out.append(Tx(pb))
    return out


# ------------------------------------------------------------------- queries


def _meta(creator: str, created_time_ms: int, counter: int) -> queries_pb2.QueryPayloadMeta:
    return queries_pb2.QueryPayloadMeta(
        created_time=created_time_ms, creator_account_id=creator, query_counter=counter
    )


_QUERY_FIELDS = frozenset(
    f.name for f in queries_pb2.Query.Payload.DESCRIPTOR.oneofs_by_name["query"].fields
)


def build_query(
    creator: str,
    created_time_ms: int,
    counter: int,
    keypair: KeyPair | None = None,
    **query: Message | Mapping[str, Any],
) -> queries_pb2.Query:
    """A query with exactly one ``get_*`` keyword, signed when ``keypair`` is given.

    The value is the query message or a mapping of its fields, e.g.
    ``build_query("a@d", now, 1, kp, get_account_assets={"account_id": "a@d",
    "pagination_meta": {"page_size": 10}})`` or ``get_roles={}``.
    """
    if len(query) != 1:
        raise TypeError(f"exactly one query keyword expected, got {sorted(query)}")
    ((name, value),) = query.items()
    if name not in _QUERY_FIELDS:
        raise TypeError(f"unknown query {name!r}; expected one of {sorted(_QUERY_FIELDS)}")
    q = queries_pb2.Query()
    q.payload.meta.CopyFrom(_meta(creator, created_time_ms, counter))
    field: Message = getattr(q.payload, name)
    field.SetInParent()  # selects the oneof even for empty queries (GetRoles, GetPeers)
    if isinstance(value, Message):
        field.CopyFrom(value)
    else:
        field.CopyFrom(type(field)(**value))
    return sign_query(q, keypair) if keypair is not None else q


def sign_query(query: queries_pb2.Query, keypair: KeyPair) -> queries_pb2.Query:
    """A copy of ``query`` carrying ``keypair``'s signature over its payload."""
    out = queries_pb2.Query()
    out.CopyFrom(query)
    sig = keypair.sign(query.payload.SerializeToString())
    out.signature.CopyFrom(
        primitive_pb2.Signature(public_key=keypair.public_key, signature=sig.hex())
    )
    return out


def query_hash(query: queries_pb2.Query) -> bytes:
    """SHA3-256 of the payload: ``QueryResponse.query_hash`` and the replay-cache key."""
    return sha3_256(query.payload.SerializeToString())


def build_blocks_query(
    creator: str, created_time_ms: int, counter: int, keypair: KeyPair | None = None
) -> queries_pb2.BlocksQuery:
    """A FetchCommits request, signed over its meta when ``keypair`` is given."""
    q = queries_pb2.BlocksQuery()
    q.meta.CopyFrom(_meta(creator, created_time_ms, counter))
    if keypair is not None:
        sig = keypair.sign(q.meta.SerializeToString())
        q.signature.CopyFrom(
            primitive_pb2.Signature(public_key=keypair.public_key, signature=sig.hex())
        )
    return q


def blocks_query_hash(query: queries_pb2.BlocksQuery) -> bytes:
    return sha3_256(query.meta.SerializeToString())
