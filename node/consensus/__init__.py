"""YAC consensus: the pure vote-collection state machine and its quorum arithmetic.

Owns: :mod:`supermajority` (q = n - f), :mod:`vote` (signed votes and the signer seam),
:mod:`yac` (``YacMachine.step(event) -> actions``: rounds, votes and commit votes,
Tendermint-style locks, certificates, back-propagation, equivocation evidence,
sign-state persistence), :mod:`codec`
(``bakong.peer`` protobufs) and :mod:`pipeline` (one node's round: ordering ->
execution -> YAC, driven identically by the trio runtime and the simulator).

Must not import trio, sockets, the clock or the global ``random``; time and
randomness arrive as event fields and injected objects.
"""

from node.consensus.supermajority import QuorumRule, max_faulty, quorum
from node.consensus.vote import FakeKeyring, FakeSigner, Vote, VoteSigner, VoteVerifier, sign_vote
from node.consensus.yac import (
    BeginRound,
    BroadcastVotes,
    CandidateReady,
    ChainAdvanced,
    CommitBlock,
    PersistVote,
    ReportEquivocation,
    RequestSync,
    SendVotes,
    SignState,
    StartTimer,
    TimerFired,
    VotesReceived,
    YacAction,
    YacConfig,
    YacEvent,
    YacMachine,
    peer_order,
)

__all__ = [
    "BeginRound",
    "BroadcastVotes",
    "CandidateReady",
    "ChainAdvanced",
    "CommitBlock",
    "FakeKeyring",
    "FakeSigner",
    "PersistVote",
    "QuorumRule",
    "ReportEquivocation",
    "RequestSync",
    "SendVotes",
    "SignState",
    "StartTimer",
    "TimerFired",
    "Vote",
    "VoteSigner",
    "VoteVerifier",
    "VotesReceived",
    "YacAction",
    "YacConfig",
    "YacEvent",
    "YacMachine",
    "max_faulty",
    "peer_order",
    "quorum",
    "sign_vote",
]
