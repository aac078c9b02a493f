"""Catch-up driver: fetch committed blocks from peers in chunks, verify, apply.

The node calls :meth:`BlockSyncer.want` whenever it learns that a peer is ahead (a
Hello or Status frame, or consensus asking with ``RequestSync``) and routes
``BlockResponse`` frames to :meth:`on_response`. One request is in flight at a time;
a peer that times out, answers nothing useful or sends a block whose certificate does
not verify is skipped for the rest of that catch-up (logged and counted). Blocks are
applied one by one, each certificate checked against the validator set in force at
that height, so validator-set changes inside the synced range are followed exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import trio

from node.consensus.vote import VoteVerifier
from node.log import get_logger
from node.model import block_hash
from node.proto.iroha import block_pb2
from node.proto.peer import peer_pb2
from node.sync.certificate import certificate_problem, decode_certificate

log = get_logger("sync")


def serve_block_request(
    get_block: Callable[[int], tuple[block_pb2.Block, bytes] | None],
    top_height: int,
    req: peer_pb2.BlockRequest,
    max_blocks: int,
    max_bytes: int,
) -> peer_pb2.BlockResponse:
    """Answer a peer's request from the local block store, within count and size limits."""
    resp = peer_pb2.BlockResponse(top_height=top_height)
    size = 16
    want = min(max(req.max_blocks, 1), max_blocks)
    h = max(req.from_height, 1)
    while h <= top_height and len(resp.blocks) < want:
        stored = get_block(h)
        if stored is None:
            break
        block, cert = stored
        entry = peer_pb2.CommittedBlock(block=block)
        if cert:
            entry.certificate.ParseFromString(cert)
        n = entry.ByteSize() + 8
        if resp.blocks and size + n > max_bytes:
            break
        size += n
        resp.blocks.append(entry)
        h += 1
    return resp


@dataclass
class SyncStats:
    requests: int = 0
    timeouts: int = 0
    blocks_applied: int = 0
    bad_blocks: int = 0
    bad_peers: set[str] = field(default_factory=set)


class BlockSyncer:
    def __init__(
        self,
        *,
        height: Callable[[], int],
        validators: Callable[[], Sequence[str]],
        apply: Callable[[block_pb2.Block, bytes], Awaitable[str | None]],
        send: Callable[[str, peer_pb2.Frame], bool],
        verify: VoteVerifier,
        chunk_blocks: int = 200,
        request_timeout_s: float = 3.0,
    ) -> None:
        self._height = height
        self._validators = validators
        self._apply = apply  # returns None when applied, else the reason it was refused
        self._send = send
        self._verify = verify
        self._chunk = chunk_blocks
        self._timeout = request_timeout_s
        self.target = 0
        self._peers: dict[str, int] = {}  # peer -> the height it told us it has
        self._wake = trio.Event()
        self._send_resp, self._recv_resp = trio.open_memory_channel[
            tuple[str, peer_pb2.BlockResponse]
        ](4)
        self._waiting_for: tuple[str, int] | None = None
        self.stats = SyncStats()
        self.syncing = False

    def want(self, height: int, peers: Sequence[str]) -> None:
        """Some peers say the chain reaches ``height``: catch up if we are behind."""
        for p in peers:
            self._peers[p] = max(self._peers.get(p, 0), height)
        if height > self.target:
            self.target = height
        if self.target > self._height():
            self._wake.set()

    def on_response(self, peer: str, resp: peer_pb2.BlockResponse) -> None:
        if resp.top_height:
            self._peers[peer] = max(self._peers.get(peer, 0), resp.top_height)
            self.target = max(self.target, resp.top_height)
        if self._waiting_for is None or self._waiting_for[0] != peer:
            return  # unsolicited or late: the height hint above is all we keep
        with contextlib.suppress(trio.WouldBlock):
            self._send_resp.send_nowait((peer, resp))

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if self.target <= self._height():
                continue
            self.syncing = True
            try:
                await self._catch_up()
            finally:
                self.syncing = False

    def _candidates(self, need: int, skip: set[str]) -> list[str]:
        return sorted(
            (p for p, h in self._peers.items() if h >= need and p not in skip),
            key=lambda p: -self._peers[p],
        )

    async def _catch_up(self) -> None:
        skip: set[str] = set()
        start = self._height()
        log.info("sync_start", height=start, target=self.target)
        while self.target > self._height():
            need = self._height() + 1
            candidates = self._candidates(need, skip)
            if not candidates:
                # nobody reachable has the blocks now; wait for a new hint
                log.info("sync_stalled", height=self._height(), target=self.target)
                return
            peer = candidates[0]
            req = peer_pb2.Frame(
                block_request=peer_pb2.BlockRequest(from_height=need, max_blocks=self._chunk)
            )
            self._waiting_for = (peer, need)
            self.stats.requests += 1
            if not self._send(peer, req):
                skip.add(peer)
                continue
            resp: peer_pb2.BlockResponse | None = None
            with trio.move_on_after(self._timeout):
                while True:
                    sender, r = await self._recv_resp.receive()
                    if sender == peer:
                        resp = r
                        break
            self._waiting_for = None
            if resp is None:
                self.stats.timeouts += 1
                skip.add(peer)
                log.info("sync_timeout", peer=peer[:16], height=need)
                continue
            if not resp.blocks:
                skip.add(peer)
                continue
            if not await self._apply_blocks(peer, resp.blocks):
                skip.add(peer)
        log.info("sync_done", height=self._height(), applied=self._height() - start)

    async def _apply_blocks(self, peer: str, blocks: Sequence[peer_pb2.CommittedBlock]) -> bool:
        for entry in blocks:
            block = entry.block
            p = block.block_v1.payload
            if p.height != self._height() + 1:
                if p.height <= self._height():
                    continue  # someone else applied it meanwhile
                return self._bad(peer, p.height, "block out of order")
            votes = decode_certificate(entry.certificate.SerializeToString())
            if votes is None:
                return self._bad(peer, p.height, "malformed certificate")
            why = certificate_problem(
                votes, block_hash(block.block_v1), p.height, self._validators(), self._verify
            )
            if why is not None:
                return self._bad(peer, p.height, why)
            refused = await self._apply(block, entry.certificate.SerializeToString())
            if refused is not None:
                return self._bad(peer, p.height, refused)
            self.stats.blocks_applied += 1
        return True

    def _bad(self, peer: str, height: int, why: str) -> bool:
        self.stats.bad_blocks += 1
        self.stats.bad_peers.add(peer)
        log.warning("sync_block_refused", peer=peer[:16], height=height, reason=why)
        return False
