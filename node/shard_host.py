"""What this node serves to its peers over the p2p port: shard reads/writes and membership."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from consensus.errors import BadInput, ServiceUnavailable
from node.catalog import CollectionCatalog
from shards.filters import Filter
from shards.operations import (
    CountRequest,
    DeletePoints,
    PointSelector,
    ScrollRequest,
    SearchRequest,
    UpdateOperation,
)
from shards.replica_set import ReplicaSet
from shards.types import PayloadSelector, PointId, Record, ScoredPoint, VectorSelector

logger = logging.getLogger(__name__)


class NodeShardHost:
    """Serves the internal shard API from this node's catalog (``transport.p2p.server.ShardHost``)."""

    def __init__(self, catalog: CollectionCatalog) -> None:
        self._catalog = catalog

    def _replica_set(self, collection: str, shard_id: int) -> ReplicaSet:
        replica_set = self._catalog.get(collection).shards.get(shard_id)
        if replica_set is None:
            raise ServiceUnavailable(f"Shard {shard_id} of `{collection}` is not known on this peer yet")
        return replica_set

    def _local(self, collection: str, shard_id: int) -> Any:
        return self._replica_set(collection, shard_id).replica(self._catalog.peer_id)

    async def update(
        self, collection: str, shard_id: int, op: UpdateOperation, op_num: int | None, forward: bool
    ) -> int:
        if forward:
            # The sender chose this peer to coordinate the write across the replica set.
            return await self._replica_set(collection, shard_id).update(op, "weak", forwarded=True)
        # A write to this peer's replica: forwarded on if it is a transfer's source.
        return await self._replica_set(collection, shard_id).update_local(op, op_num)

    async def search(self, collection: str, shard_id: int, request: SearchRequest) -> list[ScoredPoint]:
        return await self._local(collection, shard_id).search(request)

    async def scroll(self, collection: str, shard_id: int, request: ScrollRequest) -> list[Record]:
        return await self._local(collection, shard_id).scroll(request)

    async def count(self, collection: str, shard_id: int, request: CountRequest) -> int:
        return await self._local(collection, shard_id).count(request)

    async def retrieve(
        self,
        collection: str,
        shard_id: int,
        ids: list[PointId],
        with_payload: PayloadSelector,
        with_vector: VectorSelector,
    ) -> list[Record]:
        return await self._local(collection, shard_id).retrieve(list(ids), with_payload, with_vector)

    async def sparse_stats(
        self, collection: str, shard_id: int, vector_name: str, indices: list[int]
    ) -> tuple[int, dict[int, int]]:
        return await self._local(collection, shard_id).sparse_stats(vector_name, indices)

    async def receive_transfer(self, collection: str, shard_id: int, records: list[Record], last: bool) -> None:
        """Store a batch of a shard transfer: whole records, as the source holds them."""
        if not records:
            return
        local = self._replica_set(collection, shard_id).local
        if local is None:
            raise ServiceUnavailable(f"Shard {shard_id} of `{collection}` has no replica on this peer yet")
        await asyncio.to_thread(local.restore, records)

    async def clear_local(self, collection: str, shard_id: int) -> None:
        """Empty this peer's replica before a transfer refills it.

        Refused (the source retries) until this peer has applied the transfer's start:
        only then does its replica take forwarded writes as a transfer target should.
        """
        replica_set = self._replica_set(collection, shard_id)
        if replica_set.replicas.get(self._catalog.peer_id) != "Partial":
            raise ServiceUnavailable(f"Shard {shard_id} of `{collection}` is not a transfer target on this peer yet")
        everything = DeletePoints(selector=PointSelector(filter=Filter()))
        await replica_set.replica(self._catalog.peer_id).update(everything, False)


class NodePeerHost:
    """Serves membership requests (``transport.p2p.server.PeerHost``)."""

    def __init__(self, peer_id: int, tasks: Any, shard_host: NodeShardHost) -> None:
        self._peer_id = peer_id
        self._tasks = tasks  # node.cluster_tasks.ClusterTasks
        self._shard_host = shard_host

    def peer_id(self) -> int:
        return self._peer_id

    async def join(self, peer_id: int, uri: str, raft_address: str) -> dict:
        return await self._tasks.admit_peer(peer_id, uri)

    async def forward(self, kind: str, body: dict) -> dict:
        if kind == "members":
            return await self._tasks.members()
        if kind == "transfer_begin":
            await self._shard_host.clear_local(body["collection"], int(body["shard_id"]))
            return {"ok": True}
        raise BadInput(f"unknown peer request kind {kind!r}")


async def wait_for(condition, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition()`` until true or the deadline passes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if condition():
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(interval)
