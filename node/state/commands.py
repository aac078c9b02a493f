"""Iroha 1.6 command semantics: permission checks, effects and stateful error codes.

Each handler takes the execution context and the command message and returns 0 on
success or Iroha's error code (iroha1.md §5.3): 1 generic, 2 no permission, 3+ per
command. Check order follows Iroha's Postgres executor: the permission check first,
then existence checks in ascending code order (TransferAsset: destination account
first, as in Iroha). With ``ctx.checks`` False (genesis) no permission is checked.

Choices where Iroha leaves room (documented here, tested in tests/unit/state):

* ``SetSettingValue`` after genesis: allowed for ``root`` holders only (code 2
  otherwise), so the central bank can retune chain parameters; invalid values of known
  keys (node.state.settings) give code 1.
* ``CallEngine``: no EVM in this node; always code 1 ("engine not configured").
* ``AddPeer`` with a key already present (as validator or syncing peer): code 1.
* ``RemovePeer`` of the last validator: code 4.
* ``AppendRole`` of a role the account already has: code 1.
* ``RevokePermission``: target account missing (3) is checked before "not granted" (2).
* ``SetAccountQuorum`` code 4 (no signatories) cannot happen: ``RemoveSignatory`` never
  goes below the quorum, which is >= 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from node.proto.iroha import commands_pb2 as C
from node.proto.iroha import primitive_pb2
from node.state import keys as K
from node.state import permissions as P
from node.state.amount import MAX_UNITS, to_units
from node.state.settings import valid_setting
from node.state.wsv import WorldStateView

# Permission masks kept across proposals, one per account seen (~150 bytes each); a
# network of millions of accounts would otherwise grow it without end.
PERM_CACHE_MAX = 100_000


class ExecContext:
    """Per-transaction execution context; ``perm_cache`` is shared across transactions."""

    __slots__ = (
        "all_roles",
        "checks",
        "creator",
        "peers_changed",
        "perm_cache",
        "role_accounts",
        "roles_changed",
        "settings_changed",
        "touched",
        "wsv",
    )

    def __init__(
        self, wsv: WorldStateView, perm_cache: dict[str, int], checks: bool = True
    ) -> None:
        self.wsv = wsv
        self.perm_cache = perm_cache
        self.checks = checks
        self.creator = ""
        self.roles_changed = False
        # whose cached masks this execution made stale: these accounts' (role membership
        # changed), or everyone's (a role was defined)
        self.role_accounts: set[str] = set()
        self.all_roles = False
        self.settings_changed = False
        self.peers_changed = False  # set by peer commands even if rolled back: reload then
        # (account, asset) pairs whose history the current transaction joins if it
        # commits; the handlers record them as they run, so the commit need not read
        # the commands again
        self.touched: list[tuple[str, str]] = []

    def perms(self, account_id: str) -> int:
        cache = self.perm_cache
        m = cache.get(account_id)
        if m is None:
            if len(cache) >= PERM_CACHE_MAX:
                cache.clear()  # bounded: a miss is one prefix scan of the store
            m = cache[account_id] = self.wsv.account_permissions(account_id)
        return m

    def can(self, permission: int) -> bool:
        """Creator holds the role permission (or root), or checks are off."""
        return not self.checks or P.has(self.perms(self.creator), permission)

    def granted(self, owner: str, grantable: int) -> bool:
        """``owner`` granted ``grantable`` to the creator (or creator is root/checks off)."""
        if not self.checks or P.is_root(self.perms(self.creator)):
            return True
        return bool(self.wsv.grants(owner, self.creator) >> grantable & 1)

    def roles_touched(self, account_id: str | None) -> None:
        """``account_id``'s roles change (None: a role is defined): its cached mask is
        stale (everyone's). Only that account's: an onboarding block of 4,000 new accounts
        emptied the cache 4,000 times, and each refill scanned the block's writes (5.3 s
        to execute that block, quadratic in its size)."""
        self.roles_changed = True
        if account_id is None:
            self.all_roles = True
            self.perm_cache.clear()
        else:
            self.role_accounts.add(account_id)
            self.perm_cache.pop(account_id, None)

    def forget_roles(self) -> None:
        """Drop the masks that may have been cached from the state these role changes
        made: before they are rolled back, or at the end of an execution that may not be
        committed (the cache is shared by every execution)."""
        forget_masks(self.perm_cache, self.all_roles, self.role_accounts)


def forget_masks(cache: dict[str, int], all_roles: bool, accounts: Iterable[str]) -> None:
    if all_roles:
        cache.clear()
    else:
        for account_id in accounts:
            cache.pop(account_id, None)


def domain_of(account_or_asset_id: str) -> str:
    for sep in ("@", "#"):
        _, found, domain = account_or_asset_id.partition(sep)
        if found:
            return domain
    return ""


def _self_or_granted(ctx: ExecContext, account_id: str, role_perm: int, grantable: int) -> bool:
    if account_id == ctx.creator:
        return ctx.can(role_perm)
    return ctx.granted(account_id, grantable)


# --- domains, accounts, assets ----------------------------------------------------


def create_domain(ctx: ExecContext, c: C.CreateDomain) -> int:
    if not ctx.can(P.CAN_CREATE_DOMAIN):
        return 2
    w = ctx.wsv
    if w.domain_default_role(c.domain_id) is not None:
        return 3
    if w.role_permissions(c.default_role) is None:
        return 4
    w.put(K.DOMAIN + c.domain_id.encode(), c.default_role.encode())
    return 0


def create_account(ctx: ExecContext, c: C.CreateAccount) -> int:
    if not ctx.can(P.CAN_CREATE_ACCOUNT):
        return 2
    w = ctx.wsv
    role = w.domain_default_role(c.domain_id)
    if role is None:
        return 3
    role_perms = w.role_permissions(role) or 0
    if ctx.checks:
        mine = ctx.perms(ctx.creator)
        if not P.is_root(mine) and role_perms & ~mine:
            return 2
    account_id = f"{c.account_name}@{c.domain_id}"
    if w.account_quorum(account_id) is not None:
        return 4
    ctx.roles_touched(account_id)
    w.put(K.ACCOUNT + account_id.encode(), b"1")
    w.put(K.k(K.SIGNATORY, account_id, c.public_key.lower()), b"")
    w.put(K.k(K.ACCOUNT_ROLE, account_id, role), b"")
    return 0


def create_asset(ctx: ExecContext, c: C.CreateAsset) -> int:
    if not ctx.can(P.CAN_CREATE_ASSET):
        return 2
    w = ctx.wsv
    if w.domain_default_role(c.domain_id) is None:
        return 3
    asset_id = f"{c.asset_name}#{c.domain_id}"
    if w.asset_precision(asset_id) is not None:
        return 4
    w.put(K.ASSET + asset_id.encode(), str(c.precision).encode())
    return 0


# --- asset quantities ---------------------------------------------------------------


def _qty_allowed(ctx: ExecContext, asset_id: str, perm: int, domain_perm: int) -> bool:
    if ctx.can(perm):
        return True
    return domain_of(ctx.creator) == domain_of(asset_id) and ctx.can(domain_perm)


def add_asset_quantity(ctx: ExecContext, c: C.AddAssetQuantity) -> int:
    if not _qty_allowed(ctx, c.asset_id, P.CAN_ADD_ASSET_QTY, P.CAN_ADD_DOMAIN_ASSET_QTY):
        return 2
    w = ctx.wsv
    precision = w.asset_precision(c.asset_id)
    if precision is None:
        return 3
    units = to_units(c.amount, precision)
    if units is None:
        return 3
    if w.account_quorum(ctx.creator) is None:
        return 1
    new = w.balance(ctx.creator, c.asset_id) + units
    if new >= MAX_UNITS:
        return 4
    w.put(K.k(K.BALANCE, ctx.creator, c.asset_id), str(new).encode())
    ctx.touched.append((ctx.creator, c.asset_id))
    return 0


def subtract_asset_quantity(ctx: ExecContext, c: C.SubtractAssetQuantity) -> int:
    if not _qty_allowed(ctx, c.asset_id, P.CAN_SUBTRACT_ASSET_QTY, P.CAN_SUBTRACT_DOMAIN_ASSET_QTY):
        return 2
    w = ctx.wsv
    precision = w.asset_precision(c.asset_id)
    if precision is None:
        return 3
    units = to_units(c.amount, precision)
    if units is None:
        return 3
    balance = w.balance(ctx.creator, c.asset_id)
    if units > balance:
        return 4
    w.put(K.k(K.BALANCE, ctx.creator, c.asset_id), str(balance - units).encode())
    ctx.touched.append((ctx.creator, c.asset_id))
    return 0


def transfer_asset(ctx: ExecContext, c: C.TransferAsset) -> int:
    w = ctx.wsv
    src, dest, asset_id = c.src_account_id, c.dest_account_id, c.asset_id
    if w.account_quorum(dest) is None:
        return 4
    if ctx.checks:
        if src == ctx.creator:
            if not ctx.can(P.CAN_TRANSFER):
                return 2
        elif not ctx.granted(src, P.G_TRANSFER_MY_ASSETS):
            return 2
        if not P.has(ctx.perms(dest), P.CAN_RECEIVE):
            return 2
    if w.account_quorum(src) is None:
        return 3
    precision = w.asset_precision(asset_id)
    if precision is None:
        return 5
    units = to_units(c.amount, precision)
    if units is None:
        return 5
    src_key = K.k(K.BALANCE, src, asset_id)
    raw = w.get(src_key)
    src_balance = 0 if raw is None else int(raw)
    if units > src_balance:
        return 6
    dest_key = K.k(K.BALANCE, dest, asset_id)
    w.put(src_key, str(src_balance - units).encode())
    raw = w.get(dest_key)
    dest_balance = (0 if raw is None else int(raw)) + units
    if dest_balance >= MAX_UNITS:
        return 7
    if c.description:
        limit = w.setting("MaxDescriptionSize")
        if limit is not None and limit.isdigit() and len(c.description) > int(limit):
            return 8
    w.put(dest_key, str(dest_balance).encode())
    ctx.touched += ((src, asset_id), (dest, asset_id))
    return 0


# --- signatories and quorum -----------------------------------------------------------


def add_signatory(ctx: ExecContext, c: C.AddSignatory) -> int:
    if not _self_or_granted(ctx, c.account_id, P.CAN_ADD_SIGNATORY, P.G_ADD_MY_SIGNATORY):
        return 2
    w = ctx.wsv
    if w.account_quorum(c.account_id) is None:
        return 3
    key = K.k(K.SIGNATORY, c.account_id, c.public_key.lower())
    if w.get(key) is not None:
        return 4
    w.put(key, b"")
    return 0


def remove_signatory(ctx: ExecContext, c: C.RemoveSignatory) -> int:
    if not _self_or_granted(ctx, c.account_id, P.CAN_REMOVE_SIGNATORY, P.G_REMOVE_MY_SIGNATORY):
        return 2
    w = ctx.wsv
    quorum = w.account_quorum(c.account_id)
    if quorum is None:
        return 3
    key = K.k(K.SIGNATORY, c.account_id, c.public_key.lower())
    if w.get(key) is None:
        return 4
    if len(w.signatories(c.account_id)) - 1 < quorum:
        return 5
    w.delete(key)
    return 0


def set_account_quorum(ctx: ExecContext, c: C.SetAccountQuorum) -> int:
    if not _self_or_granted(ctx, c.account_id, P.CAN_SET_QUORUM, P.G_SET_MY_QUORUM):
        return 2
    w = ctx.wsv
    if w.account_quorum(c.account_id) is None:
        return 3
    count = len(w.signatories(c.account_id))
    if count == 0:
        return 4
    if c.quorum > count or c.quorum < 1:
        return 5
    w.put(K.ACCOUNT + c.account_id.encode(), str(c.quorum).encode())
    return 0


# --- roles and grants ------------------------------------------------------------------


def create_role(ctx: ExecContext, c: C.CreateRole) -> int:
    if not ctx.can(P.CAN_CREATE_ROLE):
        return 2
    m = P.mask(c.permissions)
    if ctx.checks:
        mine = ctx.perms(ctx.creator)
        if not P.is_root(mine) and m & ~mine:
            return 2
    w = ctx.wsv
    if w.role_permissions(c.role_name) is not None:
        return 3
    ctx.roles_touched(None)
    w.put(K.ROLE + c.role_name.encode(), str(m).encode())
    return 0


def append_role(ctx: ExecContext, c: C.AppendRole) -> int:
    if not ctx.can(P.CAN_APPEND_ROLE):
        return 2
    w = ctx.wsv
    if w.account_quorum(c.account_id) is None:
        return 3
    role_perms = w.role_permissions(c.role_name)
    if role_perms is None:
        return 4
    if ctx.checks:
        mine = ctx.perms(ctx.creator)
        if not P.is_root(mine) and role_perms & ~mine:
            return 2
    key = K.k(K.ACCOUNT_ROLE, c.account_id, c.role_name)
    if w.get(key) is not None:
        return 1
    ctx.roles_touched(c.account_id)
    w.put(key, b"")
    return 0


def detach_role(ctx: ExecContext, c: C.DetachRole) -> int:
    if not ctx.can(P.CAN_DETACH_ROLE):
        return 2
    w = ctx.wsv
    if w.account_quorum(c.account_id) is None:
        return 3
    if w.role_permissions(c.role_name) is None:
        return 5
    key = K.k(K.ACCOUNT_ROLE, c.account_id, c.role_name)
    if w.get(key) is None:
        return 4
    ctx.roles_touched(c.account_id)
    w.delete(key)
    return 0


def grant_permission(ctx: ExecContext, c: C.GrantPermission) -> int:
    required = P.GRANT_REQUIRES.get(c.permission)
    if required is None:
        return 1
    if not ctx.can(required):
        return 2
    w = ctx.wsv
    if w.account_quorum(c.account_id) is None:
        return 3
    current = w.grants(ctx.creator, c.account_id)
    w.put(K.k(K.GRANT, ctx.creator, c.account_id), str(current | 1 << c.permission).encode())
    return 0


def revoke_permission(ctx: ExecContext, c: C.RevokePermission) -> int:
    w = ctx.wsv
    if w.account_quorum(c.account_id) is None:
        return 3
    current = w.grants(ctx.creator, c.account_id)
    if ctx.checks and not current >> c.permission & 1:
        return 2
    left = current & ~(1 << c.permission)
    key = K.k(K.GRANT, ctx.creator, c.account_id)
    if left:
        w.put(key, str(left).encode())
    else:
        w.delete(key)
    return 0


# --- account details ---------------------------------------------------------------------


def _may_write_detail(ctx: ExecContext, account_id: str) -> bool:
    if account_id == ctx.creator or ctx.can(P.CAN_SET_DETAIL):
        return True
    return ctx.granted(account_id, P.G_SET_MY_ACCOUNT_DETAIL)


def set_account_detail(ctx: ExecContext, c: C.SetAccountDetail) -> int:
    if not _may_write_detail(ctx, c.account_id):
        return 2
    w = ctx.wsv
    if w.account_quorum(c.account_id) is None:
        return 3
    w.put(K.k(K.DETAIL, c.account_id, ctx.creator, c.key), c.value.encode())
    return 0


def compare_and_set_account_detail(ctx: ExecContext, c: C.CompareAndSetAccountDetail) -> int:
    if not _may_write_detail(ctx, c.account_id):
        return 2
    if ctx.checks:
        readable = (
            ctx.can(P.CAN_GET_ALL_ACC_DETAIL)
            or (
                domain_of(c.account_id) == domain_of(ctx.creator)
                and ctx.can(P.CAN_GET_DOMAIN_ACC_DETAIL)
            )
            or (c.account_id == ctx.creator and ctx.can(P.CAN_GET_MY_ACC_DETAIL))
        )
        if not readable:
            return 2
    w = ctx.wsv
    if w.account_quorum(c.account_id) is None:
        return 3
    stored = w.detail(c.account_id, ctx.creator, c.key)
    has_old = c.HasField("old_value")
    if stored is None:
        # check_empty: a given old value never matches an absent one (Iroha >= 1.2 mode).
        if has_old and c.check_empty:
            return 4
    elif not has_old or c.old_value != stored:
        return 4
    w.put(K.k(K.DETAIL, c.account_id, ctx.creator, c.key), c.value.encode())
    return 0


# --- peers, settings, engine ----------------------------------------------------------------


def add_peer(ctx: ExecContext, c: C.AddPeer) -> int:
    if not ctx.can(P.CAN_ADD_PEER):
        return 2
    w = ctx.wsv
    key = c.peer.peer_key.lower().encode()
    if w.get(K.PEER + key) is not None or w.get(K.SYNC_PEER + key) is not None:
        return 1
    peer = primitive_pb2.Peer()
    peer.CopyFrom(c.peer)
    peer.peer_key = c.peer.peer_key.lower()
    ctx.peers_changed = True
    w.put((K.SYNC_PEER if peer.syncing_peer else K.PEER) + key, peer.SerializeToString())
    return 0


def remove_peer(ctx: ExecContext, c: C.RemovePeer) -> int:
    if not (ctx.can(P.CAN_REMOVE_PEER) or ctx.can(P.CAN_ADD_PEER)):
        return 2
    w = ctx.wsv
    key = c.public_key.lower().encode()
    if w.get(K.SYNC_PEER + key) is not None:
        ctx.peers_changed = True
        w.delete(K.SYNC_PEER + key)
        return 0
    if w.get(K.PEER + key) is None:
        return 3
    if sum(1 for _ in w.iterate(K.PEER)) <= 1:
        return 4
    ctx.peers_changed = True
    w.delete(K.PEER + key)
    return 0


def set_setting_value(ctx: ExecContext, c: C.SetSettingValue) -> int:
    if ctx.checks and not P.is_root(ctx.perms(ctx.creator)):
        return 2
    if not valid_setting(c.key, c.value):
        return 1
    ctx.settings_changed = True
    ctx.wsv.put(K.SETTING + c.key.encode(), c.value.encode())
    return 0


def call_engine(ctx: ExecContext, c: C.CallEngine) -> int:
    return 1  # engine not configured: this node has no EVM


Handler = Callable[[ExecContext, Any], int]

# oneof field name -> (Iroha command name used in statuses, handler)
HANDLERS: dict[str, tuple[str, Handler]] = {
    "add_asset_quantity": ("AddAssetQuantity", add_asset_quantity),
    "add_peer": ("AddPeer", add_peer),
    "add_signatory": ("AddSignatory", add_signatory),
    "append_role": ("AppendRole", append_role),
    "create_account": ("CreateAccount", create_account),
    "create_asset": ("CreateAsset", create_asset),
    "create_domain": ("CreateDomain", create_domain),
    "create_role": ("CreateRole", create_role),
    "detach_role": ("DetachRole", detach_role),
    "grant_permission": ("GrantPermission", grant_permission),
    "remove_signatory": ("RemoveSignatory", remove_signatory),
    "revoke_permission": ("RevokePermission", revoke_permission),
    "set_account_detail": ("SetAccountDetail", set_account_detail),
    "set_account_quorum": ("SetAccountQuorum", set_account_quorum),
    "subtract_asset_quantity": ("SubtractAssetQuantity", subtract_asset_quantity),
    "transfer_asset": ("TransferAsset", transfer_asset),
    "remove_peer": ("RemovePeer", remove_peer),
    "compare_and_set_account_detail": (
        "CompareAndSetAccountDetail",
        compare_and_set_account_detail,
    ),
    "set_setting_value": ("SetSettingValue", set_setting_value),
    "call_engine": ("CallEngine", call_engine),
}
