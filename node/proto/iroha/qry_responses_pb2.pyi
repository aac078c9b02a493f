from node.proto.iroha import block_pb2 as _block_pb2
from node.proto.iroha import transaction_pb2 as _transaction_pb2
from node.proto.iroha import primitive_pb2 as _primitive_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Asset(_message.Message):
    __slots__ = ("asset_id", "domain_id", "precision")
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    asset_id: str
    domain_id: str
    precision: int
    def __init__(self, asset_id: _Optional[str] = ..., domain_id: _Optional[str] = ..., precision: _Optional[int] = ...) -> None: ...

class Domain(_message.Message):
    __slots__ = ("domain_id", "default_role")
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ROLE_FIELD_NUMBER: _ClassVar[int]
    domain_id: str
    default_role: str
    def __init__(self, domain_id: _Optional[str] = ..., default_role: _Optional[str] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("account_id", "domain_id", "quorum", "json_data")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_ID_FIELD_NUMBER: _ClassVar[int]
    QUORUM_FIELD_NUMBER: _ClassVar[int]
    JSON_DATA_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    domain_id: str
    quorum: int
    json_data: str
    def __init__(self, account_id: _Optional[str] = ..., domain_id: _Optional[str] = ..., quorum: _Optional[int] = ..., json_data: _Optional[str] = ...) -> None: ...

class AccountAsset(_message.Message):
    __slots__ = ("asset_id", "account_id", "balance")
    ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    asset_id: str
    account_id: str
    balance: str
    def __init__(self, asset_id: _Optional[str] = ..., account_id: _Optional[str] = ..., balance: _Optional[str] = ...) -> None: ...

class AccountAssetResponse(_message.Message):
    __slots__ = ("account_assets", "total_number", "next_asset_id")
    ACCOUNT_ASSETS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NEXT_ASSET_ID_FIELD_NUMBER: _ClassVar[int]
    account_assets: _containers.RepeatedCompositeFieldContainer[AccountAsset]
    total_number: int
    next_asset_id: str
    def __init__(self, account_assets: _Optional[_Iterable[_Union[AccountAsset, _Mapping]]] = ..., total_number: _Optional[int] = ..., next_asset_id: _Optional[str] = ...) -> None: ...

class AccountDetailResponse(_message.Message):
    __slots__ = ("detail", "total_number", "next_record_id")
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NEXT_RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    detail: str
    total_number: int
    next_record_id: _primitive_pb2.AccountDetailRecordId
    def __init__(self, detail: _Optional[str] = ..., total_number: _Optional[int] = ..., next_record_id: _Optional[_Union[_primitive_pb2.AccountDetailRecordId, _Mapping]] = ...) -> None: ...

class AccountResponse(_message.Message):
    __slots__ = ("account", "account_roles")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ROLES_FIELD_NUMBER: _ClassVar[int]
    account: Account
    account_roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., account_roles: _Optional[_Iterable[str]] = ...) -> None: ...

class AssetResponse(_message.Message):
    __slots__ = ("asset",)
    ASSET_FIELD_NUMBER: _ClassVar[int]
    asset: Asset
    def __init__(self, asset: _Optional[_Union[Asset, _Mapping]] = ...) -> None: ...

class RolesResponse(_message.Message):
    __slots__ = ("roles",)
    ROLES_FIELD_NUMBER: _ClassVar[int]
    roles: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, roles: _Optional[_Iterable[str]] = ...) -> None: ...

class RolePermissionsResponse(_message.Message):
    __slots__ = ("permissions",)
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    permissions: _containers.RepeatedScalarFieldContainer[_primitive_pb2.RolePermission]
    def __init__(self, permissions: _Optional[_Iterable[_Union[_primitive_pb2.RolePermission, str]]] = ...) -> None: ...

class ErrorResponse(_message.Message):
    __slots__ = ("reason", "message", "error_code")
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATELESS_INVALID: _ClassVar[ErrorResponse.Reason]
        STATEFUL_INVALID: _ClassVar[ErrorResponse.Reason]
        NO_ACCOUNT: _ClassVar[ErrorResponse.Reason]
        NO_ACCOUNT_ASSETS: _ClassVar[ErrorResponse.Reason]
        NO_ACCOUNT_DETAIL: _ClassVar[ErrorResponse.Reason]
        NO_SIGNATORIES: _ClassVar[ErrorResponse.Reason]
        NOT_SUPPORTED: _ClassVar[ErrorResponse.Reason]
        NO_ASSET: _ClassVar[ErrorResponse.Reason]
        NO_ROLES: _ClassVar[ErrorResponse.Reason]
    STATELESS_INVALID: ErrorResponse.Reason
    STATEFUL_INVALID: ErrorResponse.Reason
    NO_ACCOUNT: ErrorResponse.Reason
    NO_ACCOUNT_ASSETS: ErrorResponse.Reason
    NO_ACCOUNT_DETAIL: ErrorResponse.Reason
    NO_SIGNATORIES: ErrorResponse.Reason
    NOT_SUPPORTED: ErrorResponse.Reason
    NO_ASSET: ErrorResponse.Reason
    NO_ROLES: ErrorResponse.Reason
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    reason: ErrorResponse.Reason
    message: str
    error_code: int
    def __init__(self, reason: _Optional[_Union[ErrorResponse.Reason, str]] = ..., message: _Optional[str] = ..., error_code: _Optional[int] = ...) -> None: ...

class SignatoriesResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keys: _Optional[_Iterable[str]] = ...) -> None: ...

class TransactionsResponse(_message.Message):
    __slots__ = ("transactions",)
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[_transaction_pb2.Transaction]
    def __init__(self, transactions: _Optional[_Iterable[_Union[_transaction_pb2.Transaction, _Mapping]]] = ...) -> None: ...

class TransactionsPageResponse(_message.Message):
    __slots__ = ("transactions", "all_transactions_size", "next_tx_hash")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    ALL_TRANSACTIONS_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEXT_TX_HASH_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[_transaction_pb2.Transaction]
    all_transactions_size: int
    next_tx_hash: str
    def __init__(self, transactions: _Optional[_Iterable[_Union[_transaction_pb2.Transaction, _Mapping]]] = ..., all_transactions_size: _Optional[int] = ..., next_tx_hash: _Optional[str] = ...) -> None: ...

class PendingTransactionsPageResponse(_message.Message):
    __slots__ = ("transactions", "all_transactions_size", "next_batch_info")
    class BatchInfo(_message.Message):
        __slots__ = ("first_tx_hash", "batch_size")
        FIRST_TX_HASH_FIELD_NUMBER: _ClassVar[int]
        BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
        first_tx_hash: str
        batch_size: int
        def __init__(self, first_tx_hash: _Optional[str] = ..., batch_size: _Optional[int] = ...) -> None: ...
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    ALL_TRANSACTIONS_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEXT_BATCH_INFO_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[_transaction_pb2.Transaction]
    all_transactions_size: int
    next_batch_info: PendingTransactionsPageResponse.BatchInfo
    def __init__(self, transactions: _Optional[_Iterable[_Union[_transaction_pb2.Transaction, _Mapping]]] = ..., all_transactions_size: _Optional[int] = ..., next_batch_info: _Optional[_Union[PendingTransactionsPageResponse.BatchInfo, _Mapping]] = ...) -> None: ...

class PeersResponse(_message.Message):
    __slots__ = ("peers",)
    PEERS_FIELD_NUMBER: _ClassVar[int]
    peers: _containers.RepeatedCompositeFieldContainer[_primitive_pb2.Peer]
    def __init__(self, peers: _Optional[_Iterable[_Union[_primitive_pb2.Peer, _Mapping]]] = ...) -> None: ...

class EngineReceiptsResponse(_message.Message):
    __slots__ = ("engine_receipts",)
    ENGINE_RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    engine_receipts: _containers.RepeatedCompositeFieldContainer[_primitive_pb2.EngineReceipt]
    def __init__(self, engine_receipts: _Optional[_Iterable[_Union[_primitive_pb2.EngineReceipt, _Mapping]]] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("account_assets_response", "account_detail_response", "account_response", "error_response", "signatories_response", "transactions_response", "asset_response", "roles_response", "role_permissions_response", "transactions_page_response", "pending_transactions_page_response", "block_response", "peers_response", "engine_receipts_response", "query_hash")
    ACCOUNT_ASSETS_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_DETAIL_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    SIGNATORIES_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ASSET_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ROLES_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ROLE_PERMISSIONS_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_PAGE_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    PENDING_TRANSACTIONS_PAGE_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    PEERS_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_RECEIPTS_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    QUERY_HASH_FIELD_NUMBER: _ClassVar[int]
    account_assets_response: AccountAssetResponse
    account_detail_response: AccountDetailResponse
    account_response: AccountResponse
    error_response: ErrorResponse
    signatories_response: SignatoriesResponse
    transactions_response: TransactionsResponse
    asset_response: AssetResponse
    roles_response: RolesResponse
    role_permissions_response: RolePermissionsResponse
    transactions_page_response: TransactionsPageResponse
    pending_transactions_page_response: PendingTransactionsPageResponse
    block_response: BlockResponse
    peers_response: PeersResponse
    engine_receipts_response: EngineReceiptsResponse
    query_hash: str
    def __init__(self, account_assets_response: _Optional[_Union[AccountAssetResponse, _Mapping]] = ..., account_detail_response: _Optional[_Union[AccountDetailResponse, _Mapping]] = ..., account_response: _Optional[_Union[AccountResponse, _Mapping]] = ..., error_response: _Optional[_Union[ErrorResponse, _Mapping]] = ..., signatories_response: _Optional[_Union[SignatoriesResponse, _Mapping]] = ..., transactions_response: _Optional[_Union[TransactionsResponse, _Mapping]] = ..., asset_response: _Optional[_Union[AssetResponse, _Mapping]] = ..., roles_response: _Optional[_Union[RolesResponse, _Mapping]] = ..., role_permissions_response: _Optional[_Union[RolePermissionsResponse, _Mapping]] = ..., transactions_page_response: _Optional[_Union[TransactionsPageResponse, _Mapping]] = ..., pending_transactions_page_response: _Optional[_Union[PendingTransactionsPageResponse, _Mapping]] = ..., block_response: _Optional[_Union[BlockResponse, _Mapping]] = ..., peers_response: _Optional[_Union[PeersResponse, _Mapping]] = ..., engine_receipts_response: _Optional[_Union[EngineReceiptsResponse, _Mapping]] = ..., query_hash: _Optional[str] = ...) -> None: ...

class BlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: _block_pb2.Block
    def __init__(self, block: _Optional[_Union[_block_pb2.Block, _Mapping]] = ...) -> None: ...

class BlockErrorResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class BlockQueryResponse(_message.Message):
    __slots__ = ("block_response", "block_error_response")
    BLOCK_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_ERROR_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    block_response: BlockResponse
    block_error_response: BlockErrorResponse
    def __init__(self, block_response: _Optional[_Union[BlockResponse, _Mapping]] = ..., block_error_response: _Optional[_Union[BlockErrorResponse, _Mapping]] = ...) -> None: ...

class HealthcheckData(_message.Message):
    __slots__ = ("memory_consumption", "is_healthy", "is_syncing", "last_block_height", "last_block_reject")
    MEMORY_CONSUMPTION_FIELD_NUMBER: _ClassVar[int]
    IS_HEALTHY_FIELD_NUMBER: _ClassVar[int]
    IS_SYNCING_FIELD_NUMBER: _ClassVar[int]
    LAST_BLOCK_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LAST_BLOCK_REJECT_FIELD_NUMBER: _ClassVar[int]
    memory_consumption: int
    is_healthy: bool
    is_syncing: bool
    last_block_height: int
    last_block_reject: int
    def __init__(self, memory_consumption: _Optional[int] = ..., is_healthy: _Optional[bool] = ..., is_syncing: _Optional[bool] = ..., last_block_height: _Optional[int] = ..., last_block_reject: _Optional[int] = ...) -> None: ...
