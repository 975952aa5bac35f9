"""Exact reference answers, computed in numpy, for checking a cluster's query results.

Scores follow Qdrant's conventions: Cosine is the dot product of unit vectors,
Dot the plain dot product, sparse vectors score by the dot product over shared
indices, multi-vectors by MaxSim (sum over query rows of the best document row).
Recommend/discover/context use Qdrant's internal similarities (the same as the
above for Cosine and Dot).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

EARTH_RADIUS_M = 6371008.8


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def cosine(data, query) -> np.ndarray:
    return unit(data) @ unit(query)


def dot(data, query) -> np.ndarray:
    return np.asarray(data, np.float64) @ np.asarray(query, np.float64)


def euclid(data, query) -> np.ndarray:
    return np.sqrt(((np.asarray(data, np.float64) - np.asarray(query, np.float64)) ** 2).sum(axis=-1))


def sparse_dot(docs: Sequence[tuple], q_idx: Sequence[int], q_val: Sequence[float]) -> np.ndarray:
    query = dict(zip((int(i) for i in q_idx), q_val))
    return np.array([sum(float(v) * query.get(int(i), 0.0) for i, v in zip(idx, val)) for idx, val in docs])


def max_sim(docs: Sequence[np.ndarray], query) -> np.ndarray:
    q = np.asarray(query, np.float64)
    return np.array([float((q @ np.asarray(doc, np.float64).T).max(axis=1).sum()) for doc in docs])


def top(scores, limit: int, ids: Optional[Iterable[int]] = None, keep: Optional[Callable[[int], bool]] = None,
        offset: int = 0, higher: bool = True) -> list[tuple[int, float]]:
    """``(id, score)`` of the best ``limit`` among ``ids`` (every index of ``scores`` by default)."""
    ids = range(len(scores)) if ids is None else ids
    sign = -1 if higher else 1
    ranked = sorted((i for i in ids if keep is None or keep(i)), key=lambda i: sign * scores[i])
    return [(i, float(scores[i])) for i in ranked[offset : offset + limit]]


def rrf(lists: Sequence[Sequence[tuple[int, float]]], k: int = 2) -> dict[int, float]:
    out: dict[int, float] = {}
    for hits in lists:
        for position, (pid, _) in enumerate(hits):
            out[pid] = out.get(pid, 0.0) + 1.0 / (position + k)
    return out


def dbsf(lists: Sequence[Sequence[tuple[int, float]]], higher: Optional[Sequence[bool]] = None) -> dict[int, float]:
    """Each list normalized by mean ± 3 sample std (reversed where lower is better), summed per point."""
    out: dict[int, float] = {}
    for number, hits in enumerate(lists):
        better_high = True if higher is None else higher[number]
        scores = [s for _, s in hits]
        mean = sum(scores) / len(scores)
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
        low, high = mean - 3 * std, mean + 3 * std
        for pid, s in hits:
            norm = (s - low) / (high - low) if better_high else (high - s) / (high - low)
            out[pid] = out.get(pid, 0.0) + norm
    return out


def sigmoid(x):
    return x / (1 + np.abs(x))


def scaled_sigmoid(x):
    return 0.5 * (sigmoid(x) + 1)


def haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def gauss_decay(x: float, target: float, scale: float, midpoint: float = 0.5) -> float:
    return math.exp(math.log(midpoint) * ((x - target) / scale) ** 2)


def groups(order: Iterable[int], value_of: Callable[[int], object], limit: int, group_size: int) -> list[tuple]:
    """Qdrant's grouping of hits ranked by ``order``: the first ``limit`` values met, ``group_size`` each."""
    out: dict = {}
    for pid in order:
        value = value_of(pid)
        if value is None:
            continue
        if value not in out:
            if len(out) >= limit:
                continue
            out[value] = []
        if len(out[value]) < group_size:
            out[value].append(pid)
    return list(out.items())
