"""A collection: its shards, how points are routed to them, and how results merge."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, Iterable

from consensus.errors import BadInput, NotFound
from shards.collection_config import dense_vectors, sparse_vectors
from shards.hash_ring import HashRing
from shards.operations import (
    CountRequest,
    DeletePoints,
    PointSelector,
    ScrollRequest,
    SearchRequest,
    UpdateOperation,
    UpdateResult,
    UpdateVectors,
    UpsertPoints,
    WriteOptions,
)
from shards.replica_set import ReplicaSet
from shards.types import (
    PayloadSelector,
    PointId,
    Record,
    ScoredPoint,
    SparseVector,
    VectorSelector,
    point_id_key,
)

logger = logging.getLogger(__name__)


class Collection:
    """Routes operations of one collection to its shards and merges their answers."""

    def __init__(self, name: str, config: dict[str, Any], shards: dict[int, ReplicaSet]) -> None:
        self.name = name
        self.config = config
        self.shards = shards
        self._ring = HashRing(sorted(shards))

    @property
    def config(self) -> dict[str, Any]:
        return self._config

    @config.setter
    def config(self, config: dict[str, Any]) -> None:
        self._config = config
        # Parsed once per config change: every request needs the vector parameters.
        self.dense_params = dense_vectors(config)
        self.sparse_params = sparse_vectors(config)

    # ------------------------------------------------------------------ routing

    def shard_for(self, point_id: PointId) -> int:
        return self._ring.shard_for(point_id)

    def _group_ids(self, ids: Iterable[PointId]) -> dict[int, list[PointId]]:
        groups: dict[int, list[PointId]] = {}
        for pid in ids:
            groups.setdefault(self.shard_for(pid), []).append(pid)
        return groups

    def split(self, op: UpdateOperation) -> dict[int, UpdateOperation]:
        """Divide an operation into the part each shard must apply."""
        if isinstance(op, UpsertPoints):
            parts: dict[int, list] = {}
            for point in op.points:
                parts.setdefault(self.shard_for(point.id), []).append(point)
            return {sid: replace(op, points=tuple(pts)) for sid, pts in parts.items()}
        if isinstance(op, UpdateVectors):
            vparts: dict[int, list] = {}
            for item in op.points:
                vparts.setdefault(self.shard_for(item[0]), []).append(item)
            return {sid: replace(op, points=tuple(pts)) for sid, pts in vparts.items()}
        selector: PointSelector = op.selector  # type: ignore[union-attr]
        if selector.ids is not None:
            return {
                sid: replace(op, selector=PointSelector(ids=tuple(ids)))  # type: ignore[arg-type]
                for sid, ids in self._group_ids(selector.ids).items()
            }
        return {sid: op for sid in self.shards}

    # ------------------------------------------------------------------ writes

    async def update(self, op: UpdateOperation, options: WriteOptions = WriteOptions()) -> UpdateResult:
        parts = self.split(op)
        if not parts:
            return UpdateResult(operation_id=0, completed=options.wait)
        results = await asyncio.gather(*(self.shards[sid].update(part) for sid, part in parts.items()))
        return UpdateResult(operation_id=max(results), completed=options.wait)

    # ------------------------------------------------------------------ reads

    async def retrieve(
        self, ids: Iterable[PointId], with_payload: PayloadSelector, with_vector: VectorSelector
    ) -> list[Record]:
        ids = list(dict.fromkeys(ids))
        groups = self._group_ids(ids)
        answers = await asyncio.gather(
            *(self.shards[sid].retrieve(group, with_payload, with_vector) for sid, group in groups.items())
        )
        by_id = {record.id: record for answer in answers for record in answer}
        return [by_id[pid] for pid in ids if pid in by_id]

    async def count(self, request: CountRequest) -> int:
        counts = await asyncio.gather(*(rs.count(request) for rs in self.shards.values()))
        return sum(counts)

    async def scroll(self, request: ScrollRequest) -> tuple[list[Record], PointId | None]:
        """One page of points; returns the page and the id the next page starts at."""
        if request.order_by is not None:
            page_request = request
            answers = await asyncio.gather(*(rs.scroll(page_request) for rs in self.shards.values()))
            merged = [record for answer in answers for record in answer]
            reverse = request.order_by.direction == "desc"
            merged.sort(key=lambda r: r.order_value or 0, reverse=reverse)
            return merged[: request.limit], None
        page_request = replace(request, limit=request.limit + 1)
        answers = await asyncio.gather(*(rs.scroll(page_request) for rs in self.shards.values()))
        merged = sorted((record for answer in answers for record in answer), key=lambda r: point_id_key(r.id))
        next_offset = merged[request.limit].id if len(merged) > request.limit else None
        return merged[: request.limit], next_offset

    def higher_is_better(self, vector_name: str, query: Any) -> bool:
        if isinstance(query, SparseVector):
            return True
        params = self.dense_params.get(vector_name)
        return params is None or params.distance not in ("Euclid", "Manhattan")

    async def search(self, request: SearchRequest) -> list[ScoredPoint]:
        if len(self.shards) == 1:
            (only,) = self.shards.values()
            return (await only.search(request))[request.offset : request.offset + request.limit]
        answers = await asyncio.gather(*(rs.search(request) for rs in self.shards.values()))
        merged = [hit for answer in answers for hit in answer]
        if self.higher_is_better(request.vector_name, request.query):
            merged.sort(key=lambda hit: -hit.score)
        else:
            merged.sort(key=lambda hit: hit.score)
        return merged[request.offset : request.offset + request.limit]

    async def search_by_id(self, request: SearchRequest, point_id: PointId) -> list[ScoredPoint]:
        """Nearest neighbours of a stored point's vector, the point itself excluded."""
        shard = self.shards[self.shard_for(point_id)]
        records = await shard.retrieve([point_id], PayloadSelector(enabled=False), VectorSelector(enabled=True))
        if not records:
            raise NotFound(f"Not found: No point with id {point_id} found")
        vector = records[0].vectors.get(request.vector_name)
        if vector is None:
            raise BadInput(
                f"Wrong input: Vector `{request.vector_name}` is not found in point {point_id}"
            )
        # The point is left out before paging, so ``offset`` counts only the other points.
        widened = replace(request, query=vector, offset=0, limit=request.offset + request.limit + 1)
        hits = [hit for hit in await self.search(widened) if hit.id != point_id]
        return hits[request.offset : request.offset + request.limit]

    def close(self) -> None:
        for replica_set in self.shards.values():
            replica_set.close()
