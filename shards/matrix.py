"""Distance matrix among a sample of points (``/points/search/matrix/pairs|offsets``).

Given the sampled points' vectors, each sample point gets its ``limit`` nearest
other sample points, scored exactly with the vector's distance (Cosine, Dot,
Euclid, Manhattan; multi-vectors by MaxSim; sparse vectors by dot product).
"""

from __future__ import annotations

import random
from typing import Any, Sequence

import numpy as np

from shards import distance as dist
from shards.types import PointId, SparseVector, point_id_key

SAMPLE_SEED = 0x5EED


def sample_ids(ids: Sequence[PointId], sample: int, seed: int = SAMPLE_SEED) -> list[PointId]:
    """A deterministic random sample of ``ids`` (all of them, shuffled, when there are fewer)."""
    ordered = sorted(ids, key=point_id_key)
    return random.Random(seed).sample(ordered, min(sample, len(ordered)))


def _sparse_as_dense(vectors: Sequence[SparseVector]) -> np.ndarray:
    indices = sorted({int(i) for v in vectors for i in v.indices})
    column = {index: c for c, index in enumerate(indices)}
    out = np.zeros((len(vectors), max(1, len(indices))), dtype=np.float32)
    for row, v in enumerate(vectors):
        for i, value in zip(v.indices, v.values):
            out[row, column[int(i)]] += value
    return out


def neighbours(vectors: Sequence[Any], distance: str | None, limit: int) -> list[list[tuple[int, float]]]:
    """For each row, ``(column, score)`` of its ``limit`` best other rows, best first.

    ``distance`` is None for sparse vectors (dot product, higher is better).
    """
    n = len(vectors)
    if n == 0:
        return []
    multi = distance is not None and np.asarray(vectors[0]).ndim == 2
    if distance is None or isinstance(vectors[0], SparseVector):
        distance, matrix = dist.DOT, _sparse_as_dense(vectors)  # type: ignore[arg-type]
    elif multi:
        docs = [dist.prepare(distance, np.asarray(v, dtype=np.float32)) for v in vectors]
    else:
        matrix = dist.prepare(distance, np.stack([np.asarray(v, dtype=np.float32) for v in vectors]))
    higher = dist.higher_is_better(distance)
    out: list[list[tuple[int, float]]] = []
    for i in range(n):
        if multi:
            scores = dist.max_sim_many(distance, docs[i], docs).astype(np.float64)
        else:
            scores = dist.score_matrix(distance, matrix[i], matrix).astype(np.float64)
        scores[i] = -np.inf if higher else np.inf
        best = dist.top_k(scores, min(limit, n - 1), higher)
        out.append([(int(j), float(scores[j])) for j in best])
    return out
