"""A shard stored on this node: RocksDB for durability, in-memory indexes for reads.

Every update gets an operation number and is written as one synced RocksDB
batch (RocksDB's own write-ahead log makes it durable) before it touches the
in-memory structures, so an acknowledged write survives ``kill -9``. Each
touched point is stamped with the operation number as its version; an
operation not newer than a point's version leaves that point alone, which
makes replays and retries idempotent.

A point lives at an integer *offset* into the vector indexes. Writing a
vector gives the point a fresh offset (the HNSW graph never holds a stale
vector); payload-only edits keep the offset.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from consensus.errors import BadInput, NotFound
from shards import payload_ops
from shards.collection_config import dense_vectors, indexing_threshold_kb, sparse_vectors
from shards.dense_index import DenseVectorIndex
from shards.distance import passes_threshold
from shards.filters import Filter
from shards.operations import (
    ClearPayload,
    CountRequest,
    DeletePayload,
    DeletePoints,
    DeleteVectors,
    OverwritePayload,
    PointSelector,
    ScrollRequest,
    SearchRequest,
    SetPayload,
    UpdateOperation,
    UpdateVectors,
    UpsertPoints,
)
from shards.payload_index import PayloadIndexes, parse_field_schema
from shards.record_codec import StoredPoint, decode_point, encode_point
from shards.sparse_index import SparseVectorIndex
from shards.types import (
    PayloadSelector,
    PointId,
    Record,
    ScoredPoint,
    SparseVector,
    VectorSelector,
    VectorValue,
    order_sort_key,
    point_id_from_key,
    point_id_key,
)

logger = logging.getLogger(__name__)

_POINT_PREFIX = b"p:"
_LAST_OP_KEY = b"m:last_op"
# One past the largest offset ever handed out. Offsets are never reused, even after a
# restart: a saved HNSW graph may still hold a deleted point's vector at its offset.
_NEXT_OFFSET_KEY = b"m:next_offset"


class LocalShard:
    """One shard's points on local disk, with vector and payload indexes in memory."""

    def __init__(self, path: str, config: dict[str, Any], payload_schemas: dict[str, Any]) -> None:
        self.path = path
        os.makedirs(path, exist_ok=True)
        self._config = config
        self._db = Rdict(os.path.join(path, "points"), _db_options())
        self._sync = WriteOptions()
        self._sync.sync = True
        self._write_lock = threading.Lock()
        self._clock_lock = threading.Lock()
        self._clock = 0
        self._state_lock = threading.RLock()
        self._dense: dict[str, DenseVectorIndex] = {}
        self._sparse: dict[str, SparseVectorIndex] = {}
        self._build_vector_indexes(config)
        self._payload_index = PayloadIndexes()
        for field, schema in payload_schemas.items():
            self._payload_index.create(field, parse_field_schema(schema))
        self._ids: dict[PointId, int] = {}
        self._offset_ids: dict[int, PointId] = {}
        self._payloads: dict[int, dict[str, Any]] = {}
        self._versions: dict[int, int] = {}
        self._sparse_names: dict[int, tuple[str, ...]] = {}
        self._next_offset = 0
        self._last_op = 0
        self._sorted_keys: list[bytes] | None = None
        self._optimizing = False
        self._load()

    # ------------------------------------------------------------------ setup

    def _build_vector_indexes(self, config: dict[str, Any]) -> None:
        for name, params in dense_vectors(config).items():
            self._dense[name] = _new_dense_index(params)
        for name, params in sparse_vectors(config).items():
            self._sparse[name] = SparseVectorIndex(modifier=params.modifier)

    def _load(self) -> None:
        raw = self._db.get(_LAST_OP_KEY)
        self._last_op = int(raw.decode()) if raw else 0
        pending: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        count = 0
        for key, value in self._db.items(from_key=_POINT_PREFIX):
            if not key.startswith(_POINT_PREFIX):
                break
            point_id = point_id_from_key(key[len(_POINT_PREFIX) :])
            stored = decode_point(value)
            self._install_memory(point_id, stored, pending)
            count += 1
        for name, (offsets, vectors) in pending.items():
            self._put_dense(name, offsets, vectors)
        raw = self._db.get(_NEXT_OFFSET_KEY)
        if raw:
            self._next_offset = max(self._next_offset, int(raw.decode()))
        for name, index in self._dense.items():
            index_dir = self._index_dir(name)
            if os.path.isdir(index_dir) and not index.load(index_dir):
                logger.info("shard %s: saved index for %r unusable, will rebuild", self.path, name)
        logger.info("shard %s: loaded %d points, last operation %d", self.path, count, self._last_op)

    def _index_dir(self, name: str) -> str:
        return os.path.join(self.path, "hnsw", name.encode().hex() or "_default")

    # ------------------------------------------------------------------ updates

    @property
    def last_operation(self) -> int:
        return self._last_op

    def next_operation_number(self) -> int:
        """Reserve the number of a write this replica coordinates.

        Numbers work as a Lamport clock: each replica's counter moves past every
        number it sees, so the versions of one point are comparable across replicas
        and the write with the higher number wins wherever writes arrive reordered.
        """
        with self._clock_lock:
            self._clock = max(self._clock, self._last_op) + 1
            return self._clock

    def observe_operation_number(self, number: int) -> None:
        with self._clock_lock:
            self._clock = max(self._clock, number)

    def apply(self, op: UpdateOperation, op_num: int | None = None, missing_ok: bool = False) -> int:
        """Apply one update durably; returns the operation number used.

        ``missing_ok`` skips points the operation names but this shard lacks instead of
        failing (a shard transfer's target, which has not received every point yet).
        """
        with self._write_lock:
            number = op_num if op_num is not None else self.next_operation_number()
            self.observe_operation_number(number)
            self._commit(self._plan(op, number, missing_ok), number)
            return number

    def restore(self, records: list[Record]) -> None:
        """Store whole records as another replica holds them, versions included.

        A shard transfer fills its target this way, so that versions stay
        comparable across replicas; a point already newer here is left alone.
        """
        with self._write_lock:
            changes: list[tuple[PointId, StoredPoint | None]] = []
            top = 0
            for record in records:
                offset = self._ids.get(record.id)
                if offset is not None and self._versions[offset] > record.version:
                    continue
                stored = StoredPoint(
                    self._take_offset(), record.version, dict(record.payload or {}), dict(record.vectors or {})
                )
                changes.append((record.id, stored))
                top = max(top, record.version)
            self.observe_operation_number(top)
            self._commit(changes, top)

    def _commit(self, changes: list[tuple[PointId, StoredPoint | None]], number: int) -> None:
        """Write the planned point states as one synced batch, then apply them in memory
        (caller holds the write lock)."""
        batch = WriteBatch(raw_mode=True)
        for point_id, stored in changes:
            key = _POINT_PREFIX + point_id_key(point_id)
            if stored is None:
                batch.delete(key)
            else:
                batch.put(key, encode_point(stored))
        new_last = max(self._last_op, number)
        batch.put(_LAST_OP_KEY, str(new_last).encode())
        batch.put(_NEXT_OFFSET_KEY, str(self._next_offset).encode())
        self._db.write(batch, self._sync)
        with self._state_lock:
            pending: dict[str, tuple[list[int], list[np.ndarray]]] = {}
            for point_id, stored in changes:
                self._remove_memory(point_id, keep_offset=stored.offset if stored else None)
                if stored is not None:
                    self._install_memory(point_id, stored, pending)
            for name, (offsets, vectors) in pending.items():
                self._put_dense(name, offsets, vectors)
            self._last_op = new_last

    def _plan(
        self, op: UpdateOperation, number: int, missing_ok: bool = False
    ) -> list[tuple[PointId, StoredPoint | None]]:
        """Compute the new stored state of every point the operation touches."""
        if isinstance(op, UpsertPoints):
            return self._plan_upsert(op, number)
        if isinstance(op, DeletePoints):
            return [(pid, None) for pid in self._select(op.selector, must_exist=False)]
        if isinstance(op, UpdateVectors):
            return self._plan_update_vectors(op, number, missing_ok)
        changes: list[tuple[PointId, StoredPoint | None]] = []
        for pid in self._select(op.selector, must_exist=not missing_ok):
            offset = self._ids[pid]
            payload = self._payloads[offset]
            vectors = self._vectors_of(offset)
            if isinstance(op, DeleteVectors):
                vectors = {n: v for n, v in vectors.items() if n not in op.names}
            elif isinstance(op, SetPayload):
                payload = payload_ops.set_payload(payload, op.payload, op.key)
            elif isinstance(op, OverwritePayload):
                payload = dict(op.payload)
            elif isinstance(op, DeletePayload):
                payload = payload_ops.delete_keys(payload, op.keys)
            elif isinstance(op, ClearPayload):
                payload = {}
            else:  # pragma: no cover - exhaustive
                raise BadInput(f"unsupported operation {type(op).__name__}")
            changes.append((pid, StoredPoint(offset, self._version_after(offset, number), payload, vectors)))
        return changes

    def _plan_upsert(self, op: UpsertPoints, number: int) -> list[tuple[PointId, StoredPoint | None]]:
        latest: dict[PointId, Any] = {}
        for point in op.points:
            latest[point.id] = point  # the last occurrence of an id wins
        changes: list[tuple[PointId, StoredPoint | None]] = []
        for point in latest.values():
            offset = self._ids.get(point.id)
            if offset is not None:
                if op.update_mode == "insert_only":
                    continue
                if op.update_filter is not None and not self._matches(op.update_filter, point.id, offset):
                    continue
            elif op.update_mode == "update_only":
                continue
            version = number if offset is None else self._version_after(offset, number)
            changes.append((point.id, StoredPoint(self._take_offset(), version, point.payload or {}, point.vectors)))
        return changes

    def _plan_update_vectors(
        self, op: UpdateVectors, number: int, missing_ok: bool = False
    ) -> list[tuple[PointId, StoredPoint | None]]:
        # One id named twice gets both updates, in order (one change per point).
        updates: dict[PointId, dict[str, VectorValue]] = {}
        for pid, new_vectors in op.points:
            updates.setdefault(pid, {}).update(new_vectors)
        changes: list[tuple[PointId, StoredPoint | None]] = []
        for pid, new_vectors in updates.items():
            offset = self._ids.get(pid)
            if offset is None:
                if missing_ok:
                    continue
                raise NotFound(f"Not found: No point with id {pid} found")
            if op.update_filter is not None and not self._matches(op.update_filter, pid, offset):
                continue
            vectors = self._vectors_of(offset)
            vectors.update(new_vectors)
            version = self._version_after(offset, number)
            changes.append((pid, StoredPoint(self._take_offset(), version, self._payloads[offset], vectors)))
        return changes

    def _version_after(self, offset: int, number: int) -> int:
        """A point's version after a write: writes apply in arrival order, and the
        version never goes down, so the replica holding the newest write of a point
        shows the highest version (what reads merging several replicas compare)."""
        return max(self._versions[offset], number)

    def _take_offset(self) -> int:
        offset = self._next_offset
        self._next_offset += 1
        return offset

    def _select(self, selector: PointSelector, must_exist: bool) -> list[PointId]:
        if selector.ids is not None:
            found = []
            for pid in dict.fromkeys(selector.ids):
                if pid in self._ids:
                    found.append(pid)
                elif must_exist:
                    raise NotFound(f"Not found: No point with id {pid} found")
            return found
        with self._state_lock:
            offsets = self._filtered_offsets(selector.filter)
            return [self._offset_ids[o] for o in offsets.tolist()]

    # ------------------------------------------------------------------ memory

    def _install_memory(
        self,
        point_id: PointId,
        stored: StoredPoint,
        pending: dict[str, tuple[list[int], list[np.ndarray]]],
    ) -> None:
        offset = stored.offset
        same_offset = self._ids.get(point_id) == offset
        if point_id not in self._ids:
            self._sorted_keys = None
        elif same_offset:
            for name, index in self._dense.items():
                if name not in stored.vectors and index.has(offset):
                    index.remove(offset)
        self._ids[point_id] = offset
        self._offset_ids[offset] = point_id
        self._payloads[offset] = stored.payload
        self._versions[offset] = stored.version
        self._payload_index.add(offset, stored.payload)
        if offset >= self._next_offset:
            self._next_offset = offset + 1
        sparse_names = []
        for name, value in stored.vectors.items():
            if isinstance(value, SparseVector):
                index = self._sparse.get(name)
                if index is not None:
                    index.put(offset, value)
                    sparse_names.append(name)
            elif not same_offset:
                if name in self._dense:
                    offsets, vectors = pending.setdefault(name, ([], []))
                    offsets.append(offset)
                    vectors.append(value)
        self._sparse_names[offset] = tuple(sparse_names)

    def _remove_memory(self, point_id: PointId, keep_offset: int | None) -> None:
        offset = self._ids.get(point_id)
        if offset is None:
            self._sorted_keys = None
            return
        payload = self._payloads.pop(offset)
        self._payload_index.remove(offset, payload)
        for name in self._sparse_names.pop(offset, ()):
            self._sparse[name].remove(offset)
        if keep_offset == offset:
            return  # same offset: dense vectors stay unless the new state drops them
        for index in self._dense.values():
            if index.has(offset):
                index.remove(offset)
        del self._ids[point_id]
        del self._offset_ids[offset]
        del self._versions[offset]
        self._sorted_keys = None

    def _put_dense(self, name: str, offsets: list[int], vectors: list[np.ndarray]) -> None:
        index = self._dense[name]
        if index.multivector:
            index.put(np.asarray(offsets, dtype=np.int64), vectors)
        else:
            index.put(np.asarray(offsets, dtype=np.int64), np.stack(vectors).astype(np.float32, copy=False))

    def _vectors_of(self, offset: int) -> dict[str, VectorValue]:
        vectors: dict[str, VectorValue] = {}
        for name, index in self._dense.items():
            value = index.get(offset)
            if value is not None:
                vectors[name] = value
        for name in self._sparse_names.get(offset, ()):
            value = self._sparse[name].get(offset)
            if value is not None:
                vectors[name] = value
        return vectors

    def _has_vector(self, offset: int) -> Callable[[str], bool]:
        def has(name: str) -> bool:
            if name in self._dense:
                return self._dense[name].has(offset)
            return name in self._sparse_names.get(offset, ())

        return has

    def _matches(self, flt: Filter, point_id: PointId, offset: int) -> bool:
        return flt.matches(point_id, self._payloads[offset], self._has_vector(offset))

    def _filtered_offsets(self, flt: Filter | None) -> np.ndarray:
        """Sorted offsets of live points matching the filter (caller holds the state lock)."""
        if flt is None:
            return np.fromiter(self._offset_ids.keys(), dtype=np.int64, count=len(self._offset_ids))
        flt = self._payload_index.bind_text(flt) or flt
        candidates = self._payload_index.candidates(flt)
        pool: Iterable[int] = self._offset_ids.keys() if candidates is None else candidates.tolist()
        matched = [
            offset
            for offset in pool
            if offset in self._offset_ids and self._matches(flt, self._offset_ids[offset], offset)
        ]
        return np.asarray(sorted(matched), dtype=np.int64)

    # ------------------------------------------------------------------ reads

    def _record(self, offset: int, with_payload: PayloadSelector, with_vector: VectorSelector) -> Record | None:
        point_id = self._offset_ids.get(offset)
        payload = self._payloads.get(offset)
        if point_id is None or payload is None:
            return None
        vectors = with_vector.apply(self._vectors_of(offset)) if with_vector.enabled else None
        return Record(point_id, self._versions.get(offset, 0), vectors, with_payload.apply(payload))

    def retrieve(
        self, ids: Iterable[PointId], with_payload: PayloadSelector, with_vector: VectorSelector
    ) -> list[Record]:
        out = []
        with self._state_lock:
            for pid in ids:
                offset = self._ids.get(pid)
                if offset is not None:
                    record = self._record(offset, with_payload, with_vector)
                    if record is not None:
                        out.append(record)
        return out

    def count(self, request: CountRequest) -> int:
        with self._state_lock:
            if request.filter is None:
                return len(self._ids)
            return int(self._filtered_offsets(request.filter).shape[0])

    def scroll(self, request: ScrollRequest) -> list[Record]:
        """Up to ``limit`` points in id order starting at ``offset``, matching the filter."""
        if request.order_by is not None:
            return self._scroll_ordered(request)
        out: list[Record] = []
        with self._state_lock:
            keys = self._sorted_point_keys()
            start = 0
            if request.offset is not None:
                import bisect

                start = bisect.bisect_left(keys, point_id_key(request.offset))
            allowed = None
            if request.filter is not None:
                allowed = set(self._filtered_offsets(request.filter).tolist())
            for key in keys[start:]:
                offset = self._ids.get(point_id_from_key(key))
                if offset is None or (allowed is not None and offset not in allowed):
                    continue
                record = self._record(offset, request.with_payload, request.with_vector)
                if record is not None:
                    out.append(record)
                    if len(out) >= request.limit:
                        break
        return out

    def _scroll_ordered(self, request: ScrollRequest) -> list[Record]:
        order = request.order_by
        assert order is not None
        if not self._payload_index.is_range_capable(order.key):
            raise BadInput(
                f"Bad request: No range index for `order_by` key: `{order.key}`. "
                "Please create one to use `order_by`. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Range conditions"
            )
        out: list[Record] = []
        with self._state_lock:
            allowed = None
            if request.filter is not None:
                allowed = set(self._filtered_offsets(request.filter).tolist())
            seen: set[int] = set()
            for value, offset in self._payload_index.order_by(
                order.key, order.direction == "desc", order.start_from
            ):
                if offset in seen or offset not in self._offset_ids:
                    continue
                if allowed is not None and offset not in allowed:
                    continue
                # Keep reading through a run of equal values past the limit: Qdrant breaks
                # ties by point id, which the index (ordered by offset) does not.
                if len(out) >= request.limit and value != out[-1].order_value:
                    break
                seen.add(offset)
                record = self._record(offset, request.with_payload, request.with_vector)
                if record is not None:
                    record.order_value = value
                    out.append(record)
        out.sort(key=order_sort_key, reverse=order.direction == "desc")
        return out[: request.limit]

    def _sorted_point_keys(self) -> list[bytes]:
        if self._sorted_keys is None:
            self._sorted_keys = sorted(point_id_key(pid) for pid in self._ids)
        return self._sorted_keys

    def search(self, request: SearchRequest) -> list[ScoredPoint]:
        """Top ``offset + limit`` hits of this shard, best first."""
        allowed = None
        if request.filter is not None:
            with self._state_lock:
                allowed = self._filtered_offsets(request.filter)
            if allowed.shape[0] == 0:
                return []
        offsets, scores, distance = self.vector_hits(request, allowed)
        return self.scored_points(request, offsets, scores, distance)

    def vector_hits(
        self, request: SearchRequest, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """Offsets and scores of the best ``offset + limit`` vectors, and the distance used."""
        k = request.offset + request.limit
        name = request.vector_name
        if isinstance(request.query, SparseVector):
            sparse: SparseVectorIndex | None = self._sparse.get(name)
            if sparse is None:
                raise BadInput(f"Wrong input: Not existing vector name error: {name}")
            offsets, scores = sparse.search(request.query, k, allowed, idf_stats=request.idf_stats)
            return offsets, scores, "Dot"
        index = self._dense.get(name)
        if index is None:
            raise BadInput(f"Wrong input: Not existing vector name error: {name or 'default'}")
        offsets, scores = index.search(request.query, k, allowed, ef=request.hnsw_ef, exact=request.exact)
        return offsets, scores, index.distance

    def scored_points(
        self, request: SearchRequest, offsets: np.ndarray, scores: np.ndarray, distance: str
    ) -> list[ScoredPoint]:
        """Turn index hits into search results (threshold, payload and vector selection)."""
        out: list[ScoredPoint] = []
        threshold = request.score_threshold
        for offset, score in zip(offsets.tolist(), scores.tolist()):
            if threshold is not None and not passes_threshold(distance, score, threshold):
                continue
            point_id = self._offset_ids.get(offset)
            payload = self._payloads.get(offset)
            if point_id is None or payload is None:
                continue  # removed while we searched
            vectors = request.with_vector.apply(self._vectors_of(offset)) if request.with_vector.enabled else None
            out.append(
                ScoredPoint(
                    id=point_id,
                    version=self._versions.get(offset, 0),
                    score=float(score),
                    payload=request.with_payload.apply(payload),
                    vectors=vectors,
                )
            )
        return out

    def sparse_stats(self, name: str, indices: list[int]) -> tuple[int, dict[int, int]]:
        """IDF statistics of sparse vector ``name``: (vectors stored, {dimension: vectors having it})."""
        sparse = self._sparse.get(name)
        if sparse is None:
            raise BadInput(f"Wrong input: Not existing vector name error: {name}")
        return sparse.num_docs, sparse.doc_frequencies(indices)

    def dense_index(self, name: str) -> DenseVectorIndex:
        index = self._dense.get(name)
        if index is None:
            raise BadInput(f"Wrong input: Not existing vector name error: {name or 'default'}")
        return index

    def is_quick_search(self, request: SearchRequest) -> bool:
        """True for an unfiltered approximate search answered by an HNSW graph."""
        if request.filter is not None or request.exact or isinstance(request.query, SparseVector):
            return False
        index = self._dense.get(request.vector_name)
        return index is not None and index.is_graph_search_cheap()

    def vector_of(self, point_id: PointId, name: str) -> VectorValue | None:
        with self._state_lock:
            offset = self._ids.get(point_id)
            if offset is None:
                return None
            return self._vectors_of(offset).get(name)

    # ------------------------------------------------------------------ indexes

    def create_payload_index(self, field: str, schema: Any) -> None:
        with self._write_lock, self._state_lock:
            self._payload_index.drop(field)
            self._payload_index.create(field, parse_field_schema(schema), list(self._payloads.items()))

    def drop_payload_index(self, field: str) -> None:
        with self._write_lock, self._state_lock:
            self._payload_index.drop(field)

    def payload_schema(self) -> dict[str, dict[str, Any]]:
        with self._state_lock:
            return self._payload_index.schema_json()

    # ------------------------------------------------------------------ optimizer

    def update_config(self, config: dict[str, Any]) -> None:
        """Take new collection settings without reopening.

        Vectors added to the config get an empty index (filled from any values
        already stored under that name); removed vectors lose their index and their
        values, which are erased from every stored point in one synced batch. Changed
        HNSW parameters mark a graph for rebuilding, which the optimizer then does.
        """
        dense = dense_vectors(config)
        sparse = sparse_vectors(config)
        with self._write_lock:
            removed_dense = [name for name in self._dense if name not in dense]
            removed_sparse = [name for name in self._sparse if name not in sparse]
            # A name that changed kind (dense <-> sparse) is dropped, then added afresh.
            removed_dense += [name for name in self._dense if name in sparse]
            removed_sparse += [name for name in self._sparse if name in dense]
            removed = set(removed_dense) | set(removed_sparse)
            if removed:
                self._erase_stored_vectors(removed)
            with self._state_lock:
                for name in removed_dense:
                    self._dense.pop(name, None)
                for name in removed_sparse:
                    self._sparse.pop(name, None)
                if removed_sparse:
                    for offset, names in list(self._sparse_names.items()):
                        if removed.intersection(names):
                            self._sparse_names[offset] = tuple(n for n in names if n not in removed)
                added_dense = {name: p for name, p in dense.items() if name not in self._dense}
                added_sparse = {name: p for name, p in sparse.items() if name not in self._sparse}
                for name, params in added_dense.items():
                    self._dense[name] = _new_dense_index(params)
                for name, params in added_sparse.items():
                    self._sparse[name] = SparseVectorIndex(modifier=params.modifier)
                if added_dense or added_sparse:
                    self._load_stored_vectors(set(added_dense), set(added_sparse))
                for name, params in dense.items():
                    index = self._dense[name]
                    index.full_scan_threshold_kb = int(params.full_scan_threshold)
                    index.request_rebuild(params.m, params.ef_construct)
                self._config = config
        for name in removed_dense:
            shutil.rmtree(self._index_dir(name), ignore_errors=True)

    def _erase_stored_vectors(self, names: set[str]) -> None:
        """Durably remove the values of ``names`` from every stored point (write lock held)."""
        batch = WriteBatch(raw_mode=True)
        touched = 0
        for key, value in self._db.items(from_key=_POINT_PREFIX):
            if not key.startswith(_POINT_PREFIX):
                break
            stored = decode_point(value)
            if not names.intersection(stored.vectors):
                continue
            kept = {n: v for n, v in stored.vectors.items() if n not in names}
            batch.put(key, encode_point(StoredPoint(stored.offset, stored.version, stored.payload, kept)))
            touched += 1
        if touched:
            self._db.write(batch, self._sync)
        logger.info("shard %s: removed vectors %s from %d points", self.path, sorted(names), touched)

    def _load_stored_vectors(self, dense_names: set[str], sparse_names: set[str]) -> None:
        """Fill new indexes with values already stored under their names (both locks held).

        A replica may have stored a point written under a vector its config did not
        have yet (the config change was still on its way); those values become visible.
        """
        pending: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        for key, value in self._db.items(from_key=_POINT_PREFIX):
            if not key.startswith(_POINT_PREFIX):
                break
            stored = decode_point(value)
            if self._ids.get(point_id_from_key(key[len(_POINT_PREFIX) :])) != stored.offset:
                continue
            for name, vector in stored.vectors.items():
                if name in sparse_names and isinstance(vector, SparseVector):
                    self._sparse[name].put(stored.offset, vector)
                    names = self._sparse_names.get(stored.offset, ())
                    self._sparse_names[stored.offset] = (*names, name)
                elif name in dense_names and not isinstance(vector, SparseVector):
                    index = self._dense[name]
                    shape = np.shape(vector)
                    fits = shape[-1:] == (index.dim,) and len(shape) == (2 if index.multivector else 1)
                    if fits:
                        offsets, vectors = pending.setdefault(name, ([], []))
                        offsets.append(stored.offset)
                        vectors.append(vector)
        for name, (offsets, vectors) in pending.items():
            self._put_dense(name, offsets, vectors)

    def needs_optimization(self) -> bool:
        threshold = indexing_threshold_kb(self._config)
        return any(index.needs_indexing(threshold) for index in self._dense.values())

    def optimize(self) -> bool:
        """Build HNSW graphs that are due; runs on the optimizer thread. True if it did work."""
        threshold = indexing_threshold_kb(self._config)
        did = False
        for name, index in list(self._dense.items()):
            if not index.needs_indexing(threshold):
                continue
            self._optimizing = True
            try:
                index.build_index()
                if self._dense.get(name) is not index:
                    continue  # the vector was removed meanwhile: nothing to save
                index_dir = self._index_dir(name)
                tmp_dir = index_dir + ".tmp"
                shutil.rmtree(tmp_dir, ignore_errors=True)
                os.makedirs(tmp_dir)
                index.save(tmp_dir)
                shutil.rmtree(index_dir, ignore_errors=True)
                os.makedirs(os.path.dirname(index_dir), exist_ok=True)
                os.replace(tmp_dir, index_dir)
                did = True
            finally:
                self._optimizing = False
        return did

    @property
    def optimizing(self) -> bool:
        return self._optimizing

    def stats(self) -> dict[str, int]:
        with self._state_lock:
            return {
                "points": len(self._ids),
                "indexed_vectors": sum(index.indexed_count for index in self._dense.values()),
                "vectors": sum(len(index) for index in self._dense.values())
                + sum(len(index) for index in self._sparse.values()),
            }

    def iter_records(self) -> Iterator[Record]:
        """Every point with payload and vectors (for transfers and snapshots)."""
        with self._state_lock:
            offsets = list(self._offset_ids.keys())
        everything = PayloadSelector()
        all_vectors = VectorSelector(enabled=True)
        for offset in offsets:
            with self._state_lock:
                record = self._record(offset, everything, all_vectors)
            if record is not None:
                yield record

    def close(self) -> None:
        with self._write_lock:
            self._db.close()

    def drop(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _new_dense_index(params: Any) -> DenseVectorIndex:
    return DenseVectorIndex(
        dim=params.size,
        distance=params.distance,
        datatype=params.datatype,
        m=params.m,
        ef_construct=params.ef_construct,
        full_scan_threshold_kb=params.full_scan_threshold,
        multivector=params.multivector,
    )


def _db_options() -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    return options
