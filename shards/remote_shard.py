"""A replica on another peer, reached through the internal gRPC client the node injects."""

from __future__ import annotations

from typing import Any

from shards.operations import CountRequest, ScrollRequest, SearchRequest, UpdateOperation
from shards.types import PayloadSelector, PointId, Record, ScoredPoint, VectorSelector


class RemoteShard:
    """One shard replica on a remote peer, with the same async interface as a local one.

    ``client`` is the p2p client (``transport.p2p.client.PeerClient``) and
    ``peer_uri`` the peer's p2p URI; the shard layer never imports transport.
    """

    def __init__(self, client: Any, peer_id: int, peer_uri: str, collection: str, shard_id: int) -> None:
        self._client = client
        self.peer_id = peer_id
        self.peer_uri = peer_uri
        self.collection = collection
        self.shard_id = shard_id

    async def update(self, op: UpdateOperation, forward: bool = False, op_num: int | None = None) -> int:
        return await self._client.update(self.peer_uri, self.collection, self.shard_id, op, op_num, forward)

    async def search(self, request: SearchRequest) -> list[ScoredPoint]:
        return await self._client.search(self.peer_uri, self.collection, self.shard_id, request)

    async def scroll(self, request: ScrollRequest) -> list[Record]:
        return await self._client.scroll(self.peer_uri, self.collection, self.shard_id, request)

    async def count(self, request: CountRequest) -> int:
        return await self._client.count(self.peer_uri, self.collection, self.shard_id, request)

    async def retrieve(
        self, ids: list[PointId], with_payload: PayloadSelector, with_vector: VectorSelector
    ) -> list[Record]:
        return await self._client.retrieve(self.peer_uri, self.collection, self.shard_id, ids, with_payload, with_vector)

    async def sparse_stats(self, vector_name: str, indices: list[int]) -> tuple[int, dict[int, int]]:
        return await self._client.sparse_stats(self.peer_uri, self.collection, self.shard_id, vector_name, indices)
