from node.proto.iroha import commands_pb2 as _commands_pb2
from node.proto.iroha import primitive_pb2 as _primitive_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Transaction(_message.Message):
    __slots__ = ("payload", "signatures")
    class Payload(_message.Message):
        __slots__ = ("reduced_payload", "batch")
        class BatchMeta(_message.Message):
            __slots__ = ("type", "reduced_hashes")
            class BatchType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
                __slots__ = ()
                ATOMIC: _ClassVar[Transaction.Payload.BatchMeta.BatchType]
                ORDERED: _ClassVar[Transaction.Payload.BatchMeta.BatchType]
            ATOMIC: Transaction.Payload.BatchMeta.BatchType
            ORDERED: Transaction.Payload.BatchMeta.BatchType
            TYPE_FIELD_NUMBER: _ClassVar[int]
            REDUCED_HASHES_FIELD_NUMBER: _ClassVar[int]
            type: Transaction.Payload.BatchMeta.BatchType
            reduced_hashes: _containers.RepeatedScalarFieldContainer[str]
            def __init__(self, type: _Optional[_Union[Transaction.Payload.BatchMeta.BatchType, str]] = ..., reduced_hashes: _Optional[_Iterable[str]] = ...) -> None: ...
        class ReducedPayload(_message.Message):
            __slots__ = ("commands", "creator_account_id", "created_time", "quorum")
            COMMANDS_FIELD_NUMBER: _ClassVar[int]
            CREATOR_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
            CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
            QUORUM_FIELD_NUMBER: _ClassVar[int]
            commands: _containers.RepeatedCompositeFieldContainer[_commands_pb2.Command]
            creator_account_id: str
            created_time: int
            quorum: int
            def __init__(self, commands: _Optional[_Iterable[_Union[_commands_pb2.Command, _Mapping]]] = ..., creator_account_id: _Optional[str] = ..., created_time: _Optional[int] = ..., quorum: _Optional[int] = ...) -> None: ...
        REDUCED_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
        BATCH_FIELD_NUMBER: _ClassVar[int]
        reduced_payload: Transaction.Payload.ReducedPayload
        batch: Transaction.Payload.BatchMeta
        def __init__(self, reduced_payload: _Optional[_Union[Transaction.Payload.ReducedPayload, _Mapping]] = ..., batch: _Optional[_Union[Transaction.Payload.BatchMeta, _Mapping]] = ...) -> None: ...
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    payload: Transaction.Payload
    signatures: _containers.RepeatedCompositeFieldContainer[_primitive_pb2.Signature]
    def __init__(self, payload: _Optional[_Union[Transaction.Payload, _Mapping]] = ..., signatures: _Optional[_Iterable[_Union[_primitive_pb2.Signature, _Mapping]]] = ...) -> None: ...
