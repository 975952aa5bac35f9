"""Recommendation, discovery and context queries, scored as Qdrant scores them.

An :class:`ExploreQuery` holds examples: point ids (their ``using`` vector is
read from the collection, and the points are left out of the results) or raw
dense vectors. With ``sim`` the internal similarity (dot product of prepared
vectors for Cosine/Dot, ``-|a-b|^2`` for Euclid, ``-|a-b|_1`` for Manhattan):

* recommend, ``average_vector``: a nearest search for
  ``avg(positives) + avg(positives) - avg(negatives)`` (just the positive
  average without negatives), through the normal search path;
* recommend, ``best_score``: with ``p = max sim(positives)`` and
  ``n = max sim(negatives)`` (-inf when absent), ``sigmoid(p)`` if ``p > n`` else
  ``-sigmoid(n)``, where ``sigmoid(x) = 0.5 * (x / (1 + |x|) + 1)``;
* recommend, ``sum_scores``: ``sum sim(positives) - sum sim(negatives)``;
* discover: ``rank + sigmoid(sim(target))``, ``rank`` adding +1 for every
  context pair whose positive is more similar than its negative and -1 otherwise;
* context: ``sum over pairs of fast_sigmoid(min(sim(pos) - sim(neg) - eps, 0))``,
  with ``fast_sigmoid(x) = x / (1 + |x|)`` (0 is the best score).

Everything but ``average_vector`` is an exact scan of the candidates matching the
filter (through ``Collection.scroll``), scored in numpy; higher is always better.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from consensus.errors import BadInput, NotFound
from shards import distance as dist
from shards.conditions import HasIdCondition
from shards.filters import Filter
from shards.hits import attach_records
from shards.operations import ScrollRequest, SearchRequest
from shards.types import PayloadSelector, PointId, ScoredPoint, VectorSelector, point_id_key

STRATEGIES = ("average_vector", "best_score", "sum_scores")
_EPSILON = float(np.finfo(np.float32).eps)
_SCAN_PAGE = 1000


@dataclass(frozen=True, eq=False)
class ExploreQuery:
    """``recommend`` (``positive``, ``negative``, ``strategy``), ``discover`` (``target``, ``pairs``)
    or ``context`` (``pairs``); every example is a point id or a dense vector (np.ndarray)."""

    kind: str
    strategy: str = "average_vector"
    positive: tuple[Any, ...] = ()
    negative: tuple[Any, ...] = ()
    target: Any = None
    pairs: tuple[tuple[Any, Any], ...] = ()

    def examples(self) -> list[Any]:
        out = list(self.positive) + list(self.negative)
        if self.target is not None:
            out.append(self.target)
        for pos, neg in self.pairs:
            out.extend((pos, neg))
        return out

    def example_ids(self) -> list[PointId]:
        return list(dict.fromkeys(e for e in self.examples() if not isinstance(e, np.ndarray)))

    @property
    def is_average(self) -> bool:
        return self.kind == "recommend" and self.strategy == "average_vector"


def higher_is_better(collection, vector_name: str, query: ExploreQuery) -> bool:
    if query.is_average:
        return collection.higher_is_better(vector_name, None)
    return True


# --------------------------------------------------------------------------- scoring


def fast_sigmoid(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.abs(x))


def scaled_fast_sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (fast_sigmoid(x) + 1.0)


def similarities(distance: str, candidates: np.ndarray, examples: np.ndarray) -> np.ndarray:
    """Internal similarity (larger is better) of every candidate row vs every example row: (n, k)."""
    c = np.asarray(candidates, dtype=np.float64)
    e = np.asarray(examples, dtype=np.float64)
    if len(c) == 0 or len(e) == 0:
        return np.zeros((len(c), len(e)))
    if distance in (dist.COSINE, dist.DOT):
        return c @ e.T
    diff = c[:, None, :] - e[None, :, :]
    if distance == dist.EUCLID:
        return -np.einsum("ijk,ijk->ij", diff, diff)
    if distance == dist.MANHATTAN:
        return -np.abs(diff).sum(axis=2)
    raise BadInput(f"Unknown distance {distance!r}")


def average_vector(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    avg_pos = np.asarray(positive, dtype=np.float64).mean(axis=0)
    if len(negative) == 0:
        return avg_pos
    return avg_pos + avg_pos - np.asarray(negative, dtype=np.float64).mean(axis=0)


def best_score(pos_sims: np.ndarray, neg_sims: np.ndarray) -> np.ndarray:
    n = pos_sims.shape[0]
    max_pos = pos_sims.max(axis=1) if pos_sims.shape[1] else np.full(n, -np.inf)
    max_neg = neg_sims.max(axis=1) if neg_sims.shape[1] else np.full(n, -np.inf)
    with np.errstate(invalid="ignore"):
        return np.where(max_pos > max_neg, scaled_fast_sigmoid(max_pos), -scaled_fast_sigmoid(max_neg))


def sum_scores(pos_sims: np.ndarray, neg_sims: np.ndarray) -> np.ndarray:
    return pos_sims.sum(axis=1) - neg_sims.sum(axis=1)


def discover_scores(target_sims: np.ndarray, pair_pos: np.ndarray, pair_neg: np.ndarray) -> np.ndarray:
    rank = np.where(pair_pos > pair_neg, 1.0, -1.0).sum(axis=1)
    return rank + scaled_fast_sigmoid(target_sims)


def context_scores(pair_pos: np.ndarray, pair_neg: np.ndarray) -> np.ndarray:
    return fast_sigmoid(np.minimum(pair_pos - pair_neg - _EPSILON, 0.0)).sum(axis=1)


def score_candidates(distance: str, query: ExploreQuery, matrix: np.ndarray, vec) -> np.ndarray:
    """Scores of the prepared candidate ``matrix`` (n, d); ``vec`` maps an example to its prepared vector."""
    d = matrix.shape[1]

    def stack(items) -> np.ndarray:
        return np.stack([vec(item) for item in items]) if items else np.empty((0, d))

    if query.kind == "recommend":
        pos = similarities(distance, matrix, stack(query.positive))
        neg = similarities(distance, matrix, stack(query.negative))
        return best_score(pos, neg) if query.strategy == "best_score" else sum_scores(pos, neg)
    pair_pos = similarities(distance, matrix, stack([p for p, _ in query.pairs]))
    pair_neg = similarities(distance, matrix, stack([n for _, n in query.pairs]))
    if query.kind == "discover":
        target = similarities(distance, matrix, stack([query.target]))[:, 0]
        return discover_scores(target, pair_pos, pair_neg)
    return context_scores(pair_pos, pair_neg)


# --------------------------------------------------------------------------- execution


def _and(*filters: Optional[Filter]) -> Optional[Filter]:
    present = tuple(f for f in filters if f is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else Filter(must=present)


async def _lookup(collection, ids: list[PointId], name: str, options) -> dict[PointId, np.ndarray]:
    if not ids:
        return {}
    records = await collection.retrieve(
        ids, PayloadSelector(enabled=False), VectorSelector(enabled=True, names=(name,)), replace(options, consistency=None)
    )
    found = {record.id: record for record in records}
    out: dict[PointId, np.ndarray] = {}
    for pid in ids:
        record = found.get(pid)
        if record is None:
            raise NotFound(f"Not found: No point with id {pid} found")
        vector = (record.vectors or {}).get(name)
        if vector is None:
            raise BadInput(f"Wrong input: Vector `{name}` is not found in point {pid}")
        out[pid] = np.asarray(vector, dtype=np.float32)
    return out


async def run_explore(collection, request: SearchRequest, query: ExploreQuery, options) -> list[ScoredPoint]:
    """Execute ``query`` for ``request`` (its vector name, filter, paging, threshold and selectors)."""
    name = request.vector_name
    params = collection.dense_params.get(name)
    if params is None:
        if name in collection.sparse_params:
            raise BadInput(f"Bad request: {query.kind} queries are not supported yet on sparse vectors")
        raise BadInput(f"Wrong input: Not existing vector name error: {name}")
    if params.multivector:
        raise BadInput(f"Bad request: {query.kind} queries are not supported yet on multi-vectors")
    distance = params.distance
    ids = query.example_ids()
    stored = await _lookup(collection, ids, name, options)

    def vec(item) -> np.ndarray:
        raw = item if isinstance(item, np.ndarray) else stored[item]
        return dist.prepare(distance, np.asarray(raw, dtype=np.float32).reshape(-1)).astype(np.float64)

    exclude = Filter(must_not=(HasIdCondition(frozenset(ids)),)) if ids else None
    filt = _and(request.filter, exclude)

    if query.is_average:
        pos = np.stack([vec(item) for item in query.positive])
        neg = np.stack([vec(item) for item in query.negative]) if query.negative else np.empty((0, pos.shape[1]))
        target = average_vector(pos, neg).astype(np.float32)
        return await collection.search(replace(request, query=target, filter=filt), options)

    cand_ids, matrix = await _scan(collection, filt, name, options)
    if not cand_ids:
        return []
    prepared = dist.prepare(distance, matrix).astype(np.float64)
    scores = score_candidates(distance, query, prepared, vec).astype(np.float32)
    threshold = request.score_threshold
    order = sorted(
        (i for i in range(len(cand_ids)) if threshold is None or scores[i] > threshold),
        key=lambda i: (-float(scores[i]), point_id_key(cand_ids[i])),
    )
    page = order[request.offset : request.offset + request.limit]
    hits = [ScoredPoint(id=cand_ids[i], version=0, score=float(scores[i])) for i in page]
    return await attach_records(collection, hits, request, options, with_versions=True)


async def _scan(collection, filt: Optional[Filter], name: str, options) -> tuple[list[PointId], np.ndarray]:
    """Every point matching ``filt`` that has the vector ``name``, with that vector."""
    ids: list[PointId] = []
    rows: list[np.ndarray] = []
    offset = None
    while True:
        scroll = ScrollRequest(
            filter=filt,
            limit=_SCAN_PAGE,
            offset=offset,
            with_payload=PayloadSelector(enabled=False),
            with_vector=VectorSelector(enabled=True, names=(name,)),
        )
        records, offset = await collection.scroll(scroll, options)
        for record in records:
            vector = (record.vectors or {}).get(name)
            if vector is not None:
                ids.append(record.id)
                rows.append(np.asarray(vector, dtype=np.float32).reshape(-1))
        if offset is None:
            break
    matrix = np.stack(rows) if rows else np.empty((0, 0), dtype=np.float32)
    return ids, matrix


__all__ = [
    "STRATEGIES",
    "ExploreQuery",
    "average_vector",
    "best_score",
    "context_scores",
    "discover_scores",
    "higher_is_better",
    "run_explore",
    "score_candidates",
    "sum_scores",
]
