import datetime

from node.proto.iroha import primitive_pb2 as _primitive_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Field(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kCreatedTime: _ClassVar[Field]
    kPosition: _ClassVar[Field]

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    kAscending: _ClassVar[Direction]
    kDescending: _ClassVar[Direction]
kCreatedTime: Field
kPosition: Field
kAscending: Direction
kDescending: Direction

class Ordering(_message.Message):
    __slots__ = ("sequence",)
    class FieldOrdering(_message.Message):
        __slots__ = ("field", "direction")
        FIELD_FIELD_NUMBER: _ClassVar[int]
        DIRECTION_FIELD_NUMBER: _ClassVar[int]
        field: Field
        direction: Direction
        def __init__(self, field: _Optional[_Union[Field, str]] = ..., direction: _Optional[_Union[Direction, str]] = ...) -> None: ...
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: _containers.RepeatedCompositeFieldContainer[Ordering.FieldOrdering]
    def __init__(self, sequence: _Optional[_Iterable[_Union[Ordering.FieldOrdering, _Mapping]]] = ...) -> None: ...

class TxPaginationMeta(_message.Message):
    __slots__ = ("page_size", "first_tx_hash", "ordering", "first_tx_time", "last_tx_time", "first_tx_height", "last_tx_height")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FIRST_TX_HASH_FIELD_NUMBER: _ClassVar[int]
    ORDERING_FIELD_NUMBER: _ClassVar[int]
    FIRST_TX_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_TX_TIME_FIELD_NUMBER: _ClassVar[int]
    FIRST_TX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LAST_TX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    first_tx_hash: str
    ordering: Ordering
    first_tx_time: _timestamp_pb2.Timestamp
    last_tx_time: _timestamp_pb2.Timestamp
    first_tx_height: int
    last_tx_height: int
    def __init__(self, page_size: _Optional[int] = ..., first_tx_hash: _Optional[str] = ..., ordering: _Optional[_Union[Ordering, _Mapping]] = ..., first_tx_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_tx_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_tx_height: _Optional[int] = ..., last_tx_height: _Optional[int] = ...) -> None: ...

class AssetPaginationMeta(_message.Message):
    __slots__ = ("page_size", "first_asset_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FIRST_ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    first_asset_id: str
    def __init__(self, page_size: _Optional[int] = ..., first_asset_id: _Optional[str] = ...) -> None: ...

class GetAccount(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetBlock(_message.Message):
    __slots__ = ("height",)
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    height: int
    def __init__(self, height: _Optional[int] = ...) -> None: ...

class GetSignatories(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetAccountTransactions(_message.Message):
    __slots__ = ("account_id", "pagination_meta")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_META_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    pagination_meta: TxPaginationMeta
    def __init__(self, account_id: _Optional[str] = ..., pagination_meta: _Optional[_Union[TxPaginationMeta, _Mapping]] = ...) -> None: ...

class GetAccountAssetTransactions(_message.Message):
    __slots__ = ("account_id", "asset_id", "pagination_meta")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_META_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    asset_id: str
    pagination_meta: TxPaginationMeta
    def __init__(self, account_id: _Optional[str] = ..., asset_id: _Optional[str] = ..., pagination_meta: _Optional[_Union[TxPaginationMeta, _Mapping]] = ...) -> None: ...

class GetTransactions(_message.Message):
    __slots__ = ("tx_hashes",)
    TX_HASHES_FIELD_NUMBER: _ClassVar[int]
    tx_hashes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tx_hashes: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAccountAssets(_message.Message):
    __slots__ = ("account_id", "pagination_meta")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_META_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    pagination_meta: AssetPaginationMeta
    def __init__(self, account_id: _Optional[str] = ..., pagination_meta: _Optional[_Union[AssetPaginationMeta, _Mapping]] = ...) -> None: ...

class AccountDetailPaginationMeta(_message.Message):
    __slots__ = ("page_size", "first_record_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FIRST_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    first_record_id: _primitive_pb2.AccountDetailRecordId
    def __init__(self, page_size: _Optional[int] = ..., first_record_id: _Optional[_Union[_primitive_pb2.AccountDetailRecordId, _Mapping]] = ...) -> None: ...

class GetAccountDetail(_message.Message):
    __slots__ = ("account_id", "key", "writer", "pagination_meta")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    WRITER_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_META_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    key: str
    writer: str
    pagination_meta: AccountDetailPaginationMeta
    def __init__(self, account_id: _Optional[str] = ..., key: _Optional[str] = ..., writer: _Optional[str] = ..., pagination_meta: _Optional[_Union[AccountDetailPaginationMeta, _Mapping]] = ...) -> None: ...

class GetAssetInfo(_message.Message):
    __slots__ = ("asset_id",)
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    asset_id: str
    def __init__(self, asset_id: _Optional[str] = ...) -> None: ...

class GetRoles(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRolePermissions(_message.Message):
    __slots__ = ("role_id",)
    ROLE_ID_FIELD_NUMBER: _ClassVar[int]
    role_id: str
    def __init__(self, role_id: _Optional[str] = ...) -> None: ...

class GetPendingTransactions(_message.Message):
    __slots__ = ("pagination_meta",)
    PAGINATION_META_FIELD_NUMBER: _ClassVar[int]
    pagination_meta: TxPaginationMeta
    def __init__(self, pagination_meta: _Optional[_Union[TxPaginationMeta, _Mapping]] = ...) -> None: ...

class GetPeers(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueryPayloadMeta(_message.Message):
    __slots__ = ("created_time", "creator_account_id", "query_counter")
    CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_COUNTER_FIELD_NUMBER: _ClassVar[int]
    created_time: int
    creator_account_id: str
    query_counter: int
    def __init__(self, created_time: _Optional[int] = ..., creator_account_id: _Optional[str] = ..., query_counter: _Optional[int] = ...) -> None: ...

class GetEngineReceipts(_message.Message):
    __slots__ = ("tx_hash",)
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    tx_hash: str
    def __init__(self, tx_hash: _Optional[str] = ...) -> None: ...

class Query(_message.Message):
    __slots__ = ("payload", "signature")
    class Payload(_message.Message):
        __slots__ = ("meta", "get_account", "get_signatories", "get_account_transactions", "get_account_asset_transactions", "get_transactions", "get_account_assets", "get_account_detail", "get_roles", "get_role_permissions", "get_asset_info", "get_pending_transactions", "get_block", "get_peers", "get_engine_receipts")
        META_FIELD_NUMBER: _ClassVar[int]
        GET_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
        GET_SIGNATORIES_FIELD_NUMBER: _ClassVar[int]
        GET_ACCOUNT_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
        GET_ACCOUNT_ASSET_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
        GET_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
        GET_ACCOUNT_ASSETS_FIELD_NUMBER: _ClassVar[int]
        GET_ACCOUNT_DETAIL_FIELD_NUMBER: _ClassVar[int]
        GET_ROLES_FIELD_NUMBER: _ClassVar[int]
        GET_ROLE_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
        GET_ASSET_INFO_FIELD_NUMBER: _ClassVar[int]
        GET_PENDING_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
        GET_BLOCK_FIELD_NUMBER: _ClassVar[int]
        GET_PEERS_FIELD_NUMBER: _ClassVar[int]
        GET_ENGINE_RECEIPTS_FIELD_NUMBER: _ClassVar[int]
        meta: QueryPayloadMeta
        get_account: GetAccount
        get_signatories: GetSignatories
        get_account_transactions: GetAccountTransactions
        get_account_asset_transactions: GetAccountAssetTransactions
        get_transactions: GetTransactions
        get_account_assets: GetAccountAssets
        get_account_detail: GetAccountDetail
        get_roles: GetRoles
        get_role_permissions: GetRolePermissions
        get_asset_info: GetAssetInfo
        get_pending_transactions: GetPendingTransactions
        get_block: GetBlock
        get_peers: GetPeers
        get_engine_receipts: GetEngineReceipts
        def __init__(self, meta: _Optional[_Union[QueryPayloadMeta, _Mapping]] = ..., get_account: _Optional[_Union[GetAccount, _Mapping]] = ..., get_signatories: _Optional[_Union[GetSignatories, _Mapping]] = ..., get_account_transactions: _Optional[_Union[GetAccountTransactions, _Mapping]] = ..., get_account_asset_transactions: _Optional[_Union[GetAccountAssetTransactions, _Mapping]] = ..., get_transactions: _Optional[_Union[GetTransactions, _Mapping]] = ..., get_account_assets: _Optional[_Union[GetAccountAssets, _Mapping]] = ..., get_account_detail: _Optional[_Union[GetAccountDetail, _Mapping]] = ..., get_roles: _Optional[_Union[GetRoles, _Mapping]] = ..., get_role_permissions: _Optional[_Union[GetRolePermissions, _Mapping]] = ..., get_asset_info: _Optional[_Union[GetAssetInfo, _Mapping]] = ..., get_pending_transactions: _Optional[_Union[GetPendingTransactions, _Mapping]] = ..., get_block: _Optional[_Union[GetBlock, _Mapping]] = ..., get_peers: _Optional[_Union[GetPeers, _Mapping]] = ..., get_engine_receipts: _Optional[_Union[GetEngineReceipts, _Mapping]] = ...) -> None: ...
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    payload: Query.Payload
    signature: _primitive_pb2.Signature
    def __init__(self, payload: _Optional[_Union[Query.Payload, _Mapping]] = ..., signature: _Optional[_Union[_primitive_pb2.Signature, _Mapping]] = ...) -> None: ...

class BlocksQuery(_message.Message):
    __slots__ = ("meta", "signature")
    META_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    meta: QueryPayloadMeta
    signature: _primitive_pb2.Signature
    def __init__(self, meta: _Optional[_Union[QueryPayloadMeta, _Mapping]] = ..., signature: _Optional[_Union[_primitive_pb2.Signature, _Mapping]] = ...) -> None: ...
