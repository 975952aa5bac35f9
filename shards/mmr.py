"""Maximal marginal relevance (MMR): diversify nearest-neighbour results, as Qdrant does.

``{"nearest": <vector or id>, "mmr": {"diversity": d, "candidates_limit": c}}``:

1. the ``c`` nearest points (``c`` defaults to the request's limit) are fetched
   from every shard, with their vectors;
2. at the coordinator, with ``lambda = 1 - d`` (``d`` defaults to 0.5) and the raw
   similarity of the vector's distance (:mod:`shards.vector_space`), the most
   relevant candidate is picked first, then repeatedly the candidate maximising
   ``lambda * sim(query, c) - (1 - lambda) * max(sim(c, s) for s picked)``;
3. the picked points keep their original search score (the similarity to the
   query, post-processed as any search score): MMR decides the order only.

With fewer than two candidates there is nothing to re-rank.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from shards.hits import attach_records
from shards.operations import SearchRequest
from shards.types import ScoredPoint, VectorSelector
from shards.vector_space import VectorSpace, similarity_matrix, space_of

logger = logging.getLogger(__name__)

DEFAULT_DIVERSITY = 0.5
MAX_CANDIDATES_LIMIT = 16_384


@dataclass(frozen=True)
class Mmr:
    """MMR parameters of a nearest query; ``candidates_limit`` None means the request's limit."""

    diversity: float = DEFAULT_DIVERSITY
    candidates_limit: Optional[int] = None

    @property
    def lambda_(self) -> float:
        return 1.0 - self.diversity


def select(query_sims: np.ndarray, pair_sims: np.ndarray, lambda_: float, limit: int) -> list[int]:
    """Indices of up to ``limit`` candidates in MMR order.

    ``query_sims[i]`` is candidate i's similarity to the query, ``pair_sims[i, j]``
    its similarity to candidate j. Ties go to the earlier candidate.
    """
    n = len(query_sims)
    if n == 0 or limit <= 0:
        return []
    query_sims = np.asarray(query_sims, dtype=np.float64)
    pair_sims = np.asarray(pair_sims, dtype=np.float64)
    first = int(np.argmax(query_sims))
    selected = [first]
    remaining = np.ones(n, dtype=bool)
    remaining[first] = False
    # Max similarity of every candidate to the picked ones, updated as points are picked.
    closest = pair_sims[:, first].copy()
    while len(selected) < min(limit, n):
        scores = lambda_ * query_sims - (1.0 - lambda_) * closest
        scores[~remaining] = -np.inf
        best = int(np.argmax(scores))
        selected.append(best)
        remaining[best] = False
        closest = np.maximum(closest, pair_sims[:, best])
    return selected


def rerank(space: VectorSpace, query: Any, candidates: list[ScoredPoint], lambda_: float, limit: int) -> list[ScoredPoint]:
    """The MMR selection of ``candidates`` (hits carrying their ``space.name`` vector)."""
    with_vectors = [
        (hit, (hit.vectors or {}).get(space.name)) for hit in dict((hit.id, hit) for hit in candidates).values()
    ]
    with_vectors = [(hit, vector) for hit, vector in with_vectors if vector is not None]
    hits = [hit for hit, _ in with_vectors]
    if len(hits) < 2:
        return hits[:limit]
    docs = [space.prepare(vector) for _, vector in with_vectors]
    query_sims = similarity_matrix(space, docs, [space.prepare(query)])[:, 0]
    pair_sims = similarity_matrix(space, docs, docs)
    return [hits[i] for i in select(query_sims, pair_sims, lambda_, limit)]


async def run_mmr(collection: Any, request: SearchRequest, mmr: Mmr, options: Any) -> list[ScoredPoint]:
    """Nearest search for ``request.query`` (a vector) re-ranked with MMR, paged by ``request``."""
    space = space_of(collection, request.vector_name)
    wanted = request.offset + request.limit
    candidates_limit = mmr.candidates_limit if mmr.candidates_limit is not None else request.limit
    if candidates_limit <= 0:
        return []
    fetch = replace(
        request,
        offset=0,
        limit=candidates_limit,
        with_vector=VectorSelector(enabled=True, names=(request.vector_name,)),
    )
    candidates = await collection.search(fetch, options)
    picked = rerank(space, request.query, candidates, mmr.lambda_, wanted)[request.offset :]
    page = [replace(hit, payload=None, vectors=None) for hit in picked]
    return await attach_records(collection, page, request, options)


__all__ = ["DEFAULT_DIVERSITY", "MAX_CANDIDATES_LIMIT", "Mmr", "rerank", "run_mmr", "select"]
