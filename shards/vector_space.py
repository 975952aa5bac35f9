"""Internal similarities between stored vectors of one vector name, whatever their kind.

Recommend, discover, context and MMR score candidates against examples (or
against each other) with the similarity Qdrant's raw scorers use: larger is
always better, before any post-processing:

* dense: dot product of prepared vectors for Cosine/Dot, ``-|a-b|^2`` for Euclid,
  ``-|a-b|_1`` for Manhattan;
* multi-vector (MaxSim): for every row of the *query* side, the best of those
  similarities over the rows of the *document* side, summed;
* sparse: the dot product over shared indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

from consensus.errors import BadInput
from shards import distance as dist
from shards.types import SparseVector

Kind = Literal["dense", "multi", "sparse"]


@dataclass(frozen=True)
class VectorSpace:
    """The kind and distance of one vector name of a collection."""

    name: str
    kind: Kind
    distance: str = dist.DOT
    size: int | None = None  # dense and multi: the dimension

    def check(self, value: Any) -> np.ndarray | SparseVector:
        """``value`` as an array (or the sparse vector), BadInput if it does not fit this space.

        Vectors read from a ``lookup_from`` collection may be of another kind or size.
        """
        if self.kind == "sparse":
            if not isinstance(value, SparseVector):
                raise BadInput("Wrong input: Conversion between sparse and regular vectors failed")
            return value
        if isinstance(value, SparseVector):
            raise BadInput("Wrong input: Conversion between sparse and regular vectors failed")
        arr = np.asarray(value, dtype=np.float32)
        if self.kind == "multi" and arr.ndim == 1:
            arr = arr[None, :]
        if self.kind == "dense" and arr.ndim != 1:
            raise BadInput("Wrong input: Conversion between multi and regular vectors failed")
        got = int(arr.shape[-1]) if arr.ndim else 0
        if self.size is not None and got != self.size:
            raise BadInput(f"Wrong input: Vector dimension error: expected dim: {self.size}, got {got}")
        return arr

    def prepare(self, value: Any) -> Any:
        """A raw stored or given vector as the similarity functions take it."""
        checked = self.check(value)
        if self.kind == "sparse":
            return checked
        if self.kind == "multi":
            return dist.prepare(self.distance, checked)
        return dist.prepare(self.distance, checked).astype(np.float64)


def space_of(collection: Any, name: str) -> VectorSpace:
    """The :class:`VectorSpace` of vector ``name`` of ``collection`` (BadInput if it has none)."""
    params = collection.dense_params.get(name)
    if params is not None:
        kind: Kind = "multi" if getattr(params, "multivector", None) else "dense"
        return VectorSpace(name=name, kind=kind, distance=params.distance, size=getattr(params, "size", None))
    if name in collection.sparse_params:
        return VectorSpace(name=name, kind="sparse")
    raise BadInput(f"Wrong input: Not existing vector name error: {name}")


def similarity_matrix(space: VectorSpace, docs: Sequence[Any], queries: Sequence[Any]) -> np.ndarray:
    """``(len(docs), len(queries))`` similarities of prepared vectors; each query scores each doc."""
    n, k = len(docs), len(queries)
    if n == 0 or k == 0:
        return np.zeros((n, k))
    if space.kind == "dense":
        return _dense(space.distance, np.stack(docs), np.stack(queries))
    if space.kind == "sparse":
        return _sparse(docs, queries)
    out = np.empty((n, k))
    for j, query in enumerate(queries):
        q = np.asarray(query, dtype=np.float64)
        for i, doc in enumerate(docs):
            if len(doc) == 0 or len(q) == 0:
                out[i, j] = 0.0
                continue
            sims = _dense(space.distance, q, np.asarray(doc, dtype=np.float64))  # (m, rows)
            out[i, j] = float(sims.max(axis=1).sum())
    return out


def _dense(distance: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Similarity of every row of ``a`` with every row of ``b``: (len(a), len(b))."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if distance in (dist.COSINE, dist.DOT):
        return a @ b.T
    diff = a[:, None, :] - b[None, :, :]
    if distance == dist.EUCLID:
        return -np.einsum("ijk,ijk->ij", diff, diff)
    if distance == dist.MANHATTAN:
        return -np.abs(diff).sum(axis=2)
    raise BadInput(f"Unknown distance {distance!r}")


def _sparse(docs: Sequence[SparseVector], queries: Sequence[SparseVector]) -> np.ndarray:
    """Sparse dot products: queries become dense columns over their own indices only."""
    columns = np.unique(np.concatenate([np.asarray(q.indices, dtype=np.int64) for q in queries]))
    query_matrix = np.zeros((len(columns), len(queries)))
    for j, query in enumerate(queries):
        positions = np.searchsorted(columns, np.asarray(query.indices, dtype=np.int64))
        query_matrix[positions, j] = np.asarray(query.values, dtype=np.float64)
    doc_matrix = np.zeros((len(docs), len(columns)))
    if len(columns):
        for i, doc in enumerate(docs):
            indices = np.asarray(doc.indices, dtype=np.int64)
            if len(indices) == 0:
                continue
            positions = np.searchsorted(columns, indices)
            positions[positions == len(columns)] = 0
            member = columns[positions] == indices
            doc_matrix[i, positions[member]] = np.asarray(doc.values, dtype=np.float64)[member]
    return doc_matrix @ query_matrix


# --------------------------------------------------------------------------- average_vector


def combine_sparse(a: SparseVector, b: SparseVector, wa: float, wb: float) -> SparseVector:
    """``wa * a + wb * b`` over the union of their indices."""
    indices = np.union1d(np.asarray(a.indices, dtype=np.int64), np.asarray(b.indices, dtype=np.int64))
    values = np.zeros(len(indices))
    values[np.searchsorted(indices, a.indices)] += wa * np.asarray(a.values, dtype=np.float64)
    values[np.searchsorted(indices, b.indices)] += wb * np.asarray(b.values, dtype=np.float64)
    return SparseVector(indices=indices.astype(np.uint32), values=values.astype(np.float32))


def _average_sparse(vectors: Sequence[SparseVector]) -> SparseVector:
    total = SparseVector(indices=np.empty(0, dtype=np.uint32), values=np.empty(0, dtype=np.float32))
    for vector in vectors:
        total = combine_sparse(total, vector, 1.0, 1.0)
    return SparseVector(indices=total.indices, values=(total.values / len(vectors)).astype(np.float32))


def average_query(space: VectorSpace, positive: Sequence[Any], negative: Sequence[Any]) -> Any:
    """The ``average_vector`` recommend query from raw example vectors, as Qdrant builds it.

    Dense and sparse: ``avg(pos)``, or ``avg(pos) + avg(pos) - avg(neg)`` with negatives.
    Multi-vectors are not averaged: all positive rows are concatenated, then all negative
    rows negated.
    """
    if not positive:
        raise BadInput("Wrong input: Positive vectors should not be empty with `average` strategy")
    if space.kind == "sparse":
        avg_pos = _average_sparse(positive)
        if not negative:
            return avg_pos
        return combine_sparse(avg_pos, _average_sparse(negative), 2.0, -1.0)
    if space.kind == "multi":
        rows = [np.asarray(v, dtype=np.float32).reshape(-1, np.shape(v)[-1]) for v in positive]
        rows += [-np.asarray(v, dtype=np.float32).reshape(-1, np.shape(v)[-1]) for v in negative]
        return np.concatenate(rows, axis=0)
    pos = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in positive]).mean(axis=0)
    if not negative:
        return pos.astype(np.float32)
    neg = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in negative]).mean(axis=0)
    return (pos + pos - neg).astype(np.float32)


__all__ = ["VectorSpace", "average_query", "combine_sparse", "similarity_matrix", "space_of"]
