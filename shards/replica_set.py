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
from shards.operations import CountRequest, ScrollRequest, SearchRequest, UpdateOperation
from shards.types import PayloadSelector, PointId, Record, ScoredPoint, VectorSelector

logger = logging.getLogger(__name__)


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
            # A graph lookup takes well under a millisecond: a thread hand-off would
            # cost more than it saves, so it runs on the event loop.
            return replica.search(request)
        return await asyncio.to_thread(replica.search, request)

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
