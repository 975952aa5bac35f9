"""Multi-stage queries: ``prefetch`` trees, fused (RRF, DBSF) or re-scored by a nearest query.

A :class:`QueryPlan` node is one stage of ``POST /points/query``:

* a leaf (no prefetches) is a plain search: nearest to a vector, nearest to a
  stored point (``by_id``), points ordered by a payload value (``order_by``), or,
  without a query, points in id order with score 0;
* a node with prefetches runs them first, then either fuses their result lists
  (``fusion``) or re-scores the union of their candidates with its own nearest
  query (exactly, restricted to those ids) or orders them by a payload value.

As in Qdrant, a node's filter is merged (AND) into every prefetch below it, and
``offset``, ``with_payload`` and ``with_vector`` only matter at the root. Every
search goes through :class:`~shards.collection.Collection`, so each stage fans out
over all shards and the stages compose across shards.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, replace
from typing import Literal, Optional

from consensus.errors import BadInput
from shards.conditions import HasIdCondition
from shards.filters import Filter
from shards.formula import Context, Formula
from shards.hits import attach_records
from shards.lookup import LookupLocation, fetch_vectors, resolve_source
from shards.mmr import Mmr, run_mmr
from shards.operations import CountRequest, OrderBy, ScrollRequest, SearchRequest
from shards.recommend import ExploreQuery, run_explore
from shards.recommend import higher_is_better as explore_higher_is_better
from shards.types import PayloadSelector, PointId, ScoredPoint, VectorSelector, point_id_key
from shards.vector_space import space_of

DEFAULT_RRF_K = 2


@dataclass(frozen=True)
class Fusion:
    """How a node merges its prefetches' result lists."""

    method: Literal["rrf", "dbsf"]
    k: int = DEFAULT_RRF_K
    weights: Optional[tuple[float, ...]] = None


@dataclass(frozen=True)
class QueryPlan:
    """One stage; ``request.query`` is None for fusion, by-id and id-order stages."""

    request: SearchRequest
    by_id: Optional[PointId] = None
    fusion: Optional[Fusion] = None
    prefetches: tuple["QueryPlan", ...] = ()
    formula: Optional[Formula] = None  # score the prefetches' candidates with a formula
    sample: bool = False  # {"sample": "random"}: random points, score 0
    mmr: Optional[Mmr] = None  # re-rank the nearest candidates with maximal marginal relevance
    lookup: Optional[LookupLocation] = None  # ``lookup_from`` for ``by_id``
    order_by: Optional[OrderBy] = None  # points ordered by a payload value, score 0


def merge_filters(outer: Optional[Filter], inner: Optional[Filter]) -> Optional[Filter]:
    if outer is None:
        return inner
    if inner is None:
        return outer
    return Filter(must=(outer, inner))


_NO_PAYLOAD = PayloadSelector(enabled=False)
_NO_VECTOR = VectorSelector(enabled=False)


async def run_query(collection, plan: QueryPlan, options) -> list[ScoredPoint]:
    """Execute ``plan`` on ``collection``; the root's offset, limit and selectors apply."""
    hits, _ = await _run(collection, plan, options, None, root=True)
    return hits


async def _run(
    collection, node: QueryPlan, options, outer: Optional[Filter], root: bool
) -> tuple[list[ScoredPoint], bool]:
    """The node's hits (best first) and whether higher scores are better in them."""
    request = node.request
    filt = merge_filters(outer, request.filter)
    if not root:
        request = replace(request, offset=0, with_payload=_NO_PAYLOAD, with_vector=_NO_VECTOR)
    request = replace(request, filter=filt)

    if not node.prefetches:
        if node.order_by is not None:
            return await _ordered(collection, node.order_by, request, options, None)
        if node.sample:
            return await _sample(collection, request, options, None)
        if node.formula is not None:
            raise BadInput("Wrong input: Formula queries need at least one prefetch: there is nothing to score")
        if node.fusion is not None:
            raise BadInput("Wrong input: Fusion queries require at least one prefetch")
        return await _leaf(collection, node, request, options)

    children = await asyncio.gather(
        *(_run(collection, child, options, filt, root=False) for child in node.prefetches)
    )
    if node.fusion is not None:
        fused = _fuse(node.fusion, list(children))
        threshold = request.score_threshold
        if threshold is not None:
            fused = [hit for hit in fused if hit.score > threshold]
        page = fused[request.offset : request.offset + request.limit]
        return await attach_records(collection, page, request, options), True
    if node.formula is not None:
        return await _rescore_formula(collection, node.formula, request, [hits for hits, _ in children], options), True
    if node.sample:
        ids = list(dict.fromkeys(hit.id for hits, _ in children for hit in hits))
        return await _sample(collection, request, options, ids)
    if node.order_by is not None:
        ids = list(dict.fromkeys(hit.id for hits, _ in children for hit in hits))
        return await _ordered(collection, node.order_by, request, options, ids)

    if request.query is None and node.by_id is None:
        raise BadInput("Wrong input: A query is needed to merge the prefetches. Can't have prefetches without a query.")
    ids = {hit.id for hits, _ in children for hit in hits}
    if not ids:
        return [], True
    restricted = Filter(must=(HasIdCondition(frozenset(ids)),) + ((filt,) if filt is not None else ()))
    rescore = replace(request, filter=restricted, exact=True)
    return await _nearest(collection, node, rescore, options)


async def _leaf(collection, node: QueryPlan, request: SearchRequest, options) -> tuple[list[ScoredPoint], bool]:
    if node.by_id is not None or request.query is not None:
        return await _nearest(collection, node, request, options)
    scroll = ScrollRequest(
        filter=request.filter,
        limit=request.offset + request.limit,
        with_payload=request.with_payload,
        with_vector=request.with_vector,
    )
    records, _ = await collection.scroll(scroll, options)
    hits = [
        ScoredPoint(id=r.id, version=r.version, score=0.0, payload=r.payload, vectors=r.vectors)
        for r in records[request.offset :]
    ]
    return hits, True


async def _nearest(collection, node: QueryPlan, request: SearchRequest, options) -> tuple[list[ScoredPoint], bool]:
    """Score by the node's query: explore, nearest to a vector or to a point's vector, maybe with MMR."""
    if isinstance(request.query, ExploreQuery):  # recommend, discover, context
        hits = await run_explore(collection, request, request.query, options)
        return hits, explore_higher_is_better(collection, request.vector_name, request.query)
    higher = collection.higher_is_better(request.vector_name, request.query)
    if node.by_id is not None:
        if node.lookup is None and node.mmr is None:
            return await collection.search_by_id(request, node.by_id, options), higher
        source = resolve_source(collection, node.lookup, request.vector_name, options)
        vector = (await fetch_vectors(source, [node.by_id]))[node.by_id]
        vector = space_of(collection, request.vector_name).check(vector)  # lookup_from: kind and size
        request = replace(request, query=vector)
        higher = collection.higher_is_better(request.vector_name, vector)
        if source.same_collection:
            skip = Filter(must_not=(HasIdCondition(frozenset([node.by_id])),))
            request = replace(request, filter=merge_filters(request.filter, skip))
    if node.mmr is not None:
        return await run_mmr(collection, request, node.mmr, options), higher
    return await collection.search(request, options), higher


# --------------------------------------------------------------------------- order_by, formula, sample


async def _ordered(
    collection, order_by: OrderBy, request: SearchRequest, options, ids: Optional[list]
) -> tuple[list[ScoredPoint], bool]:
    """Points (of ``ids``, or all matching the filter) ordered by a payload value, each with score 0.

    This is scroll with ``order_by`` (it needs a range index on the key, merges the shards
    by value then id); the hits carry the value as ``order_value``. ``score_threshold`` is
    ignored, as in Qdrant: every hit has the same score.
    """
    filt = request.filter
    if ids is not None:
        if not ids:
            return [], True
        filt = Filter(must=(HasIdCondition(frozenset(ids)),) + ((filt,) if filt is not None else ()))
    scroll = ScrollRequest(
        filter=filt,
        limit=request.offset + request.limit,
        with_payload=request.with_payload,
        with_vector=request.with_vector,
        order_by=order_by,
    )
    records, _ = await collection.scroll(scroll, options)
    hits = [
        ScoredPoint(
            id=r.id, version=r.version, score=0.0, payload=r.payload, vectors=r.vectors, order_value=r.order_value
        )
        for r in records[request.offset :]
    ]
    return hits, True


async def _rescore_formula(
    collection, formula: Formula, request: SearchRequest, sources: list[list[ScoredPoint]], options
) -> list[ScoredPoint]:
    """Score the union of the prefetches' candidates with ``formula``, best first."""
    scores = [{hit.id: hit.score for hit in hits} for hits in sources]
    ids = list(dict.fromkeys(hit.id for hits in sources for hit in hits))
    if not ids:
        return []
    records = await collection.retrieve(
        ids, PayloadSelector(enabled=True), VectorSelector(enabled=formula.needs_vectors), options
    )
    scored = []
    for record in records:
        vectors = record.vectors or {}
        ctx = Context(
            point_id=record.id,
            payload=record.payload or {},
            scores=scores,
            has_vector=lambda name, vectors=vectors: name in vectors,
        )
        scored.append(ScoredPoint(id=record.id, version=record.version, score=formula.evaluate(ctx)))
    scored.sort(key=lambda hit: (-hit.score, point_id_key(hit.id)))
    if request.score_threshold is not None:
        scored = [hit for hit in scored if hit.score >= request.score_threshold]
    page = scored[request.offset : request.offset + request.limit]
    return await attach_records(collection, page, request, options)


async def _sample(collection, request: SearchRequest, options, ids: Optional[list]) -> tuple[list[ScoredPoint], bool]:
    """``limit`` random points (of ``ids``, or of those matching the filter), each with score 0."""
    if ids is None:
        total = await collection.count(CountRequest(filter=request.filter, exact=True), options)
        if total == 0:
            return [], True
        scroll = ScrollRequest(filter=request.filter, limit=total, with_payload=_NO_PAYLOAD, with_vector=_NO_VECTOR)
        records, _ = await collection.scroll(scroll, options)
        ids = [record.id for record in records]
    chosen = random.sample(ids, min(len(ids), request.offset + request.limit))[request.offset :]
    hits = [ScoredPoint(id=pid, version=0, score=0.0) for pid in chosen]
    return await attach_records(collection, hits, request, options, with_versions=True), True


# --------------------------------------------------------------------------- fusion


def _fuse(fusion: Fusion, sources: list[tuple[list[ScoredPoint], bool]]) -> list[ScoredPoint]:
    if fusion.method == "rrf":
        return rrf(([hits for hits, _ in sources]), fusion.k, fusion.weights)
    return dbsf(sources)


def _sorted(scores: dict, points: dict) -> list[ScoredPoint]:
    ordered = sorted(scores, key=lambda pid: (-scores[pid], point_id_key(pid)))
    return [replace(points[pid], score=float(scores[pid])) for pid in ordered]


def rrf(lists: list[list[ScoredPoint]], k: int = DEFAULT_RRF_K, weights=None) -> list[ScoredPoint]:
    """Reciprocal rank fusion as Qdrant computes it.

    Position ``p`` (0-based) of a list with weight ``w`` adds
    ``1 / ((p + 1) / w + k - 1)``, i.e. ``1 / (p + k)`` for the default weight 1;
    a weight of 0 or less adds nothing. Ties are ordered by point id.
    """
    if weights is not None and len(weights) != len(lists):
        raise BadInput(
            "Wrong input: Number of weights in RRF should match number of pre-fetches: "
            f"got {len(weights)}, expected {len(lists)}"
        )
    scores: dict = {}
    points: dict = {}
    for index, hits in enumerate(lists):
        weight = 1.0 if weights is None else float(weights[index])
        for position, hit in enumerate(hits):
            gain = 0.0 if weight <= 0 else 1.0 / ((position + 1) / weight + k - 1)
            scores[hit.id] = scores.get(hit.id, 0.0) + gain
            points.setdefault(hit.id, hit)
    return _sorted(scores, points)


def dbsf(sources: list[tuple[list[ScoredPoint], bool]]) -> list[ScoredPoint]:
    """Distribution-based score fusion as Qdrant computes it.

    Each list is normalized with ``(s - (m - 3σ)) / 6σ`` (mean and sample standard
    deviation of that list; reversed for lists where lower is better; 0.5 for a
    single point or a constant list), then the normalized scores are summed per point.
    """
    scores: dict = {}
    points: dict = {}
    for hits, higher_better in sources:
        for hit, value in zip(hits, _distr_norm([hit.score for hit in hits], higher_better)):
            scores[hit.id] = scores.get(hit.id, 0.0) + value
            points.setdefault(hit.id, hit)
    return _sorted(scores, points)


def _distr_norm(values: list[float], higher_better: bool) -> list[float]:
    n = len(values)
    if n < 2:
        return [0.5] * n
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    low, high = mean - 3 * std, mean + 3 * std
    if low == high:
        return [0.5] * n
    if higher_better:
        return [(v - low) / (high - low) for v in values]
    return [(high - v) / (high - low) for v in values]


__all__ = ["DEFAULT_RRF_K", "Fusion", "QueryPlan", "dbsf", "merge_filters", "rrf", "run_query"]
