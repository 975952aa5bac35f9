"""Background cluster work that follows the replicated state.

After every applied metadata operation this looks at what the state asks of
this peer and starts (at most one of each) the tasks that make it true:
activating a replica it has just created, recovering a replica marked Dead,
and streaming a shard transfer it is the source of. It also admits joining
peers and deactivates replicas that failed a write.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Coroutine

from consensus.errors import DomainError, NotFound, ServiceUnavailable
from consensus.operations import (
    AbortTransfer,
    AddPeer,
    FinishTransfer,
    SetReplicaState,
    StartTransfer,
)
from consensus.raft import RaftNode
from consensus.state import ClusterState
from node.catalog import CollectionCatalog
from node.membership import MembersFile, raft_address_of
from shards.operations import ScrollRequest
from shards.types import PayloadSelector, VectorSelector

logger = logging.getLogger(__name__)

TRANSFER_BATCH = 256
RECOVERY_RETRY_SECONDS = 1.0
PROPOSE_TIMEOUT = 30.0
LIVENESS_TIMEOUT = 1.0
TRANSFER_BEGIN_TIMEOUT = 30.0
TARGET_DOWN_SECONDS = 10.0


class ClusterTasks:
    """Starts and tracks the tasks the cluster state asks of this peer."""

    def __init__(
        self,
        catalog: CollectionCatalog,
        raft: RaftNode,
        peer_id: int,
        client: Any,
        members: MembersFile | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._catalog = catalog
        self._raft = raft
        self._peer_id = peer_id
        self._client = client  # transport.p2p.client.PeerClient
        self._members = members
        self._loop = loop
        self._running: dict[tuple, asyncio.Task] = {}
        self._closed = False
        self.transfers_in: dict[tuple[str, int], int] = {}
        self.transfers_out: dict[tuple[str, int], int] = {}

    # ------------------------------------------------------------------ plumbing

    async def propose(self, op: Any) -> Any:
        return await asyncio.to_thread(self._raft.propose, op, PROPOSE_TIMEOUT)

    def peer_uri(self, peer_id: int) -> str:
        uri = self._raft.state.peers.get(peer_id)
        if uri is None:
            raise ServiceUnavailable(f"Unknown peer {peer_id}")
        return uri

    def state_changed(self, state: ClusterState) -> None:
        """Called on the Raft thread after every applied operation."""
        if self._members is not None and state.peers:
            self._members.save(dict(state.peers))
        if not self._closed:
            try:
                self._loop.call_soon_threadsafe(self._examine)
            except RuntimeError:
                pass  # the loop is closed: the node is stopping

    def start(self) -> None:
        self._loop.call_soon_threadsafe(self._examine)

    async def stop(self) -> None:
        self._closed = True
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _spawn(self, key: tuple, factory: Callable[[], Coroutine]) -> None:
        if self._closed or key in self._running:
            return
        task = self._loop.create_task(factory())
        self._running[key] = task
        task.add_done_callback(lambda _t: self._running.pop(key, None))

    def _examine(self) -> None:
        state = self._raft.state
        me = self._peer_id
        for name, meta in state.collections.items():
            transfers = list(getattr(meta, "transfers", ()))
            for shard_id, replicas in meta.shards.items():
                mine = replicas.get(me)
                incoming = [t for t in transfers if t.shard_id == shard_id and t.to_peer == me]
                if mine == "Initializing":
                    self._spawn(("activate", name, shard_id), lambda n=name, s=shard_id: self._activate(n, s))
                elif mine == "Dead" and not incoming:
                    self._spawn(("recover", name, shard_id), lambda n=name, s=shard_id: self._recover(n, s))
            for transfer in transfers:
                if transfer.from_peer == me:
                    key = ("transfer", name, transfer.shard_id, transfer.to_peer)
                    self._spawn(key, lambda n=name, t=transfer: self._stream(n, t))
        # A transfer that was aborted (or whose shard went away) stops streaming.
        live = {
            ("transfer", name, t.shard_id, t.to_peer)
            for name, meta in state.collections.items()
            for t in getattr(meta, "transfers", ())
            if t.from_peer == me
        }
        for key, task in list(self._running.items()):
            if key[0] == "transfer" and key not in live:
                task.cancel()

    # ------------------------------------------------------------------ membership

    async def admit_peer(self, peer_id: int, uri: str) -> dict:
        """Add a joining peer: Raft membership first, then the replicated peer list."""
        if not self._raft.is_leader:
            leader = self._leader_uri()
            if leader is None:
                raise ServiceUnavailable("No Raft leader to admit the peer; retry")
            return await self._client.join(leader, peer_id, uri, raft_address_of(uri))
        known = self._raft.state.peers
        if known.get(peer_id) != uri:
            members = self._raft.status().get("members", [])
            if raft_address_of(uri) not in members:
                await asyncio.to_thread(self._raft.add_member, raft_address_of(uri), PROPOSE_TIMEOUT)
            await self.propose(AddPeer(peer_id=peer_id, uri=uri))
        return {"members": {str(peer): peer_uri for peer, peer_uri in self._raft.state.peers.items()}}

    async def members(self) -> dict:
        return {"members": {str(peer): uri for peer, uri in self._raft.state.peers.items()}}

    async def live_peers(self, peers: list[int], timeout: float = LIVENESS_TIMEOUT) -> list[int]:
        """The peers of ``peers`` that answer a health check now (this peer always does).

        New replicas are placed on these: a replica placed on a down peer would stay
        Initializing and hold the creating request up until its deadline. All of
        ``peers`` when none answers (the caller's proposal then fails on its own).
        """

        async def alive(peer: int) -> bool:
            if peer == self._peer_id:
                return True
            try:
                return await self._client.health(self.peer_uri(peer), timeout=timeout) == peer
            except DomainError:
                return False

        answers = await asyncio.gather(*(alive(peer) for peer in peers))
        return [peer for peer, ok in zip(peers, answers) if ok] or list(peers)

    def _leader_uri(self) -> str | None:
        leader = self._raft.leader_address
        for peer_uri in self._raft.state.peers.values():
            if raft_address_of(peer_uri) == leader:
                return peer_uri
        return None

    # ------------------------------------------------------------------ replicas

    async def replica_failed(self, name: str, shard_id: int, peer_id: int) -> None:
        """A replica failed a write: mark it Dead so that reads and writes skip it."""
        meta = self._raft.state.collection(name)
        if meta is None or meta.shards.get(shard_id, {}).get(peer_id) in (None, "Dead"):
            return
        logger.warning("marking replica of %s/%d on peer %d Dead", name, shard_id, peer_id)
        await self.propose(SetReplicaState(collection=name, shard_id=shard_id, peer_id=peer_id, state="Dead"))

    async def _activate(self, name: str, shard_id: int) -> None:
        try:
            await self.propose(SetReplicaState(collection=name, shard_id=shard_id, peer_id=self._peer_id, state="Active"))
        except DomainError as exc:
            logger.warning("could not activate %s/%d: %s", name, shard_id, exc)

    async def _recover(self, name: str, shard_id: int) -> None:
        """Ask for a transfer into this peer's Dead replica from an Active one, until it starts."""
        while not self._closed:
            meta = self._raft.state.collection(name)
            if meta is None or meta.shards.get(shard_id, {}).get(self._peer_id) != "Dead":
                return
            if any(t.shard_id == shard_id and t.to_peer == self._peer_id for t in getattr(meta, "transfers", ())):
                return
            sources = [p for p, s in meta.shards[shard_id].items() if s == "Active" and p != self._peer_id]
            if sources:
                try:
                    await self.propose(
                        StartTransfer(collection=name, shard_id=shard_id, from_peer=max(sources),
                                      to_peer=self._peer_id, sync=True)
                    )
                    return
                except DomainError as exc:
                    logger.info("recovery of %s/%d not started yet: %s", name, shard_id, exc)
            await asyncio.sleep(RECOVERY_RETRY_SECONDS)

    # ------------------------------------------------------------------ transfers

    async def _stream(self, name: str, transfer: Any) -> None:
        """Source side of a transfer: stream every record, then make the target Active."""
        shard_id, target = transfer.shard_id, transfer.to_peer
        key = (name, shard_id)
        self.transfers_out[key] = self.transfers_out.get(key, 0) + 1
        try:
            await self._stream_records(name, shard_id, target)
            await self.propose(
                FinishTransfer(collection=name, shard_id=shard_id, from_peer=self._peer_id, to_peer=target)
            )
            logger.info("transfer of %s/%d to peer %d finished", name, shard_id, target)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("transfer of %s/%d to peer %d failed: %s", name, shard_id, target, exc)
            try:
                await self.propose(
                    AbortTransfer(collection=name, shard_id=shard_id, from_peer=self._peer_id, to_peer=target)
                )
            except DomainError as abort_error:
                logger.warning("could not abort transfer of %s/%d: %s", name, shard_id, abort_error)
        finally:
            self.transfers_out[key] -= 1

    async def _stream_records(self, name: str, shard_id: int, target: int) -> None:
        replica_set = self._catalog.get(name).shards[shard_id]
        local = replica_set.local
        if local is None:
            raise NotFound(f"Not found: no local replica of {name}/{shard_id} to transfer from")
        target_uri = self.peer_uri(target)
        # Every write this replica applies from now on is forwarded to the target too
        # (``ReplicaSet.update_local``, under the transfer lock), once it has been emptied.
        deadline = self._loop.time() + TRANSFER_BEGIN_TIMEOUT
        down_since: float | None = None
        while True:
            try:
                async with replica_set.transfer_lock:
                    await self._client.forward(
                        target_uri, "transfer_begin", {"collection": name, "shard_id": shard_id}
                    )
                    replica_set.transfer_failures.pop(target, None)
                    replica_set.ready_targets.add(target)
                break
            except ServiceUnavailable as exc:
                # The target has not applied the transfer's start yet (or is briefly down).
                if self._loop.time() >= deadline:
                    raise
                # A target that stays down ends the transfer soon (its replica goes back
                # to Dead and is recovered when it returns), not after the whole deadline.
                try:
                    await self._client.health(target_uri, timeout=1.0)
                    down_since = None
                except DomainError:
                    down_since = down_since if down_since is not None else self._loop.time()
                    if self._loop.time() - down_since >= TARGET_DOWN_SECONDS:
                        raise exc from None
                logger.debug("target %d not ready for %s/%d yet: %s", target, name, shard_id, exc)
                await asyncio.sleep(0.05)
        # A write applied here before the target was added is not forwarded to it: the
        # records streamed below must include it, so let it finish first.
        await replica_set.wait_unforwarded_writes()
        offset = None
        while True:
            failure = replica_set.transfer_failures.get(target)
            if failure is not None:
                raise failure
            async with replica_set.transfer_lock:
                request = ScrollRequest(
                    limit=TRANSFER_BATCH + 1,
                    offset=offset,
                    with_payload=PayloadSelector(),
                    with_vector=VectorSelector(enabled=True),
                )
                records = await asyncio.to_thread(local.scroll, request)
                batch, rest = records[:TRANSFER_BATCH], records[TRANSFER_BATCH:]
                await self._client.transfer_batch(target_uri, name, shard_id, batch, not rest)
            if not rest:
                failure = replica_set.transfer_failures.get(target)
                if failure is not None:
                    raise failure
                return
            offset = rest[0].id
