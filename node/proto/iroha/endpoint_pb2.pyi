from node.proto.iroha import transaction_pb2 as _transaction_pb2
from node.proto.iroha import queries_pb2 as _queries_pb2
from node.proto.iroha import qry_responses_pb2 as _qry_responses_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TxStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATELESS_VALIDATION_FAILED: _ClassVar[TxStatus]
    STATELESS_VALIDATION_SUCCESS: _ClassVar[TxStatus]
    STATEFUL_VALIDATION_FAILED: _ClassVar[TxStatus]
    STATEFUL_VALIDATION_SUCCESS: _ClassVar[TxStatus]
    REJECTED: _ClassVar[TxStatus]
    COMMITTED: _ClassVar[TxStatus]
    MST_EXPIRED: _ClassVar[TxStatus]
    NOT_RECEIVED: _ClassVar[TxStatus]
    MST_PENDING: _ClassVar[TxStatus]
    ENOUGH_SIGNATURES_COLLECTED: _ClassVar[TxStatus]
STATELESS_VALIDATION_FAILED: TxStatus
STATELESS_VALIDATION_SUCCESS: TxStatus
STATEFUL_VALIDATION_FAILED: TxStatus
STATEFUL_VALIDATION_SUCCESS: TxStatus
REJECTED: TxStatus
COMMITTED: TxStatus
MST_EXPIRED: TxStatus
NOT_RECEIVED: TxStatus
MST_PENDING: TxStatus
ENOUGH_SIGNATURES_COLLECTED: TxStatus

class ToriiResponse(_message.Message):
    __slots__ = ("tx_status", "tx_hash", "err_or_cmd_name", "failed_cmd_index", "error_code")
    TX_STATUS_FIELD_NUMBER: _ClassVar[int]
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    ERR_OR_CMD_NAME_FIELD_NUMBER: _ClassVar[int]
    FAILED_CMD_INDEX_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    tx_status: TxStatus
    tx_hash: str
    err_or_cmd_name: str
    failed_cmd_index: int
    error_code: int
    def __init__(self, tx_status: _Optional[_Union[TxStatus, str]] = ..., tx_hash: _Optional[str] = ..., err_or_cmd_name: _Optional[str] = ..., failed_cmd_index: _Optional[int] = ..., error_code: _Optional[int] = ...) -> None: ...

class TxStatusRequest(_message.Message):
    __slots__ = ("tx_hash",)
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    tx_hash: str
    def __init__(self, tx_hash: _Optional[str] = ...) -> None: ...

class TxList(_message.Message):
    __slots__ = ("transactions",)
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[_transaction_pb2.Transaction]
    def __init__(self, transactions: _Optional[_Iterable[_Union[_transaction_pb2.Transaction, _Mapping]]] = ...) -> None: ...
