"""Transcript tests of the YAC machine (etcd raft's testdata style).

Each file under ``testdata/`` is a sequence of commands (``> ...``) each followed by
the exact actions the machine must return, one per line. Votes are written
``v<i>/<phase>@<height>:<round>=<P>,<B>`` (``-,-`` = nothing; ``x`` instead of ``v<i>``
= a well-formed key that is not a validator; a trailing ``!`` = bad signature); hashes
are labels (``P1`` = SHA-256 of "P1"). Set ``BAKONG_REWRITE_TRANSCRIPTS=1`` to rewrite
the files from the machine's output, then review the diff.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from dataclasses import replace
from pathlib import Path

import pytest

from node.consensus import (
    BeginRound,
    BroadcastVotes,
    CandidateReady,
    ChainAdvanced,
    CommitBlock,
    FakeKeyring,
    FakeSigner,
    PersistVote,
    ReportEquivocation,
    RequestSync,
    SendVotes,
    StartTimer,
    TimerFired,
    Vote,
    VotesReceived,
    YacAction,
    YacConfig,
    YacMachine,
    sign_vote,
)
from node.consensus.yac import SignState
from node.model import Round

DATA = Path(__file__).parent / "testdata"
REWRITE = os.environ.get("BAKONG_REWRITE_TRANSCRIPTS") == "1"


class Harness:
    def __init__(self, args: dict[str, str]) -> None:
        n = int(args.get("n", "4"))
        ring = FakeKeyring()
        rng = random.Random(7)
        self.signers: list[FakeSigner] = [ring.new_signer(rng) for _ in range(n)]
        self.outsider = ring.new_signer(rng)
        self.names = {s.public_key: f"v{i}" for i, s in enumerate(self.signers)}
        self.names[self.outsider.public_key] = "x"
        self.labels: dict[bytes, str] = {}
        me = int(args.get("me", "0"))
        state = SignState(
            self._signed(args["vote"]) if "vote" in args else None,
            self._signed(args["commit"]) if "commit" in args else None,
        )
        config = YacConfig(vote_delay_ms=1000, round_timeout_ms=int(args.get("timeout", "0")))
        self.machine = YacMachine(
            self.signers[me],
            ring.verify,
            [s.public_key for s in self.signers],
            int(args.get("top", "0")),
            config,
            state,
        )
        self.now = 0

    def h(self, label: str) -> bytes:
        if label == "-":
            return b""
        digest = hashlib.sha256(label.encode()).digest()
        self.labels[digest] = label
        return digest

    def _round(self, text: str) -> Round:
        height, rnd = text.split(":")
        return Round(int(height), int(rnd))

    def _signed(self, text: str) -> tuple[Round, bytes, bytes]:
        rnd, value = text.split("=")
        p, b = value.split(",")
        return (self._round(rnd), self.h(p), self.h(b))

    def vote(self, text: str) -> Vote:
        m = re.fullmatch(r"(v\d+|x)/([12])@(\d+:\d+)=([^,]+),([^!]+)(!?)", text)
        assert m, text
        who, phase, rnd, p, b, bad = m.groups()
        signer = self.outsider if who == "x" else self.signers[int(who[1:])]
        v = sign_vote(signer, self._round(rnd), self.h(p), self.h(b), b"", int(phase))
        if bad:
            v = replace(v, signature=bytes(x ^ 1 for x in v.signature))
        return v

    def label(self, h: bytes) -> str:
        return "-" if not h else self.labels.get(h, h.hex()[:6])

    def show_vote(self, v: Vote) -> str:
        name = self.names.get(v.public_key, v.public_key[:6])
        return (
            f"{name}/{v.phase}@{v.round}={self.label(v.proposal_hash)},{self.label(v.block_hash)}"
        )

    def show_votes(self, votes: tuple[Vote, ...]) -> str:
        return "[" + " ".join(self.show_vote(v) for v in votes) + "]"

    def show(self, a: YacAction) -> str:
        if isinstance(a, PersistVote):
            text = f"PersistVote {a.round} phase={a.phase} {self.label(a.proposal_hash)},"
            text += self.label(a.block_hash)
            return text + (f" just={self.show_votes(a.justification)}" if a.justification else "")
        if isinstance(a, SendVotes):
            return f"SendVotes to={self.names[a.to]} {self.show_votes(a.votes)}"
        if isinstance(a, BroadcastVotes):
            return f"BroadcastVotes {self.show_votes(a.votes)}"
        if isinstance(a, StartTimer):
            return f"StartTimer {a.round} attempt={a.attempt} delay={a.delay_ms}"
        if isinstance(a, CommitBlock):
            value = f"{self.label(a.proposal_hash)},{self.label(a.block_hash)}"
            return f"CommitBlock {a.round} {value} {self.show_votes(a.certificate)}"
        if isinstance(a, BeginRound):
            return f"BeginRound {a.round}"
        if isinstance(a, RequestSync):
            peers = ",".join(self.names[p] for p in a.from_peers)
            return f"RequestSync height={a.height} from=[{peers}]"
        assert isinstance(a, ReportEquivocation)
        return f"ReportEquivocation {self.names[a.public_key]} {a.round}"

    def run(self, command: str) -> list[str]:
        verb, *rest = command.split()
        if verb == "start":
            return [self.show(a) for a in self.machine.start()]
        if verb == "counters":
            return [" ".join(f"{k}={v}" for k, v in sorted(self.machine.counters.items()))]
        if verb == "candidate":
            rnd, p, b = rest
            ev = CandidateReady(self._round(rnd), self.h(p), self.h(b))
            return [self.show(a) for a in self.machine.step(ev)]
        if verb == "votes":
            sender = rest[0].removeprefix("from=")
            pk = (
                self.outsider.public_key
                if sender == "x"
                else self.signers[int(sender[1:])].public_key
            )
            votes = tuple(self.vote(t) for t in rest[1:])
            self.now += 10
            ev = VotesReceived(votes, pk, self.now)
            return [self.show(a) for a in self.machine.step(ev)]
        if verb == "timer":
            rnd, attempt = rest
            return [
                self.show(a) for a in self.machine.step(TimerFired(self._round(rnd), int(attempt)))
            ]
        if verb == "chain":
            return [self.show(a) for a in self.machine.step(ChainAdvanced(int(rest[0])))]
        if verb == "wait":
            self.now += int(rest[0])
            return []
        raise AssertionError(f"unknown command {command!r}")


def run_file(path: Path) -> tuple[list[str], list[str]]:
    """Returns (expected file lines, actual file lines)."""
    lines = path.read_text().splitlines()
    out: list[str] = []
    harness: Harness | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith(">"):
            out.append(line)
            i += 1
            continue
        command = line[1:].strip()
        out.append(line)
        i += 1
        while i < len(lines) and lines[i].strip() and not lines[i].startswith((">", "#")):
            i += 1  # the old expectation
        if command.startswith("setup"):
            args = dict(kv.split("=", 1) for kv in command.split()[1:])
            harness = Harness(args)
            continue
        assert harness is not None, "first command must be setup"
        out.extend(harness.run(command))
    return lines, out


FILES = sorted(DATA.glob("*.txt"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path) -> None:
    expected, actual = run_file(path)
    if REWRITE:
        path.write_text("\n".join(actual) + "\n")
        return
    assert actual == expected


def test_all_classic_cases_have_a_transcript() -> None:
    names = {p.stem for p in FILES}
    assert {"sunny_day", "split_reject", "unknown_voter", "future_round", "late_commit"} <= names
