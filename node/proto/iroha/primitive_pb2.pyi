from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RolePermission(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    can_append_role: _ClassVar[RolePermission]
    can_create_role: _ClassVar[RolePermission]
    can_detach_role: _ClassVar[RolePermission]
    can_add_asset_qty: _ClassVar[RolePermission]
    can_subtract_asset_qty: _ClassVar[RolePermission]
    can_add_peer: _ClassVar[RolePermission]
    can_remove_peer: _ClassVar[RolePermission]
    can_add_signatory: _ClassVar[RolePermission]
    can_remove_signatory: _ClassVar[RolePermission]
    can_set_quorum: _ClassVar[RolePermission]
    can_create_account: _ClassVar[RolePermission]
    can_set_detail: _ClassVar[RolePermission]
    can_create_asset: _ClassVar[RolePermission]
    can_transfer: _ClassVar[RolePermission]
    can_receive: _ClassVar[RolePermission]
    can_create_domain: _ClassVar[RolePermission]
    can_add_domain_asset_qty: _ClassVar[RolePermission]
    can_subtract_domain_asset_qty: _ClassVar[RolePermission]
    can_call_engine: _ClassVar[RolePermission]
    can_read_assets: _ClassVar[RolePermission]
    can_get_roles: _ClassVar[RolePermission]
    can_get_my_account: _ClassVar[RolePermission]
    can_get_all_accounts: _ClassVar[RolePermission]
    can_get_domain_accounts: _ClassVar[RolePermission]
    can_get_my_signatories: _ClassVar[RolePermission]
    can_get_all_signatories: _ClassVar[RolePermission]
    can_get_domain_signatories: _ClassVar[RolePermission]
    can_get_my_acc_ast: _ClassVar[RolePermission]
    can_get_all_acc_ast: _ClassVar[RolePermission]
    can_get_domain_acc_ast: _ClassVar[RolePermission]
    can_get_my_acc_detail: _ClassVar[RolePermission]
    can_get_all_acc_detail: _ClassVar[RolePermission]
    can_get_domain_acc_detail: _ClassVar[RolePermission]
    can_get_my_acc_txs: _ClassVar[RolePermission]
    can_get_all_acc_txs: _ClassVar[RolePermission]
    can_get_domain_acc_txs: _ClassVar[RolePermission]
    can_get_my_acc_ast_txs: _ClassVar[RolePermission]
    can_get_all_acc_ast_txs: _ClassVar[RolePermission]
    can_get_domain_acc_ast_txs: _ClassVar[RolePermission]
    can_get_my_txs: _ClassVar[RolePermission]
    can_get_all_txs: _ClassVar[RolePermission]
    can_get_blocks: _ClassVar[RolePermission]
    can_get_peers: _ClassVar[RolePermission]
    can_get_my_engine_receipts: _ClassVar[RolePermission]
    can_get_domain_engine_receipts: _ClassVar[RolePermission]
    can_get_all_engine_receipts: _ClassVar[RolePermission]
    can_grant_can_set_my_quorum: _ClassVar[RolePermission]
    can_grant_can_add_my_signatory: _ClassVar[RolePermission]
    can_grant_can_remove_my_signatory: _ClassVar[RolePermission]
    can_grant_can_transfer_my_assets: _ClassVar[RolePermission]
    can_grant_can_set_my_account_detail: _ClassVar[RolePermission]
    can_grant_can_call_engine_on_my_behalf: _ClassVar[RolePermission]
    root: _ClassVar[RolePermission]

class GrantablePermission(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    can_add_my_signatory: _ClassVar[GrantablePermission]
    can_remove_my_signatory: _ClassVar[GrantablePermission]
    can_set_my_quorum: _ClassVar[GrantablePermission]
    can_set_my_account_detail: _ClassVar[GrantablePermission]
    can_transfer_my_assets: _ClassVar[GrantablePermission]
    can_call_engine_on_my_behalf: _ClassVar[GrantablePermission]
can_append_role: RolePermission
can_create_role: RolePermission
can_detach_role: RolePermission
can_add_asset_qty: RolePermission
can_subtract_asset_qty: RolePermission
can_add_peer: RolePermission
can_remove_peer: RolePermission
can_add_signatory: RolePermission
can_remove_signatory: RolePermission
can_set_quorum: RolePermission
can_create_account: RolePermission
can_set_detail: RolePermission
can_create_asset: RolePermission
can_transfer: RolePermission
can_receive: RolePermission
can_create_domain: RolePermission
can_add_domain_asset_qty: RolePermission
can_subtract_domain_asset_qty: RolePermission
can_call_engine: RolePermission
can_read_assets: RolePermission
can_get_roles: RolePermission
can_get_my_account: RolePermission
can_get_all_accounts: RolePermission
can_get_domain_accounts: RolePermission
can_get_my_signatories: RolePermission
can_get_all_signatories: RolePermission
can_get_domain_signatories: RolePermission
can_get_my_acc_ast: RolePermission
can_get_all_acc_ast: RolePermission
can_get_domain_acc_ast: RolePermission
can_get_my_acc_detail: RolePermission
can_get_all_acc_detail: RolePermission
can_get_domain_acc_detail: RolePermission
can_get_my_acc_txs: RolePermission
can_get_all_acc_txs: RolePermission
can_get_domain_acc_txs: RolePermission
can_get_my_acc_ast_txs: RolePermission
can_get_all_acc_ast_txs: RolePermission
can_get_domain_acc_ast_txs: RolePermission
can_get_my_txs: RolePermission
can_get_all_txs: RolePermission
can_get_blocks: RolePermission
can_get_peers: RolePermission
can_get_my_engine_receipts: RolePermission
can_get_domain_engine_receipts: RolePermission
can_get_all_engine_receipts: RolePermission
can_grant_can_set_my_quorum: RolePermission
can_grant_can_add_my_signatory: RolePermission
can_grant_can_remove_my_signatory: RolePermission
can_grant_can_transfer_my_assets: RolePermission
can_grant_can_set_my_account_detail: RolePermission
can_grant_can_call_engine_on_my_behalf: RolePermission
root: RolePermission
can_add_my_signatory: GrantablePermission
can_remove_my_signatory: GrantablePermission
can_set_my_quorum: GrantablePermission
can_set_my_account_detail: GrantablePermission
can_transfer_my_assets: GrantablePermission
can_call_engine_on_my_behalf: GrantablePermission

class Signature(_message.Message):
    __slots__ = ("public_key", "signature")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    public_key: str
    signature: str
    def __init__(self, public_key: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class Peer(_message.Message):
    __slots__ = ("address", "peer_key", "tls_certificate", "syncing_peer")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PEER_KEY_FIELD_NUMBER: _ClassVar[int]
    TLS_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    SYNCING_PEER_FIELD_NUMBER: _ClassVar[int]
    address: str
    peer_key: str
    tls_certificate: str
    syncing_peer: bool
    def __init__(self, address: _Optional[str] = ..., peer_key: _Optional[str] = ..., tls_certificate: _Optional[str] = ..., syncing_peer: _Optional[bool] = ...) -> None: ...

class AccountDetailRecordId(_message.Message):
    __slots__ = ("writer", "key")
    WRITER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    writer: str
    key: str
    def __init__(self, writer: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class EngineLog(_message.Message):
    __slots__ = ("address", "data", "topics")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    address: str
    data: str
    topics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, address: _Optional[str] = ..., data: _Optional[str] = ..., topics: _Optional[_Iterable[str]] = ...) -> None: ...

class CallResult(_message.Message):
    __slots__ = ("callee", "result_data")
    CALLEE_FIELD_NUMBER: _ClassVar[int]
    RESULT_DATA_FIELD_NUMBER: _ClassVar[int]
    callee: str
    result_data: str
    def __init__(self, callee: _Optional[str] = ..., result_data: _Optional[str] = ...) -> None: ...

class EngineReceipt(_message.Message):
    __slots__ = ("command_index", "caller", "call_result", "contract_address", "logs")
    COMMAND_INDEX_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CALL_RESULT_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    command_index: int
    caller: str
    call_result: CallResult
    contract_address: str
    logs: _containers.RepeatedCompositeFieldContainer[EngineLog]
    def __init__(self, command_index: _Optional[int] = ..., caller: _Optional[str] = ..., call_result: _Optional[_Union[CallResult, _Mapping]] = ..., contract_address: _Optional[str] = ..., logs: _Optional[_Iterable[_Union[EngineLog, _Mapping]]] = ...) -> None: ...
