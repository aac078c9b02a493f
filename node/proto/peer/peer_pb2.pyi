from node.proto.iroha import transaction_pb2 as _transaction_pb2
from node.proto.iroha import proposal_pb2 as _proposal_pb2
from node.proto.iroha import block_pb2 as _block_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Hello(_message.Message):
    __slots__ = ("protocol_version", "chain_id", "public_key", "challenge", "listen_address", "top_height")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    LISTEN_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TOP_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    chain_id: str
    public_key: str
    challenge: bytes
    listen_address: str
    top_height: int
    def __init__(self, protocol_version: _Optional[int] = ..., chain_id: _Optional[str] = ..., public_key: _Optional[str] = ..., challenge: _Optional[bytes] = ..., listen_address: _Optional[str] = ..., top_height: _Optional[int] = ...) -> None: ...

class Auth(_message.Message):
    __slots__ = ("signature",)
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    signature: bytes
    def __init__(self, signature: _Optional[bytes] = ...) -> None: ...

class Round(_message.Message):
    __slots__ = ("block_round", "reject_round")
    BLOCK_ROUND_FIELD_NUMBER: _ClassVar[int]
    REJECT_ROUND_FIELD_NUMBER: _ClassVar[int]
    block_round: int
    reject_round: int
    def __init__(self, block_round: _Optional[int] = ..., reject_round: _Optional[int] = ...) -> None: ...

class Vote(_message.Message):
    __slots__ = ("round", "proposal_hash", "block_hash", "public_key", "signature", "block_signature", "phase")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    round: Round
    proposal_hash: bytes
    block_hash: bytes
    public_key: str
    signature: bytes
    block_signature: bytes
    phase: int
    def __init__(self, round: _Optional[_Union[Round, _Mapping]] = ..., proposal_hash: _Optional[bytes] = ..., block_hash: _Optional[bytes] = ..., public_key: _Optional[str] = ..., signature: _Optional[bytes] = ..., block_signature: _Optional[bytes] = ..., phase: _Optional[int] = ...) -> None: ...

class VoteState(_message.Message):
    __slots__ = ("votes",)
    VOTES_FIELD_NUMBER: _ClassVar[int]
    votes: _containers.RepeatedCompositeFieldContainer[Vote]
    def __init__(self, votes: _Optional[_Iterable[_Union[Vote, _Mapping]]] = ...) -> None: ...

class Batches(_message.Message):
    __slots__ = ("transactions",)
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[_transaction_pb2.Transaction]
    def __init__(self, transactions: _Optional[_Iterable[_Union[_transaction_pb2.Transaction, _Mapping]]] = ...) -> None: ...

class ProposalRequest(_message.Message):
    __slots__ = ("round",)
    ROUND_FIELD_NUMBER: _ClassVar[int]
    round: Round
    def __init__(self, round: _Optional[_Union[Round, _Mapping]] = ...) -> None: ...

class ProposalResponse(_message.Message):
    __slots__ = ("round", "proposal", "has_proposal")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    HAS_PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    round: Round
    proposal: _proposal_pb2.Proposal
    has_proposal: bool
    def __init__(self, round: _Optional[_Union[Round, _Mapping]] = ..., proposal: _Optional[_Union[_proposal_pb2.Proposal, _Mapping]] = ..., has_proposal: _Optional[bool] = ...) -> None: ...

class CommittedBlock(_message.Message):
    __slots__ = ("block", "certificate")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    block: _block_pb2.Block
    certificate: VoteState
    def __init__(self, block: _Optional[_Union[_block_pb2.Block, _Mapping]] = ..., certificate: _Optional[_Union[VoteState, _Mapping]] = ...) -> None: ...

class BlockRequest(_message.Message):
    __slots__ = ("from_height", "max_blocks")
    FROM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    from_height: int
    max_blocks: int
    def __init__(self, from_height: _Optional[int] = ..., max_blocks: _Optional[int] = ...) -> None: ...

class BlockResponse(_message.Message):
    __slots__ = ("blocks", "top_height")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    TOP_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedCompositeFieldContainer[CommittedBlock]
    top_height: int
    def __init__(self, blocks: _Optional[_Iterable[_Union[CommittedBlock, _Mapping]]] = ..., top_height: _Optional[int] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("top_height", "round")
    TOP_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    top_height: int
    round: Round
    def __init__(self, top_height: _Optional[int] = ..., round: _Optional[_Union[Round, _Mapping]] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("hello", "auth", "votes", "batches", "proposal_request", "proposal_response", "block_request", "block_response", "status")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    VOTES_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_REQUEST_FIELD_NUMBER: _ClassVar[int]
    BLOCK_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    auth: Auth
    votes: VoteState
    batches: Batches
    proposal_request: ProposalRequest
    proposal_response: ProposalResponse
    block_request: BlockRequest
    block_response: BlockResponse
    status: Status
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., auth: _Optional[_Union[Auth, _Mapping]] = ..., votes: _Optional[_Union[VoteState, _Mapping]] = ..., batches: _Optional[_Union[Batches, _Mapping]] = ..., proposal_request: _Optional[_Union[ProposalRequest, _Mapping]] = ..., proposal_response: _Optional[_Union[ProposalResponse, _Mapping]] = ..., block_request: _Optional[_Union[BlockRequest, _Mapping]] = ..., block_response: _Optional[_Union[BlockResponse, _Mapping]] = ..., status: _Optional[_Union[Status, _Mapping]] = ...) -> None: ...
