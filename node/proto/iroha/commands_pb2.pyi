from node.proto.iroha import primitive_pb2 as _primitive_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AddAssetQuantity(_message.Message):
    __slots__ = ("asset_id", "amount", "description")
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    asset_id: str
    amount: str
    description: str
    def __init__(self, asset_id: _Optional[str] = ..., amount: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class AddPeer(_message.Message):
    __slots__ = ("peer",)
    PEER_FIELD_NUMBER: _ClassVar[int]
    peer: _primitive_pb2.Peer
    def __init__(self, peer: _Optional[_Union[_primitive_pb2.Peer, _Mapping]] = ...) -> None: ...

class RemovePeer(_message.Message):
    __slots__ = ("public_key",)
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    public_key: str
    def __init__(self, public_key: _Optional[str] = ...) -> None: ...

class AddSignatory(_message.Message):
    __slots__ = ("account_id", "public_key")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    public_key: str
    def __init__(self, account_id: _Optional[str] = ..., public_key: _Optional[str] = ...) -> None: ...

class CreateAsset(_message.Message):
    __slots__ = ("asset_name", "domain_id", "precision")
    ASSET_NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    asset_name: str
    domain_id: str
    precision: int
    def __init__(self, asset_name: _Optional[str] = ..., domain_id: _Optional[str] = ..., precision: _Optional[int] = ...) -> None: ...

class CreateAccount(_message.Message):
    __slots__ = ("account_name", "domain_id", "public_key")
    ACCOUNT_NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    account_name: str
    domain_id: str
    public_key: str
    def __init__(self, account_name: _Optional[str] = ..., domain_id: _Optional[str] = ..., public_key: _Optional[str] = ...) -> None: ...

class SetAccountDetail(_message.Message):
    __slots__ = ("account_id", "key", "value")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    key: str
    value: str
    def __init__(self, account_id: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class CreateDomain(_message.Message):
    __slots__ = ("domain_id", "default_role")
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ROLE_FIELD_NUMBER: _ClassVar[int]
    domain_id: str
    default_role: str
    def __init__(self, domain_id: _Optional[str] = ..., default_role: _Optional[str] = ...) -> None: ...

class RemoveSignatory(_message.Message):
    __slots__ = ("account_id", "public_key")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    public_key: str
    def __init__(self, account_id: _Optional[str] = ..., public_key: _Optional[str] = ...) -> None: ...

class SetAccountQuorum(_message.Message):
    __slots__ = ("account_id", "quorum")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    QUORUM_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    quorum: int
    def __init__(self, account_id: _Optional[str] = ..., quorum: _Optional[int] = ...) -> None: ...

class TransferAsset(_message.Message):
    __slots__ = ("src_account_id", "dest_account_id", "asset_id", "description", "amount")
    SRC_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DEST_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    src_account_id: str
    dest_account_id: str
    asset_id: str
    description: str
    amount: str
    def __init__(self, src_account_id: _Optional[str] = ..., dest_account_id: _Optional[str] = ..., asset_id: _Optional[str] = ..., description: _Optional[str] = ..., amount: _Optional[str] = ...) -> None: ...

class AppendRole(_message.Message):
    __slots__ = ("account_id", "role_name")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_NAME_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    role_name: str
    def __init__(self, account_id: _Optional[str] = ..., role_name: _Optional[str] = ...) -> None: ...

class DetachRole(_message.Message):
    __slots__ = ("account_id", "role_name")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_NAME_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    role_name: str
    def __init__(self, account_id: _Optional[str] = ..., role_name: _Optional[str] = ...) -> None: ...

class CreateRole(_message.Message):
    __slots__ = ("role_name", "permissions")
    ROLE_NAME_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    role_name: str
    permissions: _containers.RepeatedScalarFieldContainer[_primitive_pb2.RolePermission]
    def __init__(self, role_name: _Optional[str] = ..., permissions: _Optional[_Iterable[_Union[_primitive_pb2.RolePermission, str]]] = ...) -> None: ...

class GrantPermission(_message.Message):
    __slots__ = ("account_id", "permission")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    permission: _primitive_pb2.GrantablePermission
    def __init__(self, account_id: _Optional[str] = ..., permission: _Optional[_Union[_primitive_pb2.GrantablePermission, str]] = ...) -> None: ...

class RevokePermission(_message.Message):
    __slots__ = ("account_id", "permission")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    permission: _primitive_pb2.GrantablePermission
    def __init__(self, account_id: _Optional[str] = ..., permission: _Optional[_Union[_primitive_pb2.GrantablePermission, str]] = ...) -> None: ...

class SubtractAssetQuantity(_message.Message):
    __slots__ = ("asset_id", "amount", "description")
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    asset_id: str
    amount: str
    description: str
    def __init__(self, asset_id: _Optional[str] = ..., amount: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CompareAndSetAccountDetail(_message.Message):
    __slots__ = ("account_id", "key", "value", "old_value", "check_empty")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    CHECK_EMPTY_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    key: str
    value: str
    old_value: str
    check_empty: bool
    def __init__(self, account_id: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[str] = ..., old_value: _Optional[str] = ..., check_empty: _Optional[bool] = ...) -> None: ...

class SetSettingValue(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class CallEngine(_message.Message):
    __slots__ = ("type", "caller", "callee", "input")
    class EngineType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        kSolidity: _ClassVar[CallEngine.EngineType]
    kSolidity: CallEngine.EngineType
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CALLEE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    type: CallEngine.EngineType
    caller: str
    callee: str
    input: str
    def __init__(self, type: _Optional[_Union[CallEngine.EngineType, str]] = ..., caller: _Optional[str] = ..., callee: _Optional[str] = ..., input: _Optional[str] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("add_asset_quantity", "add_peer", "add_signatory", "append_role", "create_account", "create_asset", "create_domain", "create_role", "detach_role", "grant_permission", "remove_signatory", "revoke_permission", "set_account_detail", "set_account_quorum", "subtract_asset_quantity", "transfer_asset", "remove_peer", "compare_and_set_account_detail", "set_setting_value", "call_engine")
    ADD_ASSET_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ADD_PEER_FIELD_NUMBER: _ClassVar[int]
    ADD_SIGNATORY_FIELD_NUMBER: _ClassVar[int]
    APPEND_ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_ASSET_FIELD_NUMBER: _ClassVar[int]
    CREATE_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    CREATE_ROLE_FIELD_NUMBER: _ClassVar[int]
    DETACH_ROLE_FIELD_NUMBER: _ClassVar[int]
    GRANT_PERMISSION_FIELD_NUMBER: _ClassVar[int]
    REMOVE_SIGNATORY_FIELD_NUMBER: _ClassVar[int]
    REVOKE_PERMISSION_FIELD_NUMBER: _ClassVar[int]
    SET_ACCOUNT_DETAIL_FIELD_NUMBER: _ClassVar[int]
    SET_ACCOUNT_QUORUM_FIELD_NUMBER: _ClassVar[int]
    SUBTRACT_ASSET_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ASSET_FIELD_NUMBER: _ClassVar[int]
    REMOVE_PEER_FIELD_NUMBER: _ClassVar[int]
    COMPARE_AND_SET_ACCOUNT_DETAIL_FIELD_NUMBER: _ClassVar[int]
    SET_SETTING_VALUE_FIELD_NUMBER: _ClassVar[int]
    CALL_ENGINE_FIELD_NUMBER: _ClassVar[int]
    add_asset_quantity: AddAssetQuantity
    add_peer: AddPeer
    add_signatory: AddSignatory
    append_role: AppendRole
    create_account: CreateAccount
    create_asset: CreateAsset
    create_domain: CreateDomain
    create_role: CreateRole
    detach_role: DetachRole
    grant_permission: GrantPermission
    remove_signatory: RemoveSignatory
    revoke_permission: RevokePermission
    set_account_detail: SetAccountDetail
    set_account_quorum: SetAccountQuorum
    subtract_asset_quantity: SubtractAssetQuantity
    transfer_asset: TransferAsset
    remove_peer: RemovePeer
    compare_and_set_account_detail: CompareAndSetAccountDetail
    set_setting_value: SetSettingValue
    call_engine: CallEngine
    def __init__(self, add_asset_quantity: _Optional[_Union[AddAssetQuantity, _Mapping]] = ..., add_peer: _Optional[_Union[AddPeer, _Mapping]] = ..., add_signatory: _Optional[_Union[AddSignatory, _Mapping]] = ..., append_role: _Optional[_Union[AppendRole, _Mapping]] = ..., create_account: _Optional[_Union[CreateAccount, _Mapping]] = ..., create_asset: _Optional[_Union[CreateAsset, _Mapping]] = ..., create_domain: _Optional[_Union[CreateDomain, _Mapping]] = ..., create_role: _Optional[_Union[CreateRole, _Mapping]] = ..., detach_role: _Optional[_Union[DetachRole, _Mapping]] = ..., grant_permission: _Optional[_Union[GrantPermission, _Mapping]] = ..., remove_signatory: _Optional[_Union[RemoveSignatory, _Mapping]] = ..., revoke_permission: _Optional[_Union[RevokePermission, _Mapping]] = ..., set_account_detail: _Optional[_Union[SetAccountDetail, _Mapping]] = ..., set_account_quorum: _Optional[_Union[SetAccountQuorum, _Mapping]] = ..., subtract_asset_quantity: _Optional[_Union[SubtractAssetQuantity, _Mapping]] = ..., transfer_asset: _Optional[_Union[TransferAsset, _Mapping]] = ..., remove_peer: _Optional[_Union[RemovePeer, _Mapping]] = ..., compare_and_set_account_detail: _Optional[_Union[CompareAndSetAccountDetail, _Mapping]] = ..., set_setting_value: _Optional[_Union[SetSettingValue, _Mapping]] = ..., call_engine: _Optional[_Union[CallEngine, _Mapping]] = ...) -> None: ...
