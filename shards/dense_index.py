"""Dense vector storage and search for one named vector of a shard.

Vectors are keyed by the shard's point *offset*.  Search is exact (numpy) until a
background optimizer calls :meth:`DenseVectorIndex.build_index`, which builds an
hnswlib graph off to the side and swaps it in.  Vectors written after the build
form the "tail": they are always scanned exactly and merged with the graph's
answer, so every acknowledged vector is searchable at once.

Removals mark the offset deleted in the graph (hnswlib ``mark_deleted``), so the
graph never returns it and an unfiltered search needs no filter callback.

Thread safety: one lock guards the storage arrays and every call into hnswlib
(which is not safe for concurrent writes and queries).  The long graph build runs
without the lock; offsets touched during the build are reconciled at the swap.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import threading
import time
import uuid
from typing import Callable, Sequence

import hnswlib
import numpy as np

from consensus.errors import BadInput
from shards import distance as dist

logger = logging.getLogger(__name__)

DATATYPES: dict[str, np.dtype] = {
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "uint8": np.dtype(np.uint8),
}

_META_FILE = "hnsw_meta.json"
_META_VERSION = 1
_GROWTH = 1.5
# Vacuum: rebuild when this share of the graph is deleted (Qdrant's deleted_threshold) ...
_VACUUM_RATIO = 0.2
# ... and at least this many graph entries are deleted (Qdrant's vacuum_min_vector_number).
_VACUUM_MIN = 1000
# Once a graph exists, a tail smaller than the indexing threshold is still added to
# it after this long without writes: extending a graph is incremental, and searches
# then walk the graph instead of scanning the tail.
IDLE_EXTEND_SECONDS = 1.0
BACKLOG_FACTOR = 10
MAX_DEFER_SECONDS = 5.0  # a steady trickle of writes does not hold indexing back longer than this

_EMPTY_OFFSETS = np.empty(0, dtype=np.int64)
_EMPTY_SCORES = np.empty(0, dtype=np.float32)


def to_datatype(values: np.ndarray, datatype: str) -> np.ndarray:
    """``values`` as an array of the storage element type of ``datatype``.

    float16 rounds to nearest; uint8 converts like Rust's ``as u8`` (which Qdrant
    uses): the fraction is truncated, out-of-range values saturate to 0 or 255 and
    NaN becomes 0, instead of numpy's wrap-around.
    """
    if datatype == "uint8":
        arr = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        return np.clip(np.trunc(arr), 0.0, 255.0).astype(np.uint8)
    return np.asarray(values).astype(DATATYPES[datatype], copy=False)


class DenseVectorIndex:
    """Dense (or multi-dense) vectors of one vector name, keyed by point offset.

    ``search`` returns ``(offsets, scores)`` best first, in Qdrant's score convention
    (see :mod:`shards.distance`).  Multi-vectors are always searched exactly with MaxSim.
    """

    def __init__(
        self,
        dim: int,
        distance: str,
        datatype: str = "float32",
        m: int = 16,
        ef_construct: int = 100,
        full_scan_threshold_kb: int = 10000,
        multivector: bool = False,
        build_threads: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if dim <= 0:
            raise BadInput(f"Vector dimension must be positive, got {dim}")
        if datatype not in DATATYPES:
            raise BadInput(f"Unknown vector datatype {datatype!r}: expected one of {', '.join(DATATYPES)}")
        self.dim = int(dim)
        self.distance = dist.validate_distance(distance)
        self.datatype = datatype
        self.m = int(m)
        self.ef_construct = int(ef_construct)
        self.full_scan_threshold_kb = int(full_scan_threshold_kb)
        self.multivector = bool(multivector)
        self.build_threads = max(1, int(build_threads))
        self._clock = clock  # injectable, so tests need not wait for writes to go quiet

        self._dtype = DATATYPES[datatype]
        self._higher_better = dist.higher_is_better(self.distance)
        # Normalizing uint8 vectors would round them to zero; those are stored raw and
        # normalized on the fly when scored, which gives the same cosine ranking.
        self._normalize_on_store = self.distance == dist.COSINE and datatype != "uint8"
        self._normalize_on_score = self.distance == dist.COSINE and not self._normalize_on_store
        self._row_bytes = self.dim * self._dtype.itemsize
        self._space = "l2" if self.distance == dist.EUCLID else "ip"

        self._lock = threading.Lock()
        # Dense storage, indexed by offset; rows of removed offsets are garbage.
        self._vectors = np.zeros((0, self.dim), dtype=self._dtype)
        self._present = np.zeros(0, dtype=bool)
        self._indexed = np.zeros(0, dtype=bool)  # live and covered by a non-deleted graph label
        self._high = 0  # one past the largest offset ever stored
        self._live = 0
        self._tail: set[int] = set()  # live offsets not covered by the graph
        self._tail_cache: np.ndarray | None = None
        # Multi-vector storage.
        self._multi: dict[int, np.ndarray] = {}
        # Graph state.
        self._graph: hnswlib.Index | None = None
        self._graph_elements = 0
        self._graph_deleted = 0
        self._last_write = 0.0
        self._deferred_since: float | None = None
        self._indexed_count = 0
        self._building = False
        self._changed_during_build: set[int] = set()
        self._rebuild_pending = False  # HNSW parameters changed: next build starts afresh

    # ------------------------------------------------------------------ writes

    def put(self, offsets: np.ndarray | Sequence[int], vectors: np.ndarray | Sequence[np.ndarray]) -> None:
        """Store vectors at offsets (a batch); a put on a live offset replaces its vector."""
        offs = np.asarray(offsets, dtype=np.int64).reshape(-1)
        if len(offs) == 0:
            return
        if offs.min() < 0:
            raise BadInput("Point offsets must be non-negative")
        if self.multivector:
            self._put_multi(offs, vectors)
            return
        rows = np.asarray(vectors)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if rows.shape != (len(offs), self.dim):
            raise BadInput(f"Expected {len(offs)} vectors of dimension {self.dim}, got shape {rows.shape}")
        rows = self._store_form(rows)
        if len(np.unique(offs)) != len(offs):
            # The last write of an offset wins, as if the batch were applied in order.
            _, last_from_end = np.unique(offs[::-1], return_index=True)
            keep = np.sort(len(offs) - 1 - last_from_end)
            offs, rows = offs[keep], rows[keep]
        with self._lock:
            self._ensure_capacity(int(offs.max()) + 1)
            replaced = offs[self._indexed[offs]]
            for offset in replaced.tolist():
                self._drop_from_graph(offset)
            self._live += int((~self._present[offs]).sum())
            self._vectors[offs] = rows
            self._present[offs] = True
            self._high = max(self._high, int(offs.max()) + 1)
            offset_list = offs.tolist()
            self._tail.update(offset_list)
            self._tail_cache = None
            self._last_write = self._clock()
            if self._building:
                self._changed_during_build.update(offset_list)

    def _put_multi(self, offs: np.ndarray, vectors: np.ndarray | Sequence[np.ndarray]) -> None:
        if len(vectors) != len(offs):
            raise BadInput(f"Expected {len(offs)} multi-vectors, got {len(vectors)}")
        prepared = []
        for value in vectors:
            arr = np.asarray(value)
            if arr.ndim == 1:
                arr = arr.reshape(1, -1)
            if arr.ndim != 2 or arr.shape[1] != self.dim:
                raise BadInput(f"Expected a multi-vector of dimension {self.dim}, got shape {arr.shape}")
            prepared.append(self._store_form(arr))
        with self._lock:
            for offset, arr in zip(offs.tolist(), prepared):
                self._multi[offset] = arr
            self._live = len(self._multi)

    def remove(self, offset: int) -> bool:
        """Forget the vector at ``offset``; returns whether there was one."""
        offset = int(offset)
        with self._lock:
            if self.multivector:
                found = self._multi.pop(offset, None) is not None
                self._live = len(self._multi)
                return found
            if offset < 0 or offset >= len(self._present) or not self._present[offset]:
                return False
            self._present[offset] = False
            self._live -= 1
            if self._indexed[offset]:
                self._drop_from_graph(offset)
            else:
                self._tail.discard(offset)
                self._tail_cache = None
            if self._building:
                self._changed_during_build.add(offset)
            return True

    def _drop_from_graph(self, offset: int) -> None:
        """Mark a covered offset deleted in the graph (lock held)."""
        assert self._graph is not None
        self._graph.mark_deleted(offset)
        self._indexed[offset] = False
        self._indexed_count -= 1
        self._graph_deleted += 1

    # ------------------------------------------------------------------- reads

    def get(self, offset: int) -> np.ndarray | None:
        """The stored vector as float32 (normalized for Cosine, like Qdrant), or None."""
        offset = int(offset)
        with self._lock:
            if self.multivector:
                value = self._multi.get(offset)
                return None if value is None else value.astype(np.float32)
            if offset < 0 or offset >= len(self._present) or not self._present[offset]:
                return None
            return self._vectors[offset].astype(np.float32)

    def has(self, offset: int) -> bool:
        """Whether a vector is stored at ``offset``."""
        offset = int(offset)
        with self._lock:
            if self.multivector:
                return offset in self._multi
            return 0 <= offset < len(self._present) and bool(self._present[offset])

    def __len__(self) -> int:
        return self._live

    def live_offsets(self) -> np.ndarray:
        """Sorted offsets that hold a vector."""
        with self._lock:
            if self.multivector:
                return np.array(sorted(self._multi), dtype=np.int64)
            return np.flatnonzero(self._present[: self._high]).astype(np.int64)

    @property
    def indexed_count(self) -> int:
        """Live vectors covered by the HNSW graph."""
        return self._indexed_count

    @property
    def is_indexing(self) -> bool:
        """True while :meth:`build_index` runs (collection status "yellow")."""
        return self._building

    @property
    def optimizer_status(self) -> str:
        """``"indexing"`` while a graph is being built, else ``"ok"``."""
        return "indexing" if self._building else "ok"

    # ------------------------------------------------------------------ search

    def is_graph_search_cheap(self) -> bool:
        """True when an unfiltered search walks the graph and scans only a short tail."""
        return (
            not self.multivector
            and self._graph is not None
            and len(self._tail) * self._row_bytes < self.full_scan_threshold_kb * 1024
        )

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        ef: int | None = None,
        exact: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` offsets and their scores, best first.

        ``allowed`` is a sorted int64 array of candidate offsets (already filtered), or
        None for every live vector.  Offsets in ``allowed`` without a vector are skipped.
        """
        if k <= 0:
            return _EMPTY_OFFSETS, _EMPTY_SCORES
        if self.multivector:
            return self._search_multi(query, k, allowed)
        q = dist.prepare(self.distance, self._query_form(query).reshape(-1))
        if q.shape[0] != self.dim:
            raise BadInput(f"Query vector has dimension {q.shape[0]}, expected {self.dim}")
        if allowed is None and not exact:
            fast = self._graph_only_search(q, k, ef)
            if fast is not None:
                return fast
        with self._lock:
            candidates = None if allowed is None else self._live_candidates(allowed)
            if candidates is not None and len(candidates) == 0:
                return _EMPTY_OFFSETS, _EMPTY_SCORES
            use_graph = not exact and self._graph is not None and self._indexed_count > 0
            if use_graph and candidates is not None:
                # Like Qdrant: a small filtered set is cheaper to scan than to walk the graph.
                use_graph = len(candidates) * self._row_bytes >= self.full_scan_threshold_kb * 1024
            found = self._graph_candidates(q, k, ef, candidates) if use_graph else None
            if found is not None:
                offsets, rows = found, self._vectors[found]
            elif candidates is not None:
                offsets, rows = candidates, self._vectors[candidates]
            else:
                offsets = np.flatnonzero(self._present[: self._high]).astype(np.int64)
                # Mostly dense: score the used range through a view (no copy), drop holes after.
                rows = self._vectors[: self._high] if len(offsets) * 2 >= self._high else self._vectors[offsets]
        # Scoring runs outside the lock; the arrays are replaced (never resized) on growth.
        if len(offsets) == 0:
            return _EMPTY_OFFSETS, _EMPTY_SCORES
        scores = self._score_rows(q, rows)
        if len(scores) != len(offsets):
            scores = scores[offsets]
        picked = dist.top_k(scores, k, self._higher_better, offsets)
        return offsets[picked], scores[picked]

    def _graph_only_search(self, q: np.ndarray, k: int, ef: int | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The common case, kept lean: every live vector is in the graph, no filter.

        hnswlib's own distances become scores directly (``1 - d`` for inner product,
        ``sqrt(d)`` for squared L2), skipping the exact rescoring of the general path.
        None when the case does not apply.
        """
        found = self.graph_search_batch(q.reshape(1, -1), k, ef)
        return None if found is None else found[0]

    def prepare_query(self, query: np.ndarray) -> np.ndarray:
        """A dense query in the form the graph compares (normalized for Cosine)."""
        q = dist.prepare(self.distance, self._query_form(query).reshape(-1))
        if q.shape[0] != self.dim:
            raise BadInput(f"Query vector has dimension {q.shape[0]}, expected {self.dim}")
        return q

    def graph_search_batch(
        self, queries: np.ndarray, k: int, ef: int | None
    ) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Unfiltered graph search of several prepared queries in one hnswlib call.

        Only when every live vector is in the graph; None otherwise (or when the graph
        cannot produce ``k`` results), and the caller takes the general path.
        """
        with self._lock:
            graph = self._graph
            if graph is None or self._tail or k > self._indexed_count or self.multivector:
                return None
            graph.set_ef(max(ef or self.ef_construct, k))
            try:
                labels, distances = graph.knn_query(queries, k=k, num_threads=1)
            except RuntimeError:
                return None
        offsets = labels.astype(np.int64)
        if self._space == "l2":
            scores = np.sqrt(np.maximum(distances, 0.0))
        else:
            scores = 1.0 - distances
        scores = scores.astype(np.float32)
        return [(offsets[i], scores[i]) for i in range(len(offsets))]

    def score_offsets(self, query: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Exact scores of ``query`` against the given live offsets (e.g. for rescoring)."""
        offs = np.asarray(offsets, dtype=np.int64).reshape(-1)
        if self.multivector:
            q = self._prepare_multi_query(query)
            with self._lock:
                docs = [self._multi[o] for o in offs.tolist()]
            return dist.max_sim_many(self.distance, q, [self._score_form(d) for d in docs])
        q = dist.prepare(self.distance, self._query_form(query).reshape(-1))
        with self._lock:
            rows = self._vectors[offs]
        return self._score_rows(q, rows)

    def _live_candidates(self, allowed: np.ndarray) -> np.ndarray:
        """The live offsets of ``allowed`` (lock held)."""
        cand = np.asarray(allowed, dtype=np.int64).reshape(-1)
        cand = cand[(cand >= 0) & (cand < len(self._present))]
        return cand[self._present[cand]]

    def _graph_candidates(
        self, q: np.ndarray, k: int, ef: int | None, candidates: np.ndarray | None
    ) -> np.ndarray | None:
        """Offsets from the graph plus the (allowed) tail; None if the graph fell short (lock held)."""
        assert self._graph is not None
        tail = self._tail_offsets()
        filter_fn = None
        if candidates is None:
            graph_count = self._indexed_count
        else:
            mask = np.zeros(len(self._present), dtype=np.uint8)
            mask[candidates] = 1
            graph_count = int(self._indexed[candidates].sum())
            tail = tail[mask[tail].astype(bool)]
            # bytes.__getitem__ is the cheapest membership test hnswlib can call back into.
            filter_fn = mask.tobytes().__getitem__
        k_graph = min(k, graph_count)
        labels = _EMPTY_OFFSETS
        if k_graph > 0:
            self._graph.set_ef(max(ef or self.ef_construct, k_graph))
            try:
                found, _ = self._graph.knn_query(q, k=k_graph, num_threads=1, filter=filter_fn)
            except RuntimeError:
                # Deletions or a selective filter left the graph unable to produce k_graph
                # hits; the caller scans exactly instead.
                logger.debug("HNSW returned fewer than %d results; falling back to exact search", k_graph)
                return None
            labels = found[0].astype(np.int64)
        if len(tail) == 0:
            return labels
        return np.concatenate([labels, tail])

    def _tail_offsets(self) -> np.ndarray:
        if self._tail_cache is None:
            self._tail_cache = np.fromiter(self._tail, dtype=np.int64, count=len(self._tail))
        return self._tail_cache

    def _score_rows(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return dist.score_matrix(self.distance, q, self._score_form(rows))

    def _store_form(self, rows: np.ndarray) -> np.ndarray:
        if self._normalize_on_store:
            rows = dist.normalize(rows)
        return to_datatype(rows, self.datatype)

    def _query_form(self, query: np.ndarray) -> np.ndarray:
        """A float32 query with the values the collection's datatype can hold, as
        Qdrant converts queries to the storage element type before scoring."""
        q = np.asarray(query, dtype=np.float32)
        if self.datatype == "float32":
            return q
        return to_datatype(q, self.datatype).astype(np.float32)

    def _score_form(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float32)
        return dist.normalize(rows) if self._normalize_on_score else rows

    def _prepare_multi_query(self, query: np.ndarray) -> np.ndarray:
        q = self._query_form(query)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise BadInput(f"Query multi-vector must have rows of dimension {self.dim}, got shape {q.shape}")
        return dist.prepare(self.distance, q)

    def _search_multi(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        q = self._prepare_multi_query(query)
        with self._lock:
            if allowed is None:
                offsets = np.array(sorted(self._multi), dtype=np.int64)
            else:
                cand = np.asarray(allowed, dtype=np.int64).reshape(-1).tolist()
                offsets = np.array([o for o in cand if o in self._multi], dtype=np.int64)
            docs = [self._multi[o] for o in offsets.tolist()]
        if len(offsets) == 0:
            return _EMPTY_OFFSETS, _EMPTY_SCORES
        scores = dist.max_sim_many(self.distance, q, [self._score_form(d) for d in docs])
        picked = dist.top_k(scores, k, self._higher_better, offsets)
        return offsets[picked], scores[picked]

    # ---------------------------------------------------------------- indexing

    def needs_indexing(self, indexing_threshold_kb: int) -> bool:
        """Whether the optimizer should call :meth:`build_index` now.

        True when there is no graph and the live vectors reach the threshold, when the
        unindexed tail reaches it, or when enough of the graph is deleted to vacuum.
        A threshold of 0 disables indexing, as in Qdrant. While writes stream in, a
        build waits for them to pause (``IDLE_EXTEND_SECONDS``) unless the backlog
        has grown to ``BACKLOG_FACTOR`` thresholds: building on 2 cores competes with
        the ingest itself, and one build after a burst is cheaper than several during it.
        """
        if indexing_threshold_kb <= 0 or self.multivector or self.distance == dist.MANHATTAN:
            return False
        threshold_bytes = indexing_threshold_kb * 1024
        with self._lock:
            if self._building:
                return False
            if self._rebuild_pending and self._graph is not None:
                return True
            pending = (self._live if self._graph is None else len(self._tail)) * self._row_bytes
            if pending >= threshold_bytes and pending > 0:
                now = self._clock()
                if self._deferred_since is None:
                    self._deferred_since = now
                return (
                    now - self._last_write >= IDLE_EXTEND_SECONDS
                    or pending >= BACKLOG_FACTOR * threshold_bytes
                    or now - self._deferred_since >= MAX_DEFER_SECONDS
                )
            if self._graph is None:
                return False
            if self._tail and self._clock() - self._last_write >= IDLE_EXTEND_SECONDS:
                return True
            return self._graph_deleted >= _VACUUM_MIN and self._graph_deleted > _VACUUM_RATIO * self._graph_elements

    def request_rebuild(self, m: int, ef_construct: int) -> None:
        """Take new HNSW parameters; an existing graph is rebuilt with them by the next
        :meth:`build_index` (searches keep using the old graph meanwhile)."""
        with self._lock:
            if int(m) == self.m and int(ef_construct) == self.ef_construct:
                return
            self.m, self.ef_construct = int(m), int(ef_construct)
            self._rebuild_pending = True

    @property
    def rebuild_pending(self) -> bool:
        return self._rebuild_pending

    def build_index(self) -> None:
        """Bring the HNSW graph up to date and swap it in.

        Meant for a background optimizer thread: reads, writes and searches continue
        during the build; only the snapshot and the swap take the lock. A graph with
        few deletions is extended (a copy of it gets the tail added); otherwise a
        fresh graph is built over every live vector.
        """
        if self.multivector or self.distance == dist.MANHATTAN:
            return
        with self._lock:
            if self._building:
                return
            rebuild = self._rebuild_pending
            self._rebuild_pending = False
            extend = (
                not rebuild
                and self._graph is not None
                and self._graph_deleted <= _VACUUM_RATIO * self._graph_elements
            )
            m, ef_construct = self.m, self.ef_construct
            if extend:
                offsets = np.asarray(sorted(self._tail), dtype=np.int64)
                # hnswlib has no cheaper clone than its pickle round-trip (in memory only).
                base = pickle.loads(pickle.dumps(self._graph))
                base_indexed = self._indexed.copy()
                base_elements, base_deleted = self._graph_elements, self._graph_deleted
            else:
                offsets = np.flatnonzero(self._present[: self._high]).astype(np.int64)
                base = None
            if len(offsets) == 0:
                if not extend:
                    self._drop_graph()
                return
            data = np.ascontiguousarray(self._score_form(self._vectors[offsets]))
            self._building = True
            self._changed_during_build = set()
        logger.info("%s HNSW graph with %d vectors (dim=%d, m=%d, ef_construct=%d)",
                    "Extending" if extend else "Building", len(offsets), self.dim, m, ef_construct)
        try:
            if base is not None:
                graph = base
                graph.resize_index(base_elements + len(offsets))
            else:
                graph = hnswlib.Index(space=self._space, dim=self.dim)
                graph.init_index(max_elements=len(offsets), ef_construction=ef_construct, M=m, random_seed=100)
            graph.add_items(data, offsets, num_threads=self.build_threads)
        except BaseException:
            with self._lock:
                self._building = False
                self._rebuild_pending = self._rebuild_pending or rebuild
                self._changed_during_build = set()
            logger.exception("HNSW graph build failed")
            raise
        del data
        with self._lock:
            if base is not None:
                indexed = np.zeros(len(self._present), dtype=bool)
                indexed[: len(base_indexed)] = base_indexed
                elements, deleted = base_elements + len(offsets), base_deleted
            else:
                indexed = np.zeros(len(self._present), dtype=bool)
                elements, deleted = len(offsets), 0
            indexed[offsets] = True
            for offset in self._changed_during_build:
                if offset < len(indexed) and indexed[offset]:
                    # Removed or rewritten during the build: the graph holds a stale vector.
                    graph.mark_deleted(offset)
                    indexed[offset] = False
                    deleted += 1
            self._install_graph(graph, indexed, elements, deleted)
            self._building = False
            self._changed_during_build = set()
        logger.info("HNSW graph ready: %d indexed, %d in tail", self._indexed_count, len(self._tail))

    def _install_graph(self, graph: hnswlib.Index, indexed: np.ndarray, elements: int, deleted: int) -> None:
        """Swap in a graph whose live labels are ``indexed`` (lock held)."""
        self._deferred_since = None
        self._graph = graph
        self._indexed = indexed
        self._indexed_count = int(indexed.sum())
        self._graph_elements = elements
        self._graph_deleted = deleted
        high = self._high
        self._tail = set(np.flatnonzero(self._present[:high] & ~indexed[:high]).tolist())
        self._tail_cache = None

    def _drop_graph(self) -> None:
        """Forget the graph; every live vector goes back to the tail (lock held)."""
        self._graph = None
        self._indexed = np.zeros(len(self._present), dtype=bool)
        self._indexed_count = self._graph_elements = self._graph_deleted = 0
        self._tail = set(np.flatnonzero(self._present[: self._high]).tolist())
        self._tail_cache = None

    def _ensure_capacity(self, needed: int) -> None:
        """Grow the offset-indexed arrays by a factor so that ``needed`` offsets fit (lock held)."""
        capacity = len(self._present)
        if needed <= capacity:
            return
        new_capacity = max(needed, int(capacity * _GROWTH) + 64)
        vectors = np.zeros((new_capacity, self.dim), dtype=self._dtype)
        vectors[:capacity] = self._vectors
        present = np.zeros(new_capacity, dtype=bool)
        present[:capacity] = self._present
        indexed = np.zeros(new_capacity, dtype=bool)
        indexed[:capacity] = self._indexed
        self._vectors, self._present, self._indexed = vectors, present, indexed

    # ------------------------------------------------------------- persistence

    def save(self, directory: str) -> bool:
        """Persist the graph (if any) under ``directory``; returns whether one was written.

        Files carry a fresh generation name; the JSON sidecar naming them is written
        last and atomically, so a crash never pairs a graph with the wrong offsets.
        """
        if self.multivector or self.distance == dist.MANHATTAN:
            return False
        os.makedirs(directory, exist_ok=True)
        meta_path = os.path.join(directory, _META_FILE)
        with self._lock:
            if self._graph is None:
                _remove_quietly(meta_path)
                _remove_stale(directory, keep=())
                return False
            generation = uuid.uuid4().hex[:12]
            graph_name, offsets_name = f"hnsw_{generation}.bin", f"hnsw_{generation}_offsets.npy"
            graph_path = os.path.join(directory, graph_name)
            self._graph.save_index(graph_path)
            _fsync_file(graph_path)
            covered = np.flatnonzero(self._indexed).astype(np.int64)
            with open(os.path.join(directory, offsets_name), "wb") as handle:
                np.save(handle, covered)
                handle.flush()
                os.fsync(handle.fileno())
            meta = {
                "version": _META_VERSION,
                "dim": self.dim,
                "distance": self.distance,
                "datatype": self.datatype,
                "space": self._space,
                "m": self.m,
                "ef_construct": self.ef_construct,
                "elements": self._graph_elements,
                "covered_count": int(len(covered)),
                "graph_file": graph_name,
                "offsets_file": offsets_name,
            }
        tmp_path = meta_path + ".tmp"
        with open(tmp_path, "w", encoding="utf-8") as handle:
            json.dump(meta, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, meta_path)
        _fsync_dir(directory)
        _remove_stale(directory, keep=(graph_name, offsets_name))
        return True

    def load(self, directory: str) -> bool:
        """Load a graph saved by :meth:`save`; call after every live vector was put again.

        Saved offsets that are no longer live are marked deleted.  Returns False (and
        keeps exact search) when nothing was saved or it does not fit this index.
        """
        if self.multivector or self.distance == dist.MANHATTAN:
            return False
        meta_path = os.path.join(directory, _META_FILE)
        try:
            with open(meta_path, encoding="utf-8") as handle:
                meta = json.load(handle)
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring unreadable HNSW sidecar %s: %s", meta_path, exc)
            return False
        expected = {"version": _META_VERSION, "dim": self.dim, "distance": self.distance,
                    "datatype": self.datatype, "space": self._space}
        if meta.get("m", self.m) != self.m or meta.get("ef_construct", self.ef_construct) != self.ef_construct:
            logger.info("Saved HNSW graph in %s was built with other parameters; it will be rebuilt", directory)
            return False
        if any(meta.get(key) != value for key, value in expected.items()):
            logger.warning("Saved HNSW graph in %s does not match this index; ignoring it", directory)
            return False
        try:
            covered = np.load(os.path.join(directory, meta["offsets_file"]))
            graph = hnswlib.Index(space=self._space, dim=self.dim)
            graph.load_index(os.path.join(directory, meta["graph_file"]), max_elements=0)
            labels = np.asarray(graph.get_ids_list(), dtype=np.int64)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            logger.warning("Could not load HNSW graph from %s: %s", directory, exc)
            return False
        if graph.element_count != meta.get("elements") or len(covered) != meta.get("covered_count"):
            logger.warning("Saved HNSW graph in %s is inconsistent with its sidecar; ignoring it", directory)
            return False
        with self._lock:
            if self._building:
                return False
            if len(labels):
                self._ensure_capacity(int(labels.max()) + 1)
            covered = covered.astype(np.int64)
            alive = self._present[covered]
            alive[alive] = self._graph_rows_match(graph, covered[alive])
            indexed = np.zeros(len(self._present), dtype=bool)
            indexed[covered[alive]] = True
            # Labels deleted before the save are still deleted in the file; only the
            # offsets that died (or were rewritten) since then need marking.
            for offset in covered[~alive].tolist():
                graph.mark_deleted(offset)
            self._install_graph(graph, indexed, int(graph.element_count), int(graph.element_count) - int(alive.sum()))
        logger.info("Loaded HNSW graph from %s: %d indexed, %d in tail", directory, self._indexed_count, len(self._tail))
        return True

    def _graph_rows_match(self, graph: hnswlib.Index, offsets: np.ndarray) -> np.ndarray:
        """Which ``offsets`` hold the same vector in ``graph`` as in storage (lock held).

        A graph slot whose vector differs (the offset was given to another vector after
        the save) must not count as indexed: the graph would route queries by the old one.
        """
        same = np.ones(len(offsets), dtype=bool)
        for start in range(0, len(offsets), 8192):
            chunk = offsets[start:start + 8192]
            stored = self._score_form(self._vectors[chunk])
            in_graph = np.asarray(graph.get_items(chunk.tolist()), dtype=np.float32)
            same[start:start + len(chunk)] = np.all(np.abs(in_graph - stored) <= 1e-6, axis=1)
        return same


def _fsync_file(path: str) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _remove_stale(directory: str, keep: tuple[str, ...]) -> None:
    """Delete graph files of older generations."""
    for name in os.listdir(directory):
        if name.startswith("hnsw_") and name not in keep and name != _META_FILE:
            _remove_quietly(os.path.join(directory, name))
