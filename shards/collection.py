"""A collection: its shards, how points are routed to them, and how results merge.

Auto sharding routes a point id through a hash ring over all shards. Custom
sharding routes a write to the shards of its shard key (a hash ring among
them when a key has several shards); reads without a shard key go to every
shard, reads with keys to those keys' shards.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from consensus.errors import BadInput, NotFound
from consensus.operations import shard_key_to_str
from shards.collection_config import dense_vectors, sparse_vectors
from shards.hash_ring import HashRing
from shards.operations import (
    CountRequest,
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
    order_sort_key,
    point_id_key,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadOptions:
    """Which shards a read targets and how many replicas of each must answer."""

    consistency: Any = None  # None | int | "all" | "majority" | "quorum"
    shard_keys: tuple[Any, ...] | None = None


DEFAULT_READ = ReadOptions()


class Collection:
    """Routes operations of one collection to its shards and merges their answers."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        shards: dict[int, ReplicaSet],
        shard_keys: dict[str, list[int]] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.shards = shards
        self.shard_keys: dict[str, list[int]] = dict(shard_keys or {})
        self._rings: dict[tuple[int, ...], HashRing] = {}
        # Set by the catalog: finds another collection by name or alias (``lookup_from``).
        self.resolve_collection: Callable[[str], "Collection"] | None = None

    @property
    def config(self) -> dict[str, Any]:
        return self._config

    @config.setter
    def config(self, config: dict[str, Any]) -> None:
        self._config = config
        # Parsed once per config change: every request needs the vector parameters.
        self.dense_params = dense_vectors(config)
        self.sparse_params = sparse_vectors(config)
        params = config.get("params", {})
        self.custom_sharding = params.get("sharding_method") == "custom"

    # ------------------------------------------------------------------ routing

    def _ring(self, shard_ids: Iterable[int]) -> HashRing:
        key = tuple(sorted(shard_ids))
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = HashRing(key)
        return ring

    def _write_shards(self, shard_keys: tuple[Any, ...] | None) -> list[int]:
        """The shards a write may land on."""
        if not self.custom_sharding:
            return sorted(self.shards)
        if not shard_keys:
            raise BadInput("Wrong input: Shard key not specified")  # Qdrant's words
        found: list[int] = []
        for key in shard_keys:
            target = getattr(key, "target", None)
            if target is not None:  # {target, fallback}: the fallback while the target key is missing
                key = target if shard_key_to_str(target) in self.shard_keys else key.fallback
            ids = self.shard_keys.get(shard_key_to_str(key))
            if ids is None:
                raise BadInput(f"Wrong input: Shard key {shard_key_to_str(key)} not found")
            found.extend(ids)
        return sorted(set(found))

    def _read_shards(self, shard_keys: tuple[Any, ...] | None) -> list[int]:
        if not shard_keys:
            return sorted(self.shards)
        if not self.custom_sharding:
            raise BadInput("Bad request: Shard keys are only supported for collections with custom sharding")
        return self._write_shards(shard_keys)

    def shard_for(self, point_id: PointId, shard_ids: list[int] | None = None) -> int:
        return self._ring(shard_ids if shard_ids is not None else self.shards).shard_for(point_id)

    def _group_ids(self, ids: Iterable[PointId], shard_ids: list[int]) -> dict[int, list[PointId]]:
        ring = self._ring(shard_ids)
        groups: dict[int, list[PointId]] = {}
        for pid in ids:
            groups.setdefault(ring.shard_for(pid), []).append(pid)
        return groups

    def split(self, op: UpdateOperation, shard_keys: tuple[Any, ...] | None = None) -> dict[int, UpdateOperation]:
        """Divide an operation into the part each shard must apply."""
        targets = self._write_shards(shard_keys)
        ring = self._ring(targets)
        if isinstance(op, UpsertPoints):
            parts: dict[int, list] = {}
            for point in op.points:
                parts.setdefault(ring.shard_for(point.id), []).append(point)
            return {sid: replace(op, points=tuple(pts)) for sid, pts in parts.items()}
        if isinstance(op, UpdateVectors):
            vparts: dict[int, list] = {}
            for item in op.points:
                vparts.setdefault(ring.shard_for(item[0]), []).append(item)
            return {sid: replace(op, points=tuple(pts)) for sid, pts in vparts.items()}
        selector: PointSelector = op.selector  # type: ignore[union-attr]
        if selector.ids is not None and not self.custom_sharding:
            return {
                sid: replace(op, selector=PointSelector(ids=tuple(ids)))  # type: ignore[arg-type]
                for sid, ids in self._group_ids(selector.ids, targets).items()
            }
        return {sid: op for sid in targets}

    # ------------------------------------------------------------------ writes

    async def update(self, op: UpdateOperation, options: WriteOptions = WriteOptions()) -> UpdateResult:
        parts = self.split(op, options.shard_keys)
        if not parts:
            return UpdateResult(operation_id=0, completed=options.wait)
        results = await asyncio.gather(
            *(self.shards[sid].update(part, options.ordering) for sid, part in parts.items())
        )
        return UpdateResult(operation_id=max(results), completed=options.wait)

    # ------------------------------------------------------------------ reads

    async def retrieve(
        self,
        ids: Iterable[PointId],
        with_payload: PayloadSelector,
        with_vector: VectorSelector,
        options: ReadOptions = DEFAULT_READ,
    ) -> list[Record]:
        ids = list(dict.fromkeys(ids))
        targets = self._read_shards(options.shard_keys)
        if self.custom_sharding:
            groups = {sid: ids for sid in targets}
        else:
            groups = self._group_ids(ids, targets)
        answers = await asyncio.gather(
            *(
                self.shards[sid].retrieve(group, with_payload, with_vector, options.consistency)
                for sid, group in groups.items()
            )
        )
        by_id = {record.id: record for answer in answers for record in answer}
        return [by_id[pid] for pid in ids if pid in by_id]

    async def count(self, request: CountRequest, options: ReadOptions = DEFAULT_READ) -> int:
        targets = self._read_shards(options.shard_keys)
        counts = await asyncio.gather(*(self.shards[sid].count(request, options.consistency) for sid in targets))
        return sum(counts)

    async def scroll(
        self, request: ScrollRequest, options: ReadOptions = DEFAULT_READ
    ) -> tuple[list[Record], PointId | None]:
        """One page of points; returns the page and the id the next page starts at."""
        targets = self._read_shards(options.shard_keys)
        if request.order_by is not None:
            answers = await asyncio.gather(*(self.shards[sid].scroll(request, options.consistency) for sid in targets))
            merged = [record for answer in answers for record in answer]
            reverse = request.order_by.direction == "desc"
            merged.sort(key=order_sort_key, reverse=reverse)
            return merged[: request.limit], None
        page_request = replace(request, limit=request.limit + 1)
        answers = await asyncio.gather(
            *(self.shards[sid].scroll(page_request, options.consistency) for sid in targets)
        )
        merged = sorted((record for answer in answers for record in answer), key=lambda r: point_id_key(r.id))
        next_offset = merged[request.limit].id if len(merged) > request.limit else None
        return merged[: request.limit], next_offset

    def higher_is_better(self, vector_name: str, query: Any) -> bool:
        if isinstance(query, SparseVector):
            return True
        params = self.dense_params.get(vector_name)
        return params is None or params.distance not in ("Euclid", "Manhattan")

    async def search(self, request: SearchRequest, options: ReadOptions = DEFAULT_READ) -> list[ScoredPoint]:
        targets = self._read_shards(options.shard_keys)
        if len(targets) > 1 and self._needs_idf_stats(request):
            request = replace(request, idf_stats=await self.sparse_stats(request.vector_name, request.query, targets))
        if len(targets) == 1 and options.consistency is None:
            return (await self.shards[targets[0]].search(request))[request.offset : request.offset + request.limit]
        answers = await asyncio.gather(*(self.shards[sid].search(request, options.consistency) for sid in targets))
        merged = [hit for answer in answers for hit in answer]
        if self.higher_is_better(request.vector_name, request.query):
            merged.sort(key=lambda hit: -hit.score)
        else:
            merged.sort(key=lambda hit: hit.score)
        return merged[request.offset : request.offset + request.limit]

    def _needs_idf_stats(self, request: SearchRequest) -> bool:
        if not isinstance(request.query, SparseVector) or request.idf_stats is not None:
            return False
        params = self.sparse_params.get(request.vector_name)
        return params is not None and params.modifier == "idf"

    async def sparse_stats(
        self, vector_name: str, query: SparseVector, targets: list[int]
    ) -> tuple[int, dict[int, int]]:
        """Collection-wide IDF statistics for ``query``'s dimensions, summed over ``targets``' shards."""
        indices = [int(i) for i in query.indices]
        answers = await asyncio.gather(*(self.shards[sid].sparse_stats(vector_name, indices) for sid in targets))
        num_docs = sum(n for n, _ in answers)
        doc_freq = {dim: sum(freq.get(dim, 0) for _, freq in answers) for dim in indices}
        return num_docs, doc_freq

    async def search_by_id(
        self, request: SearchRequest, point_id: PointId, options: ReadOptions = DEFAULT_READ
    ) -> list[ScoredPoint]:
        """Nearest neighbours of a stored point's vector, the point itself excluded."""
        records = await self.retrieve(
            [point_id], PayloadSelector(enabled=False), VectorSelector(enabled=True), replace(options, consistency=None)
        )
        if not records:
            raise NotFound(f"Not found: No point with id {point_id} found")
        vector = (records[0].vectors or {}).get(request.vector_name)
        if vector is None:
            raise BadInput(f"Wrong input: Vector `{request.vector_name}` is not found in point {point_id}")
        # The point is left out before paging, so ``offset`` counts only the other points.
        widened = replace(request, query=vector, offset=0, limit=request.offset + request.limit + 1)
        hits = [hit for hit in await self.search(widened, options) if hit.id != point_id]
        return hits[request.offset : request.offset + request.limit]

    def close(self) -> None:
        for replica_set in self.shards.values():
            replica_set.close()
