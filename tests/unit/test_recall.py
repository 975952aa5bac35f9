"""HNSW recall against brute force on clustered data, with default parameters."""

from __future__ import annotations

import time

import numpy as np
import pytest

from shards.dense_index import DenseVectorIndex

N_POINTS = 20_000
DIM = 128
N_QUERIES = 100
K = 10


def clustered(rng: np.random.Generator, n: int, centers: np.ndarray) -> np.ndarray:
    labels = rng.integers(0, len(centers), size=n)
    return (centers[labels] + rng.normal(scale=1.5, size=(n, centers.shape[1]))).astype(np.float32)


@pytest.fixture(scope="module")
def dataset() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    centers = rng.normal(size=(64, DIM))
    return clustered(rng, N_POINTS, centers), clustered(rng, N_QUERIES, centers)


@pytest.mark.parametrize("distance", ["Cosine", "Euclid"])
def test_hnsw_recall_at_10(distance, dataset):
    data, queries = dataset
    clock = [0.0]
    # m=16, ef_construct=100, search ef defaults to it
    index = DenseVectorIndex(DIM, distance, clock=lambda: clock[0])
    index.put(np.arange(N_POINTS), data)
    clock[0] += 5  # the writes have paused
    assert index.needs_indexing(10_000)  # 20k * 512 bytes = 10,000 KB
    started = time.perf_counter()
    index.build_index()
    build_seconds = time.perf_counter() - started
    assert index.indexed_count == N_POINTS and not index.needs_indexing(10_000)

    hits = 0
    search_seconds = 0.0
    for query in queries:
        truth, _ = index.search(query, K, exact=True)
        started = time.perf_counter()
        found, _ = index.search(query, K)
        search_seconds += time.perf_counter() - started
        hits += len(set(found.tolist()) & set(truth.tolist()))
    recall = hits / (K * N_QUERIES)
    print(f"{distance}: recall@{K}={recall:.3f} build={build_seconds:.1f}s "
          f"search={1000 * search_seconds / N_QUERIES:.2f}ms/query")
    assert recall >= 0.95


def test_recall_with_deletions_and_tail(dataset):
    data, queries = dataset
    n = 5_000
    index = DenseVectorIndex(DIM, "Euclid")
    index.put(np.arange(n), data[:n])
    index.build_index()
    removed = np.arange(0, n, 4)
    for offset in removed.tolist():
        index.remove(offset)
    index.put(np.arange(n, n + 500), data[n:n + 500])  # the unindexed tail
    hits = 0
    for query in queries[:50]:
        truth, _ = index.search(query, K, exact=True)
        found, _ = index.search(query, K)
        assert not set(found.tolist()) & set(removed.tolist())
        hits += len(set(found.tolist()) & set(truth.tolist()))
    assert hits / (K * 50) >= 0.95
