"""The replicas of one shard, and the policy for reading and writing them.

On a single node a replica set holds exactly one local replica. The cluster
adds remote replicas behind the same interface; failures are reported through
``on_replica_failure``, never by calling consensus directly.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

from consensus.errors import ServiceUnavailable
from shards.local_shard import LocalShard
from shards.search_worker import GraphQuery, SearchWorker
from shards.operations import CountRequest, ScrollRequest, SearchRequest, UpdateOperation
from shards.types import PayloadSelector, PointId, Record, ScoredPoint, VectorSelector

logger = logging.getLogger(__name__)

_SEARCH_WORKER = SearchWorker()


class ReplicaSet:
    """All replicas of one shard id; routes reads and writes to them."""

    def __init__(
        self,
        shard_id: int,
        local: LocalShard | None,
        on_replica_failure: Callable[[int, int], None] | None = None,
    ) -> None:
        self.shard_id = shard_id
        self.local = local
        self._on_replica_failure = on_replica_failure

    def _replica(self) -> LocalShard:
        if self.local is None:
            raise ServiceUnavailable(f"No active replica for shard {self.shard_id}")
        return self.local

    async def update(self, op: UpdateOperation) -> int:
        return await asyncio.to_thread(self._replica().apply, op)

    async def retrieve(
        self, ids: Iterable[PointId], with_payload: PayloadSelector, with_vector: VectorSelector
    ) -> list[Record]:
        return await asyncio.to_thread(self._replica().retrieve, list(ids), with_payload, with_vector)

    async def scroll(self, request: ScrollRequest) -> list[Record]:
        return await asyncio.to_thread(self._replica().scroll, request)

    async def count(self, request: CountRequest) -> int:
        return await asyncio.to_thread(self._replica().count, request)

    async def search(self, request: SearchRequest) -> list[ScoredPoint]:
        replica = self._replica()
        if replica.is_quick_search(request):
            # Only the graph walk goes to the worker (batched with concurrent ones);
            # results are assembled here.
            index = replica.dense_index(request.vector_name)
            job = GraphQuery(
                index,
                index.prepare_query(request.query),
                request.offset + request.limit,
                request.hnsw_ef,
                lambda: replica.vector_hits(request)[:2],
            )
            offsets, scores = await _SEARCH_WORKER.run(job)
            return replica.scored_points(request, offsets, scores, index.distance)
        return await asyncio.to_thread(replica.search, request)

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
