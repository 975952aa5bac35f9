"""Recommendation, discovery and context queries, scored as Qdrant scores them.

An :class:`ExploreQuery` holds examples: point ids (their vector is read from
the collection, or from the ``lookup_from`` one; ids of the queried collection
are left out of the results) or raw vectors, dense, multi or sparse like the
``using`` vector. With ``sim`` the internal similarity of
:mod:`shards.vector_space` (dot product of prepared vectors for Cosine/Dot,
``-|a-b|^2`` for Euclid, ``-|a-b|_1`` for Manhattan, MaxSim for multi-vectors,
the sparse dot product):

* recommend, ``average_vector``: a nearest search for
  ``avg(positives) + avg(positives) - avg(negatives)`` (just the positive
  average without negatives; multi-vectors are concatenated instead, see
  :func:`shards.vector_space.average_query`), through the normal search path;
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

from shards.conditions import HasIdCondition
from shards.filters import Filter
from shards.hits import attach_records
from shards.operations import ScrollRequest, SearchRequest
from shards.lookup import LookupLocation, fetch_vectors, resolve_source
from shards.types import PayloadSelector, PointId, ScoredPoint, SparseVector, VectorSelector, point_id_key
from shards.vector_space import VectorSpace, average_query, similarity_matrix, space_of

STRATEGIES = ("average_vector", "best_score", "sum_scores")
_EPSILON = float(np.finfo(np.float32).eps)
_SCAN_PAGE = 1000


@dataclass(frozen=True, eq=False)
class ExploreQuery:
    """``recommend`` (``positive``, ``negative``, ``strategy``), ``discover`` (``target``, ``pairs``)
    or ``context`` (``pairs``); every example is a point id or a vector (np.ndarray or SparseVector)."""

    kind: str
    strategy: str = "average_vector"
    positive: tuple[Any, ...] = ()
    negative: tuple[Any, ...] = ()
    target: Any = None
    pairs: tuple[tuple[Any, Any], ...] = ()
    lookup: Optional[LookupLocation] = None  # ``lookup_from``: where example ids are read

    def examples(self) -> list[Any]:
        out = list(self.positive) + list(self.negative)
        if self.target is not None:
            out.append(self.target)
        for pos, neg in self.pairs:
            out.extend((pos, neg))
        return out

    def example_ids(self) -> list[PointId]:
        return list(dict.fromkeys(e for e in self.examples() if not isinstance(e, (np.ndarray, SparseVector))))

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


def score_candidates(space: VectorSpace, query: ExploreQuery, docs: list, vec) -> np.ndarray:
    """Scores of the prepared candidate vectors ``docs``; ``vec`` maps an example to its prepared vector."""

    def sims(items) -> np.ndarray:
        return similarity_matrix(space, docs, [vec(item) for item in items])

    if query.kind == "recommend":
        pos, neg = sims(query.positive), sims(query.negative)
        return best_score(pos, neg) if query.strategy == "best_score" else sum_scores(pos, neg)
    pair_pos = sims([p for p, _ in query.pairs])
    pair_neg = sims([n for _, n in query.pairs])
    if query.kind == "discover":
        target = sims([query.target])[:, 0]
        return discover_scores(target, pair_pos, pair_neg)
    return context_scores(pair_pos, pair_neg)


# --------------------------------------------------------------------------- execution


def _and(*filters: Optional[Filter]) -> Optional[Filter]:
    present = tuple(f for f in filters if f is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else Filter(must=present)


async def run_explore(collection, request: SearchRequest, query: ExploreQuery, options) -> list[ScoredPoint]:
    """Execute ``query`` for ``request`` (its vector name, filter, paging, threshold and selectors)."""
    space = space_of(collection, request.vector_name)
    ids = query.example_ids()
    source = resolve_source(collection, query.lookup, request.vector_name, options)
    stored = await fetch_vectors(source, ids)
    prepared_examples = {pid: space.prepare(value) for pid, value in stored.items()}

    def vec(item) -> Any:
        if isinstance(item, (np.ndarray, SparseVector)):
            return space.prepare(item)
        return prepared_examples[item]

    excluded = ids if source.same_collection else []
    exclude = Filter(must_not=(HasIdCondition(frozenset(excluded)),)) if excluded else None
    filt = _and(request.filter, exclude)

    if query.is_average:
        target = average_query(
            space, [vec(item) for item in query.positive], [vec(item) for item in query.negative]
        )
        return await collection.search(replace(request, query=target, filter=filt), options)

    cand_ids, rows = await _scan(collection, filt, request.vector_name, options)
    if not cand_ids:
        return []
    docs = [space.prepare(row) for row in rows]
    scores = score_candidates(space, query, docs, vec).astype(np.float32)
    threshold = request.score_threshold
    order = sorted(
        (i for i in range(len(cand_ids)) if threshold is None or scores[i] > threshold),
        key=lambda i: (-float(scores[i]), point_id_key(cand_ids[i])),
    )
    page = order[request.offset : request.offset + request.limit]
    hits = [ScoredPoint(id=cand_ids[i], version=0, score=float(scores[i])) for i in page]
    return await attach_records(collection, hits, request, options, with_versions=True)


async def _scan(collection, filt: Optional[Filter], name: str, options) -> tuple[list[PointId], list[Any]]:
    """Every point matching ``filt`` that has the vector ``name``, with that vector."""
    ids: list[PointId] = []
    rows: list[Any] = []
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
                rows.append(vector)
        if offset is None:
            break
    return ids, rows


__all__ = [
    "STRATEGIES",
    "ExploreQuery",
    "best_score",
    "context_scores",
    "discover_scores",
    "higher_is_better",
    "run_explore",
    "score_candidates",
    "sum_scores",
]
