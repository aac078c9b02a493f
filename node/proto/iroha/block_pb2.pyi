from node.proto.iroha import primitive_pb2 as _primitive_pb2
from node.proto.iroha import transaction_pb2 as _transaction_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Block_v1(_message.Message):
    __slots__ = ("payload", "signatures")
    class Payload(_message.Message):
        __slots__ = ("transactions", "tx_number", "height", "prev_block_hash", "created_time", "rejected_transactions_hashes")
        TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
        TX_NUMBER_FIELD_NUMBER: _ClassVar[int]
        HEIGHT_FIELD_NUMBER: _ClassVar[int]
        PREV_BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
        CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
        REJECTED_TRANSACTIONS_HASHES_FIELD_NUMBER: _ClassVar[int]
        transactions: _containers.RepeatedCompositeFieldContainer[_transaction_pb2.Transaction]
        tx_number: int
        height: int
        prev_block_hash: str
        created_time: int
        rejected_transactions_hashes: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, transactions: _Optional[_Iterable[_Union[_transaction_pb2.Transaction, _Mapping]]] = ..., tx_number: _Optional[int] = ..., height: _Optional[int] = ..., prev_block_hash: _Optional[str] = ..., created_time: _Optional[int] = ..., rejected_transactions_hashes: _Optional[_Iterable[str]] = ...) -> None: ...
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    payload: Block_v1.Payload
    signatures: _containers.RepeatedCompositeFieldContainer[_primitive_pb2.Signature]
    def __init__(self, payload: _Optional[_Union[Block_v1.Payload, _Mapping]] = ..., signatures: _Optional[_Iterable[_Union[_primitive_pb2.Signature, _Mapping]]] = ...) -> None: ...

class Block(_message.Message):
    __slots__ = ("block_v1",)
    BLOCK_V1_FIELD_NUMBER: _ClassVar[int]
    block_v1: Block_v1
    def __init__(self, block_v1: _Optional[_Union[Block_v1, _Mapping]] = ...) -> None: ...
