"""Permission bit masks over Iroha's ``RolePermission`` and ``GrantablePermission`` enums.

A role's permissions are an int whose bit n is set when it has the permission whose
wire value is n (as Iroha's Postgres bit strings). ``root`` bypasses every check.
"""

from __future__ import annotations

from collections.abc import Iterable

from node.proto.iroha import primitive_pb2 as pr

P = pr.RolePermission
G = pr.GrantablePermission

ROOT_BIT = 1 << P.Value("root")
ALL_ROLE_PERMISSIONS: tuple[int, ...] = tuple(sorted(P.values()))


def bit(permission: int) -> int:
    return 1 << permission


def mask(permissions: Iterable[int]) -> int:
    m = 0
    for p in permissions:
        m |= 1 << p
    return m


def unmask(m: int) -> list[int]:
    """Permission values in ascending order (the order Iroha returns them)."""
    return [p for p in ALL_ROLE_PERMISSIONS if m >> p & 1]


def names_to_mask(names: Iterable[str]) -> int:
    return mask(P.Value(n) for n in names)


def has(perms: int, permission: int) -> bool:
    return bool(perms & (ROOT_BIT | (1 << permission)))


def is_root(perms: int) -> bool:
    return bool(perms & ROOT_BIT)


# Role permission that allows granting each grantable permission.
GRANT_REQUIRES: dict[int, int] = {
    G.Value("can_add_my_signatory"): P.Value("can_grant_can_add_my_signatory"),
    G.Value("can_remove_my_signatory"): P.Value("can_grant_can_remove_my_signatory"),
    G.Value("can_set_my_quorum"): P.Value("can_grant_can_set_my_quorum"),
    G.Value("can_set_my_account_detail"): P.Value("can_grant_can_set_my_account_detail"),
    G.Value("can_transfer_my_assets"): P.Value("can_grant_can_transfer_my_assets"),
    G.Value("can_call_engine_on_my_behalf"): P.Value("can_grant_can_call_engine_on_my_behalf"),
}

# Frequently used permission numbers, resolved once.
CAN_APPEND_ROLE = P.Value("can_append_role")
CAN_CREATE_ROLE = P.Value("can_create_role")
CAN_DETACH_ROLE = P.Value("can_detach_role")
CAN_ADD_ASSET_QTY = P.Value("can_add_asset_qty")
CAN_SUBTRACT_ASSET_QTY = P.Value("can_subtract_asset_qty")
CAN_ADD_DOMAIN_ASSET_QTY = P.Value("can_add_domain_asset_qty")
CAN_SUBTRACT_DOMAIN_ASSET_QTY = P.Value("can_subtract_domain_asset_qty")
CAN_ADD_PEER = P.Value("can_add_peer")
CAN_REMOVE_PEER = P.Value("can_remove_peer")
CAN_ADD_SIGNATORY = P.Value("can_add_signatory")
CAN_REMOVE_SIGNATORY = P.Value("can_remove_signatory")
CAN_SET_QUORUM = P.Value("can_set_quorum")
CAN_CREATE_ACCOUNT = P.Value("can_create_account")
CAN_SET_DETAIL = P.Value("can_set_detail")
CAN_CREATE_ASSET = P.Value("can_create_asset")
CAN_TRANSFER = P.Value("can_transfer")
CAN_RECEIVE = P.Value("can_receive")
CAN_CREATE_DOMAIN = P.Value("can_create_domain")
CAN_GET_MY_ACC_DETAIL = P.Value("can_get_my_acc_detail")
CAN_GET_DOMAIN_ACC_DETAIL = P.Value("can_get_domain_acc_detail")
CAN_GET_ALL_ACC_DETAIL = P.Value("can_get_all_acc_detail")

G_ADD_MY_SIGNATORY = G.Value("can_add_my_signatory")
G_REMOVE_MY_SIGNATORY = G.Value("can_remove_my_signatory")
G_SET_MY_QUORUM = G.Value("can_set_my_quorum")
G_SET_MY_ACCOUNT_DETAIL = G.Value("can_set_my_account_detail")
G_TRANSFER_MY_ASSETS = G.Value("can_transfer_my_assets")
