"""Distance functions with Qdrant's score conventions.

Every function here speaks in *scores* as Qdrant reports them:

    Cosine     stored and query vectors are L2-normalized; score = dot product, higher is better
    Dot        score = dot product, higher is better
    Euclid     score = L2 distance (not squared), lower is better
    Manhattan  score = L1 distance, lower is better

Multi-vectors (ColBERT style) are compared with ``max_sim``: for every query row
take its best match among the document rows, then add those up.  For Euclid and
Manhattan Qdrant does this on its internal similarities (negative squared L2,
negative L1) and only post-processes the sum, so the reported score is
``sqrt(sum_i min_j |q_i - d_j|^2)`` for Euclid (qdrant/qdrant#6294, kept as
"wontfix" and matched by qdrant-client's local mode) and ``sum_i min_j |q_i - d_j|_1``
for Manhattan.  We reproduce that exactly; lower is better for both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from consensus.errors import BadInput

COSINE = "Cosine"
EUCLID = "Euclid"
DOT = "Dot"
MANHATTAN = "Manhattan"

DISTANCES: tuple[str, ...] = (COSINE, EUCLID, DOT, MANHATTAN)

# Rows per block when a distance needs a (rows x dim) temporary, to bound memory.
_BLOCK_ROWS = 8192


def validate_distance(distance: str) -> str:
    """Return ``distance`` if it is one Qdrant knows, else raise :class:`BadInput`."""
    if distance not in DISTANCES:
        raise BadInput(
            f"Unknown distance {distance!r}: expected one of {', '.join(DISTANCES)}"
        )
    return distance


def higher_is_better(distance: str) -> bool:
    """True for similarity scores (Cosine, Dot), False for distances (Euclid, Manhattan)."""
    return distance in (COSINE, DOT)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """L2-normalize along the last axis as float32; zero rows stay zero."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:  # a single query: avoid np.linalg.norm's per-call overhead
        norm = float(np.dot(arr, arr)) ** 0.5
        return arr * np.float32(1.0 / norm) if norm > 0 else arr
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    # Dividing by 1 leaves zero vectors zero instead of turning them into NaN.
    norms[norms == 0] = 1.0
    return (arr / norms).astype(np.float32, copy=False)


def prepare(distance: str, vectors: np.ndarray) -> np.ndarray:
    """Pre-process vectors (one, a batch, or a multi-vector) before storing or querying.

    Cosine normalizes each vector (last axis); the other distances only cast to float32.
    """
    if distance == COSINE:
        return normalize(vectors)
    return np.asarray(vectors, dtype=np.float32)


def score_matrix(distance: str, query: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Scores of one prepared 1-D ``query`` against every row of ``matrix`` (n, d), as float32."""
    q = np.asarray(query, dtype=np.float32)
    m = np.asarray(matrix)
    if m.dtype != np.float32:
        m = m.astype(np.float32)
    n = m.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.float32)
    if distance in (COSINE, DOT):
        return (m @ q).astype(np.float32, copy=False)
    out = np.empty(n, dtype=np.float32)
    # Work on differences rather than |a|^2 - 2ab + |b|^2: the expansion loses the
    # exact zero for identical vectors, which clients notice (score 0.0 expected).
    for start in range(0, n, _BLOCK_ROWS):
        diff = m[start:start + _BLOCK_ROWS] - q
        if distance == EUCLID:
            out[start:start + len(diff)] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        elif distance == MANHATTAN:
            out[start:start + len(diff)] = np.abs(diff).sum(axis=1)
        else:
            raise BadInput(f"Unknown distance {distance!r}")
    return out


def score_pair(distance: str, a: np.ndarray, b: np.ndarray) -> float:
    """Score between two prepared 1-D vectors."""
    return float(score_matrix(distance, a, np.asarray(b, dtype=np.float32)[None, :])[0])


def passes_threshold(distance: str, score: float, threshold: float | None) -> bool:
    """Whether ``score`` satisfies a client ``score_threshold``.

    Like Qdrant's ``Distance::check_threshold`` the comparison is strict: scores must be
    above the threshold for Cosine/Dot and below it (a maximum distance) for Euclid/Manhattan.
    """
    if threshold is None:
        return True
    if higher_is_better(distance):
        return score > threshold
    return score < threshold


def threshold_mask(distance: str, scores: np.ndarray, threshold: float | None) -> np.ndarray:
    """Vectorized :func:`passes_threshold`: a bool mask over ``scores``."""
    scores = np.asarray(scores)
    if threshold is None:
        return np.ones(scores.shape, dtype=bool)
    if higher_is_better(distance):
        return scores > threshold
    return scores < threshold


def top_k(scores: np.ndarray, k: int, higher_better: bool, ids: np.ndarray | None = None) -> np.ndarray:
    """Positions of the best ``k`` scores, best first; ties broken by ascending ``ids``.

    ``ids`` defaults to the positions themselves.
    """
    n = len(scores)
    if k <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    key = -scores.astype(np.float64) if higher_better else scores.astype(np.float64)
    if k < n:
        # Take everything tied with the k-th key so the tie-break below is exact.
        part = np.argpartition(key, k - 1)
        kth = key[part[k - 1]]
        chosen = np.flatnonzero(key <= kth)
    else:
        chosen = np.arange(n)
    tie = chosen if ids is None else np.asarray(ids)[chosen]
    order = np.lexsort((tie, key[chosen]))
    return chosen[order][:k].astype(np.int64, copy=False)


def _similarity_blocks(distance: str, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Internal similarity (larger is better) of each query row vs each doc row: (m, total)."""
    if distance in (COSINE, DOT):
        return query @ rows.T
    if distance == EUCLID:
        diff = query[:, None, :] - rows[None, :, :]
        return -np.einsum("ijk,ijk->ij", diff, diff)
    if distance == MANHATTAN:
        return -np.abs(query[:, None, :] - rows[None, :, :]).sum(axis=2)
    raise BadInput(f"Unknown distance {distance!r}")


def _postprocess_multi(distance: str, sums: np.ndarray) -> np.ndarray:
    if distance == EUCLID:
        return np.sqrt(np.abs(sums))
    if distance == MANHATTAN:
        return np.abs(sums)
    return sums


def max_sim(distance: str, query: np.ndarray, doc: np.ndarray) -> float:
    """MaxSim score of a prepared multi-vector ``query`` (m, d) against ``doc`` (k, d).

    See the module docstring for the Euclid/Manhattan convention.
    """
    return float(max_sim_many(distance, query, [doc])[0])


def max_sim_many(distance: str, query: np.ndarray, docs: Sequence[np.ndarray]) -> np.ndarray:
    """MaxSim scores of ``query`` against many documents at once (vectorized), as float32."""
    if len(docs) == 0:
        return np.empty(0, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32)
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    out = np.zeros(len(docs), dtype=np.float64)
    non_empty = np.flatnonzero(lengths > 0)
    if len(non_empty) == 0 or len(q) == 0:
        return out.astype(np.float32)
    # Bound the (m x rows x d) temporaries of Euclid/Manhattan by scoring docs in groups.
    per_row = max(1, len(q) * (q.shape[1] if distance in (EUCLID, MANHATTAN) else 1))
    budget_rows = max(1, 4_000_000 // per_row)
    group: list[int] = []
    group_rows = 0
    for index in non_empty.tolist():
        group.append(index)
        group_rows += int(lengths[index])
        if group_rows >= budget_rows:
            _max_sim_group(distance, q, docs, lengths, group, out)
            group, group_rows = [], 0
    if group:
        _max_sim_group(distance, q, docs, lengths, group, out)
    return out.astype(np.float32)


def _max_sim_group(
    distance: str,
    query: np.ndarray,
    docs: Sequence[np.ndarray],
    lengths: np.ndarray,
    group: list[int],
    out: np.ndarray,
) -> None:
    rows = np.concatenate([np.asarray(docs[i], dtype=np.float32) for i in group], axis=0)
    sims = _similarity_blocks(distance, query, rows).astype(np.float64)
    starts = np.zeros(len(group), dtype=np.int64)
    np.cumsum(lengths[group][:-1], out=starts[1:])
    best = np.maximum.reduceat(sims, starts, axis=1)  # (m, len(group))
    out[group] = _postprocess_multi(distance, best.sum(axis=0))
