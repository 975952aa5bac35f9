"""Sparse vector storage and search (an inverted index) for one named sparse vector.

Each dimension keeps a posting list of (offset, generation, value).  Removing a
vector does not touch the postings: an entry counts only while its offset is live
and still at the generation that wrote it, so removal is O(1) and a re-put at the
same offset cannot resurrect old entries.  Dead entries are compacted away once
they outnumber the live ones of a dimension.

Scoring is Qdrant's: the dot product over shared indices, and only points sharing
at least one index with the query are returned.  With the ``idf`` modifier each
query weight is multiplied by ``ln((N - n + 0.5) / (n + 0.5) + 1)``, N being the
number of vectors and n the number containing the dimension.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping

import numpy as np

from consensus.errors import BadInput
from shards.distance import top_k
from shards.types import SparseVector

IDF = "idf"
MODIFIERS = (None, "none", IDF)

_EMPTY_OFFSETS = np.empty(0, dtype=np.int64)
_EMPTY_SCORES = np.empty(0, dtype=np.float32)
_GROWTH = 1.5


def idf(num_docs: int, doc_frequency: int) -> float:
    """Qdrant's (BM25) inverse document frequency of a dimension."""
    return math.log((num_docs - doc_frequency + 0.5) / (doc_frequency + 0.5) + 1.0)


class _Postings:
    """One dimension's posting list: frozen numpy arrays plus a pending append buffer."""

    __slots__ = ("offsets", "generations", "values", "pending", "dead")

    def __init__(self) -> None:
        self.offsets = _EMPTY_OFFSETS
        self.generations = np.empty(0, dtype=np.uint32)
        self.values = np.empty(0, dtype=np.float32)
        self.pending: list[tuple[int, int, float]] = []
        self.dead = 0

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.pending:
            offs, gens, vals = zip(*self.pending)
            self.offsets = np.concatenate([self.offsets, np.asarray(offs, dtype=np.int64)])
            self.generations = np.concatenate([self.generations, np.asarray(gens, dtype=np.uint32)])
            self.values = np.concatenate([self.values, np.asarray(vals, dtype=np.float32)])
            self.pending = []
        return self.offsets, self.generations, self.values

    def __len__(self) -> int:
        return len(self.offsets) + len(self.pending)


class SparseVectorIndex:
    """Sparse vectors of one vector name, keyed by point offset, with an inverted index."""

    def __init__(self, modifier: str | None = None) -> None:
        if modifier not in MODIFIERS:
            raise BadInput(f"Unknown sparse vector modifier {modifier!r}: expected 'none' or 'idf'")
        self.modifier = IDF if modifier == IDF else None
        self._lock = threading.Lock()
        self._vectors: dict[int, SparseVector] = {}
        self._postings: dict[int, _Postings] = {}
        self._doc_freq: dict[int, int] = {}
        self._live = np.zeros(0, dtype=bool)
        self._generation = np.zeros(0, dtype=np.uint32)

    # ------------------------------------------------------------------ writes

    def put(self, offset: int, vector: SparseVector) -> None:
        """Store ``vector`` at ``offset``, replacing what was there."""
        offset = int(offset)
        if offset < 0:
            raise BadInput("Point offsets must be non-negative")
        indices = np.asarray(vector.indices, dtype=np.uint32)
        values = np.asarray(vector.values, dtype=np.float32)
        if indices.shape != values.shape or indices.ndim != 1:
            raise BadInput("Sparse vector indices and values must be 1-D and of the same length")
        stored = SparseVector(indices=indices, values=values)
        with self._lock:
            if offset in self._vectors:
                self._remove_locked(offset)
            self._ensure_capacity(offset + 1)
            self._generation[offset] += 1
            generation = int(self._generation[offset])
            self._live[offset] = True
            self._vectors[offset] = stored
            for index, value in zip(indices.tolist(), values.tolist()):
                postings = self._postings.get(index)
                if postings is None:
                    postings = self._postings[index] = _Postings()
                postings.pending.append((offset, generation, value))
                self._doc_freq[index] = self._doc_freq.get(index, 0) + 1

    def remove(self, offset: int) -> bool:
        """Forget the vector at ``offset``; returns whether there was one."""
        with self._lock:
            return self._remove_locked(int(offset))

    def _remove_locked(self, offset: int) -> bool:
        vector = self._vectors.pop(offset, None)
        if vector is None:
            return False
        self._live[offset] = False
        for index in vector.indices.tolist():
            remaining = self._doc_freq[index] - 1
            postings = self._postings[index]
            postings.dead += 1
            if remaining == 0:
                del self._doc_freq[index]
                del self._postings[index]
            else:
                self._doc_freq[index] = remaining
                if postings.dead > remaining:
                    self._compact(postings)
        return True

    def _compact(self, postings: _Postings) -> None:
        offs, gens, vals = postings.arrays()
        keep = self._valid(offs, gens)
        postings.offsets, postings.generations, postings.values = offs[keep], gens[keep], vals[keep]
        postings.dead = 0

    def _valid(self, offs: np.ndarray, gens: np.ndarray) -> np.ndarray:
        return self._live[offs] & (self._generation[offs] == gens)

    def _ensure_capacity(self, needed: int) -> None:
        capacity = len(self._live)
        if needed <= capacity:
            return
        new_capacity = max(needed, int(capacity * _GROWTH) + 64)
        live = np.zeros(new_capacity, dtype=bool)
        live[:capacity] = self._live
        generation = np.zeros(new_capacity, dtype=np.uint32)
        generation[:capacity] = self._generation
        self._live, self._generation = live, generation

    # ------------------------------------------------------------------- reads

    def get(self, offset: int) -> SparseVector | None:
        """The stored vector at ``offset``, or None."""
        return self._vectors.get(int(offset))

    def has(self, offset: int) -> bool:
        """Whether a vector is stored at ``offset``."""
        return int(offset) in self._vectors

    def __len__(self) -> int:
        return len(self._vectors)

    @property
    def num_docs(self) -> int:
        """Number of stored vectors (N in the IDF formula)."""
        return len(self._vectors)

    def doc_frequencies(self, indices: Iterable[int]) -> dict[int, int]:
        """How many stored vectors contain each of ``indices`` (n in the IDF formula)."""
        with self._lock:
            return {int(i): self._doc_freq.get(int(i), 0) for i in indices}

    def live_offsets(self) -> np.ndarray:
        """Sorted offsets that hold a vector."""
        with self._lock:
            return np.array(sorted(self._vectors), dtype=np.int64)

    # ------------------------------------------------------------------ search

    def search(
        self,
        query: SparseVector,
        k: int,
        allowed: np.ndarray | None = None,
        idf_stats: tuple[int, Mapping[int, int]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` offsets by dot product with ``query``, best first.

        ``allowed`` is a sorted int64 array of candidate offsets, or None for all.
        With the ``idf`` modifier the query is weighted by IDF from this index's
        statistics, or from ``idf_stats = (num_docs, {dimension: doc_frequency})`` when
        given (collection-wide sums of :attr:`num_docs` and :meth:`doc_frequencies`).
        """
        if k <= 0 or len(query.indices) == 0:
            return _EMPTY_OFFSETS, _EMPTY_SCORES
        q_indices = np.asarray(query.indices).tolist()
        q_values = np.asarray(query.values, dtype=np.float64).tolist()
        allowed_arr = None if allowed is None else np.asarray(allowed, dtype=np.int64).reshape(-1)
        offsets_parts: list[np.ndarray] = []
        weight_parts: list[np.ndarray] = []
        with self._lock:
            num_docs = len(self._vectors) if idf_stats is None else int(idf_stats[0])
            doc_freq = self._doc_freq if idf_stats is None else idf_stats[1]
            for index, weight in zip(q_indices, q_values):
                postings = self._postings.get(index)
                if postings is None:
                    continue
                if self.modifier == IDF:
                    weight *= idf(num_docs, int(doc_freq.get(index, 0)))
                offs, gens, vals = postings.arrays()
                keep = self._valid(offs, gens)
                if not keep.all():
                    offs, vals = offs[keep], vals[keep]
                offsets_parts.append(offs)
                weight_parts.append(vals.astype(np.float64) * weight)
        if not offsets_parts:
            return _EMPTY_OFFSETS, _EMPTY_SCORES
        offsets = np.concatenate(offsets_parts)
        contributions = np.concatenate(weight_parts)
        if allowed_arr is not None:
            if len(allowed_arr) == 0:
                return _EMPTY_OFFSETS, _EMPTY_SCORES
            positions = np.searchsorted(allowed_arr, offsets)
            positions[positions == len(allowed_arr)] = 0
            member = allowed_arr[positions] == offsets
            offsets, contributions = offsets[member], contributions[member]
        if len(offsets) == 0:
            return _EMPTY_OFFSETS, _EMPTY_SCORES
        span = int(offsets.max()) + 1
        if len(offsets) * 4 >= span:
            # Dense hits: summing into an offset-indexed array beats sorting.
            touched = np.bincount(offsets, minlength=span) > 0
            unique = np.flatnonzero(touched).astype(np.int64)
            scores = np.bincount(offsets, weights=contributions, minlength=span)[unique].astype(np.float32)
        else:
            unique, inverse = np.unique(offsets, return_inverse=True)
            scores = np.bincount(inverse, weights=contributions, minlength=len(unique)).astype(np.float32)
        picked = top_k(scores, k, True, unique)
        return unique[picked], scores[picked]

    def score_offsets(self, query: SparseVector, offsets: np.ndarray) -> np.ndarray:
        """Plain dot products of ``query`` with the vectors at ``offsets`` (0 when absent)."""
        q = dict(zip(np.asarray(query.indices).tolist(), np.asarray(query.values, dtype=np.float64).tolist()))
        out = np.zeros(len(offsets), dtype=np.float32)
        with self._lock:
            for position, offset in enumerate(np.asarray(offsets).tolist()):
                vector = self._vectors.get(int(offset))
                if vector is None:
                    continue
                out[position] = sum(
                    q.get(i, 0.0) * v for i, v in zip(vector.indices.tolist(), vector.values.tolist())
                )
        return out
